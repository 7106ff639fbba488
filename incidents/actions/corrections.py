"""Correcting a saved record: the safe and well check, the return interview (held or
declined), its attempts and agreed actions, strategy meetings, supervision notes and
challenges.

Each correction is made by whoever may record the thing in the first place (the same
right, ``incidents.rights``), on the version of the record the form was drawn from
(a stale edit is refused, naming what the other person changed). The previous values
are kept: the change-history row written with the change holds the record before and
after and the reason given, and the event on the child's timeline names the fields.

A reason is required when the record has already reached someone outside the agency
that made it: a safe and well check shared with the local authority, or a record any
notification of which was sent or recorded as told (asked of the notifications app
through ``incidents.signals.steps_already_told``, which this app never imports). A
challenge is made to another agency, so it has always reached them: its correction
always needs a reason.

A correction of a check, an interview or an attempt is an outbox fact event, so the
notifications are worked out again from the record as corrected. Deadlines never move:
the interview's ``due_at`` and the episode's ``first_found_at`` are not touched here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.db import models, transaction
from django.utils import timezone

from missingkids.accounts.models import Agency, User
from missingkids.policy import FREE_TEXT_MAX_LENGTH

from .. import rights
from ..models import (
    AgreedAction,
    CaseEvent,
    Challenge,
    Episode,
    InterviewAttempt,
    ReturnInterview,
    SafeAndWellCheck,
    StrategyMeeting,
    StrategyMeetingAttendee,
    SupervisionNote,
)
from ..rights import Right
from ..signals import steps_already_told
from . import agreed_actions
from .base import (
    changes_between,
    check_dates_for_child,
    event_record,
    raise_if_errors,
    stale_edit,
)
from .base import update_versioned as _update_versioned
from .interviews import (
    FUTURE_MESSAGE,
    _blank,
    _check_after_return,
    _episode_facts,
    _is_future,
    _local,
    declined_problems,
    failed_attempt_count,
    held_problems,
    interview_offered_at,
    interview_refresh_offered_at,
    interview_set_offered_at,
    other_text,
)
from .oversight import FUTURE_DATE_MESSAGE

REASON_NEEDED_SHARED = (
    "Enter why you are changing it: the check has already been shared with the local authority"
)
REASON_NEEDED_TOLD = "Enter why you are changing it: others have already been told of this record"
REASON_NEEDED_CHALLENGE = (
    "Enter why you are changing it: the challenge has already been made to the other agency"
)
NOTHING_CHANGED = "You have not changed anything"


def already_told(episode: Episode, kinds: Iterable[str]) -> bool:
    """Whether anyone has been told of the record (the notifications app answers)."""
    answers = steps_already_told.send(sender=Episode, episode=episode, kinds=list(kinds))
    return any(bool(answer) for _, answer in answers)


def _labels(model: type[models.Model], changes: dict[str, Any]) -> str:
    return ", ".join(str(model._meta.get_field(name).verbose_name) for name in changes)


def _correct(
    model: type[models.Model],
    *,
    pk: int,
    expected_version: int,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    reason: str,
    reason_needed: str,
    what: str,
    acting_user: User,
    other_changes: dict[str, list[Any]] | None = None,
    reason_field: str = "reason",
) -> tuple[models.Model, dict[str, list[Any]]]:
    """The shared steps, in the caller's transaction: lock the row, refuse a stale edit
    (naming what changed), the field errors, nothing changed, or a missing reason; then
    save through ``update_versioned`` with the reason. Returns the row and the changes
    (with ``other_changes``: what the caller changes beside the row, such as the
    agencies at a meeting). ``reason_field`` names the form's question for the reason
    (a challenge has a field of its own called ``reason``)."""
    current = model._default_manager.select_for_update().get(pk=pk)  # type: ignore[attr-defined]
    if current.version != expected_version:
        raise stale_edit(current, expected_version, what=what)
    raise_if_errors(errors)
    changes = {**changes_between(current, values), **(other_changes or {})}
    if not changes:
        raise_if_errors({NON_FIELD_ERRORS: [NOTHING_CHANGED]})
    if reason_needed and not reason:
        raise_if_errors({reason_field: [reason_needed]})
    if len(reason) > FREE_TEXT_MAX_LENGTH:
        raise_if_errors(
            {reason_field: [f"The reason must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"]}
        )
    _update_versioned(
        current,
        expected_version=expected_version,
        values=values,
        what=what,
        acting_user=acting_user,
        reason=reason,
    )
    return current, changes


def _summary(what: str, labels: str, reason: str) -> str:
    text = f"{what} corrected: {labels}"
    return (f"{text}. Reason: {reason}" if reason else text)[:500]


# Safe and well check ----------------------------------------------------------------


def safe_and_well_correct(
    *,
    acting_user: User,
    check: SafeAndWellCheck,
    expected_version: int,
    officer_name: str,
    conducted_at: dt.datetime,
    face_to_face: bool,
    outcome: str,
    harm_disclosed: bool = False,
    crime_disclosed: bool = False,
    disclosure_details: str = "",
    reason: str = "",
) -> SafeAndWellCheck:
    """Correct the check. Its sharing (when, how, with whom) is written once and is not
    changed here; a check already shared, or notified, needs a reason."""
    episode = check.episode
    rights.require(acting_user, Right.RECORD_SAFE_AND_WELL, episode.child)
    reason = (reason or "").strip()
    with transaction.atomic():
        current_episode = Episode.objects.get(pk=episode.pk)
        shared_at = (
            SafeAndWellCheck.objects.filter(pk=check.pk)
            .values_list("shared_with_la_at", flat=True)
            .first()
        )
        errors: dict[str, list[str]] = {}
        _check_after_return(
            errors,
            field="conducted_at",
            moment=conducted_at,
            found_at=current_episode.found_at,
            after_return="The safe and well check must be after the child was found",
        )
        if conducted_at is not None and shared_at is not None and conducted_at > shared_at:
            errors.setdefault("conducted_at", []).append(
                f"The check was shared with the local authority at {_local(shared_at)}: it "
                "must have been done before then"
            )
        if _blank(officer_name):
            errors["officer_name"] = ["Enter the name of the officer who did the check"]
        if _blank(outcome):
            errors["outcome"] = ["Enter the outcome of the check"]
        if (harm_disclosed or crime_disclosed) and _blank(disclosure_details):
            errors["disclosure_details"] = ["Describe what the child disclosed"]
        if shared_at is not None:
            needed = REASON_NEEDED_SHARED
        elif already_told(episode, [CaseEvent.Kind.SAFE_AND_WELL_DONE]):
            needed = REASON_NEEDED_TOLD
        else:
            needed = ""
        corrected, changes = _correct(
            SafeAndWellCheck,
            pk=check.pk,
            expected_version=expected_version,
            values={
                "officer_name": (officer_name or "").strip(),
                "conducted_at": conducted_at,
                "face_to_face": face_to_face,
                "outcome": (outcome or "").strip(),
                "harm_disclosed": harm_disclosed,
                "crime_disclosed": crime_disclosed,
                "disclosure_details": (disclosure_details or "").strip(),
            },
            errors=errors,
            reason=reason,
            reason_needed=needed,
            what="safe and well check",
            acting_user=acting_user,
        )
        event_record(
            child=episode.child,
            episode=episode,
            kind=CaseEvent.Kind.SAFE_AND_WELL_CORRECTED,
            actor=acting_user,
            summary=_summary("Safe and well check", _labels(SafeAndWellCheck, changes), reason),
            data={
                **_episode_facts(episode),
                "fields": sorted(changes),
                "conducted_at": corrected.conducted_at.isoformat(),
                "face_to_face": corrected.face_to_face,
                "harm_disclosed": corrected.harm_disclosed,
                "crime_disclosed": corrected.crime_disclosed,
                "reason": reason,
            },
        )
    corrected.episode = episode
    return corrected  # type: ignore[return-value]


# Return interview -------------------------------------------------------------------


def _interview_right(acting_user: User, interview: ReturnInterview) -> None:
    rights.require(
        acting_user, Right.RECORD_INTERVIEW, interview.episode.child, interview=interview
    )


def _interview_event(
    acting_user: User,
    interview: ReturnInterview,
    changes: dict[str, list[Any]],
    reason: str,
    done_at: dt.datetime,
) -> None:
    episode = interview.episode
    event_record(
        child=episode.child,
        episode=episode,
        kind=CaseEvent.Kind.INTERVIEW_CORRECTED,
        actor=acting_user,
        summary=_summary("Return interview", _labels(ReturnInterview, changes), reason),
        data={
            **_episode_facts(episode),
            # Field names only: the child's words stay on the interview.
            "fields": sorted(changes),
            "outcome": interview.outcome,
            "done_at": done_at.isoformat(),
            # Kept, whatever the correction: what the interview was measured against.
            "due_at": interview.due_at.isoformat(),
            "within_72_hours": done_at <= interview.due_at,
            "reason": reason,
        },
    )


def _outcome_is(interview: ReturnInterview, outcome: str, errors: dict[str, list[str]]) -> None:
    if interview.outcome != outcome:
        errors[NON_FIELD_ERRORS] = [
            f"The return interview is recorded as {interview.get_outcome_display().lower()}: "
            "only what was recorded can be corrected"
        ]


def interview_correct_held(
    *,
    acting_user: User,
    interview: ReturnInterview,
    expected_version: int,
    held_at: dt.datetime,
    held_by: str,
    child_voice: str,
    push_factors: Iterable[str] = (),
    pull_factors: Iterable[str] = (),
    factors_notes: str = "",
    where_they_were: str = "",
    who_with: str = "",
    harm_disclosed: bool = False,
    harm_details: str = "",
    what_would_help: str = "",
    reason: str = "",
    push_other: str = "",
    pull_other: str = "",
) -> ReturnInterview:
    """Correct an interview recorded as held. Its deadline (``due_at``) is kept."""
    _interview_right(acting_user, interview)
    reason = (reason or "").strip()
    push = list(dict.fromkeys(push_factors))
    pull = list(dict.fromkeys(pull_factors))
    episode = interview.episode
    with transaction.atomic():
        found_at = Episode.objects.filter(pk=episode.pk).values_list("found_at", flat=True).get()
        errors: dict[str, list[str]] = {}
        _outcome_is(
            ReturnInterview.objects.get(pk=interview.pk), ReturnInterview.Outcome.HELD, errors
        )
        held_problems(
            errors,
            found_at=found_at,
            held_at=held_at,
            held_by=held_by,
            child_voice=child_voice,
            push=push,
            pull=pull,
            harm_disclosed=harm_disclosed,
            harm_details=harm_details,
            push_other=push_other,
            pull_other=pull_other,
        )
        told = already_told(episode, [CaseEvent.Kind.INTERVIEW_HELD])
        # The offered time follows a corrected time; saved with the correction (its
        # history row carries it), and undone with it if the correction is refused.
        interview_set_offered_at(interview, interview_offered_at(interview.pk, held_at=held_at))
        corrected, changes = _correct(
            ReturnInterview,
            pk=interview.pk,
            expected_version=expected_version,
            values={
                "held_at": held_at,
                "held_by": (held_by or "").strip(),
                "child_voice": (child_voice or "").strip(),
                "push_factors": push,
                "pull_factors": pull,
                "push_other": other_text(push, push_other),
                "pull_other": other_text(pull, pull_other),
                "factors_notes": (factors_notes or "").strip(),
                "where_they_were": (where_they_were or "").strip(),
                "who_with": (who_with or "").strip(),
                "harm_disclosed": harm_disclosed,
                "harm_details": (harm_details or "").strip(),
                "what_would_help": (what_would_help or "").strip(),
            },
            errors=errors,
            reason=reason,
            reason_needed=REASON_NEEDED_TOLD if told else "",
            what="return interview",
            acting_user=acting_user,
        )
        corrected.episode = episode
        _interview_event(acting_user, corrected, changes, reason, corrected.held_at)  # type: ignore[arg-type]
    return corrected  # type: ignore[return-value]


def interview_correct_declined(
    *,
    acting_user: User,
    interview: ReturnInterview,
    expected_version: int,
    declined_at: dt.datetime,
    carers_information: str,
    decision_not_to_hold: str,
    reason: str = "",
) -> ReturnInterview:
    """Correct an interview recorded as declined. Its deadline (``due_at``) is kept."""
    _interview_right(acting_user, interview)
    reason = (reason or "").strip()
    episode = interview.episode
    with transaction.atomic():
        found_at = Episode.objects.filter(pk=episode.pk).values_list("found_at", flat=True).get()
        errors: dict[str, list[str]] = {}
        _outcome_is(
            ReturnInterview.objects.get(pk=interview.pk), ReturnInterview.Outcome.DECLINED, errors
        )
        declined_problems(
            errors,
            found_at=found_at,
            declined_at=declined_at,
            carers_information=carers_information,
            decision_not_to_hold=decision_not_to_hold,
        )
        told = already_told(episode, [CaseEvent.Kind.INTERVIEW_DECLINED])
        # The offered time follows a corrected time; saved with the correction (its
        # history row carries it), and undone with it if the correction is refused.
        interview_set_offered_at(
            interview, interview_offered_at(interview.pk, declined_at=declined_at)
        )
        corrected, changes = _correct(
            ReturnInterview,
            pk=interview.pk,
            expected_version=expected_version,
            values={
                "declined_at": declined_at,
                "carers_information": (carers_information or "").strip(),
                "decision_not_to_hold": (decision_not_to_hold or "").strip(),
            },
            errors=errors,
            reason=reason,
            reason_needed=REASON_NEEDED_TOLD if told else "",
            what="return interview",
            acting_user=acting_user,
        )
        corrected.episode = episode
        _interview_event(acting_user, corrected, changes, reason, corrected.declined_at)  # type: ignore[arg-type]
    return corrected  # type: ignore[return-value]


# Attempts ---------------------------------------------------------------------------


def interview_attempt_correct(
    *,
    acting_user: User,
    attempt: InterviewAttempt,
    expected_version: int,
    attempted_at: dt.datetime,
    method: str,
    outcome: str,
    notes: str = "",
    reason: str = "",
) -> InterviewAttempt:
    """Correct an attempt; the interview counts as offered at the earliest attempt."""
    interview = attempt.interview
    _interview_right(acting_user, interview)
    reason = (reason or "").strip()
    episode = interview.episode
    with transaction.atomic():
        found_at = Episode.objects.filter(pk=episode.pk).values_list("found_at", flat=True).get()
        errors: dict[str, list[str]] = {}
        _check_after_return(
            errors,
            field="attempted_at",
            moment=attempted_at,
            found_at=found_at,
            after_return="The attempt must be after the child returned",
        )
        if method not in InterviewAttempt.Method.values:
            errors["method"] = ["Select how the child was contacted"]
        if outcome not in InterviewAttempt.Outcome.values:
            errors["outcome"] = ["Select the outcome of the attempt"]
        told = already_told(episode, [CaseEvent.Kind.INTERVIEW_ATTEMPT])
        corrected, changes = _correct(
            InterviewAttempt,
            pk=attempt.pk,
            expected_version=expected_version,
            values={
                "attempted_at": attempted_at,
                "method": method,
                "outcome": outcome,
                "notes": (notes or "").strip(),
            },
            errors=errors,
            reason=reason,
            reason_needed=REASON_NEEDED_TOLD if told else "",
            what="attempt",
            acting_user=acting_user,
        )
        if "attempted_at" in changes:
            interview_refresh_offered_at(interview, acting_user=acting_user, reason=reason)
        event_record(
            child=episode.child,
            episode=episode,
            kind=CaseEvent.Kind.INTERVIEW_ATTEMPT_CORRECTED,
            actor=acting_user,
            summary=_summary(
                "Return interview attempt", _labels(InterviewAttempt, changes), reason
            ),
            data={
                **_episode_facts(episode),
                "attempt_id": attempt.pk,
                "fields": sorted(changes),
                "changes": {k: v for k, v in changes.items() if k != "notes"},
                "failed_attempts": failed_attempt_count(interview),
                "owner_agency_id": interview.owner_id,
                "provider_agency_id": interview.provider_id,
                "reason": reason,
            },
        )
    corrected.interview = interview
    return corrected  # type: ignore[return-value]


# Supervision notes ------------------------------------------------------------------


def supervision_note_correct(
    *,
    acting_user: User,
    note: SupervisionNote,
    expected_version: int,
    text: str,
    reason: str = "",
) -> SupervisionNote:
    """Correct a supervision note. Read by managers only: its event says that a note
    was corrected, never what it says."""
    rights.require(acting_user, Right.SUPERVISION_NOTES, note.child)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if _blank(text):
        errors["note"] = ["Enter the supervision note"]
    elif len(text) > FREE_TEXT_MAX_LENGTH:
        errors["note"] = [f"The note must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"]
    with transaction.atomic():
        corrected, _ = _correct(
            SupervisionNote,
            pk=note.pk,
            expected_version=expected_version,
            values={"note": (text or "").strip()},
            errors=errors,
            reason=reason,
            reason_needed="",
            what="supervision note",
            acting_user=acting_user,
        )
        event_record(
            child=note.child,
            kind=CaseEvent.Kind.SUPERVISION_NOTE_CORRECTED,
            actor=acting_user,
            occurred_at=timezone.now(),
            summary="Supervision note corrected (visible to managers)",
            data={"supervision_note_id": note.pk},
        )
    return corrected  # type: ignore[return-value]


# Agreed actions ---------------------------------------------------------------------


def agreed_action_correct(
    *,
    acting_user: User,
    action: AgreedAction,
    expected_version: int,
    description: str,
    owner_agency: Agency | None,
    due_date: dt.date | None,
    owner_person: User | None = None,
    reason: str = "",
) -> AgreedAction:
    """Correct an agreed action: what, who owns it, by when. By whoever may record its
    source (the interview, the meeting or the note); its follow-up is the owner's."""
    child = action.child
    record = action.interview or action.strategy_meeting or action.supervision_note
    agreed_actions.require_source_right(acting_user, child, record)
    reason = (reason or "").strip()
    episode = action.interview.episode if action.interview_id else None
    errors: dict[str, list[str]] = {}
    agreed_actions.action_problems(
        errors,
        child=child,
        description=description,
        owner_agency=owner_agency,
        owner_person=owner_person,
        due_date=due_date,
        agreed_on=action.agreed_on,
        agency_unchanged=owner_agency is not None and owner_agency.pk == action.owner_agency_id,
    )
    with transaction.atomic():
        told = episode is not None and already_told(episode, [CaseEvent.Kind.INTERVIEW_HELD])
        corrected, changes = _correct(
            AgreedAction,
            pk=action.pk,
            expected_version=expected_version,
            values={
                "description": (description or "").strip(),
                "owner_agency": owner_agency,
                "owner_person": owner_person,
                "due_date": due_date,
            },
            errors=errors,
            reason=reason,
            reason_needed=REASON_NEEDED_TOLD if told else "",
            what="agreed action",
            acting_user=acting_user,
        )
        event_record(
            child=child,
            episode=episode,
            kind=CaseEvent.Kind.AGREED_ACTION_CORRECTED,
            actor=acting_user,
            summary=_summary("Agreed action", _labels(AgreedAction, changes), reason),
            data={"agreed_action_id": action.pk, "fields": sorted(changes), "reason": reason},
        )
    corrected.child = child
    return corrected  # type: ignore[return-value]


# Strategy meetings ------------------------------------------------------------------


def strategy_meeting_correct(
    *,
    acting_user: User,
    meeting: StrategyMeeting,
    expected_version: int,
    held_on: dt.date,
    attendee_agencies: Iterable[Agency],
    attendee_names: str = "",
    decisions: str,
    next_review: dt.date | None = None,
    reason: str = "",
) -> StrategyMeeting:
    """Correct a strategy meeting: its date, who attended, what was decided, the review.
    The agencies that attended are replaced by those given; the event names both."""
    child = meeting.child
    rights.require(acting_user, Right.RECORD_STRATEGY_MEETING, child)
    reason = (reason or "").strip()
    agencies = list(dict.fromkeys(a for a in attendee_agencies or () if a is not None))
    errors: dict[str, list[str]] = {}
    if held_on is None:
        errors["held_on"] = ["Enter the date of the meeting"]
    elif held_on > timezone.localdate():
        errors["held_on"] = [FUTURE_DATE_MESSAGE]
    if not agencies:
        errors["attendee_agencies"] = ["Select at least one agency that attended"]
    if _blank(decisions):
        errors["decisions"] = ["Enter the decisions and actions agreed"]
    elif len(decisions) > FREE_TEXT_MAX_LENGTH:
        errors["decisions"] = [f"Decisions must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"]
    if len(attendee_names or "") > FREE_TEXT_MAX_LENGTH:
        errors["attendee_names"] = [
            f"Who attended must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"
        ]
    if next_review is not None and held_on is not None and next_review < held_on:
        errors["next_review"] = ["The next review must be on or after the date of the meeting"]
    with transaction.atomic():
        before = sorted(
            StrategyMeetingAttendee.objects.filter(meeting_id=meeting.pk).values_list(
                "agency__name", flat=True
            )
        )
        after = sorted(a.name for a in agencies)
        attendees = {"attendee_agencies": [before, after]} if before != after else {}
        corrected, changes = _correct(
            StrategyMeeting,
            pk=meeting.pk,
            expected_version=expected_version,
            values={
                "held_on": held_on,
                "attendee_names": (attendee_names or "").strip(),
                "decisions": (decisions or "").strip(),
                "next_review": next_review,
            },
            errors=errors,
            reason=reason,
            reason_needed="",
            what="strategy meeting",
            acting_user=acting_user,
            other_changes=attendees,
        )
        if attendees:
            StrategyMeetingAttendee.objects.filter(meeting_id=meeting.pk).delete()
            StrategyMeetingAttendee.objects.bulk_create(
                StrategyMeetingAttendee(meeting_id=meeting.pk, agency=agency) for agency in agencies
            )
        labels = ", ".join(
            "agencies that attended"
            if name == "attendee_agencies"
            else str(StrategyMeeting._meta.get_field(name).verbose_name)
            for name in changes
        )
        event_record(
            child=child,
            kind=CaseEvent.Kind.STRATEGY_MEETING_CORRECTED,
            actor=acting_user,
            summary=_summary("Strategy meeting", labels, reason),
            data={
                "strategy_meeting_id": meeting.pk,
                "fields": sorted(changes),
                "held_on": corrected.held_on.isoformat(),  # type: ignore[attr-defined]
                "agency_ids": sorted(a.pk for a in agencies),
                **({"attendee_agencies": attendees["attendee_agencies"]} if attendees else {}),
                "reason": reason,
            },
        )
    corrected.child = child
    return corrected  # type: ignore[return-value]


# Challenges -------------------------------------------------------------------------


def challenge_correct(
    *,
    acting_user: User,
    challenge: Challenge,
    expected_version: int,
    challenged_agency: Agency | None,
    episode: Episode | None = None,
    decision: str,
    reason: str,
    raised_at: dt.datetime | None,
    status: str | None = None,
    outcome: str | None = None,
    change_reason: str = "",
) -> Challenge:
    """Correct a challenge: whose decision, which episode, what and why, when it was
    raised and, once recorded, its outcome. ``reason`` is the challenge's own "why it
    was challenged"; ``change_reason`` is why it is being corrected, always required
    (the other agency already has the challenge). When the outcome was recorded is kept.
    ``status`` and ``outcome`` left as None keep what is recorded (an open challenge's
    outcome is recorded on its own page)."""
    child = challenge.child
    rights.require(acting_user, Right.RAISE_CHALLENGE, child)
    change_reason = (change_reason or "").strip()
    errors: dict[str, list[str]] = {}
    if episode is not None and episode.child_id != child.pk:
        errors["episode"] = ["Select one of this child's episodes"]
    if challenged_agency is None:
        errors["challenged_agency"] = ["Select the agency whose decision you challenged"]
    if _blank(decision):
        errors["decision"] = ["Enter the decision you challenged"]
    if _blank(reason):
        errors["reason"] = ["Enter why you challenged it"]
    with transaction.atomic():
        current = Challenge.objects.get(pk=challenge.pk)
        if raised_at is None:
            errors["raised_at"] = ["Enter when you raised the challenge"]
        elif _is_future(raised_at):
            errors["raised_at"] = [FUTURE_MESSAGE]
        else:
            check_dates_for_child(errors, child, raised_at=raised_at)
            if current.outcome_at is not None and raised_at > current.outcome_at:
                errors.setdefault("raised_at", []).append(
                    f"The outcome was recorded at {_local(current.outcome_at)}: the "
                    "challenge must have been raised before then"
                )
        values: dict[str, Any] = {
            "challenged_agency": challenged_agency,
            "episode": episode,
            "decision": (decision or "").strip(),
            "reason": (reason or "").strip(),
            "raised_at": raised_at,
        }
        if current.status == Challenge.Status.OPEN:
            if status not in (None, "", Challenge.Status.OPEN) or (outcome or "").strip():
                errors[NON_FIELD_ERRORS] = [
                    "The challenge is still open: record its outcome on its page"
                ]
        else:
            if status is not None:
                if status not in (Challenge.Status.RESOLVED, Challenge.Status.ESCALATED):
                    errors["status"] = ["Select whether the challenge was resolved or escalated"]
                values["status"] = status
            if outcome is not None:
                if _blank(outcome):
                    errors["outcome"] = ["Enter the outcome of the challenge"]
                values["outcome"] = outcome.strip()
        corrected, changes = _correct(
            Challenge,
            pk=challenge.pk,
            expected_version=expected_version,
            values=values,
            errors=errors,
            reason=change_reason,
            reason_needed=REASON_NEEDED_CHALLENGE,
            what="challenge",
            acting_user=acting_user,
            reason_field="change_reason",
        )
        agency_name = corrected.challenged_agency.name  # type: ignore[attr-defined]
        event_record(
            child=child,
            episode=episode,
            kind=CaseEvent.Kind.CHALLENGE_CORRECTED,
            actor=acting_user,
            summary=_summary(
                f"Challenge to {agency_name}", _labels(Challenge, changes), change_reason
            ),
            data={
                "challenge_id": challenge.pk,
                "fields": sorted(changes),
                "challenged_agency_id": corrected.challenged_agency_id,  # type: ignore[attr-defined]
                "status": corrected.status,  # type: ignore[attr-defined]
                "reason": change_reason,
            },
        )
    corrected.child = child
    return corrected  # type: ignore[return-value]
