"""Writing to the access log. Every entry is written through ``log_access``.

What is logged, and where:

- sign-ins, failed sign-ins (passwords and security codes) and sign-outs: the signal
  receivers (``receivers``) and the second-step views;
- the child's page, the episode page and the return interview page, by their views
  (``log_record_view``), with the child's and episode's ids;
- searches, by the search view (``log_search``): that one was made and how many
  children it found, never what was typed;
- exports, by the views that export (``log_export``); a download sent as it is read
  logs that it started before the first byte, and how many rows went when it stops
  (``log_rows_sent``);
- every other page of the case URLs that answers 200 (a form about a child, a meeting
  or note page, a list, a manager's page) and every refusal there (403, 404), by
  ``AccessLogMiddleware``, so a new page is logged without anyone remembering to.

The access helpers (``incidents.access``) have no request, and are also used by every
save, so they do not log. A page whose URL names an episode or a notification rather
than the child is logged with the child's id too, found through a lookup the owning app
registers (``register_record_lookup``), so that searching the log for a child finds
every page about them.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip

from .models import AccessLogEntry

Action = AccessLogEntry.Action
# Set on a request once it has a log entry: the middleware then adds none of its own.
LOGGED_ATTRIBUTE = "access_logged"
# The largest id a log entry can hold (a PostgreSQL bigint); a URL may name any number.
MAX_RECORD_ID = 2**63 - 1
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Queries a logged page view adds (one INSERT), for tests that pin query counts.
ACCESS_LOG_QUERIES = 1


# More hops than any real chain of proxies: an X-Forwarded-For longer than this is walked
# no further (its far end is whatever the client chose to send anyway).
MAX_PROXY_HOPS = 10


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def is_trusted_proxy(address: str | None) -> bool:
    """Whether ``address`` is one of the reverse proxies named in ``TRUSTED_PROXIES``."""
    if not address:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request: HttpRequest | None) -> str | None:
    """The address the request came from, believing forwarded headers only from our proxies.

    A request whose connection (REMOTE_ADDR) is not from an address in ``TRUSTED_PROXIES``
    is taken at its word for nothing: its X-Forwarded-For, whatever it says, is ignored.
    From a trusted proxy, the client is the address that proxy added to the end of
    X-Forwarded-For; if that is itself one of our proxies (a load balancer in front of
    nginx), the one before it, and so on. Entries further left are whatever the client
    chose to send. django-ipware reads the headers (ports, brackets, IPv6, malformed
    entries); this decides which of them to believe.
    """
    if request is None:
        return None
    remote, _ = get_client_ip(request, request_header_order=("REMOTE_ADDR",))
    if remote is None or not is_trusted_proxy(remote):
        return remote
    client = remote
    for hops in range(MAX_PROXY_HOPS):
        # proxy_count=hops (not strict): the entry ``hops`` places from the right end.
        candidate, _ = get_client_ip(
            request,
            proxy_count=hops,
            request_header_order=("HTTP_X_FORWARDED_FOR",),
            strict=False,
        )
        if candidate is None:
            break
        client = candidate
        if not is_trusted_proxy(candidate):
            break
    return client


def _record_id(value: Any) -> int | None:
    return value if isinstance(value, int) and 0 <= value <= MAX_RECORD_ID else None


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a URL or a typed address may contain one.
    return value.replace("\x00", "\ufffd")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def log_access(
    request: HttpRequest | None,
    action: str,
    *,
    user: Any = None,
    username: str = "",
    child_id: int | None = None,
    episode_id: int | None = None,
    status_code: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AccessLogEntry:
    if user is None and request is not None:
        user = getattr(request, "user", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if user is not None and not username:
        username = user.email
    if request is not None:
        setattr(request, LOGGED_ATTRIBUTE, True)
    return AccessLogEntry.objects.create(
        user=user,
        username=_text(username)[:254],
        action=action,
        child_id=_record_id(child_id),
        episode_id=_record_id(episode_id),
        path=_text(request.path if request is not None else "")[:500],
        status_code=status_code,
        ip_address=client_ip(request),
        detail=_clean(detail or {}),
    )


def log_not_needed(request: HttpRequest) -> None:
    """Say that this page shows no one's record (an empty search box, a blank form for a
    new child), so the middleware writes no entry for it."""
    setattr(request, LOGGED_ATTRIBUTE, True)


# Record lookups: (child id, episode id) of the record a URL names, by kind of record.
RecordLookup = Callable[[int], tuple[int | None, int | None]]
_lookups: dict[str, RecordLookup] = {}


def register_record_lookup(kind: str, lookup: RecordLookup) -> None:
    """Tell the log how to find the child (and episode) of a record named in a URL.

    ``kind`` is "episode" or "notification"; ``lookup(pk)`` returns (child id, episode
    id), or (None, None) for no such record. Registered by the app owning the record.
    """
    _lookups[kind] = lookup


def record_lookup(kind: str, pk: int) -> tuple[int | None, int | None]:
    lookup = _lookups.get(kind)
    if lookup is None or _record_id(pk) is None:
        return None, None
    return lookup(pk)


def log_record_view(
    request: HttpRequest, *, child_id: int, episode_id: int | None = None
) -> AccessLogEntry:
    """One row for each time someone opens a child's record or one of its episodes."""
    action = Action.VIEW_EPISODE if episode_id is not None else Action.VIEW_CHILD
    return log_access(request, action, child_id=child_id, episode_id=episode_id)


def log_export(request: HttpRequest, *, what: str, **detail: Any) -> AccessLogEntry:
    """An export, with what it contained (its filters and row count, not the rows)."""
    child_id = detail.pop("child_id", None)
    return log_access(request, Action.EXPORT, child_id=child_id, detail={"what": what, **detail})


def log_rows_sent(
    request: HttpRequest, started: AccessLogEntry, batches: Iterable[Sized]
) -> Iterator[Any]:
    """Pass a streamed download's batches of rows through, and when the stream stops
    log how many rows were sent, under the export's "Exported" entry (``started``,
    written before the first byte without a count: counting a long list first held the
    first byte back by seconds). The entry is written however the stream stops: every
    row sent (``complete``), the client gone half way (the server closes the response,
    which closes this), before any row, or an error. A batch counts as sent once it is
    handed on to be written and sent: of a download cut short, the rows that may have
    left."""
    return _RowsSent(request, started, iter(batches))


class _RowsSent:
    """The iterator ``log_rows_sent`` returns: an object with ``close`` rather than a
    generator, so that a stream closed before its first batch is logged too."""

    def __init__(self, request: HttpRequest, started: AccessLogEntry, batches: Iterator) -> None:
        self.request, self.started, self.batches = request, started, batches
        self.sent = 0
        self.logged = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            batch = next(self.batches)
        except StopIteration:
            self._log(complete=True)
            raise
        except BaseException:
            self._log(complete=False)
            raise
        self.sent += len(batch)
        return batch

    def close(self) -> None:
        try:
            close = getattr(self.batches, "close", None)
            if close is not None:
                close()
        finally:
            self._log(complete=False)

    def _log(self, *, complete: bool) -> None:
        if self.logged:
            return
        self.logged = True
        log_access(
            self.request,
            Action.EXPORT_SENT,
            child_id=self.started.child_id,
            detail={
                "what": self.started.detail.get("what"),
                "export": self.started.pk,
                "rows": self.sent,
                "complete": complete,
            },
        )


def log_search(request: HttpRequest, *, results: int, page: int) -> AccessLogEntry:
    """That a search for a child was made and how many it found: never the words typed."""
    return log_access(request, Action.SEARCH, detail={"results": results, "page": page})
