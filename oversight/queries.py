"""The managers' lists and measures: one function each.

Every function takes the manager (the rows are limited to children they may see, via
``incidents.access.children_visible_to``), the ``Filters`` and ``now`` (so tests pin the
clock and a page and its CSV export agree), and returns a queryset the page paginates or
plain rows. Overdue is derived here from the stored deadline (``due_at``), never stored.

Indexes each list relies on (on the owning models):
- interviews overdue / due soon: ``interview_pending_due_idx`` (ReturnInterview.due_at
  where pending);
- notifications overdue: ``notification_due_idx`` (Notification.due_at where due);
- open episodes: ``episode_missing_idx`` (-risk_rank, last_seen_at where not found);
- strategy discussions overdue: ``episode_last_seen_idx`` (the page, in its order),
  ``episode_unclosed_seen_idx`` (the count: episodes not closed, by the earliest
  last-seen time, read from the index alone) and ``strategy_meeting_child_idx``
  (child, -held_on);
- repeat missing: ``episode_seen_at_child_idx`` (the period's children, from the index
  alone) and ``episode_child_seen_idx`` (child, -last_seen_at);
- rules that found no one to tell: ``notification_problem_idx`` (-created_at where a
  problem is recorded and not cancelled);
- safe and well and measures by the month found: ``episode_found_idx``; episodes by
  month: ``episode_last_seen_idx``;
- hotspots: ``episode_seen_sighting_idx`` and ``episode_found_sighting_idx`` (the
  period's sightings from the indexes alone), ``episode_seen_place_idx`` and
  ``episode_found_place_at_idx`` (a place's latest sightings);
- agreed actions overdue: ``agreed_action_open_due_idx`` (AgreedAction.due_date where
  open);
- stuck cases: ``attempt_interview_outcome_idx`` (InterviewAttempt interview, outcome),
  ``interview_declined_idx`` (declined_at where declined) and, for declines in a row,
  ``episode_child_seen_idx``;
- measures: ``interview_due_idx``, ``interview_held_idx`` (held_at where held) and
  ``notification_due_status_idx`` (due_at, status) bound each scan by the period;
- filters: the foreign keys' indexes, ``involvement_agency_idx`` and
  ``placement_host_idx``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from incidents import strategy_discussions as discussions
from incidents.access import has_case_role, visible_condition
from incidents.models import (
    PULL_FACTORS,
    PUSH_FACTORS,
    AgreedAction,
    Child,
    ChildVisibility,
    Episode,
    InterviewAttempt,
    Involvement,
    LegalStatus,
    Location,
    Placement,
    ReturnInterview,
    StrategyMeeting,
)
from incidents.visibility import involvement_current, placement_current
from missingkids import policy
from missingkids.accounts.models import LocalAuthorityArea, User
from notifications.models import Notification

from . import aggregates, medians
from .filters import Filters
from .models import ErasedCount, MonthlyCount

DUE_SOON = dt.timedelta(hours=24)
# A place is a hotspot when this many different children were found or last seen there.
HOTSPOT_CHILDREN = 2
# A page of hotspots shows each place's latest sightings, this many at most (the download
# has every one): a busy place has thousands in a year.
HOTSPOT_SIGHTINGS_SHOWN = 10

Pending = ReturnInterview.Outcome.PENDING


# Scope and filters -----------------------------------------------------------------------


def _scoped(
    queryset: QuerySet,
    user: User,
    filters: Filters,
    *,
    child: str,
    episode: str | None,
    agency_fields: tuple[str, ...] | None = None,
    visible: bool = True,
) -> QuerySet:
    """Rows about children this manager may see, narrowed by the filters.

    ``child`` is the path from the row to its child ("" for Child rows); ``episode`` the
    path to its episode ("" for Episode rows, None when the row has no one episode, in
    which case episode filters ask whether the child has any such episode).
    ``agency_fields`` are the row's own agency fields the agency filter matches; by
    default it matches the reporting agency or an agency involved with the child.
    ``visible=False`` leaves out who may see the child, for a caller that applies it
    once to a union of such rows (``_visible_sql``).
    """
    today = timezone.localdate()
    child_prefix = f"{child}__" if child else ""
    child_ref = OuterRef(child or "pk")
    if visible:
        queryset = queryset.filter(visible_condition(user, child or "pk"))

    def on_episode(**lookups: Any) -> Q:
        if episode is None:
            return Q(Exists(Episode.objects.filter(child=child_ref, **lookups)))
        prefix = f"{episode}__" if episode else ""
        return Q(**{f"{prefix}{key}": value for key, value in lookups.items()})

    q = Q()
    if filters.local_authority is not None:
        q &= Q(**{f"{child_prefix}responsible_area": filters.local_authority})
    if filters.in_care is not None:
        in_care = Q(**{f"{child_prefix}legal_status": LegalStatus.IN_CARE})
        q &= in_care if filters.in_care else ~in_care
    if filters.out_of_area is not None:
        away = Q(
            Exists(
                Placement.objects.filter(placement_current(today), child=child_ref).exclude(
                    host_area=F("child__responsible_area")
                )
            )
        )
        q &= away if filters.out_of_area else ~away
    if filters.worker:
        allocated = Exists(
            Involvement.objects.filter(
                involvement_current(today),
                child=child_ref,
                role=Involvement.Role.SOCIAL_WORKER,
                professional_name__icontains=filters.worker,
            )
        )
        q &= Q(allocated) | on_episode(created_by__name__icontains=filters.worker)
    if filters.risk:
        q &= on_episode(risk=filters.risk)
    if filters.category:
        q &= on_episode(category=filters.category)
    if filters.agency is not None:
        if agency_fields:
            agency_q = Q()
            for name in agency_fields:
                agency_q |= Q(**{name: filters.agency})
        else:
            involved = Exists(
                Involvement.objects.filter(
                    involvement_current(today), child=child_ref, agency=filters.agency
                )
            )
            agency_q = Q(involved) | on_episode(reported_by_agency=filters.agency)
        q &= agency_q
    return queryset.filter(q)


# Overdue and due soon -------------------------------------------------------------------


def interviews_overdue(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    """Return interviews not held or declined by their deadline (72 hours after the return).

    Overdue strictly after ``due_at``, as ``ReturnInterview.is_overdue`` says: one due
    exactly now is due soon, not late.
    """
    rows = pending_interviews().filter(due_at__lt=now)
    return (
        _scoped(
            rows,
            user,
            filters,
            child="episode__child",
            episode="episode",
            agency_fields=("owner", "provider"),
        )
        .select_related("episode", "episode__child", "owner", "provider")
        .order_by("due_at", "pk")
    )


# The pending items each overdue list is made of, whatever the time: each list below is
# one of these narrowed by the time, and ``oversight.due`` keeps the same items as rows
# (with the times that put them on the list), so the kept counts equal these lists.


def pending_interviews() -> QuerySet:
    """Return interviews not yet held or declined (overdue once ``due_at`` has passed)."""
    return ReturnInterview.objects.filter(outcome=Pending)


def safe_and_well_open() -> QuerySet:
    """Returns whose safe and well check is not done, or done and not shared with the
    local authority. Those not done are outstanding once
    ``policy.safe_and_well_due_after()`` has passed since the return as first recorded
    (a later correction moves no deadline); those not shared, at once."""
    not_done = Q(safe_and_well__isnull=True)
    not_shared = Q(safe_and_well__isnull=False, safe_and_well__shared_with_la_at__isnull=True)
    return Episode.objects.filter(first_found_at__isnull=False).filter(not_done | not_shared)


def notifications_due() -> QuerySet:
    """Notifications still to be made (overdue once ``due_at`` has passed)."""
    return Notification.objects.filter(status=Notification.Status.DUE)


def notifications_with_problems() -> QuerySet:
    """Notifications whose rule found nobody to tell, not cancelled."""
    return Notification.objects.exclude(problem="").exclude(status=Notification.Status.CANCELLED)


def emails_failing_rows() -> QuerySet:
    """Notification e-mails refused or not yet taken by the mail server, still to be done."""
    D = Notification.Delivery
    return Notification.objects.filter(
        status=Notification.Status.DUE, delivery__in=[D.FAILED, D.RETRYING]
    )


def interviews_due_soon(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    rows = ReturnInterview.objects.filter(
        outcome=Pending, due_at__gte=now, due_at__lte=now + DUE_SOON
    )
    return (
        _scoped(
            rows,
            user,
            filters,
            child="episode__child",
            episode="episode",
            agency_fields=("owner", "provider"),
        )
        .select_related("episode", "episode__child", "owner", "provider")
        .order_by("due_at", "pk")
    )


def safe_and_well_outstanding(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    """Returned children with no safe and well check 24 hours after the return, or a
    check recorded but not shared with the local authority."""
    # Counted from the return as first recorded: a later correction moves no deadline.
    rows = safe_and_well_open().filter(
        Q(safe_and_well__isnull=False)
        | Q(first_found_at__lt=now - policy.safe_and_well_due_after())
    )
    return (
        _scoped(rows, user, filters, child="child", episode="")
        .select_related("child", "safe_and_well", "safe_and_well__agency")
        .order_by("first_found_at", "pk")
    )


def strategy_discussions_overdue(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    """Children still missing 24 hours after they were last seen with no strategy meeting
    since the episode began, and those found after that without one (missed), until the
    episode closes. Longest overdue first. The rule is
    ``incidents.strategy_discussions``'s; overdue strictly after the deadline."""
    rows = discussions.strategy_discussions_overdue(Episode.objects.all(), now)
    return (
        _scoped(rows, user, filters, child="child", episode="")
        .select_related("child", "child__responsible_area")
        .order_by("last_seen_at", "pk")
    )


def agreed_actions_overdue(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    """Agreed actions still open after their due date (due today is not yet late), due
    in the period; longest overdue first. The agency filter matches the owner agency."""
    today = timezone.localdate(now)
    rows = AgreedAction.objects.filter(
        state=AgreedAction.State.OPEN,
        due_date__lt=today,
        due_date__gte=today - dt.timedelta(days=filters.days),
    )
    return (
        _scoped(rows, user, filters, child="child", episode=None, agency_fields=("owner_agency",))
        .select_related("child", "child__responsible_area", "owner_agency", "owner_person")
        .order_by("due_date", "pk")
    )


def notifications_overdue(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    """Notifications still due after their deadline, grouped by the agency that must tell."""
    rows = notifications_due().filter(due_at__lt=now)
    return (
        _scoped(
            rows,
            user,
            filters,
            child="child",
            episode="episode",
            agency_fields=("responsible_agency",),
        )
        .select_related("episode", "child", "responsible_agency", "recipient_agency")
        .order_by(F("responsible_agency__name").asc(nulls_last=True), "due_at", "pk")
    )


def notifications_overdue_by_agency(
    queryset: QuerySet,
    agency: str = "responsible_agency_id",
    name: str = "responsible_agency__name",
) -> list[dict[str, Any]]:
    """How many of the overdue notifications each agency should have made (one query).
    ``agency`` and ``name`` are the rows' fields for the agency and its name (the kept
    rows, ``oversight.due``, hold them as ``agency_id`` and ``sort_text``)."""
    counts = (
        queryset.order_by()
        .values(agency, name)
        .annotate(count=Count("pk"))
        .order_by("-count", name)
    )
    return [
        {
            "agency_id": row[agency],
            "agency": row[name] or "No agency found",
            "count": row["count"],
        }
        for row in counts
    ]


def emails_failing(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    """Notification e-mails the mail server refused or has not taken yet, still to be
    done: failed ones first (someone must tell the recipient another way, or correct the
    address and queue it again), then those being retried, longest failing first."""
    rows = emails_failing_rows()
    return (
        _scoped(
            rows,
            user,
            filters,
            child="child",
            episode="episode",
            agency_fields=("responsible_agency", "recipient_agency"),
        )
        .select_related("episode", "child", "responsible_agency", "recipient_agency")
        # "failed" sorts before "retrying".
        .order_by("delivery", F("failing_since").asc(nulls_last=True), "pk")
    )


def open_episodes(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    """Children missing or away now: highest risk first, then longest missing."""
    rows = Episode.objects.filter(found_at__isnull=True)
    return (
        _scoped(rows, user, filters, child="child", episode="")
        .select_related("child", "last_seen_location", "reported_by_agency")
        .order_by("-risk_rank", "last_seen_at", "pk")
    )


def notification_problems(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    """Rules that applied but found nobody to tell (an admin must add a contact)."""
    rows = notifications_with_problems()
    return (
        _scoped(
            rows,
            user,
            filters,
            child="child",
            episode="episode",
            agency_fields=("responsible_agency", "recipient_agency"),
        )
        .select_related("episode", "child", "rule", "responsible_agency", "recipient_agency")
        .order_by("-created_at", "-pk")
    )


# Patterns -------------------------------------------------------------------------------


def repeat_children(
    user: User, filters: Filters, now: dt.datetime, threshold: tuple[int, int] | None = None
) -> QuerySet:
    """Children at or over the repeat threshold (``policy.repeat_threshold()`` unless
    given) with no strategy meeting held on or after the day of the first episode in the
    window."""
    count, days = threshold or policy.repeat_threshold()
    since = now - dt.timedelta(days=days)
    recent = Episode.objects.filter(last_seen_at__gte=since, last_seen_at__lte=now)
    # Counted by child (never empty), so the period is read from
    # ``episode_seen_at_child_idx`` alone: no episode row is visited.
    over = recent.order_by().values("child").annotate(n=Count("child")).filter(n__gte=count)
    rows = (
        repeat_shown(Child.objects.filter(pk__in=over.values("child")), now, days)
        # The local day of the first episode: a meeting held that day counts.
        .annotate(first_recent_day=TruncDate("first_recent"))
        .filter(
            ~Exists(
                StrategyMeeting.objects.filter(
                    child=OuterRef("pk"), held_on__gte=OuterRef("first_recent_day")
                )
            )
        )
    )
    return (
        _scoped(rows, user, filters, child="", episode=None)
        .select_related("responsible_area")
        .order_by("-recent_count", "-last_recent", "pk")
    )


def repeat_shown(children: QuerySet, now: dt.datetime, days: int) -> QuerySet:
    """The children with what the repeat list shows of each at ``now``: the episodes in
    the window (``recent_count``), the first and the latest (``first_recent``,
    ``last_recent``)."""
    since = now - dt.timedelta(days=days)
    in_window = Episode.objects.filter(
        child=OuterRef("pk"), last_seen_at__gte=since, last_seen_at__lte=now
    ).order_by()
    return children.annotate(
        recent_count=Subquery(in_window.values("child").annotate(n=Count("child")).values("n")[:1]),
        first_recent=Subquery(in_window.order_by("last_seen_at").values("last_seen_at")[:1]),
        last_recent=Subquery(in_window.order_by("-last_seen_at").values("last_seen_at")[:1]),
    )


def children_declining(n: int, children: QuerySet | list[int] | None = None) -> QuerySet:
    """Children who declined the return interview after each of their last ``n``
    returns: ``n`` or more declined interviews with none held since (by the episodes'
    last seen times), as ``incidents.engagement.declines_in_a_row`` counts them.

    Set-based: an anti-join and one grouping, not a count correlated to each row.
    """
    held_since = ReturnInterview.objects.filter(
        outcome=ReturnInterview.Outcome.HELD,
        episode__child=OuterRef("episode__child"),
        episode__last_seen_at__gt=OuterRef("episode__last_seen_at"),
    )
    declined = ReturnInterview.objects.filter(outcome=ReturnInterview.Outcome.DECLINED)
    if children is not None:
        declined = declined.filter(episode__child__in=children)
    return (
        declined.filter(~Exists(held_since))
        .order_by()
        .values("episode__child")
        .annotate(declined=Count("pk"))
        .filter(declined__gte=n)
        .values("episode__child")
    )


def stuck_interviews(
    n: int, in_period: Q, children: QuerySet | list[int] | None = None
) -> QuerySet:
    """The return interviews of stuck cases (``stuck_cases``) among those ``in_period``,
    annotated with ``failed_attempts`` and ``declined_each_time``; of ``children``
    only, when given. Two queries (see ``stuck_cases``)."""
    later = ReturnInterview.objects.filter(episode__child=OuterRef("episode__child")).filter(
        Q(episode__last_seen_at__gt=OuterRef("episode__last_seen_at"))
        | Q(
            episode__last_seen_at=OuterRef("episode__last_seen_at"),
            episode__gt=OuterRef("episode"),
        )
    )
    candidates = ReturnInterview.objects.filter(in_period)
    if children is not None:
        candidates = candidates.filter(episode__child__in=children)
    declining = list(
        candidates.filter(episode__child__in=children_declining(n, children))
        .filter(~Exists(later))
        .values_list("pk", flat=True)
    )
    return candidates.annotate(
        failed_attempts=Count(
            "attempts", filter=Q(attempts__outcome__in=InterviewAttempt.FAILED_OUTCOMES)
        ),
        # A constant when there are none: "id IN ()" matches nothing even when
        # compared with false (a page read by key compares it).
        declined_each_time=ExpressionWrapper(Q(pk__in=declining), output_field=BooleanField())
        if declining
        else Value(False, output_field=BooleanField()),
    ).filter(Q(failed_attempts__gte=n) | Q(pk__in=declining))


def stuck_cases(
    user: User, filters: Filters, now: dt.datetime, threshold: int | None = None
) -> QuerySet:
    """Return interviews of children the interview is not reaching (see
    ``incidents.engagement``), still pending or declined in the period:

    - an interview with N or more failed attempts (``failed_attempts``);
    - the latest interview of a child who declined it after each of their last N
      returns (``declined_each_time``).

    N is ``policy.stuck_failed_attempts()`` unless given.

    Two queries: first the latest interviews of the children declining each time (a
    few dozen in a large partnership), then the list, whose failed attempts are joined
    and counted in one grouped query rather than a correlated count per interview.
    Taking those few ids first, rather than as a subquery, keeps PostgreSQL from
    running the subquery twice (in the row's flag and in HAVING), and the plan's
    estimated cost below the point where PostgreSQL inlines and optimises its JIT code
    (seconds on a busy server: the page took three times as long).
    """
    n = threshold or policy.stuck_failed_attempts()
    since = now - dt.timedelta(days=filters.days)
    rows = stuck_interviews(
        n,
        Q(outcome=Pending) | Q(outcome=ReturnInterview.Outcome.DECLINED, declined_at__gte=since),
    )
    return (
        _scoped(
            rows,
            user,
            filters,
            child="episode__child",
            episode="episode",
            agency_fields=("owner", "provider"),
        )
        .select_related("episode", "episode__child", "owner", "provider")
        .order_by("-failed_attempts", "-declined_each_time", "due_at", "pk")
    )


@dataclass
class Sighting:
    child_id: int
    child_name: str
    episode_id: int
    what: str  # "Last seen" or "Found"
    at: dt.datetime


@dataclass
class Hotspot:
    location_id: int
    description: str
    postcode: str
    child_count: int
    latest: dt.datetime
    sightings: list[Sighting] = field(default_factory=list)
    # How many sightings there are in the period (``sightings`` may hold only the latest).
    sighting_count: int = 0

    @property
    def more_sightings(self) -> int:
        return max(self.sighting_count - len(self.sightings), 0)

    @property
    def children(self) -> list[tuple[int, str]]:
        seen: dict[int, str] = {}
        for sighting in self.sightings:
            seen.setdefault(sighting.child_id, sighting.child_name)
        return sorted(seen.items(), key=lambda item: item[1])

    @property
    def place(self) -> str:
        return f"{self.description}, {self.postcode}" if self.postcode else self.description


def compiled_sql(queryset: QuerySet) -> tuple[str, list[Any]]:
    """The SQL of a queryset and its parameters, to be put inside hand-written SQL."""
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    return sql, list(params)


def _sightings(user: User, filters: Filters, now: dt.datetime, *, visible: bool = True) -> QuerySet:
    """(place, who, at) of every sighting in the period: the episodes last seen at a
    place, then those found at one, as one ``UNION ALL``, each part read from its own
    covering index alone (``episode_seen_sighting_idx``, ``episode_found_sighting_idx``).
    ``visible=False``: whoever the child, for a caller that applies visibility once."""
    since = now - dt.timedelta(days=filters.days)
    episodes = _scoped(
        Episode.objects.all(), user, filters, child="child", episode="", visible=visible
    ).order_by()
    seen = episodes.filter(
        last_seen_location__isnull=False, last_seen_at__gte=since, last_seen_at__lte=now
    ).values(place=F("last_seen_location"), who=F("child"), at=F("last_seen_at"))
    found = episodes.filter(
        found_location__isnull=False, found_at__gte=since, found_at__lte=now
    ).values(place=F("found_location"), who=F("child"), at=F("found_at"))
    return seen.union(found, all=True).order_by()


def _visible_sql(user: User, column: str) -> tuple[str, list[Any]]:
    """ "The child at ``column`` may be seen by this person", as SQL: the children of the
    person's agency in the visibility table (read once, from its unique index), never
    true for someone without a case role."""
    if not has_case_role(user):
        return "1 = 0", []
    sql, params = compiled_sql(
        ChildVisibility.objects.filter(agency_id=user.agency_id).values("child_id")
    )
    return f"{column} IN ({sql})", params


def places_grouped_sql(
    per_child: tuple[str, list[Any]], *, nobody: bool = False
) -> tuple[str, list[Any]]:
    """The hotspots grouped by place, as SQL: (place, children, latest, sightings), from
    SQL of the period's sightings already grouped by place and child (place, who,
    latest, n), whichever rows they were read from (the records, or the kept sightings:
    ``due.hotspot_places_sql``). ``nobody``: no row, for someone without a case role."""
    sql, params = per_child
    where = "WHERE 1 = 0 " if nobody else ""
    return (
        # The inner SQL compiled by the ORM, every value a parameter.
        "SELECT pc.place AS place, COUNT(*) AS children, MAX(pc.latest) AS latest, "  # noqa: S608
        f"SUM(pc.n) AS sightings FROM ({sql}) pc {where}GROUP BY pc.place "
        "HAVING COUNT(*) >= %s",
        [*params, HOTSPOT_CHILDREN],
    )


def hotspot_places_sql(user: User, filters: Filters, now: dt.datetime) -> tuple[str, list[Any]]:
    """The hotspots grouped by place in the database, as SQL: (place, children, latest,
    sightings). The period's sightings are read from the covering indexes above, the
    visibility table once for the union (a hashed semi-join), then grouped twice, by
    place and child and then by place (hash aggregates: no sort of the period's rows
    for a distinct count). No sighting is sent to Python."""
    sql, params = compiled_sql(_sightings(user, filters, now, visible=False))
    visible, visible_params = _visible_sql(user, "s.who")
    return places_grouped_sql(
        (
            # The inner SQL compiled by the ORM, every value a parameter.
            "SELECT s.place AS place, s.who AS who, MAX(s.at) AS latest, "  # noqa: S608
            f"COUNT(*) AS n FROM ({sql}) s WHERE {visible} GROUP BY s.place, s.who",
            [*params, *visible_params],
        )
    )


def _as_time(value: Any) -> dt.datetime:
    # SQLite returns MAX() of a time as text: read it as the UTC time it is stored as.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=dt.UTC)


def hotspot_page_sql(
    places: tuple[str, list[Any]], *, limit: int | None = None, offset: int = 0
) -> tuple[str, list[Any]]:
    """A page of hotspots (``limit``, or all) of these grouped places (SQL: place,
    children, latest, sightings), busiest first (most children, then the latest
    sighting, then the place), with each place's name and how many places there are
    in all (a window over the same query)."""
    sql, params = places
    location = connection.ops.quote_name(Location._meta.db_table)
    query = (
        "SELECT h.place AS place, h.children AS children, h.latest AS latest, "  # noqa: S608
        "h.sightings AS sightings, l.description AS description, l.postcode AS postcode, "
        f"COUNT(*) OVER () AS total FROM ({sql}) h INNER JOIN {location} l ON l.id = h.place "
        "ORDER BY h.children DESC, h.latest DESC, h.place"
    )
    if limit is not None:
        query += " LIMIT %s OFFSET %s"
        params = [*params, limit, offset]
    return query, params


def hotspots_read(rows: list[tuple[Any, ...]]) -> tuple[list[Hotspot], int]:
    """The hotspots of rows read by ``hotspot_page_sql``, and how many there are."""
    spots = [
        Hotspot(place, description, postcode or "", children, _as_time(latest), [], int(sightings))
        for place, children, latest, sightings, description, postcode, _total in rows
    ]
    return spots, rows[0][6] if rows else 0


def hotspot_page(
    user: User, filters: Filters, now: dt.datetime, *, limit: int | None = None, offset: int = 0
) -> tuple[list[Hotspot], int]:
    """A page of hotspots, busiest first (most children, then the latest sighting, then
    the place), and how many hotspots there are in all: two queries, the places (counted
    by a window over the same query) and their sightings. A page (``limit``) reads each
    place's latest ``HOTSPOT_SIGHTINGS_SHOWN`` sightings only; without one, every
    sighting in the period (the download)."""
    query, params = hotspot_page_sql(
        hotspot_places_sql(user, filters, now), limit=limit, offset=offset
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    if not rows and offset:
        # Past the last page: the first page, so the count is still known.
        return hotspot_page(user, filters, now, limit=limit, offset=0)
    spots, total = hotspots_read(rows)
    if limit is None:
        add_sightings(spots, user, filters, now)
    else:
        _add_latest_sightings(spots, user, filters, now)
    return spots, total


def sighting(
    found: Any, episode_id: int, child_id: int, at: Any, first: str, last: str
) -> Sighting:
    """A sighting as read: the episode last seen (``found`` false) or found at a place."""
    what = "Found" if found else "Last seen"
    return Sighting(child_id, f"{first} {last}", episode_id, what, _as_time(at))


def sighting_order(sighting: Sighting) -> tuple[Any, ...]:
    """A place's sightings in order: by time, then episode, an episode's last seen first."""
    return (sighting.at, sighting.episode_id, sighting.what != "Last seen")


def latest_sightings_sql(parts: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """The union of these parts, each the latest sightings of a place as (place, found,
    episode, child, at) read in its own order up to its own limit (wrapped, so each part
    keeps its ORDER BY and LIMIT on SQLite too), with the children's names joined once
    to the union."""
    child = connection.ops.quote_name(Child._meta.db_table)
    union = " UNION ALL ".join(
        f"SELECT p.* FROM ({sql}) p"  # noqa: S608 (ORM-compiled)
        for sql, _params in parts
    )
    return (
        # Every part ORM-compiled, every value a parameter.
        f"SELECT u.*, c.first_name, c.last_name FROM ({union}) u "  # noqa: S608
        f"INNER JOIN {child} c ON c.id = u.child_id",
        [param for _sql, params in parts for param in params],
    )


def read_latest_sightings(spots: list[Hotspot], query: str, params: list[Any]) -> None:
    """Give each place its latest ``HOTSPOT_SIGHTINGS_SHOWN`` sightings, oldest of them
    first, from a query of (place, found, episode, child, at, first name, last name)
    that reads at most that many of each place's sightings of each kind."""
    by_place: dict[int, list[Sighting]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for place, *row in cursor.fetchall():
            by_place[place].append(sighting(*row))
    for spot in spots:
        ordered = sorted(by_place[spot.location_id], key=sighting_order)
        spot.sightings = ordered[-HOTSPOT_SIGHTINGS_SHOWN:]


def _add_latest_sightings(
    spots: list[Hotspot], user: User, filters: Filters, now: dt.datetime
) -> None:
    """Each place's latest ``HOTSPOT_SIGHTINGS_SHOWN`` sightings in the period, oldest of
    them first, in one query: for each place, the latest last seen there and the latest
    found there, each read from its place's index newest first and stopped at the limit
    (``episode_seen_place_idx``, ``episode_found_place_at_idx``), whatever the place's
    history; the children's names joined once to the union."""
    if not spots or not has_case_role(user):
        return
    since = now - dt.timedelta(days=filters.days)
    episodes = _scoped(
        Episode.objects.all(), user, filters, child="child", episode="", visible=False
    ).filter(
        child_id__in=ChildVisibility.objects.filter(agency_id=user.agency_id).values("child_id")
    )
    n = HOTSPOT_SIGHTINGS_SHOWN
    parts = []
    for spot in spots:
        seen = (
            episodes.filter(
                last_seen_location=spot.location_id,
                last_seen_at__gte=since,
                last_seen_at__lte=now,
            )
            .order_by("-last_seen_at", "-pk")
            .values_list(Value(spot.location_id), Value(False), "pk", "child_id", "last_seen_at")
        )
        found = (
            episodes.filter(found_location=spot.location_id, found_at__gte=since, found_at__lte=now)
            .order_by("-found_at", "-pk")
            .values_list(Value(spot.location_id), Value(True), "pk", "child_id", "found_at")
        )
        parts += [compiled_sql(seen[:n]), compiled_sql(found[:n])]
    read_latest_sightings(spots, *latest_sightings_sql(parts))


def add_sightings(spots: list[Hotspot], user: User, filters: Filters, now: dt.datetime) -> None:
    since = now - dt.timedelta(days=filters.days)
    by_place = {spot.location_id: spot for spot in spots}
    ids = list(by_place)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = Episode.objects.filter(
            Q(last_seen_location__in=chunk, last_seen_at__gte=since, last_seen_at__lte=now)
            | Q(found_location__in=chunk, found_at__gte=since, found_at__lte=now)
        )
        rows = _scoped(rows, user, filters, child="child", episode="").values_list(
            "pk", "child_id", "child__first_name", "child__last_name",
            "last_seen_at", "last_seen_location_id", "found_at", "found_location_id",
        )  # fmt: skip
        for pk, child_id, first, last, seen_at, seen_id, found_at, found_id in rows:
            for what, at, place in (("Last seen", seen_at, seen_id), ("Found", found_at, found_id)):
                spot = by_place.get(place)
                if spot is None or at is None or not since <= at <= now:
                    continue
                spot.sightings.append(Sighting(child_id, f"{first} {last}", pk, what, at))
    for spot in spots:
        spot.sightings.sort(key=sighting_order)


def hotspots(user: User, filters: Filters, now: dt.datetime) -> list[Hotspot]:
    """Places where several different children were last seen or found in the period,
    busiest first, each with its sightings (every one: for the CSV export)."""
    return hotspot_page(user, filters, now)[0]


def with_sightings(
    spots: list[Hotspot], add: Callable[[list[Hotspot]], None], chunk: int = 500
) -> Iterator[Hotspot]:
    """These hotspots one by one, each place's sightings read (``add``) for ``chunk``
    places at a time as they are reached: a download's first line waits for the first
    places' sightings only."""
    for start in range(0, len(spots), chunk):
        part = spots[start : start + chunk]
        add(part)
        yield from part


def out_of_area_missed(user: User, filters: Filters, now: dt.datetime) -> QuerySet:
    """Children in care placed out of area who are missing now, or whose return interview
    was missed in the period (still pending past its deadline, or held late).

    Which children are missing now and which missed an interview are each worked out
    once, as sets (hashed), rather than through each child's episodes one child at a
    time; the interviews missed are counted for the rows read."""
    today = timezone.localdate(now)
    out_of_area = Placement.objects.filter(placement_current(today), child=OuterRef("pk")).exclude(
        host_area=F("child__responsible_area")
    )
    rows = (
        Child.objects.filter(legal_status=LegalStatus.IN_CARE)
        .filter(Exists(out_of_area))
        .filter(
            Q(pk__in=Episode.objects.filter(found_at__isnull=True).values("child_id"))
            | Q(pk__in=interviews_missed(now, filters.days).values("episode__child_id"))
        )
    )
    return (
        _scoped(out_of_area_shown(rows, now, filters.days), user, filters, child="", episode=None)
        .select_related("responsible_area")
        .order_by("-missing_now", "last_name", "first_name", "pk")
    )


def interviews_missed(now: dt.datetime, days: int) -> QuerySet:
    """Return interviews missed in the period of ``days`` back from ``now``: still
    pending past their deadline, or held late (``oversight.due`` keeps the same)."""
    since = now - dt.timedelta(days=days)
    return ReturnInterview.objects.filter(due_at__gte=since).filter(
        Q(outcome=Pending, due_at__lt=now)
        | Q(outcome=ReturnInterview.Outcome.HELD, held_at__gt=F("due_at"))
    )


def out_of_area_shown(children: QuerySet, now: dt.datetime, days: int) -> QuerySet:
    """The children with what the out of area list shows of each at ``now``: whether
    missing now, the interviews missed in the period and the host council of the
    latest current placement."""
    today = timezone.localdate(now)
    missed = (
        interviews_missed(now, days)
        .filter(episode__child=OuterRef("pk"))
        .order_by()
        .values("episode__child")
        .annotate(n=Count("pk"))
        .values("n")
    )
    host = Placement.objects.filter(placement_current(today), child=OuterRef("pk")).order_by(
        "-start"
    )
    return children.annotate(
        missing_now=Exists(Episode.objects.filter(child=OuterRef("pk"), found_at__isnull=True)),
        missed_interviews=Subquery(missed[:1]),
        host_area_name=Subquery(host.values("host_area__name")[:1]),
    )


# Counts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Total:
    """SQL (and its parameters) that gives a count itself, as one number: a part of
    ``counts`` taken as it is rather than counted (the kept counts' sums)."""

    sql: str
    params: list[Any]


def counts(parts: dict[str, QuerySet | tuple[str, list[Any]] | Total]) -> dict[str, int]:
    """How many rows each list has, in one query: a scalar subquery each (a queryset, or
    SQL and its parameters, whose rows are counted; or a ``Total``). One round trip for
    the dashboard's dozen counts, each read through the partial index of its pending rows
    and the visibility table."""
    selects, params = [], []
    for i, part in enumerate(parts.values()):
        if isinstance(part, Total):
            selects.append(f"({part.sql})")
            params.extend(part.params)
            continue
        if isinstance(part, QuerySet):
            sql, part_params = compiled_sql(part.order_by().values("pk"))
        else:
            sql, part_params = part
        selects.append(f"(SELECT COUNT(*) FROM ({sql}) c{i})")  # noqa: S608 (ORM-compiled)
        params.extend(part_params)
    if not selects:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(selects)}", params)
        row = cursor.fetchone()
    return dict(zip(parts, (int(n) for n in row), strict=True))


# Partnership measures -------------------------------------------------------------------


def month_starts(now: dt.datetime, months: int) -> list[dt.date]:
    """The first day of each of the last ``months`` months (local time), oldest first."""
    today = timezone.localtime(now).date()
    year, month = today.year, today.month
    starts = []
    for _ in range(months):
        starts.append(dt.date(year, month, 1))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return starts[::-1]


def _local_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _month_key(value: dt.datetime | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
    return dt.date(value.year, value.month, 1)


def _month_spans(months: list[dt.date]) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """Each month's start and the next month's start (local time, so a month changes at
    local midnight, across the clock change); the last month is open-ended (the queries
    end it at ``now``)."""
    starts = [_local_start(m) for m in months]
    return list(zip(starts, [*starts[1:], None], strict=True)) if starts else []


def _monthly(
    spans: list[tuple[dt.datetime, dt.datetime | None]],
    field_name: str,
    **aggregates: Callable[[Q], Aggregate],
) -> dict[str, Aggregate]:
    """Each aggregate for each month (``<name>_<i>``), the month chosen by
    ``field_name``. Counting by month with conditional aggregates groups the rows by
    agency or area only (a handful of groups, hashed) rather than sorting every row in
    the period by agency and month."""
    out: dict[str, Aggregate] = {}
    for i, (begin, end) in enumerate(spans):
        in_month = Q(**{f"{field_name}__gte": begin})
        if end is not None:
            in_month &= Q(**{f"{field_name}__lt": end})
        for name, aggregate in aggregates.items():
            out[f"{name}_{i}"] = aggregate(in_month)
    return out


def _tally(
    rows: Any,
    group: str,
    months: list[dt.date],
    by_month: dict[dt.date, dict[str, Any]],
    keys: tuple[str, str],
    *,
    missing: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Add each group's monthly counts (``n_<i>``, ``on_time_<i>``) to the months, and
    return the groups' totals (the query is not run without months)."""
    due_key, on_time_key = keys
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"due": 0, "on_time": 0})
    if not months:
        return per
    for row in rows:
        for i, m in enumerate(months):
            by_month[m][due_key] += row[f"n_{i}"]
            by_month[m][on_time_key] += row[f"on_time_{i}"]
        name = row[group] if row[group] is not None or missing is None else missing
        per[name]["due"] += sum(row[f"n_{i}"] for i in range(len(months)))
        per[name]["on_time"] += sum(row[f"on_time_{i}"] for i in range(len(months)))
    return per


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass
class Measures:
    months: list[dt.date]
    # One row per month, and one per agency (or local authority) for each measure.
    by_month: list[dict[str, Any]]
    episodes_by_area: list[dict[str, Any]]
    interviews_by_agency: list[dict[str, Any]]
    safe_and_well_by_area: list[dict[str, Any]]
    notifications_by_agency: list[dict[str, Any]]
    push_factors: list[tuple[str, int]]
    pull_factors: list[tuple[str, int]]
    # When the open months shown were counted, when read from the kept counts (None:
    # every month shown is closed, or counted from the records for this page).
    counted_at: dt.datetime | None = None
    counted_months: list[dt.date] = field(default_factory=list)


def _median_hours(runs: list[medians.Run]) -> float | None:
    """The median of durations in seconds kept in sorted runs, in hours."""
    middle = medians.median(runs)
    return None if middle is None else round(middle / 3600, 1)


def _narrowed(filters: Filters) -> bool:
    """Whether a filter other than the council applies (the kept and erased counts
    carry the month, council and agency only)."""
    return any(
        (
            filters.agency,
            filters.worker,
            filters.risk,
            filters.category,
            filters.in_care is not None,
            filters.out_of_area is not None,
        )
    )


def _erased_counts(
    user: User, filters: Filters, start: dt.datetime, keys: set[dt.date]
) -> dict[str, list[dict[str, Any]]]:
    """The anonymous counts kept from records erased at the end of retention
    (``oversight.retention``), by measure: those of the councils this manager's agency
    serves, in the months shown. They carry the month and council (and agency) only, so
    they are added in when no other filter is applied; with one, the measures count
    only the records still held."""
    if _narrowed(filters) or not has_case_role(user):
        return {}
    rows = ErasedCount.objects.filter(
        month__gte=_month_key(start),
        area_id__in=LocalAuthorityArea.agencies.through.objects.filter(
            agency_id=user.agency_id
        ).values("localauthorityarea_id"),
    )
    if filters.local_authority is not None:
        rows = rows.filter(area=filters.local_authority)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows.values(
        "measure", "month", "area__name", "agency__name", "count", "on_time", "children"
    ):
        if row["month"] in keys:
            out[row["measure"]].append(row)
    return out


def _add_erased(
    per: dict[str, dict[str, Any]],
    by_month: dict[dt.date, dict[str, Any]],
    rows: list[dict[str, Any]],
    group: str,
    keys: tuple[str, str],
    *,
    missing: str | None = None,
) -> None:
    due_key, on_time_key = keys
    for row in rows:
        by_month[row["month"]][due_key] += row["count"]
        by_month[row["month"]][on_time_key] += row["on_time"]
        name = row[group] if row[group] is not None or missing is None else missing
        per[name]["due"] += row["count"]
        per[name]["on_time"] += row["on_time"]


def measures(user: User, filters: Filters, now: dt.datetime, *, kept: bool = True) -> Measures:
    """The partnership's measures for the last ``filters.months`` months, by month and
    by agency. Seven queries whatever the data: counts are aggregated in SQL, one query
    per measure grouped by agency or area with a conditional count for each month (the
    month starts at local midnight, so the clock change is kept); the median (which
    SQLite cannot compute) and the factor counts (JSON lists) in Python from one query
    each. Every scan is bounded by the period through an index on the date it is
    counted by. A seventh query adds the counts kept from records erased at the end of
    retention (``_erased_counts``), so a past month's measures do not drop with them
    (the median and the push and pull factors count only the records still held).

    Months are read from the counts kept by ``oversight.aggregates`` when no filter but
    the council applies and they may be read (``aggregates.readable``: counted, not
    stale, and an open month counted within minutes, as of ``counted_at``; one query to
    find which, one to read them when there are any); the months after them are counted
    from the records as above (none when every month is kept: then three queries in
    all), the kept months' counts added in like the erased ones, and the period's
    children counted once each (a child counted in a kept month is not counted again in
    the months after). ``kept=False`` counts every month from the records (the
    reference the kept counts are tested against)."""
    months = month_starts(now, filters.months)
    start = _local_start(months[0])
    keys = set(months)
    erased = _erased_counts(user, filters, start, keys)
    read = aggregates.Readable([], None)
    if kept and has_case_role(user) and not _narrowed(filters):
        read = aggregates.readable(months, now)
    closed = read.months
    # Counted from the records: the months after the kept ones (none when all are kept:
    # the queries below are then neither built nor run).
    live = months[len(closed) :]
    live_start = _local_start(live[0]) if live else now

    # Episodes and children, by month last seen and by responsible local authority.
    episodes = _scoped_if(
        live,
        Episode.objects.filter(last_seen_at__gte=live_start, last_seen_at__lte=now),
        user,
        filters,
        child="child",
        episode="",
    ).order_by()
    by_month: dict[dt.date, dict[str, Any]] = {
        m: {
            "month": m,
            "episodes": 0,
            "children": 0,
            "interviews_due": 0,
            "interviews_on_time": 0,
            "returns": 0,
            "shared_on_time": 0,
            "notifications_due": 0,
            "notifications_on_time": 0,
            "runs": [],
        }
        for m in months
    }
    spans = _month_spans(live)
    # The period's children are counted once each: a child seen in a kept month first is
    # counted there.
    earlier = Episode.objects.filter(
        child=OuterRef("child"), last_seen_at__gte=start, last_seen_at__lt=live_start
    )
    episodes_by_area = []
    for row in _if_live(
        live,
        episodes.values("child__responsible_area__name")
        .annotate(
            children=Count("child", distinct=True, filter=~Q(Exists(earlier)))
            if closed
            else Count("child", distinct=True),
            **_monthly(
                spans,
                "last_seen_at",
                n=lambda when: Count("pk", filter=when),
                c=lambda when: Count("child", distinct=True, filter=when),
            ),
        )
        .order_by(),
    ):
        # A child has one responsible local authority, so the areas' distinct children
        # add up to the month's.
        for i, m in enumerate(live):
            by_month[m]["episodes"] += row[f"n_{i}"]
            by_month[m]["children"] += row[f"c_{i}"]
        episodes_by_area.append(
            {
                "name": row["child__responsible_area__name"],
                "episodes": sum(row[f"n_{i}"] for i in range(len(live))),
                "children": row["children"],
            }
        )
    area_rows = {row["name"]: row for row in episodes_by_area}
    kept_rows = _kept_counts(user, filters, closed)
    for row in kept_rows.get(MonthlyCount.Measure.EPISODES, []):
        by_month[row["month"]]["episodes"] += row["count"]
        by_month[row["month"]]["children"] += row["children"]
        _area_row(area_rows, episodes_by_area, row["area__name"])["episodes"] += row["count"]
    first = aggregates.month_index(months[0])
    for row in kept_rows.get(MonthlyCount.Measure.FIRST_SEEN, []):
        # Counted when the child's previous episode was before the period.
        gap = row["code"]
        if gap == "" or int(gap) > aggregates.month_index(row["month"]) - first:
            _area_row(area_rows, episodes_by_area, row["area__name"])["children"] += row["count"]
    for row in erased.get(ErasedCount.Measure.EPISODES, []):
        by_month[row["month"]]["episodes"] += row["count"]
        by_month[row["month"]]["children"] += row["children"]
        name = row["area__name"]
        area_row = _area_row(area_rows, episodes_by_area, name)
        # Erased children are counted once in each month they went missing in.
        area_row["episodes"] += row["count"]
        area_row["children"] += row["children"]
    episodes_by_area.sort(key=lambda row: (-row["episodes"], row["name"]))

    # Return interviews held within 72 hours, over those due in the month (so far).
    interviews = _scoped_if(
        live,
        ReturnInterview.objects.filter(due_at__gte=live_start, due_at__lte=now),
        user,
        filters,
        child="episode__child",
        episode="episode",
        agency_fields=("owner", "provider"),
    ).order_by()
    per_agency = _tally(
        interviews.values("owner__name").annotate(
            **_monthly(
                spans,
                "due_at",
                n=lambda when: Count("pk", filter=when),
                on_time=lambda when: Count("pk", filter=when & Q(held_at__lte=F("due_at"))),
            )
        ),
        "owner__name",
        live,
        by_month,
        ("interviews_due", "interviews_on_time"),
    )
    _add_erased(
        per_agency,
        by_month,
        kept_rows.get(MonthlyCount.Measure.INTERVIEWS, []),
        "agency__name",
        ("interviews_due", "interviews_on_time"),
    )
    _add_erased(
        per_agency,
        by_month,
        erased.get(ErasedCount.Measure.INTERVIEWS, []),
        "agency__name",
        ("interviews_due", "interviews_on_time"),
    )
    interviews_by_agency = _agency_rows(per_agency)

    # Safe and well checks shared with the local authority within 24 hours of the
    # return (as first recorded: a correction moves no deadline), over returns whose 24
    # hours have passed.
    within = policy.safe_and_well_due_after()
    returns = _scoped_if(
        live,
        Episode.objects.filter(first_found_at__gte=live_start, first_found_at__lte=now - within),
        user,
        filters,
        child="child",
        episode="",
    ).order_by()
    shared = Q(safe_and_well__shared_with_la_at__lte=F("first_found_at") + within)
    per_area = _tally(
        returns.values("child__responsible_area__name").annotate(
            **_monthly(
                spans,
                "first_found_at",
                n=lambda when: Count("pk", filter=when),
                on_time=lambda when: Count("pk", filter=when & shared),
            )
        ),
        "child__responsible_area__name",
        live,
        by_month,
        ("returns", "shared_on_time"),
    )
    _add_erased(
        per_area,
        by_month,
        kept_rows.get(MonthlyCount.Measure.RETURNS, []),
        "area__name",
        ("returns", "shared_on_time"),
    )
    _add_erased(
        per_area,
        by_month,
        erased.get(ErasedCount.Measure.RETURNS, []),
        "area__name",
        ("returns", "shared_on_time"),
    )
    safe_and_well_by_area = _agency_rows(per_area)

    # Notifications made on time, over those due in the month (cancelled ones aside).
    notifications = _scoped_if(
        live,
        Notification.objects.filter(due_at__gte=live_start, due_at__lte=now).exclude(
            status=Notification.Status.CANCELLED
        ),
        user,
        filters,
        child="child",
        episode="episode",
        agency_fields=("responsible_agency",),
    ).order_by()
    per_teller = _tally(
        notifications.values("responsible_agency__name").annotate(
            **_monthly(
                spans,
                "due_at",
                n=lambda when: Count("pk", filter=when),
                on_time=lambda when: Count("pk", filter=when & Q(told_at__lte=F("due_at"))),
            )
        ),
        "responsible_agency__name",
        live,
        by_month,
        ("notifications_due", "notifications_on_time"),
        missing="No agency found",
    )
    _add_erased(
        per_teller,
        by_month,
        kept_rows.get(MonthlyCount.Measure.NOTIFICATIONS, []),
        "agency__name",
        ("notifications_due", "notifications_on_time"),
        missing="No agency found",
    )
    _add_erased(
        per_teller,
        by_month,
        erased.get(ErasedCount.Measure.NOTIFICATIONS, []),
        "agency__name",
        ("notifications_due", "notifications_on_time"),
        missing="No agency found",
    )
    notifications_by_agency = _agency_rows(per_teller)

    # Median episode length, over episodes that ended (found) in the month.
    ended = _scoped_if(
        live,
        Episode.objects.filter(found_at__gte=live_start, found_at__lte=now),
        user,
        filters,
        child="child",
        episode="",
    ).order_by()
    # Each month's and each area's lengths as sorted runs: one for the months counted
    # from the records, one for each kept month and area (read as kept, not sorted again).
    month_lengths: dict[dt.date, list[float]] = defaultdict(list)
    area_lengths: dict[str, list[float]] = defaultdict(list)
    for found_at, last_seen_at, area in _if_live(
        live, ended.values_list("found_at", "last_seen_at", "child__responsible_area__name")
    ):
        key = _month_key(found_at)
        seconds = (found_at - last_seen_at).total_seconds()
        if key in keys:
            month_lengths[key].append(seconds)
        area_lengths[area].append(seconds)
    for key, lengths in month_lengths.items():
        by_month[key]["runs"].append(sorted(lengths))
    area_runs: dict[str, list[medians.Run]] = defaultdict(list)
    for area, lengths in area_lengths.items():
        area_runs[area].append(sorted(lengths))
    for row in kept_rows.get(MonthlyCount.Measure.DURATIONS, []):
        run = medians.unpacked(row["lengths"])
        by_month[row["month"]]["runs"].append(run)
        area_runs[row["area__name"]].append(run)
    for row in episodes_by_area:
        row["median_hours"] = _median_hours(area_runs.pop(row["name"], []))
    for area, runs in sorted(area_runs.items()):
        episodes_by_area.append(
            {"name": area, "episodes": 0, "children": 0, "median_hours": _median_hours(runs)}
        )

    # Push and pull factors cited at interviews held in the period.
    push: Counter[str] = Counter()
    pull: Counter[str] = Counter()
    held = _scoped_if(
        live,
        ReturnInterview.objects.filter(
            outcome=ReturnInterview.Outcome.HELD, held_at__gte=live_start, held_at__lte=now
        ),
        user,
        filters,
        child="episode__child",
        episode="episode",
        agency_fields=("owner", "provider"),
    ).order_by()
    for push_factors, pull_factors in _if_live(
        live, held.values_list("push_factors", "pull_factors")
    ):
        push.update(set(push_factors or []))
        pull.update(set(pull_factors or []))
    for row in kept_rows.get(MonthlyCount.Measure.PUSH, []):
        push[row["code"]] += row["count"]
    for row in kept_rows.get(MonthlyCount.Measure.PULL, []):
        pull[row["code"]] += row["count"]
    push_names, pull_names = dict(PUSH_FACTORS), dict(PULL_FACTORS)

    rows = []
    for m in months:
        row = by_month[m]
        row["median_hours"] = _median_hours(row.pop("runs"))
        row["interviews_pct"] = percent(row["interviews_on_time"], row["interviews_due"])
        row["shared_pct"] = percent(row["shared_on_time"], row["returns"])
        row["notifications_pct"] = percent(row["notifications_on_time"], row["notifications_due"])
        rows.append(row)
    return Measures(
        months=months,
        by_month=rows,
        episodes_by_area=episodes_by_area,
        interviews_by_agency=interviews_by_agency,
        safe_and_well_by_area=safe_and_well_by_area,
        notifications_by_agency=notifications_by_agency,
        push_factors=[(push_names.get(code, code), n) for code, n in _ranked(push)],
        pull_factors=[(pull_names.get(code, code), n) for code, n in _ranked(pull)],
        counted_at=read.counted_at,
        counted_months=[m for m in closed if m >= aggregates.closed_before(now)],
    )


def _if_live(live: list[dt.date], rows: Any) -> Any:
    """A query over the months counted from the records; not run when there are none."""
    return rows if live else []


def _scoped_if(live: list[dt.date], queryset: QuerySet, *args: Any, **kwargs: Any) -> QuerySet:
    """``_scoped`` over the months counted from the records; with none, not even built
    (the scope's subqueries cost a few milliseconds to put together)."""
    return _scoped(queryset, *args, **kwargs) if live else queryset.none()


def _kept_counts(
    user: User, filters: Filters, months: list[dt.date]
) -> dict[str, list[dict[str, Any]]]:
    """The counts kept for the closed ``months`` (``oversight.aggregates``) of the
    children this manager's agency sees, by measure (one query; none without months)."""
    if not months:
        return {}
    rows = MonthlyCount.objects.filter(viewer_id=user.agency_id, month__in=months)
    if filters.local_authority is not None:
        rows = rows.filter(area=filters.local_authority)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows.order_by().values(
        "measure",
        "month",
        "area__name",
        "agency__name",
        "code",
        "count",
        "on_time",
        "children",
        "lengths",
    ):
        out[row["measure"]].append(row)
    return out


def _area_row(
    area_rows: dict[str, dict[str, Any]], episodes_by_area: list[dict[str, Any]], name: str
) -> dict[str, Any]:
    if name not in area_rows:
        area_rows[name] = {"name": name, "episodes": 0, "children": 0}
        episodes_by_area.append(area_rows[name])
    return area_rows[name]


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def _agency_rows(per: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "due": v["due"],
            "on_time": v["on_time"],
            "pct": percent(v["on_time"], v["due"]),
        }
        for name, v in sorted(per.items(), key=lambda item: (-item[1]["due"], item[0] or ""))
    ]
