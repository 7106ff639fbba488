"""The e-mail worker: claim one notification at a time, send it, record the outcome.

Delivery is **at least once**, and each notification's e-mail has one Message-ID
(``notifications.emails.message_id``), so the rare second copy is recognisably the same
message:

- Claiming is a conditional UPDATE on the state we read (healthchecks' sendalerts does
  the same): of two workers reading the same row, only one UPDATE matches, so workers
  running at once never both send it. The claim (delivery "sending") is committed
  before the mail server is spoken to, and no row lock is held meanwhile.
- A claim is a lease (``EMAIL_CLAIM_LEASE``): a worker killed between claiming and
  recording the outcome leaves the row "sending"; once the lease has run out another
  worker sends it again. That is the one way a recipient can get two copies: the mail
  server took the message and the worker died before recording so.
- A temporary failure (no answer, a refused connection, a timeout, a 4xx reply, our own
  sign-in to the mail server refused) is retried 1, 2, 4 ... minutes later, never more
  than ``EMAIL_RETRY_MAX_INTERVAL`` apart, until ``EMAIL_RETRY_WINDOW`` has passed
  since the first failure: a mail server down for a day loses nothing. A permanent
  refusal (a 5xx reply about the recipient or the message) fails at once, with the
  reason, so someone can tell the recipient another way or correct the address and
  queue it again (``requeue_email``).
- When recording the outcome hits a dropped database connection, the worker reconnects
  and records it again (a few times) rather than leave the row for the lease to run
  out, which would send it twice.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import re
import smtplib
from collections.abc import Callable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from missingkids.accounts.models import User

from .emails import message_id, render_notification_email
from .models import DeliveryAttempt, EmailRequeue, Method, Notification
from .processes import drop_connection, refresh_connection
from .sharing import record_check_emailed

logger = logging.getLogger(__name__)

D = Notification.Delivery
S = Notification.Status

# How many candidates one claim looks at: enough that a worker racing another for the
# first row still finds work further down.
CLAIM_CANDIDATES = 10
# Times an outcome is recorded again after the database connection dropped.
RECORD_TRIES = 3
NO_ADDRESS = "The recipient has no e-mail address"

_EMAIL_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+")


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRYING = "retrying"  # a temporary failure: tried again later
    FAILED = "failed"  # a permanent refusal, or retried for the whole window
    NOT_SENT = "not_sent"  # cancelled meanwhile
    CLAIM_LOST = "claim_lost"  # the lease ran out and another worker took it over


def claim_lease() -> dt.timedelta:
    return settings.EMAIL_CLAIM_LEASE


def backoff(attempt_count: int) -> dt.timedelta:
    """1, 2, 4 ... minutes after the 1st, 2nd, 3rd ... failure, never more than
    EMAIL_RETRY_MAX_INTERVAL."""
    minutes = 2 ** min(max(attempt_count - 1, 0), 20)
    return min(dt.timedelta(minutes=minutes), settings.EMAIL_RETRY_MAX_INTERVAL)


def ready_to_send(now: dt.datetime) -> Q:
    """Notifications a worker may claim now: queued or due a retry, or claimed by a
    worker whose lease has run out (the health check counts them as the queue)."""
    return _claimable(now)


def _claimable(now: dt.datetime) -> Q:
    waiting = Q(delivery__in=[D.QUEUED, D.RETRYING], next_attempt_at__lte=now)
    abandoned = Q(delivery=D.SENDING, claimed_at__lt=now - claim_lease())
    return waiting | abandoned


def claim_next(*, worker: str, now: dt.datetime | None = None) -> Notification | None:
    """Claim one notification ready to send, or return None when there is none.

    Each claim is its own transaction, committed before the caller sends anything."""
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
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        # The reply itself, not the dictionary of refused addresses.
        replies = {_reply_text(code, message) for code, message in error.recipients.values()}
        text = "; ".join(sorted(replies))
    elif isinstance(error, smtplib.SMTPResponseException):
        text = _reply_text(error.smtp_code, error.smtp_error)
    else:
        text = str(error)
    text = _EMAIL_ADDRESS.sub("[address]", text).strip()
    return f"{type(error).__name__}: {text}"[:500] if text else type(error).__name__


def _reply_text(code: int, message: bytes | str) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"{code} {' '.join(str(message).split())}".strip()


def is_permanent(error: BaseException) -> bool:
    """A refusal that trying again will not change: a 5xx reply about the recipient or
    the message. Everything else is temporary, including 5xx replies about our own
    connection or sign-in (a configuration to put right, after which the queue goes
    through) and errors that are not the mail server's at all."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(error, smtplib.SMTPDataError):
        return 500 <= error.smtp_code < 600
    return False


def _send(notification: Notification) -> None:
    subject, text, html = render_notification_email(notification)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[notification.recipient_email],
        headers={"Message-ID": message_id(notification)},
    )
    message.attach_alternative(html, "text/html")
    message.send()


def _recorded(record: Callable[[], bool]) -> bool:
    """Record an outcome, reconnecting and trying again if the connection dropped."""
    for attempt in range(1, RECORD_TRIES + 1):
        try:
            return record()
        except DatabaseError:
            if attempt == RECORD_TRIES or transaction.get_connection().in_atomic_block:
                raise
            logger.warning("Recording an e-mail's outcome failed; reconnecting (%d)", attempt)
            drop_connection()
            refresh_connection()
    raise AssertionError("unreachable")


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
            failing_since=None,
        )
        if not mine:
            # The lease ran out mid-send and another worker took the row over; it
            # records the outcome. Keeping our attempt shows the possible duplicate.
            logger.warning("Notification %s: claim lost while sending", notification.pk)
            return False
        # Someone may have phoned and recorded it meanwhile: their record stands.
        Notification.objects.filter(pk=notification.pk, status=S.DUE).update(
            status=S.SENT, method=Method.EMAIL, told_at=now
        )
        # The local authority's copy of a safe and well check is the check's sharing:
        # saved with "sent", so the check and the notification always agree.
        record_check_emailed(notification, sent_at=now)
    return True


def _record_failure(
    notification: Notification, *, worker: str, now: dt.datetime, error: str, permanent: bool
) -> Outcome:
    attempts = notification.attempt_count + 1
    failing_since = notification.failing_since or now
    gave_up = not permanent and now - failing_since >= settings.EMAIL_RETRY_WINDOW
    if gave_up:
        hours = int(settings.EMAIL_RETRY_WINDOW.total_seconds() // 3600)
        error = f"{error} (tried for {hours} hours)"[:500]
    final = permanent or gave_up
    with transaction.atomic():
        # Status stays "due": the episode page, the managers' dashboard and the admins'
        # pages show a failed e-mail at once, and someone tells the recipient another way.
        mine = Notification.objects.filter(_ours(notification, worker)).update(
            delivery=D.FAILED if final else D.RETRYING,
            next_attempt_at=None if final else now + backoff(attempts),
            claimed_at=None,
            claimed_by="",
            attempt_count=attempts,
            last_error=error,
            failing_since=failing_since,
        )
        if not mine:
            return Outcome.CLAIM_LOST
        DeliveryAttempt.objects.create(
            notification=notification, attempted_at=now, succeeded=False, error=error, worker=worker
        )
    return Outcome.FAILED if final else Outcome.RETRYING


def send_claimed(notification: Notification, *, worker: str, now: dt.datetime) -> Outcome:
    """Send one claimed notification and record the outcome."""
    if notification.status == S.CANCELLED:
        Notification.objects.filter(_ours(notification, worker)).update(
            delivery=D.NOT_BY_EMAIL, claimed_at=None, claimed_by="", next_attempt_at=None
        )
        return Outcome.NOT_SENT
    if not notification.recipient_email:
        return _recorded(
            lambda: _record_failure(
                notification, worker=worker, now=now, error=NO_ADDRESS, permanent=True
            )
        )
    try:
        _send(notification)
    except Exception as error:
        text = safe_error_text(error)
        permanent = is_permanent(error)
        return _recorded(
            lambda: _record_failure(
                notification, worker=worker, now=now, error=text, permanent=permanent
            )
        )
    delivered = _recorded(lambda: _record_success(notification, worker=worker, now=now))
    return Outcome.DELIVERED if delivered else Outcome.CLAIM_LOST


def send_next(*, worker: str, now: dt.datetime | None = None) -> Outcome | None:
    """Claim and send one notification; None when nothing is ready."""
    current = now or timezone.now()
    notification = claim_next(worker=worker, now=current)
    if notification is None:
        return None
    return send_claimed(notification, worker=worker, now=now or timezone.now())


def send_due_notifications(
    *,
    worker: str,
    now: dt.datetime | None = None,
    limit: int = 50,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Send up to ``limit`` notifications that are ready; return how many were delivered.

    ``stop`` is asked before each claim: once it says so, no more is claimed."""
    outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
    for _ in range(limit):
        if stop is not None and stop():
            break
        outcome = send_next(worker=worker, now=now)
        if outcome is None:
            break
        outcomes[outcome] += 1
    if any(outcomes.values()):
        logger.info(
            "Notifications e-mailed: %d delivered, %d to retry, %d failed",
            outcomes[Outcome.DELIVERED],
            outcomes[Outcome.RETRYING],
            outcomes[Outcome.FAILED],
        )
    return outcomes[Outcome.DELIVERED]


# Queueing a failed e-mail again -----------------------------------------------------------


def current_address(notification: Notification) -> str:
    """The recipient's address as the contacts now stand: the named contact's (or, if it
    has none, its agency's shared mailbox), else the agency's mailbox if that is what
    the e-mail went to; a person's own address, copied from the child's record, stays."""
    contact = notification.recipient_contact
    agency = notification.recipient_agency
    if contact is not None:
        return contact.email or (agency.email if agency else "") or notification.recipient_email
    if agency is not None and agency.email:
        stored = notification.recipient_email
        if not stored or stored.lower() == agency.email.lower():
            return agency.email
        if notification.recipient_name in ("", agency.name):
            return agency.email
    return notification.recipient_email


def requeue_email(notification: Notification, *, by: User, now: dt.datetime | None = None) -> bool:
    """Queue a failed e-mail again, to the recipient's current address; who did it and
    when is kept (EmailRequeue). False if it is no longer failed or no longer due (a
    colleague queued it, or someone recorded telling them, a moment earlier)."""
    now = now or timezone.now()
    address = current_address(notification)
    with transaction.atomic():
        queued = Notification.objects.filter(
            pk=notification.pk, delivery=D.FAILED, status=S.DUE
        ).update(
            delivery=D.QUEUED,
            next_attempt_at=now,
            recipient_email=address,
            attempt_count=0,
            failing_since=None,
            claimed_at=None,
            claimed_by="",
        )
        if not queued:
            return False
        EmailRequeue.objects.create(
            notification=notification,
            requeued_at=now,
            requeued_by=by,
            previous_error=notification.last_error,
            address_changed=address.lower() != notification.recipient_email.lower(),
        )
    return True


def can_be_requeued(notification: Notification) -> bool:
    return notification.delivery == D.FAILED and notification.status == S.DUE
