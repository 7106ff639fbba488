"""The change history of a child's record and of an episode, from django-simple-history.

Every case model keeps a historical row for each save (``HistoricalRecords``); an
update made with ``QuerySet.update()`` writes one through
``incidents.actions.base.history_write``. This module turns those rows into "who changed
which field from what to what, and when" for the child's page and the episode page.

One query per historical table, whatever the number of rows (the people and the
related records a row names come in the same query through joins), so each page's
query count is fixed: CHILD_HISTORY_QUERIES and EPISODE_HISTORY_QUERIES.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from .models import (
    AgreedAction,
    Challenge,
    Child,
    Episode,
    InterviewAttempt,
    Involvement,
    LegalStatusPeriod,
    MissingPersonProfile,
    Placement,
    ReturnInterview,
    RiskGrading,
    SafeAndWellCheck,
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
EPISODE_HISTORY_QUERIES = len(EPISODE_SOURCES)
# The return interview's own page: the interview, its attempts and agreed actions.
INTERVIEW_SOURCES: list[tuple[type[models.Model], str]] = [
    (ReturnInterview, "episode_id"),
    (InterviewAttempt, "interview__episode_id"),
    (AgreedAction, "interview__episode_id"),
]
INTERVIEW_HISTORY_QUERIES = len(INTERVIEW_SOURCES)

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
    return [f for f in model._meta.concrete_fields if f.name not in NOT_SHOWN]


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
    and agreed actions."""
    return _history(EPISODE_SOURCES, episode.pk)


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
    """The return interview, its attempts and agreed actions: for the interview's page."""
    return _history(INTERVIEW_SOURCES, episode.pk)


def one_record_history(model: type[models.Model], pk: int) -> list[HistoryEntry]:
    """One record's versions (a supervision note, a strategy meeting), for its own page:
    one query."""
    return _history([(model, "id")], pk)
