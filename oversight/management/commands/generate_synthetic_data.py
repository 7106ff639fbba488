"""Generate realistic synthetic children and missing episodes at scale.

    manage.py generate_synthetic_data --children 25000 --episodes 100000 [--seed 1]

For trying the managers' pages and measuring them at the size of a large partnership.
Everything invented here is marked: children's council ids start "SY", the people who
"recorded" it are inactive accounts at @synthetic.invalid, so it cannot be mistaken for
a real case nor signed in as.

Rows are written in batches (PostgreSQL's ``COPY``, else ``bulk_create``), NOT through
the action functions in ``incidents.actions``. Those are per row (permission checks,
validation, a CaseEvent, a change-history row and notification work after each commit):
right for a person saving a form, far too slow for 100,000 episodes. So this command
keeps the rules itself (one open episode per child, found after last seen, reported after
last seen, a return interview due 72 hours after the return, no overlapping episodes) and
its tests check it does. No change-history rows are written.

What it makes, roughly as a partnership sees it:
- children of the partnership's areas (the demo partnership's if it is loaded, else a
  minimal one made here), about 40% in care, some of those placed out of area;
- episodes over the last 18 months, mostly short with a long tail up to 10 days; a
  minority of children account for most episodes (a heavy-tailed share per child); a
  few dozen children missing now;
- places drawn from a pool with a few far more common than the rest, so hotspots
  emerge; risk gradings, safe and well checks (most within 24 hours, some late, some
  never shared), return interviews (about 60-65% within 72 hours, some declined, some
  overdue after repeated failed attempts), push and pull factors;
- a CaseEvent for each protocol step, so measures can be computed from events;
- if the notifications app is installed, Notification rows for a subset of the default
  rules with a mix of on time, late and overdue, and rules that found no recipient.
  Every synthetic protocol event is marked as processed, and every timed step already
  past as evaluated, so the notification engine does not work through (and e-mail
  about) a year and a half of invented history; each open episode then stores when its
  next timed step falls due, as the engine works it out.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import operator
import queue
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import JSONField, Max, Model
from django.db.models.base import ModelState
from django.db.models.expressions import DatabaseDefault
from django.utils import timezone
from psycopg.types.json import Jsonb

from incidents import visibility
from incidents.models import (
    PULL_FACTORS,
    PUSH_FACTORS,
    RISK_ORDER,
    CaseEvent,
    Child,
    Episode,
    InterviewAttempt,
    Involvement,
    LegalStatus,
    LegalStatusPeriod,
    Location,
    Placement,
    ReturnInterview,
    ReturnSex,
    RiskGrading,
    SafeAndWellCheck,
    SharingMethod,
)
from incidents.validators import upn_check_letter
from missingkids import policy
from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from oversight import aggregates, due

K = Agency.Kind
H = dt.timedelta(hours=1)
WINDOW = dt.timedelta(days=548)  # 18 months
LONGEST_EPISODE_HOURS = 240.0  # 10 days
MOST_EPISODES_PER_CHILD = 120  # about one every four or five days for 18 months
GAP_BETWEEN_EPISODES = 2 * H
SYNTHETIC_EMAIL_DOMAIN = "synthetic.invalid"
DEMO_AREA_CODES = ("E06000050", "E06000049")
AUTO_CLOSE_REASON = "All required steps are done"

_FIRST_NAMES_TEXT = """
Amelia Olivia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Evie
Poppy Ella Daisy Ruby Chloe Millie Kayla Maisie Jade Leah Holly Nia Zara Amira
Oliver George Noah Arthur Leo Harry Oscar Archie Jack Charlie Freddie Theo Alfie
Thomas Jacob Tyler Liam Kai Mason Riley Logan Callum Jayden Reece Ethan Kian Omar
"""
FIRST_NAMES = tuple(_FIRST_NAMES_TEXT.split())
_LAST_NAMES_TEXT = """
Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts
Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke
Patel Jackson Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker
Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price Bennett Young
Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy
"""
LAST_NAMES = tuple(_LAST_NAMES_TEXT.split())
TOWNS = (
    ("Chester", "CH1"),
    ("Ellesmere Port", "CH65"),
    ("Northwich", "CW9"),
    ("Winsford", "CW7"),
    ("Crewe", "CW1"),
    ("Macclesfield", "SK11"),
    ("Congleton", "CW12"),
    ("Wilmslow", "SK9"),
    ("Nantwich", "CW5"),
    ("Warrington", "WA1"),
    ("Liverpool", "L1"),
    ("Manchester", "M1"),
)
PLACES = (
    "{town} bus station",
    "{town} railway station",
    "McDonald's, {town} town centre",
    "{town} retail park car park",
    "Friend's flat, {town}",
    "Park and play area, {town}",
    "Shopping centre, {town}",
    "Takeaway on the high street, {town}",
    "Boyfriend's address, {town}",
    "Grandparent's home, {town}",
    "Canal towpath, {town}",
    "Skate park, {town}",
    "Fast-food restaurant by the ring road, {town}",
    "Address of an adult known to police, {town}",
)
STREETS = (
    "Victoria Road",
    "Station Road",
    "Church Street",
    "Park Lane",
    "Mill Street",
    "Queen Street",
    "High Street",
    "London Road",
    "Nantwich Road",
    "Chester Road",
    "Manor Way",
    "Brook Street",
    "Crewe Road",
    "Market Street",
    "Hospital Street",
)
CIRCUMSTANCES = (
    "Did not come home from school.",
    "Left the placement after an argument with staff and did not return by curfew.",
    "Went out to see friends and did not come back at the agreed time.",
    "Seen getting into a car with unknown adults.",
    "Left the house during the night; bed found empty in the morning.",
    "Did not return after a family contact visit.",
    "Absconded from school at lunchtime.",
)
REPORTERS = ("Foster carer", "Residential home staff", "Parent", "Grandparent", "School")
FOUND_WITH = ("", "Friends of the same age", "An older boyfriend", "Adults not known", "Alone")
CHILD_VOICES = (
    "I just needed to get away from all the arguing.",
    "I was with my mates, I don't see why it's a big deal.",
    "They give me stuff and it's easier than being at the home.",
    "I wanted to see my mum. Nobody listens when I ask.",
    "I don't like it there, the other kids wind me up.",
    "I was scared to come back because I'd be in trouble.",
    "My boyfriend said I could stay at his. He's 19.",
    "School is rubbish, I just can't be there.",
)
WOULD_HELP = (
    "More time with family.",
    "Someone to talk to who isn't a social worker.",
    "Being able to stay out later at weekends.",
    "Moving to a different placement.",
    "Help with school.",
)
DECLINE_NOTES = (
    "Carers say the child was with friends in town and came home tired but well.",
    "Carer reports the child refused to say where they had been.",
)
MANAGER_CLOSE_REASONS = (
    "Child has moved out of the partnership's area; the case has been transferred.",
    "Interview could not be held despite repeated attempts; concerns taken to the "
    "strategy meeting instead.",
    "Child turned 18; the leaving care team has the information.",
)
# Relative frequency of push and pull factors named at interviews.
# "Other (say what)" last, never picked: it needs words the generator does not have.
PUSH_WEIGHTS = (30, 18, 22, 6, 6, 12, 14, 4, 0)
PULL_WEIGHTS = (24, 30, 16, 8, 14, 10, 8, 12, 0)


# DfE ethnicity codes, roughly as children in care in England are recorded.
ETHNICITIES = ["WBRI", "WOTH", "MWBC", "MWAS", "MOTH", "APKN", "AOTH", "BAFR", "BCRB", "OOTH"]
ETHNICITY_WEIGHTS = [70, 5, 5, 3, 4, 2, 2, 4, 2, 3]


def _upn(rng: random.Random) -> str:
    """A well-formed unique pupil number (with its check letter)."""
    body = f"{rng.randint(800, 999)}{rng.randint(0, 99999999):08d}{rng.randint(0, 9)}"
    return upn_check_letter(body) + body


def _weighted_index(rng: random.Random, cum: Sequence[float]) -> int:
    return rng.choices(range(len(cum)), cum_weights=cum, k=1)[0]


# A notification's outcome columns (``Generator._outcome``), and those of one still due.
OUTCOME_COLUMNS = (
    "status", "method", "told_at", "told_by_id", "told_whom", "acknowledged_at",
    "acknowledged_by", "delivery",
)  # fmt: skip
STILL_DUE = ("due", "", None, None, "", None, "", "none")


@dataclass
class Partnership:
    """The areas, the agencies serving each, and the synthetic people who 'record'."""

    areas: list[LocalAuthorityArea]
    la: dict[int, Agency]
    police: dict[int, Agency]
    provider: dict[int, Agency | None]
    iro: dict[int, Agency | None]
    gp: dict[int, Agency | None]
    school: dict[int, Agency | None]
    school_nurse: dict[int, Agency | None]
    users: dict[int, User] = field(default_factory=dict)  # agency id -> practitioner
    managers: dict[int, User] = field(default_factory=dict)  # LA agency id -> manager


@dataclass
class Plan:
    """What the generator decided for one child, before any row exists."""

    child: Child
    episodes: int
    stuck: bool
    missing_now: bool
    out_of_area_host: LocalAuthorityArea | None = None


class _Maker:
    """Builds unsaved model instances without ``Model.__init__``, which checks and
    converts every argument through the fields' descriptors: at a million episodes (about
    30 million rows) that alone took most of the run. Values go straight into the
    instance's ``__dict__`` (defaults first, as ``__init__`` would set them); a related
    instance is kept in the field cache and its id copied (``copy_rows`` takes the id
    from the cache when the related row is saved later). Only for trusted values built
    here: nothing is validated."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self.static: dict[str, Any] = {}
        self.dynamic: list[tuple[str, Any]] = []
        self.relations: dict[str, str] = {}
        for f in model._meta.concrete_fields:
            if f.is_relation:
                self.relations[f.name] = f.attname
            if f.has_default() and callable(f.default):
                self.dynamic.append((f.attname, f.default))
            else:
                self.static[f.attname] = f.get_default()

    def __call__(self, **values: Any) -> Any:
        row = self.model.__new__(self.model)
        state = row._state = ModelState()
        attributes = row.__dict__
        attributes.update(self.static)
        for attname, default in self.dynamic:
            attributes[attname] = default()
        cache = state.fields_cache
        relations = self.relations
        for name, value in values.items():
            attname = relations.get(name)
            if attname is None:
                attributes[name] = value
            else:
                cache[name] = value
                attributes[attname] = None if value is None else value.pk
        return row


_MAKERS: dict[type[Model], _Maker] = {}


def make(model: type[Model], **values: Any) -> Any:
    """An unsaved ``model`` instance from trusted values, fast (see ``_Maker``)."""
    maker = _MAKERS.get(model)
    if maker is None:
        maker = _MAKERS[model] = _Maker(model)
    return maker(**values)


def copy_batch(model: type[Model], rows: list[Any]) -> tuple[str, list[tuple[Any, ...]]]:
    """The ``COPY`` statement and the values for unsaved model instances: ids are taken
    from the table's sequence for rows that have none (so related rows can point at them
    before anything is written), foreign keys are read from related instances given
    earlier, JSON is sent as jsonb and ``auto_now_add`` fields are filled as ``save``
    would; a column with a database default left unset (such as a case event's
    transaction id) is left out, so the database fills it as on INSERT; every other value
    goes as it is, adapted by psycopg."""
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the proxy costs a lookup a call
    meta = model._meta
    fields = [
        f
        for f in meta.concrete_fields
        if not f.generated
        and not (
            f.has_db_default() and isinstance(rows[0].__dict__.get(f.attname), DatabaseDefault)
        )
    ]
    relations = [(f.attname, f.name) for f in fields if f.is_relation]
    stamped = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    json_columns = {i for i, f in enumerate(fields) if isinstance(f, JSONField)}
    attnames = [f.attname for f in fields]
    missing = [row for row in rows if row.pk is None]
    if missing:
        for row, new_id in zip(missing, take_ids(model, len(missing)), strict=True):
            row.pk = new_id
    values_of = operator.itemgetter(*attnames)
    copied: list[tuple[Any, ...]] = []
    for row in rows:
        values = row.__dict__
        cache = row._state.fields_cache
        for attname, name in relations:
            if values.get(attname) is None and cache.get(name) is not None:
                values[attname] = cache[name].pk
        for f in stamped:
            f.pre_save(row, add=True)
        row._state.adding = False
        row._state.db = DEFAULT_DB_ALIAS
        line = values_of(values)
        if len(attnames) == 1:
            line = (line,)
        if json_columns:
            line = tuple(
                Jsonb(value) if i in json_columns else value for i, value in enumerate(line)
            )
        copied.append(line)
    table = db.ops.quote_name(meta.db_table)
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    return f"COPY {table} ({columns}) FROM STDIN", copied


def take_ids(model: type[Model], count: int) -> list[int]:
    """``count`` new ids for ``model``'s rows, so related rows can point at them before
    anything is written: from the table's sequence on PostgreSQL; elsewhere (SQLite, one
    writer at a time, inside the chunk's transaction) the ones after the highest id."""
    if count <= 0:
        return []
    meta = model._meta
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, count],
            )
            return [new_id for (new_id,) in cursor.fetchall()]
    highest = model.objects.aggregate(highest=Max("pk"))["highest"] or 0
    return list(range(highest + 1, highest + 1 + count))


class Table:
    """A table whose rows are built as plain tuples, not model instances (as the overdue
    lists' rebuild writes its rows): for the biggest tables (case events, notifications,
    interview attempts, risk gradings) the instances and their conversion took most of
    the generator's processor time. Each row gives ``columns`` (attnames) in order; every
    other column takes its field's plain default, the same for every row (``tail``),
    and a column with a database default is left to the database. Values go as they
    are: only for trusted values built here. On PostgreSQL they go by binary ``COPY``,
    each column's type named (``types``), which takes about half the processor time
    of formatting them as text."""

    def __init__(self, model: type[Model], columns: Sequence[str]) -> None:
        self.model = model
        given = set(columns)
        # Every column not given takes its default; an id not given comes from the
        # table's identity, a column with a database default from the database.
        rest = [
            f
            for f in model._meta.concrete_fields
            if f.attname not in given
            and not f.primary_key
            and not f.generated
            and not f.has_db_default()
        ]
        for f in rest:
            if (f.has_default() and callable(f.default)) or getattr(f, "auto_now_add", False):
                raise ValueError(f"{model.__name__}.{f.name} needs a value in each row")
        self.columns = (*columns, *(f.attname for f in rest))
        self.tail = tuple(_plain(f.get_default()) for f in rest)
        fields = [model._meta.get_field(c) for c in self.columns]
        quote = connection.ops.quote_name
        self.sql = (
            f"COPY {quote(model._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) FROM STDIN (FORMAT BINARY)"
        )
        # "varchar(30)" as "varchar": the type's name, for psycopg's binary dumpers.
        self.types = [f.db_type(connection).split("(")[0].strip() for f in fields]

    def lines(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Each row with the columns every row shares."""
        tail = self.tail
        return [row + tail for row in rows] if tail else rows

    def instances(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        """The rows as unsaved model instances, for ``bulk_create`` (not PostgreSQL)."""
        model, columns = self.model, self.columns
        return [model(**dict(zip(columns, line, strict=True))) for line in self.lines(rows)]


def _plain(value: Any) -> Any:
    """A default as COPY takes it: a choice as its value."""
    return value.value if isinstance(value, enum.Enum) else value


# One COPY: its statement, its rows, and for a binary COPY each column's type.
CopyBatch = tuple[str, list[tuple[Any, ...]], list[str] | None]


def write_copy(cursor: Any, batch: CopyBatch) -> None:
    """Run one COPY on a Django cursor."""
    sql, lines, types = batch
    with cursor.cursor.copy(sql) as copy:
        if types:
            copy.set_types(types)
        for line in lines:
            copy.write_row(line)


def copy_rows(model: type[Model], rows: list[Any]) -> None:
    """Insert unsaved model instances with COPY (psycopg 3's ``cursor.copy``), now, on
    this thread's connection (see ``copy_batch``)."""
    if not rows:
        return
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        write_copy(cursor, (*copy_batch(model, rows), None))


class CopyWriter:
    """Writes each chunk's COPY batches in one transaction on its own connection, in a
    thread, while the caller builds the next chunk: PostgreSQL's work (indexes, WAL,
    the foreign key checks at commit) then overlaps Python's on a machine with two
    cores. At most ``backlog`` chunks wait, so memory stays bounded. The first error is
    raised to the caller at its next ``put`` or at ``close``.

    Connected as a superuser (as a benchmark database is), the transaction runs with
    ``session_replication_role = replica``: foreign key triggers do not fire, as in
    ``pg_restore`` of data whose keys are known to be right. These rows are built
    against ids just taken from the sequences, and the generator's tests check every
    reference; unique, check and exclusion constraints (indexes) still apply."""

    def __init__(self, backlog: int = 2) -> None:
        self.queue: queue.Queue[list[CopyBatch] | None] = queue.Queue(maxsize=backlog)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="copy-writer", daemon=True)
        self.thread.start()

    def put(self, batches: list[CopyBatch]) -> None:
        self._raise()
        self.queue.put(batches)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise CommandError(f"Writing the rows failed: {self.error}") from self.error

    def _run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                trusted = bool(cursor.fetchone()[0])
            while (batches := self.queue.get()) is not None:
                if self.error is not None:
                    continue  # keep taking chunks, so the caller never waits on a full queue
                try:
                    self._write(batches, trusted=trusted)
                except BaseException as exc:
                    self.error = exc
        except BaseException as exc:
            self.error = exc
            while self.queue.get() is not None:
                pass
        finally:
            connection.close()

    @staticmethod
    def _write(batches: list[CopyBatch], *, trusted: bool) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            if trusted:
                cursor.execute("SET LOCAL session_replication_role = replica")
            for batch in batches:
                write_copy(cursor, batch)


class Command(BaseCommand):
    help = "Generate realistic synthetic children and missing episodes, fast (bulk inserts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--children", type=int, required=True)
        parser.add_argument("--episodes", type=int, required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help="Episodes written per transaction (and rows per INSERT).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        children, episodes = options["children"], options["episodes"]
        if children < 1 or episodes < 0:
            raise CommandError("--children must be at least 1 and --episodes at least 0.")
        if episodes > children * MOST_EPISODES_PER_CHILD:
            raise CommandError(
                f"{episodes} episodes need at least "
                f"{math.ceil(episodes / MOST_EPISODES_PER_CHILD)} children "
                f"(at most {MOST_EPISODES_PER_CHILD} episodes each in 18 months)."
            )
        self.verbosity = options["verbosity"]
        started = time.monotonic()
        generator = Generator(
            seed=options["seed"], batch_size=max(options["batch_size"], 100), now=timezone.now()
        )
        # The overdue lists are kept once, after the load, not batch by batch.
        with due.paused():
            counts = generator.run(children=children, episodes=episodes, log=self._progress)
            # Rows written in bulk send no signals: who may see each child, from the facts.
            counts["visibility rows changed"] = visibility.rebuild()
        counts["overdue list rows kept"] = due.rebuild()
        # Nor do they write the history that marks the measures' kept months as stale:
        # count every kept month again, so the measures read them and not the raw rows.
        counts["months of measures kept"] = aggregates.refresh(full=True, limit=None)
        elapsed = time.monotonic() - started
        for name, count in counts.items():
            self.stdout.write(f"  {name:<24} {count:>10,}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {children:,} children and {episodes:,} episodes in {elapsed:.1f} s."
            )
        )

    def _progress(self, message: str) -> None:
        if self.verbosity >= 2:
            self.stdout.write(message)


class Generator:
    def __init__(self, *, seed: int, batch_size: int, now: dt.datetime) -> None:
        # Seeded for repeatable data sets, not for secrets.
        self.rng = random.Random(seed)  # noqa: S311
        self.batch_size = batch_size
        self.now = now
        self.window_start = now - WINDOW
        self.counts: dict[str, int] = {}
        self.with_notifications = apps.is_installed("notifications")
        self.rules: dict[tuple[str, str, str], Any] = {}
        self.event_table = Table(
            CaseEvent,
            (
                "id", "child_id", "episode_id", "kind", "is_protocol", "occurred_at",
                "recorded_at", "actor_id", "actor_agency_id", "summary", "data",
            ),
        )  # fmt: skip
        self.grading_table = Table(
            RiskGrading, ("episode_id", "grade", "graded_at", "graded_by_id", "rationale")
        )
        self.attempt_table = Table(
            InterviewAttempt,
            ("interview_id", "attempted_at", "method", "outcome", "recorded_by_id", "recorded_at"),
        )
        # A chunk's COPY batches, handed to the writer thread once the chunk is built.
        self.pending: list[CopyBatch] | None = None

    # Set-up ---------------------------------------------------------------------------

    def run(self, *, children: int, episodes: int, log: Any) -> dict[str, int]:
        with transaction.atomic():
            self.partnership = self._partnership()
            self.locations = self._locations(max(30, min(3000, children // 8)))
        if self.with_notifications:
            self._load_rules()
        plans_counts = self._allocate(children, episodes)
        # This run's episode ids, for marking the notification engine's work as done.
        first_episode_id: int | None = None
        last_episode_id: int | None = None
        chunk: list[int] = []
        chunk_episodes = 0
        written = 0
        # Council ids continue from any earlier run, so runs can be added together.
        serial = Child.objects.filter(la_child_id__startswith="SY").count()
        # On PostgreSQL each chunk's rows are written by a thread while the next is built,
        # each chunk committed on its own; inside a caller's transaction (a test's) all
        # is written on this connection instead, so it stays in that transaction.
        writer = (
            CopyWriter()
            if connection.vendor == "postgresql" and not connection.in_atomic_block
            else None
        )
        try:
            for index, count in enumerate(plans_counts):
                chunk.append(count)
                chunk_episodes += count
                if chunk_episodes >= self.batch_size or index == len(plans_counts) - 1:
                    if writer is None:
                        with transaction.atomic():
                            ids = self._write_chunk(chunk, serial + written, written)
                    else:
                        self.pending = []
                        ids = self._write_chunk(chunk, serial + written, written)
                        writer.put(self.pending)
                        self.pending = None
                    written += len(chunk)
                    if ids:
                        first_episode_id = first_episode_id or ids[0]
                        last_episode_id = ids[1]
                    log(f"{written:,} children built")
                    chunk, chunk_episodes = [], 0
        finally:
            if writer is not None:
                writer.close()
        log(f"{written:,} children written")
        if first_episode_id and last_episode_id:
            with transaction.atomic():
                self.after_load(first_episode_id, last_episode_id)
        return self.counts

    def after_load(self, first_episode: int, last_episode: int) -> None:
        """Everything worked out from the rows once they are all written, over this
        run's episodes (ids first_episode to last_episode): the notification engine's
        receipts. (The visibility table is rebuilt by ``handle`` once the run is done.)"""
        if self.with_notifications:
            self._mark_engine_work_done(first_episode, last_episode)

    def _save_rows(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Write plain tuple rows (see ``Table``): by COPY on PostgreSQL, now or with the
        chunk; by bulk_create of model instances elsewhere."""
        if not rows:
            return
        if connection.vendor != "postgresql":
            table.model.objects.bulk_create(table.instances(rows), batch_size=self.batch_size)
        elif self.pending is None:
            with connection.cursor() as cursor:
                write_copy(cursor, (table.sql, table.lines(rows), table.types))
        else:
            self.pending.append((table.sql, table.lines(rows), table.types))

    def _save(self, model: type[Model], rows: list[Any]) -> list[Any]:
        """Write the rows: by COPY on PostgreSQL (ids taken from the table's sequence
        first, so related rows can point at them), by bulk_create elsewhere."""
        if connection.vendor != "postgresql":
            return model.objects.bulk_create(rows, batch_size=self.batch_size)
        if not rows:
            return rows
        if self.pending is None:
            copy_rows(model, rows)
        else:
            self.pending.append((*copy_batch(model, rows), None))
        return rows

    def _count(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def _partnership(self) -> Partnership:
        areas = list(LocalAuthorityArea.objects.filter(code__in=DEMO_AREA_CODES).order_by("code"))
        if len(areas) < 2 or not all(self._serving(K.LOCAL_AUTHORITY, a) for a in areas):
            areas = self._minimal_partnership()

        def each(kind: str) -> dict[int, Agency | None]:
            return {area.pk: self._serving(kind, area) for area in areas}

        partnership = Partnership(
            areas=areas,
            la=each(K.LOCAL_AUTHORITY),  # type: ignore[arg-type]
            police=each(K.POLICE),  # type: ignore[arg-type]
            provider=each(K.PROVIDER),
            iro=each(K.IRO),
            gp=each(K.GP_PRACTICE),
            school=each(K.SCHOOL),
            school_nurse=each(K.SCHOOL_NURSE),
        )
        agencies = {
            a.pk: a
            for d in (partnership.la, partnership.police, partnership.provider)
            for a in d.values()
            if a is not None
        }
        for agency in agencies.values():
            partnership.users[agency.pk] = self._person(agency, User.Role.PRACTITIONER)
        for agency in partnership.la.values():
            partnership.managers[agency.pk] = self._person(agency, User.Role.MANAGER)
        return partnership

    @staticmethod
    def _serving(kind: str, area: LocalAuthorityArea) -> Agency | None:
        return Agency.objects.filter(kind=kind, active=True, areas=area).order_by("pk").first()

    def _minimal_partnership(self) -> list[LocalAuthorityArea]:
        areas = [
            LocalAuthorityArea.objects.get_or_create(
                code=code, defaults={"name": f"Synthetic {name} Council"}
            )[0]
            for code, name in (("E06999901", "North"), ("E06999902", "South"))
        ]

        def agency(name: str, kind: str, served: list[LocalAuthorityArea]) -> None:
            made, _ = Agency.objects.get_or_create(name=name, defaults={"kind": kind})
            # Only areas it does not serve yet: adding sends the change of areas, which
            # asks the engine to work out again every episode whose notification found
            # nobody (of an earlier run, that would be hundreds of invented episodes).
            known = set(made.areas.values_list("pk", flat=True))
            if new := [area for area in served if area.pk not in known]:
                made.areas.add(*new)

        agency("Synthetic Police", K.POLICE, areas)
        agency("Synthetic Return Interview Service", K.PROVIDER, areas)
        agency("Synthetic School Nursing Service", K.SCHOOL_NURSE, areas)
        for area in areas:
            short = area.name.removeprefix("Synthetic ").removesuffix(" Council")
            agency(f"Synthetic {short} Children's Services", K.LOCAL_AUTHORITY, [area])
            agency(f"Synthetic {short} GP Practice", K.GP_PRACTICE, [area])
            agency(f"Synthetic {short} Academy", K.SCHOOL, [area])
        # One IRO service for the first area only: the second area's children in care
        # then show what a rule with no recipient looks like.
        agency("Synthetic North IRO Service", K.IRO, areas[:1])
        return areas

    @staticmethod
    def _person(agency: Agency, role: str) -> User:
        email = f"{role}.{agency.pk}@{SYNTHETIC_EMAIL_DOMAIN}"
        user = User.objects.filter(email=email).first()
        if user is None:
            label = "Manager" if role == User.Role.MANAGER else "Practitioner"
            user = User(
                email=email,
                name=f"{label} at {agency.name} (synthetic)",
                agency=agency,
                role=role,
                is_active=False,  # nobody signs in as invented staff
            )
            user.set_unusable_password()
            user.save()
        return user

    def _locations(self, size: int) -> list[Location]:
        rng = self.rng
        rows = []
        for n in range(size):
            town, district = TOWNS[n % len(TOWNS)]
            template = PLACES[(n // len(TOWNS)) % len(PLACES)]
            description = template.format(town=town)
            if n >= len(TOWNS) * len(PLACES):
                street = STREETS[n % len(STREETS)]
                description = f"Address on {street}, {town}"
                if n >= len(TOWNS) * len(PLACES) + len(STREETS) * len(TOWNS):
                    description = f"{rng.randint(1, 300)} {street}, {town}"
            postcode = f"{district} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
            postcode += rng.choice("ABDEFGHJLNPQRSTUWXYZ")
            rows.append(make(Location, description=description, address=town, postcode=postcode))
        made = self._save(Location, rows)
        self._count("locations", len(made))
        rng.shuffle(made)  # so the hotspots are a mix of kinds of place and towns
        # A few places are far more common than the rest (Zipf-like): hotspots.
        self.location_cum = list(accumulate(1 / (i + 1) ** 1.1 for i in range(len(made))))
        return made

    def _load_rules(self) -> None:
        from notifications.models import Notification, Rule

        self.notification_table = Table(
            Notification,
            (
                "episode_id", "child_id", "event_id", "rule_id", "rule_version", "step",
                "recipient_role", "recipient_key", "recipient_agency_id", "recipient_name",
                "recipient_email", "problem", "responsible_agency_id", "due_at",
                *OUTCOME_COLUMNS, "created_at",
            ),
        )  # fmt: skip

        for rule in Rule.objects.filter(active=True).order_by("pk"):
            self.rules.setdefault((rule.step, rule.recipient, rule.condition), rule)

    # Who goes missing how often -------------------------------------------------------

    def _allocate(self, children: int, episodes: int) -> list[int]:
        """Episodes per child: everyone once if there are enough, the rest heavy-tailed."""
        rng = self.rng
        counts = [1] * children if episodes >= children else [0] * children
        remaining = episodes - sum(counts)
        # Pareto shares: a minority of children account for most episodes (with 4
        # episodes a child, the most frequent fifth have about two thirds of them).
        weights = [rng.paretovariate(1.0) for _ in range(children)]
        cap = MOST_EPISODES_PER_CHILD
        while remaining:
            # Nobody goes missing more often than is possible in 18 months: what is over
            # the cap goes to the others, still by their shares.
            cum = list(
                accumulate(0 if c >= cap else w for c, w in zip(counts, weights, strict=True))
            )
            for index in rng.choices(range(children), cum_weights=cum, k=remaining):
                counts[index] += 1
            remaining = sum(max(0, c - cap) for c in counts)
            counts = [min(c, cap) for c in counts]
        self.missing_now_target = min(
            sum(1 for c in counts if c), max(1, round(math.sqrt(episodes) / 8))
        )
        with_episodes = [i for i, c in enumerate(counts) if c]
        self.missing_now = set(rng.sample(with_episodes, self.missing_now_target))
        return counts

    # One chunk of children, with everything about them --------------------------------

    def _write_chunk(
        self, counts: list[int], serial: int, start_index: int
    ) -> tuple[int, int] | None:
        rng = self.rng
        p = self.partnership
        plans: list[Plan] = []
        for offset, count in enumerate(counts):
            area = rng.choice(p.areas)
            status = rng.choices(
                [
                    LegalStatus.IN_CARE,
                    LegalStatus.CHILD_PROTECTION,
                    LegalStatus.CHILD_IN_NEED,
                    LegalStatus.NONE,
                ],
                weights=[40, 15, 20, 25],
            )[0]
            age_days = rng.randint(11 * 365, 17 * 365 + 300)
            la = p.la[area.pk]
            gender = rng.choices(["female", "male", "other"], weights=[52, 46, 2])[0]
            child = make(
                Child,
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                date_of_birth=self.now.date() - dt.timedelta(days=age_days),
                gender=gender,
                # The DfE returns code sex 1 or 2; asked for only when gender does not say.
                sex=rng.choice(ReturnSex.values) if gender == "other" else "",
                ethnicity=rng.choices(ETHNICITIES, weights=ETHNICITY_WEIGHTS)[0],
                upn=_upn(rng) if rng.random() < 0.7 else "",
                la_child_id=f"SY{serial + offset + 1:08d}",
                legal_status=status,
                responsible_area=area,
                created_by=p.users[la.pk],
            )
            host = None
            if status == LegalStatus.IN_CARE and rng.random() < 0.3:
                host = rng.choice([a for a in p.areas if a.pk != area.pk])
            index = start_index + offset
            plans.append(
                Plan(
                    child=child,
                    episodes=count,
                    # Repeat runners are more often the ones who will not engage.
                    stuck=rng.random() < (0.45 if count >= 5 else 0.15),
                    missing_now=index in self.missing_now,
                    out_of_area_host=host,
                )
            )
        self._save(Child, [plan.child for plan in plans])
        self._count("children", len(plans))
        self._care_details(plans)
        return self._episodes(plans)

    def _care_details(self, plans: list[Plan]) -> None:
        rng = self.rng
        p = self.partnership
        statuses, placements, involvements = [], [], []
        before = self.window_start.date()
        for plan in plans:
            child = plan.child
            area = child.responsible_area_id
            if child.legal_status == LegalStatus.IN_CARE and rng.random() < 0.2:
                # Left care and came back, all before the window, so every episode in it
                # is from care (a period of care ending mid-episode would fail DfE's
                # rule 577, as it should).
                back = before - dt.timedelta(days=rng.randint(30, 300))
                home = back - dt.timedelta(days=rng.randint(30, 200))
                first = home - dt.timedelta(days=rng.randint(60, 400))
                statuses += [
                    make(
                        LegalStatusPeriod,
                        child=child,
                        status=LegalStatus.IN_CARE,
                        start=first,
                        end=home - dt.timedelta(days=1),
                        care_legal_status=rng.choice(["V2", "C1"]),
                    ),
                    make(
                        LegalStatusPeriod,
                        child=child,
                        status=LegalStatus.NONE,
                        start=home,
                        end=back - dt.timedelta(days=1),
                    ),
                    make(
                        LegalStatusPeriod,
                        child=child,
                        status=LegalStatus.IN_CARE,
                        start=back,
                        care_legal_status=rng.choice(["C2", "C1", "V2"]),
                    ),
                ]
            elif child.legal_status != LegalStatus.NONE:
                statuses.append(
                    make(
                        LegalStatusPeriod,
                        child=child,
                        status=child.legal_status,
                        start=before - dt.timedelta(days=rng.randint(30, 900)),
                        care_legal_status=(
                            rng.choices(["C2", "C1", "V2", "E1"], weights=[55, 15, 25, 5])[0]
                            if child.legal_status == LegalStatus.IN_CARE
                            else ""
                        ),
                    )
                )
            start = before - dt.timedelta(days=rng.randint(10, 700))
            if child.legal_status == LegalStatus.IN_CARE:
                host = plan.out_of_area_host or child.responsible_area
                town, district = rng.choice(TOWNS)
                placements.append(
                    make(
                        Placement,
                        child=child,
                        start=start,
                        type=rng.choices(
                            [
                                Placement.Type.FOSTER,
                                Placement.Type.CHILDRENS_HOME,
                                Placement.Type.KINSHIP,
                                Placement.Type.SEMI_INDEPENDENT,
                            ],
                            weights=[50, 30, 12, 8],
                        )[0],
                        address=f"{rng.randint(1, 200)} Synthetic Road, {town}",
                        postcode=f"{district} {rng.randint(1, 9)}AB",
                        host_area=host,
                    )
                )
                involvements.append(
                    make(
                        Involvement,
                        child=child,
                        agency=p.la[area],
                        role="social_worker",
                        start=start,
                    )
                )
                if p.iro[area] is not None:
                    involvements.append(
                        make(Involvement, child=child, agency=p.iro[area], role="iro", start=start)
                    )
            for role, agencies, chance in (
                ("school", p.school, 0.6),
                ("gp", p.gp, 0.5),
                ("school_nurse", p.school_nurse, 0.2),
                ("provider", p.provider, 0.3),
            ):
                agency = agencies[area]
                if agency is not None and rng.random() < chance:
                    involvements.append(
                        make(Involvement, child=child, agency=agency, role=role, start=start)
                    )
        self._save(LegalStatusPeriod, statuses)
        self._save(Placement, placements)
        self._save(Involvement, involvements)
        self._count("legal status periods", len(statuses))
        self._count("placements", len(placements))
        self._count("involvements", len(involvements))

    def _times(self, count: int, missing_now: bool) -> list[tuple[dt.datetime, dt.datetime | None]]:
        """Non-overlapping (last seen, found) pairs in the window, oldest first.

        Durations first (mostly hours, a long tail to 10 days), then the free time left
        is split at random points, so episodes cluster as real repeat runners' do while
        never overlapping.
        """
        rng = self.rng
        end = self.now
        open_episode: tuple[dt.datetime, None] | None = None
        if missing_now:
            seen = self.now - dt.timedelta(hours=rng.uniform(1, LONGEST_EPISODE_HOURS))
            open_episode = (seen, None)
            end = seen - GAP_BETWEEN_EPISODES
            count -= 1
        hours = [
            min(LONGEST_EPISODE_HOURS, max(0.5, rng.lognormvariate(math.log(9), 1.1)))
            for _ in range(count)
        ]
        span = (end - self.window_start).total_seconds() / 3600
        busy = sum(hours) + count * GAP_BETWEEN_EPISODES.total_seconds() / 3600
        if busy > span * 0.8:
            hours = [h * span * 0.8 / busy for h in hours]
            busy = span * 0.8
        free = span - busy
        offsets = sorted(rng.uniform(0, free) for _ in range(count))
        pairs: list[tuple[dt.datetime, dt.datetime | None]] = []
        used = 0.0
        for offset, length in zip(offsets, hours, strict=True):
            seen = self.window_start + dt.timedelta(hours=offset + used)
            found = seen + dt.timedelta(hours=length)
            pairs.append((seen, found))
            used += length + GAP_BETWEEN_EPISODES.total_seconds() / 3600
        if open_episode:
            pairs.append(open_episode)
        return pairs

    def _episodes(self, plans: list[Plan]) -> tuple[int, int] | None:
        rng = self.rng
        p = self.partnership
        episodes: list[Episode] = []
        facts: list[dict[str, Any]] = []
        for plan in plans:
            child = plan.child
            area = child.responsible_area_id
            police = p.police[area]
            in_care = child.legal_status == LegalStatus.IN_CARE
            situation = {
                "child_in_care": in_care,
                "placed_out_of_area": plan.out_of_area_host is not None,
                "responsible_area_id": area,
                "host_area_id": (
                    (plan.out_of_area_host or child.responsible_area).pk if in_care else None
                ),
            }
            # Frequent runners are more often exploited: flags follow the count.
            exploited = rng.random() < min(0.6, 0.08 + 0.04 * plan.episodes)
            seen_times: list[dt.datetime] = []
            for seen, found in self._times(plan.episodes, plan.missing_now):
                seen_times.append(seen)
                risk = rng.choices(list(RISK_ORDER), weights=[8, 38, 42, 12])[0]
                if exploited and risk in ("no_apparent", "low") and rng.random() < 0.5:
                    risk = "medium"
                reported = seen + dt.timedelta(hours=rng.uniform(0.3, 6))
                if found is not None:
                    reported = min(reported, found)
                reported = min(reported, self.now)
                category = (
                    Episode.Category.AWAY
                    if in_care and rng.random() < 0.15
                    else Episode.Category.MISSING
                )
                episode = make(
                    Episode,
                    child=child,
                    category=category,
                    reported_at=reported,
                    reported_by_name=rng.choice(REPORTERS),
                    reported_by_agency=p.la[area] if in_care and rng.random() < 0.3 else None,
                    last_seen_at=seen,
                    earliest_last_seen_at=seen,
                    last_seen_location=self._place(),
                    circumstances=rng.choice(CIRCUMSTANCES),
                    police_reference=f"SY/{seen:%y}/{rng.randint(10000, 99999)}",
                    flag_cse=exploited and rng.random() < 0.5,
                    flag_cce=exploited and rng.random() < 0.5,
                    flag_trafficking=exploited and rng.random() < 0.05,
                    flag_self_harm=rng.random() < 0.08,
                    flag_mental_health=rng.random() < 0.12,
                    risk=risk,
                    risk_rank=RISK_ORDER[risk],
                    found_at=found,
                    first_found_at=found,
                    found_location=self._place() if found and rng.random() < 0.85 else None,
                    found_with=rng.choice(FOUND_WITH) if found else "",
                    how_returned=(
                        rng.choices(
                            [c.value for c in Episode.HowReturned], weights=[45, 25, 20, 5, 5]
                        )[0]
                        if found
                        else ""
                    ),
                    created_by=p.users[police.pk],
                )
                episodes.append(episode)
                facts.append(
                    {
                        "plan": plan,
                        "situation": situation,
                        "in_90": sum(
                            1 for t in seen_times if seen - dt.timedelta(days=90) <= t <= seen
                        ),
                    }
                )
        return self._steps(episodes, facts)

    def _place(self) -> Location:
        return self.locations[_weighted_index(self.rng, self.location_cum)]

    # Everything after the report ------------------------------------------------------

    def _steps(
        self, episodes: list[Episode], facts: list[dict[str, Any]]
    ) -> tuple[int, int] | None:
        rng = self.rng
        p = self.partnership
        now = self.now
        gradings: list[tuple[Any, ...]] = []
        checks: list[SafeAndWellCheck] = []
        interviews: list[ReturnInterview] = []
        attempts_for: list[list[tuple[dt.datetime, str, str]]] = []
        # Case events as plain tuples (see ``Table``), ids taken once all are built; an
        # event is known by its place in the list until then.
        events: list[tuple[Any, ...]] = []
        wanted: list[tuple[int | None, Episode, str, str, dt.datetime, dict]] = []
        protocol_kinds = CaseEvent.PROTOCOL_KINDS
        # The episodes' ids first, so each event can name its episode as it is built.
        for episode, new_id in zip(episodes, take_ids(Episode, len(episodes)), strict=True):
            episode.pk = new_id

        def event(
            episode: Episode,
            kind: str,
            at: dt.datetime,
            actor: User,
            summary: str,
            data: dict[str, Any],
        ) -> int:
            events.append(
                (
                    episode.child_id,
                    episode.pk,
                    kind,
                    kind in protocol_kinds,
                    at,
                    min(now, at + dt.timedelta(minutes=rng.randint(2, 240))),
                    actor.pk,
                    actor.agency_id,
                    summary,
                    data,
                )
            )
            return len(events) - 1

        # The protocol's deadlines after a return, in hours (see missingkids.policy).
        interview_hours = policy.hours(policy.interview_due_after())
        check_hours = policy.hours(policy.safe_and_well_due_after())
        for episode, fact in zip(episodes, facts, strict=True):
            plan: Plan = fact["plan"]
            situation = fact["situation"]
            area = episode.child.responsible_area_id
            police_user = p.users[p.police[area].pk]
            la = p.la[area]
            la_user = p.users[la.pk]
            provider = p.provider[area]
            provider_user = p.users[provider.pk] if provider else la_user
            base = {"category": episode.category, "risk": episode.risk, **situation}

            # Reported, with the first grading and perhaps a re-grading.
            first = episode.risk
            regraded_at = None
            if rng.random() < 0.25:
                first = rng.choice([g for g in RISK_ORDER if g != episode.risk])
                latest = episode.found_at or now
                regraded_at = min(
                    latest, episode.reported_at + dt.timedelta(hours=rng.uniform(1, 30))
                )
            gradings.append(
                (
                    episode.pk,
                    first,
                    episode.reported_at,
                    police_user.pk,
                    "Initial grading from the report",
                )
            )
            reported = event(
                episode,
                CaseEvent.Kind.REPORTED,
                episode.reported_at,
                police_user,
                f"Reported missing by {episode.reported_by_name.lower()}",
                {
                    **base,
                    "risk": first,
                    "risk_rank": RISK_ORDER[first],
                    "flags": [f for f in Episode.FLAG_FIELDS if getattr(episode, f)],
                    "last_seen_at": episode.last_seen_at.isoformat(),
                    "episodes_in_90_days": fact["in_90"],
                },
            )
            wanted.append(
                (reported, episode, "reported", "responsible_la", episode.reported_at, situation)
            )
            if regraded_at is not None:
                gradings.append(
                    (
                        episode.pk,
                        episode.risk,
                        regraded_at,
                        police_user.pk,
                        "New information from enquiries",
                    )
                )
                event(
                    episode,
                    CaseEvent.Kind.RISK_REGRADED,
                    regraded_at,
                    police_user,
                    f"Risk re-graded from {first} to {episode.risk}",
                    {
                        **base,
                        "old": first,
                        "new": episode.risk,
                        "risk_rank": RISK_ORDER[episode.risk],
                    },
                )
            if episode.duration(now) > dt.timedelta(hours=24):
                wanted.append(
                    (
                        None,
                        episode,
                        "still_missing_24h",
                        "team_manager",
                        episode.last_seen_at + dt.timedelta(hours=24),
                        situation,
                    )
                )

            if episode.found_at is None:
                continue
            found = episode.found_at
            due = found + policy.interview_due_after()
            returned = event(
                episode,
                CaseEvent.Kind.RETURNED,
                found,
                police_user,
                "Found or returned",
                {
                    **base,
                    "found_at": found.isoformat(),
                    "interview_due_at": due.isoformat(),
                    "how_returned": episode.how_returned,
                    "interview_owner_id": la.pk,
                    "interview_provider_id": provider.pk if provider else None,
                },
            )
            for role in ("responsible_la", "provider"):
                wanted.append((returned, episode, "returned", role, found, situation))

            # Safe and well check: most within 24 hours, some late, a few never done.
            check = None
            if rng.random() < 0.93:
                in_time = rng.random() < 0.85
                delay = (
                    rng.uniform(0.5, check_hours - 0.5)
                    if in_time
                    else rng.uniform(check_hours + 0.5, 4 * check_hours)
                )
                conducted = found + dt.timedelta(hours=delay)
                if conducted <= now:
                    shared = None
                    roll = rng.random()
                    if roll < 0.8:
                        lag = rng.uniform(0.1, 6) if roll < 0.68 else rng.uniform(24, 120)
                        shared = conducted + dt.timedelta(hours=lag)
                        shared = shared if shared <= now else None
                    harm = rng.random() < 0.12
                    # Shared as the service shares it: mostly its own e-mail to the
                    # council's front door, sometimes a call recorded by the officer.
                    by_email = rng.random() < 0.7
                    check = make(
                        SafeAndWellCheck,
                        episode=episode,
                        officer_name="PC Synthetic",
                        agency=p.police[area],
                        conducted_at=conducted,
                        face_to_face=rng.random() < 0.85,
                        outcome="Child seen, safe and well; no injuries seen.",
                        harm_disclosed=harm,
                        crime_disclosed=harm and rng.random() < 0.5,
                        shared_with_la_at=shared,
                        shared_method=(
                            ""
                            if shared is None
                            else SharingMethod.EMAIL
                            if by_email
                            else SharingMethod.PHONE
                        ),
                        shared_with=f"Front door, {la.name}" if shared else "",
                        shared_by_agency=p.police[area] if shared else None,
                        shared_recorded_by=police_user if shared and not by_email else None,
                        recorded_by=police_user,
                    )
                    checks.append(check)
                    done = event(
                        episode,
                        CaseEvent.Kind.SAFE_AND_WELL_DONE,
                        conducted,
                        police_user,
                        "Safe and well check done",
                        {
                            **base,
                            "face_to_face": check.face_to_face,
                            "harm_disclosed": harm,
                            "crime_disclosed": check.crime_disclosed,
                            "shared": shared is not None,
                            "shared_at": shared.isoformat() if shared else None,
                        },
                    )
                    wanted.append(
                        (
                            done,
                            episode,
                            "safe_and_well_done",
                            "responsible_la",
                            conducted,
                            situation,
                        )
                    )
                    if shared is not None:
                        event(
                            episode,
                            CaseEvent.Kind.SAFE_AND_WELL_SHARED,
                            shared,
                            police_user,
                            "Safe and well check shared with the local authority",
                            {
                                **base,
                                "conducted_at": conducted.isoformat(),
                                "shared_at": shared.isoformat(),
                                "shared_method": check.shared_method,
                                "shared_with": check.shared_with,
                            },
                        )

            # Return interview: about 62% within 72 hours; stuck cases far fewer.
            interview = make(
                ReturnInterview, episode=episode, owner=la, provider=provider, due_at=due
            )
            weights = [40, 10, 25, 25] if plan.stuck else [72, 11, 10, 7]
            outcome = rng.choices(["on_time", "late", "declined", "pending"], weights=weights)[0]
            done_at = {
                "on_time": found + dt.timedelta(hours=rng.uniform(4, interview_hours - 0.5)),
                "late": found + dt.timedelta(hours=rng.uniform(interview_hours + 0.5, 14 * 24)),
                "declined": found + dt.timedelta(hours=rng.uniform(12, 120)),
                "pending": None,
            }[outcome]
            if done_at is not None and done_at > now:
                outcome, done_at = "pending", None
            tries: list[tuple[dt.datetime, str, str]] = []
            fails = {
                "on_time": rng.choice([0, 0, 0, 0, 1, 1, 2]),
                "late": rng.choice([1, 2, 2, 3]),
                "declined": rng.choice([1, 2, 3]),
                "pending": rng.randint(1, 5) if plan.stuck else rng.choice([0, 0, 1]),
            }[outcome]
            last = done_at or min(now, found + dt.timedelta(days=12))
            for _ in range(fails):
                at = found + (last - found) * rng.uniform(0.05, 0.95)
                tries.append(
                    (
                        at,
                        rng.choice(["phone", "visit", "text", "carer"]),
                        rng.choice(["no_contact", "no_contact", "rearranged", "declined"]),
                    )
                )
            tries.sort()
            if outcome in ("on_time", "late") and done_at is not None:
                tries.append((done_at, "visit", "held"))
                push = self._factors(PUSH_FACTORS, PUSH_WEIGHTS, rng.randint(1, 2))
                pull = self._factors(PULL_FACTORS, PULL_WEIGHTS, rng.randint(0, 2))
                interview.outcome = ReturnInterview.Outcome.HELD
                interview.held_at = done_at
                interview.held_by = "Return interview worker (synthetic)"
                interview.child_voice = rng.choice(CHILD_VOICES)
                interview.push_factors, interview.pull_factors = push, pull
                interview.what_would_help = rng.choice(WOULD_HELP)
                interview.harm_disclosed = rng.random() < 0.1
            elif outcome == "declined" and done_at is not None:
                tries.append((done_at, "visit", "declined"))
                interview.outcome = ReturnInterview.Outcome.DECLINED
                interview.declined_at = done_at
                interview.carers_information = rng.choice(DECLINE_NOTES)
                interview.decision_not_to_hold = "Child declined; carers' information recorded."
            interview.offered_at = tries[0][0] if tries else None
            interview.recorded_by = provider_user
            interviews.append(interview)
            attempts_for.append(tries)
            failed = 0
            for at, method, result in tries:
                failed += result in InterviewAttempt.FAILED_OUTCOMES
                event(
                    episode,
                    CaseEvent.Kind.INTERVIEW_ATTEMPT,
                    at,
                    provider_user,
                    f"Return interview attempt ({method}): {result.replace('_', ' ')}",
                    {
                        **base,
                        "outcome": result,
                        "method": method,
                        "failed_attempts": failed,
                        "owner_agency_id": la.pk,
                        "provider_agency_id": provider.pk if provider else None,
                    },
                )
            if done_at is not None:
                kind = (
                    CaseEvent.Kind.INTERVIEW_HELD
                    if outcome != "declined"
                    else CaseEvent.Kind.INTERVIEW_DECLINED
                )
                finished = event(
                    episode,
                    kind,
                    done_at,
                    provider_user,
                    "Return interview held"
                    if outcome != "declined"
                    else "The child declined a return interview",
                    {
                        **base,
                        "within_72_hours": done_at <= due,
                        "owner_agency_id": la.pk,
                        "provider_agency_id": provider.pk if provider else None,
                    },
                )
                wanted.append(
                    (finished, episode, "interview_done", "responsible_la", done_at, situation)
                )

            # Closed when every step is done, or by a manager with a reason.
            closer, reason, closed_at = None, "", None
            if check is not None and done_at is not None:
                closed_at = max(check.conducted_at, done_at)
                closer = provider_user if done_at >= check.conducted_at else police_user
                reason = AUTO_CLOSE_REASON
            elif found < now - dt.timedelta(days=45) and rng.random() < 0.5:
                closed_at = min(now, found + dt.timedelta(days=rng.uniform(10, 40)))
                closer = p.managers[la.pk]
                reason = rng.choice(MANAGER_CLOSE_REASONS)
            if closer is not None and closed_at is not None:
                episode.closed_at, episode.closed_by, episode.closure_reason = (
                    closed_at,
                    closer,
                    reason,
                )
                event(
                    episode,
                    CaseEvent.Kind.CLOSED,
                    closed_at,
                    closer,
                    f"Episode closed: {reason}",
                    {**base, "reason": reason, "automatic": reason == AUTO_CLOSE_REASON},
                )

        # Every row is decided before any is written (closure included), so each table
        # takes one pass of INSERTs; related rows pick up the episode ids once saved.
        self._save(Episode, episodes)
        self._count("episodes", len(episodes))
        self._save_rows(self.grading_table, gradings)
        self._save(SafeAndWellCheck, checks)
        self._save(ReturnInterview, interviews)
        stamp = timezone.now()  # the attempts' recorded_at, as saving them would set it
        attempts = [
            (interview.pk, at, method, result, interview.recorded_by_id, stamp)
            for interview, tries in zip(interviews, attempts_for, strict=True)
            for at, method, result in tries
        ]
        self._save_rows(self.attempt_table, attempts)
        event_ids = take_ids(CaseEvent, len(events))
        self._save_rows(
            self.event_table,
            [(new_id, *row) for new_id, row in zip(event_ids, events, strict=True)],
        )
        for name, rows in (
            ("risk gradings", gradings),
            ("safe and well checks", checks),
            ("return interviews", interviews),
            ("interview attempts", attempts),
            ("case events", events),
        ):
            self._count(name, len(rows))
        if self.with_notifications:
            self._notifications(
                (None if index is None else event_ids[index], *rest) for index, *rest in wanted
            )
        return (episodes[0].pk, episodes[-1].pk) if episodes else None

    def _factors(
        self, choices: Sequence[tuple[str, str]], weights: Sequence[int], k: int
    ) -> list[str]:
        picked: list[str] = []
        while len(picked) < k:
            code = self.rng.choices(choices, weights=weights)[0][0]
            if code not in picked:
                picked.append(code)
        return picked

    # Notifications ----------------------------------------------------------------------

    RULES_USED: tuple[tuple[str, str, str], ...] = (
        ("reported", "responsible_la", "any"),
        ("reported", "iro", "in_care"),
        ("reported", "host_la", "out_of_area"),
        ("still_missing_24h", "team_manager", "still_open"),
        ("returned", "responsible_la", "any"),
        ("returned", "provider", "any"),
        ("returned", "host_la", "out_of_area"),
        ("returned", "iro", "in_care"),
        ("safe_and_well_done", "responsible_la", "any"),
        ("interview_done", "responsible_la", "any"),
    )

    def _notifications(
        self, wanted: Iterable[tuple[int | None, Episode, str, str, dt.datetime, dict]]
    ) -> None:
        rng = self.rng
        now = self.now
        stamp = timezone.now()  # created_at, as saving them would set it
        rows: list[tuple[Any, ...]] = []
        # Who is told and who tells depend only on these, so each is worked out once.
        targets: dict[tuple[Any, ...], tuple[Any, ...] | None] = {}
        for event_id, episode, step, role, at, situation in wanted:
            # The same step also reaches the host authority and the IRO when they apply.
            roles = [role]
            if step in ("reported", "returned") and role == "responsible_la":
                if situation["placed_out_of_area"]:
                    roles.append("host_la")
                if situation["child_in_care"]:
                    roles.append("iro")
            area = episode.child.responsible_area_id
            for each in roles:
                key = (step, each, area, situation["host_area_id"], episode.reported_by_agency_id)
                if key in targets:
                    target = targets[key]
                else:
                    target = targets[key] = self._target(*key)
                if target is None:
                    continue
                rule, fixed, nobody, teller, name, usual, if_high_risk = target
                due = at + (if_high_risk if episode.risk == "high" else usual)
                if nobody:
                    outcome = STILL_DUE
                else:
                    outcome = self._outcome(teller, name, rule, at, due, now, rng)
                rows.append((episode.pk, episode.child_id, event_id, *fixed, due, *outcome, stamp))
        self._save_rows(self.notification_table, rows)
        self._count("notifications", len(rows))

    def _target(
        self, step: str, role: str, area: int, host_area: int | None, reporter: int | None
    ) -> tuple[Any, ...] | None:
        """For one step told to one role about a child of ``area``: the rule, the
        notification's columns from ``rule_id`` to ``responsible_agency_id``, whether
        there is no one to tell, who tells (agency id), the recipient's name and the
        time allowed (usual, high risk); None when no rule applies."""
        rule = self._rule_for(step, role)
        if rule is None:
            return None
        p = self.partnership
        recipient: Agency | None = {
            "responsible_la": p.la[area],
            "team_manager": p.la[area],
            "host_la": p.la.get(host_area or area),
            "iro": p.iro[area],
            "provider": p.provider[area],
        }[role]
        teller = {
            "police": p.police[area].pk,
            "responsible_la": p.la[area].pk,
            "reporting_agency": reporter or p.la[area].pk,
            "provider": (p.provider[area] or p.la[area]).pk,
        }[rule.teller]
        name = recipient.name if recipient else ""
        fixed = (
            rule.pk,
            rule.version,
            step,
            role,
            f"agency:{recipient.pk}" if recipient else "none",
            recipient.pk if recipient else None,
            name,
            recipient.email if recipient else "",
            "" if recipient else f"No {rule.get_recipient_display().lower()} found for the child",
            teller,
        )
        usual, if_high_risk = rule.due_after(high_risk=False), rule.due_after(high_risk=True)
        return rule, fixed, recipient is None, teller, name, usual, if_high_risk

    def _rule_for(self, step: str, role: str) -> Any:
        for key in self.RULES_USED:
            if key[0] == step and key[1] == role:
                return self.rules.get(key)
        return None

    def _outcome(
        self,
        teller: int,
        recipient_name: str,
        rule: Any,
        at: dt.datetime,
        due: dt.datetime,
        now: dt.datetime,
        rng: random.Random,
    ) -> tuple[Any, ...]:
        """On time mostly, some late, a few still not done (overdue once past due): the
        columns of ``OUTCOME_COLUMNS``."""
        old = now - due > dt.timedelta(days=60)
        roll = rng.random()
        undone = 0.02 if old else 0.1
        if roll < undone or at > now:
            return STILL_DUE
        if roll < 0.8:
            told = at + (due - at) * rng.random()
        else:
            told = due + dt.timedelta(hours=min(120, rng.lognormvariate(math.log(6), 1.0)))
        if told > now:
            return STILL_DUE
        told_by = self.partnership.users.get(teller)
        told_by_id = told_by.pk if told_by else None
        if rule.send_email:
            if rng.random() < 0.3:
                acknowledged = told + dt.timedelta(hours=rng.uniform(0.2, 24))
                if acknowledged <= now:
                    return (
                        "acknowledged", "email", told, told_by_id, "", acknowledged,
                        recipient_name, "delivered",
                    )  # fmt: skip
            return ("sent", "email", told, told_by_id, "", None, "", "delivered")
        method = rng.choice(["phone", "secure_email", "meeting"])
        return ("told", method, told, told_by_id, recipient_name, None, "", "none")

    def _mark_engine_work_done(self, first_episode: int, last_episode: int) -> None:
        """Receipts for every synthetic protocol event and every timed step already past,
        and when each episode's next timed step falls due.

        One INSERT ... SELECT each over this run's episodes (new rows, so none has a
        receipt yet), after ANALYZE: straight after a bulk load PostgreSQL's statistics
        still describe empty tables, and its plans would be nested loops over them.
        """
        from notifications.engine import reschedule_timed_steps
        from notifications.models import TIMED_STEPS, ProcessedEvent, TimedStepFired

        processed = ProcessedEvent._meta.db_table
        events = CaseEvent._meta.db_table
        fired = TimedStepFired._meta.db_table
        episodes = Episode._meta.db_table
        now = self.now
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                tables = [Child, Episode, CaseEvent, ReturnInterview, SafeAndWellCheck]
                cursor.execute("ANALYZE " + ", ".join(m._meta.db_table for m in tables))
            cursor.execute(
                f"INSERT INTO {processed} (event_id, processed_at) "  # noqa: S608
                f"SELECT e.id, %s FROM {events} e "
                f"WHERE e.episode_id BETWEEN %s AND %s AND e.is_protocol = %s",
                [now, first_episode, last_episode, True],
            )
            self._count("processed event receipts", cursor.rowcount)
            for step, (base, after) in TIMED_STEPS.items():
                column = "last_seen_at" if base == "last_seen" else "found_at"
                # Synthetic history: marked as evaluated without the engine's judgement,
                # so fired is False; the Notification rows stand for what was due.
                cursor.execute(
                    f"INSERT INTO {fired} (episode_id, step, evaluated_at, fired) "  # noqa: S608
                    f"SELECT ep.id, %s, %s, %s FROM {episodes} ep "
                    f"WHERE ep.id BETWEEN %s AND %s AND ep.{column} <= %s",
                    [step, now, False, first_episode, last_episode, now - after],
                )
                self._count("timed steps marked", cursor.rowcount)
        # When each episode's next timed step falls due, from the steps just marked: the
        # rows were written without the model's save, so nothing has set it yet. Only
        # this run's open episodes have one (a few queries for the lot).
        self._count(
            "next timed steps stored",
            reschedule_timed_steps(Episode.objects.filter(pk__range=(first_episode, last_episode))),
        )
