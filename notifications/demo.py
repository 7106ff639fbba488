"""The demo's e-mail history: what the partnership's worker would have sent, and when.

The demo's episodes are recorded through the action functions at load time, with times
in the past, so every notification they give rise to is queued now, long after its
deadline: sent by the worker today, nearly all would count as late and the measures
would show a partnership failing at everything. A working partnership sends them
minutes after the event. So, once the demo's cases are in (``after_load``), each
notification whose deadline has passed is recorded as e-mailed a few minutes after its
event, with its delivery attempt, as the worker would have; except a few, delivered
late, so the measures have something to find. Those not yet due are left queued for
the worker. Recorded once: a demo database loaded again keeps its history.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from .engine import fire_timed_steps, process_pending_events
from .models import DeliveryAttempt, Method, Notification
from .sharing import record_check_emailed

DEMO_WORKER = "demo history"
# How soon after its event the worker sends a notification, in a working partnership.
SENT_AFTER = dt.timedelta(minutes=7)
# (child's council id, step, recipient role): the first such notification is delivered
# this long after its deadline.
LATE = {
    ("CW100587", "returned", "iro"): dt.timedelta(hours=30),
    ("CW100412", "returned", "school"): dt.timedelta(hours=6),
}


def after_load() -> None:
    if DeliveryAttempt.objects.filter(worker=DEMO_WORKER).exists():
        return  # already recorded on an earlier load
    process_pending_events()
    fire_timed_steps()
    now = timezone.now()
    past = (
        Notification.objects.filter(
            status=Notification.Status.DUE,
            delivery=Notification.Delivery.QUEUED,
            attempt_count=0,
        )
        .exclude(recipient_email="")
        .select_related("event", "child", "episode")
        .order_by("id")
    )
    late_done: set[tuple[str, str, str]] = set()
    with transaction.atomic():
        for notification in past:
            if notification.due_at > now:
                continue  # not yet due: the worker sends it, in time
            event_at = notification.event.occurred_at if notification.event else None
            start = notification.late_fact_at or event_at or notification.due_at
            key = (notification.child.la_child_id, notification.step, notification.recipient_role)
            late = LATE.get(key) if key not in late_done else None
            if late is not None and notification.due_at + late <= now:
                late_done.add(key)
                sent_at = notification.due_at + late
            else:
                sent_at = min(start + SENT_AFTER, notification.due_at)
            _record_sent(notification, sent_at)


def _record_sent(notification: Notification, sent_at: dt.datetime) -> None:
    DeliveryAttempt.objects.create(
        notification=notification, attempted_at=sent_at, succeeded=True, worker=DEMO_WORKER
    )
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.SENT,
        method=Method.EMAIL,
        told_at=sent_at,
        delivery=Notification.Delivery.DELIVERED,
        next_attempt_at=None,
        attempt_count=1,
    )
    record_check_emailed(notification, sent_at=sent_at)
