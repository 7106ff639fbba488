"""Statutory returns asked for on the page and built in the background.

A council's year can take half a minute to build at national size, so the page does not
build it: a manager asks (``return_request``), the scheduler builds it
(``build_queued_returns``, a step of its pass) and stores what it built, and the page
and the downloads read that.

- **Claiming** is a conditional update of the state read (as the e-mail worker claims
  notifications): of two schedulers reading the same request, one update matches. On
  PostgreSQL the row is read ``FOR UPDATE SKIP LOCKED``, so two schedulers take
  different requests; SQLite has no row locks and relies on the update alone.
- **A claim is a lease** (``policy.RETURN_BUILD_LEASE``): a scheduler killed mid-build
  leaves the request "building", and once the lease has run out the next pass builds it
  again. After ``policy.RETURN_BUILD_MAX_ATTEMPTS`` builds that never finished it is
  marked failed rather than tried for ever.
- **A build that raises** is marked failed with the reason, and the manager can ask
  again. A lost database connection is not the return's fault: the request goes back to
  the queue (or, if even that cannot be written, waits for its lease) and the pass's
  error handling reconnects.
- **Finishing** writes the files, the counts and the checks in one transaction, only if
  the claim is still ours: a builder whose lease ran out and was overtaken throws its
  result away.

Every state change is one function here; the request row keeps when each happened and
who asked. Access is through ``council_areas`` (the councils a manager's local authority
serves) and ``get_return_request_for_user``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from incidents.access import has_case_role
from missingkids import policy, spreadsheets
from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from missingkids.spreadsheets import csv_pieces, csv_safe
from notifications.processes import process_name

from . import returns
from .models import ReturnFilePart, ReturnRequest
from .views import require_manager

logger = logging.getLogger(__name__)

S = ReturnRequest.Status
Kind = ReturnFilePart.Kind
# CSV pieces (of ``spreadsheets.LINES_PER_PIECE`` lines) in one stored part of a file.
PIECES_PER_PART = 10
# Parts written in one INSERT.
PARTS_PER_INSERT = 20
ERROR_MAX_LENGTH = 1000


# Access ------------------------------------------------------------------------------------


def council_areas(user: User) -> QuerySet[LocalAuthorityArea]:
    """The councils whose returns this manager may make: those their local authority
    serves. Anyone else may make none."""
    require_manager(user)
    if user.agency.kind != Agency.Kind.LOCAL_AUTHORITY:
        raise PermissionDenied("Only a local authority's managers make its statutory returns.")
    return LocalAuthorityArea.objects.filter(agencies=user.agency).order_by("name")


def _visible_requests(user: User) -> QuerySet[ReturnRequest]:
    """Requests of the person's agency for councils it still serves (none for someone
    without a case role)."""
    if not has_case_role(user) or user.agency_id is None:
        return ReturnRequest.objects.none()
    return ReturnRequest.objects.filter(agency_id=user.agency_id, area__agencies=user.agency_id)


def return_requests_for_user(user: User) -> QuerySet[ReturnRequest]:
    """The agency's latest requests, for the returns page (without their checks)."""
    council_areas(user)
    return (
        _visible_requests(user)
        .select_related("area", "requested_by")
        .defer("checks", "error")
        .order_by("-requested_at", "-id")[: policy.RETURN_REQUESTS_LISTED]
    )


def get_return_request_for_user(user: User, pk: int) -> ReturnRequest:
    """The request, if it is the person's agency's: 404 for anyone else's (and for an
    admin), 403 for someone of the agency who is not a manager."""
    request = _visible_requests(user).select_related("area", "requested_by").filter(pk=pk).first()
    if request is None:
        raise Http404("No such return")
    council_areas(user)
    return request


# Asking ------------------------------------------------------------------------------------


def return_request(
    *, acting_user: User, area: LocalAuthorityArea, year: int, as_at: dt.date
) -> ReturnRequest:
    """Ask for a council's returns for a collection year (and List 8 as at a date). The
    same returns already waiting to be built are given back rather than asked for twice."""
    if not council_areas(acting_user).filter(pk=area.pk).exists():
        raise PermissionDenied("Not one of your councils.")
    returns.collection_year(year)
    with transaction.atomic():
        waiting = ReturnRequest.objects.filter(
            agency_id=acting_user.agency_id,
            area=area,
            year=year,
            as_at=as_at,
            status__in=[S.QUEUED, S.BUILDING],
        ).first()
        if waiting is not None:
            return waiting
        return ReturnRequest.objects.create(
            requested_by=acting_user,
            agency_id=acting_user.agency_id,
            area=area,
            year=year,
            as_at=as_at,
        )


# Claiming ----------------------------------------------------------------------------------


def _claimable(now: dt.datetime) -> Q:
    lease_ended = now - policy.RETURN_BUILD_LEASE
    return Q(status=S.QUEUED) | Q(status=S.BUILDING, claimed_at__lt=lease_ended)


def _as_read(pk: int, status: str, claimed_at: dt.datetime | None) -> Q:
    claim = Q(claimed_at=claimed_at) if claimed_at is not None else Q(claimed_at__isnull=True)
    return Q(pk=pk, status=status) & claim


def claim_next(*, worker: str, now: dt.datetime | None = None) -> ReturnRequest | None:
    """Claim the oldest request waiting to be built (or whose builder's lease ran out),
    or return None when there is none. Committed before the build starts."""
    now = now or timezone.now()
    while True:
        with transaction.atomic():
            rows = (
                ReturnRequest.objects.filter(_claimable(now))
                .order_by("requested_at", "id")
                .select_for_update(skip_locked=True)
                .values_list("pk", "status", "claimed_at", "attempts")[:1]
            )
            row = next(iter(rows), None)
            if row is None:
                return None
            pk, status, claimed_at, attempts = row
            seen = ReturnRequest.objects.filter(_as_read(pk, status, claimed_at))
            if attempts >= policy.RETURN_BUILD_MAX_ATTEMPTS:
                seen.update(
                    status=S.FAILED,
                    finished_at=now,
                    error=f"The build stopped before it finished {attempts} times. Ask again; "
                    "if it happens again, tell the service's administrators.",
                )
                continue
            # Matches nothing if another scheduler claimed it since we read it (SQLite).
            claimed = seen.update(
                status=S.BUILDING,
                claimed_at=now,
                claimed_by=worker[:100],
                started_at=now,
                attempts=F("attempts") + 1,
            )
        if claimed:
            return ReturnRequest.objects.select_related("area").get(pk=pk)


def _ours(claimed: ReturnRequest) -> QuerySet[ReturnRequest]:
    return ReturnRequest.objects.filter(
        pk=claimed.pk,
        status=S.BUILDING,
        claimed_by=claimed.claimed_by,
        claimed_at=claimed.claimed_at,
    )


# Building ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Built:
    missing_rows: int
    header_rows: int
    list_8_rows: int
    failures: list[returns.Failure]
    # (kind, CSV text of each part in order); no Missing or Header file when blocked.
    files: list[tuple[str, list[str]]]

    @property
    def blocking(self) -> list[returns.Failure]:
        return [failure for failure in self.failures if failure.blocking]


def _parts(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    """The CSV file, exactly as the downloads have always written it (every cell made
    safe), in parts of PIECES_PER_PART pieces."""
    cells = ([csv_safe(cell) for cell in row] for row in rows)
    parts: list[str] = []
    pieces: list[str] = []
    for piece in csv_pieces(header, itertools.batched(cells, spreadsheets.LINES_PER_PIECE)):
        pieces.append(piece)
        if len(pieces) == PIECES_PER_PART:
            parts.append("".join(pieces))
            pieces.clear()
    if pieces or not parts:
        parts.append("".join(pieces))
    return parts


def build(request: ReturnRequest) -> Built:
    """The returns a request asks for, built from the record now (the queries of
    ``returns.build_903`` and ``returns.list_8_rows``); writes nothing."""
    built = returns.build_903(request.area, returns.CollectionYear(request.year))
    list_8 = list(returns.list_8_rows(request.area, request.as_at, built.periods))
    files = []
    if not built.checks.blocking:
        files.append(
            (Kind.MISSING, _parts(returns.MISSING_HEADER, (row.cells() for row in built.missing)))
        )
        files.append(
            (Kind.HEADER, _parts(returns.HEADER_HEADER, (row.cells() for row in built.header)))
        )
    files.append((Kind.LIST_8, _parts(returns.LIST_8_HEADER, (row.cells() for row in list_8))))
    return Built(
        missing_rows=len(built.missing),
        header_rows=len(built.header),
        list_8_rows=len(list_8),
        failures=built.checks.failures,
        files=files,
    )


def failure_to_json(failure: returns.Failure) -> dict[str, Any]:
    return dataclasses.asdict(failure)


def failures_of(request: ReturnRequest) -> list[returns.Failure]:
    """The failing rows a built request stored, with their links to put them right."""
    return [returns.Failure(**item) for item in request.checks or []]


def return_finish(claimed: ReturnRequest, built: Built, *, seconds: float) -> bool:
    """Store what was built and mark the request ready, if the claim is still ours."""
    now = timezone.now()
    with transaction.atomic():
        if _ours(claimed).select_for_update().values_list("pk").first() is None:
            return False
        ReturnFilePart.objects.filter(request_id=claimed.pk).delete()
        ReturnFilePart.objects.bulk_create(
            (
                ReturnFilePart(request_id=claimed.pk, kind=kind, part=n, content=text)
                for kind, parts in built.files
                for n, text in enumerate(parts)
            ),
            batch_size=PARTS_PER_INSERT,
        )
        _ours(claimed).update(
            status=S.READY,
            finished_at=now,
            missing_rows=built.missing_rows,
            header_rows=built.header_rows,
            list_8_rows=built.list_8_rows,
            failure_count=len(built.failures),
            blocking_count=len(built.blocking),
            checks=[failure_to_json(failure) for failure in built.failures],
            build_seconds=round(seconds, 3),
            error="",
        )
    return True


def return_fail(claimed: ReturnRequest, *, error: BaseException) -> bool:
    """Mark the request failed with the reason, if the claim is still ours."""
    reason = f"{type(error).__name__}: {error}"[:ERROR_MAX_LENGTH]
    return bool(_ours(claimed).update(status=S.FAILED, finished_at=timezone.now(), error=reason))


def return_release(claimed: ReturnRequest) -> bool:
    """Give the claim back, to be built on a later pass."""
    return bool(_ours(claimed).update(status=S.QUEUED, claimed_at=None, claimed_by=""))


def build_claimed(claimed: ReturnRequest) -> str:
    """Build a claimed request and record the outcome: its new status."""
    started = time.monotonic()
    try:
        built = build(claimed)
        done = return_finish(claimed, built, seconds=time.monotonic() - started)
    except DatabaseError:
        # Most likely the connection (the database restarting): not the return's fault.
        # If even that cannot be written, the lease runs out and a later pass builds it.
        with contextlib.suppress(DatabaseError):
            return_release(claimed)
        raise
    except Exception as error:
        logger.exception("Return request %s could not be built", claimed.pk)
        return S.FAILED if return_fail(claimed, error=error) else "claim_lost"
    return S.READY if done else "claim_lost"


def remove_expired_files(now: dt.datetime | None = None) -> int:
    """Remove the files and checks of returns built longer ago than
    RETURN_FILES_KEPT_FOR (they name children); the requests themselves are kept."""
    now = now or timezone.now()
    expired = list(
        ReturnRequest.objects.filter(
            status=S.READY,
            files_removed_at__isnull=True,
            finished_at__lt=now - policy.RETURN_FILES_KEPT_FOR,
        ).values_list("pk", flat=True)[:100]
    )
    if not expired:
        return 0
    with transaction.atomic():
        ReturnFilePart.objects.filter(request_id__in=expired).delete()
        ReturnRequest.objects.filter(pk__in=expired).update(files_removed_at=now, checks=[])
    return len(expired)


def forget_erased_records(now: dt.datetime | None = None) -> int:
    """Records past retention have been erased: remove every stored file and list of
    failing rows (any may name an erased child) and build again, from the records that
    remain, any return being built now (its builder's claim is taken back, so what it
    read before the erasure is never stored). In the erasure's transaction; returns how
    many requests lost their files."""
    now = now or timezone.now()
    ready = ReturnRequest.objects.filter(status=S.READY, files_removed_at__isnull=True)
    ReturnFilePart.objects.filter(request__in=ready).delete()
    removed = ready.update(files_removed_at=now, checks=[])
    ReturnRequest.objects.filter(status=S.BUILDING).update(
        status=S.QUEUED, claimed_at=None, claimed_by="", started_at=None
    )
    return removed


def build_queued_returns(
    *, worker: str = "", budget: dt.timedelta | None = None, now: dt.datetime | None = None
) -> int:
    """The scheduler's step: build the requests waiting, oldest first, starting none
    after ``budget`` (RETURN_BUILD_BUDGET) has passed; returns how many were built."""
    worker = worker or process_name()
    limit = (budget if budget is not None else policy.RETURN_BUILD_BUDGET).total_seconds()
    remove_expired_files(now)
    started = time.monotonic()
    done = 0
    while True:
        claimed = claim_next(worker=worker, now=now)
        if claimed is None:
            return done
        build_claimed(claimed)
        done += 1
        if time.monotonic() - started >= limit:
            return done


# Downloading -------------------------------------------------------------------------------


def file_name(request: ReturnRequest, kind: str) -> str:
    if kind == Kind.LIST_8:
        return f"annex-a-list-8-{request.area.code}-{request.as_at:%Y-%m-%d}.csv"
    return f"ssda903-{kind}-{request.area.code}-{request.year}.csv"


def file_rows(request: ReturnRequest, kind: str) -> int | None:
    return {
        Kind.MISSING: request.missing_rows,
        Kind.HEADER: request.header_rows,
        Kind.LIST_8: request.list_8_rows,
    }.get(kind)


def file_pieces(request: ReturnRequest, kind: str) -> Iterator[str]:
    """The stored file, a part at a time (one query, read as it is sent)."""
    return (
        ReturnFilePart.objects.filter(request_id=request.pk, kind=kind)
        .order_by("part")
        .values_list("content", flat=True)
        .iterator(chunk_size=4)
    )


def has_file(request: ReturnRequest, kind: str) -> bool:
    """Whether the request was built with this file (Missing and Header files are not
    made while a child has no identifier) and it is still kept."""
    if request.status != S.READY or request.files_removed_at is not None:
        return False
    return kind == Kind.LIST_8 or not request.blocking_count
