"""The e-mail worker: claim one notification at a time, send it, record the outcome.

Claiming is a conditional UPDATE on the state we read (healthchecks' sendalerts does the
same): of two workers reading the same row, only one UPDATE matches, so no notification
is sent twice by workers running at once. Each claim is its own short transaction, so no
row lock is held while talking to the mail server.

A claim is a lease: a worker killed between claiming and recording the outcome leaves
the row "sending" with an old ``claimed_at``; after ``CLAIM_LEASE`` another worker
claims it again, so nothing is lost. (The price is that a worker stalled for longer than
the lease in the middle of an SMTP conversation could send a second copy; ten minutes is
far beyond the SMTP timeout.)
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .emails import render_notification_email
from .models import DeliveryAttempt, Method, Notification
from .sharing import record_check_emailed

logger = logging.getLogger(__name__)

D = Notification.Delivery

CLAIM_LEASE = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 8
MAX_BACKOFF = dt.timedelta(hours=6)
# How many candidates one claim looks at: enough that a worker racing another for the
# first row still finds work further down.
CLAIM_CANDIDATES = 10

_EMAIL_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+")


def backoff(attempt_count: int) -> dt.timedelta:
    """1, 2, 4 ... minutes after the 1st, 2nd, 3rd ... failure, never more than 6 hours."""
    return min(dt.timedelta(minutes=2 ** max(attempt_count - 1, 0)), MAX_BACKOFF)


def _claimable(now: dt.datetime) -> Q:
    waiting = Q(delivery__in=[D.QUEUED, D.RETRYING], next_attempt_at__lte=now)
    abandoned = Q(delivery=D.SENDING, claimed_at__lt=now - CLAIM_LEASE)
    return waiting | abandoned


def claim_next(*, worker: str, now: dt.datetime | None = None) -> Notification | None:
    """Claim one notification ready to send, or return None when there is none."""
    now = now or timezone.now()
    candidates = list(
        Notification.objects.filter(_claimable(now))
        .order_by("next_attempt_at", "id")
        .values_list("pk", "delivery", "claimed_at")[:CLAIM_CANDIDATES]
    )
    for pk, delivery, claimed_at in candidates:
        # Match exactly what we read: if another worker claimed the row in between,
        # its delivery or claimed_at has changed and this UPDATE matches nothing.
        seen = Q(delivery=delivery) & (
            Q(claimed_at=claimed_at) if claimed_at is not None else Q(claimed_at__isnull=True)
        )
        with transaction.atomic():
            claimed = Notification.objects.filter(_claimable(now), seen, pk=pk).update(
                delivery=D.SENDING, claimed_at=now, claimed_by=worker
            )
        if claimed:
            return Notification.objects.select_related(
                "child", "rule", "recipient_agency", "responsible_agency"
            ).get(pk=pk)
    return None


def _ours(notification: Notification, worker: str) -> Q:
    return Q(
        pk=notification.pk,
        delivery=D.SENDING,
        claimed_by=worker,
        claimed_at=notification.claimed_at,
    )


def safe_error_text(error: BaseException) -> str:
    """What went wrong, without addresses: attempts are shown to admins and kept."""
    text = _EMAIL_ADDRESS.sub("[address]", str(error)).strip()
    return f"{type(error).__name__}: {text}"[:500] if text else type(error).__name__


def _send(notification: Notification) -> None:
    if not notification.recipient_email:
        raise ValueError("The recipient has no e-mail address")
    subject, text, html = render_notification_email(notification)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[notification.recipient_email])
    message.attach_alternative(html, "text/html")
    message.send()


def _record_success(notification: Notification, *, worker: str, now: dt.datetime) -> bool:
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            notification=notification, attempted_at=now, succeeded=True, worker=worker
        )
        mine = Notification.objects.filter(_ours(notification, worker)).update(
            delivery=D.DELIVERED,
            claimed_at=None,
            claimed_by="",
            next_attempt_at=None,
            attempt_count=F("attempt_count") + 1,
            last_error="",
        )
        if not mine:
            # The lease ran out mid-send and another worker took the row over; it
            # records the outcome. Keeping our attempt shows the possible duplicate.
            logger.warning("Notification %s: claim lost while sending", notification.pk)
            return False
        # Someone may have phoned and recorded it meanwhile: their record stands.
        Notification.objects.filter(pk=notification.pk, status=Notification.Status.DUE).update(
            status=Notification.Status.SENT, method=Method.EMAIL, told_at=now
        )
        # The local authority's copy of a safe and well check is the check's sharing:
        # saved with "sent", so the check and the notification always agree.
        record_check_emailed(notification, sent_at=now)
    return True


def _record_failure(
    notification: Notification, *, worker: str, now: dt.datetime, error: str, final: bool = False
) -> None:
    attempts = notification.attempt_count + 1
    give_up = final or attempts >= MAX_ATTEMPTS
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            notification=notification, attempted_at=now, succeeded=False, error=error, worker=worker
        )
        # Status stays "due": the row shows as overdue once due_at passes, so a
        # failed e-mail is visible on the episode page rather than silently lost.
        Notification.objects.filter(_ours(notification, worker)).update(
            delivery=D.FAILED if give_up else D.RETRYING,
            next_attempt_at=None if give_up else now + backoff(attempts),
            claimed_at=None,
            claimed_by="",
            attempt_count=attempts,
            last_error=error,
        )


def send_claimed(notification: Notification, *, worker: str, now: dt.datetime) -> bool:
    """Send one claimed notification and record the outcome; True if delivered."""
    if notification.status == Notification.Status.CANCELLED:
        Notification.objects.filter(_ours(notification, worker)).update(
            delivery=D.NOT_BY_EMAIL, claimed_at=None, claimed_by="", next_attempt_at=None
        )
        return False
    if not notification.recipient_email:
        _record_failure(
            notification,
            worker=worker,
            now=now,
            error="The recipient has no e-mail address",
            final=True,
        )
        return False
    try:
        _send(notification)
    except Exception as error:
        _record_failure(notification, worker=worker, now=now, error=safe_error_text(error))
        return False
    return _record_success(notification, worker=worker, now=now)


def send_due_notifications(*, worker: str, now: dt.datetime | None = None, limit: int = 50) -> int:
    """Send up to ``limit`` notifications that are ready; return how many were delivered."""
    delivered = failed = 0
    for _ in range(limit):
        current = now or timezone.now()
        notification = claim_next(worker=worker, now=current)
        if notification is None:
            break
        if send_claimed(notification, worker=worker, now=current):
            delivered += 1
        else:
            failed += 1
    if delivered or failed:
        logger.info("Notifications e-mailed: %d delivered, %d not delivered", delivered, failed)
    return delivered
