"""CSV files that people open in a spreadsheet: safe cells, and files sent as they are
written (a download of 300,000 rows never sits whole in memory)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db import connections, transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse

# A cell starting with one of these is run as a formula by Excel and LibreOffice; a
# typed name, address or URL could start with one (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# Rows read from the database at a time (a server-side cursor on PostgreSQL), and rows
# sent to the browser in one piece.
CHUNK_ROWS = 2000
LINES_PER_PIECE = 500


def read_once(rows: QuerySet, size: int = CHUNK_ROWS) -> Iterator[Any]:
    """Every row of ``rows``, in its order, from one query read ``size`` rows at a time
    while the file is sent (``.iterator``: a server-side cursor on PostgreSQL).

    On PostgreSQL the cursor is opened in a transaction that only reads and lasts while
    the rows are read: outside one, Django declares the cursor ``WITH HOLD`` (it must
    outlive the commit), and PostgreSQL then works out and stores the whole result
    before giving the first row; in a transaction the rows come as the query gives them,
    all from one consistent read of the database. The transaction ends when the rows
    stop, however they stop (the file sent whole, cut short, an error), before anything
    after them is written (the rows sent, logged)."""
    connection = connections[rows.db]
    if connection.vendor != "postgresql" or connection.settings_dict.get(
        "DISABLE_SERVER_SIDE_CURSORS"
    ):
        yield from rows.iterator(size)
        return
    with transaction.atomic(using=rows.db):
        yield from rows.iterator(size)


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


def csv_pieces(header: Iterable[Any], batches: Iterable[Sequence[Iterable[Any]]]) -> Iterator[str]:
    """The file in pieces: the header first, on its own, then one a batch of rows
    (``LINES_PER_PIECE`` or so), each batch written at once into one reused buffer, so
    a long file costs a write a batch, not a write and a piece a row. Cells are written
    as given. The batches are closed when this stops, however it stops."""
    pending = _Pending()
    writer = csv.writer(pending)
    writer.writerow(header)
    try:
        # The header at once, before the rows are read: the first byte does not wait
        # for the query.
        yield pending.take()
        for batch in batches:
            writer.writerows(batch)
            yield pending.take()
    finally:
        # Closed now, not when collected: a download cut short closes this generator,
        # and whatever the batches do when they stop (log the rows sent) happens then.
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    rest = pending.take()
    if rest:
        yield rest


# Month abbreviations as ``%b`` writes them, worked out once.
_MONTHS = ("", *(dt.date(2000, month, 1).strftime("%b") for month in range(1, 13)))


def when_formatter(zone: dt.tzinfo) -> Callable[[dt.datetime | None], str]:
    """``timezone.localtime(value).strftime("%-d %b %Y %H:%M")`` (blank for none), in
    ``zone``, for writing many rows: the same text, at half the cost."""
    months = _MONTHS

    def when(value: dt.datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(zone)
        return f"{local.day} {months[local.month]} {local.year} {local.hour:02d}:{local.minute:02d}"

    return when


def day_formatter() -> Callable[[dt.date], str]:
    """``day.strftime("%-d %b %Y")`` for writing many rows."""
    months = _MONTHS

    def day(value: dt.date) -> str:
        return f"{value.day} {months[value.month]} {value.year}"

    return day


def csv_response(filename: str, pieces: Iterator[str]) -> StreamingHttpResponse:
    """A download sent as it is written."""
    response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
