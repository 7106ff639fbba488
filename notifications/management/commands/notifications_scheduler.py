"""Turn protocol events and elapsed time into notifications.

Each pass processes outbox events (protocol steps and changed facts) that have no
receipt yet (the ones whose on-commit processing failed or never ran), fires the timed
steps whose time has come (still missing at 24 hours, ...), works out again the
episodes flagged after a change to agencies or contacts, and builds the statutory
returns managers asked for. Run it continuously
(``--interval``) or from cron (``--once``); two copies running at once are safe, each
event, step and flag is claimed once.

The pass is the list ``PASS_STEPS``: each step runs on a working database connection,
and one that fails (the database restarting, say) is logged and tried again next pass,
after a wait that grows with each failing pass (see notifications.processes). On
SIGTERM the pass in hand finishes, then the scheduler exits.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents.visibility import apply_dated_changes
from missingkids.accounts.housekeeping import housekeeping_if_due
from notifications.engine import (
    fire_timed_steps,
    process_pending_events,
    process_pending_reevaluations,
)
from notifications.models import ProcessHeartbeat
from notifications.processes import Backoff, Heartbeat, PassStep, Stop, process_name, run_pass
from oversight.aggregates import refresh as refresh_measures
from oversight.due import roll_places
from oversight.return_requests import build_queued_returns

logger = logging.getLogger("notifications.scheduler")


def _housekeeping() -> int:
    done = housekeeping_if_due()
    if done is None:
        return 0
    return (done.sessions or 0) + done.user_sessions + done.lockout_attempts


# One pass, in order. Each returns how many things it did.
PASS_STEPS: list[PassStep] = [
    PassStep("events", lambda: process_pending_events()),
    PassStep("timed_steps", lambda: fire_timed_steps()),
    PassStep("reevaluated", lambda: process_pending_reevaluations()),
    # Placements that started or ended, involvements that ended, since the last pass:
    # who may see the child (once a day; otherwise one row read).
    PassStep("visibility", lambda: apply_dated_changes()),
    # Expired sessions and lockout counters: hourly at most, logs its own counts.
    PassStep("housekeeping", lambda: _housekeeping()),
    # The hotspots' tallies moved on to the period's start: the rows fallen out of it.
    PassStep("hotspots", lambda: roll_places()),
    # The managers' measures of closed months whose records changed (all once a day).
    PassStep("measures", lambda: refresh_measures()),
    # Statutory returns managers asked for (last: a big one takes a while, and starts
    # no other after RETURN_BUILD_BUDGET; see oversight.return_requests).
    PassStep("returns", lambda: build_queued_returns()),
]


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
        name = process_name()
        heartbeat = Heartbeat(ProcessHeartbeat.Kind.SCHEDULER, name)
        backoff = Backoff()
        stop = Stop()
        if not once:
            stop.install()
            logger.info("Scheduler %s started", name)
        counts: dict[str, int] = {}
        try:
            while not stop.requested:
                result = run_pass(PASS_STEPS)
                counts = {**result.counts, "failed_steps": len(result.failed)}
                try:
                    heartbeat.beat(counts)
                except Exception:
                    logger.exception("Scheduler %s: heartbeat not recorded", name)
                    result.failed.append("heartbeat")
                # Counting the measures and hotspots again is bookkeeping: it prints nothing.
                done = any(
                    n for step, n in result.counts.items() if step not in {"measures", "hotspots"}
                )
                if verbosity >= 2 or (verbosity >= 1 and done):
                    self.stdout.write(
                        f"Processed {result.counts.get('events', 0)} event(s); "
                        f"{result.counts.get('timed_steps', 0)} timed step(s) fired; "
                        f"{result.counts.get('reevaluated', 0)} episode(s) worked out again; "
                        f"{result.counts.get('returns', 0)} statutory return(s) built."
                    )
                if once:
                    if result.failed:
                        raise CommandError(
                            f"Failed this pass: {', '.join(result.failed)}. See the log."
                        )
                    return
                if result.failed:
                    stop.wait(backoff.next())
                else:
                    backoff.reset()
                    stop.wait(max(interval, 1.0))
        finally:
            stop.restore()
        try:
            heartbeat.beat(counts, force=True)
        except Exception:
            logger.exception("Scheduler %s: last heartbeat not recorded", name)
        logger.info("Scheduler %s stopped", name)
