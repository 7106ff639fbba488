"""CSV downloads are sent as they are read: the same file as when it was built whole,
with the export logged, and memory that does not grow with the number of rows."""

from __future__ import annotations

import csv
import io
import tracemalloc

import pytest
from django.db import connection, connections
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from missingkids.audit.models import AccessLogEntry
from missingkids.spreadsheets import CHUNK_ROWS, csv_safe
from oversight import due
from oversight.filters import Filters, ManagerFilterForm
from oversight.views import LISTS, _when

from .test_views import world
from .world import NOW

pytestmark = pytest.mark.django_db
A = AccessLogEntry.Action


def built_whole(page, user) -> str:
    """The file as the list export used to build it: in memory, then sent."""
    out = io.StringIO()
    writer = csv.writer(out)
    rows = page.query(user, ManagerFilterForm(None, period=page.period).filters(), NOW)
    if page.lines is not None:
        # A line a sighting (the hotspots), each with its place's cells.
        writer.writerow(page.lines.columns)
        for spot in rows:
            place, children, _, latest = (cell.text for cell in page.cells(spot, NOW))
            for sighting in spot.sightings:
                link = reverse("incidents:episode_detail", args=[sighting.episode_id])
                writer.writerow(
                    [csv_safe(place), children, latest, csv_safe(sighting.child_name),
                     sighting.what, _when(sighting.at), f"http://testserver{link}"]
                )  # fmt: skip
        return out.getvalue()
    writer.writerow([*page.columns, "Record"])
    for row in rows if isinstance(rows, list) else rows.iterator():
        cells = page.cells(row, NOW)
        link = next((cell.href for cell in cells if cell.href), "")
        writer.writerow(
            [csv_safe(cell.text) for cell in cells] + [f"http://testserver{link}" if link else ""]
        )
    return out.getvalue()


def streamed(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("page", LISTS, ids=lambda page: page.slug)
def test_each_list_streams_the_same_file_and_logs_it_once(
    client, manager, la_west, police, area_east, west_child, frozen, page
):
    world(3, la=la_west, police=police, west_child=west_child, host=area_east)
    client.force_login(manager)
    response = client.get(reverse(page.url_name), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="{page.slug}-')
    body = streamed(response)
    assert body == built_whole(page, manager)
    [entry] = AccessLogEntry.objects.filter(action=A.EXPORT)
    assert entry.detail["what"] == page.slug
    assert "rows" not in entry.detail  # logged before the first byte, not counted
    [sent] = AccessLogEntry.objects.filter(action=A.EXPORT_SENT)
    assert (sent.user, sent.path) == (manager, entry.path)
    assert sent.detail == {
        "what": page.slug,
        "export": entry.pk,
        "rows": body.count("\r\n") - 1,
        "complete": True,
    }


def close(response, monkeypatch) -> None:
    """Close the response as the server does when the client goes, keeping the test's
    database connection (the end of a request closes it, and the test client's own
    wrapper of the stream connects that again while the response closes)."""
    monkeypatch.setattr(connections["default"], "close_if_unusable_or_obsolete", lambda: None)
    response.close()


def test_a_download_cut_short_logs_the_rows_sent(
    client, manager, la_west, police, west_child, frozen, monkeypatch
):
    """The client goes after the first piece: the server closes the response, and the
    rows sent so far are logged as not complete."""
    monkeypatch.setattr("oversight.views.LINES_PER_PIECE", 1)
    world(3, la=la_west, police=police, west_child=west_child)
    client.force_login(manager)
    response = client.get(reverse("oversight:interviews_overdue"), {"format": "csv"})
    pieces = iter(response.streaming_content)
    assert next(pieces).startswith(b"Child,")  # the header, before any row is read
    assert next(pieces).count(b"\r\n") == 1  # one row
    assert not AccessLogEntry.objects.filter(action=A.EXPORT_SENT).exists()
    close(response, monkeypatch)
    [entry] = AccessLogEntry.objects.filter(action=A.EXPORT)
    [sent] = AccessLogEntry.objects.filter(action=A.EXPORT_SENT)
    assert sent.detail == {
        "what": "interviews_overdue",
        "export": entry.pk,
        "rows": 1,
        "complete": False,
    }


def test_a_download_cut_short_after_the_header_logs_no_rows_sent(
    client, manager, la_west, police, west_child, frozen, monkeypatch
):
    world(1, la=la_west, police=police, west_child=west_child)
    client.force_login(manager)
    response = client.get(reverse("oversight:interviews_overdue"), {"format": "csv"})
    next(iter(response.streaming_content))
    close(response, monkeypatch)
    [sent] = AccessLogEntry.objects.filter(action=A.EXPORT_SENT)
    assert (sent.detail["rows"], sent.detail["complete"]) == (0, False)


def test_a_download_that_fails_logs_the_rows_sent(client, manager, frozen, monkeypatch):
    """An error while the file is written: the rows sent before it are logged."""

    def batches(*_):
        yield [["a row"]]
        raise RuntimeError("the database went away")

    monkeypatch.setattr("oversight.views._csv_batches", batches)
    client.force_login(manager)
    response = client.get(reverse("oversight:interviews_overdue"), {"format": "csv"})
    with pytest.raises(RuntimeError):
        b"".join(response.streaming_content)
    [sent] = AccessLogEntry.objects.filter(action=A.EXPORT_SENT)
    assert (sent.detail["rows"], sent.detail["complete"]) == (1, False)


@pytest.mark.parametrize("page", LISTS, ids=lambda page: page.slug)
def test_export_queries_do_not_grow_with_rows(
    client, manager, la_west, police, west_child, frozen, page
):
    """The download reads its rows in chunks: the same queries for 1 or 4 of each."""
    client.force_login(manager)
    url = reverse(page.url_name)
    counts = []
    for size in (1, 3):
        world(size, la=la_west, police=police, west_child=west_child)
        with CaptureQueriesContext(connection) as queries:
            streamed(client.get(url, {"format": "csv"}))
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_large_export_is_sent_in_bounded_memory(client, admin_user):
    """30,000 access log entries (about 5 MB of CSV): the peak memory while the file is
    sent stays under a fixed bound below the file's size, whatever its length."""
    rows = 15 * CHUNK_ROWS
    AccessLogEntry.objects.bulk_create(
        AccessLogEntry(
            action=A.VIEW_CHILD,
            username=f"=cmd|' /C calc'!A{n}@example.org",
            path=f"/children/{n}/",
            detail={"n": n, "padding": "x" * 40},
        )
        for n in range(rows)
    )
    client.force_login(admin_user)
    response = client.get(
        reverse("admin:audit_accesslogentry_export"), {"action__exact": A.VIEW_CHILD}
    )
    size = 0
    lines = 0
    tracemalloc.start()
    try:
        for piece in response.streaming_content:
            size += len(piece)
            lines += piece.count(b"\r\n")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == rows + 1
    assert size > 5_000_000
    # One chunk of rows read from the database, and one piece of the file, at a time.
    assert peak < 3_500_000, peak
    [sent] = AccessLogEntry.objects.filter(action=A.EXPORT_SENT)
    assert sent.detail["rows"] == rows


KEPT = [page for page in LISTS if page.slug in due.KINDS and due.KINDS[page.slug].download_kept]


@pytest.mark.parametrize("page", KEPT, ids=lambda page: page.slug)
def test_a_kept_list_downloads_its_pages_rows_across_chunks(
    client, manager, la_west, police, area_east, west_child, frozen, monkeypatch, page
):
    """A list whose raw query sorts every row first is read from its kept rows by key,
    two rows a chunk here: the file has the page's rows (the raw list's, in its order)
    across the chunks' boundaries."""
    monkeypatch.setattr("oversight.views.CHUNK_ROWS", 2)
    world(5, la=la_west, police=police, west_child=west_child, host=area_east)
    client.force_login(manager)
    assert due.ready(manager, Filters())
    with CaptureQueriesContext(connection) as captured:
        body = streamed(client.get(reverse(page.url_name), {"format": "csv"}))
    assert body == built_whole(page, manager)
    assert body.count("\r\n") - 1 > 2
    read = [q["sql"] for q in captured.captured_queries if "oversight_dueitem" in q["sql"]]
    assert len(read) > 1  # by key, a chunk at a time
