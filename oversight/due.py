"""The managers' overdue lists kept as rows (``DueItem``), so that the dashboard's counts
and a list's pages read a few indexed rows of the manager's agency rather than every
pending item in its scope joined to the visibility table.

What each list holds is ``oversight.queries``'s: a row is kept for each item the list's
time-free query (``queries.pending_interviews`` and friends) finds, for each agency that
may see the item's child (``incidents.ChildVisibility``), with the times that put it on
the list (``due_at``, ``until``), so a deadline passing or a period ending needs no job.
The raw lists are those queries narrowed by the time; the tests compare the two.

Kept in the same transaction as every change to what it follows: ``sync_children``
recomputes the rows of the children whose records changed (delete and insert; a child
has few pending items), called by

- ``post_save``/``post_delete`` of notifications, return interviews, interview attempts,
  episodes, safe and well checks, placements, strategy meetings and children (saved, not
  created: a new child is on no list);
- ``incidents.signals.records_updated`` (every ``QuerySet.update()`` in the incidents
  actions is followed by ``history_write``, which sends it);
- ``notifications.signals.notifications_written`` (the notifications' ``bulk_create``
  and ``update``, used by the engine; the e-mail worker announces only the rows a list
  can show its change of, with their ids, and only those rows are computed again:
  ``sync_children``'s ``items``);
- ``incidents.signals.visibility_changed`` (who may see a child changed).

An agency renamed renames its notifications' groups; a rule changed (the stuck cases'
threshold, the repeat threshold) counts those lists again. The lists of children
(repeat missing, out of area) move with the time in more ways than one deadline: they
keep a row for each period in which the child is on the list in the same place
(``_periods``), and the page reads what moves (counts in the window) at its time.
``manage.py rebuild_due_items`` fills the table anew (after a bulk load that sent no
signals); a database migrated with records in it is filled by ``migrate`` when small,
else marked unfilled (``DueState``) and the pages count from the records until the
command has run.

The hotspots' sightings are kept as rows too (``SIGHTINGS``, in ``KEPT`` with the lists
of ``KINDS``): a row per viewer and episode last seen or found at a place in the default
period, read grouped by place (``hotspot_places_sql``, ``hotspot_page``, ``hotspots``)
rather than a row a record, so not among the lists a page reads row by row. From them,
each child's latest sighting at each place (``PlaceChild``) and each place's count of
children (``PlaceTally``) are kept too, in the same statements' transaction, and the
scheduler moves their start on (``roll_places``): the hotspots are the tallies with
enough children, less those fallen out of the period since its last pass.

Counted too (``DueCount``): how many rows share a viewer, list, agency that must tell and
UTC days of ``due_at`` and ``until``, kept from the rows each change deletes and inserts
(``_apply``: one statement a batch, adding to the counts). Every list of ``KINDS`` is
counted, those with a period looked back over (``until``: the stuck cases' declined
interviews) too, by the day of both times, so a new list needs nothing more. A list's
count now (``total``, ``notification_groups``) is a sum over the days before today plus
today's rows. A child deleted takes its rows with it (``child_deleting`` counts them
out first); an agency deleted takes its rows and counts, and a notification's agency
cannot be deleted (``PROTECT``), so no row's agency is emptied by a deletion.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import itertools
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from incidents import strategy_discussions as discussions
from incidents.access import has_case_role
from incidents.models import (
    Child,
    ChildVisibility,
    Episode,
    InterviewAttempt,
    LegalStatus,
    Placement,
    ReturnInterview,
    SafeAndWellCheck,
    StrategyMeeting,
)
from missingkids import keyset, policy
from missingkids.accounts.models import Agency, User
from missingkids.bulk import bulk_insert, db_types, rows_sql
from missingkids.spreadsheets import CHUNK_ROWS
from notifications.models import Notification

from . import queries
from .filters import Filters
from .models import DueCount, DueItem, DueState, PlaceChild, PlaceTally

CHUNK = 2000
_paused: contextvars.ContextVar[bool] = contextvars.ContextVar("due_paused", default=False)
# "Shown whatever the time": before any time the service can hold.
ALWAYS = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Item:
    child_id: int
    item_id: int
    due_at: dt.datetime = ALWAYS
    until: dt.datetime | None = None
    agency_id: int | None = None
    sort_text: str | None = None
    sort_text2: str | None = None
    sort_num: int = 0
    sort_flag: bool = False
    sort_at: dt.datetime | None = None


@dataclass(frozen=True)
class Kind:
    slug: str  # the list's (oversight.views.LISTS)
    # What the list is made of changes with these records.
    follows: frozenset[str]
    items: Callable[[QuerySet], Iterable[Item]]  # of these children
    order: tuple[Any, ...]  # the list's order, on DueItem
    fetch: Callable[[list[int]], QuerySet]  # the records shown, by id
    # Whether ``items`` also takes the records' ids (only those are computed): a record's
    # rows depend on that record alone, and its child's viewers.
    by_item: bool = False
    # A list of children: its rows are the periods a child is on it (``period_id``),
    # the records its children, fetched by the rows' ``child_id``.
    by_child: bool = False
    # What the records show that changes with the time, added to those fetched (the raw
    # list's own columns, at the time of the page).
    shown_at: Callable[[QuerySet, dt.datetime], QuerySet] | None = None
    # Whether the list's download reads the kept rows (``download_values``) rather than
    # the raw list: a list whose raw query counts and sorts every row before giving the
    # first (the others' raw queries read in the list's order and stream as fast).
    download_kept: bool = False

    @property
    def record_field(self) -> str:
        """The rows' field holding the id of the record shown."""
        return "child_id" if self.by_child else "item_id"


# A child's periods on a list of children are told apart by ``item_id``: the child's id
# times this, plus the period's number, so ordering by it orders by child.
PERIODS = 2**20
MICROSECOND = dt.timedelta(microseconds=1)


def period_id(child_id: int, n: int) -> int:
    return child_id * PERIODS + n


def _shifted(at: dt.datetime | None, by: dt.timedelta) -> dt.datetime | None:
    """``at + by``, or None past the times a date can hold (as if never)."""
    try:
        return None if at is None else at + by
    except OverflowError:
        return None


def _day_start(day: dt.date, later: int = 0) -> dt.datetime | None:
    """The local midnight that starts ``day`` (or the day ``later`` days after it), less a
    microsecond: the last time before it. None past the days a date can hold."""
    try:
        day += dt.timedelta(days=later)
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min)) - MICROSECOND
    except OverflowError:
        return None


def _periods(
    child_id: int,
    breaks: Iterable[dt.datetime | None],
    state: Callable[[dt.datetime], tuple[Any, ...] | None],
) -> Iterator[tuple[int, dt.datetime, dt.datetime | None, tuple[Any, ...]]]:
    """(item id, due_at, until, state) of each period in which a child is on a list:
    ``state(now)`` is what puts the child on it and orders it there, or None when it
    does not, and changes only at the ``breaks`` (it tells ``now > break`` from
    ``now <= break``, as ``DueItem.due_at`` and ``until`` do). Each time between two
    breaks is read at its end, which belongs to it; neighbours that agree are one
    period."""
    points = sorted({at for at in breaks if at is not None})
    ends: list[dt.datetime | None] = [*points, None]
    current: tuple[Any, ...] | None = None
    start: dt.datetime = ALWAYS
    n = 0
    previous: dt.datetime = ALWAYS
    for end in ends:
        probe = end if end is not None else _shifted(previous, MICROSECOND) or previous
        value = state(probe)
        if value != current:
            if current is not None:
                yield period_id(child_id, n), start, previous, current
                n += 1
            current, start = value, previous
        if end is not None:
            previous = end
    if current is not None:
        yield period_id(child_id, n), start, None, current


# The items of each list ------------------------------------------------------------------


def _interviews(children: QuerySet) -> Iterator[Item]:
    for child_id, pk, due_at in (
        queries.pending_interviews()
        .filter(episode__child__in=children)
        .values_list("episode__child_id", "pk", "due_at")
    ):
        yield Item(child_id, pk, due_at=due_at, sort_at=due_at)


def _safe_and_well(children: QuerySet) -> Iterator[Item]:
    within = policy.safe_and_well_due_after()
    rows = queries.safe_and_well_open().filter(child__in=children)
    for child_id, pk, first_found_at, check in rows.values_list(
        "child_id", "pk", "first_found_at", "safe_and_well__pk"
    ):
        # Not done: outstanding once the check's time has passed; not shared: at once.
        due_at = first_found_at + within if check is None else ALWAYS
        yield Item(child_id, pk, due_at=due_at, sort_at=first_found_at)


def _strategy(children: QuerySet) -> Iterator[Item]:
    """Each episode whose strategy discussion is needed (still missing at the deadline,
    no meeting since it began, the episode open: ``incidents.strategy_discussions``),
    shown once the deadline has passed (strictly after it, counted from the earliest
    last-seen time recorded), longest missing first."""
    within = policy.strategy_discussion_due_after()
    rows = discussions.needing_strategy_discussion(
        Episode.objects.filter(child__in=children, earliest_last_seen_at__isnull=False)
    )
    for child_id, pk, earliest, last_seen_at in rows.values_list(
        "child_id", "pk", "earliest_last_seen_at", "last_seen_at"
    ):
        yield Item(child_id, pk, due_at=earliest + within, sort_at=last_seen_at)


def _these(rows: QuerySet, pks: list[int] | None) -> QuerySet:
    """Only these records (``sync_children``'s ``items``), if given."""
    return rows if pks is None else rows.filter(pk__in=pks)


def _notifications(children: QuerySet, pks: list[int] | None = None) -> Iterator[Item]:
    rows = _these(queries.notifications_due().filter(child__in=children), pks)
    for child_id, pk, due_at, agency_id, name in rows.values_list(
        "child_id", "pk", "due_at", "responsible_agency_id", "responsible_agency__name"
    ):
        yield Item(child_id, pk, due_at=due_at, agency_id=agency_id, sort_text=name, sort_at=due_at)


def _problems(children: QuerySet, pks: list[int] | None = None) -> Iterator[Item]:
    rows = _these(queries.notifications_with_problems().filter(child__in=children), pks)
    for child_id, pk, created_at in rows.values_list("child_id", "pk", "created_at"):
        yield Item(child_id, pk, sort_at=created_at)


def _emails(children: QuerySet, pks: list[int] | None = None) -> Iterator[Item]:
    rows = _these(queries.emails_failing_rows().filter(child__in=children), pks)
    for child_id, pk, delivery, since, agency_id in rows.values_list(
        "child_id", "pk", "delivery", "failing_since", "responsible_agency_id"
    ):
        yield Item(child_id, pk, agency_id=agency_id, sort_text=delivery, sort_at=since)


def _stuck(children: QuerySet) -> Iterator[Item]:
    # Pending, or declined in the default period (``Filters.days`` back from now).
    days = dt.timedelta(days=Filters().days)
    Outcome = ReturnInterview.Outcome
    rows = queries.stuck_interviews(
        policy.stuck_failed_attempts(),
        Q(outcome=Outcome.PENDING) | Q(outcome=Outcome.DECLINED, declined_at__isnull=False),
        children,
    )
    for child_id, pk, outcome, declined_at, due_at, failed, each_time in rows.values_list(
        "episode__child_id",
        "pk",
        "outcome",
        "declined_at",
        "due_at",
        "failed_attempts",
        "declined_each_time",
    ):
        until = declined_at + days if outcome == Outcome.DECLINED else None
        yield Item(
            child_id,
            pk,
            until=until,
            sort_num=failed,
            sort_flag=bool(each_time),
            sort_at=due_at,
        )


def _repeat(children: QuerySet) -> Iterator[Item]:
    """Each period in which a child has the repeat threshold's episodes in its window
    and no strategy meeting since the day of the first of them
    (``queries.repeat_children``), with the count and the latest, which order it."""
    count, days = policy.repeat_threshold()
    window = dt.timedelta(days=days)
    seen: dict[int, list[dt.datetime]] = defaultdict(list)
    for child_id, at in (
        Episode.objects.filter(child__in=children, last_seen_at__isnull=False)
        .order_by("child_id", "last_seen_at")
        .values_list("child_id", "last_seen_at")
    ):
        seen[child_id].append(at)
    seen = {child_id: times for child_id, times in seen.items() if len(times) >= count}
    if not seen:
        return
    met = dict(
        StrategyMeeting.objects.filter(child__in=list(seen))
        .order_by()
        .values("child_id")
        .annotate(last=Max("held_on"))
        .values_list("child_id", "last")
    )
    for child_id, times in seen.items():
        last_met = met.get(child_id)

        def state(now: dt.datetime, times: list[dt.datetime] = times, last_met: Any = last_met):
            # The episodes last seen from ``now - window`` to ``now``, both included.
            low, high = bisect_left(times, now - window), bisect_right(times, now)
            if high - low < count:
                return None
            if last_met is not None and last_met >= timezone.localdate(times[low]):
                return None
            return (high - low, times[high - 1])

        # An episode counts from its time (``now >= at``) until the window has passed it.
        breaks = [b for at in times for b in (at - MICROSECOND, _shifted(at, window))]
        for item_id, due_at, until, (n, latest) in _periods(child_id, breaks, state):
            yield Item(child_id, item_id, due_at=due_at, until=until, sort_num=n, sort_at=latest)


def _out_of_area(children: QuerySet) -> Iterator[Item]:
    """Each period in which a child in care is placed out of area and missing, or has
    an interview missed in the default period (``queries.out_of_area_missed``)."""
    days = dt.timedelta(days=Filters().days)
    placed_away = Placement.objects.filter(child=OuterRef("pk")).exclude(
        host_area=F("child__responsible_area")
    )
    found = {
        pk: (last, first, area)
        for pk, last, first, area in Child.objects.filter(
            pk__in=children, legal_status=LegalStatus.IN_CARE
        )
        .filter(Exists(placed_away))
        .values_list("pk", "last_name", "first_name", "responsible_area_id")
    }
    if not found:
        return
    ids = list(found)
    placements: dict[int, list[tuple[dt.date, dt.date | None]]] = defaultdict(list)
    for child_id, start, end, host in Placement.objects.filter(child__in=ids).values_list(
        "child_id", "start", "end", "host_area_id"
    ):
        if host != found[child_id][2]:
            placements[child_id].append((start, end))
    missing = set(
        Episode.objects.filter(child__in=ids, found_at__isnull=True).values_list(
            "child_id", flat=True
        )
    )
    Outcome = ReturnInterview.Outcome
    # Pending (missed once past due, in the period), or held late (in the period).
    interviews: dict[int, list[tuple[dt.datetime, bool]]] = defaultdict(list)
    for child_id, due_at, outcome in (
        ReturnInterview.objects.filter(episode__child__in=ids)
        .filter(Q(outcome=Outcome.PENDING) | Q(outcome=Outcome.HELD, held_at__gt=F("due_at")))
        .values_list("episode__child_id", "due_at", "outcome")
    ):
        interviews[child_id].append((due_at, outcome == Outcome.PENDING))
    for child_id, (last, first, _area) in found.items():
        away, missed, now_missing = placements[child_id], interviews[child_id], child_id in missing

        def state(
            now: dt.datetime,
            away: list[tuple[dt.date, dt.date | None]] = away,
            missed: list[tuple[dt.datetime, bool]] = missed,
            now_missing: bool = now_missing,
        ) -> tuple[Any, ...] | None:
            today = timezone.localdate(now)
            if not any(start <= today and (end is None or end >= today) for start, end in away):
                return None
            since = now - days
            if now_missing or any(
                due_at >= since and (due_at < now or not pending) for due_at, pending in missed
            ):
                return ()
            return None

        breaks: list[dt.datetime | None] = []
        for start, end in away:  # current from the day it starts to the day it ends
            breaks.append(_day_start(start))
            if end is not None:
                breaks.append(_day_start(end, later=1))
        for due_at, pending in missed:
            breaks.append(_shifted(due_at, days))
            if pending:
                breaks.append(due_at)
        for item_id, due_at, until, _ in _periods(child_id, breaks, state):
            yield Item(
                child_id,
                item_id,
                due_at=due_at,
                until=until,
                sort_text=last,
                sort_text2=first,
                sort_flag=now_missing,
            )


def _children_rows(ids: list[int]) -> QuerySet:
    return Child.objects.filter(pk__in=ids).select_related("responsible_area")


def _interview_rows(ids: list[int]) -> QuerySet:
    return ReturnInterview.objects.filter(pk__in=ids).select_related(
        "episode", "episode__child", "owner", "provider"
    )


def _notification_rows(ids: list[int]) -> QuerySet:
    return Notification.objects.filter(pk__in=ids).select_related(
        "episode", "child", "responsible_agency", "recipient_agency"
    )


KINDS: dict[str, Kind] = {
    kind.slug: kind
    for kind in (
        Kind(
            "interviews_overdue",
            frozenset({"interview"}),
            _interviews,
            ("sort_at", "item_id"),
            _interview_rows,
        ),
        Kind(
            "safe_and_well_outstanding",
            frozenset({"episode", "check"}),
            _safe_and_well,
            ("sort_at", "item_id"),
            lambda ids: Episode.objects.filter(pk__in=ids).select_related(
                "child", "safe_and_well", "safe_and_well__agency"
            ),
        ),
        Kind(
            "strategy_discussions_overdue",
            frozenset({"episode", "meeting"}),
            _strategy,
            ("sort_at", "item_id"),
            lambda ids: Episode.objects.filter(pk__in=ids).select_related(
                "child", "child__responsible_area"
            ),
        ),
        Kind(
            "notifications_overdue",
            frozenset({"notification"}),
            _notifications,
            (F("sort_text").asc(nulls_last=True), "sort_at", "item_id"),
            _notification_rows,
            by_item=True,
        ),
        Kind(
            "emails_failing",
            frozenset({"notification"}),
            _emails,
            ("sort_text", F("sort_at").asc(nulls_last=True), "item_id"),
            _notification_rows,
            by_item=True,
        ),
        Kind(
            "notification_problems",
            frozenset({"notification"}),
            _problems,
            ("-sort_at", "-item_id"),
            lambda ids: Notification.objects.filter(pk__in=ids).select_related(
                "episode", "child", "rule", "responsible_agency", "recipient_agency"
            ),
            by_item=True,
        ),
        Kind(
            "stuck_cases",
            frozenset({"interview", "attempt", "episode"}),
            _stuck,
            ("-sort_num", "-sort_flag", "sort_at", "item_id"),
            _interview_rows,
            download_kept=True,
        ),
        Kind(
            "repeat_missing",
            frozenset({"episode", "meeting"}),
            _repeat,
            ("-sort_num", "-sort_at", "item_id"),
            _children_rows,
            by_child=True,
            shown_at=lambda rows, now: queries.repeat_shown(
                rows, now, policy.repeat_threshold()[1]
            ),
            download_kept=True,
        ),
        Kind(
            "out_of_area",
            frozenset({"child", "placement", "episode", "interview"}),
            _out_of_area,
            ("-sort_flag", "sort_text", "sort_text2", "item_id"),
            _children_rows,
            by_child=True,
            shown_at=lambda rows, now: queries.out_of_area_shown(rows, now, Filters().days),
            download_kept=True,
        ),
    )
}


def _sightings(children: QuerySet) -> Iterator[Item]:
    """Each time one of these children was last seen or found at a place, shown from
    that time (``due_at`` just before it) until the default period has passed it
    (``until``): the hotspots' sightings (``queries.hotspot_places_sql``), read grouped
    by place from the viewer's rows in the period (``hotspot_places_sql`` here). The
    item is the episode's id twice, plus 1 when found (``sighting_item``); ``sort_num``
    the place and ``sort_at`` the time."""
    days = dt.timedelta(days=Filters().days)
    for child_id, pk, seen_at, seen_place, found_at, found_place in Episode.objects.filter(
        Q(last_seen_location__isnull=False, last_seen_at__isnull=False)
        | Q(found_location__isnull=False, found_at__isnull=False),
        child__in=children,
    ).values_list(
        "child_id", "pk", "last_seen_at", "last_seen_location_id", "found_at", "found_location_id"
    ):
        for found, at, place in ((0, seen_at, seen_place), (1, found_at, found_place)):
            if at is not None and place is not None:
                yield Item(
                    child_id,
                    sighting_item(pk, found=bool(found)),
                    due_at=_shifted(at, -MICROSECOND) or ALWAYS,
                    until=_shifted(at, days),
                    sort_num=place,
                    sort_at=at,
                )


def sighting_item(episode_id: int, *, found: bool) -> int:
    return episode_id * 2 + int(found)


# The hotspots' sightings, kept as rows like the lists but read grouped (not a list of
# rows: not in ``KINDS``, which the pages and counts read one row a record).
SIGHTINGS = Kind(
    "hotspots",
    frozenset({"episode"}),
    _sightings,
    ("sort_at", "item_id"),
    lambda ids: Episode.objects.filter(pk__in=[pk // 2 for pk in ids]),
)
# Every kind of row kept.
KEPT: dict[str, Kind] = {**KINDS, SIGHTINGS.slug: SIGHTINGS}


def kinds_following(record: str) -> list[str]:
    return [slug for slug, kind in KEPT.items() if record in kind.follows]


# Keeping the rows ------------------------------------------------------------------------


Key = tuple[int, str, int, dt.date, dt.date]


def _day(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.UTC).date()


def _key(
    viewer: int, kind: str, agency: int | None, due_at: dt.datetime, until: dt.datetime | None
) -> Key:
    """A row's ``DueCount`` key."""
    return (
        viewer, kind, agency or 0, _day(due_at),
        DueCount.NO_END if until is None else _day(until),
    )  # fmt: skip


def counted(rows: QuerySet[DueItem], places: dict[TallyKey, int] | None = None) -> dict[Key, int]:
    """How many of these rows each ``DueCount`` key has, counted by the database (one
    query): the counts the rows must have. With ``places``, the sightings among them
    are also added to it by viewer and place (the tallies' ``sightings``), in the same
    query."""
    out: dict[Key, int] = {}
    columns: list[Any] = [
        "viewer_id",
        "kind",
        "agency_id",
        TruncDate("due_at", tzinfo=dt.UTC),
        TruncDate("until", tzinfo=dt.UTC),
    ]
    if places is not None:
        columns.append("sort_num")
    grouped = rows.order_by().values_list(*columns).annotate(rows=Count("pk"))
    for viewer, kind, agency, due_on, until_on, *place, n in grouped:
        key = (viewer, kind, agency or 0, due_on, until_on or DueCount.NO_END)
        out[key] = out.get(key, 0) + n
        if places is not None and kind == SIGHTINGS.slug:
            places[viewer, place[0]] = places.get((viewer, place[0]), 0) + n
    return out


def stored_counts(kinds: Iterable[str] | None = None) -> dict[Key, int]:
    """The kept counts (of ``kinds``, or all)."""
    rows = DueCount.objects.all()
    if kinds is not None:
        rows = rows.filter(kind__in=list(kinds))
    return {
        (viewer, kind, agency, due_on, until_on): n
        for viewer, kind, agency, due_on, until_on, n in rows.values_list(
            "viewer_id", "kind", "agency", "due_on", "until_on", "n"
        )
    }


COUNT_COLUMNS = ("viewer_id", "kind", "agency", "due_on", "until_on", "n")


def _apply(deltas: dict[Key, int]) -> None:
    """Add these changes to the kept counts: one ``INSERT ... ON CONFLICT DO UPDATE``
    adding to ``n`` a batch (PostgreSQL, and SQLite since 3.24), in key order so that two
    changes at once lock the counts in the same order; then delete the counts it left at
    0, known from the statement's ``RETURNING`` (no index on ``n``: a count's update
    touches no index, so PostgreSQL can make it a heap-only update)."""
    changes = sorted((key, n) for key, n in deltas.items() if n)
    if not changes:
        return
    table = connection.ops.quote_name(DueCount._meta.db_table)
    adapt = connection.ops.adapt_datefield_value
    returning = " RETURNING id, n" if any(n < 0 for _, n in changes) else ""
    types = db_types(DueCount, COUNT_COLUMNS)
    emptied: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(changes), CHUNK // 2):
            part = changes[start : start + CHUNK // 2]
            select, params = rows_sql(
                [
                    (viewer, kind, agency, adapt(due_on), adapt(until_on), n)
                    for (viewer, kind, agency, due_on, until_on), n in part
                ],
                types,
            )
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(COUNT_COLUMNS)}) "
                f"{select} ON CONFLICT (viewer_id, kind, due_on, until_on, agency) "
                f"DO UPDATE SET n = {table}.n + excluded.n{returning}",
                params,
            )
            if returning:
                emptied += [pk for pk, n in cursor.fetchall() if n <= 0]
    for start in range(0, len(emptied), CHUNK):
        DueCount.objects.filter(pk__in=emptied[start : start + CHUNK]).delete()


def _remove(
    rows: QuerySet[DueItem], deltas: dict[Key, int], places: dict[TallyKey, int] | None = None
) -> None:
    """Delete these rows, counting them out of ``deltas`` (and the sightings among them
    out of ``places``)."""
    removed: dict[TallyKey, int] | None = None if places is None else {}
    for key, n in counted(rows, removed).items():
        deltas[key] = deltas.get(key, 0) - n
    for key, n in (removed or {}).items():
        places[key] = places.get(key, 0) - n  # type: ignore[index]
    rows.delete()


def _current(items: Iterable[tuple[Kind, Item]]) -> Iterator[tuple[Kind, Item]]:
    """The items whose period is not over: one already over is shown at no time to come,
    so it is not kept (the repeat missing of years past would be most of the rows, read
    past by every count)."""
    now = timezone.now()
    return ((kind, item) for kind, item in items if item.until is None or item.until >= now)


# A kept row's columns, in the order ``_values`` gives them (and ``COPY`` writes them).
_COLUMNS = (
    "viewer_id", "kind", "child_id", "item_id", "due_at", "until", "agency_id",
    "sort_text", "sort_text2", "sort_num", "sort_flag", "sort_at",
)  # fmt: skip


def _values(
    items: Iterable[tuple[Kind, Item]], viewers: dict[int, list[int]]
) -> Iterator[tuple[Any, ...]]:
    """The kept rows of these items, as ``_COLUMNS``: one for each agency that may see
    the item's child, for the items whose period is not over."""
    for kind, item in _current(items):
        for viewer in viewers.get(item.child_id, ()):
            yield (
                viewer,
                kind.slug,
                item.child_id,
                item.item_id,
                item.due_at,
                item.until,
                item.agency_id,
                item.sort_text,
                item.sort_text2,
                item.sort_num,
                item.sort_flag,
                item.sort_at,
            )


def _items_of(
    children: QuerySet, kinds: list[Kind], viewers: dict[int, list[int]]
) -> Iterator[tuple[Kind, Item]]:
    """The items of these children on these lists (none to read if no one sees them)."""
    return ((kind, item) for kind in kinds for item in (kind.items(children) if viewers else ()))


def _rows(items: Iterable[tuple[Kind, Item]], viewers: dict[int, list[int]]) -> list[DueItem]:
    return [
        DueItem(**dict(zip(_COLUMNS, values, strict=True))) for values in _values(items, viewers)
    ]


def _insert(rows: list[DueItem], deltas: dict[Key, int]) -> int:
    """Insert these rows, counting them into ``deltas``."""
    bulk_insert(DueItem, _COLUMNS, rows)
    for row in rows:
        key = _key(row.viewer_id, row.kind, row.agency_id, row.due_at, row.until)
        deltas[key] = deltas.get(key, 0) + 1
    return len(rows)


def _write(
    children: QuerySet, kinds: list[Kind], viewers: dict[int, list[int]], deltas: dict[Key, int]
) -> int:
    """Insert the rows of these children, counting them into ``deltas``."""
    return _insert(_rows(_items_of(children, kinds, viewers), viewers), deltas)


def _copy(children: QuerySet, kinds: list[Kind], viewers: dict[int, list[int]]) -> int:
    """``rebuild``'s insert on PostgreSQL: the rows of these children as plain tuples,
    by ``COPY`` (a rebuild writes millions: model instances and ``bulk_create`` took most
    of its time). Counted afterwards by ``rebuild``, all at once."""
    # Read whole first: no other query may run on the connection during a COPY.
    rows = list(_values(_items_of(children, kinds, viewers), viewers))
    table = connection.ops.quote_name(DueItem._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN") as out,
    ):
        for row in rows:
            out.write_row(row)
    return len(rows)


def _viewers(child_ids: Iterable[int]) -> dict[int, list[int]]:
    viewers: dict[int, list[int]] = defaultdict(list)
    for child_id, agency_id in ChildVisibility.objects.filter(child_id__in=child_ids).values_list(
        "child_id", "agency_id"
    ):
        viewers[child_id].append(agency_id)
    return viewers


def _lock(child_ids: list[int]) -> None:
    list(
        Child.objects.select_for_update()
        .filter(pk__in=child_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def sync_children(
    child_ids: Iterable[int | None],
    kinds: Iterable[str] | None = None,
    *,
    items: Iterable[int] | None = None,
) -> int:
    """Recompute these children's rows (of ``kinds``, or all) in the caller's transaction.
    The children are locked (in id order, as ``incidents.visibility`` locks them), so two
    changes to one child at once bring its rows up to date one after the other.
    With ``items`` (record ids, for kinds ``by_item`` only), only those records' rows
    are computed again (see ``_sync_items``).
    Returns how many rows were written."""
    ids = sorted({pk for pk in child_ids if pk is not None})
    chosen = [KEPT[slug] for slug in (kinds or KEPT)]
    if not ids or not chosen or _paused.get():
        return 0
    if items is not None:
        return _sync_items(ids, chosen, sorted(set(items)))
    written = 0
    with transaction.atomic():
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            _lock(chunk)
            viewers = _viewers(chunk)
            deltas: dict[Key, int] = {}
            # The sightings' changes by viewer and place, for the hotspots' tallies.
            places: dict[TallyKey, int] | None = {} if SIGHTINGS in chosen else None
            _remove(
                DueItem.objects.filter(child_id__in=chunk, kind__in=[k.slug for k in chosen]),
                deltas,
                places,
            )
            rows = _rows(_items_of(Child.objects.filter(pk__in=chunk), chosen, viewers), viewers)
            written += _insert(rows, deltas)
            _apply(deltas)
            if places is not None:
                _place_children(chunk, _latest_at_places(rows), _sightings_added(rows, places))
    return written


def _sync_items(child_ids: list[int], kinds: list[Kind], pks: list[int]) -> int:
    """``sync_children`` for these records of the children only (the e-mail worker's
    batch: a claim, the deliveries of a slice), whatever else the children have: the
    children locked by the caller (the worker locks them first, as every change to
    notifications does: ``notifications.models.lock_children``), the records' rows of ``kinds``
    deleted, and those the records still have written; who sees the children is read
    only when there are any (a delivered notification has none). A few statements
    however many records and rows the children have. No savepoint: it only runs inside
    the worker's transaction, which fails whole."""
    if not pks:
        return 0
    if not all(kind.by_item for kind in kinds):
        raise ValueError(f"Kept by child only: {[k.slug for k in kinds if not k.by_item]}")
    written = 0
    deltas: dict[Key, int] = {}
    with transaction.atomic(savepoint=False):
        for start in range(0, len(pks), CHUNK):
            chunk = pks[start : start + CHUNK]
            # Found by id (dueitem_notification_idx), not among the children's rows.
            _remove(
                DueItem.objects.filter(kind__in=[k.slug for k in kinds], item_id__in=chunk),
                deltas,
            )
            children = Child.objects.filter(pk__in=child_ids)
            found = [(kind, item) for kind in kinds for item in kind.items(children, chunk)]
            if found:
                rows = _rows(found, _viewers({item.child_id for _kind, item in found}))
                written += _insert(rows, deltas)
        _apply(deltas)
    return written


# The hotspots' tallies -------------------------------------------------------------------

# (viewer, place, child) of a ``PlaceChild`` row; (viewer, place) of a ``PlaceTally``.
PlaceKey = tuple[int, int, int]
TallyKey = tuple[int, int]


def _latest_at_places(rows: Iterable[DueItem]) -> dict[PlaceKey, dt.datetime]:
    """Each child's latest sighting at each place among these kept rows, for each viewer:
    the ``PlaceChild`` rows of the children they are all the rows of. The rows kept are
    those whose period is not over (``_current``), so none is before the default
    period's start, which the tallies' start never passes (``roll_places``)."""
    latest: dict[PlaceKey, dt.datetime] = {}
    for row in rows:
        if row.kind == SIGHTINGS.slug and row.sort_at is not None:
            key = (row.viewer_id, row.sort_num, row.child_id)
            if key not in latest or row.sort_at > latest[key]:
                latest[key] = row.sort_at
    return latest


def _sightings_added(rows: Iterable[DueItem], places: dict[TallyKey, int]) -> dict[TallyKey, int]:
    """``places`` (the sightings deleted, counted out) with these rows' sightings added."""
    for row in rows:
        if row.kind == SIGHTINGS.slug:
            key = (row.viewer_id, row.sort_num)
            places[key] = places.get(key, 0) + 1
    return places


def _place_children(
    child_ids: list[int], latest: dict[PlaceKey, dt.datetime], sightings: dict[TallyKey, int]
) -> None:
    """Make these children's ``PlaceChild`` rows ``latest``: the rows that differ deleted
    and inserted, and the tallies changed by what was deleted (as the delete returns it)
    and inserted, and by the change in their ``sightings``."""
    old = {
        (viewer, place, child): at
        for viewer, place, child, at in PlaceChild.objects.filter(
            child_id__in=child_ids
        ).values_list("viewer_id", "place", "child_id", "latest_at")
    }
    gone = sorted(key for key, at in old.items() if latest.get(key) != at)
    added = sorted((key, at) for key, at in latest.items() if old.get(key) != at)
    changes: dict[TallyKey, int] = defaultdict(int)
    raised: dict[TallyKey, dt.datetime] = {}
    recount: set[TallyKey] = set()
    for viewer, place, child in _delete_place_children(gone):
        changes[viewer, place] -= 1
        now_at = latest.get((viewer, place, child))
        if now_at is None or now_at < old[viewer, place, child]:
            # Perhaps the place's latest: worked out again from the rows left.
            recount.add((viewer, place))
    bulk_insert(
        PlaceChild,
        ("viewer_id", "place", "child_id", "latest_at"),
        [
            PlaceChild(viewer_id=viewer, place=place, child_id=child, latest_at=at)
            for (viewer, place, child), at in added
        ],
    )
    for (viewer, place, _child), at in added:
        changes[viewer, place] += 1
        raised[viewer, place] = max(at, raised.get((viewer, place), at))
    _tally(changes, raised, recount, sightings)


def _delete_place_children(keys: list[PlaceKey]) -> list[PlaceKey]:
    """Delete these ``PlaceChild`` rows: those deleted (not those already gone)."""
    table = connection.ops.quote_name(PlaceChild._meta.db_table)
    deleted: list[PlaceKey] = []
    with connection.cursor() as cursor:
        for start in range(0, len(keys), CHUNK // 4):
            part = keys[start : start + CHUNK // 4]
            select, params = rows_sql(
                [(child, viewer, place) for viewer, place, child in part],
                db_types(PlaceChild, ("child_id", "viewer_id", "place")),
            )
            cursor.execute(
                f"DELETE FROM {table} WHERE (child_id, viewer_id, place) IN "  # noqa: S608 (no input in the SQL)
                f"({select}) RETURNING viewer_id, place, child_id",
                params,
            )
            deleted += [tuple(row) for row in cursor.fetchall()]
    return deleted


TALLY_COLUMNS = ("viewer_id", "place", "children", "sightings", "latest")


def _tally(
    changes: dict[TallyKey, int],
    raised: dict[TallyKey, dt.datetime],
    recount: set[TallyKey],
    sightings: dict[TallyKey, int],
) -> None:
    """Add ``changes`` to the tallies' children and ``sightings`` to their sightings and
    raise their latest to ``raised``: one ``INSERT ... ON CONFLICT DO UPDATE`` a batch,
    in key order (two changes at once lock the tallies in the same order); then work out
    again the latest of those ``recount`` (a latest row deleted or moved earlier) from
    the rows, the tally locked already by the insert, and delete the tallies fallen to 0."""
    changes = {key: n for key, n in changes.items() if n}
    sightings = {key: n for key, n in sightings.items() if n}
    keys = sorted(changes.keys() | sightings.keys() | raised.keys() | recount)
    if not keys:
        return
    table = connection.ops.quote_name(PlaceTally._meta.db_table)
    rows = connection.ops.quote_name(PlaceChild._meta.db_table)
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for start in range(0, len(keys), CHUNK // 4):
            part = keys[start : start + CHUNK // 4]
            select, params = rows_sql(
                [
                    (*key, changes.get(key, 0), sightings.get(key, 0), adapt(raised.get(key)))
                    for key in part
                ],
                db_types(PlaceTally, TALLY_COLUMNS),
            )
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(TALLY_COLUMNS)}) "
                f"{select} ON CONFLICT (viewer_id, place) DO UPDATE "
                f"SET children = {table}.children + excluded.children, "
                f"sightings = {table}.sightings + excluded.sightings, latest = {greatest}("
                f"COALESCE({table}.latest, excluded.latest), "
                f"COALESCE(excluded.latest, {table}.latest))",
                params,
            )
        recounted = sorted(recount)
        emptied = sorted(
            key for key in keys if changes.get(key, 0) < 0 or sightings.get(key, 0) < 0
        )
        key_types = db_types(PlaceTally, TALLY_COLUMNS[:2])
        for start in range(0, len(recounted), CHUNK // 4):
            select, params = rows_sql(recounted[start : start + CHUNK // 4], key_types)
            cursor.execute(
                f"UPDATE {table} SET latest = (SELECT MAX(r.latest_at) FROM {rows} r "  # noqa: S608 (no input in the SQL)
                f"WHERE r.viewer_id = {table}.viewer_id AND r.place = {table}.place) "
                f"WHERE (viewer_id, place) IN ({select})",
                params,
            )
        for start in range(0, len(emptied), CHUNK // 4):
            select, params = rows_sql(emptied[start : start + CHUNK // 4], key_types)
            cursor.execute(
                f"DELETE FROM {table} WHERE children <= 0 AND sightings <= 0 "  # noqa: S608 (no input in the SQL)
                f"AND (viewer_id, place) IN ({select})",
                params,
            )


def _rebuild_places(now: dt.datetime) -> dt.datetime:
    """``rebuild``'s: the ``PlaceChild`` rows and tallies anew from the kept sightings,
    starting at the default period's start now (returned, for ``DueState.places_since``):
    a row for each viewer, place and child with a kept sighting."""
    since = now - dt.timedelta(days=Filters().days)
    PlaceChild.objects.all().delete()
    PlaceTally.objects.all().delete()
    rows = connection.ops.quote_name(PlaceChild._meta.db_table)
    table = connection.ops.quote_name(PlaceTally._meta.db_table)
    items = connection.ops.quote_name(DueItem._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {rows} (viewer_id, place, child_id, latest_at) "  # noqa: S608 (no input in the SQL)
            f"SELECT viewer_id, sort_num, child_id, MAX(sort_at) FROM {items} WHERE kind = %s "
            "GROUP BY viewer_id, sort_num, child_id",
            [SIGHTINGS.slug],
        )
        # Every kept sighting has its child's row there (those of a rebuild are all in the
        # period, ``_current``; any before it are counted out by the pages and deleted by
        # the next pass, as those a change leaves).
        cursor.execute(
            f"INSERT INTO {table} (viewer_id, place, children, sightings, latest) "  # noqa: S608 (no input in the SQL)
            "SELECT c.viewer_id, c.place, c.n, COALESCE(s.n, 0), c.latest FROM "
            f"(SELECT viewer_id, place, COUNT(*) AS n, MAX(latest_at) AS latest FROM {rows} "
            "GROUP BY viewer_id, place) c LEFT JOIN "
            f"(SELECT viewer_id, sort_num AS place, COUNT(*) AS n FROM {items} WHERE kind = %s "
            "GROUP BY viewer_id, sort_num) s ON s.viewer_id = c.viewer_id AND s.place = c.place",
            [SIGHTINGS.slug],
        )
    return since


def roll_places(now: dt.datetime | None = None) -> int:
    """Move the tallies' start on to the default period's start (the scheduler's, each
    pass): the ``PlaceChild`` rows before it, and the kept sightings whose period is
    over (shown at no time to come), deleted and counted out of their tallies (and the
    sightings out of ``DueCount``). Proportional to the rows fallen out since the last
    pass (``placechild_at_idx``, ``dueitem_sighting_until_idx``). Their children are
    locked first, in id order, as a change to them locks them (``sync_children``): the
    pass then takes the rows' and tallies' locks in the same order as the changes do. A
    change to another child kept at the same time that writes a row before the new start
    only leaves rows the pages count out and the next pass deletes. Returns how many
    ``PlaceChild`` rows were deleted."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=Filters().days)
    state = list(DueState.objects.filter(pk=1).values_list("places_since", flat=True))
    if state and state[0] is not None and state[0] >= since:
        return 0
    table = connection.ops.quote_name(PlaceChild._meta.db_table)
    over = DueItem.objects.filter(kind=SIGHTINGS.slug, until__lt=now)
    with transaction.atomic(), connection.cursor() as cursor:
        # The sightings over (their ids) and the children of the rows fallen out (no id),
        # in one query.
        fallen = PlaceChild.objects.filter(latest_at__lt=since).annotate(
            none=Value(None, output_field=BigIntegerField())
        )
        rows = list(
            over.values_list("pk", "child_id").union(
                fallen.values_list("none", "child_id"), all=True
            )
        )
        sightings = [(pk, child) for pk, child in rows if pk is not None]
        children = sorted({child for _pk, child in rows})
        for start in range(0, len(children), CHUNK):
            _lock(children[start : start + CHUNK])
        cursor.execute(
            f"DELETE FROM {table} WHERE latest_at < %s RETURNING viewer_id, place",  # noqa: S608 (no input in the SQL)
            [connection.ops.adapt_datetimefield_value(since)],
        )
        changes: dict[TallyKey, int] = defaultdict(int)
        deleted = cursor.fetchall()
        for viewer, place in deleted:
            changes[viewer, place] -= 1
        # The sightings read before their children were locked, as they are now.
        deltas: dict[Key, int] = {}
        places: dict[TallyKey, int] = {}
        for start in range(0, len(sightings), CHUNK):
            part = [pk for pk, _child in sightings[start : start + CHUNK]]
            _remove(DueItem.objects.filter(pk__in=part), deltas, places)
        _apply(deltas)
        _tally(changes, {}, set(), places)
        if state:
            DueState.objects.filter(pk=1).update(places_since=since)
        else:  # a new database (no row: filled)
            DueState.objects.create(pk=1, built_at=now, places_since=since)
    return len(deleted)


def place_differences() -> list[tuple[Any, ...]]:
    """The ``PlaceChild`` rows in the period that are not the kept sightings' (missing,
    extra or another time), and the tallies that are not their rows counted (children,
    sightings and latest)."""
    since = timezone.now() - dt.timedelta(days=Filters().days)
    expected = _latest_at_places(DueItem.objects.filter(kind=SIGHTINGS.slug, sort_at__gte=since))
    stored = {
        (viewer, place, child): at
        for viewer, place, child, at in PlaceChild.objects.values_list(
            "viewer_id", "place", "child_id", "latest_at"
        )
    }
    found: list[tuple[Any, ...]] = [
        ("row", *key)
        for key in sorted(expected.keys() | {k for k, at in stored.items() if at >= since})
        if expected.get(key) != stored.get(key)
    ]
    counted: dict[TallyKey, tuple[int, int, dt.datetime | None]] = {}
    for (viewer, place, _child), at in stored.items():
        n, seen, latest = counted.get((viewer, place), (0, 0, at))
        counted[viewer, place] = (n + 1, seen, max(latest or at, at))
    for viewer, place, seen in (
        DueItem.objects.filter(kind=SIGHTINGS.slug)
        .order_by()
        .values_list("viewer_id", "sort_num")
        .annotate(n=Count("pk"))
    ):
        n, _seen, latest = counted.get((viewer, place), (0, 0, None))
        counted[viewer, place] = (n, seen, latest)
    tallies = {
        (viewer, place): (n, seen, latest)
        for viewer, place, n, seen, latest in PlaceTally.objects.values_list(
            "viewer_id", "place", "children", "sightings", "latest"
        )
    }
    found += [
        ("tally", *key)
        for key in sorted(counted.keys() | tallies.keys())
        if counted.get(key) != tallies.get(key)
    ]
    return found


@contextmanager
def paused() -> Iterator[None]:
    """Keep nothing inside the block (a bulk load): call ``rebuild`` after it."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


@transaction.atomic
def rebuild(kinds: Iterable[str] | None = None, *, chunk: int = 5000) -> int:
    """Fill the table anew (of ``kinds``, or all), reading the children by ranges of
    ids. Returns how many rows were written."""
    chosen = [KEPT[slug] for slug in (kinds or KEPT)]
    slugs = [k.slug for k in chosen]
    DueItem.objects.filter(kind__in=slugs).delete()
    DueCount.objects.filter(kind__in=slugs).delete()
    bounds = Child.objects.aggregate(low=Min("pk"), high=Max("pk"))
    written = 0
    if bounds["low"] is not None:
        for low in range(bounds["low"], bounds["high"] + 1, chunk):
            children = Child.objects.filter(pk__gte=low, pk__lt=low + chunk)
            viewers: dict[int, list[int]] = defaultdict(list)
            for child_id, agency_id in ChildVisibility.objects.filter(
                child_id__gte=low, child_id__lt=low + chunk
            ).values_list("child_id", "agency_id"):
                viewers[child_id].append(agency_id)
            if connection.vendor == "postgresql":
                written += _copy(children, chosen, viewers)
            else:
                written += _write(children, chosen, viewers, {})
    # Counted by the database, all at once, rather than a batch at a time.
    _apply(counted(DueItem.objects.filter(kind__in=slugs)))
    values: dict[str, Any] = _thresholds([k.slug for k in chosen])
    if SIGHTINGS in chosen:
        values["places_since"] = _rebuild_places(timezone.now())
    if kinds is None:
        values |= {"filled": True, "built_at": timezone.now()}
    if values:
        DueState.objects.update_or_create(
            pk=1, defaults=values, create_defaults={"built_at": timezone.now(), **values}
        )
    return written


def differences() -> dict[str, list[tuple[Any, ...]]]:
    """(viewer, kind, item) rows missing from the table or extra in it, and those whose
    times or order differ, against the rows computed afresh; and the ``DueCount`` keys
    whose kept count is not the number of rows kept (for the command's check), and the
    hotspots' rows and tallies that differ (``place_differences``). Rows whose period
    is over are left out of the first three (shown at no time to come)."""

    def key(row: Any) -> tuple[Any, ...]:
        return (row.viewer_id, row.kind, row.item_id)

    def fields(row: Any) -> tuple[Any, ...]:
        return (
            row.child_id, row.due_at, row.until, row.agency_id, row.sort_text,
            row.sort_text2, row.sort_num, row.sort_flag, row.sort_at,
        )  # fmt: skip

    current = Q(until__isnull=True) | Q(until__gte=timezone.now())
    stored = {key(row): fields(row) for row in DueItem.objects.filter(current)}
    kept_counts, rows_counted = stored_counts(), counted(DueItem.objects.all())
    with transaction.atomic():
        rebuild()
        expected = {key(row): fields(row) for row in DueItem.objects.filter(current)}
        transaction.set_rollback(True)
    return {
        "missing": sorted(k for k in expected if k not in stored),
        "extra": sorted(k for k in stored if k not in expected),
        "different": sorted(k for k in expected if k in stored and stored[k] != expected[k]),
        "counts": sorted(
            k
            for k in kept_counts.keys() | rows_counted.keys()
            if kept_counts.get(k) != rows_counted.get(k)
        ),
        "places": place_differences(),
    }


# Reading the rows ------------------------------------------------------------------------


def may_keep(user: User, filters: Filters) -> bool:
    """Whether the rows can answer for this manager: no filter set (the rows carry the
    scope and the default period only). The table must be filled too (``unfilled``)."""
    return filters == Filters() and user.agency_id is not None


def unfilled() -> QuerySet[DueState]:
    """Not empty until the table is filled (to be counted with the lists' counts)."""
    return DueState.objects.filter(filled=False)


def ready(user: User, filters: Filters) -> bool:
    """Whether this list can be read from the kept rows (one query)."""
    return may_keep(user, filters) and not unfilled().exists()


def download_from_kept(user: User, slug: str, filters: Filters) -> bool:
    """Whether this list's download is read from the kept rows (``download_values``):
    a list whose raw query counts and sorts every row before giving the first
    (``Kind.download_kept``), when the rows can answer (``ready``)."""
    kind = KINDS.get(slug)
    return bool(kind and kind.download_kept) and ready(user, filters)


def shown(user: User, slug: str, now: dt.datetime) -> QuerySet[DueItem]:
    """The manager's rows of a list, now, in the list's order."""
    return (
        DueItem.objects.filter(viewer_id=user.agency_id, kind=slug, due_at__lt=now)
        .filter(Q(until__isnull=True) | Q(until__gte=now))
        .order_by(*KINDS[slug].order)
    )


def _today(now: dt.datetime) -> tuple[dt.date, dt.datetime, dt.datetime]:
    """Today (UTC), and when it starts and ends."""
    today = _day(now)
    start = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    return today, start, start + dt.timedelta(days=1)


def _count_parts(user: User, slug: str, now: dt.datetime) -> tuple[QuerySet, QuerySet, QuerySet]:
    """What ``shown`` counts, in three parts that do not overlap: the kept counts of the
    keys due before today that end after today (every row of them is on the list all
    day), the rows due today (on the list if due before now and not yet ended), and the
    rows due before today that end today (if not yet ended)."""
    today, start, end = _today(now)
    sums = DueCount.objects.filter(
        viewer_id=user.agency_id, kind=slug, due_on__lt=today, until_on__gt=today
    )
    due_today = DueItem.objects.filter(
        Q(until__isnull=True) | Q(until__gte=now),
        viewer_id=user.agency_id,
        kind=slug,
        due_at__gte=start,
        due_at__lt=now,
    )
    ending_today = DueItem.objects.filter(
        viewer_id=user.agency_id,
        kind=slug,
        until__gte=now,
        until__lt=end,
        due_at__lt=start,
    )
    return sums, due_today, ending_today


def total(user: User, slug: str, now: dt.datetime) -> queries.Total:
    """How many rows ``shown`` has, from the kept counts: for ``queries.counts``."""
    sums, due_today, ending_today = _count_parts(user, slug, now)
    parts = [
        queries.compiled_sql(sums.order_by().values("n")),
        queries.compiled_sql(due_today.order_by().values("pk")),
        queries.compiled_sql(ending_today.order_by().values("pk")),
    ]
    sql = (
        f"SELECT COALESCE((SELECT SUM(s.n) FROM ({parts[0][0]}) s), 0)"  # noqa: S608 (ORM-compiled)
        f" + (SELECT COUNT(*) FROM ({parts[1][0]}) t)"
        f" + (SELECT COUNT(*) FROM ({parts[2][0]}) e)"
    )
    return queries.Total(sql, [p for part in parts for p in part[1]])


def notification_groups(user: User, now: dt.datetime) -> list[dict[str, Any]]:
    """``queries.notifications_overdue_by_agency`` of the manager's overdue notifications
    now, from the kept counts (one query), in the same order."""
    sums, due_today, ending_today = _count_parts(user, "notifications_overdue", now)
    name = Agency.objects.filter(pk=OuterRef("agency")).values("name")[:1]
    parts = sums.order_by().values("agency").annotate(name=Subquery(name), count=Sum("n"))
    for rows in (due_today, ending_today):
        parts = parts.union(
            rows.order_by().values("agency_id", "sort_text").annotate(count=Count("pk")),
            all=True,
        )
    found: dict[int, list[Any]] = {}
    for agency, agency_name, n in parts.values_list("agency", "name", "count"):
        group = found.setdefault(agency or 0, [agency or None, agency_name, 0])
        group[1] = group[1] or agency_name
        group[2] += n
    groups = [
        {"agency_id": agency, "agency": name or "No agency found", "count": n, "_name": name}
        for agency, name, n in found.values()
        if n
    ]
    # As the database orders the raw list's groups: most first, then by name, an agency
    # with no name (none) where the database puts NULL.
    last = connection.features.nulls_order_largest
    groups.sort(key=lambda g: (-g["count"], (g["_name"] is None) == last, g["_name"] or ""))
    for group in groups:
        del group["_name"]
    return groups


def records(slug: str, rows: list[DueItem], now: dt.datetime | None = None) -> list[Any]:
    """The records of a page of rows, in the rows' order, with what they show at ``now``
    (a list of children): one query."""
    kind = KINDS[slug]
    field = kind.record_field
    fetched = kind.fetch([getattr(row, field) for row in rows])
    if kind.shown_at is not None:
        fetched = kind.shown_at(fetched, now or timezone.now())
    found = {record.pk: record for record in fetched}
    out = []
    for row in rows:
        record = found.get(getattr(row, field))
        if record is None:  # pragma: no cover - kept in the same transaction
            continue
        if slug == "stuck_cases":
            record.failed_attempts = row.sort_num
            record.declined_each_time = row.sort_flag
        out.append(record)
    return out


# The hotspots, from the kept sightings --------------------------------------------------


def _sightings_shown(user: User, now: dt.datetime) -> QuerySet[DueItem]:
    """The manager's kept sightings in the default period, now (``dueitem_sighting_idx``:
    the range of the period's rows, whatever the history)."""
    return DueItem.objects.filter(
        viewer_id=user.agency_id, kind=SIGHTINGS.slug, until__gte=now, due_at__lt=now
    )


def _place_sightings(user: User, now: dt.datetime, places: list[int]) -> QuerySet[DueItem]:
    """The manager's kept sightings of these places in the default period, now, by the
    sighting's time (``dueitem_sighting_place_idx``: a range of each place's rows), the
    same rows as ``_sightings_shown``'s."""
    return DueItem.objects.filter(
        viewer_id=user.agency_id,
        kind=SIGHTINGS.slug,
        sort_num__in=places,
        sort_at__gte=now - dt.timedelta(days=Filters().days),
        sort_at__lte=now,
    )


def _grouped_places_sql(user: User, now: dt.datetime) -> tuple[str, list[Any]]:
    """``queries.hotspot_places_sql`` with no filter set, from the manager's kept
    sightings: the period's rows read from one index range, grouped by place and child,
    then by place. None for someone without a case role, as there."""
    return queries.places_grouped_sql(
        queries.compiled_sql(
            _sightings_shown(user, now)
            .order_by()
            .values(place=F("sort_num"), who=F("child_id"))
            .annotate(latest=Max("sort_at"), n=Count("pk"))
        ),
        nobody=not has_case_role(user),
    )


def _tallies_answer_sql(user: User, now: dt.datetime) -> tuple[str, list[Any]]:
    """ "The tallies answer for this manager now", as SQL: their start is not after the
    period's (not so when looking back before the scheduler's last pass), and no row is
    after now (the latest of a place would be a time to come)."""
    state = connection.ops.quote_name(DueState._meta.db_table)
    rows = connection.ops.quote_name(PlaceChild._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    since = now - dt.timedelta(days=Filters().days)
    return (
        f"NOT EXISTS (SELECT 1 FROM {state} s WHERE s.id = 1 AND s.places_since > %s) "  # noqa: S608 (no input in the SQL)
        f"AND NOT EXISTS (SELECT 1 FROM {rows} f WHERE f.viewer_id = %s AND f.latest_at > %s)",
        [adapt(since), user.agency_id, adapt(now)],
    )


def _tallied_places_sql(user: User, now: dt.datetime) -> tuple[str, list[Any]]:
    """The hotspots from the tallies (place, children, latest, sightings): the manager's
    tallies with enough children (``placetally_busiest_idx``), less each place's
    children whose latest sighting there is before the period (the rows since the
    tallies' start, ``placechild_viewer_at_idx``) and sightings before the period (those
    whose period is over, ``dueitem_sighting_idx``): those fallen out since the
    scheduler's last pass, a few rows."""
    table = connection.ops.quote_name(PlaceTally._meta.db_table)
    rows = connection.ops.quote_name(PlaceChild._meta.db_table)
    items = connection.ops.quote_name(DueItem._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    since = now - dt.timedelta(days=Filters().days)
    nobody = "" if has_case_role(user) else "AND 1 = 0 "
    children = "t.children - COALESCE(x.n, 0)"
    return (
        f"SELECT t.place AS place, {children} AS children, t.latest AS latest, "  # noqa: S608 (no input in the SQL)
        f"t.sightings - COALESCE(y.n, 0) AS sightings FROM {table} t LEFT JOIN "
        f"(SELECT o.place AS place, COUNT(*) AS n FROM {rows} o WHERE o.viewer_id = %s "
        "AND o.latest_at < %s GROUP BY o.place) x ON x.place = t.place LEFT JOIN "
        f"(SELECT d.sort_num AS place, COUNT(*) AS n FROM {items} d WHERE d.viewer_id = %s "
        f"AND d.kind = '{SIGHTINGS.slug}' AND d.until < %s GROUP BY d.sort_num) y "
        f"ON y.place = t.place WHERE t.viewer_id = %s AND t.children >= %s "
        f"AND {children} >= %s {nobody}",
        [
            user.agency_id,
            adapt(since),
            user.agency_id,
            adapt(now),
            user.agency_id,
            queries.HOTSPOT_CHILDREN,
            queries.HOTSPOT_CHILDREN,
        ],
    )


def hotspot_places_sql(user: User, now: dt.datetime) -> tuple[str, list[Any]]:
    """``queries.hotspot_places_sql`` with no filter set, kept: from the tallies when
    they answer for the manager now (``_tallies_answer_sql``), else the kept sightings
    grouped. One query: on PostgreSQL the condition is worked out once, before either
    part is read, and only the part it chooses is."""
    answer, answer_params = _tallies_answer_sql(user, now)
    tallied, tallied_params = _tallied_places_sql(user, now)
    grouped, grouped_params = _grouped_places_sql(user, now)
    return (
        f"SELECT * FROM ({tallied}) a WHERE {answer} UNION ALL "  # noqa: S608 (no input in the SQL)
        f"SELECT * FROM ({grouped}) b WHERE NOT ({answer})",
        [*tallied_params, *answer_params, *grouped_params, *answer_params],
    )


def _hotspot_rows(
    user: User, filters: Filters, now: dt.datetime, limit: int | None, offset: int
) -> tuple[list[tuple[Any, ...]], bool]:
    """The rows of a page of hotspots (``queries.hotspot_page_sql``), and whether they
    were read from the kept sightings: with no filter set, in one query that also asks
    whether the rows are filled (if not, the records are read instead)."""
    if may_keep(user, filters):
        query, params = queries.hotspot_page_sql(
            hotspot_places_sql(user, now), limit=limit, offset=offset
        )
        flag, flag_params = queries.compiled_sql(unfilled().values("pk"))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT u.n, p.place, p.children, p.latest, p.sightings, p.description, "  # noqa: S608 (ORM-compiled)
                f"p.postcode, p.total FROM (SELECT COUNT(*) AS n FROM ({flag}) f) u "
                f"LEFT JOIN ({query}) p ON 1 = 1 "
                "ORDER BY p.children DESC, p.latest DESC, p.place",
                [*flag_params, *params],
            )
            rows = cursor.fetchall()
        if not rows[0][0]:
            return [row[1:] for row in rows if row[1] is not None], True
    query, params = queries.hotspot_page_sql(
        queries.hotspot_places_sql(user, filters, now), limit=limit, offset=offset
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall(), False


def hotspot_page(
    user: User, filters: Filters, now: dt.datetime, *, limit: int | None = None, offset: int = 0
) -> tuple[list[queries.Hotspot], int]:
    """``queries.hotspot_page``, from the kept sightings when no filter is set: two
    queries, the places and each one's latest ``HOTSPOT_SIGHTINGS_SHOWN`` sightings
    (``dueitem_sighting_place_idx``, newest first, stopped at the limit)."""
    rows, kept = _hotspot_rows(user, filters, now, limit, offset)
    if not rows and offset:
        # Past the last page: the first page, so the count is still known.
        return hotspot_page(user, filters, now, limit=limit, offset=0)
    spots, count = queries.hotspots_read(rows)
    if limit is None:
        _add_sightings(spots, user, filters, now, kept=kept)
    elif kept:
        _add_latest_sightings(spots, user, now)
    else:
        queries._add_latest_sightings(spots, user, filters, now)
    return spots, count


def hotspots(user: User, filters: Filters, now: dt.datetime) -> Iterator[queries.Hotspot]:
    """The hotspots with every sighting in the period (the download): the places read
    at once, their sightings a few places at a time as the file is written."""
    rows, kept = _hotspot_rows(user, filters, now, None, 0)
    spots, _count = queries.hotspots_read(rows)
    if kept and connection.vendor == "postgresql":
        return _streamed_sightings(spots, user, now)
    return queries.with_sightings(
        spots, lambda part: _add_sightings(part, user, filters, now, kept=kept)
    )


def _streamed_sightings(
    spots: list[queries.Hotspot], user: User, now: dt.datetime
) -> Iterator[queries.Hotspot]:
    """The hotspots each with every kept sighting in the period, one query read as it
    is written (a server-side cursor): the places' sightings in the places' order (the
    ids joined with their rank), each place's oldest first. The cursor is opened in a
    transaction that lasts while it is read (``spreadsheets.read_once``: outside one the
    whole result is stored before the first row)."""
    if not spots:
        return
    table = connection.ops.quote_name(DueItem._meta.db_table)
    child = connection.ops.quote_name(Child._meta.db_table)
    query = (
        "SELECT o.rank, d.item_id, d.child_id, d.sort_at, c.first_name, c.last_name "  # noqa: S608 (no input in the SQL)
        f"FROM {table} d INNER JOIN unnest(%s::integer[]) WITH ORDINALITY AS o(place, rank) "
        f"ON o.place = d.sort_num INNER JOIN {child} c ON c.id = d.child_id "
        f"WHERE d.viewer_id = %s AND d.kind = '{SIGHTINGS.slug}' "
        "AND d.sort_at >= %s AND d.sort_at <= %s ORDER BY o.rank, d.sort_at, d.item_id"
    )
    since = now - dt.timedelta(days=Filters().days)
    params = [[spot.location_id for spot in spots], user.agency_id, since, now]
    done = 0
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(query, params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            for rank, item_id, child_id, at, first, last in rows:
                while done < rank - 1:
                    yield spots[done]
                    done += 1
                spots[done].sightings.append(
                    queries.sighting(item_id % 2, item_id // 2, child_id, at, first, last)
                )
    yield from spots[done:]


def _add_sightings(
    spots: list[queries.Hotspot], user: User, filters: Filters, now: dt.datetime, *, kept: bool
) -> None:
    """Every sighting in the period of these places, oldest first: one query, from the
    kept sightings (``dueitem_sighting_place_idx``) when the places were."""
    if not kept:
        queries.add_sightings(spots, user, filters, now)
        return
    if not spots:
        return
    by_place = {spot.location_id: spot for spot in spots}
    rows = _place_sightings(user, now, list(by_place)).values_list(
        "sort_num", "item_id", "child_id", "child__first_name", "child__last_name", "sort_at"
    )
    for place, item_id, child_id, first, last, at in rows:
        by_place[place].sightings.append(
            queries.sighting(item_id % 2, item_id // 2, child_id, at, first, last)
        )
    for spot in spots:
        spot.sightings.sort(key=queries.sighting_order)


def _add_latest_sightings(spots: list[queries.Hotspot], user: User, now: dt.datetime) -> None:
    """Each place's latest ``HOTSPOT_SIGHTINGS_SHOWN`` sightings in the period, oldest of
    them first, in one query: each place's kept sightings read newest first and stopped
    at the limit (``dueitem_sighting_place_idx``), the children's names joined once. On
    PostgreSQL a lateral join over the places' ids (one small plan however many places;
    a union of a part per place took longer to plan than to run), elsewhere that union."""
    if not spots:
        return
    n = queries.HOTSPOT_SIGHTINGS_SHOWN
    since = now - dt.timedelta(days=Filters().days)
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(DueItem._meta.db_table)
        child = connection.ops.quote_name(Child._meta.db_table)
        query = (
            "SELECT s.sort_num, s.item_id %% 2, s.item_id / 2, s.child_id, s.sort_at, "  # noqa: S608 (no input in the SQL)
            "c.first_name, c.last_name FROM unnest(%s::integer[]) AS p(place) CROSS JOIN "
            f"LATERAL (SELECT d.sort_num, d.item_id, d.child_id, d.sort_at FROM {table} d "
            f"WHERE d.viewer_id = %s AND d.kind = '{SIGHTINGS.slug}' AND d.sort_num = p.place "
            "AND d.sort_at >= %s AND d.sort_at <= %s "
            "ORDER BY d.sort_at DESC, d.item_id DESC LIMIT %s) s "
            f"INNER JOIN {child} c ON c.id = s.child_id"
        )
        params = [[spot.location_id for spot in spots], user.agency_id, since, now, n]
    else:
        query, params = queries.latest_sightings_sql(
            [
                queries.compiled_sql(
                    _place_sightings(user, now, [spot.location_id])
                    .order_by("-sort_at", "-item_id")
                    .values_list(
                        "sort_num", F("item_id") % 2, F("item_id") / 2, "child_id", "sort_at"
                    )[:n]
                )
                for spot in spots
            ]
        )
    queries.read_latest_sightings(spots, query, params)


# What a list's download takes from the kept rows rather than from the records (the
# stuck cases' failed attempts and declines are counted when the row is kept).
KEPT_VALUES: dict[str, dict[str, str]] = {
    "stuck_cases": {"failed_attempts": "sort_num", "declined_each_time": "sort_flag"},
}


def download_values(
    user: User, slug: str, now: dt.datetime, fields: tuple[str, ...], size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """The ``fields`` of the records of the manager's rows of a list now, in the list's
    order (``shown``), as the raw list's ``values_list(*fields)`` gives them, ``size``
    rows at a time: the rows read by key (``keyset.rows``, through the list's index),
    then their records' fields by id, two queries a chunk, so the first rows come at
    once whatever the length of the list."""
    kind = KINDS[slug]
    kept = KEPT_VALUES.get(slug, {})
    read = [name for name in fields if name not in kept]
    columns = (
        kind.record_field,
        *kept.values(),
        *(name for key in kind.order for name in _key_names(key)),
    )
    rows = shown(user, slug, now).only(*columns)
    for chunk in itertools.batched(keyset.rows(rows, size, tie_break=("item_id",)), size):
        fetched = kind.fetch([getattr(row, kind.record_field) for row in chunk]).order_by()
        if kind.shown_at is not None:
            fetched = kind.shown_at(fetched, now)
        found = {pk: values for pk, *values in fetched.values_list("pk", *read)}
        out = []
        for row in chunk:
            values = found.get(getattr(row, kind.record_field))
            if values is None:  # pragma: no cover - kept in the same transaction
                continue
            given = dict(zip(read, values, strict=True))
            for name, column in kept.items():
                given[name] = getattr(row, column)
            out.append(tuple(given[name] for name in fields))
        yield out


def _key_names(key: Any) -> tuple[str, ...]:
    """The column of a kept list's order key (``"-sort_num"``, ``F("sort_text")``)."""
    if isinstance(key, str):
        return (key.lstrip("-"),)
    return (key.expression.name,)


def notifications_by_agency(rows: QuerySet[DueItem]) -> list[dict[str, Any]]:
    """``queries.notifications_overdue_by_agency`` from the kept rows (one query)."""
    return queries.notifications_overdue_by_agency(rows, "agency_id", "sort_text")


# Receivers (connected in OversightConfig.ready) ------------------------------------------


def _deleted_with(origin: Any, *models: type) -> bool:
    """A record deleted because its child (or episode) is: the child's or episode's own
    receiver brings the rows up to date."""
    model = getattr(origin, "model", type(origin))
    return model in models


def _child_of(model: type, pks: list[int]) -> list[int]:
    if model is Child:
        return list(pks)
    if model in (Placement, StrategyMeeting):
        return list(model.objects.filter(pk__in=pks).values_list("child_id", flat=True))
    if model is Episode:
        return list(Episode.objects.filter(pk__in=pks).values_list("child_id", flat=True))
    if model in (ReturnInterview, SafeAndWellCheck):
        return list(model.objects.filter(pk__in=pks).values_list("episode__child_id", flat=True))
    if model is InterviewAttempt:
        return list(
            model.objects.filter(pk__in=pks).values_list("interview__episode__child_id", flat=True)
        )
    return []


RECORDS = {
    Notification: "notification",
    ReturnInterview: "interview",
    InterviewAttempt: "attempt",
    Episode: "episode",
    SafeAndWellCheck: "check",
    Child: "child",
    Placement: "placement",
    StrategyMeeting: "meeting",
}


def record_saved(
    sender: Any, instance: Any, created: bool = False, raw: bool = False, **_: Any
) -> None:
    if raw or (sender is Child and created):  # a new child has nothing on any list yet
        return
    if sender is Child:
        child_ids = [instance.pk]
    elif sender in (Notification, Episode, Placement, StrategyMeeting):
        child_ids = [instance.child_id]
    else:
        child_ids = _child_of(sender, [instance.pk])
    sync_children(child_ids, kinds_following(RECORDS[sender]))


def record_deleted(sender: Any, instance: Any, origin: Any = None, **_: Any) -> None:
    if sender is Child or _deleted_with(origin, Child):
        return  # the rows go with the child
    if sender is Episode:
        # Everything about the episode went with it.
        sync_children([instance.child_id])
        return
    if _deleted_with(origin, Episode):
        return
    if sender in (Notification, Placement, StrategyMeeting):
        child_ids = [instance.child_id]
    elif sender is InterviewAttempt:
        child_ids = list(
            ReturnInterview.objects.filter(pk=instance.interview_id).values_list(
                "episode__child_id", flat=True
            )
        )
    else:
        child_ids = list(
            Episode.objects.filter(pk=instance.episode_id).values_list("child_id", flat=True)
        )
    sync_children(child_ids, kinds_following(RECORDS[sender]))


def child_deleting(sender: Any, instance: Child, **_: Any) -> None:
    """A child about to be deleted: its rows, which go with it, counted out first."""
    deltas: dict[Key, int] = {}
    places: dict[TallyKey, int] = {}
    _remove(DueItem.objects.filter(child_id=instance.pk), deltas, places)
    _apply(deltas)
    _place_children([instance.pk], {}, places)


def records_updated(sender: Any, model: type, pks: list[int], **_: Any) -> None:
    record = RECORDS.get(model)
    if record is not None:
        sync_children(_child_of(model, pks), kinds_following(record))


# The kept lists each notification field is read by (a change to others needs none).
NOTIFICATION_FIELD_KINDS = {
    "status": ("notifications_overdue", "notification_problems", "emails_failing"),
    "due_at": ("notifications_overdue",),
    "problem": ("notification_problems",),
    "created_at": ("notification_problems",),
    "responsible_agency": ("notifications_overdue", "emails_failing"),
    "delivery": ("emails_failing",),
    "failing_since": ("emails_failing",),
}


def notifications_written(
    sender: Any,
    child_ids: Iterable[int],
    fields: Iterable[str] | None = None,
    pks: Iterable[int] | None = None,
    **_: Any,
) -> None:
    kinds = set(kinds_following("notification"))
    if fields is not None:
        kinds = set()
        for name in fields:
            name = name.removesuffix("_id")
            kinds |= set(NOTIFICATION_FIELD_KINDS.get(name, kinds_following("notification")))
    if kinds:
        sync_children(child_ids, sorted(kinds), items=pks)


def visibility_changed(sender: Any, child_ids: Iterable[int], **_: Any) -> None:
    sync_children(child_ids)


def agency_saved(sender: Any, instance: Agency, raw: bool = False, **_: Any) -> None:
    """An agency renamed: its notifications' groups and order follow the name."""
    if raw:
        return
    DueItem.objects.filter(kind="notifications_overdue", agency_id=instance.pk).exclude(
        sort_text=instance.name
    ).update(sort_text=instance.name)


def _thresholds(kinds: Iterable[str]) -> dict[str, int]:
    """The rules' numbers the rows of these kinds are counted with (``DueState``)."""
    values = {}
    if "stuck_cases" in kinds:
        values["stuck_threshold"] = policy.stuck_failed_attempts()
    if "repeat_missing" in kinds:
        values["repeat_count"], values["repeat_days"] = policy.repeat_threshold()
    return values


def rule_changed(sender: Any, raw: bool = False, **_: Any) -> None:
    """A rule changed: when the stuck cases' threshold or the repeat threshold did (read
    afresh, not from the request's memo of the rules), count those lists again."""
    if raw:
        return
    with policy.fresh():
        now = _thresholds(["stuck_cases", "repeat_missing"])
        kept = DueState.objects.filter(pk=1).values(*now).first() or {}
        stale = [
            slug
            for slug, fields in (
                ("stuck_cases", ("stuck_threshold",)),
                ("repeat_missing", ("repeat_count", "repeat_days")),
            )
            if any(kept.get(name) != now[name] for name in fields)
        ]
        if stale:
            rebuild(stale)


def connect() -> None:
    from django.db.models.signals import post_delete, post_save, pre_delete

    from incidents import signals as incidents_signals
    from notifications import signals as notifications_signals
    from notifications.models import Rule

    for model in RECORDS:
        post_save.connect(record_saved, sender=model, dispatch_uid=f"due_{model.__name__}_saved")
        post_delete.connect(
            record_deleted, sender=model, dispatch_uid=f"due_{model.__name__}_deleted"
        )
    incidents_signals.records_updated.connect(records_updated, dispatch_uid="due_records")
    incidents_signals.visibility_changed.connect(visibility_changed, dispatch_uid="due_visible")
    notifications_signals.notifications_written.connect(
        notifications_written, dispatch_uid="due_notifications"
    )
    pre_delete.connect(child_deleting, sender=Child, dispatch_uid="due_child_deleting")
    post_save.connect(agency_saved, sender=Agency, dispatch_uid="due_agency_saved")
    post_save.connect(rule_changed, sender=Rule, dispatch_uid="due_rule_saved")
    post_delete.connect(rule_changed, sender=Rule, dispatch_uid="due_rule_deleted")
