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
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
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
from incidents.models import AgreedAction, Episode, ReturnInterview
from missingkids import keyset, policy
from missingkids.accounts.models import User
from missingkids.audit.log import log_export, log_rows_sent
from missingkids.choices import labels
from missingkids.spreadsheets import (
    CHUNK_ROWS,
    LINES_PER_PIECE,
    csv_pieces,
    csv_response,
    csv_safe,
    day_formatter,
    read_once,
    when_formatter,
)
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
    more = spot.more_sightings
    if more:
        items += ((f"and {more} earlier: see the download", ""),)
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


# Downloads -------------------------------------------------------------------------------
#
# A download writes the same text as the page's cells, read the cheap way: only the
# columns the file needs (``values_list``, related names joined in the same query), each
# row a few string operations. Whatever is the same for every row (the time zone, the
# choices' labels, a record's URL up to its pk) is worked out once a download.


class Writing:
    """What every row of one download shares."""

    def __init__(self, now: dt.datetime, base: str) -> None:
        self.now = now
        self.base = base
        self.when = when_formatter(timezone.get_current_timezone())
        self.day = day_formatter()
        self.script_prefix = get_script_prefix()

    def link(self, name: str, anchor: str = "") -> Callable[[int], str]:
        """The record's full URL from its pk, as ``_url`` makes it after the base."""
        head, tail = _url_pattern(name, self.script_prefix).split(_PK_PLACEHOLDER)
        head = f"{self.base}{head}"
        tail = f"{tail}{anchor}"
        return lambda pk: f"{head}{int(pk)}{tail}"


@dataclass(frozen=True)
class Download:
    """How a list's rows are written to its file: the columns read, and ``row(writing)``,
    the function that turns one row of them into the file's cells (the record's URL
    last)."""

    fields: tuple[str, ...]
    row: Callable[[Writing], Callable[..., list[str]]]


@dataclass(frozen=True)
class Lines:
    """A download with a line for each of a row's parts rather than a line a row: the
    hotspots, a line a sighting (a busy place has thousands; in one cell they would pass
    the 32,767 characters a spreadsheet's cell holds). ``lines(writing)`` is the
    function that turns one row into its lines (the record's URL last)."""

    columns: tuple[str, ...]
    lines: Callable[[Writing], Callable[[Any], list[list[str]]]]


def _hotspot_lines(w: Writing) -> Callable[[Any], list[list[str]]]:
    when, link = w.when, w.link("incidents:episode_detail")

    def lines(spot: queries.Hotspot) -> list[list[str]]:
        place, children, latest = csv_safe(spot.place), str(spot.child_count), when(spot.latest)
        return [
            [
                place,
                children,
                latest,
                csv_safe(s.child_name),
                s.what,
                when(s.at),
                link(s.episode_id),
            ]
            for s in spot.sightings
        ]

    return lines


HOTSPOT_LINES = Lines(
    ("Place", "Children", "Latest", "Child", "Seen", "When", "Record"),
    _hotspot_lines,
)


def _interview_download(*, late: bool) -> Download:
    def row(w: Writing) -> Callable[..., list[str]]:
        risks, when, now = labels(Episode, "risk"), w.when, w.now
        link = w.link("incidents:interview_detail")

        def write(
            episode_id: int, first: str, last: str, risk: str, found_at: dt.datetime | None,
            due_at: dt.datetime, owner: str, provider: str | None,
        ) -> list[str]:  # fmt: skip
            return [
                csv_safe(f"{first} {last}"),
                risks.get(risk, risk),
                when(found_at),
                when(due_at),
                _duration(now - due_at) if late else _duration(due_at - now),
                csv_safe(owner),
                csv_safe(provider or ""),
                link(episode_id),
            ]

        return write

    return Download(
        (
            "episode_id", "episode__child__first_name", "episode__child__last_name",
            "episode__risk", "episode__found_at", "due_at", "owner__name", "provider__name",
        ),
        row,
    )  # fmt: skip


def _safe_and_well_row(w: Writing) -> Callable[..., list[str]]:
    when, link = w.when, w.link("incidents:episode_detail")
    due_after = policy.safe_and_well_due_after()

    def write(
        pk: int, first: str, last: str, found_at: dt.datetime | None,
        first_found_at: dt.datetime | None, check: int | None, conducted_at: dt.datetime | None,
        agency: str | None,
    ) -> list[str]:  # fmt: skip
        returned = first_found_at or found_at
        return [
            csv_safe(f"{first} {last}"),
            when(found_at),
            when(returned + due_after if returned else None),
            "Done, not shared with the local authority" if check else "Not done",
            when(conducted_at) if check else "",
            csv_safe(agency or "") if check else "",
            link(pk),
        ]

    return write


def _strategy_row(w: Writing) -> Callable[..., list[str]]:
    when, now, link = w.when, w.now, w.link("incidents:episode_detail")
    due_after = policy.strategy_discussion_due_after()

    def write(
        pk: int, first: str, last: str, area: str, last_seen_at: dt.datetime,
        earliest: dt.datetime | None, found_at: dt.datetime | None,
    ) -> list[str]:  # fmt: skip
        due = min(filter(None, (earliest, last_seen_at))).astimezone(dt.UTC) + due_after
        return [
            csv_safe(f"{first} {last}"),
            csv_safe(area),
            when(last_seen_at),
            when(due),
            _duration(now - due),
            f"Missed: found {when(found_at)}" if found_at else "Still missing",
            link(pk),
        ]

    return write


def _agreed_action_row(w: Writing) -> Callable[..., list[str]]:
    sources, day, link = (
        labels(AgreedAction, "source"),
        w.day,
        w.link("incidents:child_detail", "#agreed-actions"),
    )
    today = timezone.localdate(w.now)

    def write(
        child_id: int, first: str, last: str, area: str, description: str,
        person_id: int | None, person: str | None, owner_name: str, agency: str | None,
        source: str, due_date: dt.date,
    ) -> list[str]:  # fmt: skip
        # AgreedAction.owner_text
        who = person if person_id else owner_name
        days = (today - due_date).days
        return [
            csv_safe(f"{first} {last}"),
            csv_safe(area),
            csv_safe(description),
            csv_safe(", ".join(part for part in (who, agency or "") if part)),
            sources.get(source, source),
            day(due_date),
            f"{days} day{'s' if days != 1 else ''}",
            link(child_id),
        ]

    return write


def _recipient(role: str, name: str, agency: str | None) -> str:
    return f"{role}: {name or agency or ''}".rstrip(": ")


def _notification_row(w: Writing) -> Callable[..., list[str]]:
    steps, roles = labels(Notification, "step"), labels(Notification, "recipient_role")
    when, now, link = w.when, w.now, w.link("incidents:episode_detail")

    def write(
        agency: str | None, episode_id: int, first: str, last: str, step: str, role: str,
        name: str, recipient_agency: str | None, due_at: dt.datetime,
    ) -> list[str]:  # fmt: skip
        return [
            csv_safe(agency or ""),
            csv_safe(f"{first} {last}"),
            steps.get(step, step),
            csv_safe(_recipient(roles.get(role, role), name, recipient_agency)),
            when(due_at),
            _duration(now - due_at),
            link(episode_id),
        ]

    return write


NOTIFICATION_FIELDS = (
    "responsible_agency__name", "episode_id", "child__first_name", "child__last_name",
    "step", "recipient_role", "recipient_name", "recipient_agency__name",
)  # fmt: skip


def _email_failing_row(w: Writing) -> Callable[..., list[str]]:
    steps, roles = labels(Notification, "step"), labels(Notification, "recipient_role")
    when, link = w.when, w.link("incidents:episode_detail")
    failed = Notification.Delivery.FAILED

    def write(
        agency: str | None, episode_id: int, first: str, last: str, step: str, role: str,
        name: str, recipient_agency: str | None, failing_since: dt.datetime | None,
        last_error: str, delivery: str, next_attempt_at: dt.datetime | None,
    ) -> list[str]:  # fmt: skip
        if delivery == failed:
            state = "Failed: tell them another way, or correct the address and queue it again"
        else:
            state = f"Trying again from {when(next_attempt_at)}"
        return [
            csv_safe(agency or ""),
            csv_safe(f"{first} {last}"),
            steps.get(step, step),
            csv_safe(_recipient(roles.get(role, role), name, recipient_agency)),
            when(failing_since),
            csv_safe(last_error),
            state,
            link(episode_id),
        ]

    return write


def _open_row(w: Writing) -> Callable[..., list[str]]:
    categories, risks = labels(Episode, "category"), labels(Episode, "risk")
    when, now, link = w.when, w.now, w.link("incidents:episode_detail")

    def write(
        pk: int, first: str, last: str, category: str, risk: str, last_seen_at: dt.datetime,
        place: str | None, postcode: str | None, reported_by: str, agency: str | None,
    ) -> list[str]:  # fmt: skip
        if agency is not None:
            reported_by += f", {agency}"
        # Location.__str__
        where = (f"{place}, {postcode}" if postcode else place) if place is not None else ""
        return [
            csv_safe(f"{first} {last}"),
            categories.get(category, category),
            risks.get(risk, risk),
            when(last_seen_at),
            _duration(now - last_seen_at),
            csv_safe(where),
            csv_safe(reported_by),
            link(pk),
        ]

    return write


def _problem_row(w: Writing) -> Callable[..., list[str]]:
    roles, statuses = labels(Notification, "recipient_role"), labels(Notification, "status")
    when, link = w.when, w.link("incidents:episode_detail")

    def write(
        episode_id: int, first: str, last: str, rule: str, role: str, problem: str,
        due_at: dt.datetime | None, status: str,
    ) -> list[str]:  # fmt: skip
        return [
            csv_safe(f"{first} {last}"),
            csv_safe(rule or ""),
            roles.get(role, role),
            csv_safe(problem),
            when(due_at),
            statuses.get(status, status),
            link(episode_id),
        ]

    return write


def _repeat_row(w: Writing) -> Callable[..., list[str]]:
    when, link = w.when, w.link("incidents:child_detail")

    def write(
        pk: int, first: str, last: str, area: str, count: int, first_recent: dt.datetime,
        last_recent: dt.datetime,
    ) -> list[str]:  # fmt: skip
        return [
            csv_safe(f"{first} {last}"),
            csv_safe(area),
            str(count),
            when(first_recent),
            when(last_recent),
            link(pk),
        ]

    return write


def _stuck_row(w: Writing) -> Callable[..., list[str]]:
    outcomes, when = labels(ReturnInterview, "outcome"), w.when
    link = w.link("incidents:interview_detail")
    threshold = policy.stuck_failed_attempts()

    def write(
        episode_id: int, first: str, last: str, failed_attempts: int, declined_each_time: bool,
        outcome: str, due_at: dt.datetime, owner: str, provider: str | None,
    ) -> list[str]:  # fmt: skip
        stuck = Stuck(
            threshold=threshold,
            failed_attempts=failed_attempts,
            declines_in_a_row=threshold if declined_each_time else 0,
        )
        why = "; ".join(stuck.reasons)
        return [
            csv_safe(f"{first} {last}"),
            csv_safe(why[:1].upper() + why[1:]),
            str(failed_attempts),
            outcomes.get(outcome, outcome),
            when(due_at),
            csv_safe(owner),
            csv_safe(provider or ""),
            link(episode_id),
        ]

    return write


def _out_of_area_row(w: Writing) -> Callable[..., list[str]]:
    link = w.link("incidents:child_detail")

    def write(
        pk: int, first: str, last: str, area: str, host: str | None, missing_now: bool,
        missed: int | None,
    ) -> list[str]:  # fmt: skip
        return [
            csv_safe(f"{first} {last}"),
            csv_safe(area),
            csv_safe(host or ""),
            "Yes" if missing_now else "No",
            str(missed or 0),
            link(pk),
        ]

    return write


SAFE_AND_WELL_FIELDS = (
    "pk",
    "child__first_name",
    "child__last_name",
    "found_at",
    "first_found_at",
    "safe_and_well__id",
    "safe_and_well__conducted_at",
    "safe_and_well__agency__name",
)  # fmt: skip

STRATEGY_FIELDS = (
    "pk",
    "child__first_name",
    "child__last_name",
    "child__responsible_area__name",
    "last_seen_at",
    "earliest_last_seen_at",
    "found_at",
)  # fmt: skip

AGREED_ACTION_FIELDS = (
    "child_id",
    "child__first_name",
    "child__last_name",
    "child__responsible_area__name",
    "description",
    "owner_person_id",
    "owner_person__name",
    "owner_name",
    "owner_agency__name",
    "source",
    "due_date",
)  # fmt: skip

OPEN_FIELDS = (
    "pk",
    "child__first_name",
    "child__last_name",
    "category",
    "risk",
    "last_seen_at",
    "last_seen_location__description",
    "last_seen_location__postcode",
    "reported_by_name",
    "reported_by_agency__name",
)  # fmt: skip

PROBLEM_FIELDS = (
    "episode_id",
    "child__first_name",
    "child__last_name",
    "rule__name",
    "recipient_role",
    "problem",
    "due_at",
    "status",
)  # fmt: skip

REPEAT_FIELDS = (
    "pk",
    "first_name",
    "last_name",
    "responsible_area__name",
    "recent_count",
    "first_recent",
    "last_recent",
)  # fmt: skip

STUCK_FIELDS = (
    "episode_id",
    "episode__child__first_name",
    "episode__child__last_name",
    "failed_attempts",
    "declined_each_time",
    "outcome",
    "due_at",
    "owner__name",
    "provider__name",
)  # fmt: skip

OUT_OF_AREA_FIELDS = (
    "pk",
    "first_name",
    "last_name",
    "responsible_area__name",
    "host_area_name",
    "missing_now",
    "missed_interviews",
)  # fmt: skip

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
    query: Callable[[User, Filters, dt.datetime], QuerySet | Iterable[Any]]
    columns: tuple[str, ...]
    cells: Callable[[Any, dt.datetime], list[Cell]]
    period: str = ""  # "days" when the list looks back over a period
    # The dashboard's count, when not the query's rows counted: SQL and its parameters.
    count_query: Callable[[User, Filters, dt.datetime], tuple[str, list[Any]]] | None = None
    # ... and with no filter set, from the kept rows (``oversight.due``; the lists in
    # ``due.KINDS`` are counted from their kept counts).
    kept_count_query: Callable[[User, dt.datetime], tuple[str, list[Any]]] | None = None
    # A page and the total, when the list is not a queryset paged by key (hotspots:
    # places grouped in the database, paged by number; there are few of them).
    page_query: Callable[..., tuple[list[Any], int]] | None = None
    # How the download reads and writes its rows, when not through ``cells`` (a list
    # that is not a queryset: the hotspots, a few places).
    download: Download | None = None
    # A download written a line for each of a row's parts (the hotspots' sightings).
    lines: Lines | None = None

    @property
    def url_name(self) -> str:
        return f"oversight:{self.slug}"

    @property
    def description_text(self) -> str:
        return self.description.format_map(_PolicyWords())

    def download_values(
        self, user: User, filters: Filters, now: dt.datetime
    ) -> Iterator[tuple[Any, ...]] | None:
        """The download's fields (``download.fields``) of the list's rows in its order,
        as they are read: from the kept rows where ``due.download_from_kept`` says so,
        else from the list's query read once, ``CHUNK_ROWS`` at a time (a server-side
        cursor on PostgreSQL). None when the list has no download of its own: its rows
        are written through ``cells``. A list with a download has a queryset."""
        download = self.download
        if download is None:
            return None
        if due.download_from_kept(user, self.slug, filters):
            chunks = due.download_values(user, self.slug, now, download.fields, CHUNK_ROWS)
            return (row for chunk in chunks for row in chunk)
        return read_once(self.query(user, filters, now).values_list(*download.fields), CHUNK_ROWS)


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
        download=_interview_download(late=True),
    ),
    ListPage(
        "interviews_due_soon",
        "Return interviews due in the next 24 hours",
        "Not yet held or declined, and due within a day.",
        "overdue",
        queries.interviews_due_soon,
        tuple(c or "Due in" for c in INTERVIEW_COLUMNS),
        lambda row, now: _interview_cells(row, now, late=False),
        download=_interview_download(late=False),
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
        download=Download(SAFE_AND_WELL_FIELDS, _safe_and_well_row),
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
        download=Download(STRATEGY_FIELDS, _strategy_row),
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
        download=Download(AGREED_ACTION_FIELDS, _agreed_action_row),
    ),
    ListPage(
        "notifications_overdue",
        "Notifications overdue",
        "People who should have been told and have not been, by the agency that must tell them.",
        "overdue",
        queries.notifications_overdue,
        ("Agency that must tell", "Child", "Step", "Whom", "Due", "Overdue by"),
        _notification_cells,
        download=Download((*NOTIFICATION_FIELDS, "due_at"), _notification_row),
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
        download=Download(
            (*NOTIFICATION_FIELDS, "failing_since", "last_error", "delivery", "next_attempt_at"),
            _email_failing_row,
        ),
    ),
    ListPage(
        "open_episodes",
        "Open episodes by risk and duration",
        "Children missing or away now: highest risk first, then those missing longest.",
        "overdue",
        queries.open_episodes,
        ("Child", "Category", "Risk", "Last seen", "Missing for", "Where", "Reported by"),
        _open_cells,
        download=Download(OPEN_FIELDS, _open_row),
    ),
    ListPage(
        "notification_problems",
        "Rules that found no one to tell",
        "A rule applied but no contact is set up for the recipient: ask an admin to add one.",
        "overdue",
        queries.notification_problems,
        ("Child", "Rule", "Recipient", "Problem", "Due", "Status"),
        _problem_cells,
        download=Download(PROBLEM_FIELDS, _problem_row),
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
        download=Download(REPEAT_FIELDS, _repeat_row),
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
        download=Download(STUCK_FIELDS, _stuck_row),
    ),
    ListPage(
        "hotspots",
        "Places several children were found or last seen",
        "The same place appearing for several children can be a sign of exploitation.",
        "patterns",
        due.hotspots,
        ("Place", "Children", "Who and when", "Latest"),
        _hotspot_cells,
        period="days",
        count_query=queries.hotspot_places_sql,
        kept_count_query=due.hotspot_places_sql,
        page_query=due.hotspot_page,
        lines=HOTSPOT_LINES,
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
        download=Download(OUT_OF_AREA_FIELDS, _out_of_area_row),
    ),
)
LISTS_BY_SLUG = {page.slug: page for page in LISTS}


def _filter_form(request: HttpRequest, period: str) -> ManagerFilterForm:
    data = request.GET.copy()
    for name in ("page", "format"):
        data.pop(name, None)
    return ManagerFilterForm(data or None, period=period)


@require_http_methods(["GET"])
def dashboard(request: HttpRequest) -> HttpResponse:
    """Every list's count, in one query (``queries.counts``): the overdue lists kept as
    rows (``oversight.due``) summed from their kept counts."""
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
                    page.slug: due.total(request.user, page.slug, now)
                    if page.slug in due.KINDS
                    else page.kept_count_query(request.user, now)
                    if page.kept_count_query
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
        return _csv(request, page_spec, filters, now)
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
        # their records by id; the total (and the groups) from the kept counts.
        kept = due.shown(request.user, slug, now)
        total = kept_total
        if slug == "notifications_overdue":
            groups = due.notification_groups(request.user, now)
            total = sum(group["count"] for group in groups)
        page = keyset.page(kept, request.GET.get("after"), PAGE_SIZE, tie_break=("item_id",))
        number, shown = page.number, due.records(slug, page.rows, now)
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
    counted = queries.counts({"unfilled": due.unfilled(), "total": due.total(user, slug, now)})
    return None if counted["unfilled"] else counted["total"]


def _href(query: Any, **extra: Any) -> str:
    query = query.copy()
    for name, value in extra.items():
        query[name] = value
    return f"?{query.urlencode()}"


def _csv(
    request: HttpRequest, page_spec: ListPage, filters: Filters, now: dt.datetime
) -> StreamingHttpResponse:
    """The list as a download, sent as it is read: the header first, then the rows,
    ``CHUNK_ROWS`` at a time, so a list of any length never sits whole in memory. With
    no filter set, a list kept as rows (``oversight.due``) whose raw query counts and
    sorts every row before giving the first (``Kind.download_kept``: the stuck cases,
    repeat missing, out of area) is read from the kept rows as its pages are, by key in
    the list's order, and its records' columns a chunk at a time
    (``due.download_values``): the first rows do not wait for the whole list to be
    worked out and sorted. Otherwise its query is run after the header is sent (a
    server-side cursor on PostgreSQL). The export is logged before the first byte is
    sent, without counting the rows first (at a million episodes the count held the
    first byte back by seconds); how many rows were sent is logged when the stream
    stops (``log_rows_sent``), so a download broken off half way is still recorded,
    with what it sent."""
    stamp = timezone.localtime(now).strftime("%Y-%m-%d-%H%M")
    base = request.build_absolute_uri("/")[:-1]
    expanded = page_spec.lines
    # The hotspots: a few places, grouped before the response.
    rows = page_spec.query(request.user, filters, now) if expanded is not None else []
    started = log_export(request, what=page_spec.slug, filters=filters.describe())
    if expanded is not None and not isinstance(rows, QuerySet):
        return csv_response(
            f"{page_spec.slug}-{stamp}.csv",
            csv_pieces(
                expanded.columns,
                log_rows_sent(request, started, _lines_batches(expanded, rows, now, base)),
            ),
        )
    return csv_response(
        f"{page_spec.slug}-{stamp}.csv",
        csv_pieces(
            [*page_spec.columns, "Record"],
            log_rows_sent(
                request, started, _csv_batches(request.user, page_spec, filters, now, base)
            ),
        ),
    )


def _lines_batches(
    expanded: Lines, rows: Iterable[Any], now: dt.datetime, base: str
) -> Iterator[list[list[str]]]:
    lines = expanded.lines(Writing(now, base))
    batch: list[list[str]] = []
    try:
        for row in rows:
            batch.extend(lines(row))
            if len(batch) >= LINES_PER_PIECE:
                yield batch
                batch = []
    finally:
        # The rows' read (and its transaction) ends here, before the rows sent are logged.
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    if batch:
        yield batch


def _csv_batches(
    user: User, page_spec: ListPage, filters: Filters, now: dt.datetime, base: str
) -> Iterator[list[list[str]]]:
    """The file's rows, ``LINES_PER_PIECE`` at a time: read through ``page_spec.download``
    when the list has one (from the kept rows when they can answer), else through its
    cells. Nothing is read until the header has gone."""
    # Read after the view has returned: the request's memo of the rules has gone.
    with policy.remembered():
        values = page_spec.download_values(user, filters, now)
        if values is not None:
            write = page_spec.download.row(Writing(now, base))
            with closing(values):
                for batch in itertools.batched(values, LINES_PER_PIECE):
                    yield [write(*row) for row in batch]
            return
        rows = page_spec.query(user, filters, now)
        if isinstance(rows, list):
            for batch in itertools.batched(rows, LINES_PER_PIECE):
                yield [_cells_row(page_spec, row, now, base) for row in batch]
            return
        with closing(read_once(rows, CHUNK_ROWS)) as read:
            for batch in itertools.batched(read, LINES_PER_PIECE):
                yield [_cells_row(page_spec, row, now, base) for row in batch]


def _cells_row(page_spec: ListPage, row: Any, now: dt.datetime, base: str) -> list[str]:
    """A row of the file as the page shows it: its cells' text, and the first link."""
    cells = page_spec.cells(row, now)
    link = next((cell.href for cell in cells if cell.href), "")
    return [csv_safe(cell.text) for cell in cells] + [f"{base}{link}" if link else ""]


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
            "counted": _counted(data),
        },
    )


def _counted(data: queries.Measures) -> dict[str, str] | None:
    """The open months shown that were read from the kept counts ("November and December
    2026"), and when they were counted (local time); None when counted for this page."""
    if data.counted_at is None:
        return None
    shown = data.counted_months
    names = [m.strftime("%B %Y" if m.year != shown[-1].year else "%B") for m in shown]
    return {
        "months": f"{' and '.join(names)} {shown[-1].year}",
        "at": timezone.localtime(data.counted_at).strftime("%H:%M"),
    }


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
