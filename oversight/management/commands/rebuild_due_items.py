"""Fill the managers' kept overdue lists anew (``oversight.due``).

They are kept up to date as the records change; run this after a bulk load or change
that sent no signals, and once on a large existing database after migrating (a small
one is filled by ``migrate``). ``--check`` reports, without changing anything, the
rows that differ from the records, the kept counts (``DueCount``) that are not the
rows counted, and the hotspots' rows and tallies (``PlaceChild``, ``PlaceTally``) that
are not the kept sightings'.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oversight import due


class Command(BaseCommand):
    help = "Fill the managers' kept overdue lists anew from the records."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="Only report rows that differ from the records."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        if options["check"]:
            found = due.differences()
            for name, rows in found.items():
                self.stdout.write(f"{name}: {len(rows)}")
            if any(found.values()):
                raise CommandError("The kept overdue lists differ from the records.")
            return
        rows = due.rebuild()
        self.stdout.write(f"Kept {rows} overdue list row(s) in {time.monotonic() - started:.1f} s.")
