"""What an agency must do: the home page's "What your agency must do" and its full list.

Five kinds of work, all read from the record, for the signed-in person's agency:

- **notifications** it must make (``Notification.responsible_agency``, status due);
  those with nobody set up to receive them (``problem``) are marked as a problem;
- **return interviews** it owns or provides, not yet held or declined (due 72 hours
  after the return, ``ReturnInterview.due_at``);
- **safe and well checks** not yet recorded, for the police force that must record
  them (due 24 hours after the return). That force is decided as the notification
  engine decides the police's part (``notifications.engine.resolve_teller``): the
  reporting agency if it is a police force, else the first active force serving the
  child's responsible area, else the first serving the area of the placement the
  child was in on the day they were found;
- **requests** from a host council to record an agency, waiting for the responsible
  council's answer (shown from when they were asked, oldest first);
- **strategy discussions** due while a child is still missing at 24 hours
  (``incidents.strategy_discussions``: due, overdue, or missed and the episode still
  open), for the responsible council: the first active local authority serving the
  child's responsible area, the one that owns the return interview
  (``incidents.actions.episodes.interview_owner_for``) and tells the team manager at 24
  hours. Read from the managers' kept rows of them (``oversight.due``, which keeps
  exactly these episodes, due at the deadline, for each agency that may see the child)
  once that table is filled, else from the episodes.

Only children the person may see (``incidents.access.children_visible_to``), and only
for people with a case role. Work on an episode that is closed is over (a manager gave
the reason), except notifications still due: those remain someone's to make.

**Why here.** The home page belongs to ``missingkids.accounts``, the bottom layer, which
must not import incidents or notifications. This app sits above both, so it works out
the list and adds the section through ``missingkids.accounts.signals.
home_page_sections`` (connected in ``OversightConfig.ready``), as notifications adds
its checklist to the episode page through ``incidents.signals``. The full list is its
own page, ``agency_work:list`` (``oversight.agency_views``).

**Queries.** The five kinds are one ``UNION ALL`` of (kind, id, due), ordered by due, so
the soonest come first whatever their kind; the pages read its first rows up to the
bound they count to (one query gives the count and the page shown), then one query per
table for the rows shown (notifications, interviews, episodes, requests): at most five,
whatever the number of rows.

**Agreed actions** the agency owns and has not yet marked done or no longer needed
(``AgreedAction``, due by a date rather than a time) are listed beside the rest, with
their counts (open, overdue): two queries more, the rows read only when there are any.

**Access log.** Like the other lists that name children (open episodes, the managers'
lists), each showing is logged as a list viewed: the full list by
``AccessLogMiddleware`` (``agency_work`` is a case URL namespace, so a refused request
is logged too), the home page's section by its receiver when it names anyone. Every
page is ``no-store``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from incidents import strategy_discussions as discussions
from incidents.access import children_visible_to, has_case_role, visible_condition
from incidents.models import (
    AgreedAction,
    Episode,
    InvolvementRequest,
    Placement,
    ReturnInterview,
)
from missingkids import policy
from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from notifications.models import Notification
from notifications.panels import OVERDUE, Tag, delivery_note, status_tag

from .due import KINDS, unfilled
from .models import DueItem

K = Agency.Kind

NOTIFICATION = "notification"
INTERVIEW = "interview"
SAFE_AND_WELL = "safe_and_well"
STRATEGY = "strategy"
REQUEST = "request"

DUE = Tag("Due", "govuk-tag--blue")
WAITING = Tag("To answer", "govuk-tag--yellow")
MISSED = Tag("Missed", "govuk-tag--red")


@dataclass(frozen=True)
class WorkItem:
    kind: str
    child_name: str
    what: str
    hint: str
    href: str
    due_at: dt.datetime
    tag: Tag


# The rows -------------------------------------------------------------------------------


def _first_serving(kind: str, area: Any) -> Subquery:
    """The first active agency of a kind serving an area, as the engine's
    ``agency_serving`` and ``interview_owner_for`` choose it (by name)."""
    return Subquery(
        Agency.objects.filter(kind=kind, active=True, areas=area)
        .order_by("name", "pk")
        .values("pk")[:1],
        output_field=IntegerField(),
    )


def _areas_first_served(kind: str, agency: Agency | None) -> QuerySet[LocalAuthorityArea]:
    """The areas whose first active agency of a kind (``_first_serving``) is this one, or,
    for None, that no active agency of the kind serves: a few dozen rows, read once (a
    hashed subplan) where working the agency out for each row took a subquery a row."""
    first = LocalAuthorityArea.objects.annotate(first=_first_serving(kind, OuterRef("pk")))
    if agency is None:
        return first.filter(first__isnull=True).values("pk")
    return first.filter(first=agency.pk).values("pk")


def _served_by(kind: str, agency: Agency) -> Q:
    """The child's responsible area is first served by this agency of this kind."""
    return Q(child__responsible_area__in=_areas_first_served(kind, agency))


def checks_for_police_force(agency: Agency) -> QuerySet[Episode]:
    """Returned episodes, not closed, with no safe and well check, that this police force
    must record (see the module docstring for how the force is chosen)."""
    placement_host = (
        Placement.objects.filter(child=OuterRef("child"), start__lte=OuterRef("found_day"))
        .filter(Q(end__isnull=True) | Q(end__gte=OuterRef("found_day")))
        .order_by("-start")
        .values("host_area")[:1]
    )
    episodes = (
        Episode.objects.filter(
            found_at__isnull=False, closed_at__isnull=True, safe_and_well__isnull=True
        )
        .annotate(found_day=TruncDate("found_at"), placement_host_area=Subquery(placement_host))
        .annotate(host_force=_first_serving(K.POLICE, OuterRef("placement_host_area")))
    )
    reporter_not_police = Q(reported_by_agency__isnull=True) | ~Q(reported_by_agency__kind=K.POLICE)
    # The force serving the child's area; where none does, the one serving the area the
    # child was placed in (the placement's force worked out only for those episodes).
    unserved = Q(child__responsible_area__in=_areas_first_served(K.POLICE, None))
    force = _served_by(K.POLICE, agency) | (unserved & Q(host_force=agency.pk))
    return episodes.filter(Q(reported_by_agency=agency) | (reporter_not_police & force))


def discussions_for_council(agency: Agency) -> QuerySet[Episode]:
    """Episodes whose strategy discussion is due, overdue or missed, for the responsible
    council."""
    return discussions.needing_strategy_discussion(Episode.objects.all()).filter(
        _served_by(K.LOCAL_AUTHORITY, agency)
    )


def requests_for_council(agency: Agency) -> QuerySet[InvolvementRequest]:
    """Host councils' requests to record an agency, waiting for this responsible
    council's answer (the first active local authority serving the child's council)."""
    return InvolvementRequest.objects.filter(status=InvolvementRequest.Status.PENDING).filter(
        _served_by(K.LOCAL_AUTHORITY, agency)
    )


def _part(
    rows: QuerySet, kind: str, due: Any, *order: Any, pk: str = "pk"
) -> tuple[QuerySet, tuple]:
    """The same three columns, in the same order, in every part of the UNION; and the
    part's order on its own table (``due`` less a constant: the same order, which an index
    can give, where the sum cannot), by which it is cut at the rows needed. ``pk``: the
    column holding the id of the record the row is for."""
    part = (
        rows.order_by()
        .annotate(
            work_kind=Value(kind),
            work_id=F(pk),
            work_due=ExpressionWrapper(due, output_field=DateTimeField()),
        )
        .values_list("work_kind", "work_id", "work_due")
    )
    return part, order or ("work_due", "work_id")


def _discussion_parts(agency: Agency, visible: Q) -> list[tuple[QuerySet, tuple]]:
    """The council's strategy discussions, from the managers' kept rows of them
    (``oversight.due``: one row for each agency that may see the child, due at the
    deadline) when the table is filled: read in order from ``dueitem_count_idx`` rather
    than walking the open episodes past those found in time. Until it is filled, from
    the episodes. Both parts are in the query; each asks once whether the table is
    filled (a one-time filter on PostgreSQL), so only one reads anything."""
    is_unfilled = Exists(unfilled())
    kept = DueItem.objects.filter(
        ~is_unfilled,
        viewer=agency,
        kind=KINDS["strategy_discussions_overdue"].slug,
        child__responsible_area__in=_areas_first_served(K.LOCAL_AUTHORITY, agency),
    )
    return [
        _part(kept, STRATEGY, F("due_at"), "due_at", "item_id", pk="item_id"),
        _part(
            discussions_for_council(agency).filter(is_unfilled).filter(visible),
            STRATEGY,
            F("earliest_last_seen_at") + policy.strategy_discussion_due_after(),
            "earliest_last_seen_at",
            "pk",
        ),
    ]


def work_rows(user: User, *, upto: int | None = None) -> QuerySet:
    """(kind, id, due) of everything the person's agency must do, soonest due first.

    Empty for anyone without a case role. Slice it for a page; ``work_items`` turns a
    page of it into rows to show. With ``upto``, only the first ``upto`` rows are to be
    read (the end of the pages offered): each part then reads at most that many of its
    own, soonest first, from an index of its table in that order (the agency's
    notifications due, the interviews it owns, those it provides, the open episodes by
    when they were first found or last seen), rather than every row of every kind
    being sorted together (PostgreSQL; SQLite allows no LIMIT in a part of a UNION, and
    reads them all).
    """
    if not has_case_role(user):
        return Notification.objects.none()
    agency = user.agency
    visible = visible_condition(user, "child_id")
    interviews = ReturnInterview.objects.filter(
        outcome=ReturnInterview.Outcome.PENDING, episode__closed_at__isnull=True
    ).filter(visible_condition(user, "episode__child_id"))
    # Notifications first: the UNION's column types (and so how SQLite's text is read
    # back as a time) come from its first part.
    parts = [
        _part(
            Notification.objects.filter(
                responsible_agency=agency, status=Notification.Status.DUE
            ).filter(visible),
            NOTIFICATION,
            F("due_at"),
        ),
        # Owned, or provided and not owned: each from its own index, none twice.
        _part(interviews.filter(owner=agency), INTERVIEW, F("due_at")),
        _part(interviews.filter(provider=agency).exclude(owner=agency), INTERVIEW, F("due_at")),
    ]
    if agency.kind == K.POLICE:
        parts.append(
            _part(
                checks_for_police_force(agency).filter(visible),
                SAFE_AND_WELL,
                F("first_found_at") + policy.safe_and_well_due_after(),
                "first_found_at",
                "pk",
            )
        )
    if agency.kind == K.LOCAL_AUTHORITY:
        parts += _discussion_parts(agency, visible)
        # A request has no deadline of its own: it is to answer from when it was asked.
        parts.append(
            _part(requests_for_council(agency).filter(visible), REQUEST, F("requested_at"))
        )
    if upto is not None and connection.features.supports_slicing_ordering_in_compound:
        rows = [part.order_by(*order)[:upto] for part, order in parts]
    else:
        rows = [part for part, _order in parts]
    first, *rest = rows
    return first.union(*rest, all=True).order_by("work_due", "work_kind", "work_id")


# The SQL of ``soonest``, by everything it is compiled from (see there).
_COMPILED: dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]] = {}
_COMPILED_AT_MOST = 1000


def _compiled_key(user: User, n: int) -> tuple[Any, ...]:
    """What the SQL of ``work_rows(user, upto=n)[:n]`` depends on: the agency (its id
    and kind), the bound, the deadlines' delays and the time zone dates are taken in
    (``TruncDate``), on one database. Nothing else of the person or the time."""
    return (
        connection.alias,
        user.agency_id,
        user.agency.kind,
        n,
        policy.safe_and_well_due_after(),
        policy.strategy_discussion_due_after(),
        timezone.get_current_timezone_name(),
    )


def soonest(user: User, n: int) -> list[tuple[str, int, dt.datetime]]:
    """The first ``n`` rows of ``work_rows(user, upto=n)``, in one query.

    On PostgreSQL the query's SQL is compiled once for each agency (``_compiled_key``)
    and kept by the process: building and compiling the ``UNION ALL`` of up to six parts
    with their subqueries took longer than running it on a partnership's data. A test
    checks that the kept SQL is what compiling it again gives and that the rows are
    ``work_rows``'s. Elsewhere (SQLite reads text for the times, which the query set
    converts) the query set is read as it is."""
    if not has_case_role(user):
        return []
    if connection.vendor != "postgresql":
        return list(work_rows(user, upto=n)[:n])
    key = _compiled_key(user, n)
    compiled = _COMPILED.get(key)
    if compiled is None:
        if len(_COMPILED) >= _COMPILED_AT_MOST:
            _COMPILED.clear()
        compiled = _COMPILED[key] = work_rows(user, upto=n)[:n].query.sql_with_params()
    sql, params = compiled
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


# What is shown --------------------------------------------------------------------------


def kinds_of_work(agency: Agency) -> str:
    """What this kind of agency can find in its list, for the page's introduction."""
    kinds = ["people to tell"]
    if agency.kind in (K.LOCAL_AUTHORITY, K.PROVIDER):
        kinds.append("return interviews it owns or provides")
    if agency.kind == K.POLICE:
        kinds.append("safe and well checks to record")
    if agency.kind == K.LOCAL_AUTHORITY:
        kinds.append("strategy discussions due while a child is missing")
        kinds.append("host councils' requests to record an agency")
    return kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"


def _when(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%-d %b %Y %H:%M") if value else ""


def _lower_first(text: str) -> str:
    # "Independent reviewing officer" reads "the independent reviewing officer"; keep
    # capitals such as "IRO" and "GP".
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def _notification_item(n: Notification, due: dt.datetime, now: dt.datetime) -> WorkItem:
    role = str(n.get_recipient_role_display())
    step = str(n.get_step_display())
    if n.problem:
        what = f"Tell the {_lower_first(role)}: nobody is set up to receive it"
        hint = f"{step}. {n.problem}"
    else:
        agency = n.recipient_agency.name if n.recipient_agency else ""
        who = ", ".join(dict.fromkeys(part for part in (n.recipient_name, agency) if part))
        what = f"Tell {who or _lower_first(role)}"
        hint = f"{role}: {_lower_first(step)}"
    note = delivery_note(n)
    if note:
        hint = f"{hint}. {note}"
    href = reverse("incidents:episode_detail", kwargs={"pk": n.episode_id}) + "#notifications"
    return WorkItem(NOTIFICATION, n.child.full_name, what, hint, href, due, status_tag(n, now))


def _interview_item(
    interview: ReturnInterview, agency_id: int, due: dt.datetime, now: dt.datetime
) -> WorkItem:
    owns, provides = interview.owner_id == agency_id, interview.provider_id == agency_id
    if owns and provides:
        hint = "Your agency owns and provides it"
    elif owns:
        provider = interview.provider.name if interview.provider else "no provider recorded"
        hint = f"Your agency owns it; provided by {provider}"
    else:
        hint = f"Your agency provides it; owned by {interview.owner.name}"
    episode = interview.episode
    return WorkItem(
        INTERVIEW,
        episode.child.full_name,
        "Return interview",
        f"{hint}. Returned {_when(episode.found_at)}",
        reverse("incidents:interview_detail", kwargs={"pk": episode.pk}),
        due,
        OVERDUE if interview.is_overdue(now) else DUE,
    )


def _check_item(episode: Episode, due: dt.datetime, now: dt.datetime) -> WorkItem:
    return WorkItem(
        SAFE_AND_WELL,
        episode.child.full_name,
        "Safe and well check",
        f"Returned {_when(episode.found_at)}",
        reverse("incidents:episode_detail", kwargs={"pk": episode.pk}),
        due,
        OVERDUE if now > due else DUE,
    )


def _discussion_item(episode: Episode, due: dt.datetime, now: dt.datetime) -> WorkItem:
    # No meeting since the episode began, or the row would not be here.
    discussion = discussions.strategy_discussion(episode, held_on=None, now=now)
    state = discussions.State
    if discussion.state == state.MISSED:
        tag = MISSED
        hint = f"Found {_when(episode.found_at)}, after the deadline: no strategy meeting yet"
    elif discussion.state == state.OVERDUE:
        tag, hint = OVERDUE, f"Still missing, last seen {_when(episode.last_seen_at)}"
    else:
        tag = DUE
        hint = f"If still missing 24 hours after last seen ({_when(episode.last_seen_at)})"
    return WorkItem(
        STRATEGY,
        episode.child.full_name,
        "Strategy discussion",
        hint,
        reverse("incidents:episode_detail", kwargs={"pk": episode.pk}),
        due,
        tag,
    )


def _request_item(request: InvolvementRequest, due: dt.datetime) -> WorkItem:
    return WorkItem(
        REQUEST,
        request.child.full_name,
        "Answer a request to record an agency",
        f"{request.requested_by_agency.name} asks you to record {request.agency.name} as "
        f"{_lower_first(str(request.get_role_display()))}",
        reverse("incidents:child_care", kwargs={"pk": request.child_id}) + "#requests",
        due,
        WAITING,
    )


def work_items(
    user: User, rows: Iterable[tuple[str, int, dt.datetime]], now: dt.datetime
) -> list[WorkItem]:
    """A page of ``work_rows`` as rows to show, in the same order: one query per table."""
    rows = list(rows)
    ids: dict[str, list[int]] = defaultdict(list)
    for kind, pk, _due in rows:
        ids[kind].append(pk)
    notifications = (
        Notification.objects.filter(pk__in=ids[NOTIFICATION]).select_related(
            "child", "recipient_agency"
        )
        if ids[NOTIFICATION]
        else []
    )
    interviews = (
        ReturnInterview.objects.filter(pk__in=ids[INTERVIEW]).select_related(
            "episode", "episode__child", "owner", "provider"
        )
        if ids[INTERVIEW]
        else []
    )
    episode_ids = ids[SAFE_AND_WELL] + ids[STRATEGY]
    episodes = (
        Episode.objects.filter(pk__in=episode_ids).select_related("child") if episode_ids else []
    )
    by_kind: dict[str, dict[int, Any]] = {
        NOTIFICATION: {n.pk: n for n in notifications},
        INTERVIEW: {i.pk: i for i in interviews},
    }
    by_kind[SAFE_AND_WELL] = by_kind[STRATEGY] = {e.pk: e for e in episodes}
    by_kind[REQUEST] = (
        {
            r.pk: r
            for r in InvolvementRequest.objects.filter(pk__in=ids[REQUEST]).select_related(
                "child", "agency", "requested_by_agency"
            )
        }
        if ids[REQUEST]
        else {}
    )
    items = []
    for kind, pk, due in rows:
        record = by_kind[kind].get(pk)
        if record is None:  # changed since the list was read
            continue
        if kind == NOTIFICATION:
            items.append(_notification_item(record, due, now))
        elif kind == INTERVIEW:
            items.append(_interview_item(record, user.agency_id, due, now))
        elif kind == SAFE_AND_WELL:
            items.append(_check_item(record, due, now))
        elif kind == REQUEST:
            items.append(_request_item(record, due))
        else:
            items.append(_discussion_item(record, due, now))
    return items


# Agreed actions -------------------------------------------------------------------------


def agreed_actions_for(user: User) -> QuerySet[AgreedAction]:
    """Open actions the person's agency owns, on children they may see."""
    if not has_case_role(user):
        return AgreedAction.objects.none()
    return AgreedAction.objects.filter(
        state=AgreedAction.State.OPEN,
        owner_agency_id=user.agency_id,
        child__in=children_visible_to(user),
    )


def agreed_action_counts(actions: QuerySet[AgreedAction], today: dt.date) -> dict[str, int]:
    """{"open": n, "overdue": m}, in one query."""
    return actions.aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_date__lt=today)))


def agreed_action_rows(actions: Iterable[AgreedAction], today: dt.date) -> list[AgreedAction]:
    """The actions (a page of ``ordered(...)``) with ``overdue`` set, to show."""
    rows = list(actions)
    for action in rows:
        action.overdue = action.is_overdue(today)
    return rows


def ordered(actions: QuerySet[AgreedAction]) -> QuerySet[AgreedAction]:
    return actions.select_related("child", "owner_person").order_by(
        F("due_date").asc(nulls_last=True), "pk"
    )
