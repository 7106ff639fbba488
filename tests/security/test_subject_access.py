"""Subject access: a child's whole record, as a page to print and a JSON download, for
managers of the child's responsible council only, each export in the access log."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents.models import (
    AgreedAction,
    InterviewAttempt,
    MissingPersonProfile,
    ReturnTimeCorrection,
    StrategyMeeting,
    StrategyMeetingAttendee,
    SupervisionNote,
)
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from missingkids.audit.log import ACCESS_LOG_QUERIES
from missingkids.audit.models import AccessLogEntry
from oversight import record_rows, subject_access
from oversight.subject_access import RECORD_QUERIES
from tests.factories.incidents import (
    AgreedActionFactory,
    CaseEventFactory,
    EpisodeFactory,
    RiskGradingFactory,
)
from tests.factories.notifications import NotificationFactory

pytestmark = pytest.mark.django_db

A = AccessLogEntry.Action
SECTIONS = {
    "exported_at",
    "exported_by",
    "child",
    "legal_statuses",
    "placements",
    "involvements",
    "involvement_requests",
    "places_they_go",
    "episodes",
    "challenges",
    "strategy_meetings",
    "supervision_notes",
    "associates",
    "missing_person_profile",
    "missing_person_profile_changes",
    "agreed_actions_at_meetings_and_notes",
    "history",
    "change_history",
}
EPISODE_SECTIONS = {
    "risk_gradings",
    "return_time_corrections",
    "safe_and_well_check",
    "strategy_discussion",
    "return_interview",
    "missing_person_profile_shared",
    "notifications",
}


def _url(case, **query) -> str:
    url = reverse("oversight:subject_access", args=[case.child.pk])
    return f"{url}?format=json" if query.get("json") else url


def _more(case, manager, officer, social_worker, police, *, n: int = 1) -> None:
    """More of everything hanging off the record (``n`` of each)."""
    now = timezone.now()
    # Each call's older episodes go further back: a child's episodes never overlap.
    back = case.child.episodes.count()
    if not MissingPersonProfile.objects.filter(child=case.child).exists():
        MissingPersonProfile.objects.create(
            child=case.child,
            physical_description="Slim, long dark hair",
            reviewed_at=now,
            reviewed_by=social_worker,
            updated_at=now,
            updated_by=social_worker,
        )
    for i in range(n):
        meeting = StrategyMeeting.objects.create(
            child=case.child,
            held_on=timezone.localdate(),
            decisions=f"Safety plan {i}",
            recorded_by=manager,
        )
        StrategyMeetingAttendee.objects.create(meeting=meeting, agency=police)
        AgreedActionFactory(
            interview=None,
            child=case.child,
            source=AgreedAction.Source.STRATEGY_MEETING,
            strategy_meeting=meeting,
            description=f"Meeting action {i}",
            owner_agency=police,
            agreed_on=meeting.held_on,
            due_date=meeting.held_on,
        )
        SupervisionNote.objects.create(child=case.child, note=f"Reflection {i}", written_by=manager)
        InterviewAttempt.objects.create(
            interview=case.interview,
            attempted_at=now - dt.timedelta(minutes=30 + i),
            method="phone",
            outcome="no_contact",
            recorded_by=social_worker,
        )
        AgreedActionFactory(interview=case.interview, description=f"Action {i}", owner_name="Jo")
        ReturnTimeCorrection.objects.create(
            episode=case.episode,
            previous_found_at=case.episode.found_at,
            found_at=case.episode.found_at,
            reason=f"Correction {i}",
            corrected_by=officer,
        )
        CaseEventFactory(child=case.child, episode=case.episode, actor=officer)
        NotificationFactory(episode=case.episode, responsible_agency=police)
        old = EpisodeFactory(
            child=case.child,
            created_by=officer,
            last_seen_at=now - dt.timedelta(days=30 + back + i, hours=5),
            found_at=now - dt.timedelta(days=30 + back + i),
        )
        RiskGradingFactory(episode=old, graded_by=officer)


def test_the_json_holds_every_section(client, case, manager, officer, social_worker, police):
    _more(case, manager, officer, social_worker, police)
    client.force_login(manager)
    response = client.get(_url(case, json=True))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="child-{case.child.pk}-record-'
    )
    assert response.streaming
    data = json.loads(b"".join(response.streaming_content))
    assert set(data) == SECTIONS
    assert data["child"]["first_name"] == "Kayla"
    assert data["child"]["responsible_area"] == "Cheshire West and Chester"
    for section in SECTIONS - {"exported_at", "exported_by", "child", "places_they_go"}:
        assert data[section], f"{section} is empty"
    episode = next(e for e in data["episodes"] if e["id"] == case.episode.pk)
    assert set(episode) >= EPISODE_SECTIONS
    assert episode["risk_gradings"] and episode["return_time_corrections"]
    assert episode["safe_and_well_check"]["agency"] == police.name
    assert "no_contact" in [a["outcome"]["value"] for a in episode["return_interview"]["attempts"]]
    assert "Action 0" in [a["description"] for a in episode["return_interview"]["agreed_actions"]]
    assert len(episode["notifications"]) == 2
    assert episode["strategy_discussion"]["state"] == "held"
    assert [police.name] in [m["agencies_attending"] for m in data["strategy_meetings"]]
    assert "Reflection 0" in [n["note"] for n in data["supervision_notes"]]
    assert [a["name"] for a in data["associates"]] == [case.associate.name]
    assert "Meeting action 0" in [
        a["description"] for a in data["agreed_actions_at_meetings_and_notes"]
    ]
    assert any(c["record"] == "Child" for c in data["change_history"])
    # Times in UK time, with their offset.
    assert (
        data["exported_at"]
        == timezone.localtime(timezone.now()).isoformat()[:10] + (data["exported_at"][10:])
    )
    assert data["episodes"][0]["last_seen_at"][-6:] in ("+00:00", "+01:00")


def test_the_page_shows_every_section_and_prints(client, case, manager):
    client.force_login(manager)
    response = client.get(_url(case))
    assert response.status_code == 200
    page = response.content.decode()
    for heading in (
        "The child&#x27;s details",
        "Legal status",
        "Placements",
        "Agencies involved",
        "Episodes",
        "Safe and well check",
        "Return interview",
        "Notifications",
        "Challenges",
        "Strategy meetings",
        "Supervision notes",
        "Associates",
        "History",
        "Change history",
    ):
        assert heading in page, heading
    assert "@media print" in page
    assert 'href="?format=json"' in page


def test_each_export_is_in_the_access_log(client, case, manager):
    client.force_login(manager)
    client.get(_url(case))
    client.get(_url(case, json=True))
    entries = AccessLogEntry.objects.filter(user=manager, action=A.EXPORT).order_by("id")
    assert [(e.action, e.child_id, e.detail["what"], e.detail["format"]) for e in entries] == [
        (A.EXPORT, case.child.pk, "subject_access", "page"),
        (A.EXPORT, case.child.pk, "subject_access", "json"),
    ]
    assert entries[0].detail["episodes"] == 1


@pytest.mark.parametrize("role", ["social_worker", "officer", "provider_worker", "host_manager"])
def test_other_roles_in_scope_are_refused(client, case, request, role, area_east):
    if role == "host_manager":  # the host council's manager: the child is placed with them
        case.placement.host_area = area_east
        case.placement.save()
    client.force_login(request.getfixturevalue(role))
    for url in (_url(case), _url(case, json=True)):
        assert client.get(url).status_code == 403
    refused = AccessLogEntry.objects.filter(path=_url(case))
    assert {e.action for e in refused} == {A.REFUSED}
    assert not AccessLogEntry.objects.filter(action=A.EXPORT).exists()


def test_out_of_scope_is_a_404(client, case, outsider, gp_manager):
    for person in (outsider, gp_manager):
        other = Client()
        other.force_login(person)
        expected = 404 if person is outsider else 403
        assert other.get(_url(case, json=True)).status_code == expected
    assert not AccessLogEntry.objects.filter(action=A.EXPORT).exists()


def test_the_child_page_links_to_it_for_managers_only(client, case, manager, social_worker):
    link = f'href="{_url(case)}"'
    client.force_login(manager)
    assert link in client.get(reverse("incidents:child_detail", args=[case.child.pk])).text
    other = Client()
    other.force_login(social_worker)
    assert link not in other.get(reverse("incidents:child_detail", args=[case.child.pk])).text


def test_the_number_of_queries_is_fixed(
    client, case, manager, officer, social_worker, police, django_assert_num_queries
):
    # The session, the user, the authenticator, the child and its visibility (scope); the
    # person's agency (for the right, then the header) is counted in RECORD_QUERIES.
    expected = 2 + TWO_FACTOR_QUERIES + 2 + RECORD_QUERIES + ACCESS_LOG_QUERIES
    assert expected <= 15
    # SQLite's JSON support is checked once a connection, before the first such query.
    assert connection.features.supports_json_field
    client.force_login(manager)
    # One episode and little else, then more of everything (episodes, gradings, attempts,
    # actions, meetings, notes, events, notifications and their change history) each round.
    for more in (0, 1, 3):
        _more(case, manager, officer, social_worker, police, n=more)
        with django_assert_num_queries(expected):
            assert client.get(_url(case, json=True)).status_code == 200
        with django_assert_num_queries(expected):
            assert client.get(_url(case)).status_code == 200


def test_the_record_read_in_one_query_holds_what_the_orm_reads(
    case, manager, officer, social_worker, police
):
    """Every kind of entry and every change, as the ORM reads them: the same rows, and
    every field with the same value (times, dates, JSON, choices, files, yes or no)."""
    _more(case, manager, officer, social_worker, police, n=2)
    parts = subject_access._all_parts(case.child.pk)
    rows = record_rows.fetch_for("subject_access", subject_access._all_parts, case.child.pk)
    assert any(rows[part.key] for part in parts if part.key.startswith("history:"))
    for part in parts:
        expected = {obj.pk: obj for obj in part.queryset}
        read = {obj.pk: obj for obj in rows[part.key]}
        assert read.keys() == expected.keys(), part.key
        for pk, obj in expected.items():
            for field in obj._meta.concrete_fields:
                assert getattr(read[pk], field.attname) == getattr(obj, field.attname), (
                    part.key,
                    field.name,
                )
    record = subject_access.child_record(user=manager, child=case.child)
    streamed = "".join(subject_access.record_json_chunks(record))
    assert json.loads(streamed) == subject_access.record_as_json(record)
