"""Clear expired sessions and spent lockout counters now (see
missingkids.accounts.housekeeping). The notification scheduler does this hourly by
itself; run this hourly from cron where it does not (README: Housekeeping).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from missingkids.accounts.housekeeping import housekeeping_run


class Command(BaseCommand):
    help = "Clear expired sessions and lockout counters past the lockout period (counts only)."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = housekeeping_run()
        if int(options.get("verbosity", 1)) >= 1:
            self.stdout.write(counts.describe())
