"""Writing to the access log. Every entry is written through ``log_access``.

Record views are logged by the views that show a record (the child's page, the episode
page and the return interview page) with ``log_record_view``, rather than inside
``incidents.access.get_child_for_user``: the access helpers are also used by every
form page and POST handler and have no request, so logging there would either need the
request threaded through every call or record each save as a "view". Refused requests
on case URLs are logged by ``AccessLogMiddleware``; sign-ins by the signal receivers.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from .models import AccessLogEntry

Action = AccessLogEntry.Action
# Queries a logged page view adds (one INSERT), for tests that pin query counts.
ACCESS_LOG_QUERIES = 1


def client_ip(request: HttpRequest | None) -> str | None:
    """The address the request came from.

    Behind the reverse proxy (which says so through SECURE_PROXY_SSL_HEADER) the proxy's
    own address is REMOTE_ADDR and the client is the last X-Forwarded-For entry, the
    one the proxy added; earlier entries are whatever the client chose to send.
    """
    if request is None:
        return None
    value = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        value = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


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
