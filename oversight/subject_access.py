"""A child's whole record, for a subject access request: one page to print, one JSON file.

Everything recorded about the child by every agency: their details, legal statuses,
placements, involved agencies and requests to record one, the places they are known to
go, every episode with its risk gradings, return time corrections, safe and well check,
strategy discussion, return interview (with its attempts and agreed actions) and
notifications (who was told, how and when), challenges, strategy meetings, supervision
notes and the timeline of everything that happened on the record.

Only managers of the child's responsible council may export it
(``incidents.rights.Right.SUBJECT_ACCESS``). Lives in the oversight app, which may read
both the case records and the notifications. A fixed number of queries, whatever the
size of the record (``RECORD_QUERIES``).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from incidents import history, rights
from incidents import strategy_discussions as discussions
from incidents.models import (
    AgreedAction,
    Associate,
    CaseEvent,
    Challenge,
    Child,
    Episode,
    EpisodeProfileSnapshot,
    InterviewAttempt,
    Involvement,
    InvolvementRequest,
    LegalStatusPeriod,
    MissingPersonProfile,
    Placement,
    ReturnInterview,
    ReturnTimeCorrection,
    RiskGrading,
    SafeAndWellCheck,
    StrategyMeeting,
    StrategyMeetingAttendee,
    SupervisionNote,
)
from missingkids.accounts.models import Contact, User
from notifications.models import Notification

from . import record_rows

# The queries ``child_record`` makes, whatever the size of the record, for the tests that
# pin them: the right's check (and the person's agency), every kind of entry with its
# change history (one query, ``record_rows.fetch``), and the people, agencies and places
# they name (one more; none when they name none).
RECORD_QUERIES = 3

# The streamed JSON download is sent in pieces of about this many characters.
JSON_CHUNK = 64 * 1024

# Fields that are the service's own bookkeeping, not information about the child.
LEFT_OUT = frozenset(
    {
        "version",
        "recipient_key",
        "claimed_at",
        "claimed_by",
        "next_attempt_at",
        "next_timed_step_at",
        "rule",
        "rule_version",
        "is_protocol",
        "risk_rank",
        "photo_type",
    }
)


@dataclass
class EpisodeRecord:
    episode: Episode
    gradings: list[RiskGrading]
    corrections: list[ReturnTimeCorrection]
    safe_and_well: Any
    strategy_discussion: discussions.StrategyDiscussion
    interview: Any
    attempts: list[InterviewAttempt]
    agreed_actions: list[AgreedAction]
    notifications: list[Notification]
    # The missing person profile as shared with the police for this episode.
    profile_snapshot: Any = None


@dataclass
class ChildRecord:
    child: Child
    exported_at: dt.datetime
    exported_by: User
    legal_statuses: list[Any]
    placements: list[Any]
    involvements: list[Any]
    involvement_requests: list[InvolvementRequest]
    places: list[Any]
    episodes: list[EpisodeRecord]
    challenges: list[Challenge]
    strategy_meetings: list[StrategyMeeting]
    supervision_notes: list[Any]
    # The people the child goes missing with or to, as the police recorded them.
    associates: list[Any]
    # Agreed at a strategy meeting or in a supervision note (those agreed at a return
    # interview are with the interview).
    other_actions: list[AgreedAction]
    events: list[CaseEvent]
    changes: list[history.HistoryEntry]
    # The missing person profile (photo included) and every change to it.
    profile: Any = None
    profile_changes: list[history.HistoryEntry] = dataclass_field(default_factory=list)

    def sections(self) -> dict[str, int]:
        """How many of each kind of entry the export holds (for the access log)."""
        return {
            "episodes": len(self.episodes),
            "notifications": sum(len(e.notifications) for e in self.episodes),
            "events": len(self.events),
            "changes": len(self.changes),
        }


# What each kind of entry shows by name (as ``select_related`` would read it); any other
# relation is shown by its id.
RELATED: dict[str, tuple[str, ...]] = {
    "episodes": (
        "last_seen_location",
        "found_location",
        "reported_by_agency",
        "created_by",
        "closed_by",
    ),
    "gradings": ("graded_by",),
    "corrections": ("corrected_by",),
    "safe_and_well": ("agency", "shared_by_agency", "recorded_by", "shared_recorded_by"),
    "interviews": ("owner", "provider", "recorded_by"),
    "snapshots": ("taken_by",),
    "notifications": ("recipient_agency", "recipient_contact", "responsible_agency", "told_by"),
    "attempts": ("recorded_by",),
    "interview_actions": ("owner_agency",),
    "meetings": ("recorded_by",),
    "attendees": ("agency",),
    "legal_statuses": (),
    "placements": ("host_area",),
    "involvements": ("agency",),
    "involvement_requests": ("agency", "requested_by", "requested_by_agency", "decided_by"),
    "places": (),
    "challenges": ("challenged_agency", "raised_by", "episode"),
    "supervision_notes": ("written_by",),
    "associates": ("recorded_by",),
    "other_actions": ("owner_agency", "owner_person", "strategy_meeting", "supervision_note"),
    "events": ("actor", "actor_agency"),
    "profile": ("reviewed_by", "updated_by"),
}
# The order of each kind of entry.
ORDER: dict[str, tuple[str, ...]] = {
    "episodes": ("last_seen_at", "id"),
    "gradings": tuple(RiskGrading._meta.ordering),
    "corrections": tuple(ReturnTimeCorrection._meta.ordering),
    "notifications": ("due_at", "id"),
    "attempts": tuple(InterviewAttempt._meta.ordering),
    "interview_actions": tuple(AgreedAction._meta.ordering),
    "meetings": ("held_on", "id"),
    "legal_statuses": ("start", "id"),
    "placements": ("start", "id"),
    "involvements": ("start", "id"),
    "involvement_requests": ("requested_at", "id"),
    "places": ("description", "id"),
    "challenges": ("raised_at", "id"),
    "supervision_notes": ("written_at", "id"),
    "associates": ("name", "id"),
    "other_actions": ("agreed_on", "id"),
    "events": ("occurred_at", "id"),
}


# Read through the child's related managers, which leave the child on each.
THROUGH_THE_CHILD = (
    "episodes",
    "legal_statuses",
    "placements",
    "involvements",
    "involvement_requests",
    "challenges",
    "meetings",
    "supervision_notes",
    "associates",
    "other_actions",
    "events",
)


def _parts(child: Child) -> list[record_rows.Part]:
    of_episodes = {"episode__child": child}
    of_interviews = {"interview__episode__child": child}
    return [
        record_rows.Part("episodes", Episode.objects.filter(child=child)),
        record_rows.Part("gradings", RiskGrading.objects.filter(**of_episodes)),
        record_rows.Part("corrections", ReturnTimeCorrection.objects.filter(**of_episodes)),
        record_rows.Part("safe_and_well", SafeAndWellCheck.objects.filter(**of_episodes)),
        record_rows.Part("interviews", ReturnInterview.objects.filter(**of_episodes)),
        record_rows.Part("snapshots", EpisodeProfileSnapshot.objects.filter(**of_episodes)),
        record_rows.Part("notifications", Notification.objects.filter(**of_episodes)),
        record_rows.Part("attempts", InterviewAttempt.objects.filter(**of_interviews)),
        record_rows.Part("interview_actions", AgreedAction.objects.filter(**of_interviews)),
        record_rows.Part("meetings", StrategyMeeting.objects.filter(child=child)),
        record_rows.Part("attendees", StrategyMeetingAttendee.objects.filter(meeting__child=child)),
        record_rows.Part("legal_statuses", LegalStatusPeriod.objects.filter(child=child)),
        record_rows.Part("placements", Placement.objects.filter(child=child)),
        record_rows.Part("involvements", Involvement.objects.filter(child=child)),
        record_rows.Part("involvement_requests", InvolvementRequest.objects.filter(child=child)),
        record_rows.Part("places", child.frequented_locations.all()),
        record_rows.Part("challenges", Challenge.objects.filter(child=child)),
        record_rows.Part("supervision_notes", SupervisionNote.objects.filter(child=child)),
        record_rows.Part("associates", Associate.objects.filter(child=child)),
        record_rows.Part(
            "other_actions", AgreedAction.objects.filter(child=child, interview__isnull=True)
        ),
        record_rows.Part("events", CaseEvent.objects.filter(child=child)),
        record_rows.Part("profile", MissingPersonProfile.objects.filter(child=child)),
    ]


def _all_parts(child_pk: int) -> list[record_rows.Part]:
    """Every kind of entry, and every table of the change history (``history:0`` ...)."""
    child = Child(pk=child_pk)
    history_parts = [
        record_rows.Part(f"history:{n}", queryset)
        for n, (_, queryset) in enumerate(history.record_history_sources(child))
    ]
    return [*_parts(child), *history_parts]


def _by(rows: list[Any], attname: str) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, attname)].append(row)
    return grouped


def child_record(*, user: User, child: Child, now: dt.datetime | None = None) -> ChildRecord:
    """Everything recorded about ``child``; refused unless ``user`` holds the right.

    Every kind of entry and every table of its history in one query, the people,
    agencies and places they name in one more (``RECORD_QUERIES``)."""
    rights.require(user, rights.Right.SUBJECT_ACCESS, child)
    now = now or timezone.now()
    rows = record_rows.fetch_for("subject_access", _all_parts, child.pk)
    sources = [model for model, _ in history.record_history_sources(child)]
    history_keys = [f"history:{n}" for n in range(len(sources))]
    for key, ordering in ORDER.items():
        rows[key] = record_rows.ordered(rows[key], ordering)

    # The parents each entry was read through, as the related managers leave them.
    for key in THROUGH_THE_CHILD:
        for row in rows[key]:
            record_rows.set_related(row, "child", child)
    episodes = {episode.pk: episode for episode in rows["episodes"]}
    for key in ("gradings", "corrections", "safe_and_well", "interviews", "snapshots"):
        for row in rows[key]:
            record_rows.set_related(row, "episode", episodes[row.episode_id])
    for row in rows["notifications"]:
        record_rows.set_related(row, "episode", episodes[row.episode_id])
    interviews = {interview.pk: interview for interview in rows["interviews"]}
    for key in ("attempts", "interview_actions"):
        for row in rows[key]:
            record_rows.set_related(row, "interview", interviews[row.interview_id])
    meetings = {meeting.pk: meeting for meeting in rows["meetings"]}
    for row in rows["attendees"]:
        record_rows.set_related(row, "meeting", meetings[row.meeting_id])

    history_rows = [(model, rows[key]) for key, model in zip(history_keys, sources, strict=True)]
    record_rows.attach(
        [
            *((rows[key], names) for key, names in RELATED.items()),
            *((model_rows, history.history_relations(model)) for model, model_rows in history_rows),
        ],
        known=[*rows["episodes"], *rows["meetings"], *rows["supervision_notes"]],
        agencies_of=(User, Contact),
    )
    attendees = _by(rows["attendees"], "meeting_id")
    for meeting in rows["meetings"]:
        ordered = sorted(attendees.get(meeting.pk, []), key=lambda a: a.agency.name)
        meeting._prefetched_objects_cache = {"attendees": ordered}  # type: ignore[attr-defined]

    by_episode = {
        key: _by(rows[key], "episode_id") for key in ("gradings", "corrections", "notifications")
    }
    one_each = {
        key: {row.episode_id: row for row in rows[key]}
        for key in ("safe_and_well", "interviews", "snapshots")
    }
    attempts = _by(rows["attempts"], "interview_id")
    actions = _by(rows["interview_actions"], "interview_id")
    meetings_held = [m.held_on for m in rows["meetings"]]
    records = []
    for episode in rows["episodes"]:
        interview = one_each["interviews"].get(episode.pk)
        safe_and_well = one_each["safe_and_well"].get(episode.pk)
        snapshot = one_each["snapshots"].get(episode.pk)
        # As select_related leaves the episode: its one-to-one records read, or absent.
        episode._state.fields_cache.update(
            {"safe_and_well": safe_and_well, "interview": interview, "profile_snapshot": snapshot}
        )
        start = discussions.episode_start_day(episode)
        held_on = min((day for day in meetings_held if day >= start), default=None)
        records.append(
            EpisodeRecord(
                episode=episode,
                gradings=by_episode["gradings"].get(episode.pk, []),
                corrections=by_episode["corrections"].get(episode.pk, []),
                safe_and_well=safe_and_well,
                strategy_discussion=discussions.strategy_discussion(
                    episode, held_on=held_on, now=now
                ),
                interview=interview,
                attempts=attempts.get(interview.pk, []) if interview else [],
                agreed_actions=actions.get(interview.pk, []) if interview else [],
                notifications=by_episode["notifications"].get(episode.pk, []),
                profile_snapshot=snapshot,
            )
        )

    changes: list[history.HistoryEntry] = []
    for model, model_rows in history_rows[:-1]:
        changes.extend(history.history_entries(model, model_rows))
    changes.sort(key=lambda change: change.when)
    profile_model, profile_rows = history_rows[-1]
    profile_changes = history.history_entries(profile_model, profile_rows)
    profile_changes.sort(key=lambda change: change.when)
    return ChildRecord(
        child=child,
        exported_at=now,
        exported_by=user,
        legal_statuses=rows["legal_statuses"],
        placements=rows["placements"],
        involvements=rows["involvements"],
        involvement_requests=rows["involvement_requests"],
        places=rows["places"],
        episodes=records,
        challenges=rows["challenges"],
        strategy_meetings=rows["meetings"],
        supervision_notes=rows["supervision_notes"],
        associates=rows["associates"],
        other_actions=rows["other_actions"],
        events=rows["events"],
        changes=changes,
        profile=rows["profile"][0] if rows["profile"] else None,
        profile_changes=profile_changes,
    )


# JSON -------------------------------------------------------------------------------------


# How each field is written, worked out once a model (and the fields left out): the
# kind of value it holds, its label, the labels of its choices, where a related record
# read with the entry is cached.
_PLAIN, _TEXT, _DATETIME, _DATE, _RELATION, _FILE, _CHOICES = range(7)


@dataclass(frozen=True)
class _Field:
    field: models.Field
    name: str
    attname: str
    kind: int
    label: str
    choices: dict[Any, str] | None
    cache_name: str


@functools.cache
def _plan(model: type[models.Model], skip: tuple[str, ...], *, with_pk: bool) -> list[_Field]:
    plan = []
    for field in model._meta.concrete_fields:
        if field.name in LEFT_OUT or field.name in skip or (field.primary_key and not with_pk):
            continue
        choices = None
        if field.is_relation:
            kind = _RELATION
        elif isinstance(field, models.FileField):
            kind = _FILE
        elif field.choices:
            kind = _CHOICES
            choices = {key: str(label) for key, label in dict(field.flatchoices).items()}
        elif isinstance(field, models.DateTimeField):
            kind = _DATETIME
        elif isinstance(field, models.DateField):
            kind = _DATE
        elif isinstance(field, models.CharField | models.TextField):
            kind = _TEXT
        else:
            kind = _PLAIN  # numbers, yes or no, JSON: worked out from the value
        name = str(field.verbose_name)
        plan.append(
            _Field(
                field=field,
                name=field.name,
                attname=field.attname,
                kind=kind,
                label=name[:1].upper() + name[1:],
                choices=choices,
                cache_name=field.cache_name if field.is_relation else "",
            )
        )
    return plan


_NOT_READ = object()


def _related_name(related: models.Model) -> str:
    # People and agencies by name, places by their description: what a reader of the
    # export needs, not the service's ids.
    return str(getattr(related, "name", None) or related)


def _file(obj: models.Model, value: FieldFile) -> dict[str, Any] | None:
    """A stored photo, in the export itself: its type and its bytes (base64)."""
    if not value:
        return None
    try:
        with value.open("rb") as handle:
            content = handle.read()
    except OSError:
        return {"content_type": getattr(obj, "photo_type", ""), "missing": True}
    return {
        "content_type": getattr(obj, "photo_type", ""),
        "size": len(content),
        "base64": base64.b64encode(content).decode("ascii"),
    }


def _fields(obj: models.Model | None, *, skip: tuple[str, ...] = ()) -> dict[str, Any] | None:
    if obj is None:
        return None
    zone = timezone.get_current_timezone()
    cached = obj._state.fields_cache
    fields: dict[str, Any] = {}
    for f in _plan(type(obj), skip, with_pk=True):
        kind = f.kind
        if kind == _RELATION:
            related = cached.get(f.cache_name, _NOT_READ)
            if related is _NOT_READ:
                # Not fetched with the record: its id.
                fields[f.name] = getattr(obj, f.attname)
            else:
                fields[f.name] = None if related is None else _related_name(related)
            continue
        value = getattr(obj, f.attname)
        if value is None or kind == _TEXT:
            pass
        elif kind == _DATETIME:
            value = value.astimezone(zone).isoformat()
        elif kind == _DATE:
            value = value.isoformat()
        elif kind == _FILE:
            value = _file(obj, value)
        elif kind == _CHOICES:
            if value != "":
                value = {"value": value, "label": f.choices.get(value, str(value))}
        elif isinstance(value, Decimal):
            value = str(value)
        fields[f.name] = value
    return fields


def record_as_json(record: ChildRecord) -> dict[str, Any]:
    """Every section of the record, as plain JSON values (times in UK time, with offset)."""
    return {
        key: list(value) if isinstance(value, Iterator) else value
        for key, value in _json_sections(record).items()
    }


def record_json_chunks(record: ChildRecord) -> Iterator[str]:
    """``record_as_json`` written as it is built, for a streamed download: each section
    on a line, each entry of a list on a line of its own."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    pieces: list[str] = ["{"]
    size = 0
    for number, (key, value) in enumerate(_json_sections(record).items()):
        pieces.append(f"{',' if number else ''}\n{encode(key)}: ")
        if isinstance(value, Iterator):
            pieces.append("[")
            first = True
            for item in value:
                text = encode(item)
                pieces.append(f"{'' if first else ','}\n{text}")
                first = False
                size += len(text)
                if size >= JSON_CHUNK:
                    yield "".join(pieces)
                    pieces, size = [], 0
            pieces.append("]" if first else "\n]")
        else:
            pieces.append(encode(value))
    pieces.append("\n}\n")
    yield "".join(pieces)


def _json_sections(record: ChildRecord) -> dict[str, Any]:
    """The sections, the lists among them as iterators (built as they are read)."""
    return {
        "exported_at": timezone.localtime(record.exported_at).isoformat(),
        "exported_by": f"{record.exported_by.name} ({record.exported_by.agency.name})",
        "child": _fields(record.child),
        "legal_statuses": (_fields(x, skip=("child",)) for x in record.legal_statuses),
        "placements": (_fields(x, skip=("child",)) for x in record.placements),
        "involvements": (_fields(x, skip=("child",)) for x in record.involvements),
        "involvement_requests": (
            _fields(x, skip=("child", "involvement")) for x in record.involvement_requests
        ),
        "places_they_go": (_fields(x) for x in record.places),
        "episodes": (
            {
                **_fields(e.episode, skip=("child",)),
                "risk_gradings": [_fields(g, skip=("episode",)) for g in e.gradings],
                "return_time_corrections": [_fields(c, skip=("episode",)) for c in e.corrections],
                "safe_and_well_check": _fields(e.safe_and_well, skip=("episode",)),
                "strategy_discussion": {
                    "state": e.strategy_discussion.state.value,
                    "due_at": timezone.localtime(e.strategy_discussion.due_at).isoformat(),
                    "held_on": (
                        e.strategy_discussion.held_on.isoformat()
                        if e.strategy_discussion.held_on
                        else None
                    ),
                },
                "return_interview": (
                    {
                        **_fields(e.interview, skip=("episode",)),
                        "attempts": [_fields(a, skip=("interview",)) for a in e.attempts],
                        "agreed_actions": [
                            _fields(a, skip=("interview",)) for a in e.agreed_actions
                        ],
                    }
                    if e.interview
                    else None
                ),
                "missing_person_profile_shared": _fields(e.profile_snapshot, skip=("episode",)),
                "notifications": [
                    _fields(n, skip=("episode", "child", "event", "late_fact_event", "last_error"))
                    for n in e.notifications
                ],
            }
            for e in record.episodes
        ),
        "challenges": (_fields(x, skip=("child",)) for x in record.challenges),
        "strategy_meetings": (
            {
                **_fields(m, skip=("child",)),
                "agencies_attending": [a.agency.name for a in m.attendees.all()],
            }
            for m in record.strategy_meetings
        ),
        "supervision_notes": (_fields(x, skip=("child",)) for x in record.supervision_notes),
        "associates": (_fields(x, skip=("child",)) for x in record.associates),
        "missing_person_profile": _fields(record.profile, skip=("child",)),
        "missing_person_profile_changes": (
            {
                "when": timezone.localtime(change.when).isoformat(),
                "who": change.who,
                "action": change.action,
                "changes": [{"field": c.label, "from": c.old, "to": c.new} for c in change.changes],
            }
            for change in record.profile_changes
        ),
        "agreed_actions_at_meetings_and_notes": (
            _fields(x, skip=("child",)) for x in record.other_actions
        ),
        "history": (_fields(x, skip=("child",)) for x in record.events),
        "change_history": (
            {
                "when": timezone.localtime(change.when).isoformat(),
                "who": change.who,
                "record": change.record,
                "action": change.action,
                "changes": [{"field": c.label, "from": c.old, "to": c.new} for c in change.changes],
            }
            for change in record.changes
        ),
    }


# The printable page ---------------------------------------------------------------------


@dataclass
class Entry:
    """One record on the page: a heading, its filled-in fields, and parts within it."""

    title: str
    rows: list[tuple[str, str]]
    parts: list[Section] | None = None


@dataclass
class Section:
    title: str
    entries: list[Entry]


def _rows(obj: models.Model | None, *, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The filled-in fields of ``obj`` as (label, text), in the model's order."""
    if obj is None:
        return []
    zone = timezone.get_current_timezone()
    cached = obj._state.fields_cache
    rows = []
    for f in _plan(type(obj), skip, with_pk=False):
        kind = f.kind
        if kind == _RELATION:
            related = cached.get(f.cache_name, _NOT_READ)
            if related is _NOT_READ:
                value = getattr(obj, f.attname)
                text = "" if value is None else f"Record {value}"
            else:
                text = "" if related is None else _related_name(related)
            if text:
                rows.append((f.label, text))
            continue
        value = getattr(obj, f.attname)
        if kind == _FILE:
            kind_name = {"image/png": "PNG"}.get(getattr(obj, "photo_type", ""), "JPEG")
            if value:
                rows.append(
                    (f.label, f"{kind_name} photo kept (the photo itself is in the JSON export)")
                )
            continue
        if value is None or value == "":
            continue
        if kind == _TEXT:
            text = value
        elif kind == _DATETIME:
            text = f"{value.astimezone(zone):%-d %b %Y %H:%M}"
        elif kind == _DATE:
            text = f"{value:%-d %b %Y}"
        elif kind == _CHOICES:
            text = f.choices.get(value, str(value))
        elif value == [] or value == {}:
            continue
        elif isinstance(value, bool):
            text = "Yes" if value else "No"
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = "; ".join(f"{k}: {v}" for k, v in value.items())
        else:
            text = str(value)
        if text:
            rows.append((f.label, text))
    return rows


def _entries(objects: list[Any], *, skip: tuple[str, ...] = ()) -> list[Entry]:
    return [Entry(title=str(obj), rows=_rows(obj, skip=skip)) for obj in objects]


def record_as_page(record: ChildRecord) -> list[Section]:
    """The same record as ``record_as_json``, as sections of a printable page."""
    episodes = []
    for e in record.episodes:
        discussion = e.strategy_discussion
        parts = [
            Section("Risk gradings", _entries(e.gradings, skip=("episode",))),
            Section("Return time corrections", _entries(e.corrections, skip=("episode",))),
            Section(
                "Safe and well check",
                _entries([e.safe_and_well] if e.safe_and_well else [], skip=("episode",)),
            ),
            Section(
                "Strategy discussion",
                [
                    Entry(
                        title=discussion.state.value.replace("_", " ").capitalize(),
                        rows=[
                            ("Due by", f"{timezone.localtime(discussion.due_at):%-d %b %Y %H:%M}"),
                            *(
                                [("Meeting held on", f"{discussion.held_on:%-d %b %Y}")]
                                if discussion.held_on
                                else []
                            ),
                        ],
                    )
                ],
            ),
            Section(
                "Return interview",
                _entries([e.interview] if e.interview else [], skip=("episode",)),
            ),
            Section("Return interview attempts", _entries(e.attempts, skip=("interview",))),
            Section("Agreed actions", _entries(e.agreed_actions, skip=("interview",))),
            Section(
                "Missing person profile as shared with the police",
                _entries([e.profile_snapshot] if e.profile_snapshot else [], skip=("episode",)),
            ),
            Section(
                "Notifications",
                _entries(
                    e.notifications,
                    skip=("episode", "child", "event", "late_fact_event", "last_error"),
                ),
            ),
        ]
        episodes.append(
            Entry(
                title=str(e.episode),
                rows=_rows(e.episode, skip=("child",)),
                parts=[part for part in parts if part.entries],
            )
        )
    meetings = []
    for meeting in record.strategy_meetings:
        entry = Entry(title=str(meeting), rows=_rows(meeting, skip=("child",)))
        names = ", ".join(a.agency.name for a in meeting.attendees.all())
        if names:
            entry.rows.append(("Agencies that attended", names))
        meetings.append(entry)
    return [
        Section("The child's details", [Entry(str(record.child), _rows(record.child))]),
        Section("Legal status", _entries(record.legal_statuses, skip=("child",))),
        Section("Placements", _entries(record.placements, skip=("child",))),
        Section("Agencies involved", _entries(record.involvements, skip=("child",))),
        Section(
            "Requests to record an agency",
            _entries(record.involvement_requests, skip=("child", "involvement")),
        ),
        Section("Places they go", _entries(record.places)),
        Section(
            "Missing person profile",
            _entries([record.profile] if record.profile else [], skip=("child",)),
        ),
        Section("Episodes", episodes),
        Section("Challenges", _entries(record.challenges, skip=("child",))),
        Section("Strategy meetings", meetings),
        Section("Supervision notes", _entries(record.supervision_notes, skip=("child",))),
        Section("Associates", _entries(record.associates, skip=("child",))),
        Section(
            "Agreed actions at strategy meetings and in supervision notes",
            _entries(record.other_actions, skip=("child",)),
        ),
        Section("History", _entries(record.events, skip=("child",))),
        Section(
            "Change history",
            [
                Entry(
                    title=f"{change.record} {change.action.lower()}",
                    rows=[
                        ("When", f"{timezone.localtime(change.when):%-d %b %Y %H:%M}"),
                        ("By", change.who),
                        *(
                            (c.label, f"{c.old or '(blank)'} to {c.new or '(blank)'}")
                            for c in change.changes
                        ),
                    ],
                )
                for change in record.changes
            ],
        ),
    ]


# The page's sections as HTML, written here rather than by template loops: a large record
# holds tens of thousands of fields, which the template language renders a hundred times
# slower. The markup is the GOV.UK summary card and summary list.
_ROW = (
    '\n        <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">{}</dt>'
    '<dd class="govuk-summary-list__value">{}</dd></div>\n        '
)


def _escape(text: str) -> str:
    return html.escape(text)


def _lines(text: str) -> str:
    """As the ``linebreaksbr`` filter writes it."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return html.escape(text).replace("\n", "<br>")


@functools.lru_cache(maxsize=1024)
def _escaped_label(label: str) -> str:
    # A few hundred labels, each written thousands of times.
    return html.escape(label)


def _html_rows(out: list[str], rows: list[tuple[str, str]]) -> None:
    for label, value in rows:
        out.append(_ROW.format(_escaped_label(label), _lines(value)))


def sections_html(sections: list[Section]) -> SafeString:
    out: list[str] = []
    for number, section in enumerate(sections, start=1):
        out.append(
            f'\n<section class="app-record-section" aria-labelledby="section-{number}">\n'
            f'  <h2 class="govuk-heading-m" id="section-{number}">{_escape(section.title)}</h2>\n  '
        )
        for entry in section.entries:
            out.append(
                '\n  <div class="govuk-summary-card">\n'
                '    <div class="govuk-summary-card__title-wrapper">'
                f'<h3 class="govuk-summary-card__title">{_escape(entry.title)}</h3></div>\n'
                '    <div class="govuk-summary-card__content">\n'
                '      <dl class="govuk-summary-list">\n        '
            )
            _html_rows(out, entry.rows)
            out.append("\n      </dl>\n      ")
            for part in entry.parts or ():
                out.append(
                    f'\n      <h4 class="govuk-heading-s">{_escape(part.title)}</h4>\n      '
                )
                for inner in part.entries:
                    out.append(
                        '\n      <p class="govuk-body govuk-!-font-weight-bold '
                        f'govuk-!-margin-bottom-1">{_escape(inner.title)}</p>\n'
                        '      <dl class="govuk-summary-list govuk-summary-list--no-border">'
                        "\n        "
                    )
                    _html_rows(out, inner.rows)
                    out.append("\n      </dl>\n      ")
                out.append("\n      ")
            out.append("\n    </div>\n  </div>\n  ")
        if not section.entries:
            out.append('\n  <p class="govuk-body">None recorded.</p>\n  ')
        out.append("\n</section>\n")
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped
