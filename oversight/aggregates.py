"""The managers' measures, counted by month and kept (``MonthlyCount``).

The measures page (``oversight.queries.measures``) counts a year or two of records. Each
month is counted per agency whose managers see the children (the visibility table), per
responsible council and per owning or telling agency, so that a page reads a few dozen
kept rows rather than a year of records.

A month is closed once it has ended and so have the 24 hours after its last return (the
safe and well measure's deadline); until then it is open: the current month, and the
month before during the first day of a month. A closed month changes only when a fact
about it is recorded late or corrected; an open month changes with every record, and
with time alone (an interview or a notification falling due, a return's 24 hours
passing).

Freshness:
- an open month is counted as of a moment (``count_month``'s ``as_of``: what the page
  would have counted then, from the records as they are), and the page reads it only
  when counted within ``OPEN_READ_WITHIN`` and not stale, saying when it was counted
  ("Counted at 14:05"); otherwise the page counts it from the records (exact, slower);
- a closed month is read from the kept counts only when it was counted after it closed
  and is not marked stale; otherwise the page counts it from the records;
- the page reads the kept months from the first of its period up to the first that
  cannot be read, and counts the rest from the records;
- the scheduler's pass (``refresh``) marks stale the months of records changed since the
  last pass (the history rows that every action function writes: episodes, safe and
  well checks, return interviews, children, placements, involvements) and counts them
  again; it counts the open months again at least every ``OPEN_COUNTED_EVERY`` (for what
  changes with time, and what keeps no history: notifications, visibility that changes
  by date, an agency's councils), and every closed month once a day;
- erasing records at the end of retention marks every month stale;
- ``manage.py refresh_measures --all`` counts every kept month again now.

Counting one month is one query per measure (each bounded by the month through the index
on the date it is counted by), tallied in Python, the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from incidents.models import ChildVisibility, Episode, ReturnInterview
from missingkids import policy
from notifications.models import Notification

from . import medians
from .models import MeasureMonth, MonthlyCount

Measure = MonthlyCount.Measure
# Months kept: the longest period the measures page offers, and the month before it (so
# the children of the period are counted once each).
KEPT_MONTHS = 25
# Counted again in full once a day, after this many hours.
FULL_REFRESH_AFTER = dt.timedelta(hours=24)
CHANGES_MARGIN = dt.timedelta(minutes=5)
# Closed months counted in one scheduler pass at most (about half a second each at
# 100,000 episodes a year); the open months are counted whenever due, besides.
MONTHS_PER_PASS = 4
# The open months are counted again at the first pass after their records change, and
# at least this often (what changes with time alone, or keeps no history).
OPEN_COUNTED_EVERY = dt.timedelta(minutes=5)
# The page reads an open month's counts only if counted this recently (a few passes
# missed: the scheduler has stopped, and the page counts from the records).
OPEN_READ_WITHIN = dt.timedelta(minutes=15)


def local_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def month_key(value: dt.datetime) -> dt.date:
    local = timezone.localtime(value)
    return dt.date(local.year, local.month, 1)


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def closed_before(now: dt.datetime) -> dt.date:
    """The first month not yet closed: those before it have ended, and so have the 24
    hours after their last return (the safe and well measure's deadline)."""
    return month_key(now - policy.safe_and_well_due_after())


def closes_at(month: dt.date) -> dt.datetime:
    """When a month closes: the safe and well checks of its last returns are due."""
    return local_start(next_month(month)) + policy.safe_and_well_due_after()


def kept_months(now: dt.datetime) -> list[dt.date]:
    """The closed months kept, oldest first."""
    months: list[dt.date] = []
    month = closed_before(now)
    for _ in range(KEPT_MONTHS):
        month = dt.date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
        months.append(month)
    return months[::-1]


def open_months(now: dt.datetime) -> list[dt.date]:
    """The open months, oldest first: the current month, and the month before until it
    closes."""
    months = [closed_before(now)]
    while months[-1] < month_key(now):
        months.append(next_month(months[-1]))
    return months


@dataclass(frozen=True)
class Readable:
    """The months a page may read from the kept counts, and when the open months among
    them were counted (the earliest; None when none is read)."""

    months: list[dt.date]
    counted_at: dt.datetime | None


def readable(months: Iterable[dt.date], now: dt.datetime) -> Readable:
    """The longest run of the given months, from the first, that may be read from the
    kept counts: not stale, and a closed month counted after it closed, an open month
    counted within ``OPEN_READ_WITHIN``. One query."""
    months = sorted(months)
    limit = closed_before(now)
    built = dict(
        MeasureMonth.objects.filter(month__in=months, stale=False).values_list("month", "built_at")
    )
    out: list[dt.date] = []
    counted_at: dt.datetime | None = None
    for month in months:
        at = built.get(month)
        if at is None:
            break
        if month < limit:
            if at < closes_at(month):
                break
        elif not now - OPEN_READ_WITHIN <= at <= now:
            break
        else:
            counted_at = at if counted_at is None else min(counted_at, at)
        out.append(month)
    return Readable(out, counted_at)


def fresh_months(months: Iterable[dt.date], now: dt.datetime) -> list[dt.date]:
    """The months of ``readable``."""
    return readable(months, now).months


# Counting one month --------------------------------------------------------------------


def _viewers(child_ids: set[int]) -> dict[int, list[int]]:
    seen: dict[int, list[int]] = defaultdict(list)
    ids = sorted(child_ids)
    for start in range(0, len(ids), 2000):
        for child_id, agency_id in ChildVisibility.objects.filter(
            child_id__in=ids[start : start + 2000]
        ).values_list("child_id", "agency_id"):
            seen[child_id].append(agency_id)
    return seen


def count_month(month: dt.date, as_of: dt.datetime | None = None) -> list[MonthlyCount]:
    """The kept counts of one month, from the records (what ``queries.measures`` counts,
    with no filter but the council), as of ``as_of`` (now): what fell due by then, the
    returns whose 24 hours had passed. The same for a closed month whatever ``as_of``
    after it closed."""
    as_of = as_of or timezone.now()
    begin, end = local_start(month), local_start(next_month(month))
    within = policy.safe_and_well_due_after()

    def during(field: str, *, until: dt.datetime = as_of) -> dict[str, dt.datetime]:
        return {f"{field}__gte": begin, f"{field}__lt": end, f"{field}__lte": until}

    # key: (viewer, measure, area, agency, code) -> [count, on_time, children set]
    tally: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, set()])
    facts: list[tuple[str, int, int | None, int | None, str, bool]] = []

    episodes = list(
        Episode.objects.filter(**during("last_seen_at")).values_list(
            "child_id", "child__responsible_area_id"
        )
    )
    for child_id, area_id in episodes:
        facts.append((Measure.EPISODES, child_id, area_id, None, "", False))
    previous = dict(
        Episode.objects.filter(
            last_seen_at__lt=begin,
            child__in=Episode.objects.filter(**during("last_seen_at")).order_by().values("child"),
        )
        .order_by()
        .values("child")
        .annotate(last=Max("last_seen_at"))
        .values_list("child", "last")
    )
    first_seen = {}
    for child_id, area_id in episodes:
        before = previous.get(child_id)
        gap = "" if before is None else str(month_index(month) - month_index(month_key(before)))
        first_seen[child_id] = (area_id, gap)
    for child_id, (area_id, gap) in first_seen.items():
        facts.append((Measure.FIRST_SEEN, child_id, area_id, None, gap, False))

    for child_id, area_id, owner_id, held_at, due_at in ReturnInterview.objects.filter(
        **during("due_at")
    ).values_list(
        "episode__child_id", "episode__child__responsible_area_id", "owner_id", "held_at", "due_at"
    ):
        on_time = held_at is not None and held_at <= due_at
        facts.append((Measure.INTERVIEWS, child_id, area_id, owner_id, "", on_time))

    for child_id, area_id, found_at, shared_at in Episode.objects.filter(
        **during("first_found_at", until=as_of - within)
    ).values_list(
        "child_id",
        "child__responsible_area_id",
        "first_found_at",
        "safe_and_well__shared_with_la_at",
    ):
        on_time = shared_at is not None and shared_at <= found_at + within
        facts.append((Measure.RETURNS, child_id, area_id, None, "", on_time))

    for child_id, area_id, agency_id, told_at, due_at in (
        Notification.objects.filter(**during("due_at"))
        .exclude(status=Notification.Status.CANCELLED)
        .values_list(
            "child_id", "child__responsible_area_id", "responsible_agency_id", "told_at", "due_at"
        )
    ):
        on_time = told_at is not None and told_at <= due_at
        facts.append((Measure.NOTIFICATIONS, child_id, area_id, agency_id, "", on_time))

    for child_id, area_id, push, pull in ReturnInterview.objects.filter(
        outcome=ReturnInterview.Outcome.HELD, **during("held_at")
    ).values_list(
        "episode__child_id", "episode__child__responsible_area_id", "push_factors", "pull_factors"
    ):
        for measure, codes in ((Measure.PUSH, push), (Measure.PULL, pull)):
            for code in set(codes or []):
                facts.append((measure, child_id, area_id, None, code, False))

    lengths: list[tuple[int, int | None, float]] = [
        (child_id, area_id, (found_at - last_seen_at).total_seconds())
        for child_id, area_id, found_at, last_seen_at in Episode.objects.filter(
            **during("found_at")
        ).values_list("child_id", "child__responsible_area_id", "found_at", "last_seen_at")
    ]

    viewers = _viewers({fact[1] for fact in facts} | {row[0] for row in lengths})
    durations: dict[tuple[int, int | None], list[float]] = defaultdict(list)
    for child_id, area_id, seconds in lengths:
        for viewer in viewers.get(child_id, ()):
            durations[(viewer, area_id)].append(seconds)
    for measure, child_id, area_id, agency_id, code, on_time in facts:
        for viewer in viewers.get(child_id, ()):
            row = tally[(viewer, measure, area_id, agency_id, code)]
            row[0] += 1
            row[1] += on_time
            row[2].add(child_id)
    return [
        MonthlyCount(
            month=month,
            viewer_id=viewer,
            measure=measure,
            area_id=area_id,
            agency_id=agency_id,
            code=code,
            count=n,
            on_time=on_time,
            children=len(children) if measure == Measure.EPISODES else 0,
        )
        for (viewer, measure, area_id, agency_id, code), (n, on_time, children) in tally.items()
    ] + [
        MonthlyCount(
            month=month,
            viewer_id=viewer,
            measure=Measure.DURATIONS,
            area_id=area_id,
            count=len(values),
            lengths=medians.packed(values),
        )
        for (viewer, area_id), values in durations.items()
    ]


def refresh_month(month: dt.date, now: dt.datetime | None = None) -> int:
    """Count one month again, as of ``now``, and keep it (replacing its counts). Returns
    the number of rows kept."""
    now = now or timezone.now()
    with transaction.atomic():
        # Taken first: a change recorded while counting marks the month stale again.
        MeasureMonth.objects.update_or_create(
            month=month, defaults={"built_at": now, "checked_at": now, "stale": False}
        )
        rows = count_month(month, now)
        MonthlyCount.objects.filter(month=month).delete()
        MonthlyCount.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def mark_stale(months: Iterable[dt.date] | None = None) -> int:
    """Mark kept months stale (all of them when ``months`` is None): the measures count
    them from the records until they are counted again."""
    rows = MeasureMonth.objects.all()
    if months is not None:
        rows = rows.filter(month__in=set(months))
    return rows.update(stale=True)


# What changed since the last pass ------------------------------------------------------


def _changed_months(since: dt.datetime, first: dt.date) -> set[dt.date]:
    """The months of records changed since ``since``: their values before and after the
    change, from the history rows every action function writes. Only the months a
    change can move are marked, so a busy day leaves most kept months fresh."""
    from incidents.models import Child, Involvement, Placement, SafeAndWellCheck

    months: set[dt.date] = set()

    def add(*values: dt.datetime | None) -> None:
        for value in values:
            if value is not None:
                key = month_key(value)
                if key >= first:
                    months.add(key)

    # Episodes: every version's months; and a child's next episode after each version's
    # last seen time (its months since the previous episode may have changed).
    History = Episode.history.model
    changed = set(History.objects.filter(history_date__gt=since).values_list("id", flat=True))
    seen: dict[int, list[dt.datetime]] = defaultdict(list)
    for child_id, last_seen, first_found, found in History.objects.filter(
        id__in=changed
    ).values_list("child_id", "last_seen_at", "first_found_at", "found_at"):
        add(last_seen, first_found, found)
        seen[child_id].append(last_seen)
    if seen:
        current: dict[int, list[dt.datetime]] = defaultdict(list)
        for child_id, last_seen in Episode.objects.filter(child_id__in=list(seen)).values_list(
            "child_id", "last_seen_at"
        ):
            current[child_id].append(last_seen)
        for child_id, values in seen.items():
            for value in values:
                later = [other for other in current[child_id] if other > value]
                add(min(later, default=None))
    # Safe and well checks: the month of their return.
    checked = SafeAndWellCheck.history.model.objects.filter(history_date__gt=since)
    for (value,) in Episode.objects.filter(
        pk__in=set(checked.values_list("episode_id", flat=True))
    ).values_list("first_found_at"):
        add(value)
    # Return interviews: every version's months due and held.
    interviews = ReturnInterview.history.model.objects.filter(history_date__gt=since)
    for values in ReturnInterview.history.model.objects.filter(
        id__in=set(interviews.values_list("id", flat=True))
    ).values_list("due_at", "held_at"):
        add(*values)
    # Who sees a child, and their council (a placement or involvement changed, or the
    # child's responsible council): every month with a record about the child.
    children: set[int] = set()
    for model in (Placement, Involvement):
        children.update(
            model.history.model.objects.filter(history_date__gt=since).values_list(
                "child_id", flat=True
            )
        )
    edited = set(
        Child.history.model.objects.filter(history_date__gt=since).values_list("id", flat=True)
    )
    versions: dict[int, list[tuple[dt.datetime, int | None]]] = defaultdict(list)
    for child_id, when, area_id in Child.history.model.objects.filter(id__in=edited).values_list(
        "id", "history_date", "responsible_area_id"
    ):
        versions[child_id].append((when, area_id))
    for child_id, rows in versions.items():
        rows.sort(key=lambda row: row[0])
        for (_, before), (when, after) in pairwise(rows):
            if when > since and before != after:
                children.add(child_id)
    if children:
        for values in Episode.objects.filter(child_id__in=children).values_list(
            "last_seen_at", "first_found_at", "found_at"
        ):
            add(*values)
        for values in ReturnInterview.objects.filter(episode__child_id__in=children).values_list(
            "due_at", "held_at"
        ):
            add(*values)
        for (value,) in Notification.objects.filter(child_id__in=children).values_list("due_at"):
            add(value)
    return months


def refresh(
    now: dt.datetime | None = None, *, full: bool = False, limit: int | None = MONTHS_PER_PASS
) -> int:
    """The scheduler's step. Marks stale the kept months whose records changed since the
    last pass, then counts again:
    - the open months, when stale, not yet counted, or counted ``OPEN_COUNTED_EVERY``
      ago or more (at most two months, every pass they are due);
    - at most ``limit`` closed months a pass (so a pass stays short; the page counts the
      others from the records meanwhile): first those stale, not yet counted or counted
      before they closed, oldest first, then those counted more than a day ago (every
      month is counted again once a day, for what writes no history).
    ``full`` counts every kept month. Returns the number of months counted. With nothing
    changed and nothing due, a handful of queries (the history rows since the last
    pass, by their indexed date); the history since the open months' count is read
    again only when they may have changed."""
    now = now or timezone.now()
    closed, current = kept_months(now), open_months(now)
    months = closed + current
    with transaction.atomic():
        kept = {
            row.month: row
            for row in MeasureMonth.objects.select_for_update().filter(month__in=months)
        }
        if kept and not full:
            # A margin for changes committed while the last pass was reading.
            since = min(row.checked_at for row in kept.values()) - CHANGES_MARGIN
            changed = _changed_months(since, months[0]) & set(kept)
            counted = [kept[m].built_at for m in current if m in changed]
            if counted:
                # An open month only for changes since it was counted (without the
                # margin, which would count it again at each pass for 5 minutes after a
                # change: a change committed late is counted within OPEN_COUNTED_EVERY).
                changed -= set(current) - _changed_months(min(counted), current[0])
            if changed:
                mark_stale(changed)
                for month in changed:
                    kept[month].stale = True
        MeasureMonth.objects.filter(month__in=months).update(checked_at=now)
        MeasureMonth.objects.filter(month__lt=months[0]).delete()
        MonthlyCount.objects.filter(month__lt=months[0]).delete()
    if full:
        due = list(months)
    else:
        due = [
            m
            for m in current
            if m not in kept or kept[m].stale or now - kept[m].built_at >= OPEN_COUNTED_EVERY
        ]
        waiting = [
            m for m in closed if m not in kept or kept[m].stale or kept[m].built_at < closes_at(m)
        ]
        old = [
            m for m in closed if m not in waiting and now - kept[m].built_at >= FULL_REFRESH_AFTER
        ]
        waiting += sorted(old, key=lambda m: kept[m].built_at)
        due += waiting if limit is None else waiting[:limit]
    for month in due:
        refresh_month(month, now)
    return len(due)
