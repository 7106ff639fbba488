"""A batch sent over several connections to the mail server at once
(EMAIL_SEND_CONNECTIONS), each in a thread of its own: every message goes once, over
one connection, and comes back recorded as what became of it, whatever one connection
does. Nothing here is timed: the connections are shown to be sending at once by a
barrier they must all reach, and every assertion is about which rows ended how."""

from __future__ import annotations

import smtplib
import threading
from collections import Counter

import pytest
from django.core.mail.backends.base import BaseEmailBackend

from notifications import sending
from notifications.models import DeliveryAttempt, Notification
from notifications.sending import Outcome, send_batch
from tests.factories.incidents import EpisodeFactory

from .factories_delivery import DeliveryNotificationFactory

pytestmark = pytest.mark.django_db
D = Notification.Delivery
S = Notification.Status
CONNECTIONS = 3
# Guards against a hung thread only; nothing is timed.
GUARD_SECONDS = 60


class ThreadedSink(BaseEmailBackend):
    """Each instance is one connection. Records, from any thread, which connection took
    which message; refuses the addresses it is told to, as it is told to."""

    lock = threading.Lock()
    taken: list[tuple[int, str]] = []  # (connection, address)
    opened = 0
    closed = 0
    refuse: dict[str, BaseException] = {}
    # Each connection's first message waits here until all are sending at once.
    together: threading.Barrier | None = None
    # The message on which the sending thread is interrupted (not a mail failure).
    interrupt: str = ""
    # Messages not refused wait for this (if set) before they are taken.
    hold: threading.Event | None = None

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.first = True

    def open(self):  # type: ignore[no-untyped-def]
        with self.lock:
            ThreadedSink.opened += 1
        return True

    def close(self) -> None:
        with self.lock:
            ThreadedSink.closed += 1

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        for message in email_messages:
            if self.first and ThreadedSink.together is not None:
                self.first = False
                ThreadedSink.together.wait(GUARD_SECONDS)
            address = message.to[0]
            if address == ThreadedSink.interrupt:
                raise KeyboardInterrupt
            if address in ThreadedSink.refuse:
                raise ThreadedSink.refuse[address]
            if ThreadedSink.hold is not None:
                ThreadedSink.hold.wait(GUARD_SECONDS)
            with self.lock:
                ThreadedSink.taken.append((id(self), address))
        return len(email_messages)


@pytest.fixture
def sink(settings):
    settings.MAILERS = {
        "default": {"BACKEND": "tests.notifications.test_sending_parallel.ThreadedSink"}
    }
    settings.EMAIL_SEND_CONNECTIONS = CONNECTIONS
    ThreadedSink.taken = []
    ThreadedSink.opened = ThreadedSink.closed = 0
    ThreadedSink.refuse = {}
    ThreadedSink.together = None
    ThreadedSink.interrupt = ""
    ThreadedSink.hold = None
    yield ThreadedSink
    ThreadedSink.together = ThreadedSink.hold = None


def sent_to(sink: type[ThreadedSink]) -> Counter[str]:
    return Counter(address for _connection, address in sink.taken)


def test_a_batch_goes_over_several_connections_at_once_each_message_once(sink):
    rows = DeliveryNotificationFactory.create_batch(12, episode=EpisodeFactory())
    sink.together = threading.Barrier(CONNECTIONS)

    outcomes = send_batch(worker="w1")

    assert outcomes == [Outcome.DELIVERED] * 12
    # All three connections were sending at once (each waited for the others), and
    # each message went over exactly one of them, once.
    assert len({connection for connection, _address in sink.taken}) == CONNECTIONS
    assert sent_to(sink) == Counter(row.recipient_email for row in rows)
    assert (sink.opened, sink.closed) == (CONNECTIONS, CONNECTIONS)
    assert Notification.objects.filter(delivery=D.DELIVERED, status=S.SENT).count() == 12
    attempts = Counter(DeliveryAttempt.objects.values_list("notification_id", flat=True))
    assert attempts == Counter({row.pk: 1 for row in rows})


def test_a_failing_connection_loses_nothing_and_sends_nothing_twice(sink):
    rows = DeliveryNotificationFactory.create_batch(10, episode=EpisodeFactory())
    dropped, refused = rows[3].recipient_email, rows[6].recipient_email
    sink.refuse = {
        # One connection drops mid-message: tried again later, over a new connection.
        dropped: smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        # Another message is refused for good.
        refused: smtplib.SMTPRecipientsRefused({refused: (550, b"5.1.1 no such user")}),
    }

    outcomes = send_batch(worker="w1")

    # The outcomes come back in the batch's order, whichever thread sent each.
    expected = [Outcome.DELIVERED] * 10
    expected[3], expected[6] = Outcome.RETRYING, Outcome.FAILED
    assert outcomes == expected
    others = Counter(row.recipient_email for row in rows if row not in (rows[3], rows[6]))
    assert sent_to(sink) == others
    deliveries = dict(Notification.objects.values_list("pk", "delivery"))
    expected_deliveries = [D.DELIVERED] * 10
    expected_deliveries[3], expected_deliveries[6] = D.RETRYING, D.FAILED
    assert [deliveries[row.pk] for row in rows] == expected_deliveries
    retrying = Notification.objects.get(pk=rows[3].pk)
    assert retrying.attempt_count == 1 and retrying.next_attempt_at is not None
    assert retrying.last_error.startswith("SMTPServerDisconnected")
    assert dropped not in retrying.last_error
    failed = Notification.objects.get(pk=rows[6].pk)
    assert (failed.status, failed.last_error) == (
        S.DUE,
        "SMTPRecipientsRefused: 550 5.1.1 no such user",
    )
    assert not Notification.objects.filter(claimed_by="w1").exists()
    # One attempt for every message, with the outcome it had.
    attempts = dict(DeliveryAttempt.objects.values_list("notification_id", "succeeded"))
    assert attempts == {row.pk: row not in (rows[3], rows[6]) for row in rows}
    # The dropped connection was closed and a new one opened for its next message (if
    # it had one): never more connections open at once than the setting.
    assert sink.opened == sink.closed >= CONNECTIONS


def test_a_temporary_failure_pauses_with_the_messages_in_hand_finished(sink, monkeypatch):
    rows = DeliveryNotificationFactory.create_batch(12, episode=EpisodeFactory())
    sink.refuse = {
        rows[0].recipient_email: smtplib.SMTPRecipientsRefused(
            {rows[0].recipient_email: (451, b"4.3.0 try again later")}
        )
    }
    # Each connection takes a message (the first three), and the two not refused are
    # taken by the mail server only once the refusal has been recorded.
    sink.together = threading.Barrier(CONNECTIONS)
    sink.hold = threading.Event()
    record_failure = sending._record_failure

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = record_failure(*args, **kwargs)
        sink.hold.set()
        return outcome

    monkeypatch.setattr(sending, "_record_failure", recorded)

    outcomes = send_batch(worker="w1", pause_on_failure=True)

    # The messages in hand on the other connections are finished and recorded; the
    # rest of the batch goes back to the queue unsent.
    assert outcomes == [Outcome.RETRYING, Outcome.DELIVERED, Outcome.DELIVERED]
    deliveries = dict(Notification.objects.values_list("pk", "delivery"))
    assert [deliveries[row.pk] for row in rows] == [D.RETRYING] + [D.DELIVERED] * 2 + [D.QUEUED] * 9
    assert sent_to(sink) == Counter(row.recipient_email for row in rows[1:3])
    assert not Notification.objects.filter(claimed_by="w1").exists()
    assert DeliveryAttempt.objects.count() == 3


def test_a_stop_from_another_thread_gives_back_what_was_not_sent(sink):
    rows = DeliveryNotificationFactory.create_batch(20, episode=EpisodeFactory())
    asked = Counter()
    lock = threading.Lock()

    def stop() -> bool:
        with lock:
            asked["n"] += 1
            return asked["n"] > 5

    outcomes = send_batch(worker="w1", stop=stop)

    # Asked before each message: the five asked before it said stop were sent.
    assert outcomes == [Outcome.DELIVERED] * 5
    deliveries = dict(Notification.objects.values_list("pk", "delivery"))
    delivered = {row.recipient_email for row in rows if deliveries[row.pk] == D.DELIVERED}
    assert sent_to(sink) == Counter(delivered) and len(delivered) == len(outcomes)
    assert Counter(deliveries.values()) == {
        D.DELIVERED: len(outcomes),
        D.QUEUED: 20 - len(outcomes),
    }
    assert not Notification.objects.filter(claimed_by="w1").exists()


def test_an_interrupted_thread_stops_the_batch_and_the_sent_are_recorded(sink):
    rows = DeliveryNotificationFactory.create_batch(12, episode=EpisodeFactory())
    sink.interrupt = rows[5].recipient_email

    with pytest.raises(KeyboardInterrupt):
        send_batch(worker="w1")

    deliveries = dict(Notification.objects.values_list("pk", "delivery"))
    # The interrupted message is left to its lease (the mail server may have it); every
    # message the mail server took is recorded; nothing was sent twice.
    assert deliveries[rows[5].pk] == D.SENDING
    delivered = {row.recipient_email for row in rows if deliveries[row.pk] == D.DELIVERED}
    assert sent_to(sink) == Counter(delivered)
    assert set(deliveries.values()) <= {D.DELIVERED, D.SENDING}
    assert DeliveryAttempt.objects.count() == len(delivered)


def test_one_connection_sends_from_the_calling_thread(sink, settings, monkeypatch):
    settings.EMAIL_SEND_CONNECTIONS = 1
    DeliveryNotificationFactory.create_batch(3, episode=EpisodeFactory())
    started = []
    monkeypatch.setattr(sending.threading.Thread, "start", lambda self: started.append(self.name))
    assert send_batch(worker="w1") == [Outcome.DELIVERED] * 3
    assert started == [] and (sink.opened, sink.closed) == (1, 1)
    assert len({connection for connection, _address in sink.taken}) == 1
