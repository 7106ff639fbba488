"""Rebuild the visibility table (which agency may see which child) from the facts.

    manage.py rebuild_visibility           # make the table equal to the rule
    manage.py rebuild_visibility --check   # only report differences; exit 1 if any

Safe to run at any time (one transaction); needed after bulk loads that send no signals.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents import visibility


class Command(BaseCommand):
    help = "Rebuild the table of which agency may see which child (--check: compare only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Report rows missing, extra or with other reasons; change nothing.",
        )

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        if not check:
            changed = visibility.rebuild()
            self.stdout.write(f"Visibility rebuilt: {changed} rows added, changed or removed.")
            return
        found = visibility.differences()
        total = sum(len(pairs) for pairs in found.values())
        for what, pairs in found.items():
            for agency_id, child_id in pairs[:20]:
                self.stdout.write(f"{what}: agency {agency_id}, child {child_id}")
            if len(pairs) > 20:
                self.stdout.write(f"{what}: ... and {len(pairs) - 20} more")
        if total:
            raise CommandError(f"The visibility table differs from the rule in {total} rows.")
        self.stdout.write("The visibility table matches the rule.")
