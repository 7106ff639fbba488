"""What the two background processes (the e-mail worker and the scheduler) share.

They run for weeks, so they must outlive what a web request never sees: the database
restarting or dropping their connection, the mail server going away. Before each claim
and each pass the connection is checked and, if broken, closed, so the next query opens
a new one; an error is logged (its kind and counts, never anything about a child), and
the process waits 1, 2, 4 ... seconds, never more than ``PROCESS_BACKOFF_MAX``, and
carries on. SIGTERM (systemd's stop) lets the work in hand finish, then the process
exits. Each process records a heartbeat row (``ProcessHeartbeat``), which the health
check reads.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

from .models import ProcessHeartbeat

logger = logging.getLogger(__name__)

# Heartbeats of processes gone this long are removed when a process of the kind starts.
HEARTBEAT_KEPT_FOR = dt.timedelta(days=7)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def refresh_connection() -> None:
    """Close a database connection that no longer works, so the next query reconnects.

    ``close_old_connections()`` alone keeps a connection whose server process was
    terminated while it sat idle (no error has been seen on it yet), and the first query
    on it then fails: ask the connection itself. A connection inside a transaction is
    left alone; the transaction's own failure closes it (``atomic`` drops a connection
    it cannot roll back).
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is None or conn.in_atomic_block:
            continue
        if not conn.is_usable():
            conn.close()
        else:
            conn.close_if_unusable_or_obsolete()


def drop_connection() -> None:
    """After a database error outside a transaction: start again with a new connection."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


@dataclass
class Backoff:
    """1, 2, 4 ... seconds after each error in a row, never more than the setting."""

    current: float = 0.0

    def next(self) -> float:
        limit = settings.PROCESS_BACKOFF_MAX.total_seconds()
        self.current = min(max(self.current * 2, 1.0), limit)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class Stop:
    """Set by SIGTERM or SIGINT; waits are cut short by it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()

    def set(self) -> None:
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking at once when a stop is asked for."""
        self.event.wait(max(seconds, 0.0))


@dataclass
class Heartbeat:
    """This process's row in ProcessHeartbeat, written at most every HEARTBEAT_EVERY."""

    kind: str
    name: str
    started_at: dt.datetime = field(default_factory=timezone.now)
    last_written: dt.datetime | None = None

    def beat(self, counts: Mapping[str, int], *, force: bool = False) -> bool:
        now = timezone.now()
        if (
            not force
            and self.last_written is not None
            and now - self.last_written < settings.HEARTBEAT_EVERY
        ):
            return False
        if self.last_written is None:
            ProcessHeartbeat.objects.filter(
                kind=self.kind, last_beat_at__lt=now - HEARTBEAT_KEPT_FOR
            ).delete()
        updated = ProcessHeartbeat.objects.filter(kind=self.kind, name=self.name).update(
            last_beat_at=now, last_counts=dict(counts)
        )
        if not updated:
            ProcessHeartbeat.objects.update_or_create(
                kind=self.kind,
                name=self.name,
                defaults={"last_beat_at": now, "last_counts": dict(counts)},
                create_defaults={
                    "started_at": self.started_at,
                    "last_beat_at": now,
                    "last_counts": dict(counts),
                },
            )
        self.last_written = now
        return True


# The scheduler's pass ---------------------------------------------------------------------


@dataclass(frozen=True)
class PassStep:
    """One piece of the scheduler's pass: its name (in logs and the heartbeat's counts)
    and a function that does it and returns how many things it did."""

    name: str
    run: Callable[[], int]


@dataclass
class PassResult:
    counts: dict[str, int]
    failed: list[str]


def run_pass(steps: Iterable[PassStep]) -> PassResult:
    """Run each step on a working connection; one step's failure does not stop the rest."""
    result = PassResult(counts={}, failed=[])
    for step in steps:
        refresh_connection()
        try:
            result.counts[step.name] = step.run()
        except Exception:
            # The kind of error only (the logging filter withholds its message).
            logger.exception("Scheduler step %s failed; the next pass tries again", step.name)
            result.failed.append(step.name)
            drop_connection()
    return result
