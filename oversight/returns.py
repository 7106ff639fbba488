"""Statutory returns: the DfE SSDA903 Missing and Header tables, and Ofsted's Annex A
List 8, built from the record and checked as DfE's validator checks them.

- ``collection_year`` names the year: ``2026`` is 1 April 2025 to 31 March 2026 (the
  year a collection ends, as DfE names it).
- ``missing_rows`` / ``header_rows`` are what the CSV files hold, one row per line, in
  the order written; ``missing_check`` runs DfE's Missing-table rules over them (a pure
  function of the rows, the periods of care and the year, so each rule can be tested
  with a few hand-made rows).
- ``list_8_rows`` is Annex A List 8 as at a date.

Every query here is a fixed number of queries however many children and episodes there
are (the rows stream from ``iterator()``): the page, the downloads and the
``export_903`` command all use these functions, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.urls import get_script_prefix, reverse
from django.utils import timezone

from incidents.models import (
    Child,
    Episode,
    Ethnicity,
    LegalStatus,
    LegalStatusPeriod,
    ReturnInterview,
    return_sex,
)
from missingkids.accounts.models import LocalAuthorityArea
from missingkids.policy import EARLIEST_DATE

MISSING_HEADER = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")
HEADER_HEADER = ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB")
LIST_8_HEADER = (
    "Child identifier",
    "Missing episodes in the last 12 months",
    "Absent episodes in the last 12 months",
    "Offered a return interview after the last episode",
    "Accepted the return interview",
)
CATEGORY_CODE = {Episode.Category.MISSING: "M", Episode.Category.AWAY: "A"}
DATE_FORMAT = "%d/%m/%Y"
CHILD_ID_MAX = 10
# Ofsted's List 8 counts episodes in the 12 months up to the chosen date.
LIST_8_MONTHS = 12
# Rows read from the database at a time.
CHUNK_ROWS = 2000


# The collection year -------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionYear:
    """1 April of ``ending - 1`` to 31 March of ``ending``."""

    ending: int

    @property
    def start(self) -> dt.date:
        return dt.date(self.ending - 1, 4, 1)

    @property
    def end(self) -> dt.date:
        return dt.date(self.ending, 3, 31)

    def __str__(self) -> str:
        return f"1 April {self.ending - 1} to 31 March {self.ending}"


# The first year whose collection lies wholly within the record (no date before 2000).
FIRST_YEAR = EARLIEST_DATE.year + 1


def first_year() -> int:
    return FIRST_YEAR


def latest_year(today: dt.date | None = None) -> int:
    """The collection year in progress (or just ended, until 31 March)."""
    today = today or timezone.localdate()
    return today.year + 1 if today >= dt.date(today.year, 4, 1) else today.year


def year_error(year: int | None, today: dt.date | None = None) -> str:
    """Why ``year`` cannot be asked for, or "" if it can."""
    if year is None:
        return "Enter the year the collection ends, for example 2026"
    latest = latest_year(today)
    if year > latest:
        return (
            f"The collection year cannot be in the future: enter {latest} (the year "
            f"{CollectionYear(latest)}) or earlier"
        )
    if year < FIRST_YEAR:
        return (
            f"Records begin in {EARLIEST_DATE.year}: enter {FIRST_YEAR} (the year "
            f"{CollectionYear(FIRST_YEAR)}) or later"
        )
    return ""


def collection_year(year: int, today: dt.date | None = None) -> CollectionYear:
    message = year_error(year, today)
    if message:
        raise ValueError(message)
    return CollectionYear(year)


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _uk_day(name: str) -> TruncDate:
    """The UK local date of a time, worked out by the database (none for no time)."""
    return TruncDate(name, tzinfo=timezone.get_current_timezone())


def uk_date(day: dt.date | None) -> str:
    return _uk_date(day) if day is not None else ""


@functools.lru_cache(maxsize=8192)
def _uk_date(day: dt.date) -> str:
    # A year's rows share a few hundred days: each is written once.
    return day.strftime(DATE_FORMAT)


# Periods of care --------------------------------------------------------------------------


@dataclass(frozen=True)
class CarePeriod:
    start: dt.date
    end: dt.date | None  # None: still in care

    def covers(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


def care_periods(area: LocalAuthorityArea) -> dict[int, list[CarePeriod]]:
    """Each child's periods in care (legal status "in care"), one query. Back-to-back
    periods are joined: the 903 sees one period of care however often its code changed."""
    by_child: dict[int, list[CarePeriod]] = defaultdict(list)
    rows = (
        LegalStatusPeriod.objects.filter(child__responsible_area=area, status=LegalStatus.IN_CARE)
        .order_by("child_id", "start")
        .values_list("child_id", "start", "end")
    )
    for child_id, start, end in rows.iterator():
        periods = by_child[child_id]
        last = periods[-1] if periods else None
        if last is not None and last.end is not None and last.end + dt.timedelta(days=1) >= start:
            later = None if end is None else max(end, last.end)
            periods[-1] = CarePeriod(last.start, later)
        else:
            periods.append(CarePeriod(start, end))
    return by_child


def _in_care_on(area: LocalAuthorityArea, day: dt.date) -> QuerySet:
    """The council's children in care on ``day``, as a subquery (a period covers the
    day: joining back-to-back periods adds no day)."""
    return LegalStatusPeriod.objects.filter(
        Q(end__isnull=True) | Q(end__gte=day),
        child__responsible_area=area,
        status=LegalStatus.IN_CARE,
        start__lte=day,
    ).values("child_id")


def in_care_on(periods: list[CarePeriod], day: dt.date) -> CarePeriod | None:
    for period in periods:
        if period.start <= day and (period.end is None or day <= period.end):
            return period
    return None


# The rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingRow:
    """One line of the Missing table, as written, with where to fix it."""

    child: str
    dob: str
    missing: str
    mis_start: str
    mis_end: str
    child_pk: int | None = None
    episode_pk: int | None = None

    def cells(self) -> tuple[str, ...]:
        return (self.child, self.dob, self.missing, self.mis_start, self.mis_end)


@dataclass(frozen=True)
class HeaderRow:
    child: str
    sex: str
    dob: str
    ethnic: str
    upn: str
    mother: str = ""
    mc_dob: str = ""
    child_pk: int | None = None

    def cells(self) -> tuple[str, ...]:
        return (self.child, self.sex, self.dob, self.ethnic, self.upn, self.mother, self.mc_dob)


def _episodes_in_year(area: LocalAuthorityArea, year: CollectionYear):
    """Episodes of the council's children in care at their start that started in the
    year, or started earlier and were still open at its start (UK local dates): their
    id, category, start and end, and the child's id, identifier and date of birth. One
    query, streamed."""
    year_start = _local_midnight(year.start)
    after_year = _local_midnight(year.end + dt.timedelta(days=1))
    in_care_at_start = LegalStatusPeriod.objects.filter(
        Q(end__isnull=True) | Q(end__gte=OuterRef("start_day")),
        child_id=OuterRef("child_id"),
        status=LegalStatus.IN_CARE,
        start__lte=OuterRef("start_day"),
    )
    return (
        Episode.objects.filter(child__responsible_area=area, last_seen_at__lt=after_year)
        .filter(
            Q(last_seen_at__gte=year_start) | Q(found_at__isnull=True) | Q(found_at__gte=year_start)
        )
        .annotate(start_day=_uk_day("last_seen_at"))
        .filter(Exists(in_care_at_start))
        .order_by("child__la_child_id", "child_id", "last_seen_at", "pk")
        .values_list(
            "pk",
            "category",
            "start_day",
            _uk_day("found_at"),
            "child_id",
            "child__la_child_id",
            "child__date_of_birth",
        )
    )


def missing_rows(
    area: LocalAuthorityArea,
    year: CollectionYear,
    periods: dict[int, list[CarePeriod]] | None = None,
) -> Iterator[MissingRow]:
    """The Missing table: episodes of children in care at the episode's start."""
    periods = care_periods(area) if periods is None else periods
    rows = _episodes_in_year(area, year).iterator(chunk_size=CHUNK_ROWS)
    for episode_pk, category, start, end, child_pk, la_child_id, dob in rows:
        if in_care_on(periods.get(child_pk, []), start) is None:
            continue
        yield MissingRow(
            child=la_child_id or "",
            dob=uk_date(dob),
            missing=CATEGORY_CODE.get(category, category),
            mis_start=uk_date(start),
            # Blank while open, and if it ended after the year: the next year reports it.
            mis_end=uk_date(end) if end is not None and end <= year.end else "",
            child_pk=child_pk,
            episode_pk=episode_pk,
        )


def header_rows(child_pks: Iterable[int]) -> Iterator[HeaderRow]:
    """The Header table for these children, one query."""
    children = (
        Child.objects.filter(pk__in=list(child_pks))
        .order_by("la_child_id", "pk")
        .values_list("pk", "la_child_id", "gender", "sex", "date_of_birth", "ethnicity", "upn")
    )
    for pk, la_child_id, gender, sex, dob, ethnicity, upn in children.iterator(
        chunk_size=CHUNK_ROWS
    ):
        yield HeaderRow(
            child=la_child_id or "",
            sex=return_sex(gender, sex),
            dob=uk_date(dob),
            ethnic=ethnicity,
            upn=upn,
            child_pk=pk,
        )


# The checks -----------------------------------------------------------------------------


# A year can fail on thousands of rows, each linking to its record: the link is made
# from one reversed URL a kind of record, not reversed row by row.
_ANY_PK = 987_654_321


@functools.cache
def _url_pattern(name: str, prefix: str) -> str:
    return reverse(name, args=[_ANY_PK])


def _record_url(name: str, pk: int) -> str:
    return _url_pattern(name, get_script_prefix()).replace(str(_ANY_PK), str(pk), 1)


@dataclass(frozen=True)
class Failure:
    """One row failing one rule: the rule's code, what is wrong in plain words, and the
    page where it is put right."""

    code: str
    message: str
    table: str
    child: str = ""
    child_pk: int | None = None
    episode_pk: int | None = None
    blocking: bool = False

    @property
    def fix_url(self) -> str:
        if self.child_pk is not None and self.code in CARE_RULES:
            return _record_url("incidents:child_legal_status", self.child_pk)
        if self.episode_pk is not None and self.code not in CHILD_RULES:
            return _record_url("incidents:episode_edit", self.episode_pk)
        if self.child_pk is not None:
            return _record_url("incidents:child_edit", self.child_pk)
        return ""

    @property
    def fix_text(self) -> str:
        if self.code in CARE_RULES:
            return "Correct the legal status"
        if self.episode_pk is not None and self.code not in CHILD_RULES:
            return "Correct the episode"
        return "Correct the child's details"


# What each rule means, for the page and the README.
RULES: dict[str, str] = {
    "CHILD": "The child has no council child identifier (or one over 10 characters), so "
    "the return cannot name them. Add it before the file is produced.",
    "1004": "The date the child went missing or away is missing.",
    "564": "The date the child went missing or away is not a valid date.",
    "567": "The date the child was found or returned is before the date they went missing.",
    "570": "The date the child went missing or away is after the end of the collection year.",
    "571": "The date the child was found or returned is before the start or after the end "
    "of the collection year.",
    "574": "A new period missing or away starts while an earlier one is still open, or "
    "the two overlap.",
    "577": "The child left care, but the period missing or away has no end date, or ends "
    "after they left care.",
    "578": "The child was not in care when they went missing or away (before care began "
    "or after it ended).",
    "586": "The date the child went missing or away is on or before their date of birth.",
    "1006": "The category is not M (missing) or A (away from placement without authorisation).",
    "101": "The child's sex is not recorded as the return codes it (1 male, 2 female).",
    "103": "The child's ethnicity is not recorded with a DfE code.",
    "INT04": "The child is in the Missing table but not in the Header table.",
    "INT13": "The child's date of birth differs between the Header and Missing tables.",
}
# Put right on the child's record rather than the episode's.
CHILD_RULES = frozenset({"CHILD", "101", "103", "INT04", "INT13", "586"})
# Put right in the child's legal status (the periods of care).
CARE_RULES = frozenset({"578"})
BLOCKING_RULES = frozenset({"CHILD"})

ETHNIC_CODES = frozenset(Ethnicity.values)
_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


@functools.lru_cache(maxsize=8192)
def parse_uk_date(text: str) -> dt.date | None:
    """dd/mm/yyyy, or None if blank or not a real date."""
    match = _DATE.match(text or "")
    if match is None:
        return None
    try:
        return dt.date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return None


@dataclass
class CheckResult:
    failures: list[Failure] = field(default_factory=list)

    @property
    def blocking(self) -> list[Failure]:
        return [failure for failure in self.failures if failure.blocking]

    @property
    def codes(self) -> list[str]:
        return sorted({failure.code for failure in self.failures})

    def add(self, code: str, row: MissingRow | HeaderRow, table: str, detail: str = "") -> None:
        message = RULES[code] + (f" {detail}" if detail else "")
        self.failures.append(
            Failure(
                code=code,
                message=message,
                table=table,
                child=row.child,
                child_pk=row.child_pk,
                episode_pk=getattr(row, "episode_pk", None),
                blocking=code in BLOCKING_RULES,
            )
        )


def _child_id_ok(value: str) -> bool:
    return bool(value) and len(value) <= CHILD_ID_MAX


def missing_check(
    missing: list[MissingRow],
    header: list[HeaderRow],
    periods: dict[int, list[CarePeriod]],
    year: CollectionYear,
) -> CheckResult:
    """DfE's Missing-table rules (and the Header rules the Missing table leans on) over
    the rows as they would be sent. Each failing row is listed once per rule."""
    result = CheckResult()
    for row in header:
        if not _child_id_ok(row.child):
            result.add("CHILD", row, "Header")
        if row.sex not in ("1", "2"):
            result.add("101", row, "Header")
        if row.ethnic not in ETHNIC_CODES:
            result.add("103", row, "Header")
    header_dob = {row.child: row.dob for row in header if row.child}

    by_child: dict[str, list[tuple[dt.date, dt.date | None, MissingRow]]] = defaultdict(list)
    for row in missing:
        if not _child_id_ok(row.child):
            result.add("CHILD", row, "Missing")
        elif row.child not in header_dob:
            result.add("INT04", row, "Missing")
        elif header_dob[row.child] != row.dob:
            result.add("INT13", row, "Missing")
        if row.missing not in ("M", "A"):
            result.add("1006", row, "Missing")
        start = parse_uk_date(row.mis_start)
        end = parse_uk_date(row.mis_end)
        if not row.mis_start:
            result.add("1004", row, "Missing")
        elif start is None:
            result.add("564", row, "Missing")
        if row.mis_end and end is None:
            result.add("564", row, "Missing", "(The end date is not a valid date.)")
        dob = parse_uk_date(row.dob)
        if start is not None and dob is not None and start <= dob:
            result.add("586", row, "Missing")
        if start is not None and end is not None and end < start:
            result.add("567", row, "Missing")
        if start is not None and start > year.end:
            result.add("570", row, "Missing")
        if end is not None and not (year.start <= end <= year.end):
            result.add("571", row, "Missing")
        if start is not None:
            child_periods = periods.get(row.child_pk, []) if row.child_pk is not None else []
            period = in_care_on(child_periods, start)
            if period is None:
                result.add("578", row, "Missing")
            elif period.end is not None and (end is None or end > period.end):
                result.add("577", row, "Missing", f"(Care ended on {uk_date(period.end)}.)")
            by_child[row.child or f"#{row.child_pk}"].append((start, end, row))

    for spells in by_child.values():
        spells.sort(key=lambda spell: (spell[0], spell[1] or dt.date.max))
        for (_, previous_end, _), (start, _, row) in itertools.pairwise(spells):
            if previous_end is None or previous_end > start:
                result.add("574", row, "Missing")
    return result


# One call for the page, the downloads and the command -----------------------------------


@dataclass
class Return903:
    area: LocalAuthorityArea
    year: CollectionYear
    missing: list[MissingRow]
    header: list[HeaderRow]
    checks: CheckResult
    # The periods of care the rows were checked against (List 8 reads them too).
    periods: dict[int, list[CarePeriod]] = field(default_factory=dict)


def build_903(area: LocalAuthorityArea, year: CollectionYear) -> Return903:
    """Both tables and their checks, in three queries (periods of care, episodes,
    children) whatever the number of rows."""
    periods = care_periods(area)
    missing = list(missing_rows(area, year, periods))
    seen: dict[int, None] = {}
    for row in missing:
        if row.child_pk is not None:
            seen.setdefault(row.child_pk)
    header = list(header_rows(seen)) if seen else []
    return Return903(
        area=area,
        year=year,
        missing=missing,
        header=header,
        checks=missing_check(missing, header, periods, year),
        periods=periods,
    )


# Annex A List 8 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class List8Row:
    child: str
    child_name: str
    child_pk: int
    missing: int
    absent: int
    offered: str
    accepted: str

    def cells(self) -> tuple[str, ...]:
        return (self.child, str(self.missing), str(self.absent), self.offered, self.accepted)


def _twelve_months_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def list_8_rows(
    area: LocalAuthorityArea,
    as_at: dt.date,
    periods: dict[int, list[CarePeriod]] | None = None,
) -> Iterator[List8Row]:
    """Children in care on ``as_at``: missing and absent episodes from care in the 12
    months up to it, and whether a return interview was offered and accepted after the last one.
    Three queries: periods of care (unless given), the children, their episodes with
    interviews."""
    periods = care_periods(area) if periods is None else periods
    in_care = [pk for pk, spans in periods.items() if in_care_on(spans, as_at) is not None]
    if not in_care:
        return
    since = _local_midnight(_twelve_months_before(as_at) + dt.timedelta(days=1))
    until = _local_midnight(as_at + dt.timedelta(days=1))
    # Per child: missing and absent episodes from care, and the last one's interview.
    counts: dict[int, list[int]] = {}
    last: dict[int, tuple[Any, Any]] = {}
    rows = (
        Episode.objects.filter(
            child__in=_in_care_on(area, as_at), last_seen_at__gte=since, last_seen_at__lt=until
        )
        .order_by("child_id", "last_seen_at", "pk")
        .values_list(
            "child_id",
            "category",
            _uk_day("last_seen_at"),
            "interview__offered_at",
            "interview__outcome",
        )
    )
    missing, away = Episode.Category.MISSING, Episode.Category.AWAY
    for child_pk, category, start, offered_at, outcome in rows.iterator(chunk_size=CHUNK_ROWS):
        # Episodes from care only, as the SSDA903 counts them.
        spans = periods.get(child_pk)
        if not spans or not in_care_on(spans, start):
            continue
        count = counts.setdefault(child_pk, [0, 0])
        if category == missing:
            count[0] += 1
        elif category == away:
            count[1] += 1
        last[child_pk] = (offered_at, outcome)
    children = (
        Child.objects.filter(pk__in=_in_care_on(area, as_at))
        .order_by("la_child_id", "pk")
        .values_list("pk", "la_child_id", "first_name", "last_name")
    )
    held = ReturnInterview.Outcome.HELD
    for pk, la_child_id, first_name, last_name in children.iterator(chunk_size=CHUNK_ROWS):
        offered_at, outcome = last.get(pk, (None, None))
        missing_count, away_count = counts.get(pk, (0, 0))
        yield List8Row(
            child=la_child_id or "",
            child_name=f"{first_name} {last_name}",
            child_pk=pk,
            missing=missing_count,
            absent=away_count,
            offered="Y" if offered_at is not None else "N",
            accepted="Y" if outcome == held else "N",
        )
