"""A worker claims a batch and sends it over one connection to the mail server; what it
does not send (asked to stop, the mail server failing) goes back to the queue as it was."""

from __future__ import annotations

import smtplib
from collections import Counter

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend

from notifications.models import DeliveryAttempt, Notification
from notifications.sending import Outcome, claim_batch, send_batch, send_due_notifications
from tests.factories.incidents import EpisodeFactory

from .factories_delivery import DeliveryNotificationFactory

pytestmark = pytest.mark.django_db
D = Notification.Delivery


class CountingBackend(EmailBackend):
    """The test outbox, counting connections opened and closed; fails as told."""

    opened = 0
    closed = 0
    fail_from: int | None = None

    def open(self):  # type: ignore[no-untyped-def]
        CountingBackend.opened += 1
        return True

    def close(self) -> None:
        CountingBackend.closed += 1

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        if CountingBackend.fail_from is not None and len(mail.outbox) >= self.fail_from:
            raise smtplib.SMTPRecipientsRefused({"x@example.org": (451, b"4.3.0 try later")})
        return super().send_messages(messages)


@pytest.fixture
def counting(settings):
    settings.MAILERS = {
        "default": {"BACKEND": "tests.notifications.test_sending_batch.CountingBackend"}
    }
    CountingBackend.opened = CountingBackend.closed = 0
    CountingBackend.fail_from = None
    yield CountingBackend
    CountingBackend.fail_from = None


def test_a_batch_goes_over_one_connection_each_with_its_own_message_id(counting):
    rows = DeliveryNotificationFactory.create_batch(5, episode=EpisodeFactory())
    assert send_batch(worker="w1") == [Outcome.DELIVERED] * 5
    assert (counting.opened, counting.closed) == (1, 1)
    ids = Counter(message["Message-ID"] for message in (m.message() for m in mail.outbox))
    assert len(ids) == 5 and set(ids.values()) == {1}
    assert Notification.objects.filter(delivery=D.DELIVERED).count() == len(rows)
    assert DeliveryAttempt.objects.filter(succeeded=True, worker="w1").count() == 5


def test_claims_come_in_batches_of_the_setting(counting, settings):
    settings.EMAIL_SEND_BATCH = 2
    DeliveryNotificationFactory.create_batch(5, episode=EpisodeFactory())
    assert len(claim_batch(worker="w1", size=settings.EMAIL_SEND_BATCH)) == 2
    assert Notification.objects.filter(delivery=D.SENDING, claimed_by="w1").count() == 2
    # The claimed two are the worker's until their lease runs out; the rest are sent.
    assert send_due_notifications(worker="w2") == 3
    assert counting.opened == 2  # two batches: two, and one


def test_a_stop_gives_back_the_rest_of_the_batch_unsent(counting):
    DeliveryNotificationFactory.create_batch(4, episode=EpisodeFactory())
    asked = Counter()

    def stop() -> bool:
        asked["n"] += 1
        return asked["n"] > 1

    assert send_batch(worker="w1", stop=stop) == [Outcome.DELIVERED]
    deliveries = Counter(Notification.objects.values_list("delivery", flat=True))
    assert deliveries == {D.DELIVERED: 1, D.QUEUED: 3}
    assert not Notification.objects.filter(claimed_by="w1").exists()
    assert DeliveryAttempt.objects.count() == 1


def test_a_temporary_failure_pauses_the_worker_with_the_rest_given_back(counting):
    DeliveryNotificationFactory.create_batch(4, episode=EpisodeFactory())
    counting.fail_from = 1
    outcomes = send_batch(worker="w1", pause_on_failure=True)
    assert outcomes == [Outcome.DELIVERED, Outcome.RETRYING]
    deliveries = Counter(Notification.objects.values_list("delivery", flat=True))
    assert deliveries == {D.DELIVERED: 1, D.RETRYING: 1, D.QUEUED: 2}
    # The failed connection is closed, not used again.
    assert counting.closed >= 1


def test_without_pausing_a_failure_is_retried_later_and_the_batch_carries_on(counting):
    DeliveryNotificationFactory.create_batch(3, episode=EpisodeFactory())
    counting.fail_from = 1
    assert send_batch(worker="w1") == [Outcome.DELIVERED, Outcome.RETRYING, Outcome.RETRYING]
    # A fresh connection after the temporary failure: the first, then one more.
    assert (counting.opened, counting.closed) == (2, 2)
