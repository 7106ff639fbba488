"""Write a council's SSDA903 Missing and Header tables for a collection year, and print
DfE's checks, as the statutory returns page does.

    manage.py export_903 --year 2026 --council E06000050 --out /srv/returns
    manage.py export_903 --year 2026 --council E06000050 --out DIR --list-8-as-at 2026-03-31

``--year`` is the year the collection ends (2026: 1 April 2025 to 31 March 2026);
``--council`` the council's ONS code. Files: ssda903-missing-CODE-YEAR.csv and
ssda903-header-CODE-YEAR.csv (and annex-a-list-8-CODE-DATE.csv with --list-8-as-at).
A row naming a child without a council child identifier stops the command before any
file is written; other failing rows are printed and the files written.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from missingkids.accounts.models import LocalAuthorityArea
from missingkids.audit.log import log_access
from missingkids.audit.models import AccessLogEntry
from missingkids.spreadsheets import csv_safe
from oversight import returns


def _write(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([csv_safe(cell) for cell in row] for row in rows)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-03-31"
        ) from None


class Command(BaseCommand):
    help = "Write a council's SSDA903 Missing and Header tables for a year and print the checks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--year", type=int, required=True, help="The year the collection ends, e.g. 2026."
        )
        parser.add_argument(
            "--council", required=True, metavar="CODE", help="The council's ONS code."
        )
        parser.add_argument("--out", required=True, metavar="DIR", help="Folder to write to.")
        parser.add_argument(
            "--list-8-as-at",
            type=_date,
            default=None,
            metavar="YYYY-MM-DD",
            help="Also write Annex A List 8 as at this date.",
        )

    def handle(
        self, *args: Any, year: int, council: str, out: str, list_8_as_at: Any, **options: Any
    ) -> None:
        message = returns.year_error(year)
        if message:
            raise CommandError(f"--year: {message}")
        area = LocalAuthorityArea.objects.filter(code=council.strip().upper()).first()
        if area is None:
            codes = LocalAuthorityArea.objects.order_by("code").values_list("code", flat=True)
            raise CommandError(
                f"--council: no council has the ONS code {council!r}; the codes are "
                + ", ".join(codes)
            )
        folder = Path(out)
        if not folder.is_dir():
            raise CommandError(f"--out: {out} is not a folder")

        built = returns.build_903(area, returns.CollectionYear(year))
        self.stdout.write(
            f"SSDA903 for {area.name} ({area.code}), {built.year}: "
            f"{len(built.missing)} Missing row(s), {len(built.header)} Header row(s)."
        )
        for failure in built.checks.failures:
            self.stdout.write(
                f"  {failure.code} {failure.table} {failure.child or '(no identifier)'}: "
                f"{failure.message} Put right at {failure.fix_url}"
            )
        if built.checks.blocking:
            raise CommandError(
                f"{len(built.checks.blocking)} row(s) name a child without a council child "
                "identifier: add them, then run this again. No file was written."
            )
        if not built.checks.failures:
            self.stdout.write("Checks: no errors.")
        written = []
        missing = folder / f"ssda903-missing-{area.code}-{year}.csv"
        header = folder / f"ssda903-header-{area.code}-{year}.csv"
        _write(missing, returns.MISSING_HEADER, [row.cells() for row in built.missing])
        _write(header, returns.HEADER_HEADER, [row.cells() for row in built.header])
        written += [missing, header]
        detail: dict[str, Any] = {
            "council": area.code,
            "year": year,
            "rows": len(built.missing),
            "header_rows": len(built.header),
        }
        if list_8_as_at is not None:
            list_8 = [row.cells() for row in returns.list_8_rows(area, list_8_as_at)]
            path = folder / f"annex-a-list-8-{area.code}-{list_8_as_at:%Y-%m-%d}.csv"
            _write(path, returns.LIST_8_HEADER, list_8)
            written.append(path)
            detail["list_8_rows"] = len(list_8)
        log_access(
            None,
            AccessLogEntry.Action.EXPORT,
            username="manage.py export_903",
            detail={"what": "ssda903", **detail},
        )
        for path in written:
            self.stdout.write(f"Wrote {path}")
