"""``/healthz``: whether the service can do its work, for load balancers and monitors.

Open without signing in, over plain HTTP, and kept out of the access log: it shows no
personal data, only whether each check passed, ages in seconds and counts.

- ``/healthz`` (for a load balancer deciding whether to send this web server
  requests): the database answers, and every migration is applied (checked at most
  every HEALTH_MIGRATIONS_CHECK_EVERY; the answer is kept in between).
- ``/healthz?full=1`` (for a monitor that alerts people): those, and the background
  processes: the latest e-mail worker and scheduler heartbeats are younger than
  HEALTH_HEARTBEAT_MAX_AGE, and no e-mail ready to send has waited longer than
  HEALTH_EMAIL_MAX_WAIT; with the queue's depth and its oldest e-mail's wait.

200 when every check asked for passes, else 503; the JSON names the failing checks.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Max, Min
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from notifications.models import Notification, ProcessHeartbeat
from notifications.sending import ready_to_send

_migrations_lock = threading.Lock()
# (time.monotonic() of the check, its result), or None before the first check.
_migrations_checked: tuple[float, dict[str, Any]] | None = None


def database_check() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return {"ok": False}
    return {"ok": True}


def migrations_check() -> dict[str, Any]:
    """Whether any migration is not applied: worked out at most every
    HEALTH_MIGRATIONS_CHECK_EVERY (reading the migration files takes a moment)."""
    global _migrations_checked
    every = settings.HEALTH_MIGRATIONS_CHECK_EVERY.total_seconds()
    with _migrations_lock:
        now = time.monotonic()
        if _migrations_checked is not None and now - _migrations_checked[0] < every:
            return _migrations_checked[1]
        executor = MigrationExecutor(connection)
        unapplied = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
        result = {"ok": unapplied == 0, "unapplied": unapplied}
        _migrations_checked = (now, result)
        return result


def forget_migrations_check() -> None:
    """Check the migrations afresh at the next request (after migrate, and in tests)."""
    global _migrations_checked
    with _migrations_lock:
        _migrations_checked = None


def _seconds(delta: Any) -> int:
    return max(int(delta.total_seconds()), 0)


def heartbeat_checks(now: Any) -> dict[str, dict[str, Any]]:
    """The latest heartbeat of each kind of process (one query)."""
    latest = dict(
        ProcessHeartbeat.objects.values("kind")
        .annotate(latest=Max("last_beat_at"))
        .values_list("kind", "latest")
    )
    checks = {}
    for kind in ProcessHeartbeat.Kind:
        beat = latest.get(kind.value)
        if beat is None:
            checks[kind.value] = {"ok": False, "last_beat_seconds_ago": None}
            continue
        age = now - beat
        checks[kind.value] = {
            "ok": age <= settings.HEALTH_HEARTBEAT_MAX_AGE,
            "last_beat_seconds_ago": _seconds(age),
        }
    return checks


def email_queue_check(now: Any) -> dict[str, Any]:
    """E-mails ready to send now, and how long the oldest has waited (one query)."""
    queue = Notification.objects.filter(ready_to_send(now)).aggregate(
        depth=Count("pk"), oldest=Min("next_attempt_at")
    )
    oldest = queue["oldest"]
    waited = _seconds(now - oldest) if oldest is not None else 0
    return {
        "ok": oldest is None or now - oldest <= settings.HEALTH_EMAIL_MAX_WAIT,
        "depth": queue["depth"],
        "oldest_waiting_seconds": waited,
    }


@login_not_required
@require_http_methods(["GET", "HEAD"])
def healthz(request: HttpRequest) -> JsonResponse:
    full = request.GET.get("full") == "1"
    checks: dict[str, dict[str, Any]] = {"database": database_check()}
    if checks["database"]["ok"]:
        try:
            checks["migrations"] = migrations_check()
            if full:
                now = timezone.now()
                checks.update(heartbeat_checks(now))
                checks["email_queue"] = email_queue_check(now)
        except DatabaseError:
            # The database went away between checks.
            checks["database"] = {"ok": False}
    failing = sorted(name for name, check in checks.items() if not check["ok"])
    body = {"status": "failing" if failing else "ok", "failing": failing, "checks": checks}
    return JsonResponse(body, status=503 if failing else 200)
