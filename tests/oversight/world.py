"""Helpers that build episodes, interviews and attempts at exact times."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from incidents.models import (
    Episode,
    InterviewAttempt,
    ReturnInterview,
    RiskGrade,
)
from missingkids import policy
from tests.factories.incidents import EpisodeFactory, ReturnInterviewFactory

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC
# A Tuesday in November (GMT), well after the October clock change.
NOW = dt.datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
RANKS = {RiskGrade.NO_APPARENT_RISK: 1, RiskGrade.LOW: 2, RiskGrade.MEDIUM: 3, RiskGrade.HIGH: 4}


def episode(
    child,
    *,
    last_seen: dt.datetime,
    found: dt.datetime | None = None,
    risk: str = RiskGrade.MEDIUM,
    **kwargs,
) -> Episode:
    # Stored in UTC, as the database returns it: adding hours to a Europe/London time
    # would add wall-clock hours across a clock change.
    last_seen = last_seen.astimezone(UTC)
    found = found.astimezone(UTC) if found else None
    return EpisodeFactory(
        child=child,
        last_seen_at=last_seen,
        reported_at=last_seen + dt.timedelta(minutes=30),
        found_at=found,
        risk=risk,
        risk_rank=RANKS[risk],
        **kwargs,
    )


def returned(
    child,
    owner,
    *,
    found: dt.datetime,
    outcome: str = ReturnInterview.Outcome.PENDING,
    held_at: dt.datetime | None = None,
    declined_at: dt.datetime | None = None,
    provider=None,
    hours_missing: int = 5,
    **kwargs,
) -> ReturnInterview:
    ep = episode(child, last_seen=found - dt.timedelta(hours=hours_missing), found=found, **kwargs)
    return ReturnInterviewFactory(
        episode=ep,
        owner=owner,
        provider=provider,
        due_at=ep.found_at + policy.interview_due_after(),
        outcome=outcome,
        held_at=held_at,
        declined_at=declined_at,
    )


def attempts(interview: ReturnInterview, outcomes: list[str]) -> None:
    for n, outcome in enumerate(outcomes):
        InterviewAttempt.objects.create(
            interview=interview,
            attempted_at=interview.episode.found_at + dt.timedelta(hours=n + 1),
            method=InterviewAttempt.Method.PHONE,
            outcome=outcome,
            recorded_by=interview.episode.created_by,
        )
