"""Who must be told, by whom, by when, and the proof that they were.

Rules are data: admins edit them, every change is kept as a RuleVersion, and each
Notification records the rule and the version that produced it. Notifications are
computed from the incidents app's protocol events (CaseEvent rows) and from the clock
(still missing at 24 hours, ...); this app reads incidents, never the other way round.

Store the deadline, derive the state: a notification keeps ``due_at`` and a small
status; "overdue" is worked out when it is read (``Notification.is_overdue``), so pages
are right even when the worker is behind.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from incidents.models import CaseEvent, Child, Episode, RiskGrade
from missingkids import policy
from missingkids.accounts.models import Agency, Contact
from missingkids.choices import QuickChoiceLabels

_INTERVIEW_HOURS = policy.hours(policy.interview_due_after())
_SAFE_AND_WELL_HOURS = policy.hours(policy.safe_and_well_due_after())


class Step(models.TextChoices):
    """Protocol steps a rule can hang on: an event, or a time after one."""

    REPORTED = "reported", "Reported missing"
    STILL_MISSING_24H = "still_missing_24h", "Still missing at 24 hours"
    STILL_MISSING_72H = "still_missing_72h", "Still missing at 72 hours"
    STILL_MISSING_7D = "still_missing_7d", "Still missing at 7 days"
    RETURNED = "returned", "Found or returned"
    SAFE_AND_WELL_DONE = "safe_and_well_done", "Safe and well check done"
    SAFE_AND_WELL_DUE = (
        "safe_and_well_due",
        f"Safe and well check not done {_SAFE_AND_WELL_HOURS} hours after return",
    )
    INTERVIEW_DONE = "interview_done", "Return interview held or declined"
    INTERVIEW_DUE = (
        "interview_due",
        f"Return interview not done {_INTERVIEW_HOURS} hours after return",
    )
    REPEAT_THRESHOLD = "repeat_threshold", "Repeat missing threshold reached"
    NOT_ENGAGING = "not_engaging", "Interview attempts failing (not engaging)"
    PROFILE_SHARED = "profile_shared", "Missing person profile shared"


# Steps that fall due after a time rather than on an event, with how long after what.
# The reminders after a return fall due at the protocol's deadlines (missingkids.policy),
# the same instants as the stored ReturnInterview.due_at and Episode.safe_and_well_due_at.
TIMED_STEPS: dict[str, tuple[str, dt.timedelta]] = {
    # Still missing at 24 hours: the escalation at which a strategy discussion falls due.
    Step.STILL_MISSING_24H: ("last_seen", policy.strategy_discussion_due_after()),
    Step.STILL_MISSING_72H: ("last_seen", dt.timedelta(hours=72)),
    Step.STILL_MISSING_7D: ("last_seen", dt.timedelta(days=7)),
    Step.SAFE_AND_WELL_DUE: ("found", policy.safe_and_well_due_after()),
    Step.INTERVIEW_DUE: ("found", policy.interview_due_after()),
}

# Which protocol event kinds start which event steps.
EVENT_STEPS: dict[str, list[str]] = {
    CaseEvent.Kind.REPORTED: [Step.REPORTED, Step.REPEAT_THRESHOLD],
    CaseEvent.Kind.RETURNED: [Step.RETURNED],
    CaseEvent.Kind.SAFE_AND_WELL_DONE: [Step.SAFE_AND_WELL_DONE],
    CaseEvent.Kind.INTERVIEW_HELD: [Step.INTERVIEW_DONE],
    # A decline may make a stuck case: declined after each of the last N returns.
    CaseEvent.Kind.INTERVIEW_DECLINED: [Step.INTERVIEW_DONE, Step.NOT_ENGAGING],
    CaseEvent.Kind.INTERVIEW_ATTEMPT: [Step.NOT_ENGAGING],
    CaseEvent.Kind.PROFILE_SHARED: [Step.PROFILE_SHARED],
}


class Condition(models.TextChoices):
    ANY = "any", "Any episode"
    STILL_OPEN = "still_open", "Child still missing"
    IN_CARE = "in_care", "Child in care"
    OUT_OF_AREA = "out_of_area", "Child placed out of area"
    RISK_AT_LEAST = "risk_at_least", "Risk at or above a grade"
    INVOLVED = "involved", "Recipient agency involved with the child"
    REPEAT = "repeat", "N episodes in D days"
    FAILED_ATTEMPTS = "failed_attempts", "N failed interview attempts"


class TellerKind(models.TextChoices):
    """Which agency must do the telling."""

    POLICE = "police", "Police"
    RESPONSIBLE_LA = "responsible_la", "Responsible local authority"
    REPORTING_AGENCY = "reporting_agency", "Reporting agency (else responsible local authority)"
    PROVIDER = "provider", "Return-interview provider"


class RecipientRole(models.TextChoices):
    """Who must be told, resolved per child."""

    RESPONSIBLE_LA = "responsible_la", "Responsible local authority"
    HOST_LA = "host_la", "Host local authority"
    IRO = "iro", "Independent reviewing officer"
    SOCIAL_WORKER = "social_worker", "Allocated social worker"
    GP = "gp", "GP practice"
    SCHOOL = "school", "School"
    SCHOOL_NURSE = "school_nurse", "School nurse"
    PROVIDER = "provider", "Return-interview provider"
    TEAM_MANAGER = "team_manager", "Team manager"
    HEAD_OF_SERVICE = "head_of_service", "Head of service"
    DIRECTOR = "director", "Director of children's services"
    POLICE = "police", "Police"


class Method(models.TextChoices):
    EMAIL = "email", "E-mail"
    SECURE_EMAIL = "secure_email", "Secure e-mail"
    PHONE = "phone", "Phone"
    IN_PERSON = "in_person", "In person"
    MEETING = "meeting", "Meeting"


class Rule(models.Model):
    """One line of the partnership's "who must be told, and when" table."""

    name = models.CharField(max_length=200)
    step = models.CharField(max_length=30, choices=Step)
    condition = models.CharField(max_length=20, choices=Condition, default=Condition.ANY)
    risk_at_least = models.CharField(
        max_length=20, choices=RiskGrade, blank=True, help_text="For 'risk at or above a grade'."
    )
    threshold_count = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="N, for 'N episodes in D days' or 'N failed attempts'."
    )
    threshold_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="D, for 'N episodes in D days'."
    )
    teller = models.CharField("who must tell", max_length=20, choices=TellerKind)
    recipient = models.CharField("whom", max_length=20, choices=RecipientRole)
    use_out_of_hours_contact = models.BooleanField(
        default=False,
        help_text="Outside office hours, tell the recipient's out-of-hours contact.",
    )
    due_after_hours = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Hours after the event (or the step falling due); 0 means at once.",
    )
    due_after_hours_if_high_risk = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="A shorter time when the child is graded high risk, if any.",
    )
    send_email = models.BooleanField(
        "send an e-mail automatically",
        default=True,
        help_text="If not, the teller records how they told the recipient (phone, meeting).",
    )
    message = models.CharField(
        max_length=300, blank=True, help_text="What the recipient is asked to do, if anything."
    )
    basis = models.TextField(
        max_length=policy.FREE_TEXT_MAX_LENGTH,
        help_text="Why this rule exists: guidance, protocol or audit finding.",
    )
    active = models.BooleanField(default=True)
    # The rules the service ships (notifications/defaults.py) carry the partnership's
    # protocol and statutory guidance: one can be switched off only with a reason,
    # which the managers' dashboard shows for as long as it is off.
    statutory = models.BooleanField(
        "shipped by default (statutory)",
        default=False,
        editable=False,
        help_text="One of the protocol's rules: switching it off needs a reason.",
    )
    switched_off_reason = models.TextField(
        "reason for switching it off",
        blank=True,
        max_length=policy.FREE_TEXT_MAX_LENGTH,
        help_text="Needed to switch off a rule shipped by default; shown to every manager "
        "on their dashboard while the rule is off.",
    )
    switched_off_at = models.DateTimeField(null=True, blank=True, editable=False)
    switched_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        editable=False,
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        editable=False,
    )

    class Meta:
        ordering = ["step", "recipient", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(due_after_hours__gte=0)
                & (
                    Q(due_after_hours_if_high_risk__isnull=True)
                    | Q(due_after_hours_if_high_risk__gte=0)
                ),
                name="rule_delays_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.condition == Condition.RISK_AT_LEAST and not self.risk_at_least:
            errors["risk_at_least"] = "Choose the risk grade this rule starts at."
        if self.condition == Condition.REPEAT:
            if not self.threshold_count or self.threshold_count < 2:
                errors["threshold_count"] = "A repeat threshold needs at least 2 episodes."
            if not self.threshold_days:
                errors["threshold_days"] = "Give the number of days the episodes fall within."
        if self.condition == Condition.FAILED_ATTEMPTS and not self.threshold_count:
            errors["threshold_count"] = "Give the number of failed attempts."
        if self.condition == Condition.REPEAT and self.step != Step.REPEAT_THRESHOLD:
            errors["condition"] = (
                "'N episodes in D days' only applies to the repeat threshold step."
            )
        if self.condition == Condition.FAILED_ATTEMPTS and self.step != Step.NOT_ENGAGING:
            errors["condition"] = "'N failed attempts' only applies to the not-engaging step."
        if self.condition == Condition.STILL_OPEN and self.step not in (
            Step.STILL_MISSING_24H,
            Step.STILL_MISSING_72H,
            Step.STILL_MISSING_7D,
            Step.REPORTED,
        ):
            errors["condition"] = "'Child still missing' cannot hold once the child has returned."
        if self.step == Step.REPEAT_THRESHOLD and self.condition != Condition.REPEAT:
            errors["condition"] = (
                "The repeat threshold step needs the 'N episodes in D days' condition."
            )
        if self.step == Step.NOT_ENGAGING and self.condition != Condition.FAILED_ATTEMPTS:
            errors["condition"] = "The not-engaging step needs the 'N failed attempts' condition."
        if self.statutory and not self.active and not self.switched_off_reason.strip():
            errors["switched_off_reason"] = (
                "Give the reason for switching off a rule shipped by default: every "
                "manager sees it on their dashboard."
            )
        if (
            self.due_after_hours_if_high_risk is not None
            and self.due_after_hours is not None
            and self.due_after_hours_if_high_risk > self.due_after_hours
        ):
            errors["due_after_hours_if_high_risk"] = (
                "The time for a high-risk child cannot be longer than the usual time."
            )
        if errors:
            raise ValidationError(errors)

    def due_after(self, *, high_risk: bool) -> dt.timedelta:
        hours = self.due_after_hours
        if high_risk and self.due_after_hours_if_high_risk is not None:
            hours = self.due_after_hours_if_high_risk
        return dt.timedelta(hours=float(hours))


class RuleVersion(models.Model):
    """A rule as it stood after each change, with who made the change and when."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    data = models.JSONField()
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["rule", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "version"], name="rule_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} v{self.version}"


# The fields the managers' overdue lists are made of: a change to one of them made
# without ``post_save`` is announced (``notifications.signals.notifications_written``).
LISTED_FIELDS = frozenset(
    {
        "status", "due_at", "problem", "responsible_agency", "responsible_agency_id",
        "delivery", "failing_since", "created_at", "child", "child_id", "episode",
        "episode_id",
    }
)  # fmt: skip


def lock_children(child_ids: set[int] | models.QuerySet, *, skip_locked: bool = False) -> set[int]:
    """Lock these children's rows (PostgreSQL; SQLite has no row locks), in id order, in
    the caller's transaction: the ids locked. With ``skip_locked``, those another
    transaction holds are left out rather than waited for."""
    return set(
        Child.objects.select_for_update(skip_locked=skip_locked)
        .filter(pk__in=child_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


class NotificationQuerySet(models.QuerySet):
    """Announces the changes ``bulk_create`` and ``update`` make, which send no
    ``post_save`` (the engine and the e-mail worker write notifications so).

    **Lock order: the children, then their notifications.** What keeps rows derived from
    notifications (``oversight.due.sync_children``) locks the children, in id order, and
    so do the engine's changes to an episode's facts before they change its
    notifications. An ``update`` inside a transaction therefore locks the rows'
    children first (in id order) and only then the rows: two transactions changing one
    child's notifications wait for each other at the child, rather than each holding a
    notification or a child the other waits for (a deadlock). Outside a transaction the
    update is committed before the announcement is acted on, and holds nothing while it
    is."""

    def bulk_create(self, objs, *args, **kwargs):  # type: ignore[no-untyped-def]
        from .signals import notifications_written

        objs = list(objs)
        created = super().bulk_create(objs, *args, **kwargs)
        if objs:
            notifications_written.send(
                sender=Notification, child_ids={obj.child_id for obj in objs}
            )
        return created

    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        from .signals import notifications_written

        if LISTED_FIELDS.isdisjoint(kwargs):
            return super().update(**kwargs)
        # Read before the change: the filter may no longer match the rows after it.
        rows_children = self.order_by().values("child_id")
        if transaction.get_connection(self.db).in_atomic_block:
            child_ids = lock_children(rows_children)
        else:
            child_ids = set(rows_children.values_list("child_id", flat=True))
        updated = super().update(**kwargs)
        if updated and child_ids:
            notifications_written.send(
                sender=Notification, child_ids=child_ids, fields=LISTED_FIELDS & set(kwargs)
            )
        return updated

    update.alters_data = True  # type: ignore[attr-defined]

    def update_unannounced(self, **kwargs):  # type: ignore[no-untyped-def]
        """``update`` announcing nothing: for a caller that knows which of its rows the
        change can move on the managers' lists and announces only those itself (the
        e-mail worker, ``notifications.sending``), its rows' children locked first."""
        return super().update(**kwargs)

    update_unannounced.alters_data = True  # type: ignore[attr-defined]


class Notification(QuickChoiceLabels, models.Model):
    """One recipient who must be told about one episode under one rule."""

    class Status(models.TextChoices):
        DUE = "due", "Due"
        SENT = "sent", "Sent"
        TOLD = "told", "Recorded as told"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        CANCELLED = "cancelled", "Cancelled"

    DONE_STATUSES: ClassVar[tuple[str, ...]] = ("sent", "told", "acknowledged", "cancelled")

    class Delivery(models.TextChoices):
        NOT_BY_EMAIL = "none", "Not sent by e-mail"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered to the mail server"
        RETRYING = "retrying", "Failed, will retry"
        FAILED = "failed", "Failed"

    # Indexed by notification_episode_idx, which starts with it: one index fewer for
    # every write to a notification to keep.
    episode = models.ForeignKey(
        Episode, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(
        CaseEvent, on_delete=models.SET_NULL, related_name="notifications", null=True, blank=True
    )
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="notifications")
    rule_version = models.PositiveIntegerField()
    step = models.CharField(max_length=30, choices=Step)
    recipient_role = models.CharField(max_length=20, choices=RecipientRole)
    # "agency:<id>" or "none": part of the uniqueness key, so a retry of the same
    # computation can never add a second row for the same recipient.
    recipient_key = models.CharField(max_length=40)
    recipient_agency = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        related_name="notifications_received",
        null=True,
        blank=True,
    )
    recipient_contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, related_name="notifications", null=True, blank=True
    )
    recipient_name = models.CharField(max_length=200, blank=True)
    recipient_email = models.EmailField(blank=True)
    # No recipient could be found: shown on the episode and the admin's dashboard.
    problem = models.CharField(max_length=300, blank=True)
    responsible_agency = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        related_name="notifications_to_make",
        null=True,
        blank=True,
        help_text="The agency that must do the telling.",
    )
    due_at = models.DateTimeField()
    status = models.CharField(max_length=15, choices=Status, default=Status.DUE)
    method = models.CharField(max_length=15, choices=Method, blank=True)
    told_at = models.DateTimeField(null=True, blank=True)
    told_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    told_whom = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True, max_length=policy.FREE_TEXT_MAX_LENGTH)
    cancelled_reason = models.CharField(max_length=300, blank=True)
    # Cancelled because a changed fact means it no longer applies (not by a person, nor
    # because the task was done): such a row is due again if the fact is undone.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # Added when a fact recorded after the step made the rule apply (a placement or a
    # GP recorded the morning after the report): due from when the fact was recorded.
    late_fact = models.CharField(max_length=200, blank=True)
    late_fact_at = models.DateTimeField(null=True, blank=True)
    late_fact_event = models.ForeignKey(
        CaseEvent, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=200, blank=True)
    # E-mail delivery, claimed by one worker at a time (see notifications.sending).
    delivery = models.CharField(max_length=10, choices=Delivery, default=Delivery.NOT_BY_EMAIL)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # When the current run of temporary failures began: retried until EMAIL_RETRY_WINDOW
    # has passed since then. Cleared on delivery and when queued again.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # Overdue notifications (manager dashboard, episode checklist): not yet done.
            models.Index(
                fields=["due_at"],
                condition=Q(status="due"),
                name="notification_due_idx",
            ),
            # The sending worker's queue.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(delivery__in=["queued", "retrying", "sending"]),
                name="notification_delivery_idx",
            ),
            # The worker's claim: queued or due a retry, oldest first, read in order from
            # the index (no sort of the whole queue); and claims whose lease may have
            # run out.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(delivery__in=["queued", "retrying"]),
                name="notification_claim_idx",
            ),
            models.Index(
                fields=["claimed_at", "id"],
                condition=Q(delivery="sending"),
                name="notification_sending_idx",
            ),
            models.Index(fields=["episode", "due_at"], name="notification_episode_idx"),
            # What an agency must do (oversight.agency_work.work_rows, on the home page
            # and its full list): the notifications it must make, soonest first, read only
            # as far as the page shown.
            models.Index(
                fields=["responsible_agency", "due_at", "id"],
                condition=Q(status="due"),
                name="notification_teller_due_idx",
            ),
            # Managers' measures: notifications due in the period, whatever their status.
            models.Index(fields=["due_at", "status"], name="notification_due_status_idx"),
            # Managers' and admins' "e-mails failing": not yet done.
            models.Index(
                fields=["delivery"],
                condition=Q(delivery__in=["failed", "retrying"], status="due"),
                name="notification_failing_idx",
            ),
            # Managers' "rules that found no one to tell": newest first.
            models.Index(
                fields=["-created_at"],
                condition=~Q(problem="") & ~Q(status="cancelled"),
                name="notification_problem_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "rule", "recipient_key"],
                name="one_notification_per_episode_rule_recipient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_recipient_role_display()}: {self.get_step_display()}"

    @property
    def is_done(self) -> bool:
        return self.status in self.DONE_STATUSES

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        if self.status == self.Status.CANCELLED:
            return False
        if self.is_done:
            done_at = self.told_at
            return done_at is not None and done_at > self.due_at
        return (now or timezone.now()) > self.due_at


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    attempted_at = models.DateTimeField(default=timezone.now)
    succeeded = models.BooleanField()
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return (
            f"{'Delivered' if self.succeeded else 'Failed'} at {self.attempted_at:%Y-%m-%d %H:%M}"
        )


class EmailRequeue(models.Model):
    """A failed e-mail queued again by a person, after the address was put right."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="requeues"
    )
    requeued_at = models.DateTimeField(default=timezone.now)
    requeued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # What had gone wrong, and whether the address changed: addresses themselves are
    # not kept here (the notification holds the current one).
    previous_error = models.TextField(blank=True)
    address_changed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-requeued_at", "-id"]

    def __str__(self) -> str:
        return f"Queued again at {self.requeued_at:%Y-%m-%d %H:%M}"


class ProcessHeartbeat(models.Model):
    """The last sign of life of one background process (the /healthz check reads it)."""

    class Kind(models.TextChoices):
        WORKER = "worker", "E-mail worker"
        SCHEDULER = "scheduler", "Scheduler"

    kind = models.CharField(max_length=20, choices=Kind)
    # host:pid, or the name given with --worker-name.
    name = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    last_beat_at = models.DateTimeField()
    # Counts only (delivered, failed, events processed ...), never who or which child.
    last_counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["kind", "-last_beat_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="one_heartbeat_per_process"),
        ]
        indexes = [models.Index(fields=["kind", "-last_beat_at"], name="heartbeat_latest_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"


class PendingReevaluation(models.Model):
    """An episode whose notifications must be worked out again.

    Written in the same transaction as a change to agencies or contacts that may give
    a recipient to a notification that found nobody, and removed in the transaction
    that does the work: a failure leaves the flag for the scheduler's next pass.
    """

    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)
    requested_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Episode {self.episode_id}: {self.reason}"


class ProcessedEvent(models.Model):
    """A protocol event whose notifications have been worked out (the outbox receipt)."""

    event = models.OneToOneField(CaseEvent, on_delete=models.CASCADE, related_name="+")
    processed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Event {self.event_id}"


class OutboxMark(models.Model):
    """How far back the scheduler looks for outbox events without a receipt (one row).

    Every outbox event with an id below ``below`` had its receipt when last checked, so a
    scheduler pass reads only the events from there on (a range of the primary key), not
    the whole history: an idle pass costs the same at a million events as at a hundred.
    A full check, ``OUTBOX_SWEEP_INTERVAL`` apart, moves the mark: to the lowest event
    still without a receipt, or to just past the highest event the check before saw,
    whichever is lower. So an event committed late (its id taken before others that
    committed first) is still read, and a receipt removed by hand is noticed.
    """

    below = models.BigIntegerField(default=0)
    # Just past the highest outbox event the last full check saw.
    next_below = models.BigIntegerField(default=0)
    swept_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Outbox events from {self.below}"


class TimedStepFired(models.Model):
    """A time-based step that has been evaluated for an episode, so it is done once."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=30, choices=Step)
    evaluated_at = models.DateTimeField(default=timezone.now)
    fired = models.BooleanField(help_text="False when the condition no longer held.")

    class Meta:
        # The unique constraint's index also serves reading an episode's evaluated steps
        # (the scheduler, when the episode's next timed step falls due).
        constraints = [
            models.UniqueConstraint(fields=["episode", "step"], name="timed_step_once"),
        ]

    def __str__(self) -> str:
        return f"{self.step} for episode {self.episode_id}"
