"""The child's story: why and how a child goes missing, gathered across their episodes.

Built from the record for the story page (``templates/incidents/children/story.html``)
in a fixed number of queries whatever the number of episodes (STORY_QUERIES, with
associates when the person may see them): the database counts episodes by month, by
day and part of the day in one grouped query; the places come from one query of the
child's own links to places, and how many other children are linked to each place from
one more that walks an index (``_other_children``); only the push and pull factors,
kept as JSON lists, are counted here, from one query that reads those columns alone.

``last_times_found`` is the "Last times found" panel shown to whoever reports the child
missing again, and on the open episode's page: where the child was found the last few
times, who with, and (to those who may see them) their associates.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Case, Count, DateTimeField, F, IntegerField, Q, Value, When, Window
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, ExtractMonth, ExtractYear
from django.utils import timezone

from missingkids import policy

from . import access
from .models import (
    OTHER_FACTOR,
    PULL_FACTORS,
    PUSH_FACTORS,
    AgreedAction,
    Associate,
    Child,
    ChildVisibility,
    Episode,
    ReturnInterview,
)

# Queries for the story, and one more for the associates when the person may see them:
# the episodes' shape, the factors, what would help, the places, the other children at
# them, and the agreed actions.
STORY_QUERIES = 6
STORY_ASSOCIATE_QUERIES = 1
ASSOCIATES_SHOWN = 10

# The parts of the day a child goes missing in (local time), by the hour they start.
TIME_BANDS: list[tuple[int, str]] = [
    (0, "Night (midnight to 6am)"),
    (6, "Morning (6am to noon)"),
    (12, "Afternoon (noon to 6pm)"),
    (18, "Evening (6pm to midnight)"),
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# How a place is linked to the child, in the order shown.
HOWS = ("Last seen", "Found", "Goes there")
LAST_SEEN, FOUND, GOES = range(3)


@dataclass
class Place:
    """A place linked to the child: how, how often, when last, and how many other
    children the person may see are linked to it (up to
    ``policy.PLACE_OTHER_CHILDREN_COUNTED``)."""

    location_id: int
    description: str
    postcode: str
    hows: set[int] = field(default_factory=set)
    last_seen: int = 0
    last_seen_latest: dt.datetime | None = None
    found: int = 0
    found_latest: dt.datetime | None = None
    other_children: int = 0

    @property
    def place(self) -> str:
        return f"{self.description}, {self.postcode}" if self.postcode else self.description

    def __str__(self) -> str:
        return self.place

    @property
    def how(self) -> list[str]:
        return [HOWS[h] for h in sorted(self.hows)]

    @property
    def other_children_at_least(self) -> bool:
        """Counted up to the cap: there may be more."""
        return self.other_children >= policy.PLACE_OTHER_CHILDREN_COUNTED

    @property
    def latest(self) -> dt.datetime | None:
        return max((t for t in (self.last_seen_latest, self.found_latest) if t), default=None)


@dataclass
class PlaceCount:
    """A place in the "Where last seen" or "Where found" table: the child's episodes
    there, and the other children linked to it."""

    location_id: int
    description: str
    postcode: str
    count: int
    latest: dt.datetime
    other_children: int = 0
    other_children_at_least: bool = False

    @property
    def place(self) -> str:
        return f"{self.description}, {self.postcode}" if self.postcode else self.description


@dataclass
class Story:
    total: int
    recent: int
    recent_days: int
    months: list[tuple[dt.date, int]]
    push: list[tuple[str, int]]
    pull: list[tuple[str, int]]
    interviews_held: int
    last_seen_places: list[PlaceCount]
    found_places: list[PlaceCount]
    time_bands: list[tuple[str, int]]
    days: list[tuple[str, int]]
    would_help: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    actions_total: int
    actions_done: int
    may_see_associates: bool
    today: dt.date
    associates: list[Associate] = field(default_factory=list)
    # Every place linked to the child: where they go first, then the most recent
    # (``policy.STORY_PLACES_SHOWN`` of ``places_total``).
    places: list[Place] = field(default_factory=list)
    places_total: int = 0

    @property
    def factor_tables(self) -> list[tuple[str, list[tuple[str, int]], str]]:
        return [
            ("Push factors: what pushed them to go", self.push, "story-push"),
            ("Pull factors: what drew them away", self.pull, "story-pull"),
        ]

    @property
    def place_tables(self) -> list[tuple[str, list[PlaceCount], str]]:
        return [
            ("Where last seen", self.last_seen_places, "story-last-seen"),
            ("Where found", self.found_places, "story-found"),
        ]

    @property
    def usual_band(self) -> tuple[str, int] | None:
        return _most(self.time_bands)

    @property
    def usual_day(self) -> tuple[str, int] | None:
        return _most(self.days)

    @property
    def chart(self) -> Any:
        # The managers' accessible chart: an SVG with a title and description, and the
        # same numbers in a table.
        from oversight.charts import build_chart

        return build_chart(
            id="chart-story-episodes",
            title="Episodes by month",
            description=(
                f"Episodes a month, by the month last seen, over {len(self.months)} months."
            ),
            points=[(month.strftime("%b %y"), n) for month, n in self.months],
        )


def _most(counts: list[tuple[str, int]]) -> tuple[str, int] | None:
    """The most frequent (the first of equals); None when nothing is counted."""
    best = max(counts, key=lambda item: item[1], default=None)
    return best if best is not None and best[1] > 0 else None


def month_starts(today: dt.date, months: int) -> list[dt.date]:
    """The first day of each of the last ``months`` months, oldest first."""
    starts, year, month = [], today.year, today.month
    for _ in range(months):
        starts.append(dt.date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return starts[::-1]


def _factor_counts(
    rows: list[tuple[list[str], str]], choices: list[tuple[str, str]]
) -> list[tuple[str, int]]:
    names = dict(choices)
    counted: Counter[str] = Counter()
    for codes, other in rows:
        for code in set(codes or []):
            if code == OTHER_FACTOR and other:
                counted[f"Other: {other}"] += 1
            else:
                counted[names.get(code, code)] += 1
    return sorted(counted.items(), key=lambda item: (-item[1], item[0]))


def _shape(
    child: Child, *, now: dt.datetime, since: dt.datetime, recent_days: int
) -> list[dict[str, int]]:
    """The child's episodes counted by (month last seen, if within the chart; day of the
    week; part of the day), all in local time, with how many were recent: one grouped
    query of at most (STORY_MONTHS + 1) x 7 x 4 rows, whatever the number of episodes."""
    in_chart = Q(last_seen_at__gte=since, last_seen_at__lte=now)
    hour = ExtractHour("last_seen_at")
    return list(
        Episode.objects.filter(child=child)
        .alias(hour=hour)
        .annotate(
            month=Case(
                When(
                    in_chart, then=ExtractYear("last_seen_at") * 100 + ExtractMonth("last_seen_at")
                ),
                default=Value(0),
                output_field=IntegerField(),
            ),
            day=ExtractIsoWeekDay("last_seen_at"),
            band=Case(
                *[
                    When(Q(hour__lt=TIME_BANDS[i + 1][0]), then=Value(i))
                    for i in range(len(TIME_BANDS) - 1)
                ],
                default=Value(len(TIME_BANDS) - 1),
                output_field=IntegerField(),
            ),
        )
        .values("month", "day", "band")
        .annotate(
            n=Count("id"),
            recent=Count("id", filter=Q(last_seen_at__gte=now - dt.timedelta(days=recent_days))),
        )
        .order_by()
    )


def _links(child: Child) -> dict[int, Place]:
    """Every place linked to the child (last seen, found, where they go), with how often
    and when last: one query of the child's own rows (an episode gives at most two)."""

    def seen(prefix: str, how: int, at: str) -> Any:
        return (
            Episode.objects.filter(child=child, **{f"{prefix}__isnull": False})
            .annotate(how=Value(how), at=F(at))
            .values_list(
                f"{prefix}_id", f"{prefix}__description", f"{prefix}__postcode", "how", "at"
            )
            .order_by()
        )

    goes = (
        Child.frequented_locations.through.objects.filter(child=child)
        .annotate(how=Value(GOES), at=Value(None, output_field=DateTimeField()))
        .values_list("location_id", "location__description", "location__postcode", "how", "at")
        .order_by()
    )
    rows = (
        seen("last_seen_location", LAST_SEEN, "last_seen_at")
        .union(seen("found_location", FOUND, "found_at"), goes, all=True)
        .order_by()
    )  # Episode's default ordering names a column the union does not select
    places: dict[int, Place] = {}
    for location_id, description, postcode, how, at in rows:
        place = places.get(location_id)
        if place is None:
            place = places[location_id] = Place(location_id, description, postcode or "")
        place.hows.add(how)
        if how == LAST_SEEN:
            place.last_seen += 1
            if place.last_seen_latest is None or at > place.last_seen_latest:
                place.last_seen_latest = at
        elif how == FOUND:
            place.found += 1
            if place.found_latest is None or at > place.found_latest:
                place.found_latest = at
    return places


def _other_children(user: Any, child: Child, location_ids: list[int]) -> dict[int, int]:
    """For each place, how many children other than ``child`` the person may see are
    linked to it, counted up to ``policy.PLACE_OTHER_CHILDREN_COUNTED``: one query.

    It never reads a place's episodes: for each place a recursive query steps from one
    linked child to the next (the smallest child id above the last, for each way a child
    is linked to a place), each step one probe of an index on (place, child)
    (``episode_seen_place_child_idx``, ``episode_found_place_child_idx``,
    ``frequented_place_child_idx``), and stops at the cap of children the person may see.
    So a place with a million episodes costs what its children cost, one step each, and
    the count stays right for whoever looks: only children they may see are counted.
    """
    if not location_ids or not access.has_case_role(user):
        return {}
    episodes = Episode._meta.db_table
    goes = Child.frequented_locations.through._meta.db_table
    visible = ChildVisibility._meta.db_table
    cap = policy.PLACE_OTHER_CHILDREN_COUNTED

    def after(table: str, column: str) -> str:
        return (
            f"(SELECT MIN(child_id) FROM {table} "  # noqa: S608 (names from the models)
            f"WHERE {column} = walk.location_id AND child_id > walk.child_id)"
        )

    nexts = [
        after(episodes, "last_seen_location_id"),
        after(episodes, "found_location_id"),
        after(goes, "location_id"),
    ]
    # The next linked child: the least of the three, any of which may be NULL (none left).
    following = " UNION ALL ".join(f"SELECT {n} AS id" for n in nexts)
    seeds = " UNION ALL ".join(["SELECT CAST(%s AS BIGINT) AS location_id"] * len(location_ids))
    sql = f"""
        WITH RECURSIVE walk(location_id, child_id, counted) AS (
            SELECT seed.location_id, CAST(0 AS BIGINT), 0 FROM ({seeds}) seed
            UNION ALL
            SELECT walk.location_id,
                (SELECT MIN(linked.id) FROM ({following}) linked),
                walk.counted + CASE WHEN walk.child_id <> %s AND EXISTS (
                    SELECT 1 FROM {visible} v
                    WHERE v.agency_id = %s AND v.child_id = walk.child_id
                ) THEN 1 ELSE 0 END
            FROM walk
            WHERE walk.child_id IS NOT NULL AND walk.counted < %s
        )
        SELECT location_id, MAX(counted) FROM walk GROUP BY location_id
    """  # noqa: S608 (table names from the models, values as parameters)
    params = [*location_ids, child.pk, user.agency_id, cap]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {location_id: min(count, cap) for location_id, count in cursor.fetchall()}


def _top(places: list[Place], how: int) -> list[PlaceCount]:
    """The places most often linked this way, most frequent (then most recent) first."""
    counted = [
        PlaceCount(
            p.location_id,
            p.description,
            p.postcode,
            p.last_seen if how == LAST_SEEN else p.found,
            (p.last_seen_latest if how == LAST_SEEN else p.found_latest),  # type: ignore[arg-type]
        )
        for p in places
        if how in p.hows
    ]
    counted.sort(key=lambda p: (-p.count, -p.latest.timestamp(), p.location_id))
    return counted[: policy.STORY_TOP_PLACES]


def build_story(
    child: Child,
    *,
    user: Any,
    may_see_associates: bool,
    now: dt.datetime | None = None,
    recent_days: int = policy.DEFAULT_REPEAT_DAYS,
) -> Story:
    """The story of ``child`` as at ``now``, for ``user`` (whose agency's view of other
    children is counted at each place); ``may_see_associates`` from the person's
    standing (``Right.SEE_ASSOCIATES``), worked out by the page."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()

    # 1. How many, how many recently, by month, by day and part of the day.
    months = month_starts(today, policy.STORY_MONTHS)
    since = timezone.make_aware(dt.datetime.combine(months[0], dt.time()))
    per_month: dict[dt.date, int] = dict.fromkeys(months, 0)
    bands = [0] * len(TIME_BANDS)
    days = [0] * 7
    total = recent = 0
    for row in _shape(child, now=now, since=since, recent_days=recent_days):
        total += row["n"]
        recent += row["recent"]
        days[row["day"] - 1] += row["n"]
        bands[row["band"]] += row["n"]
        if row["month"]:
            key = dt.date(row["month"] // 100, row["month"] % 100, 1)
            if key in per_month:
                per_month[key] += row["n"]
    # 2. Push and pull factors cited at the interviews held.
    held = ReturnInterview.objects.filter(
        episode__child=child, outcome=ReturnInterview.Outcome.HELD
    ).order_by()
    factor_rows = list(held.values_list("push_factors", "push_other", "pull_factors", "pull_other"))
    # 3. What the child said would help, latest first.
    would_help = list(
        held.exclude(what_would_help="")
        .values("episode_id", "held_at", "what_would_help")
        .order_by("-held_at", "-id")[: policy.STORY_LATEST_SHOWN]
    )
    # 4 and 5. The places linked to the child, and the other children linked to them.
    linked = _links(child)
    last_seen = _top(list(linked.values()), LAST_SEEN)
    found = _top(list(linked.values()), FOUND)
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    # Where they go first, then the most recent.
    places = sorted(
        linked.values(),
        key=lambda p: (GOES not in p.hows, -(p.latest or oldest).timestamp(), p.location_id),
    )[: policy.STORY_PLACES_SHOWN]
    shown = {p.location_id for p in places} | {p.location_id for p in last_seen + found}
    others = _other_children(user, child, sorted(shown))
    for place in places:
        place.other_children = others.get(place.location_id, 0)
    for counted in last_seen + found:
        counted.other_children = others.get(counted.location_id, 0)
        counted.other_children_at_least = (
            counted.other_children >= policy.PLACE_OTHER_CHILDREN_COUNTED
        )
    places.sort(key=lambda p: (-p.other_children, p.description, p.location_id))
    # 6. The actions agreed for the child (at interviews, strategy meetings and in
    # supervision notes), the latest, with how many in all and how many are done.
    action_rows = list(
        AgreedAction.objects.filter(child=child)
        .annotate(
            total=Window(Count("id")),
            done=Window(Count("id", filter=Q(state=AgreedAction.State.DONE))),
        )
        .values(
            "description",
            "owner_name",
            "owner_person__name",
            "owner_agency__name",
            "due_date",
            "state",
            "done_at",
            "agreed_on",
            "total",
            "done",
        )
        .order_by("-agreed_on", "-id")[: policy.STORY_LATEST_SHOWN * 2]
    )
    associates: list[Associate] = []
    if may_see_associates:
        associates = list(
            Associate.objects.filter(child=child).order_by("name", "id")[:ASSOCIATES_SHOWN]
        )
    return Story(
        total=total,
        recent=recent,
        recent_days=recent_days,
        months=list(per_month.items()),
        push=_factor_counts([(push, other) for push, other, _, _ in factor_rows], PUSH_FACTORS),
        pull=_factor_counts([(pull, other) for _, _, pull, other in factor_rows], PULL_FACTORS),
        interviews_held=len(factor_rows),
        last_seen_places=last_seen,
        found_places=found,
        time_bands=[(label, n) for (_, label), n in zip(TIME_BANDS, bands, strict=True)],
        days=list(zip(DAYS, days, strict=True)),
        would_help=would_help,
        actions=action_rows,
        actions_total=action_rows[0]["total"] if action_rows else 0,
        actions_done=action_rows[0]["done"] if action_rows else 0,
        may_see_associates=may_see_associates,
        today=today,
        associates=associates,
        places=places,
        places_total=len(linked),
    )


# Last times found: for whoever searches for the child ---------------------------------


@dataclass
class LastFound:
    episode: Episode
    associates: list[Associate] = field(default_factory=list)


# One query, and one more for the associates when the person may see them.
LAST_FOUND_QUERIES = 1


def last_times_found(child: Child, *, may_see_associates: bool) -> list[LastFound]:
    """The child's last returns, latest first: where found, who with, and the associates
    recorded during them (only for someone who may see associates). One query, and one
    more for the associates."""
    episodes = list(
        Episode.objects.filter(child=child, found_at__isnull=False)
        .select_related("found_location", "interview")
        .order_by("-found_at", "-id")[: policy.STORY_LAST_FOUND]
    )
    found = [LastFound(episode) for episode in episodes]
    if may_see_associates:
        # The child's associates recorded during an episode: one query, episodes or not.
        by_episode = {item.episode.pk: item for item in found}
        for associate in Associate.objects.filter(child=child, episode__isnull=False).order_by(
            "name", "id"
        ):
            if associate.episode_id in by_episode:
                by_episode[associate.episode_id].associates.append(associate)
    return found
