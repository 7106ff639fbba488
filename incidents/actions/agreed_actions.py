"""Agreed actions: agreed at a return interview, a strategy meeting or in a supervision
note, then followed up by the agency that owns them until done or no longer needed.

Agreeing (and correcting, ``incidents.actions.corrections.agreed_action_correct``) is
part of recording the source, so it takes the source's right (``rights.SOURCE_RIGHTS``).
Marking an action done, no longer needed, or reopening it belongs to its owner agency
alone (``rights.require_follow_up``). Each change writes the history row and a line on
the child's timeline; none of them is a protocol event.

Validation errors are keyed by the names of the fields on the forms in
``incidents.forms.agreed_actions`` (with a ``prefix`` on the interview form, where
actions are numbered: ``action_1_description``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.utils import timezone

from missingkids.accounts.models import Agency, User
from missingkids.policy import FREE_TEXT_MAX_LENGTH

from .. import access, rights
from ..models import (
    AgreedAction,
    CaseEvent,
    Child,
    ReturnInterview,
    StrategyMeeting,
    SupervisionNote,
)
from .base import event_record, raise_if_errors, stale_edit, update_versioned

Source = AgreedAction.Source
State = AgreedAction.State
SourceRecord = ReturnInterview | StrategyMeeting | SupervisionNote

DESCRIPTION_MESSAGE = "Describe the action agreed"
AGENCY_MESSAGE = "Select the agency that owns this action"
DUE_MESSAGE = "Enter the date the action is due by"
WHAT_HAPPENED_MESSAGE = "Enter what happened"
WHY_MESSAGE = "Enter why the action is no longer needed"


def _blank(value: str | None) -> bool:
    return not (value or "").strip()


def source_of(record: SourceRecord) -> str:
    if isinstance(record, ReturnInterview):
        return Source.INTERVIEW
    if isinstance(record, StrategyMeeting):
        return Source.STRATEGY_MEETING
    return Source.SUPERVISION_NOTE


def agreed_on_for(record: SourceRecord) -> dt.date:
    """The day an action was agreed: the interview's, the meeting's or the note's."""
    if isinstance(record, ReturnInterview):
        return timezone.localdate(record.held_at or timezone.now())
    if isinstance(record, StrategyMeeting):
        return record.held_on
    return timezone.localdate(record.written_at)


def source_label(record: SourceRecord) -> str:
    day = agreed_on_for(record)
    return f"{AgreedAction.Source(source_of(record)).label} on {day.day} {day:%B %Y}"


def require_source_right(user: User, child: Child, record: SourceRecord) -> None:
    """Refuse unless the person may record the source (and so agree actions at it)."""
    right = rights.SOURCE_RIGHTS[source_of(record)]
    interview = record if isinstance(record, ReturnInterview) else None
    rights.require(user, right, child, interview=interview)


def action_problems(
    errors: dict[str, list[str]],
    *,
    child: Child,
    description: str | None,
    owner_agency: Agency | None,
    owner_person: User | None,
    due_date: dt.date | None,
    agreed_on: dt.date,
    prefix: str = "",
    agency_unchanged: bool = False,
) -> None:
    """What every agreed action must answer, whether agreed or corrected: a message by
    each field that does not. ``agency_unchanged``: a correction keeping the agency
    first recorded is not asked again whether that agency still sees the child."""
    if _blank(description):
        errors[f"{prefix}description"] = [DESCRIPTION_MESSAGE]
    elif len(description or "") > FREE_TEXT_MAX_LENGTH:
        errors[f"{prefix}description"] = [
            f"The action must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"
        ]
    if owner_agency is None:
        errors[f"{prefix}owner_agency"] = [AGENCY_MESSAGE]
    elif not agency_unchanged and not (
        access.agencies_seeing(child).filter(pk=owner_agency.pk).exists()
    ):
        errors[f"{prefix}owner_agency"] = [
            f"{owner_agency.name} does not work with {child.first_name}, so could not see "
            "the action: choose an agency that does, or ask the responsible council to "
            "record them as involved first"
        ]
    if (
        owner_person is not None
        and owner_agency is not None
        and owner_person.agency_id != owner_agency.pk
    ):
        errors[f"{prefix}owner_person"] = [
            f"Choose someone at {owner_agency.name}, or no one in particular"
        ]
    if due_date is None:
        errors[f"{prefix}due_date"] = [DUE_MESSAGE]
    elif due_date < agreed_on:
        errors[f"{prefix}due_date"] = [
            "The due date must be on or after the day the action was agreed, "
            f"{agreed_on.day} {agreed_on:%B %Y}"
        ]


def new_action(
    *,
    child: Child,
    record: SourceRecord,
    acting_user: User,
    description: str,
    owner_agency: Agency | None,
    owner_person: User | None,
    due_date: dt.date | None,
) -> AgreedAction:
    """An unsaved action agreed at ``record`` (the callers save it with its history)."""
    source = source_of(record)
    return AgreedAction(
        child=child,
        source=source,
        interview=record if source == Source.INTERVIEW else None,
        strategy_meeting=record if source == Source.STRATEGY_MEETING else None,
        supervision_note=record if source == Source.SUPERVISION_NOTE else None,
        description=description.strip(),
        owner_agency=owner_agency,
        owner_person=owner_person,
        agreed_on=agreed_on_for(record),
        due_date=due_date,
        created_by=acting_user,
    )


def _added_summary(action: AgreedAction) -> str:
    return (
        f"Agreed action for {action.owner_agency.name} ({action.get_source_display()}), "
        f"due by {action.due_date:%-d %b %Y}: {action.description}"
        if action.due_date
        else f"Agreed action for {action.owner_agency.name}: {action.description}"
    )


def agreed_action_add(
    *,
    acting_user: User,
    child: Child,
    record: SourceRecord,
    description: str,
    owner_agency: Agency | None,
    due_date: dt.date | None,
    owner_person: User | None = None,
) -> AgreedAction:
    """Record an action agreed at an interview held, a strategy meeting or in a note."""
    require_source_right(acting_user, child, record)
    errors: dict[str, list[str]] = {}
    if isinstance(record, ReturnInterview) and record.outcome != ReturnInterview.Outcome.HELD:
        errors[NON_FIELD_ERRORS] = ["Actions are agreed at a return interview that was held"]
    action_problems(
        errors,
        child=child,
        description=description,
        owner_agency=owner_agency,
        owner_person=owner_person,
        due_date=due_date,
        agreed_on=agreed_on_for(record),
    )
    raise_if_errors(errors)
    with transaction.atomic():
        action = new_action(
            child=child,
            record=record,
            acting_user=acting_user,
            description=description,
            owner_agency=owner_agency,
            owner_person=owner_person,
            due_date=due_date,
        )
        action._history_user = acting_user  # type: ignore[attr-defined]
        action.save()
        event_record(
            child=child,
            episode=record.episode if isinstance(record, ReturnInterview) else None,
            kind=CaseEvent.Kind.AGREED_ACTION_ADDED,
            actor=acting_user,
            summary=_added_summary(action),
            data={"agreed_action_id": action.pk, "owner_agency_id": action.owner_agency_id},
        )
    return action


def _follow_up(
    *,
    acting_user: User,
    action: AgreedAction,
    expected_version: int,
    errors: dict[str, list[str]],
    values: dict[str, Any],
    kind: str,
    summary: str,
    want_open: bool = True,
) -> AgreedAction:
    """The shared steps of marking done, not needed and reopening: the owner agency's
    right and scope, a stale edit refused naming what changed, the state, the save."""
    rights.require_follow_up(acting_user, action)
    access.require(
        access.child_in_scope(acting_user, action.child), rights.follow_up_refusal(action)
    )
    with transaction.atomic():
        current = AgreedAction.objects.select_for_update().get(pk=action.pk)
        if current.version != expected_version:
            raise stale_edit(current, expected_version, what="agreed action")
        if current.is_open != want_open:
            errors.setdefault(NON_FIELD_ERRORS, []).append(
                f"This action is already {current.get_state_display().lower()}"
                if want_open
                else "This action is already open"
            )
        raise_if_errors(errors)
        update_versioned(
            current,
            expected_version=expected_version,
            values=values,
            what="agreed action",
            acting_user=acting_user,
        )
        event_record(
            child=action.child,
            episode=current.interview.episode if current.interview_id else None,
            kind=kind,
            actor=acting_user,
            summary=summary,
            data={"agreed_action_id": action.pk, "owner_agency_id": action.owner_agency_id},
        )
    current.child = action.child
    current.owner_agency = action.owner_agency
    return current


def _said(field: str, value: str | None, required: str) -> tuple[str, dict[str, list[str]]]:
    """What the owner said on closing an action (what happened, or why it is no longer
    needed), trimmed, and the field's error if it is missing or too long."""
    errors: dict[str, list[str]] = {}
    if _blank(value):
        errors[field] = [required]
    elif len(value or "") > FREE_TEXT_MAX_LENGTH:
        errors[field] = [f"This must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"]
    return (value or "").strip(), errors


def agreed_action_mark_done(
    *, acting_user: User, action: AgreedAction, expected_version: int, what_happened: str
) -> AgreedAction:
    """The owner agency says the action is done, and what happened."""
    text, errors = _said("what_happened", what_happened, WHAT_HAPPENED_MESSAGE)
    return _follow_up(
        acting_user=acting_user,
        action=action,
        expected_version=expected_version,
        errors=errors,
        values={
            "state": State.DONE,
            "what_happened": text,
            "done_at": timezone.now(),
            "done_by": acting_user,
        },
        kind=CaseEvent.Kind.AGREED_ACTION_DONE,
        summary=f"Agreed action done ({action.owner_agency.name}): {text}",
    )


def agreed_action_mark_not_needed(
    *, acting_user: User, action: AgreedAction, expected_version: int, reason: str
) -> AgreedAction:
    """The owner agency says the action is no longer needed, and why."""
    text, errors = _said("reason", reason, WHY_MESSAGE)
    return _follow_up(
        acting_user=acting_user,
        action=action,
        expected_version=expected_version,
        errors=errors,
        values={
            "state": State.NOT_NEEDED,
            "not_needed_reason": text,
            "not_needed_at": timezone.now(),
            "not_needed_by": acting_user,
        },
        kind=CaseEvent.Kind.AGREED_ACTION_NOT_NEEDED,
        summary=f"Agreed action no longer needed ({action.owner_agency.name}): {text}",
    )


def agreed_action_reopen(
    *, acting_user: User, action: AgreedAction, expected_version: int
) -> AgreedAction:
    """The owner agency reopens an action marked done or not needed by mistake. What
    was said when it was closed stays in the history."""
    return _follow_up(
        acting_user=acting_user,
        action=action,
        expected_version=expected_version,
        errors={},
        values={
            "state": State.OPEN,
            "what_happened": "",
            "done_at": None,
            "done_by": None,
            "not_needed_reason": "",
            "not_needed_at": None,
            "not_needed_by": None,
        },
        kind=CaseEvent.Kind.AGREED_ACTION_REOPENED,
        summary=f"Agreed action reopened ({action.owner_agency.name}): {action.description}",
        want_open=False,
    )
