"""The worker and the scheduler under faults: the database dropping their connection
mid-batch, a worker killed between sending and recording, a mail server away for most
of a day, a permanent refusal, and a stop asked for mid-send.

Faults are triggered from inside the work (a patched send or step), never by waiting:
the session is terminated from a second connection, the killed worker kills itself from
the sink's handler, the stopped worker says on a pipe when its first send has begun.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import select
import signal
import subprocess
import sys
from collections import Counter
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from incidents.models import CaseEvent
from missingkids.audit.models import AccessLogEntry
from notifications import engine, sending
from notifications.management.commands import notifications_scheduler
from notifications.models import (
    DeliveryAttempt,
    EmailRequeue,
    Notification,
    ProcessedEvent,
    ProcessHeartbeat,
)
from notifications.processes import PassStep
from notifications.sending import claim_lease, claim_next, send_due_notifications
from tests.factories.incidents import ChildFactory, EpisodeFactory

from . import fault_mail
from .engine_world import (
    UTC,
    child_fixture,  # noqa: F401
    contacts_fixture,  # noqa: F401
    make_episode,
    make_event,
)
from .factories_delivery import DeliveryNotificationFactory

D = Notification.Delivery
S = Notification.Status
REPO = Path(__file__).resolve().parents[2]
# Guards against a hung child process only; nothing is timed.
GUARD_SECONDS = 120


@pytest.fixture
def refusing_mail(settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.notifications.fault_mail.RefusingBackend"}}
    fault_mail.RefusingBackend.error = None
    fault_mail.RefusingBackend.taken = []
    yield fault_mail.RefusingBackend
    fault_mail.RefusingBackend.error = None


@pytest.fixture
def no_waiting(settings):
    """The processes' waits after an error, cut to nothing: the tests do not wait."""
    settings.PROCESS_BACKOFF_MAX = dt.timedelta(0)


def terminate_own_session() -> None:
    """Terminate this thread's database session from a second connection, and wait (in
    PostgreSQL) until it has gone, as a database restart or an idle timeout would."""
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    conninfo = {
        key: params[key] for key in ("host", "port", "user", "password", "dbname") if key in params
    }
    with psycopg.connect(**conninfo, autocommit=True) as other:
        (gone,) = other.execute("SELECT pg_terminate_backend(%s, 10000)", [pid]).fetchone()
    assert gone


def message_ids(taken: list[tuple[str, str]]) -> Counter[str]:
    return Counter(message_id for message_id, _to in taken)


# The database dropping the connection ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_carries_on_when_its_session_is_terminated(
    refusing_mail, no_waiting, monkeypatch, settings
):
    # One message a claim, so that the faults fall between claims and between messages.
    settings.EMAIL_SEND_BATCH = 1
    rows = DeliveryNotificationFactory.create_batch(6, episode=EpisodeFactory())
    sends = Counter()
    claims = Counter()
    original_send, original_claim = sending._send, sending._claim

    def send(notification, **kwargs):
        sends["n"] += 1
        if not Notification.objects.filter(delivery=D.QUEUED).exists():
            # The last message: ask the worker to stop, as systemd would.
            os.kill(os.getpid(), signal.SIGTERM)
        original_send(notification, **kwargs)
        if sends["n"] in (2, 4):
            # Sent, and the session dies before the outcome is recorded.
            terminate_own_session()

    def claim(**kwargs):
        claims["n"] += 1
        if claims["n"] == 4:
            # The session dies while the worker is between messages.
            terminate_own_session()
        if claims["n"] == 5:
            # The database restarting: no connection at all for a moment.
            raise OperationalError("the database system is starting up")
        return original_claim(**kwargs)

    monkeypatch.setattr(sending, "_send", send)
    monkeypatch.setattr(sending, "_claim", claim)
    call_command("send_notifications", "--interval", "0", "--worker-name", "w1")

    # Every message went once, and every outcome was recorded: no lease ran out.
    assert message_ids(refusing_mail.taken) == Counter({m: 1 for m, _to in refusing_mail.taken})
    assert sorted(to for _m, to in refusing_mail.taken) == sorted(r.recipient_email for r in rows)
    assert Notification.objects.filter(delivery=D.DELIVERED, status=S.SENT).count() == 6
    assert DeliveryAttempt.objects.filter(succeeded=True).count() == 6
    beat = ProcessHeartbeat.objects.get(kind="worker", name="w1")
    assert beat.last_counts["delivered"] == 6
    assert beat.last_counts["database_errors"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_scheduler_carries_on_when_its_session_is_terminated(
    child, officer, no_waiting, monkeypatch
):
    seen = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    episodes = [
        make_episode(
            child,
            officer,
            last_seen=seen - dt.timedelta(days=30 * n),
            # One episode open at a time.
            found_at=None if n == 0 else seen - dt.timedelta(days=30 * n, hours=-30),
        )
        for n in range(3)
    ]
    events = [
        make_event(episode, officer, CaseEvent.Kind.REPORTED, episode.reported_at)
        for episode in episodes
    ]
    # Outside a test transaction they were worked out as they were saved: as if that
    # had failed, the scheduler must catch up.
    ProcessedEvent.objects.all().delete()
    passes = Counter()
    processed = Counter()
    original_process_event = engine.process_event

    def process_event(event_id):
        processed["n"] += 1
        if processed["n"] == 2:
            # Mid-batch, inside the event's transaction.
            terminate_own_session()
        return original_process_event(event_id)

    def events_step():
        passes["n"] += 1
        if passes["n"] == 2:
            # Between steps: the next pass's first query meets a dead session.
            terminate_own_session()
        return engine.process_pending_events()

    timed = Counter()

    def timed_step():
        timed["n"] += 1
        if timed["n"] == 1:
            # The database restarting: no connection at all for a moment.
            raise OperationalError("the database system is starting up")
        return engine.fire_timed_steps()

    def last_step():
        if not engine.CaseEvent.objects.exclude(
            pk__in=ProcessedEvent.objects.values("event_id")
        ).filter(is_protocol=True):
            os.kill(os.getpid(), signal.SIGTERM)
        return 0

    monkeypatch.setattr(engine, "process_event", process_event)
    monkeypatch.setattr(
        notifications_scheduler,
        "PASS_STEPS",
        [
            PassStep("events", events_step),
            PassStep("timed_steps", timed_step),
            *(
                step
                for step in notifications_scheduler.PASS_STEPS
                if step.name not in ("events", "timed_steps")
            ),
            PassStep("stop", last_step),
        ],
    )
    call_command("notifications_scheduler", "--interval", "0", stdout=StringIO())

    assert ProcessedEvent.objects.filter(event__in=events).count() == 3
    # The first pass lost one event and its timed steps; the second caught up, its
    # dead session found before the first query and replaced.
    assert passes["n"] == timed["n"] == 2
    assert processed["n"] == 4
    beat = ProcessHeartbeat.objects.get(kind="scheduler")
    assert beat.last_counts["failed_steps"] == 0


# A worker killed between sending and recording -------------------------------------------


def _worker_process(mode: str, sink: Path, *args: str, pass_fds=(), **env: str):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.notifications.fault_settings",
        "FAULT_DATABASE_NAME": connection.settings_dict["NAME"],
        "FAULT_MODE": mode,
        "FAULT_SINK": str(sink),
        "DEBUG": "true",
        **env,
    }
    environment.pop("ENV_FILE", None)
    return subprocess.Popen(
        [sys.executable, "manage.py", "send_notifications", *args],
        cwd=REPO,
        env=environment,
        pass_fds=pass_fds,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _sink(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()]  # type: ignore[misc]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_killed_between_sending_and_recording_is_sent_once_more_with_the_same_id(tmp_path):
    notification = DeliveryNotificationFactory(episode=EpisodeFactory())
    sink = tmp_path / "sink.txt"

    worker = _worker_process("kill", sink, "--once", "--worker-name", "doomed")
    worker.communicate(timeout=GUARD_SECONDS)
    assert worker.returncode == -signal.SIGKILL

    (first,) = _sink(sink)
    notification.refresh_from_db()
    # Claimed (committed before the send), never recorded.
    assert (notification.delivery, notification.claimed_by) == (D.SENDING, "doomed")
    claimed_at = notification.claimed_at
    # Not again while the lease lasts ...
    assert claim_next(worker="w2", now=claimed_at + claim_lease() - dt.timedelta(seconds=1)) is None
    # ... then once, with the same Message-ID.
    after = claimed_at + claim_lease() + dt.timedelta(seconds=1)
    assert send_due_notifications(worker="w2", now=after) == 1
    assert send_due_notifications(worker="w2", now=after + dt.timedelta(days=3)) == 0
    (again,) = mail.outbox
    assert again.message()["Message-ID"] == first[0]
    assert first[0] == f"<notification.{notification.pk}." + first[0].split(".", 2)[2]
    notification.refresh_from_db()
    assert notification.delivery == D.DELIVERED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sigterm_mid_send_finishes_that_message_only(tmp_path):
    DeliveryNotificationFactory.create_batch(3, episode=EpisodeFactory())
    sink = tmp_path / "sink.txt"
    started_r, started_w = os.pipe()
    go_r, go_w = os.pipe()
    worker = _worker_process(
        "slow",
        sink,
        "--interval",
        "0",
        "--worker-name",
        "stopping",
        pass_fds=(started_w, go_r),
        FAULT_STARTED_FD=str(started_w),
        FAULT_GO_FD=str(go_r),
    )
    os.close(started_w)
    os.close(go_r)
    try:
        ready, _, _ = select.select([started_r], [], [], GUARD_SECONDS)
        assert ready and os.read(started_r, 100) == b"sending\n"
        worker.send_signal(signal.SIGTERM)
        os.write(go_w, b"go\n")
        worker.communicate(timeout=GUARD_SECONDS)
    finally:
        os.close(started_r)
        os.close(go_w)
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    assert len(_sink(sink)) == 1
    deliveries = Counter(Notification.objects.values_list("delivery", flat=True))
    assert deliveries == {D.DELIVERED: 1, D.QUEUED: 2}
    assert not Notification.objects.filter(claimed_by="stopping").exists()
    assert DeliveryAttempt.objects.count() == 1


# The mail server away, and a permanent refusal --------------------------------------------


@pytest.mark.django_db
def test_a_mail_server_away_for_20_hours_loses_nothing(refusing_mail, settings):
    rows = DeliveryNotificationFactory.create_batch(4, episode=EpisodeFactory())
    start = timezone.now()
    refusing_mail.error = fault_mail.temporary_refusal
    now = start
    while now < start + dt.timedelta(hours=20):
        send_due_notifications(worker="w1", now=now)
        waiting = Notification.objects.filter(delivery=D.RETRYING)
        assert waiting.count() == 4
        now = min(waiting.values_list("next_attempt_at", flat=True))
    refusing_mail.error = None
    assert send_due_notifications(worker="w1", now=now) == 4

    assert Notification.objects.filter(delivery=D.DELIVERED, status=S.SENT).count() == 4
    for row in rows:
        times = sorted(
            DeliveryAttempt.objects.filter(notification=row).values_list("attempted_at", flat=True)
        )
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert max(gaps) <= settings.EMAIL_RETRY_MAX_INTERVAL
        assert times[-1] - times[0] >= dt.timedelta(hours=20)
    assert Counter(message_ids(refusing_mail.taken).values()) == {1: 4}


@pytest.fixture
def refused(db, la_west, area_west, refusing_mail):
    """A notification the council must make, whose address the mail server refuses."""
    child = ChildFactory(first_name="Amelia", last_name="Jones", responsible_area=area_west)
    notification = DeliveryNotificationFactory(
        episode=EpisodeFactory(child=child),
        recipient_agency=la_west,
        responsible_agency=la_west,
        recipient_email="duty@cwac.example.org",
        recipient_name=la_west.name,
        due_at=timezone.now() + dt.timedelta(hours=24),
    )
    refusing_mail.error = fault_mail.permanent_refusal
    send_due_notifications(worker="w1")
    notification.refresh_from_db()
    return notification


def test_a_permanent_refusal_fails_at_once_with_the_reason(refused):
    assert refused.delivery == D.FAILED
    assert refused.attempt_count == 1
    assert refused.next_attempt_at is None
    assert refused.status == S.DUE
    assert refused.last_error == "SMTPRecipientsRefused: 550 5.1.1 <[address]>: no such user"
    assert claim_next(worker="w1", now=timezone.now() + dt.timedelta(days=3)) is None


def test_a_rejected_message_fails_at_once(db, refusing_mail):
    import smtplib

    notification = DeliveryNotificationFactory(episode=EpisodeFactory())
    refusing_mail.error = lambda: smtplib.SMTPDataError(554, b"5.7.1 message refused")
    send_due_notifications(worker="w1")
    notification.refresh_from_db()
    assert (notification.delivery, notification.attempt_count) == (D.FAILED, 1)
    assert notification.last_error == "SMTPDataError: 554 5.7.1 message refused"


def test_our_own_sign_in_refused_is_retried(db, refusing_mail):
    import smtplib

    notification = DeliveryNotificationFactory(episode=EpisodeFactory())
    refusing_mail.error = lambda: smtplib.SMTPAuthenticationError(535, b"bad credentials")
    send_due_notifications(worker="w1")
    notification.refresh_from_db()
    assert notification.delivery == D.RETRYING


def test_a_refused_email_shows_at_once_to_managers(refused, client, manager):
    client.force_login(manager)
    dashboard = client.get(reverse("oversight:dashboard"))
    assert 'data-testid="count-emails_failing">1<' in dashboard.content.decode()
    listing = client.get(reverse("oversight:emails_failing")).content.decode()
    assert "Amelia Jones" in listing
    assert escape("550 5.1.1 <[address]>: no such user") in listing

    page = client.get(reverse("incidents:episode_detail", args=[refused.episode_id]))
    content = page.content.decode()
    # Before its deadline: shown as failed, with why, not as "Due".
    assert ">E-mail failed</strong>" in content
    assert escape("550 5.1.1 <[address]>: no such user") in content
    assert reverse("notifications:requeue", args=[refused.pk]) in content


def test_requeue_reads_the_current_address_and_keeps_who_did_it(
    refused, client, manager, la_west, refusing_mail
):
    la_west.email = "children@cwac.example.org"
    la_west.save()
    refusing_mail.error = None
    client.force_login(manager)
    url = reverse("notifications:requeue", args=[refused.pk])
    # A GET (a mail scanner, a reload) changes nothing.
    assert client.get(url).status_code == 302
    assert Notification.objects.get(pk=refused.pk).delivery == D.FAILED
    response = client.post(url)
    assert response.status_code == 302
    refused.refresh_from_db()
    assert (refused.delivery, refused.recipient_email) == (D.QUEUED, "children@cwac.example.org")
    requeue = EmailRequeue.objects.get(notification=refused)
    assert requeue.requeued_by == manager and requeue.address_changed
    assert "550" in requeue.previous_error
    # A second click changes nothing.
    client.post(url)
    assert EmailRequeue.objects.count() == 1
    assert send_due_notifications(worker="w1") == 1
    assert refusing_mail.taken[-1][1] == "children@cwac.example.org"


def test_requeue_refused_out_of_scope_and_logged(refused, client, officer, host_manager):
    url = reverse("notifications:requeue", args=[refused.pk])
    for person in (officer, host_manager):
        client.force_login(person)
        assert client.post(url).status_code in (403, 404)
        assert client.get(url).status_code in (403, 404)
    refused.refresh_from_db()
    assert refused.delivery == D.FAILED
    assert not EmailRequeue.objects.exists()
    assert AccessLogEntry.objects.filter(action="refused", status_code__in=[403, 404]).count() >= 2


def test_requeue_needs_the_csrf_token(refused, manager):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert client.post(reverse("notifications:requeue", args=[refused.pk])).status_code == 403
    refused.refresh_from_db()
    assert refused.delivery == D.FAILED


def test_settings_document_the_defaults():
    defaults = {
        "EMAIL_RETRY_WINDOW": dt.timedelta(hours=48),
        "EMAIL_CLAIM_LEASE": dt.timedelta(minutes=10),
    }
    assert {name: getattr(django_settings, name) for name in defaults} == defaults
