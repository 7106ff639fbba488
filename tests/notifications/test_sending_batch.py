"""A worker claims a batch and sends it over one connection to the mail server; what it
does not send (asked to stop, the mail server failing) goes back to the queue as it was."""

from __future__ import annotations

import datetime as dt
import smtplib
from collections import Counter

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.models import DeliveryAttempt, Notification, RecipientRole, Step
from notifications.sending import Outcome, claim_batch, send_batch, send_due_notifications
from tests.factories.incidents import EpisodeFactory

from .factories_delivery import DeliveryNotificationFactory, DeliveryRuleFactory

pytestmark = pytest.mark.django_db
D = Notification.Delivery
S = Notification.Status


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


def _send_a_batch_of(size: int) -> int:
    """Queue ``size`` e-mails about different episodes (after the return, so each
    reads its episode's interview) and send them as one batch; the queries it took."""
    rule = DeliveryRuleFactory(step=Step.RETURNED, recipient=RecipientRole.PROVIDER)
    DeliveryNotificationFactory.create_batch(size, rule=rule)
    with CaptureQueriesContext(connection) as queries:
        outcomes = send_batch(worker="w1")
    assert outcomes == [Outcome.DELIVERED] * size
    return len(queries)


def test_a_batch_takes_the_same_queries_whatever_its_size(counting):
    # Claim: the abandoned rows, the waiting rows, the claim (from the queue: on no
    # list before or after, so nothing of the managers' lists to keep), the rows with all
    # the e-mails read. Record: the children locked, the attempts, the rows still ours,
    # delivered and "sent" in one update, and the managers' lists kept for those rows
    # alone (oversight.due, under the children's locks already held: the rows' kept rows
    # counted out of the kept counts and deleted, what each of the three notification
    # lists still has of them: 5). Each transaction is a savepoint inside the test's (two
    # queries more each). The same whatever the batch's size or the children's other
    # notifications.
    assert _send_a_batch_of(2) == 17
    assert _send_a_batch_of(7) == 17
    assert len(mail.outbox) == 9
    assert Notification.objects.filter(delivery=D.DELIVERED, status=S.SENT).count() == 9
    assert DeliveryAttempt.objects.filter(succeeded=True).count() == 9


def test_each_message_of_a_batch_keeps_the_time_it_was_sent(counting, time_machine):
    rows = DeliveryNotificationFactory.create_batch(3, episode=EpisodeFactory())
    start = timezone.now()
    sends = iter(range(3))

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        # Each message takes ten seconds: the next one is sent ten seconds later.
        time_machine.move_to(start + dt.timedelta(seconds=10 * (next(sends) + 1)))
        return EmailBackend.send_messages(self, messages)

    counting.send_messages = send_messages
    try:
        assert send_batch(worker="w1") == [Outcome.DELIVERED] * 3
    finally:
        del counting.send_messages
    told = dict(Notification.objects.values_list("pk", "told_at"))
    attempted = dict(DeliveryAttempt.objects.values_list("notification_id", "attempted_at"))
    for offset, row in enumerate(rows):
        assert told[row.pk] == attempted[row.pk]
        sent = start + dt.timedelta(seconds=10 * offset)
        assert sent <= told[row.pk] < sent + dt.timedelta(seconds=5)


def test_a_lost_claim_in_a_batch_is_not_recorded_and_the_rest_are(counting):
    rows = DeliveryNotificationFactory.create_batch(3, episode=EpisodeFactory())
    taken_over = rows[1]

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        if messages[0].to == [taken_over.recipient_email]:
            # The lease ran out mid-send and another worker took the row over.
            Notification.objects.filter(pk=taken_over.pk).update(claimed_by="w2")
        return EmailBackend.send_messages(self, messages)

    counting.send_messages = send_messages
    try:
        outcomes = send_batch(worker="w1")
    finally:
        del counting.send_messages
    assert outcomes == [Outcome.DELIVERED, Outcome.CLAIM_LOST, Outcome.DELIVERED]
    taken_over.refresh_from_db()
    assert (taken_over.delivery, taken_over.claimed_by) == (D.SENDING, "w2")
    assert Notification.objects.filter(delivery=D.DELIVERED, status=S.SENT).count() == 2
    # Our attempt is kept: it shows the possible second copy.
    assert DeliveryAttempt.objects.filter(succeeded=True, worker="w1").count() == 3
