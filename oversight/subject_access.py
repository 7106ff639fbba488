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
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Prefetch
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from incidents import history, rights
from incidents import strategy_discussions as discussions
from incidents.models import (
    AgreedAction,
    CaseEvent,
    Challenge,
    Child,
    Episode,
    InterviewAttempt,
    InvolvementRequest,
    MissingPersonProfile,
    ReturnTimeCorrection,
    RiskGrading,
    StrategyMeeting,
    StrategyMeetingAttendee,
)
from missingkids.accounts.models import User
from notifications.models import Notification

# The queries ``child_record`` makes, whatever the size of the record, for the tests that
# pin them: the right's check (and the person's agency), the episodes and the five kinds
# of entry fetched with them, the meetings with their agencies, nine more kinds of
# entry, and the change history. Fewer when a kind has nothing to fetch (no episodes, no
# meetings).
RECORD_QUERIES = 21 + history.RECORD_HISTORY_QUERIES + history.PROFILE_HISTORY_QUERIES

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


def child_record(*, user: User, child: Child, now: dt.datetime | None = None) -> ChildRecord:
    """Everything recorded about ``child``; refused unless ``user`` holds the right."""
    rights.require(user, rights.Right.SUBJECT_ACCESS, child)
    now = now or timezone.now()
    episodes = list(
        child.episodes.select_related(
            "last_seen_location",
            "found_location",
            "reported_by_agency",
            "created_by",
            "closed_by",
            "safe_and_well__agency",
            "safe_and_well__shared_by_agency",
            "safe_and_well__recorded_by",
            "safe_and_well__shared_recorded_by",
            "interview__owner",
            "interview__provider",
            "interview__recorded_by",
            "profile_snapshot__taken_by",
        )
        .prefetch_related(
            Prefetch("gradings", RiskGrading.objects.select_related("graded_by")),
            Prefetch(
                "return_time_corrections",
                ReturnTimeCorrection.objects.select_related("corrected_by"),
            ),
            Prefetch(
                "notifications",
                Notification.objects.select_related(
                    "recipient_agency",
                    "recipient_contact__agency",
                    "responsible_agency",
                    "told_by",
                ).order_by("due_at", "id"),
            ),
            Prefetch("interview__attempts", InterviewAttempt.objects.select_related("recorded_by")),
            Prefetch("interview__actions", AgreedAction.objects.select_related("owner_agency")),
        )
        .order_by("last_seen_at", "id")
    )
    meetings = list(
        child.strategy_meetings.select_related("recorded_by")
        .prefetch_related(
            Prefetch("attendees", StrategyMeetingAttendee.objects.select_related("agency"))
        )
        .order_by("held_on", "id")
    )
    records = []
    for episode in episodes:
        interview = getattr(episode, "interview", None)
        held_on = min(
            (m.held_on for m in meetings if m.held_on >= discussions.episode_start_day(episode)),
            default=None,
        )
        records.append(
            EpisodeRecord(
                episode=episode,
                gradings=list(episode.gradings.all()),
                corrections=list(episode.return_time_corrections.all()),
                safe_and_well=getattr(episode, "safe_and_well", None),
                strategy_discussion=discussions.strategy_discussion(
                    episode, held_on=held_on, now=now
                ),
                interview=interview,
                attempts=list(interview.attempts.all()) if interview else [],
                agreed_actions=list(interview.actions.all()) if interview else [],
                notifications=list(episode.notifications.all()),
                profile_snapshot=getattr(episode, "profile_snapshot", None),
            )
        )
    return ChildRecord(
        child=child,
        exported_at=now,
        exported_by=user,
        legal_statuses=list(child.legal_statuses.order_by("start", "id")),
        placements=list(child.placements.select_related("host_area").order_by("start", "id")),
        involvements=list(child.involvements.select_related("agency").order_by("start", "id")),
        involvement_requests=list(
            child.involvement_requests.select_related(
                "agency", "requested_by", "requested_by_agency", "decided_by"
            ).order_by("requested_at", "id")
        ),
        places=list(child.frequented_locations.order_by("description", "id")),
        episodes=records,
        challenges=list(
            child.challenges.select_related("challenged_agency", "raised_by", "episode").order_by(
                "raised_at", "id"
            )
        ),
        strategy_meetings=meetings,
        supervision_notes=list(
            child.supervision_notes.select_related("written_by").order_by("written_at", "id")
        ),
        associates=list(child.associates.select_related("recorded_by").order_by("name", "id")),
        other_actions=list(
            child.agreed_actions.filter(interview__isnull=True)
            .select_related("owner_agency", "owner_person", "strategy_meeting", "supervision_note")
            .order_by("agreed_on", "id")
        ),
        events=list(
            child.events.select_related("actor", "actor_agency").order_by("occurred_at", "id")
        ),
        changes=history.record_history(child, [e.episode.pk for e in records]),
        profile=MissingPersonProfile.objects.select_related("reviewed_by", "updated_by")
        .filter(child=child)
        .first(),
        profile_changes=history.profile_history(child),
    )


# JSON -------------------------------------------------------------------------------------


def _value(obj: models.Model, field: models.Field) -> Any:
    if field.is_relation:
        if not field.is_cached(obj):
            # Not fetched with the record (the count of queries stays fixed): its id.
            return getattr(obj, field.attname)
        related = getattr(obj, field.name)
        if related is None:
            return None
        # People and agencies by name, places by their description: what a reader
        # of the export needs, not the service's ids.
        return str(getattr(related, "name", None) or related)
    value = getattr(obj, field.attname)
    if isinstance(value, FieldFile):
        return _file(obj, value)
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if field.choices and value not in (None, ""):
        return {"value": value, "label": str(dict(field.flatchoices).get(value, value))}
    return value


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
    return {
        field.name: _value(obj, field)
        for field in obj._meta.concrete_fields
        if field.name not in LEFT_OUT and field.name not in skip
    }


def record_as_json(record: ChildRecord) -> dict[str, Any]:
    """Every section of the record, as plain JSON values (times in UK time, with offset)."""
    return {
        "exported_at": timezone.localtime(record.exported_at).isoformat(),
        "exported_by": f"{record.exported_by.name} ({record.exported_by.agency.name})",
        "child": _fields(record.child),
        "legal_statuses": [_fields(x, skip=("child",)) for x in record.legal_statuses],
        "placements": [_fields(x, skip=("child",)) for x in record.placements],
        "involvements": [_fields(x, skip=("child",)) for x in record.involvements],
        "involvement_requests": [
            _fields(x, skip=("child", "involvement")) for x in record.involvement_requests
        ],
        "places_they_go": [_fields(x) for x in record.places],
        "episodes": [
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
        ],
        "challenges": [_fields(x, skip=("child",)) for x in record.challenges],
        "strategy_meetings": [
            {
                **_fields(m, skip=("child",)),
                "agencies_attending": [a.agency.name for a in m.attendees.all()],
            }
            for m in record.strategy_meetings
        ],
        "supervision_notes": [_fields(x, skip=("child",)) for x in record.supervision_notes],
        "associates": [_fields(x, skip=("child",)) for x in record.associates],
        "missing_person_profile": _fields(record.profile, skip=("child",)),
        "missing_person_profile_changes": [
            {
                "when": timezone.localtime(change.when).isoformat(),
                "who": change.who,
                "action": change.action,
                "changes": [{"field": c.label, "from": c.old, "to": c.new} for c in change.changes],
            }
            for change in record.profile_changes
        ],
        "agreed_actions_at_meetings_and_notes": [
            _fields(x, skip=("child",)) for x in record.other_actions
        ],
        "history": [_fields(x, skip=("child",)) for x in record.events],
        "change_history": [
            {
                "when": timezone.localtime(change.when).isoformat(),
                "who": change.who,
                "record": change.record,
                "action": change.action,
                "changes": [{"field": c.label, "from": c.old, "to": c.new} for c in change.changes],
            }
            for change in record.changes
        ],
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


def _text(obj: models.Model, field: models.Field) -> str:
    if field.is_relation:
        if not field.is_cached(obj):
            value = getattr(obj, field.attname)
            return "" if value is None else f"Record {value}"
        related = getattr(obj, field.name)
        return "" if related is None else str(getattr(related, "name", None) or related)
    value = getattr(obj, field.attname)
    if isinstance(value, FieldFile):
        kind = {"image/png": "PNG"}.get(getattr(obj, "photo_type", ""), "JPEG")
        return f"{kind} photo kept (the photo itself is in the JSON export)" if value else ""
    if value is None or value == "" or value == [] or value == {}:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return f"{timezone.localtime(value):%-d %b %Y %H:%M}"
    if isinstance(value, dt.date):
        return f"{value:%-d %b %Y}"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _rows(obj: models.Model | None, *, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    if obj is None:
        return []
    rows = []
    for field in obj._meta.concrete_fields:
        if field.name in LEFT_OUT or field.name in skip or field.primary_key:
            continue
        text = _text(obj, field)
        if text:
            rows.append((str(field.verbose_name)[:1].upper() + str(field.verbose_name)[1:], text))
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
