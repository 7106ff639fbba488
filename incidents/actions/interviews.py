"""After the return: the police safe and well check, the return interview, challenges.

The return interview is the heart of the protocol: offered to every child after every
episode, within 72 hours, and, when it is held, a record of the child's own words.
Attempts are logged one by one so a child who will not engage shows up as a stuck case
(failed attempts are counted into each attempt event for the notifications app) rather
than as a single "declined".

Validation errors are keyed by the names of the fields on the forms in
``incidents.forms.interviews``; agreed actions are numbered from 1 (``action_1_...``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.db.models import Case, F, Min, Q, Value, When
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from missingkids.accounts.models import Agency, User

from .. import rights
from ..forms.fields import FUTURE_GRACE
from ..models import (
    OTHER_FACTOR,
    PULL_FACTORS,
    PUSH_FACTORS,
    AgreedAction,
    CaseEvent,
    Challenge,
    Child,
    Episode,
    InterviewAttempt,
    Placement,
    ReturnInterview,
    SafeAndWellCheck,
    SharingMethod,
)
from ..rights import Right
from . import agreed_actions
from .base import (
    StaleEdit,
    check_dates_for_child,
    event_record,
    events_record,
    history_write,
    history_write_many,
    raise_if_errors,
    update_versioned,
)

FUTURE_MESSAGE = "The date and time must not be in the future"
MAX_AGREED_ACTIONS = 3
CHILD_VOICE_MESSAGE = "Write what the child said, in their own words"


def _is_future(moment: dt.datetime) -> bool:
    return moment > timezone.now() + FUTURE_GRACE


def _local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%d/%m/%Y %H:%M")


def _check_after_return(
    errors: dict[str, list[str]],
    *,
    field: str,
    moment: dt.datetime | None,
    found_at: dt.datetime | None,
    after_return: str,
) -> None:
    """The shared rule for anything that happens after a return: not before it, not future."""
    if moment is None:
        errors.setdefault(field, []).append("Enter the date and time")
        return
    if found_at is not None and moment < found_at:
        errors.setdefault(field, []).append(after_return)
    elif _is_future(moment):
        errors.setdefault(field, []).append(FUTURE_MESSAGE)


def _blank(value: str | None) -> bool:
    return not (value or "").strip()


def _episode_facts(episode: Episode) -> dict[str, Any]:
    """Facts about the child's situation that decide who must be told."""
    return _episodes_facts([episode])[episode.pk]


def _episodes_facts(episodes: Iterable[Episode]) -> dict[int, dict[str, Any]]:
    """``_episode_facts`` of each episode, by its id, with one query for the placements."""
    episodes = list(episodes)
    today = timezone.localdate()
    current: dict[int, Placement] = {}
    # Each child's current placement: the latest started of those not ended.
    for placement in (
        Placement.objects.filter(Q(end__isnull=True) | Q(end__gte=today))
        .filter(start__lte=today, child_id__in={episode.child_id for episode in episodes})
        .order_by("child_id", "-start")
    ):
        current.setdefault(placement.child_id, placement)
    facts: dict[int, dict[str, Any]] = {}
    for episode in episodes:
        child = episode.child
        placement = current.get(child.pk)
        facts[episode.pk] = {
            "category": episode.category,
            "risk": episode.risk,
            "child_in_care": child.is_in_care,
            "placed_out_of_area": bool(
                placement and placement.host_area_id != child.responsible_area_id
            ),
            "responsible_area_id": child.responsible_area_id,
            "host_area_id": placement.host_area_id if placement else None,
        }
    return facts


def _close_if_complete(*, acting_user: User, episode: Episode) -> None:
    # Imported here: the episodes module also reads this one's records, and importing it
    # at module level would tie the two modules' import order together.
    from .episodes import episode_close_if_complete

    episode_close_if_complete(acting_user=acting_user, episode=episode)


# Safe and well check ----------------------------------------------------------------

SHARED_AT_MISSING = "Enter when it was shared with the local authority"
SHARED_METHOD_MISSING = "Select how it was shared"
SHARED_WITH_MISSING = "Enter who it was shared with: their name and agency"


def _sharing_errors(
    errors: dict[str, list[str]],
    *,
    conducted_at: dt.datetime | None,
    shared_at: dt.datetime | None,
    method: str,
    shared_with: str,
    fields: tuple[str, str, str],
) -> None:
    """The rules for a sharing typed in: when (after the check, not in the future), how
    and with whom, each message by its field (``fields``: when, how, whom)."""
    at_field, method_field, whom_field = fields
    if shared_at is None:
        errors.setdefault(at_field, []).append(SHARED_AT_MISSING)
    elif conducted_at is not None and shared_at < conducted_at:
        errors.setdefault(at_field, []).append(
            "The check cannot be shared before it was done: enter a time after "
            f"{_local(conducted_at)}"
        )
    elif _is_future(shared_at):
        errors.setdefault(at_field, []).append(FUTURE_MESSAGE)
    if method not in SharingMethod.values:
        errors.setdefault(method_field, []).append(SHARED_METHOD_MISSING)
    if _blank(shared_with):
        errors.setdefault(whom_field, []).append(SHARED_WITH_MISSING)


def _sharing_data(
    *, at: dt.datetime, method: str, shared_with: str, by_agency: Agency | None
) -> dict[str, Any]:
    """What a protocol event says about a sharing: the notifications app marks the local
    authority's check notifications told from exactly this (when, how, whom)."""
    return {
        "shared_at": at.isoformat(),
        "shared_method": method,
        "shared_with": shared_with,
        "shared_by_agency_id": by_agency.pk if by_agency is not None else None,
    }


def _already_shared_message(check: SafeAndWellCheck) -> str:
    message = "This check has already been recorded as shared with the local authority"
    if check.shared_with_la_at is not None:
        message += f" ({_local(check.shared_with_la_at)}"
        if check.shared_method:
            message += f", {check.get_shared_method_display().lower()}"
        if check.shared_with:
            message += f", with {check.shared_with}"
        message += ")"
    return message


def safe_and_well_record(
    *,
    acting_user: User,
    episode: Episode,
    officer_name: str,
    conducted_at: dt.datetime,
    face_to_face: bool,
    outcome: str,
    harm_disclosed: bool = False,
    crime_disclosed: bool = False,
    disclosure_details: str = "",
    shared_with_la_at: dt.datetime | None = None,
    shared_method: str = "",
    shared_with: str = "",
) -> SafeAndWellCheck:
    """Record the check; if it was already shared with the local authority, say when,
    how and with whom (all three, or none: it can be recorded later)."""
    rights.require(acting_user, Right.RECORD_SAFE_AND_WELL, episode.child)
    shared_with = (shared_with or "").strip()
    sharing = shared_with_la_at is not None or bool(shared_method) or bool(shared_with)
    with transaction.atomic():
        # Lock the episode so two officers recording at once cannot both pass the
        # "only one check" test (a no-op on SQLite, which serialises writes anyway).
        locked = Episode.objects.select_for_update().get(pk=episode.pk)
        errors: dict[str, list[str]] = {}
        if locked.found_at is None:
            errors[NON_FIELD_ERRORS] = [
                "Record that the child has been found before recording the safe and well check"
            ]
        elif SafeAndWellCheck.objects.filter(episode_id=episode.pk).exists():
            errors[NON_FIELD_ERRORS] = [
                "A safe and well check has already been recorded for this episode"
            ]
        _check_after_return(
            errors,
            field="conducted_at",
            moment=conducted_at,
            found_at=locked.found_at,
            after_return="The safe and well check must be after the child was found",
        )
        if _blank(officer_name):
            errors["officer_name"] = ["Enter the name of the officer who did the check"]
        if _blank(outcome):
            errors["outcome"] = ["Enter the outcome of the check"]
        if (harm_disclosed or crime_disclosed) and _blank(disclosure_details):
            errors["disclosure_details"] = ["Describe what the child disclosed"]
        if sharing:
            _sharing_errors(
                errors,
                conducted_at=conducted_at,
                shared_at=shared_with_la_at,
                method=shared_method,
                shared_with=shared_with,
                fields=("shared_with_la_at", "shared_method", "shared_with"),
            )
        raise_if_errors(errors)

        check = SafeAndWellCheck.objects.create(
            episode=locked,
            officer_name=officer_name.strip(),
            agency_id=acting_user.agency_id,
            conducted_at=conducted_at,
            face_to_face=face_to_face,
            outcome=outcome.strip(),
            harm_disclosed=harm_disclosed,
            crime_disclosed=crime_disclosed,
            disclosure_details=disclosure_details.strip(),
            shared_with_la_at=shared_with_la_at,
            shared_method=shared_method if sharing else "",
            shared_with=shared_with if sharing else "",
            shared_by_agency_id=acting_user.agency_id if sharing else None,
            shared_recorded_by=acting_user if sharing else None,
            recorded_by=acting_user,
        )
        episode.safe_and_well = check
        disclosed = [
            label for flag, label in ((harm_disclosed, "harm"), (crime_disclosed, "crime")) if flag
        ]
        summary = f"Safe and well check by {check.officer_name}" + (
            " (face to face)" if face_to_face else " (not face to face)"
        )
        if disclosed:
            summary += f": {' and '.join(disclosed)} disclosed"
        data: dict[str, Any] = {
            **_episode_facts(episode),
            "face_to_face": face_to_face,
            "harm_disclosed": harm_disclosed,
            "crime_disclosed": crime_disclosed,
            "shared": sharing,
            "shared_at": None,
        }
        if shared_with_la_at is not None:
            data.update(
                _sharing_data(
                    at=shared_with_la_at,
                    method=shared_method,
                    shared_with=shared_with,
                    by_agency=acting_user.agency,
                )
            )
        event_record(
            child=episode.child,
            episode=episode,
            kind=CaseEvent.Kind.SAFE_AND_WELL_DONE,
            actor=acting_user,
            occurred_at=conducted_at,
            summary=summary,
            data=data,
        )
        _close_if_complete(acting_user=acting_user, episode=episode)
    return check


def _share(
    check: SafeAndWellCheck,
    *,
    at: dt.datetime,
    method: str,
    shared_with: str,
    by_agency: Agency | None,
    recorded_by: User | None,
) -> bool:
    """Write the sharing on the check if none is recorded yet; False if one already is.

    A conditional UPDATE: whoever records the sharing first wins (the worker's e-mail
    or a person), and a later one changes nothing.
    """
    updated = SafeAndWellCheck.objects.filter(pk=check.pk, shared_with_la_at__isnull=True).update(
        shared_with_la_at=at,
        shared_method=method,
        shared_with=shared_with[:200],
        shared_by_agency=by_agency,
        shared_recorded_by=recorded_by,
        version=F("version") + 1,
    )
    if updated != 1:
        return False
    history_write(SafeAndWellCheck, check.pk, user=recorded_by)
    check.shared_with_la_at = at
    check.shared_method = method
    check.shared_with = shared_with[:200]
    check.shared_by_agency = by_agency
    check.shared_recorded_by = recorded_by
    check.version += 1
    return True


def safe_and_well_share(
    *,
    acting_user: User,
    check: SafeAndWellCheck,
    shared_at: dt.datetime | None,
    method: str,
    shared_with: str,
    by_agency: Agency | None = None,
) -> SafeAndWellCheck:
    """Record that the check was shared with the local authority: when, how, with whom.

    ``by_agency`` is the agency that shared it: the acting person's, unless a manager
    of the child's council records that the police told them (the notification's
    teller). Only the first sharing counts: a second is refused and says which.
    """
    episode = check.episode
    rights.require(acting_user, Right.RECORD_SAFE_AND_WELL_SHARED, episode.child)
    shared_with = (shared_with or "").strip()
    by_agency = by_agency or acting_user.agency
    with transaction.atomic():
        errors: dict[str, list[str]] = {}
        _sharing_errors(
            errors,
            conducted_at=check.conducted_at,
            shared_at=shared_at,
            method=method,
            shared_with=shared_with,
            fields=("shared_at", "method", "shared_with"),
        )
        raise_if_errors(errors)
        if not _share(
            check,
            at=shared_at,  # type: ignore[arg-type]  # a missing time was refused above
            method=method,
            shared_with=shared_with,
            by_agency=by_agency,
            recorded_by=acting_user,
        ):
            check.refresh_from_db()
            raise_if_errors({NON_FIELD_ERRORS: [_already_shared_message(check)]})
        how = check.get_shared_method_display().lower()
        event_record(
            child=episode.child,
            episode=episode,
            kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED,
            actor=acting_user,
            actor_agency=by_agency,
            occurred_at=shared_at,
            summary=f"Safe and well check shared with the local authority ({how}, with "
            f"{shared_with})",
            data={
                **_episode_facts(episode),
                "conducted_at": check.conducted_at.isoformat(),
                **_sharing_data(
                    at=shared_at, method=method, shared_with=shared_with, by_agency=by_agency
                ),
            },
        )
    return check


@dataclass(frozen=True)
class EmailedCheck:
    """A check's e-mail to the local authority that the mail server took: when, to
    whom (as the check records it), and for which agency (the rule's teller)."""

    check_id: int
    sent_at: dt.datetime
    sent_to: str
    teller: Agency | None


def safe_and_well_record_emailed(
    *,
    check: SafeAndWellCheck,
    sent_at: dt.datetime,
    sent_to: str,
    teller: Agency | None,
) -> bool:
    """Record the service's delivered e-mail of one check to the local authority as its
    sharing (``safe_and_well_record_emailed_many``); True if it was the first sharing."""
    shared = safe_and_well_record_emailed_many(
        emailed=[EmailedCheck(check_id=check.pk, sent_at=sent_at, sent_to=sent_to, teller=teller)]
    )
    if check.pk in shared:
        check.refresh_from_db()
    return check.pk in shared


def safe_and_well_record_emailed_many(*, emailed: Sequence[EmailedCheck]) -> set[int]:
    """Record the service's delivered e-mails of checks to the local authority as their
    sharing: by e-mail, when the mail server took each, to the recipient it named. The
    ids of the checks whose sharing this recorded: a check already shared (only the
    first sharing counts) is left as it is.

    Called by the notifications worker, in the transaction that records the deliveries,
    so "sent" and "shared" are saved together or not at all, for a whole batch in the
    same few statements: the checks read and locked together, one update, their
    history rows and their events each written together (each check still gets its own
    history row and its own event). No person acted, so there is no ``acting_user``:
    each event's actor is the officer who recorded the check (the e-mail goes out
    because of their record, on their force's behalf) and its agency the agency the
    rule made responsible for telling; its summary says the service sent it, and the
    check's ``shared_recorded_by`` stays empty.
    """
    by_check = {item.check_id: item for item in emailed}
    if not by_check:
        return set()
    with transaction.atomic():
        # Locked (PostgreSQL), so the update below writes exactly these: a person's
        # sharing recorded meanwhile waits, then finds the check shared.
        checks = list(
            SafeAndWellCheck.objects.select_for_update(of=("self",))
            .select_related("episode", "episode__child", "agency")
            .filter(pk__in=by_check, shared_with_la_at__isnull=True)
            .order_by("pk")
        )
        if not checks:
            return set()
        sharing: dict[int, dict[str, Any]] = {}
        for check in checks:
            item = by_check[check.pk]
            by_agency = item.teller or check.agency
            sharing[check.pk] = {
                # The check's time may be typed up to a minute ahead (FUTURE_GRACE); the
                # sharing cannot come before it.
                "shared_with_la_at": max(item.sent_at, check.conducted_at),
                "shared_with": item.sent_to[:200],
                "shared_by_agency": by_agency,
            }
        pks = list(sharing)
        unshared = SafeAndWellCheck.objects.filter(pk__in=pks, shared_with_la_at__isnull=True)
        updated = unshared.update(
            shared_method=SharingMethod.EMAIL,
            shared_recorded_by=None,
            version=F("version") + 1,
            **{
                field: Case(
                    *(When(pk=pk, then=Value(values[field])) for pk, values in sharing.items()),
                    output_field=SafeAndWellCheck._meta.get_field(field),
                )
                for field in ("shared_with_la_at", "shared_with")
            },
            shared_by_agency_id=Case(
                *(
                    When(pk=pk, then=Value(values["shared_by_agency"].pk))
                    for pk, values in sharing.items()
                ),
                output_field=SafeAndWellCheck._meta.get_field("shared_by_agency_id"),
            ),
        )
        if updated != len(pks):
            # Only without row locks (SQLite): someone shared one of them in between.
            # Undo this batch; the caller records them one at a time.
            raise ConcurrentSharing
        history_write_many(SafeAndWellCheck, pks, user=None)
        facts = _episodes_facts(check.episode for check in checks)
        events_record(
            [
                _emailed_event(
                    check,
                    facts[check.episode_id],
                    at=sharing[check.pk]["shared_with_la_at"],
                    sent_to=by_check[check.pk].sent_to,
                    by_agency=sharing[check.pk]["shared_by_agency"],
                )
                for check in checks
            ]
        )
    return set(pks)


class ConcurrentSharing(Exception):
    """A check's sharing was recorded by someone else while a batch was being recorded."""


def _emailed_event(
    check: SafeAndWellCheck,
    facts: dict[str, Any],
    *,
    at: dt.datetime,
    sent_to: str,
    by_agency: Agency,
) -> CaseEvent:
    episode = check.episode
    return CaseEvent(
        child=episode.child,
        episode=episode,
        kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED,
        actor_id=check.recorded_by_id,
        actor_agency=by_agency,
        occurred_at=at,
        summary=f"Safe and well check e-mailed to {sent_to} by the service, for {by_agency.name}",
        data={
            **facts,
            "conducted_at": check.conducted_at.isoformat(),
            "sent_by_service": True,
            **_sharing_data(
                at=at,
                method=SharingMethod.EMAIL,
                shared_with=sent_to,
                by_agency=by_agency,
            ),
        },
    )


# Return interview -------------------------------------------------------------------


def _refuse_if_done(interview: ReturnInterview, errors: dict[str, list[str]]) -> None:
    if interview.outcome == ReturnInterview.Outcome.HELD:
        errors[NON_FIELD_ERRORS] = ["The return interview has already been recorded as held"]
    elif interview.outcome == ReturnInterview.Outcome.DECLINED:
        errors[NON_FIELD_ERRORS] = ["The return interview has already been recorded as declined"]


def _refuse_if_stale(interview: ReturnInterview, expected_version: int) -> None:
    # Said first: "someone else recorded this" explains a refusal better than the rules
    # the other person's record now breaks. update_versioned still guards the write.
    if interview.version != expected_version:
        raise StaleEdit("return interview")


def interview_offered_at(
    interview_pk: int,
    *,
    held_at: dt.datetime | None = None,
    declined_at: dt.datetime | None = None,
) -> dt.datetime | None:
    """When the interview was first offered: the earliest of its attempts, and of its
    being held or declined (an interview held at the first knock had no attempt).
    ``held_at`` / ``declined_at``, when given, stand for the times about to be saved."""
    row = ReturnInterview.objects.filter(pk=interview_pk).aggregate(
        first_attempt=Min("attempts__attempted_at"),
        held=Min("held_at"),
        declined=Min("declined_at"),
    )
    if held_at is not None:
        row["held"] = held_at
    if declined_at is not None:
        row["declined"] = declined_at
    moments = [moment for moment in row.values() if moment is not None]
    return min(moments) if moments else None


def interview_set_offered_at(interview: ReturnInterview, offered: dt.datetime | None) -> bool:
    """Store ``offered`` as the interview's offered time; whether it moved.

    No version bump: this is not a field anyone edits, so it must not make a form being
    filled in at the same time stale. The caller writes the history row (or saves the
    interview, which writes one, straight after)."""
    moved = (
        ReturnInterview.objects.filter(pk=interview.pk)
        .exclude(offered_at=offered)
        .update(offered_at=offered)
        if offered is not None
        else ReturnInterview.objects.filter(pk=interview.pk, offered_at__isnull=False).update(
            offered_at=None
        )
    )
    interview.offered_at = offered
    return bool(moved)


def interview_refresh_offered_at(
    interview: ReturnInterview, *, acting_user: User, reason: str | None = None
) -> None:
    """Set ``offered_at`` from the record (``interview_offered_at``), with history when it
    moves. Every action that records or corrects an attempt, a holding or a declining
    keeps it, so Ofsted's "offered" is never blank for an interview that was offered."""
    if interview_set_offered_at(interview, interview_offered_at(interview.pk)):
        history_write(ReturnInterview, interview.pk, user=acting_user, reason=reason)


def failed_attempt_count(interview: ReturnInterview) -> int:
    return interview.attempts.filter(outcome__in=InterviewAttempt.FAILED_OUTCOMES).count()


def interview_record_attempt(
    *,
    acting_user: User,
    interview: ReturnInterview,
    attempted_at: dt.datetime,
    method: str,
    outcome: str,
    notes: str = "",
) -> InterviewAttempt:
    rights.require(
        acting_user, Right.RECORD_INTERVIEW, interview.episode.child, interview=interview
    )
    with transaction.atomic():
        locked = ReturnInterview.objects.select_for_update().get(pk=interview.pk)
        episode = interview.episode
        errors: dict[str, list[str]] = {}
        _refuse_if_done(locked, errors)
        _check_after_return(
            errors,
            field="attempted_at",
            moment=attempted_at,
            found_at=episode.found_at,
            after_return="The attempt must be after the child returned",
        )
        if method not in InterviewAttempt.Method.values:
            errors["method"] = ["Select how the child was contacted"]
        if outcome not in InterviewAttempt.Outcome.values:
            errors["outcome"] = ["Select the outcome of the attempt"]
        raise_if_errors(errors)

        attempt = InterviewAttempt.objects.create(
            interview=locked,
            attempted_at=attempted_at,
            method=method,
            outcome=outcome,
            notes=notes.strip(),
            recorded_by=acting_user,
        )
        # The interview was offered at the earliest attempt, even one logged late.
        interview_refresh_offered_at(interview, acting_user=acting_user)
        failed = failed_attempt_count(interview)
        event_record(
            child=episode.child,
            episode=episode,
            kind=CaseEvent.Kind.INTERVIEW_ATTEMPT,
            actor=acting_user,
            occurred_at=attempted_at,
            summary=(
                f"Return interview attempt ({attempt.get_method_display().lower()}): "
                f"{attempt.get_outcome_display().lower()}"
            ),
            data={
                **_episode_facts(episode),
                "outcome": outcome,
                "method": method,
                "failed_attempts": failed,
                "owner_agency_id": locked.owner_id,
                "provider_agency_id": locked.provider_id,
            },
        )
    return attempt


def _clean_actions(
    actions: Iterable[Mapping[str, Any]],
    errors: dict[str, list[str]],
    *,
    child: Child,
    agreed_on: dt.date,
) -> list[dict[str, Any]]:
    """The actions typed on the interview form (blank ones skipped), each checked as any
    agreed action is (``agreed_actions.action_problems``), numbered from 1."""
    cleaned: list[dict[str, Any]] = []
    for number, action in enumerate(actions, start=1):
        description = (action.get("description") or "").strip()
        owner_agency = action.get("owner_agency")
        owner_person = action.get("owner_person")
        due_date = action.get("due_date")
        if not (description or owner_agency or owner_person or due_date):
            continue
        if number > MAX_AGREED_ACTIONS:
            errors.setdefault(NON_FIELD_ERRORS, []).append(
                f"Record up to {MAX_AGREED_ACTIONS} agreed actions"
            )
            break
        if owner_agency is not None and not isinstance(owner_agency, Agency):
            owner_agency = Agency.objects.filter(pk=owner_agency).first()
        if owner_person is not None and not isinstance(owner_person, User):
            owner_person = User.objects.filter(pk=owner_person).first()
        agreed_actions.action_problems(
            errors,
            child=child,
            description=description,
            owner_agency=owner_agency,
            owner_person=owner_person,
            due_date=due_date,
            agreed_on=agreed_on,
            prefix=f"action_{number}_",
        )
        cleaned.append(
            {
                "description": description,
                "owner_agency": owner_agency,
                "owner_person": owner_person,
                "due_date": due_date,
            }
        )
    return cleaned


def _outcome_data(interview: ReturnInterview, done_at: dt.datetime) -> dict[str, Any]:
    return {
        **_episode_facts(interview.episode),
        "within_72_hours": done_at <= interview.due_at,
        "owner_agency_id": interview.owner_id,
        "provider_agency_id": interview.provider_id,
    }


OTHER_PUSH_MESSAGE = "Say what the other push factor was"
OTHER_PULL_MESSAGE = "Say what the other pull factor was"
OTHER_MAX_LENGTH = 200


def factor_problems(
    errors: dict[str, list[str]],
    *,
    push: Iterable[str],
    pull: Iterable[str],
    push_other: str = "",
    pull_other: str = "",
) -> None:
    """The push and pull factors: from the lists, and "Other" said in words. Asked by the
    interview's question page as well as by the actions, so the message is by the box."""
    push, pull = set(push), set(pull)
    if push - {code for code, _ in PUSH_FACTORS}:
        errors["push_factors"] = ["Select push factors from the list"]
    if pull - {code for code, _ in PULL_FACTORS}:
        errors["pull_factors"] = ["Select pull factors from the list"]
    for field, chosen, text, message in (
        ("push_other", push, push_other, OTHER_PUSH_MESSAGE),
        ("pull_other", pull, pull_other, OTHER_PULL_MESSAGE),
    ):
        if OTHER_FACTOR in chosen and _blank(text):
            errors[field] = [message]
        elif len((text or "").strip()) > OTHER_MAX_LENGTH:
            errors[field] = [f"Use {OTHER_MAX_LENGTH} characters or fewer"]


def other_text(chosen: list[str], text: str) -> str:
    """What "Other" stands for, kept only while "Other" is chosen."""
    return (text or "").strip() if OTHER_FACTOR in chosen else ""


def held_problems(
    errors: dict[str, list[str]],
    *,
    found_at: dt.datetime | None,
    held_at: dt.datetime,
    held_by: str,
    child_voice: str,
    push: list[str],
    pull: list[str],
    harm_disclosed: bool,
    harm_details: str,
    push_other: str = "",
    pull_other: str = "",
) -> None:
    """What an interview held must answer: the same when it is recorded and corrected."""
    _check_after_return(
        errors,
        field="held_at",
        moment=held_at,
        found_at=found_at,
        after_return="The interview must be after the child returned",
    )
    if _blank(held_by):
        errors["held_by"] = ["Enter who held the interview"]
    if _blank(child_voice):
        errors["child_voice"] = [CHILD_VOICE_MESSAGE]
    factor_problems(errors, push=push, pull=pull, push_other=push_other, pull_other=pull_other)
    if harm_disclosed and _blank(harm_details):
        errors["harm_details"] = ["Describe the harm the child disclosed"]


def declined_problems(
    errors: dict[str, list[str]],
    *,
    found_at: dt.datetime | None,
    declined_at: dt.datetime,
    carers_information: str,
    decision_not_to_hold: str,
) -> None:
    """What a declined interview must answer: the same when recorded and corrected."""
    _check_after_return(
        errors,
        field="declined_at",
        moment=declined_at,
        found_at=found_at,
        after_return="The child cannot have declined before they returned",
    )
    if _blank(carers_information):
        errors["carers_information"] = [
            "Enter what the carers said, or why they could not give information"
        ]
    if _blank(decision_not_to_hold):
        errors["decision_not_to_hold"] = [
            "Enter the decision not to hold an interview and the reasons for it"
        ]


def interview_record_held(
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
    actions: Iterable[Mapping[str, Any]] = (),
    push_other: str = "",
    pull_other: str = "",
) -> ReturnInterview:
    rights.require(
        acting_user, Right.RECORD_INTERVIEW, interview.episode.child, interview=interview
    )
    push = list(dict.fromkeys(push_factors))
    pull = list(dict.fromkeys(pull_factors))
    with transaction.atomic():
        episode = interview.episode
        _refuse_if_stale(interview, expected_version)
        errors: dict[str, list[str]] = {}
        _refuse_if_done(interview, errors)
        held_problems(
            errors,
            found_at=episode.found_at,
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
        agreed = _clean_actions(
            actions, errors, child=episode.child, agreed_on=timezone.localdate(held_at)
        )
        raise_if_errors(errors)

        # Offered when held or declined, if no attempt came first; saved with the outcome
        # (the history row update_versioned writes carries it).
        interview_set_offered_at(interview, interview_offered_at(interview.pk, held_at=held_at))
        changes = update_versioned(
            interview,
            expected_version=expected_version,
            what="return interview",
            values={
                "outcome": ReturnInterview.Outcome.HELD,
                "held_at": held_at,
                "held_by": held_by.strip(),
                "child_voice": child_voice.strip(),
                "push_factors": push,
                "pull_factors": pull,
                "push_other": other_text(push, push_other),
                "pull_other": other_text(pull, pull_other),
                "factors_notes": factors_notes.strip(),
                "where_they_were": where_they_were.strip(),
                "who_with": who_with.strip(),
                "harm_disclosed": harm_disclosed,
                "harm_details": harm_details.strip(),
                "what_would_help": what_would_help.strip(),
                "recorded_by": acting_user,
            },
            acting_user=acting_user,
        )
        # With their history rows: bulk_create alone sends no signals.
        bulk_create_with_history(
            [
                agreed_actions.new_action(
                    child=episode.child, record=interview, acting_user=acting_user, **action
                )
                for action in agreed
            ],
            AgreedAction,
            default_user=acting_user,
        )
        event_record(
            child=episode.child,
            episode=episode,
            kind=CaseEvent.Kind.INTERVIEW_HELD,
            actor=acting_user,
            occurred_at=held_at,
            summary=f"Return interview held by {interview.held_by}",
            data={
                **_outcome_data(interview, held_at),
                "harm_disclosed": harm_disclosed,
                "push_factors": push,
                "pull_factors": pull,
                "agreed_actions": len(agreed),
                "changes": {k: v for k, v in changes.items() if k != "child_voice"},
            },
        )
        _close_if_complete(acting_user=acting_user, episode=episode)
    return interview


def interview_record_declined(
    *,
    acting_user: User,
    interview: ReturnInterview,
    expected_version: int,
    declined_at: dt.datetime,
    carers_information: str,
    decision_not_to_hold: str,
) -> ReturnInterview:
    rights.require(
        acting_user, Right.RECORD_INTERVIEW, interview.episode.child, interview=interview
    )
    with transaction.atomic():
        episode = interview.episode
        _refuse_if_stale(interview, expected_version)
        errors: dict[str, list[str]] = {}
        _refuse_if_done(interview, errors)
        declined_problems(
            errors,
            found_at=episode.found_at,
            declined_at=declined_at,
            carers_information=carers_information,
            decision_not_to_hold=decision_not_to_hold,
        )
        raise_if_errors(errors)

        # Offered when held or declined, if no attempt came first; saved with the outcome
        # (the history row update_versioned writes carries it).
        interview_set_offered_at(
            interview, interview_offered_at(interview.pk, declined_at=declined_at)
        )
        update_versioned(
            interview,
            expected_version=expected_version,
            what="return interview",
            values={
                "outcome": ReturnInterview.Outcome.DECLINED,
                "declined_at": declined_at,
                "carers_information": carers_information.strip(),
                "decision_not_to_hold": decision_not_to_hold.strip(),
                "recorded_by": acting_user,
            },
            acting_user=acting_user,
        )
        event_record(
            child=episode.child,
            episode=episode,
            kind=CaseEvent.Kind.INTERVIEW_DECLINED,
            actor=acting_user,
            occurred_at=declined_at,
            summary="The child declined a return interview; the decision not to hold one "
            "is recorded",
            data=_outcome_data(interview, declined_at),
        )
        _close_if_complete(acting_user=acting_user, episode=episode)
    return interview


# Challenges (escalation policy) -----------------------------------------------------


def challenge_raise(
    *,
    acting_user: User,
    child: Child,
    episode: Episode | None = None,
    challenged_agency: Agency,
    decision: str,
    reason: str,
    raised_at: dt.datetime,
) -> Challenge:
    rights.require(acting_user, Right.RAISE_CHALLENGE, child)
    errors: dict[str, list[str]] = {}
    if episode is not None and episode.child_id != child.pk:
        errors["episode"] = ["Select one of this child's episodes"]
    if challenged_agency is None:
        errors["challenged_agency"] = ["Select the agency whose decision you challenged"]
    if _blank(decision):
        errors["decision"] = ["Enter the decision you challenged"]
    if _blank(reason):
        errors["reason"] = ["Enter why you challenged it"]
    if raised_at is None:
        errors["raised_at"] = ["Enter when you raised the challenge"]
    elif _is_future(raised_at):
        errors["raised_at"] = [FUTURE_MESSAGE]
    else:
        check_dates_for_child(errors, child, raised_at=raised_at)
    raise_if_errors(errors)
    with transaction.atomic():
        challenge = Challenge.objects.create(
            child=child,
            episode=episode,
            challenged_agency=challenged_agency,
            decision=decision.strip(),
            reason=reason.strip(),
            raised_at=raised_at,
            raised_by=acting_user,
        )
        event_record(
            child=child,
            episode=episode,
            kind=CaseEvent.Kind.CHALLENGE_RAISED,
            actor=acting_user,
            occurred_at=raised_at,
            summary=f"Challenged a decision of {challenged_agency.name}",
            data={"challenge_id": challenge.pk, "challenged_agency_id": challenged_agency.pk},
        )
    return challenge


def challenge_record_outcome(
    *,
    acting_user: User,
    challenge: Challenge,
    expected_version: int,
    status: str,
    outcome: str,
) -> Challenge:
    rights.require(acting_user, Right.RAISE_CHALLENGE, challenge.child)
    errors: dict[str, list[str]] = {}
    if status not in (Challenge.Status.RESOLVED, Challenge.Status.ESCALATED):
        errors["status"] = ["Select whether the challenge was resolved or escalated"]
    if _blank(outcome):
        errors["outcome"] = ["Enter the outcome of the challenge"]
    raise_if_errors(errors)
    with transaction.atomic():
        now = timezone.now()
        changes = update_versioned(
            challenge,
            expected_version=expected_version,
            what="challenge",
            values={"status": status, "outcome": outcome.strip(), "outcome_at": now},
            acting_user=acting_user,
        )
        event_record(
            child=challenge.child,
            episode=challenge.episode,
            kind=CaseEvent.Kind.CHALLENGE_UPDATED,
            actor=acting_user,
            occurred_at=now,
            summary=(
                f"Challenge to {challenge.challenged_agency.name} "
                f"{challenge.get_status_display().lower()}"
            ),
            data={
                "challenge_id": challenge.pk,
                "status": status,
                "challenged_agency_id": challenge.challenged_agency_id,
                "changes": changes,
            },
        )
    return challenge
