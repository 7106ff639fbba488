"""/healthz: open without signing in, no personal data, 200 when healthy and 503 naming
the failing check otherwise."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone

from missingkids import health
from missingkids.audit.models import AccessLogEntry
from notifications.models import ProcessHeartbeat
from notifications.processes import Heartbeat
from tests.notifications.factories_delivery import DeliveryNotificationFactory
from tests.test_settings import run

pytestmark = pytest.mark.django_db

URL = "/healthz"


@pytest.fixture(autouse=True)
def _fresh_migrations_check():
    health.forget_migrations_check()
    yield
    health.forget_migrations_check()


def beat(kind: str, at: dt.datetime) -> None:
    ProcessHeartbeat.objects.create(
        kind=kind, name=f"{kind}-host:1", started_at=at, last_beat_at=at, last_counts={}
    )


def test_plain_check_is_database_and_migrations(client):
    assert reverse("healthz") == URL
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "failing": [],
        "checks": {"database": {"ok": True}, "migrations": {"ok": True, "unapplied": 0}},
    }
    # Not a case page: nothing in the access log, and no sign-in asked for.
    assert not AccessLogEntry.objects.exists()


def test_full_check_healthy(client):
    now = timezone.now()
    beat("worker", now - dt.timedelta(seconds=20))
    beat("scheduler", now - dt.timedelta(seconds=50))
    DeliveryNotificationFactory(next_attempt_at=now + dt.timedelta(minutes=5))
    body = client.get(URL, {"full": "1"}).json()
    assert body["status"] == "ok"
    assert body["checks"]["worker"]["ok"] is True
    assert body["checks"]["scheduler"]["last_beat_seconds_ago"] >= 50
    assert body["checks"]["email_queue"] == {"ok": True, "depth": 0, "oldest_waiting_seconds": 0}


def test_full_check_fails_on_a_silent_worker_and_a_stuck_queue(client, settings):
    now = timezone.now()
    beat("worker", now - settings.HEALTH_HEARTBEAT_MAX_AGE - dt.timedelta(seconds=1))
    beat("scheduler", now)
    DeliveryNotificationFactory(
        recipient_name="Amelia's social worker",
        next_attempt_at=now - settings.HEALTH_EMAIL_MAX_WAIT - dt.timedelta(minutes=1),
    )
    DeliveryNotificationFactory(next_attempt_at=now)
    response = client.get(URL, {"full": "1"})
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["email_queue", "worker"]
    assert body["checks"]["email_queue"]["depth"] == 2
    assert body["checks"]["email_queue"]["oldest_waiting_seconds"] > 900
    assert "Amelia" not in response.content.decode()
    # The load balancer's check is not affected by the background processes.
    assert client.get(URL).status_code == 200


def test_full_check_fails_with_no_heartbeat_at_all(client):
    body = client.get(URL, {"full": "1"}).json()
    assert body["failing"] == ["scheduler", "worker"]
    assert body["checks"]["worker"] == {"ok": False, "last_beat_seconds_ago": None}


def test_database_unreachable_is_503(client, monkeypatch):
    class Broken:
        def __enter__(self):
            raise DatabaseError("connection refused")

        def __exit__(self, *args):
            return False

    monkeypatch.setattr(health.connection, "cursor", lambda: Broken())
    response = client.get(URL, {"full": "1"})
    assert response.status_code == 503
    assert response.json() == {
        "status": "failing",
        "failing": ["database"],
        "checks": {"database": {"ok": False}},
    }


def test_unapplied_migrations_are_503_and_the_answer_is_kept(client, monkeypatch):
    calls = []

    class Executor:
        def __init__(self, connection):
            calls.append(1)
            self.loader = type("L", (), {"graph": type("G", (), {"leaf_nodes": lambda s: []})()})()

        def migration_plan(self, targets):
            return [("notifications", "9999_new")]

    monkeypatch.setattr(health, "MigrationExecutor", Executor)
    assert client.get(URL).status_code == 503
    assert client.get(URL).json()["checks"]["migrations"] == {"ok": False, "unapplied": 1}
    assert len(calls) == 1


@pytest.mark.parametrize("query", ["?full=yes", "?full=", "?full=1&full=2", "?x=%00"])
def test_odd_queries_are_the_plain_check(client, query):
    assert client.get(URL + query).status_code == 200


def test_post_is_refused(client):
    assert client.post(URL).status_code == 405


def test_heartbeat_is_throttled_and_kept_per_process(settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        heartbeat = Heartbeat("worker", "host:42")
        assert heartbeat.beat({"delivered": 1})
        assert not heartbeat.beat({"delivered": 2})
    with time_machine.travel(start + settings.HEARTBEAT_EVERY, tick=False):
        assert heartbeat.beat({"delivered": 3})
    row = ProcessHeartbeat.objects.get()
    assert (row.started_at, row.last_beat_at, row.last_counts) == (
        start,
        start + settings.HEARTBEAT_EVERY,
        {"delivered": 3},
    )


def test_heartbeats_of_long_gone_processes_are_removed(settings):
    old = timezone.now() - dt.timedelta(days=8)
    beat("worker", old)
    Heartbeat("worker", "host:43").beat({})
    assert list(ProcessHeartbeat.objects.values_list("name", flat=True)) == ["host:43"]


PRINT_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "from django.test import Client; "
    "r = Client().get('/healthz', HTTP_HOST='missingkids.example.org'); "
    "print(json.dumps([s.SECURE_REDIRECT_EXEMPT, r.status_code, r.get('Location', ''), "
    "s.EMAIL_RETRY_WINDOW.total_seconds(), s.EMAIL_MESSAGE_ID_DOMAIN]))"
)


def test_production_answers_over_plain_http_without_redirecting(tmp_path):
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "x" * 64,
        "ALLOWED_HOSTS": "missingkids.example.org",
        "EMAIL_URL": "smtp+tls://user:pass@smtp.example.org:587",
        "DEFAULT_FROM_EMAIL": "missingkids@example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SITE_URL": "https://missingkids.example.org",
        "EMAIL_RETRY_WINDOW_HOURS": "24",
    }
    result = run(env, "-c", PRINT_SETTINGS)
    assert result.returncode == 0, result.stderr
    exempt, status, location, window, domain = json.loads(result.stdout.splitlines()[-1])
    assert exempt == [r"^healthz$"]
    # Not redirected to HTTPS; 503 because this empty database has no tables.
    assert (status, location) == (503, "")
    assert (window, domain) == (24 * 3600, "missingkids.example.org")


def test_a_retry_window_of_nothing_is_refused(tmp_path):
    result = run({"DEBUG": "true", "EMAIL_RETRY_WINDOW_HOURS": "0"}, "-c", PRINT_SETTINGS)
    assert result.returncode != 0
    assert "EMAIL_RETRY_WINDOW_HOURS" in result.stderr
