"""Managers' pages: what is overdue, what patterns are forming, how the partnership does.

Managers only (403 for anyone else, admins included unless they are also managers); the
rows are limited to children the manager may see. Every list is one ``ListPage``: its
query (``oversight.queries``), its columns and how a row becomes cells. The page and
its CSV export are built from the same cells, so they cannot disagree, and every
export is written to the access log.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from incidents.access import has_case_role
from incidents.engagement import Stuck
from missingkids import keyset, policy
from missingkids.accounts.models import User
from missingkids.audit.log import log_export
from missingkids.spreadsheets import CHUNK_ROWS, csv_lines, csv_response, csv_safe
from notifications.models import Notification
from notifications.rules import statutory_rules_switched_off

from . import due, queries
from .charts import build_chart
from .filters import Filters, ManagerFilterForm

PAGE_SIZE = 25


def require_manager(user: User) -> None:
    if not (has_case_role(user) and user.role == User.Role.MANAGER):
        raise PermissionDenied("Only managers can see the managers' pages.")


# Cells -----------------------------------------------------------------------------------


@dataclass
class Cell:
    text: str
    href: str = ""
    # Several linked items in one cell (the children seen at a hotspot).
    items: tuple[tuple[str, str], ...] = ()


def _when(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%-d %b %Y %H:%M") if value else ""


def _duration(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min"


# A placeholder pk: each record's URL is made by substituting it into one reversed URL,
# so a page linking thousands of records (a busy hotspot's sightings) reverses once.
_PK_PLACEHOLDER = "2147483647"


@functools.cache
def _url_pattern(name: str, script_prefix: str) -> str:
    return reverse(name, kwargs={"pk": int(_PK_PLACEHOLDER)})


def _url(name: str, pk: int) -> str:
    return _url_pattern(name, get_script_prefix()).replace(_PK_PLACEHOLDER, str(int(pk)))


def _interview_cells(interview: Any, now: dt.datetime, *, late: bool) -> list[Cell]:
    episode = interview.episode
    timing = _duration(now - interview.due_at) if late else _duration(interview.due_at - now)
    return [
        Cell(episode.child.full_name, _url("incidents:interview_detail", episode.pk)),
        Cell(episode.get_risk_display()),
        Cell(_when(episode.found_at)),
        Cell(_when(interview.due_at)),
        Cell(timing),
        Cell(interview.owner.name),
        Cell(interview.provider.name if interview.provider else ""),
    ]


def _safe_and_well_cells(episode: Any, now: dt.datetime) -> list[Cell]:
    check = getattr(episode, "safe_and_well", None)
    return [
        Cell(episode.child.full_name, _url("incidents:episode_detail", episode.pk)),
        Cell(_when(episode.found_at)),
        Cell(_when(episode.safe_and_well_due_at)),
        Cell("Done, not shared with the local authority" if check else "Not done"),
        Cell(_when(check.conducted_at) if check else ""),
        Cell(check.agency.name if check else ""),
    ]


def _strategy_cells(episode: Any, now: dt.datetime) -> list[Cell]:
    due = episode.strategy_discussion_due_at
    found = episode.found_at
    return [
        Cell(episode.child.full_name, _url("incidents:episode_detail", episode.pk)),
        Cell(episode.child.responsible_area.name),
        Cell(_when(episode.last_seen_at)),
        Cell(_when(due)),
        Cell(_duration(now - due)),
        Cell(f"Missed: found {_when(found)}" if found else "Still missing"),
    ]


def _notification_cells(notification: Any, now: dt.datetime) -> list[Cell]:
    recipient = notification.recipient_name or (
        notification.recipient_agency.name if notification.recipient_agency else ""
    )
    return [
        Cell(notification.responsible_agency.name if notification.responsible_agency else ""),
        Cell(
            notification.child.full_name, _url("incidents:episode_detail", notification.episode_id)
        ),
        Cell(notification.get_step_display()),
        Cell(f"{notification.get_recipient_role_display()}: {recipient}".rstrip(": ")),
        Cell(_when(notification.due_at)),
        Cell(_duration(now - notification.due_at)),
    ]


def _email_failing_cells(notification: Any, now: dt.datetime) -> list[Cell]:
    recipient = notification.recipient_name or (
        notification.recipient_agency.name if notification.recipient_agency else ""
    )
    if notification.delivery == Notification.Delivery.FAILED:
        state = "Failed: tell them another way, or correct the address and queue it again"
    else:
        state = f"Trying again from {_when(notification.next_attempt_at)}"
    return [
        Cell(notification.responsible_agency.name if notification.responsible_agency else ""),
        Cell(
            notification.child.full_name, _url("incidents:episode_detail", notification.episode_id)
        ),
        Cell(notification.get_step_display()),
        Cell(f"{notification.get_recipient_role_display()}: {recipient}".rstrip(": ")),
        Cell(_when(notification.failing_since)),
        Cell(notification.last_error),
        Cell(state),
    ]


def _open_cells(episode: Any, now: dt.datetime) -> list[Cell]:
    reported_by = episode.reported_by_name
    if episode.reported_by_agency:
        reported_by += f", {episode.reported_by_agency.name}"
    return [
        Cell(episode.child.full_name, _url("incidents:episode_detail", episode.pk)),
        Cell(episode.get_category_display()),
        Cell(episode.get_risk_display()),
        Cell(_when(episode.last_seen_at)),
        Cell(_duration(now - episode.last_seen_at)),
        Cell(str(episode.last_seen_location) if episode.last_seen_location else ""),
        Cell(reported_by),
    ]


def _problem_cells(notification: Any, now: dt.datetime) -> list[Cell]:
    return [
        Cell(
            notification.child.full_name, _url("incidents:episode_detail", notification.episode_id)
        ),
        Cell(notification.rule.name),
        Cell(notification.get_recipient_role_display()),
        Cell(notification.problem),
        Cell(_when(notification.due_at)),
        Cell(notification.get_status_display()),
    ]


def _repeat_cells(child: Any, now: dt.datetime) -> list[Cell]:
    return [
        Cell(child.full_name, _url("incidents:child_detail", child.pk)),
        Cell(child.responsible_area.name),
        Cell(str(child.recent_count)),
        Cell(_when(child.first_recent)),
        Cell(_when(child.last_recent)),
    ]


def _stuck_cells(interview: Any, now: dt.datetime) -> list[Cell]:
    episode = interview.episode
    threshold = policy.stuck_failed_attempts()
    stuck = Stuck(
        threshold=threshold,
        failed_attempts=interview.failed_attempts,
        # At least the threshold: the list does not count longer runs.
        declines_in_a_row=threshold if interview.declined_each_time else 0,
    )
    why = "; ".join(stuck.reasons)
    return [
        Cell(episode.child.full_name, _url("incidents:interview_detail", episode.pk)),
        Cell(why[:1].upper() + why[1:]),
        Cell(str(interview.failed_attempts)),
        Cell(interview.get_outcome_display()),
        Cell(_when(interview.due_at)),
        Cell(interview.owner.name),
        Cell(interview.provider.name if interview.provider else ""),
    ]


def _hotspot_cells(spot: queries.Hotspot, now: dt.datetime) -> list[Cell]:
    items = tuple(
        (
            f"{s.child_name}: {s.what.lower()} {_when(s.at)}",
            _url("incidents:episode_detail", s.episode_id),
        )
        for s in spot.sightings
    )
    return [
        Cell(spot.place),
        Cell(str(spot.child_count)),
        Cell("; ".join(text for text, _ in items), items=items),
        Cell(_when(spot.latest)),
    ]


def _out_of_area_cells(child: Any, now: dt.datetime) -> list[Cell]:
    return [
        Cell(child.full_name, _url("incidents:child_detail", child.pk)),
        Cell(child.responsible_area.name),
        Cell(child.host_area_name or ""),
        Cell("Yes" if child.missing_now else "No"),
        Cell(str(child.missed_interviews or 0)),
    ]


def _agreed_action_cells(action: Any, now: dt.datetime) -> list[Cell]:
    child = action.child
    days = (timezone.localdate(now) - action.due_date).days
    return [
        Cell(child.full_name, _url("incidents:child_detail", child.pk) + "#agreed-actions"),
        Cell(child.responsible_area.name),
        Cell(action.description),
        Cell(action.owner_text),
        Cell(action.get_source_display()),
        Cell(action.due_date.strftime("%-d %b %Y")),
        Cell(f"{days} day{'s' if days != 1 else ''}"),
    ]


INTERVIEW_COLUMNS = ("Child", "Risk", "Returned", "Interview due", "", "Owner", "Provider")


# The policy numbers the pages' descriptions may quote, each read only when quoted (a
# rule's number costs a query, once a request), so a page quoting none reads no rule.
POLICY_WORDS: dict[str, Callable[[], int]] = {
    "interview_hours": lambda: policy.hours(policy.interview_due_after()),
    "safe_and_well_hours": lambda: policy.hours(policy.safe_and_well_due_after()),
    "repeat_count": lambda: policy.repeat_threshold()[0],
    "repeat_days": lambda: policy.repeat_threshold()[1],
    "stuck_attempts": policy.stuck_failed_attempts,
}


class _PolicyWords(dict[str, int]):
    def __missing__(self, key: str) -> int:
        self[key] = POLICY_WORDS[key]()
        return self[key]


@dataclass(frozen=True)
class ListPage:
    slug: str
    title: str
    # May quote the policy numbers: {interview_hours}, {repeat_count} ... (POLICY_WORDS).
    description: str
    section: str  # "overdue" or "patterns"
    query: Callable[[User, Filters, dt.datetime], QuerySet | list]
    columns: tuple[str, ...]
    cells: Callable[[Any, dt.datetime], list[Cell]]
    period: str = ""  # "days" when the list looks back over a period
    # The dashboard's count, when not the query's rows counted: SQL and its parameters.
    count_query: Callable[[User, Filters, dt.datetime], tuple[str, list[Any]]] | None = None
    # A page and the total, when the list is not a queryset paged by key (hotspots:
    # places grouped in the database, paged by number; there are few of them).
    page_query: Callable[..., tuple[list[Any], int]] | None = None

    @property
    def url_name(self) -> str:
        return f"oversight:{self.slug}"

    @property
    def description_text(self) -> str:
        return self.description.format_map(_PolicyWords())


LISTS: tuple[ListPage, ...] = (
    ListPage(
        "interviews_overdue",
        "Return interviews overdue",
        "Not held or declined {interview_hours} hours after the child's return. Longest "
        "overdue first.",
        "overdue",
        queries.interviews_overdue,
        tuple(c or "Overdue by" for c in INTERVIEW_COLUMNS),
        lambda row, now: _interview_cells(row, now, late=True),
    ),
    ListPage(
        "interviews_due_soon",
        "Return interviews due in the next 24 hours",
        "Not yet held or declined, and due within a day.",
        "overdue",
        queries.interviews_due_soon,
        tuple(c or "Due in" for c in INTERVIEW_COLUMNS),
        lambda row, now: _interview_cells(row, now, late=False),
    ),
    ListPage(
        "safe_and_well_outstanding",
        "Safe and well checks not done or not shared",
        "No check {safe_and_well_hours} hours after the return, or a check not shared with "
        "the local authority.",
        "overdue",
        queries.safe_and_well_outstanding,
        ("Child", "Returned", "Check due", "State", "Check done", "By"),
        _safe_and_well_cells,
    ),
    ListPage(
        "strategy_discussions_overdue",
        "Strategy discussions overdue",
        "Children still missing 24 hours after they were last seen, with no strategy meeting "
        "recorded since the episode began; those found after that without one stay here, "
        "as missed, until the episode closes. Longest overdue first.",
        "overdue",
        queries.strategy_discussions_overdue,
        (
            "Child",
            "Responsible local authority",
            "Last seen",
            "Discussion due",
            "Overdue by",
            "State",
        ),
        _strategy_cells,
    ),
    ListPage(
        "agreed_actions_overdue",
        "Agreed actions overdue",
        "Actions agreed at a return interview, a strategy meeting or in a supervision note, "
        "still open after the day they were due, due in the period. Longest overdue first; "
        "the agency filter is the agency that owns the action.",
        "overdue",
        queries.agreed_actions_overdue,
        (
            "Child",
            "Responsible local authority",
            "Action",
            "Owner",
            "Agreed at",
            "Due by",
            "Overdue by",
        ),
        _agreed_action_cells,
        period="days",
    ),
    ListPage(
        "notifications_overdue",
        "Notifications overdue",
        "People who should have been told and have not been, by the agency that must tell them.",
        "overdue",
        queries.notifications_overdue,
        ("Agency that must tell", "Child", "Step", "Whom", "Due", "Overdue by"),
        _notification_cells,
    ),
    ListPage(
        "emails_failing",
        "E-mails failing",
        "Notification e-mails the mail server refused, or has not taken for a while and "
        "that are being tried again. Failed ones first: tell the recipient another way, "
        "or correct the address and queue the e-mail again from the episode.",
        "overdue",
        queries.emails_failing,
        ("Agency that must tell", "Child", "Step", "Whom", "Failing since", "Why", "State"),
        _email_failing_cells,
    ),
    ListPage(
        "open_episodes",
        "Open episodes by risk and duration",
        "Children missing or away now: highest risk first, then those missing longest.",
        "overdue",
        queries.open_episodes,
        ("Child", "Category", "Risk", "Last seen", "Missing for", "Where", "Reported by"),
        _open_cells,
    ),
    ListPage(
        "notification_problems",
        "Rules that found no one to tell",
        "A rule applied but no contact is set up for the recipient: ask an admin to add one.",
        "overdue",
        queries.notification_problems,
        ("Child", "Rule", "Recipient", "Problem", "Due", "Status"),
        _problem_cells,
    ),
    ListPage(
        "repeat_missing",
        "Repeat missing without a strategy meeting",
        "Children at or over the repeat threshold ({repeat_count} episodes in {repeat_days} "
        "days) with no strategy meeting recorded since the first of those episodes.",
        "patterns",
        queries.repeat_children,
        ("Child", "Responsible local authority", "Episodes in window", "First", "Latest"),
        _repeat_cells,
    ),
    ListPage(
        "stuck_cases",
        "Stuck cases",
        "Return interviews with {stuck_attempts} or more failed attempts, and children who "
        "declined the interview after each of their last {stuck_attempts} returns: still "
        "pending or declined in the period. Think about who the child trusts, another time "
        "or place, or another worker.",
        "patterns",
        queries.stuck_cases,
        (
            "Child",
            "What made it stuck",
            "Failed attempts",
            "Outcome",
            "Interview due",
            "Owner",
            "Provider",
        ),
        _stuck_cells,
        period="days",
    ),
    ListPage(
        "hotspots",
        "Places several children were found or last seen",
        "The same place appearing for several children can be a sign of exploitation.",
        "patterns",
        queries.hotspots,
        ("Place", "Children", "Who and when", "Latest"),
        _hotspot_cells,
        period="days",
        count_query=queries.hotspot_places_sql,
        page_query=queries.hotspot_page,
    ),
    ListPage(
        "out_of_area",
        "Children placed out of area: missing now or interview missed",
        "Children in care placed outside their responsible authority who are missing now, or "
        "whose return interview in the period was not held in time.",
        "patterns",
        queries.out_of_area_missed,
        (
            "Child",
            "Responsible local authority",
            "Host local authority",
            "Missing now",
            "Interviews missed",
        ),
        _out_of_area_cells,
        period="days",
    ),
)
LISTS_BY_SLUG = {page.slug: page for page in LISTS}


def _filter_form(request: HttpRequest, period: str) -> ManagerFilterForm:
    data = request.GET.copy()
    for name in ("page", "format"):
        data.pop(name, None)
    return ManagerFilterForm(data or None, period=period)


def _count(rows: QuerySet | list) -> int:
    return len(rows) if isinstance(rows, list) else rows.count()


@require_http_methods(["GET"])
def dashboard(request: HttpRequest) -> HttpResponse:
    """Every list's count, in one query (``queries.counts``): the overdue lists kept as
    rows (``oversight.due``) counted from them."""
    require_manager(request.user)
    now = timezone.now()
    filters = Filters()

    def raw(page: ListPage) -> Any:
        if page.count_query:
            return page.count_query(request.user, filters, now)
        return page.query(request.user, filters, now)

    counted: dict[str, int] = {}
    if due.may_keep(request.user, filters):
        counted = queries.counts(
            {
                **{
                    page.slug: due.shown(request.user, page.slug, now)
                    if page.slug in due.KINDS
                    else raw(page)
                    for page in LISTS
                },
                "unfilled": due.unfilled(),
            }
        )
        if counted.pop("unfilled"):  # until the rows are filled: from the records
            counted = {}
    if not counted:
        counted = queries.counts({page.slug: raw(page) for page in LISTS})
    sections: dict[str, list[dict[str, Any]]] = {"overdue": [], "patterns": []}
    for page in LISTS:
        sections[page.section].append(
            {"page": page, "href": reverse(page.url_name), "count": counted[page.slug]}
        )
    return render(
        request,
        "oversight/dashboard.html",
        {
            "overdue": sections["overdue"],
            "patterns": sections["patterns"],
            # Partnership configuration every manager should know is in force.
            "statutory_rules_off": statutory_rules_switched_off(),
        },
    )


# Far past any real page; a larger number would overflow the database's OFFSET.
LAST_PAGE_NUMBER = 1_000_000


def _page_number(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("page", "1")), 1), LAST_PAGE_NUMBER)
    except ValueError:
        return 1


@require_http_methods(["GET"])
def list_view(request: HttpRequest, *, slug: str) -> HttpResponse:
    """A list, 25 rows a page. Pages are read by key (``missingkids.keyset``): "Next page"
    carries the last row's sort key, so a page is one indexed read whatever its depth;
    the total is one count of the same rows."""
    require_manager(request.user)
    page_spec = LISTS_BY_SLUG[slug]
    now = timezone.now()
    form = _filter_form(request, page_spec.period)
    filters = form.filters()
    query = request.GET.copy()
    for name in ("page", "after", "format"):
        query.pop(name, None)
    if request.GET.get("format") == "csv":
        return _csv(request, page_spec, page_spec.query(request.user, filters, now), filters, now)
    groups = None
    previous_href = ""
    if page_spec.page_query is not None:
        number = _page_number(request)
        found, total = page_spec.page_query(
            request.user, filters, now, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
        )
        if not found or (number - 1) * PAGE_SIZE >= total:
            number = 1
        shown = found
        next_href = _href(query, page=number + 1) if number * PAGE_SIZE < total else ""
        if number > 1:
            previous_href = _href(query, page=number - 1)
    elif (
        slug in due.KINDS
        and (kept_total := _kept_total(request.user, filters, slug, now)) is not None
    ):
        # No filter set: the kept rows (``oversight.due``), a page of them by key, then
        # their records by id.
        kept = due.shown(request.user, slug, now)
        total = kept_total
        if slug == "notifications_overdue":
            groups = due.notifications_by_agency(kept)
            total = sum(group["count"] for group in groups)
        page = keyset.page(kept, request.GET.get("after"), PAGE_SIZE, tie_break=("item_id",))
        number, shown = page.number, due.records(slug, page.rows)
        next_href = _href(query, after=page.next_cursor) if page.has_next else ""
        if number > 1:
            previous_href = _href(query)
    else:
        rows = page_spec.query(request.user, filters, now)
        if slug == "notifications_overdue":
            groups = queries.notifications_overdue_by_agency(rows)
            # The per-agency counts add up to the list's count: no second count query.
            total = sum(group["count"] for group in groups)
        else:
            total = rows.count()
        page = keyset.page(rows, request.GET.get("after"), PAGE_SIZE)
        number, shown = page.number, page.rows
        next_href = _href(query, after=page.next_cursor) if page.has_next else ""
        if number > 1:
            previous_href = _href(query)  # the first page: keys do not go back
    csv_query = query.copy()
    csv_query["format"] = "csv"
    context: dict[str, Any] = {
        "spec": page_spec,
        "filters": form,
        "total": total,
        "number": number,
        "next_href": next_href,
        "previous_href": previous_href,
        "previous_is_first": page_spec.page_query is None,
        "rows": [page_spec.cells(row, now) for row in shown],
        "query": query.urlencode(),
        "csv_query": csv_query.urlencode(),
    }
    if groups is not None:
        context["groups"] = groups
    return render(request, "oversight/list.html", context)


def _kept_total(user: User, filters: Filters, slug: str, now: dt.datetime) -> int | None:
    """The list's count from the kept rows, with whether they are filled, in one query
    (the notifications' groups count them instead); None when they cannot answer."""
    if not due.may_keep(user, filters):
        return None
    if slug == "notifications_overdue":
        return None if due.unfilled().exists() else 0
    counted = queries.counts({"unfilled": due.unfilled(), "total": due.shown(user, slug, now)})
    return None if counted["unfilled"] else counted["total"]


def _href(query: Any, **extra: Any) -> str:
    query = query.copy()
    for name, value in extra.items():
        query[name] = value
    return f"?{query.urlencode()}"


def _csv(
    request: HttpRequest,
    page_spec: ListPage,
    rows: QuerySet | list,
    filters: Filters,
    now: dt.datetime,
) -> StreamingHttpResponse:
    """The list as a download, sent as it is read: rows come from the database
    ``CHUNK_ROWS`` at a time (a server-side cursor on PostgreSQL), so a list of any
    length never sits whole in memory. The export is logged, with the number of rows,
    before the first byte is sent: a download broken off half way is still recorded."""
    count = _count(rows)
    log_export(request, what=page_spec.slug, filters=filters.describe(), rows=count)
    stamp = timezone.localtime(now).strftime("%Y-%m-%d-%H%M")
    base = request.build_absolute_uri("/")[:-1]
    return csv_response(
        f"{page_spec.slug}-{stamp}.csv",
        csv_lines([*page_spec.columns, "Record"], _csv_rows(page_spec, rows, now, base)),
    )


def _csv_rows(
    page_spec: ListPage, rows: QuerySet | list, now: dt.datetime, base: str
) -> Iterator[list[str]]:
    iterable: Iterable[Any] = rows if isinstance(rows, list) else rows.iterator(CHUNK_ROWS)
    # Read after the view has returned: the request's memo of the rules has gone.
    with policy.remembered():
        for row in iterable:
            cells = page_spec.cells(row, now)
            link = next((cell.href for cell in cells if cell.href), "")
            yield [csv_safe(cell.text) for cell in cells] + [f"{base}{link}" if link else ""]


@require_http_methods(["GET"])
def measures_view(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    now = timezone.now()
    form = _filter_form(request, "months")
    filters = form.filters()
    data = queries.measures(request.user, filters, now)
    if request.GET.get("format") == "csv":
        return _measures_csv(request, data, filters)
    labels = [m.strftime("%b %Y") for m in data.months]
    months = data.by_month

    def series(key: str) -> list[tuple[str, float | None]]:
        return list(zip(labels, [row[key] for row in months], strict=True))

    period = f"{labels[0]} to {labels[-1]}"
    interview_hours = policy.hours(policy.interview_due_after())
    check_hours = policy.hours(policy.safe_and_well_due_after())
    charts = {
        "episodes": build_chart(
            id="chart-episodes",
            title="Missing episodes by month",
            description=f"Number of episodes starting each month, {period}.",
            points=series("episodes"),
        ),
        "children": build_chart(
            id="chart-children",
            title="Children who went missing, by month",
            description=f"Number of different children with an episode each month, {period}.",
            points=series("children"),
        ),
        "interviews": build_chart(
            id="chart-interviews",
            title=f"Return interviews held within {interview_hours} hours",
            description=f"Percentage of interviews due each month held in time, {period}.",
            points=series("interviews_pct"),
            kind="line",
            unit="%",
            maximum=100,
        ),
        "shared": build_chart(
            id="chart-shared",
            title=f"Safe and well checks shared within {check_hours} hours",
            description=f"Percentage of returns each month whose check was shared with the "
            f"local authority within {check_hours} hours, {period}.",
            points=series("shared_pct"),
            kind="line",
            unit="%",
            maximum=100,
        ),
        "notifications": build_chart(
            id="chart-notifications",
            title="Notifications made on time",
            description=f"Percentage of notifications due each month made in time, {period}.",
            points=series("notifications_pct"),
            kind="line",
            unit="%",
            maximum=100,
        ),
        "median": build_chart(
            id="chart-median",
            title="Median episode length (hours)",
            description=f"Median hours from last seen to found, by the month found, {period}.",
            points=series("median_hours"),
            unit=" h",
        ),
        "push": build_chart(
            id="chart-push",
            title="Push factors most cited",
            description="Times each push factor was cited at return interviews held in the period.",
            points=list(data.push_factors),
            kind="hbar",
        ),
        "pull": build_chart(
            id="chart-pull",
            title="Pull factors most cited",
            description="Times each pull factor was cited at return interviews held in the period.",
            points=list(data.pull_factors),
            kind="hbar",
        ),
    }
    query = request.GET.copy()
    query.pop("format", None)
    query["format"] = "csv"
    return render(
        request,
        "oversight/measures.html",
        {
            "filters": form,
            "data": data,
            "months": [{"label": label, **row} for label, row in zip(labels, months, strict=True)],
            "charts": charts,
            "csv_query": query.urlencode(),
            "interview_hours": interview_hours,
            "check_hours": check_hours,
        },
    )


def _measures_csv(request: HttpRequest, data: queries.Measures, filters: Filters) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="partnership-measures.csv"'
    writer = csv.writer(response)
    interview_h = policy.hours(policy.interview_due_after())
    check_h = policy.hours(policy.safe_and_well_due_after())
    writer.writerow(
        [
            "Month", "Episodes", "Children", "Interviews due", f"Held within {interview_h} h",
            f"% held within {interview_h} h", "Returns", f"Checks shared within {check_h} h",
            "% shared",
            "Notifications due", "Made on time", "% on time", "Median episode length (hours)",
        ]
    )  # fmt: skip
    for row in data.by_month:
        writer.writerow(
            [
                row["month"].strftime("%Y-%m"), row["episodes"], row["children"],
                row["interviews_due"], row["interviews_on_time"], _blank(row["interviews_pct"]),
                row["returns"], row["shared_on_time"], _blank(row["shared_pct"]),
                row["notifications_due"], row["notifications_on_time"],
                _blank(row["notifications_pct"]), _blank(row["median_hours"]),
            ]
        )  # fmt: skip
    log_export(request, what="measures", filters=filters.describe(), rows=len(data.by_month))
    return response


def _blank(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
