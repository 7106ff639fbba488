"""The change history of a child's record and of an episode, from django-simple-history.

Every case model keeps a historical row for each save (``HistoricalRecords``); an
update made with ``QuerySet.update()`` writes one through
``incidents.actions.base.history_write``. This module turns those rows into "who changed
which field from what to what, and when" for the child's page and the episode page.

One query per historical table, whatever the number of rows (the people and the
related records a row names come in the same query through joins), so each page's
query count is fixed: CHILD_HISTORY_QUERIES. The episode page and the return
interview's page read all their tables in one query (EPISODE_HISTORY_QUERIES,
INTERVIEW_HISTORY_QUERIES): each table's latest rows as JSON objects, joined by
UNION ALL (see ``_rows_in_one_query``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db import connections, models
from django.db.models import F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import JSONObject
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from missingkids.accounts.models import Agency, User

from .models import (
    AgreedAction,
    Challenge,
    Child,
    Episode,
    InterviewAttempt,
    Involvement,
    LegalStatusPeriod,
    Location,
    MissingPersonProfile,
    Placement,
    ReturnInterview,
    RiskGrading,
    SafeAndWellCheck,
    StrategyMeeting,
    SupervisionNote,
)

# Entries shown on a page (newest first), and rows read per table to find them.
SHOWN = 30
READ_PER_TABLE = 100

# Bookkeeping, and the record's link to its parent, never shown as changes.
NOT_SHOWN = frozenset(
    {"id", "version", "created_at", "created_by", "recorded_at", "risk_rank", "child"}
    | {"next_timed_step_at"}
    | {"episode", "interview"}
)

CHILD_SOURCES: list[tuple[type[models.Model], str]] = [
    (Child, "id"),
    (LegalStatusPeriod, "child_id"),
    (Placement, "child_id"),
    (Involvement, "child_id"),
    (Challenge, "child_id"),
    (AgreedAction, "child_id"),
]
EPISODE_SOURCES: list[tuple[type[models.Model], str]] = [
    (Episode, "id"),
    (RiskGrading, "episode_id"),
    (SafeAndWellCheck, "episode_id"),
    (ReturnInterview, "episode_id"),
    (InterviewAttempt, "interview__episode_id"),
    (AgreedAction, "interview__episode_id"),
]
CHILD_HISTORY_QUERIES = len(CHILD_SOURCES)
EPISODE_HISTORY_QUERIES = 1
# The return interview's own page: the interview, its attempts and agreed actions.
INTERVIEW_SOURCES: list[tuple[type[models.Model], str]] = [
    (ReturnInterview, "episode_id"),
    (InterviewAttempt, "interview__episode_id"),
    (AgreedAction, "interview__episode_id"),
]
INTERVIEW_HISTORY_QUERIES = 1

ACTIONS = {"+": "Added", "~": "Changed", "-": "Removed"}


@dataclass
class FieldChange:
    label: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    when: dt.datetime
    who: str
    record: str
    action: str
    changes: list[FieldChange] = field(default_factory=list)
    # Why it was changed, when a correction gave a reason.
    reason: str = ""


def _shown_fields(model: type[models.Model]) -> list[models.Field]:
    # Generated columns (the child's search name) are worked out from the others and
    # are not kept in the history.
    return [
        f
        for f in model._meta.concrete_fields
        if f.name not in NOT_SHOWN and not getattr(f, "generated", False)
    ]


def _display(row: Any, f: models.Field) -> str:
    value = getattr(row, f.name)
    if value is None or value == "":
        return ""
    if f.choices:
        return str(dict(f.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%-d %b %Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%-d %b %Y")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _who(row: Any) -> str:
    user = row.history_user
    if user is None:
        return "The system"
    return f"{user.name} ({user.agency.name})"


def _rows(
    model: type[models.Model], lookup: str, pk: Any, *, limit: int | None = READ_PER_TABLE
) -> list[Any]:
    history = model.history.model  # type: ignore[attr-defined]
    related = [f.name for f in _shown_fields(model) if f.is_relation and f.many_to_one]
    rows = (
        history.objects.filter(**{lookup: pk})
        .select_related("history_user", "history_user__agency", *related)
        .order_by("-history_date", "-history_id")
    )
    return list(rows[:limit] if limit is not None else rows)


def _entries(model: type[models.Model], rows: list[Any]) -> list[HistoryEntry]:
    fields = _shown_fields(model)
    label = str(model._meta.verbose_name).capitalize()
    by_record: dict[Any, list[Any]] = defaultdict(list)
    for row in rows:
        by_record[row.id].append(row)
    entries = []
    for versions in by_record.values():
        versions.reverse()  # oldest first
        for previous, row in zip([None, *versions[:-1]], versions, strict=True):
            entry = HistoryEntry(
                when=row.history_date,
                who=_who(row),
                record=label,
                action=ACTIONS.get(row.history_type, row.history_type),
                reason=row.history_change_reason or "",
            )
            if row.history_type == "~":
                if previous is None:
                    continue  # its earlier state is beyond what was read
                for f in fields:
                    old, new = _display(previous, f), _display(row, f)
                    if old != new:
                        entry.changes.append(
                            FieldChange(str(f.verbose_name).capitalize(), old, new)
                        )
                if not entry.changes and not entry.reason:
                    continue  # saved with nothing shown changed (a version bump)
            entries.append(entry)
    return entries


# The fields of a related record that its name (``__str__``) is made of, read into the
# JSON of the row that points to it; any other model has all its own fields read.
NAME_FIELDS: dict[type[models.Model], list[str]] = {
    User: ["name"],
    Agency: ["name"],
    Location: ["description", "postcode"],
    StrategyMeeting: ["held_on"],
    SupervisionNote: ["written_at"],
}
META = {
    "@id": "id",
    "@history_id": "history_id",
    "@date": "history_date",
    "@type": "history_type",
    "@reason": "history_change_reason",
    "@who": "history_user_id",
    "@who_name": "history_user__name",
    "@who_agency": "history_user__agency__name",
}


def _name_fields(model: type[models.Model]) -> list[models.Field]:
    names = NAME_FIELDS.get(model)
    own = [f for f in model._meta.concrete_fields if not f.is_relation]
    return [f for f in own if f.name in names] if names is not None else own


def _from_json(f: models.Field, value: Any) -> Any:
    """A value read back from JSON as the field holds it (PostgreSQL's jsonb and
    SQLite's JSON write times, booleans and nested JSON differently)."""
    if value is None:
        return None
    if isinstance(f, models.DateTimeField):
        moment = parse_datetime(value) if isinstance(value, str) else value
        if moment is not None and timezone.is_naive(moment):
            moment = timezone.make_aware(moment, dt.UTC)
        return moment
    if isinstance(f, models.DateField):
        return parse_date(value) if isinstance(value, str) else value
    if isinstance(f, models.BooleanField):
        return bool(value)
    if isinstance(f, models.JSONField) and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _json_part(model: type[models.Model], lookup: str, pk: int, source: int) -> Any:
    """One table's latest READ_PER_TABLE historical rows, each as one JSON object."""
    history = model.history.model  # type: ignore[attr-defined]
    values: dict[str, Any] = {
        key: F(name) for key, name in META.items() if key not in ("@who_name", "@who_agency")
    }
    # The names of the records a row points to as subqueries of their own rather than
    # joins: PostgreSQL plans a join of every part's tables together (each part's join
    # order searched, the planning several times the reading), a subquery by primary key
    # alone.
    who = User.objects.filter(pk=OuterRef("history_user_id"))
    values["@who_name"] = Subquery(who.values("name")[:1])
    values["@who_agency"] = Subquery(who.values("agency__name")[:1])
    values["@source"] = Value(source)
    for f in _shown_fields(model):
        if f.is_relation and f.many_to_one:
            values[f.attname] = F(f.attname)
            values[f.name] = Subquery(
                f.related_model._default_manager.filter(pk=OuterRef(f.attname)).values(
                    named=JSONObject(**{g.name: F(g.name) for g in _name_fields(f.related_model)})
                )[:1]
            )
        elif not f.is_relation:
            values[f.name] = F(f.name)
    return (
        history.objects.filter(**{lookup: pk})
        .order_by("-history_date", "-history_id")
        .annotate(row=JSONObject(**values))
        .values_list("row")[:READ_PER_TABLE]
    )


# Where the record's key goes in the parameters of ``_one_query_sql``'s SQL.
_PK = object()
# A key no record has, to find the record's key among the parameters.
_PLACEHOLDER_PK = -1_234_567_891


@functools.cache
def _one_query_sql(
    sources: tuple[tuple[type[models.Model], str], ...], vendor: str
) -> tuple[str, list[Any]]:
    """The SQL of ``_rows_in_one_query`` for these sources, built once a process: it is
    the same for every record but for the record's key (``_PK`` in the parameters), and
    building it took longer than reading the rows (``vendor``: one SQL a database)."""
    parts, params = [], []
    for source, (model, lookup) in enumerate(sources):
        sql, part_params = _json_part(
            model, lookup, _PLACEHOLDER_PK, source
        ).query.sql_with_params()
        # Django's own SQL for the part, its values kept apart as parameters.
        parts.append(f"SELECT * FROM ({sql}) part_{source}")  # noqa: S608
        keyed = [_PK if p == _PLACEHOLDER_PK else p for p in part_params]
        if keyed.count(_PK) != 1:
            raise ValueError(f"The key of {model.__name__} is not one parameter of its part.")
        params.extend(keyed)
    return " UNION ALL ".join(parts), params


def _rows_in_one_query(
    sources: list[tuple[type[models.Model], str]], pk: int
) -> list[tuple[type[models.Model], list[Any]]]:
    """``_rows`` for every source in one query: each table's part is sliced inside a
    subquery of its own (SQLite allows no LIMIT in a part of a compound query), the parts
    joined by UNION ALL. Rows come back as plain objects with the attributes
    ``_entries`` reads."""
    alias = Episode.objects.db
    sql, params = _one_query_sql(tuple(sources), connections[alias].vendor)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [pk if p is _PK else p for p in params])
        found = [row[0] for row in cursor.fetchall()]
    rows: list[list[Any]] = [[] for _ in sources]
    for data in found:
        data = json.loads(data) if isinstance(data, str | bytes) else data
        model = sources[data["@source"]][0]
        row = SimpleNamespace(
            id=data["@id"],
            history_id=data["@history_id"],
            history_date=_from_json(models.DateTimeField(), data["@date"]),
            history_type=data["@type"],
            history_change_reason=data["@reason"],
            history_user=None
            if data["@who"] is None
            else SimpleNamespace(
                name=data["@who_name"], agency=SimpleNamespace(name=data["@who_agency"])
            ),
        )
        for f in _shown_fields(model):
            if f.is_relation and f.many_to_one:
                related = None
                if data.get(f.attname) is not None:
                    named = data[f.name]
                    named = json.loads(named) if isinstance(named, str) else named
                    related = f.related_model(
                        **{
                            g.name: _from_json(g, named.get(g.name))
                            for g in _name_fields(f.related_model)
                        }
                    )
                setattr(row, f.name, related)
            elif not f.is_relation:
                setattr(row, f.name, _from_json(f, data.get(f.name)))
        rows[data["@source"]].append(row)
    for found_rows in rows:
        found_rows.sort(key=lambda r: (r.history_date, r.history_id), reverse=True)
    return [(model, found_rows) for (model, _), found_rows in zip(sources, rows, strict=True)]


def _history_in_one_query(
    sources: list[tuple[type[models.Model], str]], pk: int
) -> list[HistoryEntry]:
    entries: list[HistoryEntry] = []
    for model, rows in _rows_in_one_query(sources, pk):
        entries.extend(_entries(model, rows))
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries[:SHOWN]


def _history(sources: list[tuple[type[models.Model], str]], pk: int) -> list[HistoryEntry]:
    entries: list[HistoryEntry] = []
    for model, lookup in sources:
        entries.extend(_entries(model, _rows(model, lookup, pk)))
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries[:SHOWN]


def child_history(child: Child) -> list[HistoryEntry]:
    """The child's details, legal status, placements, agencies and challenges."""
    return _history(CHILD_SOURCES, child.pk)


def episode_history(episode: Episode) -> list[HistoryEntry]:
    """The episode, its risk gradings, safe and well check, return interview, attempts
    and agreed actions: one query."""
    return _history_in_one_query(EPISODE_SOURCES, episode.pk)


# Every change, for the export of the whole record (a subject access request), and every
# change to the missing person profile, which is not on the child's page (more people see
# that than may see the profile) but is in the export.
def record_history_sources(child: Child) -> list[tuple[type[models.Model], QuerySet]]:
    """Each table of the child's change history and the query of its rows, unordered
    and without their related records: for the export of the whole record, which reads
    them together with the rest of the record and passes them to ``history_entries``.
    The missing person profile's comes last."""
    episodes = Episode.objects.filter(child=child).values("id")
    sources = [
        (model, model.history.model.objects.filter(**{lookup: child.pk}))  # type: ignore[attr-defined]
        for model, lookup in CHILD_SOURCES
    ]
    sources += [
        (model, model.history.model.objects.filter(**{f"{lookup}__in": episodes}))  # type: ignore[attr-defined]
        for model, lookup in EPISODE_SOURCES
    ]
    sources.append(
        (MissingPersonProfile, MissingPersonProfile.history.model.objects.filter(child_id=child.pk))  # type: ignore[attr-defined]
    )
    return sources


def history_relations(model: type[models.Model]) -> tuple[str, ...]:
    """The related records a historical row of ``model`` shows by name (with the person
    who made the change, and that person's agency)."""
    related = [f.name for f in _shown_fields(model) if f.is_relation and f.many_to_one]
    return ("history_user", *related)


def history_entries(model: type[models.Model], rows: list[Any]) -> list[HistoryEntry]:
    """A table's history rows (as ``_rows`` reads them, in any order) as entries."""
    rows = sorted(rows, key=lambda row: (row.history_date, row.history_id), reverse=True)
    return _entries(model, rows)


def interview_history(episode: Episode) -> list[HistoryEntry]:
    """The return interview, its attempts and agreed actions: for the interview's page,
    in one query."""
    return _history_in_one_query(INTERVIEW_SOURCES, episode.pk)


def one_record_history(model: type[models.Model], pk: int) -> list[HistoryEntry]:
    """One record's versions (a supervision note, a strategy meeting), for its own page:
    one query."""
    return _history([(model, "id")], pk)
