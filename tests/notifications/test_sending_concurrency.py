"""Two workers at once, each with its own database connection, on PostgreSQL: every
notification is sent exactly once, whether each sends over one connection to the mail
server or several at once. SQLite serialises writers, so it cannot show this."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test import override_settings

from notifications.models import Notification
from notifications.sending import send_due_notifications
from tests.factories.incidents import EpisodeFactory

from .factories_delivery import DeliveryNotificationFactory

WORKERS = 2
NOTIFICATIONS = 30


class CountingBackend(BaseEmailBackend):
    """Counts each address it is given, from any thread."""

    lock = threading.Lock()
    sent: Counter[str] = Counter()

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        for message in email_messages:
            # Widen the window between claim and outcome, where a race would show.
            time.sleep(0.005)
            with self.lock:
                for address in message.to:
                    self.sent[address] += 1
        return len(email_messages)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mail_connections", [1, 3])
def test_two_workers_send_each_notification_exactly_once(postgres_only, mail_connections) -> None:
    episode = EpisodeFactory()
    rows = DeliveryNotificationFactory.create_batch(NOTIFICATIONS, episode=episode)
    CountingBackend.sent.clear()
    start = threading.Barrier(WORKERS)
    delivered: dict[str, int] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            start.wait()
            total = 0
            while True:
                # Small batches so the two workers interleave over the queue.
                sent = send_due_notifications(worker=name, limit=3 * mail_connections)
                total += sent
                if (
                    sent == 0
                    and not Notification.objects.filter(delivery__in=["queued", "sending"]).exists()
                ):
                    break
            delivered[name] = total
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    mailers = {"default": {"BACKEND": f"{__name__}.CountingBackend"}}
    with override_settings(MAILERS=mailers, EMAIL_SEND_CONNECTIONS=mail_connections):
        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert not errors, errors
    expected = {row.recipient_email for row in rows}
    assert set(CountingBackend.sent) == expected
    assert all(count == 1 for count in CountingBackend.sent.values()), CountingBackend.sent
    assert sum(delivered.values()) == NOTIFICATIONS
    assert Notification.objects.filter(delivery="delivered", status="sent").count() == (
        NOTIFICATIONS
    )
    attempts = Notification.objects.values_list("delivery_attempts__worker", flat=True)
    assert len(list(attempts)) == NOTIFICATIONS
