"""Send queued notification e-mails: ``--once`` for cron, or continuously.

Several copies may run at once (see notifications.sending): each claims its own rows,
EMAIL_SEND_BATCH at a time, and sends a batch over EMAIL_SEND_CONNECTIONS connections
to the mail server at once.
A dropped database connection or a mail server that is away does not stop the worker
(see notifications.processes): it waits, longer each time up to PROCESS_BACKOFF_MAX,
and carries on. On SIGTERM it finishes the messages in hand (one a connection), gives back
the rest of its batch unsent, and exits. Logs carry counts
only, never who was told about which child.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications.models import ProcessHeartbeat
from notifications.processes import (
    Backoff,
    Heartbeat,
    Stop,
    drop_connection,
    process_name,
    refresh_connection,
)
from notifications.sending import Outcome, send_batch

logger = logging.getLogger("notifications.send_notifications")

# With --once (cron), database errors in a row after which the run gives up: the next
# run starts afresh.
ONCE_MAX_ERRORS = 5


class Command(BaseCommand):
    help = "Send notification e-mails that are queued or due a retry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Send what is ready, then stop.")
        parser.add_argument(
            "--interval",
            type=float,
            default=10.0,
            help="Seconds to wait when there is nothing to send (default 10).",
        )
        parser.add_argument(
            "--worker-name",
            default="",
            help="Name recorded on claims, attempts and the heartbeat (default host:pid).",
        )

    def handle(
        self, *args: Any, once: bool, interval: float, worker_name: str, **options: Any
    ) -> None:
        worker = worker_name or process_name()
        stop = Stop()
        if not once:
            # Finish the message in hand on SIGTERM (systemd stop) rather than dying
            # mid-send; an abrupt kill is still safe, the claim's lease runs out.
            stop.install()
            logger.info("Notification worker %s started", worker)
        try:
            counts = self._run(worker, stop, once=once, interval=interval)
        finally:
            stop.restore()
        if once:
            self.stdout.write(f"Delivered {counts[Outcome.DELIVERED]} notification e-mail(s).")
        else:
            logger.info("Notification worker %s stopped", worker)

    def _run(self, worker: str, stop: Stop, *, once: bool, interval: float) -> Counter[str]:
        heartbeat = Heartbeat(ProcessHeartbeat.Kind.WORKER, worker)
        counts: Counter[str] = Counter()
        backoff = Backoff()
        errors_in_a_row = 0
        # The stop flag is read before each claim: a stop asked for during a send lets
        # that one message finish and be recorded, and nothing more is claimed.
        while not stop.requested:
            refresh_connection()
            try:
                heartbeat.beat(counts)
                outcomes = send_batch(
                    worker=worker, stop=lambda: stop.requested, pause_on_failure=not once
                )
            except Exception:
                counts["database_errors"] += 1
                errors_in_a_row += 1
                logger.exception("Notification worker %s: database error; waiting", worker)
                drop_connection()
                if once and errors_in_a_row >= ONCE_MAX_ERRORS:
                    raise CommandError(
                        f"Stopped after {errors_in_a_row} database errors in a row."
                    ) from None
                stop.wait(backoff.next())
                continue
            errors_in_a_row = 0
            if not outcomes:
                if once or stop.requested:
                    break
                backoff.reset()
                stop.wait(interval)
                continue
            counts.update(outcomes)
            if Outcome.RETRYING in outcomes and not once:
                # The mail server is probably away: do not run through the queue.
                logger.warning(
                    "Notification worker %s: temporary e-mail failure (%d so far); waiting",
                    worker,
                    counts[Outcome.RETRYING],
                )
                stop.wait(backoff.next())
            else:
                backoff.reset()
        try:
            heartbeat.beat(counts, force=True)
        except Exception:
            logger.exception("Notification worker %s: last heartbeat not recorded", worker)
        if any(counts.values()):
            logger.info(
                "Notification worker %s: %d delivered, %d to retry, %d failed, %d database errors",
                worker,
                counts[Outcome.DELIVERED],
                counts[Outcome.RETRYING],
                counts[Outcome.FAILED],
                counts["database_errors"],
            )
        return counts
