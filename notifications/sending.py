"""The e-mail worker: claim a batch of notifications, read a slice of it at a time with
everything their e-mails show (one query), send them over ``EMAIL_SEND_CONNECTIONS``
connections to the mail server at once (each in a thread of its own, which never
touches the database), record each failure as it comes back and the deliveries a slice
at a time (a few statements whatever its size, the safe and well checks among them
shared in one call of the incidents action).

Delivery is **at least once**, and each notification's e-mail has one Message-ID
(``notifications.emails.message_id``), so the rare second copy is recognisably the same
message:

- Claiming is a conditional UPDATE on the state we read (healthchecks' sendalerts does
  the same): of two workers reading the same row, only one UPDATE matches, so workers
  running at once never both send it. On PostgreSQL the rows are read ``FOR UPDATE SKIP
  LOCKED``, so two workers claiming at the same moment take different rows rather than
  one waiting for the other. A batch (``EMAIL_SEND_BATCH`` rows, read in order from a
  partial index of the queue, so a claim never sorts the whole queue) is claimed in
  one transaction, committed before the mail server is spoken to, and no row lock is
  held meanwhile. Within a batch each row is handed to exactly one of the worker's
  connections, once, and comes back as sent, refused or not tried. The rows of a
  batch not yet sent are given back (as they were) when the worker is asked to stop,
  when the mail server fails temporarily, and before the lease could run out on them.
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
- The managers' overdue lists (``oversight.due``) are kept, in the same transactions,
  for the rows whose change a list can show, and for those rows alone: none for a claim
  from the queue (queued and sending are on no list), the retries among a claim (they
  leave *E-mails failing* while sent), the delivered rows (off *Notifications
  overdue*), each failure. Locks are taken as every change to notifications takes them
  (``models.NotificationQuerySet``): the children, in id order, then their rows, so the
  worker and a request changing the same child's notifications queue at the child
  rather than deadlock. The claim, which holds its rows from the moment it reads them,
  never waits: a retry whose child another transaction holds is left for the next.
- When recording the outcome hits a dropped database connection, the worker reconnects
  and records it again (a few times) rather than leave the row for the lease to run
  out, which would send it twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import queue
import re
import smtplib
import threading
from collections.abc import Callable

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.db import DatabaseError, transaction
from django.db import connections as db_connections
from django.db.models import Case, DateTimeField, F, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from missingkids.accounts.models import User
from missingkids.bulk import bulk_insert

from .asks import EMAIL_RELATED
from .emails import EmailRenderer
from .models import DeliveryAttempt, EmailRequeue, Method, Notification, lock_children
from .processes import drop_connection, refresh_connection
from .sharing import record_checks_emailed
from .signals import notifications_written

logger = logging.getLogger(__name__)

D = Notification.Delivery
S = Notification.Status

# A delivery attempt's columns, written for a slice's deliveries at once.
ATTEMPT_COLUMNS = ("notification_id", "attempted_at", "succeeded", "error", "worker")

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
    return _waiting(now) | _abandoned(now)


def _waiting(now: dt.datetime) -> Q:
    """Queued or due a retry (the partial index notification_claim_idx)."""
    return Q(delivery__in=[D.QUEUED, D.RETRYING], next_attempt_at__lte=now)


def _abandoned(now: dt.datetime) -> Q:
    """Claimed by a worker whose lease has run out (notification_sending_idx)."""
    return Q(delivery=D.SENDING, claimed_at__lt=now - claim_lease())


def batch_size() -> int:
    return settings.EMAIL_SEND_BATCH


def claim_next(*, worker: str, now: dt.datetime | None = None) -> Notification | None:
    """Claim one notification ready to send, or return None when there is none."""
    claimed = claim_batch(worker=worker, now=now, size=1)
    return claimed[0] if claimed else None


def claim_batch(*, worker: str, now: dt.datetime | None = None, size: int) -> list[Notification]:
    """Claim up to ``size`` notifications ready to send, oldest first: those whose
    worker's lease ran out, then those queued or due a retry; read with everything
    their e-mails show.

    The claim is one transaction, committed before the caller sends anything."""
    now = now or timezone.now()
    return _read_claimed(_claim(worker=worker, now=now, size=size), worker=worker, now=now)


# A claimed row's id and the state it was claimed from (what it goes back to if unsent).
Claim = tuple[int, str]


def _claim(*, worker: str, now: dt.datetime, size: int) -> list[Claim]:
    """Claim up to ``size`` rows (see ``claim_batch``): the rows tried, in order, with the
    state each was in; a row another worker took in between is not read back as ours
    (``_read_claimed``)."""
    with transaction.atomic():
        abandoned = list(
            _locked(Notification.objects.filter(_abandoned(now)).order_by("claimed_at", "id"))[
                :size
            ]
        )
        waiting = list(
            _locked(Notification.objects.filter(_waiting(now)).order_by("next_attempt_at", "id"))[
                : size - len(abandoned)
            ]
        )
        candidates = _retries_children_held(abandoned + waiting)
        if not candidates:
            return []
        if transaction.get_connection().features.has_select_for_update_skip_locked:
            # The rows read are locked until this transaction ends: no other worker can
            # have changed them, and one short condition names them all.
            seen = Q(pk__in=[pk for pk, _delivery, _claimed_at, _child in candidates])
        else:
            # Match exactly what we read: if another worker claimed a row in between (on
            # SQLite, which has no row locks), its delivery or claimed_at has changed and
            # the UPDATE leaves it alone.
            seen = Q()
            for pk, delivery, claimed_at, _child in candidates:
                seen |= Q(pk=pk, delivery=delivery) & (
                    Q(claimed_at=claimed_at)
                    if claimed_at is not None
                    else Q(claimed_at__isnull=True)
                )
        Notification.objects.filter(seen, _claimable(now)).update_unannounced(
            delivery=D.SENDING, claimed_at=now, claimed_by=worker
        )
        retries = [(pk, child) for pk, delivery, _at, child in candidates if delivery == D.RETRYING]
        if retries:
            # A retry being sent is no longer "failing, will retry" (E-mails failing).
            notifications_written.send(
                sender=Notification,
                child_ids={child for _pk, child in retries},
                fields={"delivery"},
                pks=[pk for pk, _child in retries],
            )
    return [(pk, delivery) for pk, delivery, _claimed_at, _child in candidates]


def _retries_children_held(candidates: list[tuple]) -> list[tuple]:
    """The candidates, less the retries whose child another transaction holds locked.

    What a claim changes shows on the managers' lists only for the retries among it
    (they leave *E-mails failing* while they are sent); a row claimed from the queue, or
    from a worker whose lease ran out, was on no list and is on none. So only the
    retries' children are locked (to keep their rows: ``oversight.due``), and as the
    claim already holds its rows' locks, which in the usual order (see
    ``models.NotificationQuerySet``) come after the children's, a child another
    transaction holds is skipped rather than waited for: its retry is left for the next
    claim, and the claim never waits for anything while it holds rows."""
    children = {child for _pk, delivery, _at, child in candidates if delivery == D.RETRYING}
    if not children:
        return candidates
    held = lock_children(children, skip_locked=True)
    return [row for row in candidates if row[1] != D.RETRYING or row[3] in held]


def _read_claimed(claims: list[Claim], *, worker: str, now: dt.datetime) -> list[Notification]:
    """The claimed rows among ``claims``, in order, with everything the e-mails read
    (EMAIL_RELATED): rendering them asks nothing more of the database."""
    if not claims:
        return []
    order = {pk: (n, delivery) for n, (pk, delivery) in enumerate(claims)}
    claimed = list(
        Notification.objects.select_related(*EMAIL_RELATED).filter(
            pk__in=order, delivery=D.SENDING, claimed_by=worker, claimed_at=now
        )
    )
    claimed.sort(key=lambda notification: order[notification.pk][0])
    for notification in claimed:
        # What to give the row back as if it is not sent (see release).
        notification.claimed_from = order[notification.pk][1]
    return claimed


def _locked(rows: QuerySet[Notification]) -> QuerySet[Notification]:
    """The rows' keys, states and children, locked (PostgreSQL) and skipped if another worker has
    them locked; SQLite has no row locks and ignores this."""
    return rows.select_for_update(skip_locked=True).values_list(
        "pk", "delivery", "claimed_at", "child_id"
    )


def release(notifications: list[Notification], *, worker: str) -> int:
    """Give back claimed notifications that were not sent: queued (or due a retry) as
    before, ready for the next claim. A row whose lease had run out before we claimed it
    goes back to the queue rather than to the worker that lost it."""
    released = 0
    for claimed_at in {notification.claimed_at for notification in notifications}:
        claims = [
            (notification.pk, getattr(notification, "claimed_from", D.QUEUED))
            for notification in notifications
            if notification.claimed_at == claimed_at
        ]
        released += _release(claims, worker=worker, claimed_at=claimed_at)
    return released


def _release(claims: list[Claim], *, worker: str, claimed_at: dt.datetime | None) -> int:
    """``release`` for rows claimed at ``claimed_at``, known by their claims (whether
    read or not): an update for each state they go back to, whatever their number."""
    released = 0
    for previous in {delivery for _pk, delivery in claims}:
        rows = Notification.objects.filter(
            pk__in=[pk for pk, delivery in claims if delivery == previous],
            delivery=D.SENDING,
            claimed_by=worker,
            claimed_at=claimed_at,
        )
        back: Case | str = previous
        if previous == D.SENDING:
            # Taken over from a worker whose lease ran out: due a retry if it had failed.
            back = Case(When(attempt_count__gt=0, then=Value(D.RETRYING)), default=Value(D.QUEUED))
        if previous == D.QUEUED:
            # Back in the queue: on no list before or after.
            released += rows.update_unannounced(delivery=back, claimed_at=None, claimed_by="")
        else:
            # Due a retry again: back on E-mails failing.
            released += rows.update(delivery=back, claimed_at=None, claimed_by="")
    return released


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


class MailConnection:
    """One connection to the mail server for a batch: opened by the first message that
    needs it (so a refused connection is that message's temporary failure, retried
    like any other), closed after the batch, and after a temporary failure (the next
    message opens a fresh one)."""

    def __init__(self) -> None:
        self.backend: BaseEmailBackend = mailers.default
        self.is_open = False

    def send(self, message: EmailMessage) -> None:
        if not self.is_open:
            self.backend.open()
            self.is_open = True
        self.backend.send_messages([message])

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            try:
                self.backend.close()
            except Exception:
                logger.warning("Closing the connection to the mail server failed", exc_info=True)


def _send(
    notification: Notification,
    *,
    mailer: MailConnection | None = None,
    renderer: EmailRenderer | None = None,
) -> None:
    """Send one e-mail, over ``mailer`` (a connection kept open for a batch) if given,
    rendered by ``renderer`` (the batch's) if given."""
    message = (renderer or EmailRenderer()).email(notification)
    if mailer is None:
        mailers.default.send_messages([message])
    else:
        mailer.send(message)


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


def _held(notifications: list[Notification], worker: str) -> Q:
    """The rows of ``notifications`` still claimed by ``worker`` as it claimed them."""
    held = Q()
    for claimed_at in {notification.claimed_at for notification in notifications}:
        held |= Q(
            pk__in=[n.pk for n in notifications if n.claimed_at == claimed_at],
            claimed_at=claimed_at,
        )
    return held & Q(delivery=D.SENDING, claimed_by=worker)


def _record_successes(
    notifications: list[Notification], *, worker: str, sent_at: dict[int, dt.datetime]
) -> set[int]:
    """Record e-mails the mail server took (each at its ``sent_at``), in the same few
    statements however many there are; the ids recorded (the others' claims were lost
    while sending)."""
    if not notifications:
        return set()
    with transaction.atomic():
        # The children first, in id order, then the rows (the order every change to
        # notifications takes: see models.NotificationQuerySet): the managers' overdue
        # lists are kept for the rows delivered, below.
        lock_children({notification.child_id for notification in notifications})
        # Kept whatever happens next: an attempt on a lost claim shows the possible
        # duplicate.
        bulk_insert(
            DeliveryAttempt,
            ATTEMPT_COLUMNS,
            [
                DeliveryAttempt(
                    notification=notification,
                    attempted_at=sent_at[notification.pk],
                    succeeded=True,
                    worker=worker,
                )
                for notification in notifications
            ],
        )
        mine = set(
            Notification.objects.filter(_held(notifications, worker))
            .select_for_update()
            .values_list("pk", flat=True)
        )
        if mine:
            # One UPDATE: each row is written once. Someone may have phoned and recorded
            # it meanwhile (no longer "due"): their record stands.
            due = Q(status=S.DUE)
            Notification.objects.filter(pk__in=mine).update_unannounced(
                delivery=D.DELIVERED,
                claimed_at=None,
                claimed_by="",
                next_attempt_at=None,
                attempt_count=F("attempt_count") + 1,
                last_error="",
                failing_since=None,
                status=Case(When(due, then=Value(S.SENT)), default=F("status")),
                method=Case(When(due, then=Value(Method.EMAIL)), default=F("method")),
                told_at=Case(When(due, then=_each(sent_at, mine)), default=F("told_at")),
            )
            # Only these rows changed, from "sending" (on no list of e-mails failing):
            # their rows are kept again, not every notification of their children.
            notifications_written.send(
                sender=Notification,
                child_ids={n.child_id for n in notifications if n.pk in mine},
                fields={"status", "delivery", "failing_since"},
                pks=sorted(mine),
            )
        for notification in notifications:
            if notification.pk not in mine:
                # The lease ran out mid-send and another worker took the row over; it
                # records the outcome.
                logger.warning("Notification %s: claim lost while sending", notification.pk)
        # The local authority's copy of a safe and well check is the check's sharing:
        # saved with "sent", so the check and the notification agree (the batch's checks
        # together, each with its own history and event).
        record_checks_emailed(
            [notification for notification in notifications if notification.pk in mine],
            sent_at=sent_at,
        )
    return mine


def _each(times: dict[int, dt.datetime], pks: set[int]) -> Value | RawSQL:
    """Each row's own time, in one expression: ``CASE id WHEN ... END`` written out (a
    ``Case`` of a ``When`` a row took about 0.1 ms a row to build in Python, a tenth of
    the time the worker's recording thread spent on a slice)."""
    distinct = {times[pk] for pk in pks}
    if len(distinct) == 1:
        return Value(distinct.pop())
    ops = db_connections[Notification.objects.db].ops
    meta = Notification._meta
    column = f"{ops.quote_name(meta.db_table)}.{ops.quote_name(meta.pk.column)}"
    ordered = sorted(pks)
    params: list[object] = []
    for pk in ordered:
        params += [pk, ops.adapt_datetimefield_value(times[pk])]
    whens = " ".join(["WHEN %s THEN %s"] * len(ordered))
    # Only placeholders and the model's own names in the SQL.
    return RawSQL(f"CASE {column} {whens} END", params, output_field=DateTimeField())  # noqa: S611


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


def send_claimed(
    notification: Notification,
    *,
    worker: str,
    now: dt.datetime,
    mailer: MailConnection | None = None,
) -> Outcome:
    """Send one claimed notification and record the outcome."""
    outcome = _attempt(notification, worker=worker, now=now, mailer=mailer)
    if outcome is not None:
        return outcome
    delivered = _recorded(
        lambda: _record_successes([notification], worker=worker, sent_at={notification.pk: now})
    )
    return Outcome.DELIVERED if delivered else Outcome.CLAIM_LOST


def _attempt(
    notification: Notification,
    *,
    worker: str,
    now: dt.datetime,
    mailer: MailConnection | None,
    renderer: EmailRenderer | None = None,
) -> Outcome | None:
    """Send one claimed notification. A failure (or a cancellation) is recorded at
    once and its outcome returned; None when the mail server took it, for the caller
    to record (with the rest of its batch)."""
    if notification.status == S.CANCELLED:
        # Cancelled (on no list) and no longer sending (on none either): nothing shows it.
        Notification.objects.filter(_ours(notification, worker)).update_unannounced(
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
        _send(notification, mailer=mailer, renderer=renderer)
    except Exception as error:
        text = safe_error_text(error)
        permanent = is_permanent(error)
        return _recorded(
            lambda: _record_failure(
                notification, worker=worker, now=now, error=text, permanent=permanent
            )
        )
    return None


def send_next(*, worker: str, now: dt.datetime | None = None) -> Outcome | None:
    """Claim and send one notification; None when nothing is ready."""
    outcomes = send_batch(worker=worker, now=now, size=1)
    return outcomes[0] if outcomes else None


def send_batch(
    *,
    worker: str,
    now: dt.datetime | None = None,
    size: int | None = None,
    stop: Callable[[], bool] | None = None,
    pause_on_failure: bool = False,
) -> list[Outcome]:
    """Claim a batch and send it over up to ``EMAIL_SEND_CONNECTIONS`` connections to the
    mail server at once; the outcomes, in the batch's order (empty when nothing is
    ready).

    The batch is claimed at once and read ``SLICE`` rows at a time, each slice in one
    query, the next read while the last half of the one before is being sent. Its
    e-mails are rendered (from templates compiled once for the batch) and sent by the
    connections' threads, each taking the next message as it is free; the database is
    only ever spoken to from the calling thread, which records each failure as it comes
    back and the messages the mail server took together, ``SLICE`` at a time. So a
    batch of any size holds about a slice's rows in memory, and a worker killed
    mid-batch leaves at most a slice's messages (and those in hand) sent but not
    recorded. With one connection the calling thread sends them itself.

    The rest of the batch is given back unsent when ``stop`` says so (asked before each
    message), once half the lease has gone (a slow mail server never lets the lease run
    out on rows still waiting their turn), and, with ``pause_on_failure``, after a
    temporary failure (the mail server is probably away: the caller waits). The
    messages already in hand on the other connections are finished and recorded."""
    current = now or timezone.now()
    claims = _claim(worker=worker, now=current, size=size or batch_size())
    if not claims:
        return []
    senders = _Senders(
        min(connection_count(), len(claims)),
        renderer=EmailRenderer(),
        now=now,
        claimed_at=current,
        stop=stop,
        pause_on_failure=pause_on_failure,
    )
    outcomes: dict[int, Outcome] = {}  # by the row's place in the batch
    taken: list[_Result] = []  # taken by the mail server, not yet recorded
    unsent: list[Notification] = []
    read = 0  # claims read so far
    pending = 0  # rows handed to the senders whose result has not come back
    try:
        senders.start()
        while True:
            if read < len(claims) and not senders.halted and senders.wants_more(pending):
                rows = _read_claimed(claims[read : read + SLICE], worker=worker, now=current)
                for place, notification in enumerate(rows, start=read):
                    senders.hand(place, notification)
                pending += len(rows)
                read += SLICE
                continue
            if not pending:
                break
            result = senders.next_result()
            pending -= 1
            _take(result, outcomes, taken, unsent, worker=worker)
            if len(taken) >= SLICE:
                _record_taken(taken, outcomes, worker=worker)
    finally:
        # Whatever stopped the batch, the messages in hand are finished (or given up)
        # and those the mail server took are recorded.
        for result in senders.finish():
            _take(result, outcomes, taken, unsent, worker=worker)
        _record_taken(taken, outcomes, worker=worker)
    senders.raise_crash()
    # Stopped: the rows not sent, and the slices not yet read, go back.
    _give_back(unsent, worker=worker)
    _give_back_claims(claims[read:], worker=worker, claimed_at=current)
    return [outcomes[place] for place in sorted(outcomes)]


# Rows of a batch read, and deliveries recorded, at a time (see send_batch).
SLICE = 100


def connection_count() -> int:
    return settings.EMAIL_SEND_CONNECTIONS


class _Done(enum.Enum):
    SENT = "sent"  # taken by the mail server
    ERROR = "error"  # refused, or no answer
    CANCELLED = "cancelled"  # cancelled since it was queued: not sent
    NO_ADDRESS = "no_address"
    UNSENT = "unsent"  # not tried: the batch stopped first
    LOST = "lost"  # the sending thread was interrupted: left to the lease


@dataclasses.dataclass(slots=True)
class _Result:
    place: int
    notification: Notification
    done: _Done
    at: dt.datetime | None = None
    error: str = ""
    permanent: bool = False


class _Senders:
    """The batch's connections to the mail server, each in a thread of its own that
    takes the next message handed to it, renders and sends it, and hands back the
    result (nothing in these threads touches the database). With one connection there
    is no thread: the calling thread sends each message as it asks for its result.

    A message is taken by exactly one thread, once, and every message handed over
    comes back exactly once: sent, refused, or unsent when the batch was stopped first.
    """

    def __init__(
        self,
        count: int,
        *,
        renderer: EmailRenderer,
        now: dt.datetime | None,
        claimed_at: dt.datetime,
        stop: Callable[[], bool] | None,
        pause_on_failure: bool,
    ) -> None:
        self.count = max(count, 1)
        self.renderer = renderer
        self.now = now
        self.claimed_at = claimed_at
        self.stop = stop
        self.pause_on_failure = pause_on_failure
        self.work: queue.SimpleQueue[tuple[int, Notification] | None] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[_Result] = queue.SimpleQueue()
        self.halt = threading.Event()
        self.threads: list[threading.Thread] = []
        self.crash: BaseException | None = None
        self.mailer = MailConnection() if self.count == 1 else None

    @property
    def halted(self) -> bool:
        return self.halt.is_set()

    def start(self) -> None:
        if self.mailer is not None:
            return
        for number in range(self.count):
            thread = threading.Thread(target=self._serve, name=f"mail-{number + 1}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def wants_more(self, pending: int) -> bool:
        """Whether to read the next slice: while the last half of the rows in hand is
        being sent (threads), or once they are all done (the calling thread)."""
        return pending == 0 if self.mailer is not None else pending <= SLICE // 2

    def hand(self, place: int, notification: Notification) -> None:
        self.work.put((place, notification))

    def next_result(self) -> _Result:
        if self.mailer is not None:
            item = self.work.get_nowait()
            if item is None:
                raise RuntimeError("No message handed over to send")
            return self._one(*item, self.mailer)
        return self.results.get()

    def finish(self) -> list[_Result]:
        """Stop the threads once the messages in hand are done; the results not yet
        taken (rows still waiting are handed back unsent)."""
        self.halt.set()
        if self.mailer is not None:
            self.mailer.close()
            left = []
            while not self.work.empty():
                item = self.work.get_nowait()
                if item is not None:
                    left.append(_Result(item[0], item[1], _Done.UNSENT))
            return left
        for _thread in self.threads:
            self.work.put(None)
        for thread in self.threads:
            thread.join()
        left = []
        while not self.results.empty():
            left.append(self.results.get_nowait())
        return left

    def raise_crash(self) -> None:
        if self.crash is not None:
            raise self.crash

    def _serve(self) -> None:
        mailer = MailConnection()
        try:
            while (item := self.work.get()) is not None:
                try:
                    result = self._one(*item, mailer)
                except BaseException as error:  # not a mail failure: the worker is interrupted
                    self.halt.set()
                    self.crash = self.crash or error
                    result = _Result(item[0], item[1], _Done.LOST)
                self.results.put(result)
        finally:
            mailer.close()
            # Nothing here should have opened one; if anything did, it is not kept.
            db_connections.close_all()

    def _one(self, place: int, notification: Notification, mailer: MailConnection) -> _Result:
        if self.halted or self._stopping():
            self.halt.set()
            return _Result(place, notification, _Done.UNSENT)
        at = self.now or timezone.now()
        if notification.status == S.CANCELLED:
            return _Result(place, notification, _Done.CANCELLED, at)
        if not notification.recipient_email:
            return _Result(place, notification, _Done.NO_ADDRESS, at)
        try:
            _send(notification, mailer=mailer, renderer=self.renderer)
        except Exception as error:
            permanent = is_permanent(error)
            if not permanent:
                # The next message on this connection opens a fresh one.
                mailer.close()
                if self.pause_on_failure:
                    self.halt.set()
            return _Result(place, notification, _Done.ERROR, at, safe_error_text(error), permanent)
        return _Result(place, notification, _Done.SENT, at)

    def _stopping(self) -> bool:
        late = self.now is None and timezone.now() - self.claimed_at >= claim_lease() / 2
        return late or (self.stop is not None and self.stop())


def _take(
    result: _Result,
    outcomes: dict[int, Outcome],
    taken: list[_Result],
    unsent: list[Notification],
    *,
    worker: str,
) -> None:
    """Record what became of one message (the ones the mail server took are recorded
    together, by ``_record_taken``)."""
    notification = result.notification
    if result.done == _Done.SENT:
        outcomes[result.place] = Outcome.DELIVERED
        taken.append(result)
    elif result.done == _Done.UNSENT:
        unsent.append(notification)
    elif result.done == _Done.CANCELLED:
        # Cancelled (on no list) and no longer sending (on none either): nothing shows it.
        Notification.objects.filter(_ours(notification, worker)).update_unannounced(
            delivery=D.NOT_BY_EMAIL, claimed_at=None, claimed_by="", next_attempt_at=None
        )
        outcomes[result.place] = Outcome.NOT_SENT
    elif result.done in (_Done.ERROR, _Done.NO_ADDRESS):
        at = result.at or timezone.now()
        error, permanent = (
            (NO_ADDRESS, True)
            if result.done == _Done.NO_ADDRESS
            else (result.error, result.permanent)
        )
        outcomes[result.place] = _recorded(
            lambda: _record_failure(
                notification, worker=worker, now=at, error=error, permanent=permanent
            )
        )


def _record_taken(taken: list[_Result], outcomes: dict[int, Outcome], *, worker: str) -> None:
    """Record the messages the mail server took, together; empties ``taken``."""
    if not taken:
        return
    notifications = [result.notification for result in taken]
    sent_at = {result.notification.pk: result.at for result in taken if result.at is not None}
    mine = _recorded(lambda: _record_successes(notifications, worker=worker, sent_at=sent_at))
    for result in taken:
        if result.notification.pk not in mine:
            outcomes[result.place] = Outcome.CLAIM_LOST
    taken.clear()


def _give_back(notifications: list[Notification], *, worker: str) -> None:
    if notifications:
        _recorded(lambda: release(notifications, worker=worker) >= 0)


def _give_back_claims(claims: list[Claim], *, worker: str, claimed_at: dt.datetime) -> None:
    """Give back rows claimed but not yet read (the slices after a stop)."""
    if claims:
        _recorded(lambda: _release(claims, worker=worker, claimed_at=claimed_at) >= 0)


def send_due_notifications(
    *,
    worker: str,
    now: dt.datetime | None = None,
    limit: int = 50,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Send up to ``limit`` notifications that are ready; return how many were delivered.

    ``stop`` is asked before each message: once it says so, no more is sent."""
    outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
    sent = 0
    while sent < limit:
        if stop is not None and stop():
            break
        batch = send_batch(worker=worker, now=now, size=min(batch_size(), limit - sent), stop=stop)
        if not batch:
            break
        for outcome in batch:
            outcomes[outcome] += 1
        sent += len(batch)
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
