"""Writing to the access log. Every entry is written through ``log_access``.

Record views are logged by the views that show a record (the child's page, the episode
page and the return interview page) with ``log_record_view``, rather than inside
``incidents.access.get_child_for_user``: the access helpers are also used by every
form page and POST handler and have no request, so logging there would either need the
request threaded through every call or record each save as a "view". Refused requests
on case URLs are logged by ``AccessLogMiddleware``; sign-ins by the signal receivers.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip

from .models import AccessLogEntry

Action = AccessLogEntry.Action
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
    return AccessLogEntry.objects.create(
        user=user,
        username=username[:254],
        action=action,
        child_id=child_id,
        episode_id=episode_id,
        path=(request.path if request is not None else "")[:500],
        status_code=status_code,
        ip_address=client_ip(request),
        detail=detail or {},
    )


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
