"""The demo's e-mail history reads like a working partnership: nearly every notification
made on time, a few late for the managers to find, the ones not yet due left queued."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from notifications.demo import DEMO_WORKER
from notifications.models import DeliveryAttempt, Notification

pytestmark = pytest.mark.django_db


def load() -> None:
    call_command("load_demo_data", stdout=StringIO())


def test_past_notifications_were_sent_mostly_on_time():
    load()
    now = timezone.now()
    due = Notification.objects.exclude(status=Notification.Status.CANCELLED)
    past = due.filter(due_at__lte=now)

    assert past.count() > 40
    # Nothing whose deadline has passed is waiting: it was made, on time or late.
    assert not past.filter(status=Notification.Status.DUE).exists()
    late = past.filter(told_at__gt=F("due_at")).count()
    assert 1 <= late <= 3
    assert (past.count() - late) / past.count() > 0.9
    # Each one e-mailed has its delivery attempt, at the time it was sent.
    for notification in past.filter(status=Notification.Status.SENT):
        attempt = notification.delivery_attempts.get()
        assert attempt.succeeded and attempt.attempted_at == notification.told_at
    # What is not yet due is left to the worker, who sends it in time.
    waiting = due.filter(due_at__gt=now, status=Notification.Status.DUE)
    assert waiting.exists()
    assert set(waiting.values_list("delivery", flat=True)) == {Notification.Delivery.QUEUED}


def test_loading_again_keeps_the_history():
    load()
    attempts = DeliveryAttempt.objects.filter(worker=DEMO_WORKER).count()
    told = dict(Notification.objects.values_list("pk", "told_at"))

    load()

    assert DeliveryAttempt.objects.filter(worker=DEMO_WORKER).count() == attempts
    assert dict(Notification.objects.values_list("pk", "told_at")) == told
