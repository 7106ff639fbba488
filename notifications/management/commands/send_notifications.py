"""Send queued notification e-mails: ``--once`` for cron, or continuously.

Several copies may run at once (see notifications.sending): each claims its own rows.
Logs carry counts only, never who was told about which child.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from notifications.sending import send_due_notifications

logger = logging.getLogger("notifications.send_notifications")

BATCH = 50


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
            help="Name recorded on claims and attempts (default host:pid).",
        )

    def handle(
        self, *args: Any, once: bool, interval: float, worker_name: str, **options: Any
    ) -> None:
        worker = worker_name or f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = False
        if not once:
            # Finish the message in hand on SIGTERM (systemd stop) rather than dying
            # mid-send; an abrupt kill is still safe, the claim's lease runs out.
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
            logger.info("Notification worker %s started", worker)
        total = 0
        while True:
            delivered = send_due_notifications(worker=worker, limit=BATCH)
            total += delivered
            if once or self._stopping:
                break
            # A long-running worker must not hold a connection the database has
            # dropped (restart, idle timeout), as a request would not.
            close_old_connections()
            if delivered < BATCH:
                # A full batch means more may be waiting: go round again at once.
                self._sleep(interval)
            if self._stopping:
                break
        if once:
            self.stdout.write(f"Delivered {total} notification e-mail(s).")
        else:
            logger.info("Notification worker %s stopped", worker)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.5, deadline - time.monotonic()))
