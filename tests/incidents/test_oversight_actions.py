"""A manager's strategy meetings and supervision notes: the action functions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from incidents.actions.oversight import strategy_meeting_record, supervision_note_add
from incidents.models import (
    CaseEvent,
    Child,
    StrategyMeeting,
    StrategyMeetingAttendee,
    SupervisionNote,
)
from tests.factories.incidents import ChildFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def child(area_west, social_worker) -> Child:
    return ChildFactory(responsible_area=area_west, created_by=social_worker)


def record(user, child, **overrides):
    values = {
        "held_on": timezone.localdate() - dt.timedelta(days=1),
        "attendee_agencies": [],
        "attendee_names": "Priya Shah; PC Sam Okafor",
        "decisions": "Refer to the exploitation panel. Safety plan with the carers.",
        "next_review": timezone.localdate() + dt.timedelta(days=28),
    }
    values.update(overrides)
    return strategy_meeting_record(acting_user=user, child=child, **values)


def test_manager_records_a_strategy_meeting(manager, child, la_west, police) -> None:
    meeting = record(manager, child, attendee_agencies=[la_west, police, police])

    meeting.refresh_from_db()
    assert meeting.recorded_by == manager
    assert meeting.decisions.startswith("Refer to the exploitation panel")
    assert set(meeting.attendee_agencies.all()) == {la_west, police}
    assert StrategyMeetingAttendee.objects.filter(meeting=meeting).count() == 2
    event = CaseEvent.objects.get(child=child, kind=CaseEvent.Kind.STRATEGY_MEETING)
    assert not event.is_protocol
    assert event.actor == manager
    assert event.data["strategy_meeting_id"] == meeting.pk
    assert event.data["agency_ids"] == sorted([la_west.pk, police.pk])
    assert timezone.localtime(event.occurred_at).date() == meeting.held_on
    assert "Cheshire Constabulary" in event.summary
    assert meeting.history.count() == 1


@pytest.mark.parametrize("who", ["social_worker", "officer", "provider_worker", "admin_user"])
def test_only_managers_record_meetings(request, who, child, la_west) -> None:
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        record(user, child, attendee_agencies=[la_west])
    assert not StrategyMeeting.objects.exists()
    assert not CaseEvent.objects.exists()


def test_meeting_validation(manager, child) -> None:
    with pytest.raises(ValidationError) as caught:
        record(
            manager,
            child,
            held_on=timezone.localdate() + dt.timedelta(days=1),
            attendee_agencies=[],
            decisions="   ",
        )
    errors = caught.value.message_dict
    assert errors["held_on"] == ["The date must be today or in the past"]
    assert errors["attendee_agencies"] == ["Select at least one agency that attended"]
    assert errors["decisions"] == ["Enter the decisions and actions agreed"]
    assert not StrategyMeeting.objects.exists()


def test_meeting_today_is_allowed_and_review_not_before_it(manager, child, la_west) -> None:
    today = timezone.localdate()
    with pytest.raises(ValidationError) as caught:
        record(
            manager,
            child,
            held_on=today,
            attendee_agencies=[la_west],
            next_review=today - dt.timedelta(days=1),
        )
    assert "next_review" in caught.value.message_dict
    meeting = record(manager, child, held_on=today, attendee_agencies=[la_west], next_review=None)
    assert meeting.held_on == today and meeting.next_review is None


def test_manager_writes_a_supervision_note(manager, child) -> None:
    note = supervision_note_add(acting_user=manager, child=child, note="  Discussed stuck case. ")

    assert note.note == "Discussed stuck case."
    assert note.written_by == manager
    event = CaseEvent.objects.get(child=child, kind=CaseEvent.Kind.SUPERVISION_NOTE)
    assert not event.is_protocol
    assert event.data == {"supervision_note_id": note.pk}
    # The shared timeline says a note was written, never what it says.
    assert "stuck" not in event.summary


def test_supervision_note_refused_and_validated(social_worker, manager, child) -> None:
    with pytest.raises(PermissionDenied):
        supervision_note_add(acting_user=social_worker, child=child, note="Hello")
    with pytest.raises(ValidationError) as caught:
        supervision_note_add(acting_user=manager, child=child, note=" ")
    assert caught.value.message_dict == {"note": ["Enter the supervision note"]}
    assert not SupervisionNote.objects.exists()
    assert not CaseEvent.objects.exists()
