"""Count the managers' measures of closed months again (``oversight.aggregates``).

The scheduler does this each pass for the months that changed, and for every kept
month once a day, a few months a pass; without ``--all`` this counts every month due
at once; ``--all`` counts every kept month now (after a deploy that changes
what a measure counts, or a bulk change to the records that wrote no history).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from oversight import aggregates


class Command(BaseCommand):
    help = "Count the managers' measures of closed months again and keep them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true", help="Count every kept month, not only those due."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        months = aggregates.refresh(full=options["all"], limit=None)
        self.stdout.write(
            f"Counted {months} month(s) of measures in {time.monotonic() - started:.1f} s."
        )
