"""The e-mail worker: send, retry with backoff, give up, recover a crashed claim.

Faults (a dropped database connection, a killed worker, a mail server away for hours,
a permanent refusal, SIGTERM) are in test_sending_faults."""

from __future__ import annotations

import datetime as dt
import smtplib

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from notifications.emails import render_notification_email
from notifications.models import DeliveryAttempt, Method, Notification
from notifications.sending import (
    backoff,
    claim_lease,
    claim_next,
    send_due_notifications,
)
from tests.factories.incidents import ChildFactory, EpisodeFactory

from .factories_delivery import DeliveryNotificationFactory

pytestmark = pytest.mark.django_db

D = Notification.Delivery
S = Notification.Status


@pytest.fixture
def notification(la_west) -> Notification:
    child = ChildFactory(first_name="Amelia", last_name="Jones", la_child_id="C12345")
    return DeliveryNotificationFactory(
        episode=EpisodeFactory(child=child),
        recipient_agency=la_west,
        responsible_agency=la_west,
        recipient_email="duty@cwac.example.org",
    )


class Boom(Exception):
    pass


@pytest.fixture
def failing_mail(monkeypatch):
    """The mail server is busy: a temporary refusal."""

    def fail(self, *args, **kwargs):
        raise smtplib.SMTPRecipientsRefused(
            {"duty@cwac.example.org": (451, b"4.3.0 duty@cwac.example.org: try later")}
        )

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", fail)


def test_success_sends_and_records(notification, settings):
    settings.SITE_URL = "https://missingkids.example.org"
    assert send_due_notifications(worker="w1") == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["duty@cwac.example.org"]
    assert "Amelia J." in message.subject
    assert "Jones" not in message.body
    assert "C12345" in message.body
    assert "https://missingkids.example.org/notifications/acknowledge/" in message.body
    html = message.alternatives[0].content
    assert "https://missingkids.example.org/notifications/acknowledge/" in html
    notification.refresh_from_db()
    assert notification.delivery == D.DELIVERED
    assert notification.status == S.SENT
    assert notification.method == Method.EMAIL
    assert notification.told_at is not None
    assert notification.claimed_at is None and notification.claimed_by == ""
    attempt = notification.delivery_attempts.get()
    assert attempt.succeeded and attempt.worker == "w1"
    # Nothing left to send.
    assert send_due_notifications(worker="w1") == 0
    assert len(mail.outbox) == 1


def test_email_does_not_give_the_tellers_deadline_as_the_recipients(notification):
    # When the police had to tell the council is the police's deadline, not the
    # council's: the e-mail gives the recipient their own (see test_email_content).
    notification.due_at = dt.datetime(2026, 7, 1, 13, 30, tzinfo=dt.UTC)
    subject, text, html = render_notification_email(notification)
    assert "1 Jul 2026" not in subject + text + html
    assert "What we ask of you: Check the child's plan and tell the allocated social worker." in (
        text
    )
    assert "\n" not in subject


def test_not_yet_due_for_retry_is_not_claimed(notification):
    Notification.objects.filter(pk=notification.pk).update(
        next_attempt_at=timezone.now() + dt.timedelta(minutes=5)
    )
    assert claim_next(worker="w1") is None


def test_already_told_by_phone_keeps_their_record(notification, social_worker):
    told_at = timezone.now() - dt.timedelta(minutes=5)
    Notification.objects.filter(pk=notification.pk).update(
        status=S.TOLD, method=Method.PHONE, told_at=told_at, told_by=social_worker
    )
    send_due_notifications(worker="w1")
    notification.refresh_from_db()
    assert notification.delivery == D.DELIVERED
    assert notification.status == S.TOLD
    assert notification.method == Method.PHONE
    assert notification.told_at == told_at


def test_cancelled_is_not_sent(notification):
    Notification.objects.filter(pk=notification.pk).update(status=S.CANCELLED)
    send_due_notifications(worker="w1")
    assert mail.outbox == []
    notification.refresh_from_db()
    assert notification.delivery == D.NOT_BY_EMAIL


def test_no_address_fails_at_once_and_shows(notification):
    Notification.objects.filter(pk=notification.pk).update(recipient_email="")
    send_due_notifications(worker="w1")
    notification.refresh_from_db()
    assert notification.delivery == D.FAILED
    assert notification.status == S.DUE
    assert "no e-mail address" in notification.last_error


def test_backoff_doubles_and_is_capped(settings):
    assert [backoff(n).total_seconds() / 60 for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert backoff(20) == settings.EMAIL_RETRY_MAX_INTERVAL == dt.timedelta(minutes=30)
    assert backoff(30000) == settings.EMAIL_RETRY_MAX_INTERVAL


def test_failure_backs_off_then_retry_succeeds(notification, failing_mail, monkeypatch):
    now = timezone.now()
    assert send_due_notifications(worker="w1", now=now) == 0
    notification.refresh_from_db()
    assert notification.delivery == D.RETRYING
    assert notification.status == S.DUE
    assert notification.attempt_count == 1
    assert notification.next_attempt_at == now + dt.timedelta(minutes=1)
    attempt = notification.delivery_attempts.get()
    assert not attempt.succeeded
    assert attempt.error == "SMTPRecipientsRefused: 451 4.3.0 [address] try later"
    # The error is kept without the address.
    assert "duty@cwac.example.org" not in attempt.error
    assert "duty@cwac.example.org" not in notification.last_error

    # Not before the backoff has passed.
    assert claim_next(worker="w1", now=now + dt.timedelta(seconds=59)) is None

    # Second failure: two minutes.
    later = now + dt.timedelta(minutes=1)
    send_due_notifications(worker="w1", now=later)
    notification.refresh_from_db()
    assert notification.attempt_count == 2
    assert notification.next_attempt_at == later + dt.timedelta(minutes=2)

    monkeypatch.undo()
    assert send_due_notifications(worker="w1", now=later + dt.timedelta(minutes=2)) == 1
    notification.refresh_from_db()
    assert notification.delivery == D.DELIVERED
    assert notification.status == S.SENT
    assert notification.last_error == ""
    assert list(notification.delivery_attempts.values_list("succeeded", flat=True)) == [
        True,
        False,
        False,
    ]


def test_gives_up_when_the_retry_window_has_passed(notification, failing_mail, settings):
    start = timezone.now()
    now = start
    while now - start < settings.EMAIL_RETRY_WINDOW:
        send_due_notifications(worker="w1", now=now)
        notification.refresh_from_db()
        assert notification.delivery == D.RETRYING
        assert notification.next_attempt_at - now <= settings.EMAIL_RETRY_MAX_INTERVAL
        now = notification.next_attempt_at
    send_due_notifications(worker="w1", now=now)
    notification.refresh_from_db()
    assert notification.delivery == D.FAILED
    assert notification.failing_since == start
    assert notification.next_attempt_at is None
    assert notification.last_error.endswith("(tried for 48 hours)")
    # Stays due, so it shows on the episode page and the dashboards.
    assert notification.status == S.DUE
    attempts = DeliveryAttempt.objects.filter(notification=notification).count()
    assert attempts == notification.attempt_count > 48 * 2
    assert claim_next(worker="w1", now=now + dt.timedelta(days=1)) is None


def test_crash_recovery_reclaims_after_the_lease(notification):
    crashed_at = timezone.now() - claim_lease() - dt.timedelta(seconds=1)
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=crashed_at)
    claimed = claim_next(worker="crashed", now=crashed_at)
    assert claimed is not None and claimed.pk == notification.pk
    # The worker dies here. A fresh claim inside the lease would be a double send.
    assert claim_next(worker="w2", now=crashed_at + dt.timedelta(minutes=5)) is None
    assert send_due_notifications(worker="w2") == 1
    notification.refresh_from_db()
    assert notification.delivery == D.DELIVERED
    assert notification.delivery_attempts.get().worker == "w2"
    assert len(mail.outbox) == 1


def test_late_outcome_of_lost_claim_does_not_overwrite(notification):
    """A worker whose lease ran out does not mark the row it no longer holds."""
    from notifications.sending import send_claimed

    old = timezone.now() - claim_lease() - dt.timedelta(minutes=1)
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=old)
    stale = claim_next(worker="slow", now=old)
    fresh = claim_next(worker="fast")
    assert fresh is not None
    send_claimed(stale, worker="slow", now=timezone.now())
    notification.refresh_from_db()
    assert notification.delivery == D.SENDING
    assert notification.claimed_by == "fast"


def test_command_once(notification, capsys):
    call_command("send_notifications", "--once", "--worker-name", "cron")
    assert len(mail.outbox) == 1
    assert "Delivered 1" in capsys.readouterr().out
    assert notification.delivery_attempts.get().worker == "cron"
