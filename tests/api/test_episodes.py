"""The police operations: report, re-grade, return, safe and well check; each once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from api.models import IdempotentRequest
from incidents.models import CaseEvent, Child, Episode, RiskGrading, SafeAndWellCheck
from missingkids.audit.models import AccessLogEntry
from tests.factories.incidents import ChildFactory

from .conftest import iso, report_body

pytestmark = pytest.mark.django_db

EPISODES = "/api/v1/episodes/"


@pytest.fixture
def known_child(area_west, officer):
    return ChildFactory(
        first_name="Amelia",
        last_name="Jones",
        date_of_birth=timezone.localdate() - dt.timedelta(days=14 * 365),
        police_person_reference="PP-1001",
        responsible_area=area_west,
        created_by=officer,
    )


def reported(force, **overrides):
    response = force.post(EPISODES, report_body(**overrides))
    assert response.status_code == 201, response.json()
    return response.json()["episode"]


# Report ---------------------------------------------------------------------------------


def test_report_matches_the_child_by_the_force_person_reference(force, known_child, police_system):
    response = force.post(EPISODES, report_body(child__first_name="Amy"))
    assert response.status_code == 201
    data = response.json()
    assert data["child_matched_by"] == "police_person_reference"
    assert data["episode"]["child"] == {
        "id": known_child.pk,
        "police_person_reference": "PP-1001",
        "to_be_matched_by_council": False,
    }
    episode = Episode.objects.get()
    assert episode.child == known_child
    assert episode.police_reference == "CHE-2026-0001"
    assert episode.flag_cse
    # The force's grade is the police grade, recorded by the system's service user.
    assert episode.risk == "medium"
    grading = RiskGrading.objects.get()
    assert grading.kind == RiskGrading.Kind.POLICE
    assert grading.graded_by == police_system[0].user
    # The same action as the page: the report is on the child's timeline.
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.REPORTED, episode=episode).count() == 1


def test_report_matches_by_name_and_date_of_birth_in_the_force_area(force, known_child):
    known_child.police_person_reference = ""
    known_child.save()
    data = force.post(EPISODES, report_body(child__first_name="AMELIA")).json()
    assert data["child_matched_by"] == "name_and_date_of_birth"
    assert data["episode"]["child"]["id"] == known_child.pk


def test_a_child_with_another_person_reference_is_someone_else(force, known_child):
    data = force.post(EPISODES, report_body(child__police_person_reference="PP-2002")).json()
    assert data["child_matched_by"] == "added"
    assert data["episode"]["child"]["id"] != known_child.pk


def test_a_child_outside_the_force_area_is_not_matched(force, area_other, officer):
    ChildFactory(
        first_name="Amelia",
        last_name="Jones",
        date_of_birth=timezone.localdate() - dt.timedelta(days=14 * 365),
        responsible_area=area_other,
        created_by=officer,
    )
    data = force.post(EPISODES, report_body(child__police_person_reference="")).json()
    assert data["child_matched_by"] == "added"


def test_no_match_adds_the_child_flagged_for_the_council(force, area_west, police_system):
    data = force.post(EPISODES, report_body()).json()
    assert data["child_matched_by"] == "added"
    child = Child.objects.get()
    assert child.to_be_matched_by_council
    assert child.responsible_area == area_west
    assert child.police_person_reference == "PP-1001"
    assert child.created_by == police_system[0].user
    assert data["episode"]["child"]["to_be_matched_by_council"] is True


def test_no_match_and_no_council_named_is_refused_and_nothing_saved(force, area_west):
    response = force.post(EPISODES, report_body(child__responsible_area=""))
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/api/v1/problems/validation-error"
    assert problem["errors"][0]["field"] == "child.responsible_area"
    assert not Child.objects.exists()
    assert not Episode.objects.exists()
    assert not IdempotentRequest.objects.exists()


def test_two_children_matching_is_refused_not_guessed(force, known_child, officer, area_west):
    ChildFactory(
        first_name="Amelia",
        last_name="Jones",
        date_of_birth=known_child.date_of_birth,
        police_person_reference="PP-1001",
        responsible_area=area_west,
        created_by=officer,
    )
    response = force.post(EPISODES, report_body())
    assert response.status_code == 409
    assert response.json()["type"] == "/api/v1/problems/ambiguous-child"
    assert not Episode.objects.exists()


def test_report_retried_three_times_makes_one_episode(force, known_child):
    body = report_body()
    answers = [force.post(EPISODES, body) for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 201]
    assert all(a.json() == answers[0].json() for a in answers)
    assert "Idempotent-Replayed" not in answers[0]
    assert all(a["Idempotent-Replayed"] == "true" for a in answers[1:])
    assert Episode.objects.count() == 1
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.REPORTED).count() == 1


def test_report_retried_with_a_new_key_but_the_same_police_reference_is_one_episode(
    force, known_child
):
    body = report_body()
    first = force.post(EPISODES, body, key="attempt-1")
    again = force.post(EPISODES, body, key="attempt-2")
    assert again.json() == first.json()
    assert Episode.objects.count() == 1


def test_the_same_key_for_a_different_request_is_refused(force, known_child):
    force.post(EPISODES, report_body(), key="k-1")
    response = force.post(EPISODES, report_body(police_reference="CHE-2"), key="k-1")
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "/api/v1/problems/idempotency-key-reused"
    assert problem["errors"] == [
        {"field": "Idempotency-Key", "detail": "Already used for another request."}
    ]
    assert Episode.objects.count() == 1


def test_the_same_police_reference_with_other_details_is_refused(force, known_child):
    force.post(EPISODES, report_body())
    response = force.post(EPISODES, report_body(circumstances="Something else."))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "police_reference"
    assert Episode.objects.count() == 1


def test_a_refused_report_can_be_sent_again_corrected(force, known_child):
    future = iso(timezone.now() + dt.timedelta(hours=3))
    refused = force.post(EPISODES, report_body(last_seen_at=future))
    assert refused.status_code == 422
    assert "last_seen_at" in [e["field"] for e in refused.json()["errors"]]
    assert force.post(EPISODES, report_body()).status_code == 201


def test_dates_in_the_future_are_refused_by_field(force, known_child):
    future = iso(timezone.now() + dt.timedelta(hours=3))
    response = force.post(EPISODES, report_body(reported_at=future))
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"] == [
        {"field": "reported_at", "detail": "The time reported must not be in the future"}
    ]
    assert not Episode.objects.exists()


# Re-grade -------------------------------------------------------------------------------


def test_regrade_risk_once_for_a_graded_at(force, known_child):
    episode = reported(force)
    body = {
        "grade": "high",
        "rationale": "Seen with older men.",
        "graded_at": iso(timezone.now() - dt.timedelta(minutes=5)),
    }
    path = f"{EPISODES}{episode['id']}/risk-gradings/"
    first = force.post(path, body)
    assert first.status_code == 201
    assert first.json()["grade"] == "high"
    assert first.json()["episode"]["risk"] == "high"
    again = force.post(path, body)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert RiskGrading.objects.filter(grade="high").count() == 1


def test_regrade_needs_a_time_or_a_key(force, known_child):
    episode = reported(force)
    path = f"{EPISODES}{episode['id']}/risk-gradings/"
    response = force.post(path, {"grade": "high", "rationale": "Seen with older men."})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "graded_at"
    with_key = force.post(path, {"grade": "high", "rationale": "Seen."}, key="g-1")
    assert with_key.status_code == 201
    assert force.post(path, {"grade": "high", "rationale": "Seen."}, key="g-1").json() == (
        with_key.json()
    )
    assert RiskGrading.objects.filter(grade="high").count() == 1


# Return and the safe and well check ----------------------------------------------------


def return_body(**overrides):
    body = {
        "found_at": iso(timezone.now() - dt.timedelta(minutes=10)),
        "found_address": "Bus station",
        "how_returned": "police",
    }
    body.update(overrides)
    return body


def test_record_return_once(force, known_child):
    episode = reported(force)
    path = f"{EPISODES}{episode['id']}/return/"
    body = return_body()
    answers = [force.post(path, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json()["found_at"] is not None
    assert answers[1].json() == answers[0].json()
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.RETURNED).count() == 1


def test_found_before_last_seen_is_refused_and_nothing_saved(force, known_child):
    episode = reported(force)
    early = iso(timezone.now() - dt.timedelta(days=1))
    response = force.post(f"{EPISODES}{episode['id']}/return/", return_body(found_at=early))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "found_at", "detail": "The time found must be after the time last seen"}
    ]
    assert Episode.objects.get().found_at is None
    # Refused, so nothing kept: the corrected call is carried out.
    ok = force.post(f"{EPISODES}{episode['id']}/return/", return_body())
    assert ok.status_code == 200


def test_safe_and_well_check_after_the_return_once(force, known_child):
    episode = reported(force)
    path = f"{EPISODES}{episode['id']}/safe-and-well-check/"
    body = {
        "officer_name": "PC Sam Okafor",
        "conducted_at": iso(timezone.now() - dt.timedelta(minutes=2)),
        "face_to_face": True,
        "outcome": "Safe; no harm disclosed.",
    }
    before = force.post(path, body)
    assert before.status_code == 422
    assert "found" in before.json()["detail"]
    force.post(f"{EPISODES}{episode['id']}/return/", return_body())
    first = force.post(path, body)
    assert first.status_code == 201
    assert first.json()["safe_and_well_recorded"] is True
    assert force.post(path, body).json() == first.json()
    assert SafeAndWellCheck.objects.count() == 1


# Reading --------------------------------------------------------------------------------


def test_read_an_episode_and_find_it_by_police_reference(
    force, known_child, django_assert_num_queries
):
    episode = reported(force)
    # The system (with its agency), its rate limit count, the episode, the access log
    # entry.
    with django_assert_num_queries(4):
        one = force.get(f"{EPISODES}{episode['id']}/")
    assert one.status_code == 200
    assert one.json() == episode
    # The system (with its agency), its count, the episodes, the access log entry: pinned.
    with django_assert_num_queries(4):
        found = force.get(f"{EPISODES}?police_reference=CHE-2026-0001")
    assert found.json() == [episode]
    assert force.get(f"{EPISODES}?police_reference=NONE").json() == []
    assert force.get(EPISODES).status_code == 400


def test_every_call_is_in_the_access_log_naming_the_system(force, known_child, police_system):
    system = police_system[0]
    episode = reported(force)
    force.get(f"{EPISODES}{episode['id']}/")
    force.get(f"{EPISODES}999999/")
    entries = list(AccessLogEntry.objects.order_by("id"))
    assert [(e.action, e.status_code) for e in entries] == [
        ("api_call", 201),
        ("api_call", 200),
        ("refused", 404),
    ]
    assert all(e.user == system.user for e in entries)
    assert all(e.detail["api_client"] == system.name for e in entries)
    assert entries[0].child_id == known_child.pk
    assert entries[0].episode_id == episode["id"]
    assert entries[0].detail["operation"] == "report_missing"
    assert entries[1].detail["operation"] == "read"


def test_the_child_page_says_the_council_must_match_an_added_child(
    force, client, area_west, social_worker
):
    child_id = force.post(EPISODES, report_body()).json()["episode"]["child"]["id"]
    client.force_login(social_worker)
    page = client.get(f"/children/{child_id}/")
    assert page.status_code == 200
    assert b"To be matched by the council" in page.content
