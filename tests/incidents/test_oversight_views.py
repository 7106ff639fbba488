"""The strategy meeting and supervision note pages, and both on the child's page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from incidents.actions.oversight import strategy_meeting_record, supervision_note_add
from incidents.actions.profiles import PROFILE_QUERIES
from incidents.models import CaseEvent, Child, StrategyMeeting, SupervisionNote
from incidents.views.children import CHILD_PAGE_QUERIES
from tests.factories.incidents import ChildFactory, EpisodeFactory

pytestmark = pytest.mark.django_db


def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def date_post(name: str, day: dt.date) -> dict[str, str]:
    return {f"{name}_0": str(day.day), f"{name}_1": str(day.month), f"{name}_2": str(day.year)}


@pytest.fixture
def child(area_west, social_worker) -> Child:
    return ChildFactory(
        first_name="Tyler",
        last_name="Brookes",
        responsible_area=area_west,
        created_by=social_worker,
    )


def meeting_url(child: Child) -> str:
    return reverse("incidents:strategy_meeting_add", args=[child.pk])


def note_url(child: Child) -> str:
    return reverse("incidents:supervision_note_add", args=[child.pk])


def meeting_post(*agencies: Any, **overrides: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        **date_post("held_on", timezone.localdate() - dt.timedelta(days=2)),
        "attendee_agencies": [str(a.pk) for a in agencies],
        "attendee_names": "Priya Shah, PC Sam Okafor",
        "decisions": "Referral to the exploitation panel.",
        "next_review_0": "",
        "next_review_1": "",
        "next_review_2": "",
    }
    data.update(overrides)
    return data


# Strategy meetings ------------------------------------------------------------------


def test_manager_sees_the_meeting_form(client, manager, child, la_west, police) -> None:
    response = signed_in(client, manager).get(meeting_url(child))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Record a strategy meeting" in page
    assert escape(la_west.name) in page and police.name in page


def test_manager_records_a_meeting(client, manager, child, la_west, police) -> None:
    response = signed_in(client, manager).post(meeting_url(child), meeting_post(la_west, police))
    assert response.status_code == 302
    assert response["Location"].endswith(
        reverse("incidents:child_detail", args=[child.pk]) + "#strategy-meetings"
    )
    meeting = StrategyMeeting.objects.get(child=child)
    assert set(meeting.attendee_agencies.all()) == {la_west, police}
    assert CaseEvent.objects.filter(kind="strategy_meeting", child=child).count() == 1

    page = client.get(response["Location"]).content.decode()
    assert "Strategy meeting recorded." in page
    assert "Referral to the exploitation panel." in page
    assert escape(f"Agencies: {police.name}, {la_west.name}") in page


def test_meeting_form_errors_keep_input(client, manager, child) -> None:
    future = timezone.localdate() + dt.timedelta(days=3)
    response = signed_in(client, manager).post(
        meeting_url(child),
        meeting_post(decisions="", attendee_names="Kept names", **date_post("held_on", future)),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<title>Error: ") == 1
    assert "The date must be today or in the past" in page
    assert "Select at least one agency that attended" in page
    assert "Enter the decisions and actions agreed" in page
    assert "Kept names" in page
    assert not StrategyMeeting.objects.exists()


def test_action_errors_show_by_their_field(client, manager, child, la_west) -> None:
    held = timezone.localdate() - dt.timedelta(days=2)
    response = signed_in(client, manager).post(
        meeting_url(child),
        meeting_post(la_west, **date_post("next_review", held - dt.timedelta(days=1))),
    )
    assert response.status_code == 200
    assert "The next review must be on or after the date of the meeting" in (
        response.content.decode()
    )


@pytest.mark.parametrize("who", ["social_worker", "officer", "provider_worker"])
def test_practitioners_are_refused(request, client, who, child, la_west) -> None:
    signed_in(client, request.getfixturevalue(who))
    assert client.get(meeting_url(child)).status_code == 403
    assert client.post(meeting_url(child), meeting_post(la_west)).status_code == 403
    assert client.get(note_url(child)).status_code == 403
    assert client.post(note_url(child), {"note": "x"}).status_code == 403
    assert not StrategyMeeting.objects.exists()
    assert not SupervisionNote.objects.exists()


def test_outsider_gets_404(client, outsider, child, other_agency) -> None:
    other_agency_manager = outsider
    other_agency_manager.role = "manager"
    other_agency_manager.save(update_fields=["role"])
    signed_in(client, other_agency_manager)
    assert client.get(meeting_url(child)).status_code == 404
    assert client.post(meeting_url(child), meeting_post(other_agency)).status_code == 404
    assert client.get(note_url(child)).status_code == 404
    assert client.get(reverse("incidents:strategy_meeting_add", args=[999999])).status_code == 404


def test_wrong_method(client, manager, child) -> None:
    signed_in(client, manager)
    assert client.put(meeting_url(child)).status_code == 405
    assert client.delete(note_url(child)).status_code == 405


# Supervision notes ------------------------------------------------------------------


def test_manager_writes_a_note(client, manager, child) -> None:
    signed_in(client, manager)
    assert client.get(note_url(child)).status_code == 200
    response = client.post(note_url(child), {"note": "Consider a creative approach."})
    assert response.status_code == 302
    note = SupervisionNote.objects.get(child=child)
    assert note.written_by == manager
    page = client.get(response["Location"]).content.decode()
    assert "Supervision note saved." in page
    assert "Consider a creative approach." in page


def test_note_required(client, manager, child) -> None:
    response = signed_in(client, manager).post(note_url(child), {"note": ""})
    assert response.status_code == 200
    assert "Enter the supervision note" in response.content.decode()
    assert not SupervisionNote.objects.exists()


# The child's page -------------------------------------------------------------------


def test_child_page_for_practitioner_hides_notes_and_buttons(
    client, social_worker, manager, child, la_west
) -> None:
    strategy_meeting_record(
        acting_user=manager,
        child=child,
        held_on=timezone.localdate(),
        attendee_agencies=[la_west],
        decisions="Weekly check-ins.",
    )
    supervision_note_add(acting_user=manager, child=child, note="Private reflection.")
    page = (
        signed_in(client, social_worker)
        .get(reverse("incidents:child_detail", args=[child.pk]))
        .content.decode()
    )
    assert 'data-testid="strategy-meetings"' in page
    assert "Weekly check-ins." in page
    assert meeting_url(child) not in page
    assert 'data-testid="supervision-notes"' not in page
    assert "Private reflection." not in page
    # The timeline (on the record's History page) tells everyone a note exists, not what
    # it says.
    history = client.get(reverse("incidents:child_history", args=[child.pk])).text
    assert "Supervision note written" in history
    assert "Private reflection." not in history


def test_child_page_for_manager_shows_notes_and_buttons(client, manager, child) -> None:
    supervision_note_add(acting_user=manager, child=child, note="Private reflection.")
    page = (
        signed_in(client, manager)
        .get(reverse("incidents:child_detail", args=[child.pk]))
        .content.decode()
    )
    assert meeting_url(child) in page
    assert note_url(child) in page
    assert "Private reflection." in page


def test_repeat_warning_names_the_last_meeting(client, manager, child, la_west) -> None:
    now = timezone.now()
    for days in (5, 20, 40):
        seen = now - dt.timedelta(days=days)
        EpisodeFactory(child=child, last_seen_at=seen, found_at=seen + dt.timedelta(hours=4))
    held = timezone.localdate() - dt.timedelta(days=3)
    strategy_meeting_record(
        acting_user=manager,
        child=child,
        held_on=held,
        attendee_agencies=[la_west],
        decisions="Plan.",
    )
    page = (
        signed_in(client, manager)
        .get(reverse("incidents:child_detail", args=[child.pk]))
        .content.decode()
    )
    assert f"The last strategy meeting was on {held.day} {held:%b %Y}." in page


def test_child_page_query_count_is_fixed_for_a_manager(
    client, manager, area_west, la_west, police, provider, django_assert_num_queries
) -> None:
    small = ChildFactory(responsible_area=area_west)
    large = ChildFactory(responsible_area=area_west)
    for each in (small, large):
        seen = timezone.now() - dt.timedelta(days=2)
        EpisodeFactory(child=each, last_seen_at=seen, found_at=seen + dt.timedelta(hours=2))
    for each, n in [(small, 9), *((large, n) for n in range(6))]:
        strategy_meeting_record(
            acting_user=manager,
            child=each,
            held_on=timezone.localdate() - dt.timedelta(days=n),
            attendee_agencies=[la_west, police, provider],
            decisions=f"Decision {n}",
        )
        supervision_note_add(acting_user=manager, child=each, note=f"Note {n}")
    signed_in(client, manager)
    client.get(reverse("incidents:child_detail", args=[small.pk]))  # warm the session
    # The overview's, with the missing person profile a manager of the council may see
    # and the supervision notes they read.
    expected = CHILD_PAGE_QUERIES + PROFILE_QUERIES + 1
    with django_assert_num_queries(expected):
        client.get(reverse("incidents:child_detail", args=[small.pk]))
    with django_assert_num_queries(expected):
        response = client.get(reverse("incidents:child_detail", args=[large.pk]))
    page = response.content.decode()
    assert "Decision 5" not in page  # only the latest three meetings
    assert page.count("Agencies: ") == 3
