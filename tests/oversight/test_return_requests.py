"""Statutory returns asked for on the page and built by the scheduler's step: the stored
files equal what the page used to build in the request, failures are recorded and can be
asked again, a dead builder's claim runs out, and only the agency's managers see them."""

from __future__ import annotations

import csv
import datetime as dt
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from incidents.models import LegalStatus, LegalStatusPeriod
from missingkids import policy, spreadsheets
from missingkids.audit.models import AccessLogEntry
from missingkids.spreadsheets import csv_safe
from oversight import return_requests, returns
from oversight.models import ReturnFilePart, ReturnRequest
from oversight.retention import records_erase
from oversight.return_requests import build_queued_returns, claim_next, return_request
from tests.factories.incidents import ChildFactory, EpisodeFactory

S = ReturnRequest.Status
AS_AT = dt.date(2026, 3, 31)


def _at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def in_care(area_west, social_worker):
    """Three children in care with a few episodes each in the year ending March 2026."""
    children = []
    for n in range(3):
        child = ChildFactory(
            la_child_id=f"R{n}",
            legal_status=LegalStatus.IN_CARE,
            responsible_area=area_west,
            created_by=social_worker,
            ethnicity="WBRI",
            gender="female",
        )
        LegalStatusPeriod.objects.create(
            child=child, status=LegalStatus.IN_CARE, start=dt.date(2024, 1, 1)
        )
        for k in range(4):
            seen = _at(2025, 5, 1, 10) + dt.timedelta(days=20 * k + n)
            EpisodeFactory(child=child, last_seen_at=seen, found_at=seen + dt.timedelta(hours=6))
        children.append(child)
    return children


def _asked(manager, area, **kwargs) -> ReturnRequest:
    return return_request(
        acting_user=manager,
        area=area,
        year=kwargs.get("year", 2026),
        as_at=kwargs.get("as_at", AS_AT),
    )


def _page(client, asked: ReturnRequest):
    return client.get(reverse("oversight:return_request", args=[asked.pk]))


def _download(client, asked: ReturnRequest, kind: str):
    return client.get(reverse("oversight:return_download", args=[asked.pk, kind]))


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _in_request(header, rows) -> bytes:
    """What the page's downloads sent when they built the returns in the request."""
    out = StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([csv_safe(cell) for cell in row] for row in rows)
    return out.getvalue().encode()


# Asked for, built, downloaded ------------------------------------------------------------


def test_asking_builds_in_the_background_and_the_files_are_what_the_request_built(
    client, manager, area_west, in_care, monkeypatch
):
    # Small parts, so that the files are stored (and read back) in many pieces.
    monkeypatch.setattr(spreadsheets, "LINES_PER_PIECE", 2)
    monkeypatch.setattr(return_requests, "PIECES_PER_PART", 2)
    client.force_login(manager)
    response = client.post(
        reverse("oversight:returns"),
        {"area": area_west.pk, "year": 2026, "as_at_0": 31, "as_at_1": 3, "as_at_2": 2026},
    )
    asked = ReturnRequest.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("oversight:return_request", args=[asked.pk])
    assert (asked.status, asked.requested_by, asked.agency_id) == (
        S.QUEUED,
        manager,
        manager.agency_id,
    )
    assert (asked.year, asked.as_at) == (2026, AS_AT)

    waiting = _page(client, asked)
    assert waiting.status_code == 200
    content = waiting.content.decode()
    assert "The returns are being prepared" in content
    # No page that refreshes itself (WCAG 2.2.1): the manager looks again with a link.
    assert "http-equiv" not in content and "Look again now" in content
    assert "Waiting to be prepared" in content

    assert build_queued_returns(worker="test") == 1
    asked.refresh_from_db()
    assert asked.status == S.READY, asked.error
    assert (asked.missing_rows, asked.header_rows, asked.list_8_rows) == (12, 3, 3)
    assert asked.failure_count == 0 and asked.attempts == 1
    assert asked.started_at is not None and asked.finished_at >= asked.started_at
    assert ReturnFilePart.objects.filter(request=asked, kind="missing").count() > 1

    ready = _page(client, asked)
    content = ready.content.decode()
    assert "being prepared" not in content and "http-equiv" not in content
    assert "No errors" in content
    built = returns.build_903(area_west, returns.CollectionYear(2026))
    list_8 = list(returns.list_8_rows(area_west, AS_AT, built.periods))
    expected = {
        "missing": _in_request(returns.MISSING_HEADER, (r.cells() for r in built.missing)),
        "header": _in_request(returns.HEADER_HEADER, (r.cells() for r in built.header)),
        "list8": _in_request(returns.LIST_8_HEADER, (r.cells() for r in list_8)),
    }
    for kind, body in expected.items():
        assert reverse("oversight:return_download", args=[asked.pk, kind]) in content
        download = _download(client, asked, kind)
        assert download.status_code == 200
        assert download.streaming
        assert _body(download) == body, kind
    exports = AccessLogEntry.objects.filter(action=AccessLogEntry.Action.EXPORT, user=manager)
    assert sorted((e.detail["what"], e.detail["rows"]) for e in exports) == [
        ("annex_a_list_8", 3),
        ("ssda903_header", 3),
        ("ssda903_missing", 12),
    ]


def test_the_scheduler_pass_builds_them(manager, area_west, in_care):
    asked = _asked(manager, area_west)
    call_command("notifications_scheduler", "--once", stdout=StringIO())
    asked.refresh_from_db()
    assert asked.status == S.READY


def test_asking_again_while_waiting_gives_the_same_request(manager, area_west, in_care):
    first = _asked(manager, area_west)
    assert _asked(manager, area_west) == first
    assert _asked(manager, area_west, as_at=dt.date(2026, 1, 31)) != first
    build_queued_returns(worker="test")
    # Once built, asking again builds afresh (the record may have been put right).
    assert _asked(manager, area_west) != first


def test_the_list_shows_the_agencys_requests_newest_first(
    client, manager, host_manager, area_west, area_east, in_care
):
    older = _asked(manager, area_west, year=2025)
    newer = _asked(manager, area_west)
    theirs = _asked(host_manager, area_east)
    client.force_login(manager)
    page = client.get(reverse("oversight:returns"))
    assert page.status_code == 200
    assert list(page.context["requests"]) == [newer, older]
    content = page.content.decode()
    assert reverse("oversight:return_request", args=[theirs.pk]) not in content
    assert "Waiting to be prepared" in content


# Failures ---------------------------------------------------------------------------------


def test_a_build_that_raises_is_marked_failed_and_can_be_asked_again(
    client, manager, area_west, in_care, monkeypatch
):
    asked = _asked(manager, area_west)

    def broken(*args, **kwargs):
        raise ValueError("the periods of care do not add up")

    monkeypatch.setattr(returns, "build_903", broken)
    assert build_queued_returns(worker="test") == 1
    asked.refresh_from_db()
    assert asked.status == S.FAILED
    assert asked.error == "ValueError: the periods of care do not add up"
    assert not asked.parts.exists()

    client.force_login(manager)
    page = _page(client, asked)
    content = page.content.decode()
    assert "The returns could not be prepared" in content
    assert "the periods of care do not add up" in content
    assert "http-equiv" not in content
    assert _download(client, asked, "missing").status_code == 200  # the page, saying so
    assert not AccessLogEntry.objects.filter(action=AccessLogEntry.Action.EXPORT).exists()

    monkeypatch.undo()
    again = client.post(reverse("oversight:returns"), page.context["ask_again"])
    assert again.status_code == 302
    fresh = ReturnRequest.objects.exclude(pk=asked.pk).get()
    assert (fresh.area, fresh.year, fresh.as_at, fresh.status) == (
        area_west,
        2026,
        AS_AT,
        S.QUEUED,
    )
    build_queued_returns(worker="test")
    fresh.refresh_from_db()
    assert fresh.status == S.READY


def test_a_lost_connection_gives_the_request_back(manager, area_west, in_care, monkeypatch):
    asked = _asked(manager, area_west)

    def gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(returns, "build_903", gone)
    with pytest.raises(OperationalError):
        build_queued_returns(worker="test")
    asked.refresh_from_db()
    assert (asked.status, asked.claimed_by, asked.attempts) == (S.QUEUED, "", 1)


def test_a_dead_builders_claim_runs_out_and_it_is_built_again(manager, area_west, in_care):
    asked = _asked(manager, area_west)
    now = timezone.now()
    dead = claim_next(worker="dead", now=now)
    assert dead == asked
    # Another scheduler: nothing to claim while the lease holds.
    assert claim_next(worker="other", now=now + dt.timedelta(minutes=1)) is None
    later = now + policy.RETURN_BUILD_LEASE + dt.timedelta(seconds=1)
    assert build_queued_returns(worker="other", now=later) == 1
    asked.refresh_from_db()
    assert (asked.status, asked.claimed_by, asked.attempts) == (S.READY, "other", 2)
    # The first builder comes back to life: its result is thrown away.
    built = return_requests.build(dead)
    assert return_requests.return_finish(dead, built, seconds=1.0) is False
    assert return_requests.build_claimed(dead) == "claim_lost"


def test_a_return_that_kills_its_builder_each_time_is_failed_in_the_end(
    manager, area_west, in_care
):
    asked = _asked(manager, area_west)
    now = timezone.now()
    for attempt in range(policy.RETURN_BUILD_MAX_ATTEMPTS):
        now += policy.RETURN_BUILD_LEASE + dt.timedelta(seconds=1)
        assert claim_next(worker=f"dies-{attempt}", now=now) == asked
    now += policy.RETURN_BUILD_LEASE + dt.timedelta(seconds=1)
    assert claim_next(worker="next", now=now) is None
    asked.refresh_from_db()
    assert asked.status == S.FAILED
    assert "stopped before it finished 3 times" in asked.error


def test_files_are_removed_after_they_are_kept_for(client, manager, area_west, in_care):
    asked = _asked(manager, area_west)
    build_queued_returns(worker="test")
    later = timezone.now() + policy.RETURN_FILES_KEPT_FOR + dt.timedelta(minutes=1)
    assert build_queued_returns(worker="test", now=later) == 0
    asked.refresh_from_db()
    assert asked.files_removed_at == later
    assert asked.checks == [] and not asked.parts.exists()
    assert asked.missing_rows == 12  # the counts stay
    client.force_login(manager)
    assert "were removed on" in _page(client, asked).content.decode()
    refused = _download(client, asked, "list8")
    assert refused.status_code == 200 and not refused.streaming


def test_erasing_records_past_retention_removes_every_built_file(
    client, manager, area_west, in_care, admin_user, social_worker
):
    """A built return may name a child whose record is then erased: its files and
    failing rows go in the erasure, and a return being built is built again."""
    ready = _asked(manager, area_west)
    build_queued_returns(worker="test")
    building = _asked(manager, area_west, year=2025)
    claimed = claim_next(worker="builder")
    assert claimed is not None and claimed.pk == building.pk
    ChildFactory(
        responsible_area=area_west,
        created_by=social_worker,
        date_of_birth=timezone.localdate().replace(year=timezone.localdate().year - 40),
    )

    assert records_erase(confirmed_by=admin_user) is not None

    ready.refresh_from_db()
    assert ready.files_removed_at is not None and not ready.parts.exists()
    assert ready.checks == []
    building.refresh_from_db()
    assert (building.status, building.claimed_at) == (S.QUEUED, None)
    # What the builder read before the erasure is never stored.
    assert not return_requests.return_finish(claimed, return_requests.build(claimed), seconds=1.0)
    assert not building.parts.exists()
    client.force_login(manager)
    assert "removed sooner when records past retention are erased" in (
        _page(client, ready).content.decode()
    )


# Access and bad input ---------------------------------------------------------------------


def test_another_agencys_manager_and_everyone_else_are_refused(
    client, manager, host_manager, social_worker, admin_user, officer, outsider, area_west, in_care
):
    asked = _asked(manager, area_west)
    build_queued_returns(worker="test")
    for person, status in [
        (host_manager, 404),
        (officer, 404),
        (outsider, 404),
        (admin_user, 404),
        # Of the agency, but not a manager.
        (social_worker, 403),
    ]:
        client.force_login(person)
        assert _page(client, asked).status_code == status, person.email
        for kind in ("missing", "header", "list8"):
            assert _download(client, asked, kind).status_code == status, person.email
    assert not AccessLogEntry.objects.filter(action=AccessLogEntry.Action.EXPORT).exists()


def test_a_council_the_agency_no_longer_serves_is_not_shown(client, manager, area_west, in_care):
    asked = _asked(manager, area_west)
    manager.agency.areas.remove(area_west)
    client.force_login(manager)
    assert _page(client, asked).status_code == 404
    assert client.get(reverse("oversight:returns")).context["requests"] == []


def test_asking_for_another_councils_returns_directly_is_refused(manager, area_other):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        _asked(manager, area_other)
    assert not ReturnRequest.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/managers/returns/999999/",
        "/managers/returns/99999999999999999999999/",
        "/managers/returns/999999/missing.csv",
        "/managers/returns/99999999999999999999999/list8.csv",
    ],
)
def test_no_such_request_is_a_404(client, manager, path):
    client.force_login(manager)
    assert client.get(path).status_code == 404


def test_bad_input_never_fails(client, manager, area_west, in_care):
    client.force_login(manager)
    asked = _asked(manager, area_west)
    # Still being built: the downloads go back to the page, which says so.
    for kind in ("missing", "list8", "nonsense"):
        response = _download(client, asked, kind)
        assert response.status_code == 302
        assert response.url == reverse("oversight:return_request", args=[asked.pk])
    claim_next(worker="busy")
    assert "Being prepared" in _page(client, asked).content.decode()
    assert _download(client, asked, "header").status_code == 302
    for data in (
        {"area": "x", "year": "y"},
        {"area": "99999999999999999999999", "year": "2026"},
        {"area": area_west.pk, "year": "2026", "as_at_0": "31", "as_at_1": "2", "as_at_2": "2026"},
        {"area": area_west.pk, "year": "99999999999999999999"},
        {},
    ):
        response = client.post(reverse("oversight:returns"), data)
        assert response.status_code == 200, data
        assert "govuk-error-message" in response.content.decode(), data
    assert ReturnRequest.objects.count() == 1
    assert client.put(reverse("oversight:returns")).status_code == 405
    assert client.post(reverse("oversight:return_request", args=[asked.pk])).status_code == 405


# Queries ----------------------------------------------------------------------------------


# The session, the person, the second factor, their agency (a council's manager?), the
# councils in the form's list (the field and its choices), the agency's latest requests
# with their councils and who asked; the access log.
FORM_QUERIES = 8


@pytest.mark.parametrize("count", [1, 8])
def test_the_returns_page_takes_a_pinned_number_of_queries(
    client, django_assert_num_queries, manager, area_west, count
):
    for year in range(2026 - count, 2026):
        _asked(manager, area_west, year=year + 1)
    client.force_login(manager)
    client.get(reverse("oversight:returns"))  # the first request of a connection
    with django_assert_num_queries(FORM_QUERIES):
        response = client.get(reverse("oversight:returns"))
    assert len(response.context["requests"]) == count


# The session, the person, the second factor, their agency, the request with its
# council and who asked; the access log.
REQUEST_PAGE_QUERIES = 6


@pytest.mark.parametrize("built", [False, True])
def test_the_request_page_takes_a_pinned_number_of_queries(
    client, django_assert_num_queries, manager, area_west, in_care, built
):
    asked = _asked(manager, area_west)
    if built:
        build_queued_returns(worker="test")
    client.force_login(manager)
    _page(client, asked)
    with django_assert_num_queries(REQUEST_PAGE_QUERIES):
        assert _page(client, asked).status_code == 200


# The session, the person, the second factor, their agency, the request; the access
# log's entry; the file's parts, read as they are sent.
DOWNLOAD_QUERIES = 7


def test_a_download_takes_a_pinned_number_of_queries(
    client, django_assert_num_queries, manager, area_west, in_care, monkeypatch
):
    monkeypatch.setattr(spreadsheets, "LINES_PER_PIECE", 1)
    monkeypatch.setattr(return_requests, "PIECES_PER_PART", 1)
    asked = _asked(manager, area_west)
    build_queued_returns(worker="test")
    client.force_login(manager)
    _body(_download(client, asked, "missing"))
    with django_assert_num_queries(DOWNLOAD_QUERIES):
        assert _body(_download(client, asked, "missing")).count(b"\r\n") == 13


# Two schedulers at once (PostgreSQL's row locks) ------------------------------------------


# No serialized rollback: reloading the content types after an earlier transactional
# test had kept them broke its set-up (a duplicate key), depending on the order.
@pytest.mark.django_db(transaction=True)
def test_a_request_another_scheduler_has_locked_is_skipped_not_waited_for(
    postgres_only, manager, area_west
):
    first = _asked(manager, area_west, year=2025)
    second = _asked(manager, area_west, year=2026)
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other_scheduler() -> None:
        try:
            with transaction.atomic():
                ReturnRequest.objects.select_for_update().get(pk=first.pk)
                locked.set()
                release.wait(timeout=30)
        except BaseException as error:
            errors.append(error)
            locked.set()
        finally:
            connection.close()

    thread = threading.Thread(target=other_scheduler)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        # The oldest is locked by the other: this one takes the next at once.
        assert claim_next(worker="this") == second
        assert claim_next(worker="this") is None
    finally:
        release.set()
        thread.join(timeout=30)
    assert errors == []
    first.refresh_from_db()
    assert first.status == S.QUEUED
    assert claim_next(worker="this") == first
