"""The rights inside a child's scope, tried as someone who can see the child but owns
none of it would try them: the host council, a GP practice's manager, the provider
measured on interview timeliness.

Each of these once worked. Every attempt is made both through the action function (a
crafted request) and through the page, and the record is checked unchanged.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from incidents.actions import children as child_actions
from incidents.actions import episodes as episode_actions
from incidents.actions import oversight as oversight_actions
from incidents.models import (
    Child,
    Episode,
    Involvement,
    InvolvementRequest,
    LegalStatus,
    StrategyMeeting,
    SupervisionNote,
)
from incidents.rights import Relation, relation_to
from tests.factories.incidents import (
    ChildFactory,
    EpisodeFactory,
    InvolvementFactory,
    PlacementFactory,
    ReturnInterviewFactory,
)


@pytest.fixture
def placed_in_east(area_west, area_east, social_worker, la_west, provider, manager):
    """A West child in care, living in a Cheshire East foster home, returned two hours
    ago with the interview pending, and a West manager's supervision note on file."""
    child = ChildFactory(
        first_name="Kayla",
        last_name="Morris",
        responsible_area=area_west,
        legal_status=LegalStatus.IN_CARE,
        created_by=social_worker,
    )
    PlacementFactory(child=child, host_area=area_east)
    involvement = InvolvementFactory(child=child, agency=provider, role=Involvement.Role.PROVIDER)
    now = timezone.now()
    episode = EpisodeFactory(
        child=child,
        created_by=social_worker,
        last_seen_at=now - dt.timedelta(hours=30),
        found_at=now - dt.timedelta(hours=2),
    )
    ReturnInterviewFactory(episode=episode, owner=la_west, provider=provider)
    oversight_actions.supervision_note_add(
        acting_user=manager, child=child, note="Consider a secure placement review."
    )
    return child, episode, involvement


def test_the_relations_are_what_they_seem(placed_in_east, host_worker, gp_manager, social_worker):
    child, _, _ = placed_in_east
    assert relation_to(social_worker, child) == Relation.RESPONSIBLE_COUNCIL
    assert relation_to(host_worker, child) == Relation.HOST_COUNCIL
    assert relation_to(gp_manager, child) == Relation.OTHER


# The host council ---------------------------------------------------------------------


def test_host_council_cannot_add_an_involved_agency(placed_in_east, host_worker, school):
    child, _, _ = placed_in_east
    with pytest.raises(PermissionDenied):
        child_actions.involvement_add(
            acting_user=host_worker,
            child=child,
            agency=school,
            role=Involvement.Role.SCHOOL,
            start=timezone.localdate(),
        )
    assert not child.involvements.filter(agency=school).exists()


def test_host_council_cannot_end_another_agencys_involvement(placed_in_east, host_worker):
    _, _, involvement = placed_in_east
    with pytest.raises(PermissionDenied):
        child_actions.involvement_end(
            acting_user=host_worker, involvement=involvement, end=timezone.localdate()
        )
    involvement.refresh_from_db()
    assert involvement.end is None


def test_host_council_cannot_move_the_responsible_council(placed_in_east, host_worker, area_east):
    child, _, _ = placed_in_east
    with pytest.raises(PermissionDenied):
        child_actions.child_update(
            acting_user=host_worker,
            child=child,
            expected_version=child.version,
            responsible_area=area_east,
        )
    child.refresh_from_db()
    assert child.responsible_area.name == "Cheshire West and Chester"


def test_host_council_pages_refuse_and_offer_nothing(
    client, placed_in_east, host_worker, area_east, school
):
    child, _, involvement = placed_in_east
    client.force_login(host_worker)
    add = reverse("incidents:involvement_add", args=[child.pk])
    end = reverse("incidents:involvement_end", args=[child.pk, involvement.pk])
    assert client.get(add).status_code == 403
    assert client.get(end).status_code == 403
    posted = client.post(
        add, {"agency": school.pk, "role": "school", "start_0": "1", "start_1": "1"}
    )
    assert posted.status_code == 403
    assert client.post(end, {"end_0": "1"}).status_code == 403
    page = client.get(reverse("incidents:child_care", args=[child.pk])).content.decode()
    assert add not in page
    assert end not in page
    assert reverse("incidents:child_legal_status", args=[child.pk]) not in page
    # The edit page offers identity and profile only: a posted council is ignored.
    edit = reverse("incidents:child_edit", args=[child.pk])
    form = client.get(edit).content.decode()
    assert 'name="responsible_area"' not in form
    client.post(
        edit,
        {
            "version": child.version,
            "first_name": child.first_name,
            "last_name": child.last_name,
            "date_of_birth_0": child.date_of_birth.day,
            "date_of_birth_1": child.date_of_birth.month,
            "date_of_birth_2": child.date_of_birth.year,
            "gender": child.gender,
            "responsible_area": area_east.pk,
        },
    )
    assert Child.objects.get(pk=child.pk).responsible_area_id != area_east.pk


# A GP practice's manager ---------------------------------------------------------------


def test_gp_manager_does_not_read_supervision_notes(client, placed_in_east, gp_manager):
    child, _, _ = placed_in_east
    client.force_login(gp_manager)
    page = client.get(reverse("incidents:child_detail", args=[child.pk])).content.decode()
    assert "Consider a secure placement review" not in page
    assert "Supervision notes" not in page
    notes = client.get(reverse("incidents:supervision_note_add", args=[child.pk]))
    assert notes.status_code == 403
    assert b"Consider a secure placement review" not in notes.content
    with pytest.raises(PermissionDenied):
        oversight_actions.supervision_note_add(acting_user=gp_manager, child=child, note="Mine")
    assert SupervisionNote.objects.filter(child=child).count() == 1


def test_gp_manager_cannot_close_the_councils_episode(client, placed_in_east, gp_manager):
    _, episode, _ = placed_in_east
    with pytest.raises(PermissionDenied):
        episode_actions.episode_close(acting_user=gp_manager, episode=episode, reason="Done")
    client.force_login(gp_manager)
    url = reverse("incidents:episode_close", args=[episode.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "Done"}).status_code == 403
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    assert url not in page
    assert Episode.objects.get(pk=episode.pk).closed_at is None


def test_gp_manager_cannot_record_a_strategy_meeting(client, placed_in_east, gp_manager, police):
    child, _, _ = placed_in_east
    with pytest.raises(PermissionDenied):
        oversight_actions.strategy_meeting_record(
            acting_user=gp_manager,
            child=child,
            held_on=timezone.localdate(),
            attendee_agencies=[police],
            decisions="No further action",
        )
    client.force_login(gp_manager)
    url = reverse("incidents:strategy_meeting_add", args=[child.pk])
    assert client.get(url).status_code == 403
    page = client.get(reverse("incidents:child_detail", args=[child.pk])).content.decode()
    assert url not in page
    assert not StrategyMeeting.objects.filter(child=child).exists()


# The provider measured on the interview's deadline ---------------------------------------


def test_the_provider_cannot_move_the_interview_deadline(
    client, placed_in_east, provider_worker, manager, area_west
):
    """A 19-day-overdue interview: moving the return time to now would make it on time."""
    from oversight.filters import Filters
    from oversight.queries import interviews_overdue

    _, episode, _ = placed_in_east
    now = timezone.now()
    Episode.objects.filter(pk=episode.pk).update(
        last_seen_at=now - dt.timedelta(days=23), found_at=now - dt.timedelta(days=22)
    )
    episode.refresh_from_db()
    interview = episode.interview
    interview.due_at = episode.found_at + dt.timedelta(hours=72)
    interview.save()
    assert list(interviews_overdue(manager, Filters(), now)) == [interview]

    with pytest.raises(PermissionDenied):
        episode_actions.episode_correct_return_time(
            acting_user=provider_worker,
            episode=episode,
            expected_version=episode.version,
            found_at=now - dt.timedelta(hours=1),
            reason="Returned today",
        )
    # The edit page no longer carries the return time at all.
    with pytest.raises(TypeError):
        episode_actions.episode_update(
            acting_user=provider_worker,
            episode=episode,
            expected_version=episode.version,
            found_at=now - dt.timedelta(hours=1),
        )
    client.force_login(provider_worker)
    url = reverse("incidents:episode_correct_return", args=[episode.pk])
    assert client.get(url).status_code == 403

    # Even the responsible council's correction keeps the deadline first set.
    episode_actions.episode_correct_return_time(
        acting_user=manager,
        episode=Episode.objects.get(pk=episode.pk),
        expected_version=episode.version,
        found_at=now - dt.timedelta(hours=1),
        reason="The police log shows she came back today",
    )
    interview.refresh_from_db()
    assert interview.due_at == now - dt.timedelta(days=22) + dt.timedelta(hours=72)
    assert list(interviews_overdue(manager, Filters(), now)) == [interview]


# What the host council learns, it asks the responsible council to record ---------------


def _ask(host_worker, child, school):
    return child_actions.involvement_request_add(
        acting_user=host_worker,
        child=child,
        agency=school,
        role=Involvement.Role.SCHOOL,
        professional_name="Mr Price, head of year",
        start=timezone.localdate(),
        note="She started there last week.",
    )


def test_the_host_council_asks_and_the_responsible_council_accepts(
    client, placed_in_east, host_worker, social_worker, school
):
    child, _, _ = placed_in_east
    client.force_login(host_worker)
    url = reverse("incidents:involvement_request_add", args=[child.pk])
    detail = reverse("incidents:child_care", args=[child.pk])
    assert f'href="{url}"' in client.get(detail).content.decode()
    start = timezone.localdate()
    response = client.post(
        url,
        {
            "agency": school.pk,
            "role": "school",
            "professional_name": "Mr Price, head of year",
            "start_0": start.day,
            "start_1": start.month,
            "start_2": start.year,
            "note": "She started there last week.",
        },
    )
    assert response.status_code == 302
    asked = InvolvementRequest.objects.get()
    assert asked.status == InvolvementRequest.Status.PENDING
    assert (asked.requested_by, asked.requested_by_agency) == (host_worker, host_worker.agency)
    # Nothing changes who works with the child until the responsible council answers.
    assert not child.involvements.filter(agency=school).exists()
    answer = reverse("incidents:involvement_request_answer", args=[child.pk, asked.pk])
    page = client.get(detail).content.decode()
    assert "Waiting for the responsible council" in page
    assert answer not in page
    assert client.get(answer).status_code == 403

    client.force_login(social_worker)
    page = client.get(detail).content.decode()
    assert f'href="{answer}"' in page
    assert "Chester Riverside Academy" in client.get(answer).content.decode()
    response = client.post(answer, {"decision": "accept", "reason": ""})
    assert response.status_code == 302
    asked.refresh_from_db()
    involvement = child.involvements.get(agency=school)
    assert (asked.status, asked.decided_by, asked.involvement) == (
        InvolvementRequest.Status.ACCEPTED,
        social_worker,
        involvement,
    )
    assert involvement.professional_name == "Mr Price, head of year"
    kinds = set(child.events.values_list("kind", flat=True))
    assert {"involvement_requested", "involvement_request_answered", "involvement_added"} <= kinds
    # The involvement is the responsible council's record, with its usual event.
    added = child.events.get(kind="involvement_added")
    assert added.actor == social_worker
    assert "Waiting for the responsible council" not in client.get(detail).content.decode()


def test_declining_needs_a_reason_and_records_nothing(placed_in_east, host_worker, manager, school):
    child, _, _ = placed_in_east
    asked = _ask(host_worker, child, school)
    with pytest.raises(ValidationError) as excinfo:
        child_actions.involvement_request_answer(acting_user=manager, request=asked, accept=False)
    assert excinfo.value.message_dict["reason"] == [child_actions.DECLINE_REASON_MISSING]
    child_actions.involvement_request_answer(
        acting_user=manager, request=asked, accept=False, reason="She left that school in May"
    )
    asked.refresh_from_db()
    assert asked.status == InvolvementRequest.Status.DECLINED
    assert asked.decision_reason == "She left that school in May"
    assert not child.involvements.filter(agency=school).exists()
    with pytest.raises(ValidationError) as excinfo:
        child_actions.involvement_request_answer(acting_user=manager, request=asked, accept=True)
    assert "already been answered" in excinfo.value.messages[0]
    assert not child.involvements.filter(agency=school).exists()


def test_only_the_responsible_council_answers(placed_in_east, host_worker, host_manager, school):
    child, _, _ = placed_in_east
    asked = _ask(host_worker, child, school)
    for who in (host_worker, host_manager):
        with pytest.raises(PermissionDenied):
            child_actions.involvement_request_answer(acting_user=who, request=asked, accept=True)
    asked.refresh_from_db()
    assert asked.status == InvolvementRequest.Status.PENDING


def test_an_accepted_request_meets_the_involvement_rules(
    placed_in_east, host_worker, social_worker, school
):
    """Recorded meanwhile by the council itself: accepting is refused and stays waiting."""
    child, _, _ = placed_in_east
    asked = _ask(host_worker, child, school)
    child_actions.involvement_add(
        acting_user=social_worker,
        child=child,
        agency=school,
        role=Involvement.Role.SCHOOL,
        start=timezone.localdate(),
    )
    with pytest.raises(ValidationError) as excinfo:
        child_actions.involvement_request_answer(
            acting_user=social_worker, request=asked, accept=True
        )
    assert "already recorded as involved" in excinfo.value.message_dict["agency"][0]
    asked.refresh_from_db()
    assert asked.status == InvolvementRequest.Status.PENDING


def test_the_same_request_twice_is_refused(placed_in_east, host_worker, school):
    child, _, _ = placed_in_east
    _ask(host_worker, child, school)
    with pytest.raises(ValidationError) as excinfo:
        _ask(host_worker, child, school)
    assert "already been asked" in excinfo.value.message_dict["agency"][0]
    assert InvolvementRequest.objects.count() == 1


def test_the_responsible_councils_managers_are_emailed_the_request(
    placed_in_east,
    host_worker,
    host_manager,
    manager,
    social_worker,
    school,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    """The request waits on their home page, and its managers are told by e-mail, with
    no case data: not the child's name, nor which agency was asked for."""
    child, _, _ = placed_in_east
    with django_capture_on_commit_callbacks(execute=True):
        _ask(host_worker, child, school)

    assert [message.to for message in mailoutbox] == [[manager.email]]
    message = mailoutbox[0]
    body = message.body + message.alternatives[0][0]
    assert host_worker.agency.name in body
    assert reverse("incidents:child_care", args=[child.pk]) + "#requests" in body
    for case_data in (child.first_name, child.last_name, school.name, "Mr Price"):
        assert case_data not in body and case_data not in message.subject
