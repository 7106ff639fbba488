"""What managers record against a child: strategy meetings and supervision notes.

Repeat missing (by default 3 episodes in 90 days) calls for a strategy meeting or
multi-agency review; the managers' pages list children over the threshold with no
meeting recorded since. Supervision notes are a manager's reflections on the case and
are read by managers only, so their event on the shared timeline says that a note was
written, never what it says.

Both are history, not protocol steps: their CaseEvents tell no one anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from missingkids.accounts.models import Agency, User
from missingkids.policy import FREE_TEXT_MAX_LENGTH

from .. import rights
from ..models import CaseEvent, Child, StrategyMeeting, StrategyMeetingAttendee, SupervisionNote
from ..rights import Right
from .base import check_dates_for_child, event_record, raise_if_errors

FUTURE_DATE_MESSAGE = "The date must be today or in the past"


def _blank(value: str | None) -> bool:
    return not (value or "").strip()


def _too_long(value: str | None) -> bool:
    return len(value or "") > FREE_TEXT_MAX_LENGTH


def strategy_meeting_record(
    *,
    acting_user: User,
    child: Child,
    held_on: dt.date,
    attendee_agencies: Iterable[Agency],
    attendee_names: str = "",
    decisions: str,
    next_review: dt.date | None = None,
) -> StrategyMeeting:
    rights.require(acting_user, Right.RECORD_STRATEGY_MEETING, child)
    agencies = list(dict.fromkeys(a for a in attendee_agencies or () if a is not None))
    errors: dict[str, list[str]] = {}
    if held_on is None:
        errors["held_on"] = ["Enter the date of the meeting"]
    elif held_on > timezone.localdate():
        errors["held_on"] = [FUTURE_DATE_MESSAGE]
    else:
        check_dates_for_child(errors, child, held_on=held_on)
    if not agencies:
        errors["attendee_agencies"] = ["Select at least one agency that attended"]
    if _blank(decisions):
        errors["decisions"] = ["Enter the decisions and actions agreed"]
    elif _too_long(decisions):
        errors["decisions"] = [f"Decisions must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"]
    if _too_long(attendee_names):
        errors["attendee_names"] = [
            f"Who attended must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"
        ]
    if next_review is not None and held_on is not None and next_review < held_on:
        errors["next_review"] = ["The next review must be on or after the date of the meeting"]
    raise_if_errors(errors)

    with transaction.atomic():
        meeting = StrategyMeeting.objects.create(
            child=child,
            held_on=held_on,
            attendee_names=(attendee_names or "").strip(),
            decisions=decisions.strip(),
            next_review=next_review,
            recorded_by=acting_user,
        )
        StrategyMeetingAttendee.objects.bulk_create(
            StrategyMeetingAttendee(meeting=meeting, agency=agency) for agency in agencies
        )
        names = ", ".join(sorted(a.name for a in agencies))
        event_record(
            child=child,
            kind=CaseEvent.Kind.STRATEGY_MEETING,
            actor=acting_user,
            # A date, not a moment: the timeline places it at the start of that day.
            occurred_at=timezone.make_aware(dt.datetime.combine(held_on, dt.time())),
            summary=f"Strategy meeting held on {held_on.day} {held_on:%B %Y} with {names}",
            data={
                "strategy_meeting_id": meeting.pk,
                "held_on": held_on.isoformat(),
                "agency_ids": sorted(a.pk for a in agencies),
                "next_review": next_review.isoformat() if next_review else None,
            },
        )
    return meeting


def supervision_note_add(*, acting_user: User, child: Child, note: str) -> SupervisionNote:
    rights.require(acting_user, Right.SUPERVISION_NOTES, child)
    errors: dict[str, list[str]] = {}
    if _blank(note):
        errors["note"] = ["Enter the supervision note"]
    elif _too_long(note):
        errors["note"] = [f"The note must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"]
    raise_if_errors(errors)
    with transaction.atomic():
        written = SupervisionNote.objects.create(
            child=child, note=note.strip(), written_by=acting_user
        )
        event_record(
            child=child,
            kind=CaseEvent.Kind.SUPERVISION_NOTE,
            actor=acting_user,
            occurred_at=written.written_at,
            # The timeline is shared with every agency; the note itself is for managers.
            summary="Supervision note written (visible to managers)",
            data={"supervision_note_id": written.pk},
        )
    return written
