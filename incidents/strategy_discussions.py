"""The strategy discussion due when a child is still missing 24 hours after last seen.

A tracked deadline, not a notification. It falls ``policy.strategy_discussion_due_after()`` (24
real hours, across a clock change) after the episode's last-seen time, and it is needed
when the child was still missing then: a child found by the deadline needs none. It is
met by a ``StrategyMeeting`` recorded for the child and held on or after the day the
episode began (UK date): meetings are recorded by date only, so one held that day
counts, and one held before it, about an earlier episode, does not.

Store the deadline, derive the state: nothing new is stored. The deadline comes from
``last_seen_at``, and the state from the episode, the child's meetings and the clock,
worked out here once: for one episode (``strategy_discussion``) and as SQL for lists
(``with_strategy_meeting``, ``needing_strategy_discussion``,
``strategy_discussions_overdue``).

The states:

- **held**: a meeting on or after the day the episode began, whenever the child was found;
- **not needed**: found by the deadline (found exactly at it counts as found in time,
  as the "still missing at 24 hours" step treats it), no meeting;
- **due**: still missing, the deadline not yet passed;
- **overdue**: still missing after the deadline (strictly after, as for the return
  interview: one due exactly now is not yet late);
- **missed**: found after the deadline with no meeting. It was overdue; the lists keep
  showing it until the episode closes, and a meeting recorded late still meets it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from missingkids import policy

from .models import Episode, StrategyMeeting


class State(StrEnum):
    HELD = "held"
    NOT_NEEDED = "not_needed"
    DUE = "due"
    OVERDUE = "overdue"
    MISSED = "missed"


# What is still to do, and what is late.
OUTSTANDING = frozenset({State.DUE, State.OVERDUE, State.MISSED})
LATE = frozenset({State.OVERDUE, State.MISSED})


@dataclass(frozen=True)
class StrategyDiscussion:
    state: State
    due_at: dt.datetime
    held_on: dt.date | None = None

    @property
    def outstanding(self) -> bool:
        return self.state in OUTSTANDING

    @property
    def late(self) -> bool:
        return self.state in LATE


def episode_start_day(episode: Episode) -> dt.date:
    """The UK date the episode began: a meeting held that day or later counts."""
    return timezone.localdate(episode.last_seen_at)


def strategy_discussion(
    episode: Episode, *, held_on: dt.date | None, now: dt.datetime
) -> StrategyDiscussion:
    """The episode's strategy discussion, given the date of the child's first meeting on
    or after the day it began (``strategy_meeting_on`` from ``with_strategy_meeting``);
    an earlier meeting passed in by mistake is ignored."""
    due_at = episode.strategy_discussion_due_at
    if held_on is not None and held_on >= episode_start_day(episode):
        return StrategyDiscussion(State.HELD, due_at, held_on)
    if episode.found_at is not None:
        state = State.NOT_NEEDED if episode.found_at <= due_at else State.MISSED
    else:
        state = State.OVERDUE if now > due_at else State.DUE
    return StrategyDiscussion(state, due_at)


# SQL for lists ---------------------------------------------------------------------------


def _with_start_day(episodes: QuerySet[Episode]) -> QuerySet[Episode]:
    # TruncDate converts to the current time zone (Europe/London) before taking the date.
    return episodes.annotate(episode_start_day=TruncDate("last_seen_at"))


def _meetings_since_start() -> QuerySet[StrategyMeeting]:
    """The outer episode's child's meetings held on or after the day it began (uses
    ``strategy_meeting_child_idx``)."""
    return StrategyMeeting.objects.filter(
        child=OuterRef("child"), held_on__gte=OuterRef("episode_start_day")
    )


def with_strategy_meeting(episodes: QuerySet[Episode]) -> QuerySet[Episode]:
    """Each episode with ``strategy_meeting_on``: the date of the child's first meeting on
    or after the day the episode began, or None. A subquery: no query of its own."""
    first = _meetings_since_start().order_by("held_on", "pk").values("held_on")[:1]
    return _with_start_day(episodes).annotate(strategy_meeting_on=Subquery(first))


def needing_strategy_discussion(episodes: QuerySet[Episode]) -> QuerySet[Episode]:
    """Episodes not closed whose strategy discussion is due, overdue or missed: the child
    not yet found, or found after the deadline, and no meeting since the episode began."""
    missing_at_deadline = Q(found_at__isnull=True) | Q(
        found_at__gt=F("earliest_last_seen_at") + policy.strategy_discussion_due_after()
    )
    return _with_start_day(
        episodes.filter(closed_at__isnull=True).filter(missing_at_deadline)
    ).filter(~Exists(_meetings_since_start()))


def strategy_discussions_overdue(
    episodes: QuerySet[Episode], now: dt.datetime
) -> QuerySet[Episode]:
    """Of those, the ones past the deadline: overdue (still missing) or missed (found
    late, episode still open). Bounded by ``episode_earliest_seen_idx``: the deadline
    counts from the earliest last-seen time recorded, so editing the episode cannot
    move it later."""
    # In UTC: subtracting from a Europe/London time would take off clock-face hours.
    since = now.astimezone(dt.UTC) - policy.strategy_discussion_due_after()
    return needing_strategy_discussion(episodes).filter(earliest_last_seen_at__lt=since)
