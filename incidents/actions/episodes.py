"""Missing episodes: report, re-grade risk, record the return, edit, close.

Each function is the only way its change is made: it checks who may do it (through
``incidents.rights``), validates with messages keyed by the form field they concern,
writes the change and a ``CaseEvent`` in one transaction. Protocol events carry in
``data`` the facts the notifications app needs (risk, category, child in care, placed
out of area), so it never has to reconstruct the situation at the time of the event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from missingkids import policy
from missingkids.accounts.models import Agency, User

from .. import rights
from ..forms.fields import FUTURE_GRACE
from ..models import (
    NOT_GRADED,
    RISK_ORDER,
    CaseEvent,
    Child,
    Episode,
    Involvement,
    LegalStatus,
    Location,
    Placement,
    ReturnInterview,
    ReturnTimeCorrection,
    RiskGrade,
    RiskGrading,
    risk_label,
)
from ..rights import Right
from ..visibility import involvement_current
from .base import (
    check_dates_for_child,
    event_record,
    history_write,
    raise_if_errors,
    update_versioned,
)
from .profiles import profile_share

OPEN_EPISODE_MESSAGE = (
    "This child already has an open missing episode. Record the return on that episode "
    "before reporting a new one."
)
AWAY_ONLY_IN_CARE_MESSAGE = "Away from placement without authorisation is only for a child in care"
FOUND_BEFORE_LAST_SEEN_MESSAGE = "The time found must be after the time last seen"
REPORTED_BEFORE_LAST_SEEN_MESSAGE = "The time reported must be after the time last seen"
AUTO_CLOSE_REASON = "All required steps are done"

# What episode_update may change. Risk is changed only by a re-grading (which keeps the
# history); the return, the return time and closure have their own actions.
EDITABLE_FIELDS: frozenset[str] = frozenset(
    {
        "category",
        "reported_at",
        "reported_by_name",
        "reported_by_agency",
        "last_seen_at",
        "last_seen_location",
        "last_seen_address",
        "circumstances",
        "police_reference",
        *Episode.FLAG_FIELDS,
        "flag_other",
        # Only once the return has been recorded. The return time itself is corrected
        # only through episode_correct_return_time, with a reason.
        "found_location",
        "found_address",
        "found_with",
        "how_returned",
        "return_notes",
    }
)
RETURN_FIELDS: frozenset[str] = frozenset(
    {"found_location", "found_address", "found_with", "how_returned", "return_notes"}
)


# Read helpers -------------------------------------------------------------------------


def episodes_in_last_days(child: Child, days: int = 90, now: dt.datetime | None = None) -> int:
    """Episodes last seen within ``days`` before ``now``, counting an open one."""
    now = now or timezone.now()
    return Episode.objects.filter(
        child=child, last_seen_at__gte=now - dt.timedelta(days=days), last_seen_at__lte=now
    ).count()


def current_placement(child: Child, day: dt.date | None = None) -> Placement | None:
    day = day or timezone.localdate()
    return (
        Placement.objects.filter(Q(end__isnull=True) | Q(end__gte=day), child=child, start__lte=day)
        .order_by("-start")
        .first()
    )


def _situation(child: Child) -> dict[str, Any]:
    """Facts about the child at the time of an event, for the notifications app."""
    placement = current_placement(child)
    return {
        "child_in_care": child.legal_status == LegalStatus.IN_CARE,
        "placed_out_of_area": bool(
            placement and placement.host_area_id != child.responsible_area_id
        ),
        "responsible_area_id": child.responsible_area_id,
        "host_area_id": placement.host_area_id if placement else None,
    }


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """The same instant in UTC.

    Adding a timedelta to a datetime whose tzinfo is Europe/London is wall-clock
    arithmetic in Python (72 hours after 12:00 BST on 24 October 2026 would come out as
    12:00 GMT, 73 real hours). The forms hand over London-zoned values, so every time is
    moved to UTC before any deadline is computed from it.
    """
    return value.astimezone(dt.UTC) if value is not None else None


def _is_future(value: dt.datetime | None, now: dt.datetime) -> bool:
    return value is not None and value > now + FUTURE_GRACE


def _local(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%d/%m/%Y %H:%M")


def _validate_times(values: dict[str, Any], child: Child) -> dict[str, list[str]]:
    """The rules every version of an episode must meet (report and edit alike)."""
    errors: dict[str, list[str]] = {}
    now = timezone.now()
    future = {
        "last_seen_at": "The time last seen must not be in the future",
        "reported_at": "The time reported must not be in the future",
        "found_at": "The time found must not be in the future",
    }
    for name, message in future.items():
        if _is_future(values.get(name), now):
            errors.setdefault(name, []).append(message)
    check_dates_for_child(
        errors,
        child,
        **{name: values.get(name) for name in ("last_seen_at", "reported_at", "found_at")},
    )
    last_seen = values.get("last_seen_at")
    reported = values.get("reported_at")
    found = values.get("found_at")
    if last_seen and reported and reported < last_seen and "reported_at" not in errors:
        errors.setdefault("reported_at", []).append(REPORTED_BEFORE_LAST_SEEN_MESSAGE)
    if last_seen and found and found < last_seen and "found_at" not in errors:
        errors.setdefault("found_at", []).append(FOUND_BEFORE_LAST_SEEN_MESSAGE)
    category = values.get("category")
    if category not in Episode.Category.values:
        errors.setdefault("category", []).append("Select whether the child is missing or away")
    elif category == Episode.Category.AWAY and not child.is_in_care:
        errors.setdefault("category", []).append(AWAY_ONLY_IN_CARE_MESSAGE)
    return errors


def episode_report_problems(
    *, child: Child, category: str, reported_at: dt.datetime, last_seen_at: dt.datetime
) -> dict[str, list[str]]:
    """What episode_report would refuse about these answers' times and category, keyed by
    field: for the question page to show them all at once, before the check page."""
    last_seen_at = _utc(last_seen_at)
    errors = _validate_times(
        {"category": category, "reported_at": _utc(reported_at), "last_seen_at": last_seen_at},
        child,
    )
    if _has_open_episode(child):
        errors.setdefault("__all__", []).append(OPEN_EPISODE_MESSAGE)
    elif "last_seen_at" not in errors and last_seen_at is not None:
        other = overlapping_episode(child, last_seen_at, None)
        if other is not None:
            errors.setdefault("last_seen_at", []).append(overlap_message(other))
    return errors


def _flag_values(flags: dict[str, Any] | None) -> dict[str, Any]:
    flags = flags or {}
    unknown = set(flags) - {*Episode.FLAG_FIELDS, "flag_other"}
    if unknown:
        raise TypeError(f"Unknown flags: {sorted(unknown)}")
    values: dict[str, Any] = {name: bool(flags.get(name)) for name in Episode.FLAG_FIELDS}
    values["flag_other"] = (flags.get("flag_other") or "").strip()
    return values


def _flags_set(episode: Episode) -> list[str]:
    return [name for name in Episode.FLAG_FIELDS if getattr(episode, name)]


def _has_open_episode(child: Child) -> bool:
    return Episode.objects.filter(child=child, found_at__isnull=True).exists()


def overlapping_episode(
    child: Child,
    last_seen_at: dt.datetime,
    found_at: dt.datetime | None,
    *,
    exclude: Episode | None = None,
) -> Episode | None:
    """Another episode of the child whose time missing (last seen until found, open-ended
    while the child is still missing) overlaps this one's. One child is missing once at
    a time; on PostgreSQL the exclusion constraint episode_times_do_not_overlap holds
    the same rule against any writer."""
    others = Episode.objects.filter(child=child).filter(
        Q(found_at__isnull=True) | Q(found_at__gt=last_seen_at)
    )
    if found_at is not None:
        others = others.filter(last_seen_at__lt=found_at)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    return others.order_by("last_seen_at").first()


def overlap_message(other: Episode) -> str:
    until = f"found {_local(other.found_at)}" if other.found_at else "still missing"
    return (
        f"This overlaps the child's episode last seen {_local(other.last_seen_at)}, {until}. "
        "A child's episodes cannot overlap: check the times"
    )


# Report ---------------------------------------------------------------------------------


@transaction.atomic
def episode_report(
    *,
    acting_user: User,
    child: Child,
    category: str,
    reported_at: dt.datetime,
    reported_by_name: str,
    reported_by_agency: Agency | None = None,
    last_seen_at: dt.datetime,
    last_seen_location: Location | None = None,
    last_seen_address: str = "",
    circumstances: str,
    police_reference: str = "",
    flags: dict[str, Any] | None = None,
    risk: str,
    risk_rationale: str,
) -> Episode:
    """Report a child missing or away.

    ``risk`` is the police grade when the police report; from anyone else it is the
    reporter's concern, kept as such, and the episode is "not yet graded" until the
    police grade it.
    """
    standing = rights.standing(acting_user, child)
    rights.require_standing(standing, Right.REPORT_EPISODE)
    police_grade = standing.may(Right.GRADE_RISK)
    flag_values = _flag_values(flags)
    reported_at, last_seen_at = _utc(reported_at), _utc(last_seen_at)
    errors = episode_report_problems(
        child=child, category=category, reported_at=reported_at, last_seen_at=last_seen_at
    )
    if risk not in RiskGrade.values:
        errors.setdefault("risk", []).append("Select the risk grade")
    if not (risk_rationale or "").strip():
        errors.setdefault("risk_rationale", []).append(
            "Enter the information the risk grading rests on"
        )
    if not (reported_by_name or "").strip():
        errors.setdefault("reported_by_name", []).append("Enter who reported the child missing")
    if not (circumstances or "").strip():
        errors.setdefault("circumstances", []).append("Enter the circumstances")
    raise_if_errors(errors)

    try:
        # A savepoint, so that losing a race with another report for the same child
        # (the partial unique constraint one_open_episode_per_child) leaves this
        # transaction usable and the person gets the same message as the Python check.
        with transaction.atomic():
            episode = Episode.objects.create(
                child=child,
                category=category,
                reported_at=reported_at,
                reported_by_name=reported_by_name.strip(),
                reported_by_agency=reported_by_agency,
                last_seen_at=last_seen_at,
                last_seen_location=last_seen_location,
                last_seen_address=(last_seen_address or "").strip(),
                circumstances=circumstances.strip(),
                police_reference=(police_reference or "").strip(),
                risk=risk if police_grade else NOT_GRADED,
                risk_rank=RISK_ORDER[risk] if police_grade else 0,
                created_by=acting_user,
                **flag_values,
            )
    except IntegrityError:
        if _has_open_episode(child):
            raise ValidationError({"__all__": [OPEN_EPISODE_MESSAGE]}) from None
        other = overlapping_episode(child, last_seen_at, None)
        if other is not None:
            raise ValidationError({"last_seen_at": [overlap_message(other)]}) from None
        raise

    RiskGrading.objects.create(
        episode=episode,
        kind=RiskGrading.Kind.POLICE if police_grade else RiskGrading.Kind.CONCERN,
        grade=risk,
        graded_at=reported_at,
        graded_by=acting_user,
        rationale=risk_rationale.strip(),
    )
    where = f" at {last_seen_location}" if last_seen_location else ""
    risk_text = (
        f"Risk: {episode.get_risk_display()}."
        if police_grade
        else f"Risk not yet graded by police; reporter's concern: {RiskGrade(risk).label}."
    )
    event_record(
        child=child,
        episode=episode,
        kind=CaseEvent.Kind.REPORTED,
        actor=acting_user,
        occurred_at=reported_at,
        summary=(
            f"Reported {episode.get_category_display().lower()}: last seen "
            f"{_local(last_seen_at)}{where}. {risk_text}"
        ),
        data={
            "category": category,
            "risk": episode.risk,
            "risk_rank": episode.risk_rank,
            "reporters_concern": None if police_grade else risk,
            **_situation(child),
            "flags": _flags_set(episode),
            "flag_other": episode.flag_other,
            "reported_by_agency_id": reported_by_agency.pk if reported_by_agency else None,
            "last_seen_at": last_seen_at.isoformat(),
            # Counts this episode. A fixed 90 days, as recorded on every report so far;
            # the repeat threshold in force is the rule's (missingkids.policy).
            "episodes_in_90_days": episodes_in_last_days(child, 90, now=timezone.now()),
        },
    )
    # The Philomena Protocol: the profile kept ready goes to the police with the report.
    profile_share(acting_user=acting_user, episode=episode)
    return episode


# Re-grade -------------------------------------------------------------------------------


@transaction.atomic
def episode_regrade_risk(
    *,
    acting_user: User,
    episode: Episode,
    grade: str,
    rationale: str,
    graded_at: dt.datetime | None = None,
) -> RiskGrading:
    rights.require(acting_user, Right.GRADE_RISK, episode.child)
    # Locked so two gradings at once cannot leave the episode's risk and the latest
    # grading row disagreeing.
    current = (
        Episode.objects.select_for_update(of=("self",)).select_related("child").get(pk=episode.pk)
    )
    now = timezone.now()
    graded_at = _utc(graded_at) or now
    errors: dict[str, list[str]] = {}
    if current.found_at is not None:
        errors.setdefault("__all__", []).append(
            "Risk can only be re-graded while the child is still missing"
        )
    if grade not in RiskGrade.values:
        errors.setdefault("grade", []).append("Select the risk grade")
    if not (rationale or "").strip():
        errors.setdefault("rationale", []).append("Enter the information the risk grading rests on")
    if _is_future(graded_at, now):
        errors.setdefault("graded_at", []).append("The time graded must not be in the future")
    elif graded_at < current.last_seen_at:
        errors.setdefault("graded_at", []).append(
            "The time graded must be after the time last seen"
        )
    raise_if_errors(errors)

    old = current.risk
    Episode.objects.filter(pk=current.pk).update(risk=grade, risk_rank=RISK_ORDER[grade])
    history_write(Episode, current.pk, user=acting_user)
    episode.risk, episode.risk_rank = grade, RISK_ORDER[grade]
    grading = RiskGrading.objects.create(
        episode=current,
        kind=RiskGrading.Kind.POLICE,
        grade=grade,
        graded_at=graded_at,
        graded_by=acting_user,
        rationale=rationale.strip(),
    )
    event_record(
        child=current.child,
        episode=current,
        kind=CaseEvent.Kind.RISK_REGRADED,
        actor=acting_user,
        occurred_at=graded_at,
        summary=(
            f"Risk re-graded from {risk_label(old)} to {RiskGrade(grade).label}: "
            f"{rationale.strip()}"
            if old != NOT_GRADED
            else f"Risk graded {RiskGrade(grade).label} by police: {rationale.strip()}"
        ),
        data={
            "old": old,
            "new": grade,
            "risk_rank": RISK_ORDER[grade],
            "category": current.category,
            **_situation(current.child),
        },
    )
    return grading


# Return ---------------------------------------------------------------------------------


def interview_owner_for(child: Child) -> Agency | None:
    """The responsible local authority: it owns the interview, whoever provides it."""
    return (
        Agency.objects.filter(
            kind=Agency.Kind.LOCAL_AUTHORITY, active=True, areas=child.responsible_area_id
        )
        .order_by("name")
        .first()
    )


def interview_provider_for(child: Child) -> Agency | None:
    today = timezone.localdate()
    involved = (
        Involvement.objects.filter(
            involvement_current(today),
            child=child,
            agency__kind=Agency.Kind.PROVIDER,
            agency__active=True,
        )
        .select_related("agency")
        .order_by("-start", "-id")
        .first()
    )
    if involved:
        return involved.agency
    return (
        Agency.objects.filter(
            kind=Agency.Kind.PROVIDER, active=True, areas=child.responsible_area_id
        )
        .order_by("name")
        .first()
    )


@transaction.atomic
def episode_record_return(
    *,
    acting_user: User,
    episode: Episode,
    expected_version: int,
    found_at: dt.datetime,
    found_location: Location | None = None,
    found_address: str = "",
    found_with: str = "",
    how_returned: str,
    return_notes: str = "",
) -> Episode:
    child = episode.child
    rights.require(acting_user, Right.RECORD_RETURN, child)
    found_at = _utc(found_at)
    errors: dict[str, list[str]] = {}
    current = Episode.objects.filter(pk=episode.pk).values("found_at", "last_seen_at").get()
    if current["found_at"] is not None:
        errors.setdefault("__all__", []).append(
            "The return for this episode has already been recorded"
        )
        raise_if_errors(errors)
    if _is_future(found_at, timezone.now()):
        errors.setdefault("found_at", []).append("The time found must not be in the future")
    elif found_at < current["last_seen_at"]:
        errors.setdefault("found_at", []).append(FOUND_BEFORE_LAST_SEEN_MESSAGE)
    if how_returned not in Episode.HowReturned.values:
        errors.setdefault("how_returned", []).append("Select how the child returned")
    owner = interview_owner_for(child)
    if owner is None:
        errors.setdefault("__all__", []).append(
            f"No local authority children's services is set up for {child.responsible_area}, "
            "so nobody can own the return interview. Ask an admin to add it, then record "
            "the return again."
        )
    raise_if_errors(errors)

    changes = update_versioned(
        episode,
        expected_version=expected_version,
        values={
            "found_at": found_at,
            "first_found_at": found_at,
            "found_location": found_location,
            "found_address": (found_address or "").strip(),
            "found_with": (found_with or "").strip(),
            "how_returned": how_returned,
            "return_notes": (return_notes or "").strip(),
        },
        what="episode",
        acting_user=acting_user,
    )
    provider = interview_provider_for(child)
    due_at = found_at + policy.interview_due_after()
    ReturnInterview.objects.create(episode=episode, owner=owner, provider=provider, due_at=due_at)
    where = f" at {found_location}" if found_location else ""
    event_record(
        child=child,
        episode=episode,
        kind=CaseEvent.Kind.RETURNED,
        actor=acting_user,
        occurred_at=found_at,
        summary=(
            f"Found or returned {_local(found_at)}{where}: "
            f"{Episode.HowReturned(how_returned).label}."
        ),
        data={
            "found_at": found_at.isoformat(),
            "interview_due_at": due_at.isoformat(),
            "how_returned": how_returned,
            "category": episode.category,
            "risk": episode.risk,
            "interview_owner_id": owner.pk,
            "interview_provider_id": provider.pk if provider else None,
            **_situation(child),
            "changes": changes,
        },
    )
    return episode


# Edit -----------------------------------------------------------------------------------


@transaction.atomic
def episode_update(
    *, acting_user: User, episode: Episode, expected_version: int, **fields: Any
) -> Episode:
    rights.require(acting_user, Right.REPORT_EPISODE, episode.child)
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"episode_update cannot change {sorted(unknown)}")
    child = episode.child
    errors: dict[str, list[str]] = {}
    if episode.is_closed:
        errors.setdefault("__all__", []).append("A closed episode cannot be changed")
    if episode.found_at is None and (set(fields) & RETURN_FIELDS):
        errors.setdefault("__all__", []).append(
            "Record the return before changing where and when the child was found"
        )
    raise_if_errors(errors)
    for name in ("reported_at", "last_seen_at"):
        if name in fields:
            fields[name] = _utc(fields[name])
    for name in (
        "reported_by_name",
        "circumstances",
        "police_reference",
        "flag_other",
        "last_seen_address",
        "found_address",
    ):
        if name in fields:
            fields[name] = (fields[name] or "").strip()
    merged = {
        name: fields.get(name, getattr(episode, name))
        for name in ("category", "reported_at", "last_seen_at", "found_at")
    }
    errors = _validate_times(merged, child)
    if "reported_by_name" in fields and not fields["reported_by_name"]:
        errors.setdefault("reported_by_name", []).append("Enter who reported the child missing")
    if "circumstances" in fields and not fields["circumstances"]:
        errors.setdefault("circumstances", []).append("Enter the circumstances")
    if "how_returned" in fields and fields["how_returned"] not in Episode.HowReturned.values:
        errors.setdefault("how_returned", []).append("Select how the child returned")
    if not errors and "last_seen_at" in fields:
        other = overlapping_episode(
            child, merged["last_seen_at"], merged["found_at"], exclude=episode
        )
        if other is not None:
            errors.setdefault("last_seen_at", []).append(overlap_message(other))
    raise_if_errors(errors)

    try:
        changes = update_versioned(
            episode,
            expected_version=expected_version,
            values=fields,
            what="episode",
            acting_user=acting_user,
        )
    except IntegrityError:  # lost a race with another change of the child's episodes
        other = overlapping_episode(
            child, merged["last_seen_at"], merged["found_at"], exclude=episode
        )
        if other is None:
            raise
        raise ValidationError({"last_seen_at": [overlap_message(other)]}) from None
    if not changes:
        return episode
    if "last_seen_at" in changes:
        # Deadlines count from the earliest last-seen time: sooner, never later.
        Episode.objects.filter(
            pk=episode.pk, earliest_last_seen_at__gt=episode.last_seen_at
        ).update(earliest_last_seen_at=episode.last_seen_at)
        episode.earliest_last_seen_at = min(
            filter(None, (episode.earliest_last_seen_at, episode.last_seen_at))
        )
    labels = ", ".join(str(Episode._meta.get_field(name).verbose_name) for name in changes)
    event_record(
        child=child,
        episode=episode,
        kind=CaseEvent.Kind.EPISODE_EDITED,
        actor=acting_user,
        summary=f"Episode details changed: {labels}",
        data={"changes": changes},
    )
    return episode


# Correct the return time -------------------------------------------------------------


@transaction.atomic
def episode_correct_return_time(
    *,
    acting_user: User,
    episode: Episode,
    expected_version: int,
    found_at: dt.datetime,
    reason: str,
) -> ReturnTimeCorrection:
    """Correct when the child was found, after the fact, giving the reason.

    The police and the responsible council only. The return interview keeps the
    deadline set when the return was first recorded (``ReturnInterview.due_at`` is not
    touched), so measures and overdue lists still count from it; the correction is kept
    with who made it, when and why, and shown on the episode.
    """
    rights.require(acting_user, Right.CORRECT_RETURN_TIME, episode.child)
    found_at = _utc(found_at)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    current = (
        Episode.objects.filter(pk=episode.pk).values("found_at", "last_seen_at", "closed_at").get()
    )
    if current["found_at"] is None:
        errors.setdefault("__all__", []).append(
            "Record the return before correcting the time the child was found"
        )
    elif current["closed_at"] is not None:
        errors.setdefault("__all__", []).append("A closed episode cannot be changed")
    raise_if_errors(errors)
    if found_at is None:
        errors.setdefault("found_at", []).append("Enter when the child was found")
    elif _is_future(found_at, timezone.now()):
        errors.setdefault("found_at", []).append("The time found must not be in the future")
    elif found_at < current["last_seen_at"]:
        errors.setdefault("found_at", []).append(FOUND_BEFORE_LAST_SEEN_MESSAGE)
    elif found_at == current["found_at"]:
        errors.setdefault("found_at", []).append(
            f"The return is already recorded at {_local(found_at)}: enter the corrected time"
        )
    if not reason:
        errors.setdefault("reason", []).append("Enter why the return time is being corrected")
    if "found_at" not in errors:
        other = overlapping_episode(
            episode.child, current["last_seen_at"], found_at, exclude=episode
        )
        if other is not None:
            errors.setdefault("found_at", []).append(overlap_message(other))
    raise_if_errors(errors)

    previous = current["found_at"]
    try:
        changes = update_versioned(
            episode,
            expected_version=expected_version,
            values={"found_at": found_at},
            what="episode",
            acting_user=acting_user,
        )
    except IntegrityError:  # lost a race with another change of the child's episodes
        other = overlapping_episode(
            episode.child, current["last_seen_at"], found_at, exclude=episode
        )
        if other is None:
            raise
        raise ValidationError({"found_at": [overlap_message(other)]}) from None
    correction = ReturnTimeCorrection.objects.create(
        episode=episode,
        previous_found_at=previous,
        found_at=found_at,
        reason=reason,
        corrected_by=acting_user,
    )
    due = ReturnInterview.objects.filter(episode=episode).values_list("due_at", flat=True).first()
    kept = f" The return interview stays due by {_local(due)}." if due else ""
    event_record(
        child=episode.child,
        episode=episode,
        kind=CaseEvent.Kind.EPISODE_EDITED,
        actor=acting_user,
        summary=(
            f"Return time corrected from {_local(previous)} to {_local(found_at)}: {reason}.{kept}"
        )[:500],
        data={
            "changes": changes,
            "return_time_corrected": True,
            "correction_id": correction.pk,
            "interview_due_at": due.isoformat() if due else None,
        },
    )
    return correction


# Close ----------------------------------------------------------------------------------


def _close(*, acting_user: User, episode: Episode, reason: str, automatic: bool) -> Episode:
    now = timezone.now()
    # Conditional update: of two closes at once, exactly one wins.
    closed = Episode.objects.filter(
        pk=episode.pk, closed_at__isnull=True, found_at__isnull=False
    ).update(closed_at=now, closed_by=acting_user, closure_reason=reason, version=F("version") + 1)
    if closed != 1:
        raise ValidationError({"__all__": ["This episode has already been closed"]})
    history_write(Episode, episode.pk, user=acting_user)
    episode.closed_at, episode.closed_by, episode.closure_reason = now, acting_user, reason
    episode.version += 1
    event_record(
        child=episode.child,
        episode=episode,
        kind=CaseEvent.Kind.CLOSED,
        actor=acting_user,
        occurred_at=now,
        summary=f"Episode closed: {reason}",
        data={
            "reason": reason,
            "automatic": automatic,
            "category": episode.category,
            **_situation(episode.child),
        },
    )
    return episode


@transaction.atomic
def episode_close(*, acting_user: User, episode: Episode, reason: str) -> Episode:
    rights.require(acting_user, Right.CLOSE_EPISODE, episode.child)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    current = Episode.objects.filter(pk=episode.pk).values("found_at", "closed_at").get()
    if current["closed_at"] is not None:
        errors.setdefault("__all__", []).append("This episode has already been closed")
    elif current["found_at"] is None:
        errors.setdefault("__all__", []).append(
            "An episode can only be closed after the child's return has been recorded"
        )
    if not reason:
        errors.setdefault("reason", []).append("Enter the reason for closing the episode")
    raise_if_errors(errors)
    return _close(acting_user=acting_user, episode=episode, reason=reason, automatic=False)


@transaction.atomic
def episode_close_if_complete(*, acting_user: User, episode: Episode) -> bool:
    """Close the episode if every required step is done; say whether it was closed.

    Called after a safe and well check or an interview outcome is recorded, by whoever
    recorded it: the closure follows from the record, not from anyone's authority.
    """
    current = (
        Episode.objects.select_for_update(of=("self",))
        .select_related("child", "safe_and_well", "interview")
        .filter(pk=episode.pk)
        .first()
    )
    if current is None or current.found_at is None or current.closed_at is not None:
        return False
    if not hasattr(current, "safe_and_well"):
        return False
    interview = getattr(current, "interview", None)
    if interview is None or not interview.is_done:
        return False
    _close(acting_user=acting_user, episode=current, reason=AUTO_CLOSE_REASON, automatic=True)
    episode.closed_at, episode.closed_by = current.closed_at, current.closed_by
    episode.closure_reason, episode.version = current.closure_reason, current.version
    return True
