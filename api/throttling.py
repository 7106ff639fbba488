"""Rate limits: API_RATE_LIMIT per registered system, API_ANONYMOUS_RATE_LIMIT per
address for calls with no valid token (see the settings; read at each call).

The counts are kept in the database, not in Django's cache: the default cache is per
process, so with several gunicorn workers each would count on its own, and no shared
cache (Redis, memcached) is part of the deployment. Each system has one row
(``RateLimitCounter``): a fixed window (a second, minute, hour or day from the epoch),
counted with a single ``UPDATE ... RETURNING`` that starts the count again when a new
window has begun. On PostgreSQL the row lock makes concurrent calls from different
workers count one after the other (each re-reads the row it waited for), so the limit is
exact across processes; SQLite has one writer at a time. A refused call counts too, so
a system that keeps calling while refused stays refused until the window ends.
"""

from __future__ import annotations

import abc
import math
import time
from typing import Any

from django.conf import settings
from django.db import connection
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from missingkids.audit.log import client_ip

from .models import ApiClient, RateLimitCounter

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'120/minute' -> (120, 60). The settings check the form at start-up."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period]


def count_call(key: str, window: int) -> int:
    """Count one call for ``key`` in ``window``; the count in the window so far."""
    table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
    sql = (
        f"UPDATE {table} SET "  # noqa: S608 (the table's name, not input)
        '"calls" = CASE WHEN "window_number" = %s THEN "calls" + 1 ELSE 1 END, '
        '"window_number" = %s WHERE "key" = %s RETURNING "calls"'
    )
    for _ in range(2):
        with connection.cursor() as cursor:
            cursor.execute(sql, [window, window, key])
            row = cursor.fetchone()
        if row is not None:
            return int(row[0])
        # This key's first call: add its row (another process may add it first).
        RateLimitCounter.objects.bulk_create(
            [RateLimitCounter(key=key, window_number=window, calls=0)], ignore_conflicts=True
        )
    raise RuntimeError(f"No rate limit row for {key}")


class DatabaseRateThrottle(BaseThrottle, abc.ABC):
    """A fixed-window limit counted in the database; each kind says whose calls count
    together (``get_ident``: None to let the call through uncounted)."""

    scope = ""
    setting = ""

    @abc.abstractmethod
    def get_ident(self, request: Request) -> str | None:  # type: ignore[override]
        """The key this call is counted under."""

    def allow_request(self, request: Request, view: Any) -> bool:
        ident = self.get_ident(request)
        if ident is None:
            return True
        limit, self.duration = parse_rate(getattr(settings, self.setting))
        now = time.time()
        window = int(now // self.duration)
        self.window_ends = (window + 1) * self.duration
        self.now = now
        return count_call(f"{self.scope}:{ident}", window) <= limit

    def wait(self) -> float | None:
        """Seconds until the window ends (Retry-After), at least 1."""
        return max(1, math.ceil(self.window_ends - self.now))


class ApiClientRateThrottle(DatabaseRateThrottle):
    scope = "api_client"
    setting = "API_RATE_LIMIT"

    def get_ident(self, request: Request) -> str | None:  # type: ignore[override]
        if not isinstance(request.auth, ApiClient):
            return None
        return str(request.auth.pk)


class AnonymousRateThrottle(DatabaseRateThrottle):
    scope = "api_anonymous"
    setting = "API_ANONYMOUS_RATE_LIMIT"

    def get_ident(self, request: Request) -> str | None:  # type: ignore[override]
        if isinstance(getattr(request, "_auth", None), ApiClient):
            return None
        return client_ip(request._request)[:150]
