"""Turn protocol events and elapsed time into notifications.

Each pass processes outbox events (protocol steps and changed facts) that have no
receipt yet (the ones whose on-commit processing failed or never ran), fires the timed
steps whose time has come (still missing at 24 hours, ...), and works out again the
episodes flagged after a change to agencies or contacts. Run it continuously
(``--interval``) or from cron (``--once``); two copies running at once are safe, each
event, step and flag is claimed once.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from missingkids.accounts.housekeeping import housekeeping_if_due
from notifications.engine import (
    fire_timed_steps,
    process_pending_events,
    process_pending_reevaluations,
)


class Command(BaseCommand):
    help = "Work out notifications from new protocol events and from timed steps."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one pass, then stop.")
        parser.add_argument(
            "--interval",
            type=float,
            default=60.0,
            help="Seconds between passes when running continuously (default 60).",
        )

    def handle(
        self, *args: Any, once: bool = False, interval: float = 60.0, **options: Any
    ) -> None:
        verbosity = int(options.get("verbosity", 1))
        while True:
            events = process_pending_events()
            fired = fire_timed_steps()
            redone = process_pending_reevaluations()
            housekeeping_if_due()  # hourly at most; logs its own counts
            if verbosity >= 2 or (verbosity >= 1 and (events or fired or redone)):
                self.stdout.write(
                    f"Processed {events} event(s); {fired} timed step(s) fired; "
                    f"{redone} episode(s) worked out again."
                )
            if once:
                return
            try:
                time.sleep(max(interval, 1.0))
            except KeyboardInterrupt:
                return
