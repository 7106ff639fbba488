"""The child's story: why and how a child goes missing, gathered across their episodes.

Built from the record for the child's page (``templates/incidents/children/_story.html``)
in a fixed number of queries whatever the number of episodes (STORY_QUERIES, with
associates when the person may see them): the database counts episodes by month, by
day and hour, and by place; only the push and pull factors, kept as JSON lists, are
counted here, from one query that reads those columns alone.

``last_times_found`` is the "Last times found" panel shown to whoever reports the child
missing again, and on the open episode's page: where the child was found the last few
times, who with, and (to those who may see them) their associates.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncMonth
from django.utils import timezone

from missingkids import policy

from .models import (
    OTHER_FACTOR,
    PULL_FACTORS,
    PUSH_FACTORS,
    AgreedAction,
    Associate,
    Child,
    Episode,
    ReturnInterview,
)

# Queries for the story, and one more for the associates when the person may see them.
STORY_QUERIES = 9
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


@dataclass
class PlaceCount:
    location_id: int
    description: str
    postcode: str
    count: int
    latest: dt.datetime

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


def _places(episodes: Any, prefix: str, at: str) -> list[PlaceCount]:
    rows = (
        episodes.filter(**{f"{prefix}__isnull": False})
        .values(f"{prefix}_id", f"{prefix}__description", f"{prefix}__postcode")
        .annotate(n=Count("id"), latest=Max(at))
        .order_by("-n", "-latest", f"{prefix}_id")[: policy.STORY_TOP_PLACES]
    )
    return [
        PlaceCount(
            row[f"{prefix}_id"],
            row[f"{prefix}__description"],
            row[f"{prefix}__postcode"] or "",
            row["n"],
            row["latest"],
        )
        for row in rows
    ]


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


def build_story(
    child: Child,
    *,
    may_see_associates: bool,
    now: dt.datetime | None = None,
    recent_days: int = policy.DEFAULT_REPEAT_DAYS,
) -> Story:
    """The story of ``child`` as at ``now``; ``may_see_associates`` from the person's
    standing (``Right.SEE_ASSOCIATES``), worked out by the page."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    episodes = Episode.objects.filter(child=child).order_by()

    # 1. How many, and how many recently.
    totals = episodes.aggregate(
        total=Count("id"),
        recent=Count("id", filter=Q(last_seen_at__gte=now - dt.timedelta(days=recent_days))),
    )
    # 2. By month last seen (local months), over the chart's months.
    months = month_starts(today, policy.STORY_MONTHS)
    since = timezone.make_aware(dt.datetime.combine(months[0], dt.time()))
    per_month: dict[dt.date, int] = dict.fromkeys(months, 0)
    for row in (
        episodes.filter(last_seen_at__gte=since, last_seen_at__lte=now)
        .annotate(month=TruncMonth("last_seen_at"))
        .values("month")
        .annotate(n=Count("id"))
        .order_by("month")
    ):
        month = row["month"]
        key = timezone.localtime(month) if isinstance(month, dt.datetime) else month
        key = dt.date(key.year, key.month, 1)
        if key in per_month:
            per_month[key] += row["n"]
    # 3. When they go: by day of the week and hour last seen (local time).
    bands = [0] * len(TIME_BANDS)
    days = [0] * 7
    for row in (
        episodes.annotate(day=ExtractIsoWeekDay("last_seen_at"), hour=ExtractHour("last_seen_at"))
        .values("day", "hour")
        .annotate(n=Count("id"))
        .order_by()
    ):
        days[row["day"] - 1] += row["n"]
        band = max(i for i, (start, _) in enumerate(TIME_BANDS) if row["hour"] >= start)
        bands[band] += row["n"]
    # 4. Push and pull factors cited at the interviews held.
    held = ReturnInterview.objects.filter(
        episode__child=child, outcome=ReturnInterview.Outcome.HELD
    ).order_by()
    factor_rows = list(held.values_list("push_factors", "push_other", "pull_factors", "pull_other"))
    # 5 and 6. The places they were last seen and found, most frequent first.
    last_seen = _places(episodes, "last_seen_location", "last_seen_at")
    found = _places(episodes, "found_location", "found_at")
    # 7. What the child said would help, latest first.
    would_help = list(
        held.exclude(what_would_help="")
        .values("episode_id", "held_at", "what_would_help")
        .order_by("-held_at", "-id")[: policy.STORY_LATEST_SHOWN]
    )
    # 8 and 9. The actions agreed for the child (at interviews, strategy meetings and in
    # supervision notes), and how many are done.
    actions = AgreedAction.objects.filter(child=child).order_by()
    action_counts = actions.aggregate(
        total=Count("id"), done=Count("id", filter=Q(state=AgreedAction.State.DONE))
    )
    action_rows = list(
        actions.values(
            "description",
            "owner_name",
            "owner_person__name",
            "owner_agency__name",
            "due_date",
            "state",
            "done_at",
            "agreed_on",
        ).order_by("-agreed_on", "-id")[: policy.STORY_LATEST_SHOWN * 2]
    )
    associates: list[Associate] = []
    if may_see_associates:
        associates = list(
            Associate.objects.filter(child=child).order_by("name", "id")[:ASSOCIATES_SHOWN]
        )
    return Story(
        total=totals["total"],
        recent=totals["recent"],
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
        actions_total=action_counts["total"],
        actions_done=action_counts["done"],
        may_see_associates=may_see_associates,
        today=today,
        associates=associates,
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
