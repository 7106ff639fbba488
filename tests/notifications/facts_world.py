"""Driving the record through its action functions, as people do, for the engine tests
about facts that arrive late and in any order.

Each helper records one thing through ``incidents.actions`` (so the CaseEvent outbox is
written exactly as the pages write it) and then runs the engine the way the scheduler
does, so a test reads as the sequence of what people typed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from incidents.actions import children as child_actions
from incidents.actions import episodes as episode_actions
from incidents.models import Child, Episode, Involvement, LegalStatus, Placement
from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from notifications.engine import process_pending_events
from notifications.models import Notification

UTC = dt.UTC
# A Tuesday night in term time, GMT: the report comes in at 23:00.
LAST_SEEN = dt.datetime(2026, 3, 10, 22, 0, tzinfo=UTC)
REPORTED = dt.datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
NEXT_MORNING = dt.datetime(2026, 3, 11, 9, 15, tzinfo=UTC)
LONG_BEFORE = dt.date(2025, 9, 1)


def engine() -> int:
    """One pass of the scheduler over the outbox."""
    return process_pending_events()


def report(officer: User, child: Child, *, risk: str = "medium", **overrides: Any) -> Episode:
    values: dict[str, Any] = {
        "category": Episode.Category.MISSING,
        "reported_at": REPORTED,
        "reported_by_name": officer.name,
        "reported_by_agency": officer.agency,
        "last_seen_at": LAST_SEEN,
        "circumstances": "Did not come home after school.",
        "risk": risk,
        "risk_rationale": "Known to go to the bus station.",
    }
    values.update(overrides)
    episode = episode_actions.episode_report(acting_user=officer, child=child, **values)
    engine()
    return episode


def set_in_care(social_worker: User, child: Child, start: dt.date = LONG_BEFORE) -> None:
    child_actions.child_set_legal_status(
        acting_user=social_worker, child=child, status=LegalStatus.IN_CARE, start=start
    )
    engine()


def place(
    social_worker: User,
    child: Child,
    host_area: LocalAuthorityArea,
    *,
    start: dt.date = LONG_BEFORE,
    end: dt.date | None = None,
) -> Placement:
    placement = child_actions.placement_add(
        acting_user=social_worker,
        child=child,
        start=start,
        end=end,
        type=Placement.Type.FOSTER,
        address="1 Example Road",
        postcode="CW1 2AB",
        host_area=host_area,
    )
    engine()
    return placement


def involve(
    social_worker: User,
    child: Child,
    agency: Agency,
    role: str,
    *,
    start: dt.date = LONG_BEFORE,
    end: dt.date | None = None,
) -> Involvement:
    involvement = child_actions.involvement_add(
        acting_user=social_worker, child=child, agency=agency, role=role, start=start, end=end
    )
    engine()
    return involvement


def regrade(officer: User, episode: Episode, grade: str, at: dt.datetime | None = None) -> None:
    episode_actions.episode_regrade_risk(
        acting_user=officer,
        episode=episode,
        grade=grade,
        rationale="New information from the carer.",
        graded_at=at or timezone.now(),
    )
    engine()


def record_return(user: User, episode: Episode, found_at: dt.datetime) -> None:
    episode.refresh_from_db()
    episode_actions.episode_record_return(
        acting_user=user,
        episode=episode,
        expected_version=episode.version,
        found_at=found_at,
        how_returned=Episode.HowReturned.RETURNED_SELF,
    )
    engine()


def live(episode: Episode, step: str | None = None) -> list[Notification]:
    """The episode's notifications that stand (not cancelled)."""
    rows = Notification.objects.filter(episode=episode).exclude(
        status=Notification.Status.CANCELLED
    )
    if step:
        rows = rows.filter(step=step)
    return list(rows.select_related("rule", "recipient_agency").order_by("id"))


def whom(rows: list[Notification]) -> set[tuple[str, str]]:
    """(recipient role, agency name) of each row, "none" where nobody was found."""
    return {
        (n.recipient_role, n.recipient_agency.name if n.recipient_agency else "none") for n in rows
    }
