"""CSV files that people open in a spreadsheet: safe cells, and files sent as they are
written (a download of 300,000 rows never sits whole in memory)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

# A cell starting with one of these is run as a formula by Excel and LibreOffice; a
# typed name, address or URL could start with one (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# Rows read from the database at a time (a server-side cursor on PostgreSQL), and rows
# sent to the browser in one piece.
CHUNK_ROWS = 2000
LINES_PER_PIECE = 500


def csv_safe(value: str) -> str:
    """The cell as text a spreadsheet shows, never runs: formulas get a leading quote."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


class _Pending:
    """A file-like target for csv.writer that keeps what was written until taken."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def csv_lines(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The file in pieces of a few hundred lines, each written as soon as its rows are
    read. Cells are written as given: callers pass typed text through ``csv_safe``."""
    pending = _Pending()
    writer = csv.writer(pending)
    writer.writerow(header)
    count = 0
    for cells in rows:
        writer.writerow(cells)
        count += 1
        if count % LINES_PER_PIECE == 0:
            yield pending.take()
    rest = pending.take()
    if rest or count == 0:
        yield rest


def csv_response(filename: str, pieces: Iterator[str]) -> StreamingHttpResponse:
    """A download sent as it is written."""
    response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
