"""Who must be told, by whom and by when: worked out from protocol events and the clock.

One function computes the rows (``notifications_for_event``, and its timed-step twin):
it reads the rules, the child's situation at the time, and the agencies involved, and
returns unsaved ``Notification`` rows. It sends nothing. ``process_event`` and
``fire_timed_steps`` save those rows; the sending worker (``notifications.sending``)
picks up the ones queued for e-mail after commit.

Idempotent by construction: an event is claimed by inserting its ``ProcessedEvent``
receipt, a timed step by inserting its ``TimedStepFired`` row, both unique, in the same
transaction as the notifications; and a notification is unique per (episode, rule,
recipient). So the same event processed twice, or two schedulers running at once, can
never add a second row.

When the record overtakes a notification (``overtaken_by_event``), the engine settles
it rather than leaving it due, and later overdue, for ever. The rule:

- A notification whose purpose the incidents record shows was met by other means is
  recorded as told, from the record: the check's sharing with the local authority
  (``safe_and_well_shared``, or a check recorded with the sharing already set) marks
  the responsible local authority's ``safe_and_well_done`` notifications told, by the
  event's actor, at the sharing time, by the method and to whom the check records
  (else secure e-mail and the agency), and stops their queued e-mail.
- A reminder step (``safe_and_well_due``, ``interview_due``) exists only to get a task
  done. Its notifications not yet made when the task is recorded are cancelled with
  the reason, when the task's event (``safe_and_well_done``, ``interview_held``,
  ``interview_declined``) is processed, or at once if the step fires after the task was
  recorded (the scheduler ran late): the row is kept, so the record shows the step fell
  due and the task came late.
- Escalations while the child is missing (``still_missing_*``) are left alone when the
  child is found after they fell due: they were due, and the escalation happened.
- "Not yet made" means status ``due``, and for a cancellation not being e-mailed at
  this moment: every change is a conditional UPDATE on that state, so a sending worker
  or a person recording the call first wins and nothing they wrote is overwritten, and
  doing it twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import holidays
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from incidents.engagement import declines_in_a_row
from incidents.models import (
    RISK_ORDER,
    CaseEvent,
    Episode,
    InterviewAttempt,
    Involvement,
    LegalStatus,
    LegalStatusPeriod,
    Placement,
    ReturnInterview,
    RiskGrade,
    RiskGrading,
    SafeAndWellCheck,
)
from missingkids.accounts.models import Agency, Contact, LocalAuthorityArea

from .models import (
    EVENT_STEPS,
    TIMED_STEPS,
    Condition,
    Method,
    Notification,
    OutboxMark,
    PendingReevaluation,
    ProcessedEvent,
    RecipientRole,
    Rule,
    Step,
    TellerKind,
    TimedStepFired,
)

logger = logging.getLogger(__name__)

K = Agency.Kind
R = RecipientRole

# Office hours in UK local time; outside them (and on England and Wales bank holidays)
# a rule may name the out-of-hours contact.
OFFICE_DAYS = range(5)  # Monday to Friday
OFFICE_OPENS = dt.time(9, 0)
OFFICE_CLOSES = dt.time(17, 0)

NO_RECIPIENT = "none"

# Roles a child's Involvement can fill directly.
INVOLVEMENT_ROLES: dict[str, str] = {
    R.SOCIAL_WORKER: Involvement.Role.SOCIAL_WORKER,
    R.IRO: Involvement.Role.IRO,
    R.GP: Involvement.Role.GP_PRACTICE,
    R.SCHOOL: Involvement.Role.SCHOOL,
    R.SCHOOL_NURSE: Involvement.Role.SCHOOL_NURSE,
    R.PROVIDER: Involvement.Role.PROVIDER,
}

# The agency kind that fills each role when nobody is recorded against the child.
ROLE_AGENCY_KINDS: dict[str, str] = {
    R.RESPONSIBLE_LA: K.LOCAL_AUTHORITY,
    R.HOST_LA: K.LOCAL_AUTHORITY,
    R.SOCIAL_WORKER: K.LOCAL_AUTHORITY,
    R.TEAM_MANAGER: K.LOCAL_AUTHORITY,
    R.HEAD_OF_SERVICE: K.LOCAL_AUTHORITY,
    R.DIRECTOR: K.LOCAL_AUTHORITY,
    R.IRO: K.IRO,
    R.PROVIDER: K.PROVIDER,
    R.GP: K.GP_PRACTICE,
    R.SCHOOL: K.SCHOOL,
    R.SCHOOL_NURSE: K.SCHOOL_NURSE,
    R.POLICE: K.POLICE,
}

MANAGER_ROLES: dict[str, str] = {
    R.TEAM_MANAGER: Contact.NotificationRole.TEAM_MANAGER,
    R.HEAD_OF_SERVICE: Contact.NotificationRole.HEAD_OF_SERVICE,
    R.DIRECTOR: Contact.NotificationRole.DIRECTOR,
}

# Health and school services are looked for where the child lives.
WHERE_CHILD_LIVES = frozenset({R.GP, R.SCHOOL, R.SCHOOL_NURSE})


@dataclass
class EpisodeFacts:
    """What the record says now about a child during one episode, read once.

    Every fact is taken from the record as it stands, by its own dates, never from
    what was known when a step happened: so who must be told comes out the same
    whatever order people typed the facts in. A fact counts for the episode when its
    dates overlap the episode (from the day the child was last seen to the day they
    were found, or open-ended while they are missing): a GP recorded the morning after
    the report, with today as the start, is involved with a child who is still
    missing. Dates are never in the future (the actions refuse them), so the answer
    does not depend on when it is worked out.
    """

    episode: Episode

    def __post_init__(self) -> None:
        episode = self.episode
        self.child = episode.child
        self.memo: dict[Any, Any] = {}
        self.first_day = timezone.localdate(episode.last_seen_at)
        self.last_day = timezone.localdate(episode.found_at) if episode.found_at else None
        self.placements = list(
            Placement.objects.filter(child_id=episode.child_id)
            .select_related("host_area")
            .order_by("-start", "-id")
        )
        self.involvements = [
            inv
            for inv in Involvement.objects.filter(child_id=episode.child_id, agency__active=True)
            .select_related("agency")
            .order_by("-start", "-id")
            if self._overlaps(inv.start, inv.end)
        ]
        periods = list(LegalStatusPeriod.objects.filter(child_id=episode.child_id))
        if periods:
            self.in_care = any(
                p.status == LegalStatus.IN_CARE and self._overlaps(p.start, p.end) for p in periods
            )
        else:
            self.in_care = self.child.is_in_care
        # Police grades only: a reporter's concern is shown on the episode, but the rules
        # ("risk at or above", the high-risk times) follow the police grade.
        gradings = list(
            RiskGrading.objects.filter(
                episode_id=episode.pk, kind=RiskGrading.Kind.POLICE
            ).order_by("graded_at", "id")
        )
        if gradings:
            self.risk_rank = max(RISK_ORDER.get(g.grade, 0) for g in gradings)
            high = [g.graded_at for g in gradings if g.grade == RiskGrade.HIGH]
            self.high_risk_since: dt.datetime | None = min(high) if high else None
        else:
            # Not yet graded by the police (rank 0), or a record made without a grading
            # history (imports, older data): the episode's grade, as from the report.
            self.risk_rank = episode.risk_rank or RISK_ORDER.get(episode.risk, 0)
            high_now = episode.risk == RiskGrade.HIGH
            self.high_risk_since = episode.reported_at if high_now else None

    # Look-ups shared by every rule and step of one evaluation (agencies serving an
    # area, their contacts): the same answer each time, asked once.

    def serving(self, kind: str, area: LocalAuthorityArea | None) -> Agency | None:
        key = ("serving", kind, area.pk if area else None)
        if key not in self.memo:
            self.memo[key] = agency_serving(kind, area)
        return self.memo[key]

    def contact(self, agency: Agency) -> Contact | None:
        key = ("contact", agency.pk)
        if key not in self.memo:
            self.memo[key] = default_contact(agency)
        return self.memo[key]

    def interview_provider(self) -> Agency | None:
        if "provider" not in self.memo:
            interview = (
                ReturnInterview.objects.filter(episode_id=self.episode.pk)
                .select_related("provider")
                .first()
            )
            self.memo["provider"] = interview.provider if interview else None
        return self.memo["provider"]

    def _overlaps(self, start: dt.date, end: dt.date | None) -> bool:
        starts_in_time = self.last_day is None or start <= self.last_day
        return starts_in_time and (end is None or end >= self.first_day)

    def placement_at(self, at: dt.datetime) -> Placement | None:
        """The placement on the day, else the latest one that overlaps the episode."""
        day = timezone.localdate(at)
        for placement in self.placements:
            if placement.is_current_on(day):
                return placement
        for placement in self.placements:
            if self._overlaps(placement.start, placement.end):
                return placement
        return None


@dataclass
class Moment:
    """An episode at the time an event happened or a timed step fell due."""

    episode: Episode
    step: str
    at: dt.datetime
    event: CaseEvent | None = None
    facts: EpisodeFacts | None = None

    def __post_init__(self) -> None:
        if self.facts is None:
            self.facts = EpisodeFacts(self.episode)
        self.child = self.episode.child
        self.placement = self.facts.placement_at(self.at)

    @property
    def known_at(self) -> dt.datetime:
        """When the step was on the record: from then on, people could act on it."""
        if self.event is not None:
            return max(self.event.recorded_at, self.at)
        return self.at

    @property
    def risk_rank(self) -> int:
        # The highest grade the episode has had: once graded high, those told of it
        # stay told, and a later lower grade never withdraws a notification.
        return self.facts.risk_rank

    @property
    def high_risk(self) -> bool:
        return self.facts.high_risk_since is not None

    @property
    def in_care(self) -> bool:
        return self.facts.in_care

    @property
    def out_of_area(self) -> bool:
        return (
            self.placement is not None
            and self.placement.host_area_id != self.child.responsible_area_id
        )

    @property
    def home_area(self) -> LocalAuthorityArea:
        return self.placement.host_area if self.placement else self.child.responsible_area

    def involvements(self, role: str) -> list[Involvement]:
        return [inv for inv in self.facts.involvements if inv.role == role]


def placement_at(episode: Episode, at: dt.datetime) -> Placement | None:
    return EpisodeFacts(episode).placement_at(at)


def in_office_hours(at: dt.datetime) -> bool:
    """Monday to Friday, 09:00 to 17:00 UK time, not on an England and Wales bank holiday."""
    local = timezone.localtime(at)
    if local.weekday() not in OFFICE_DAYS or not OFFICE_OPENS <= local.time() < OFFICE_CLOSES:
        return False
    return local.date() not in bank_holidays(local.year)


@functools.cache
def bank_holidays(year: int) -> frozenset[dt.date]:
    """England and Wales bank holidays of a year, from the maintained ``holidays`` data."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


# Conditions ---------------------------------------------------------------------------


def condition_holds(rule: Rule, moment: Moment) -> bool:
    """Whether the rule's condition holds at the moment (``involved`` is decided when the
    recipient is resolved: it holds exactly when an involvement is found)."""
    condition = rule.condition
    episode = moment.episode
    if condition in (Condition.ANY, Condition.INVOLVED):
        return True
    if condition == Condition.STILL_OPEN:
        return episode.found_at is None or episode.found_at > moment.at
    if condition == Condition.IN_CARE:
        return moment.in_care
    if condition == Condition.OUT_OF_AREA:
        return moment.out_of_area
    if condition == Condition.RISK_AT_LEAST:
        return moment.risk_rank >= RISK_ORDER.get(rule.risk_at_least, 99)
    if condition == Condition.REPEAT:
        if not rule.threshold_count or not rule.threshold_days:
            return False
        since = moment.at - dt.timedelta(days=rule.threshold_days)
        count = Episode.objects.filter(
            child_id=episode.child_id, last_seen_at__gte=since, last_seen_at__lte=moment.at
        ).count()
        return count >= rule.threshold_count
    if condition == Condition.FAILED_ATTEMPTS:
        if not rule.threshold_count:
            return False
        if moment.event is not None and moment.event.kind == CaseEvent.Kind.INTERVIEW_DECLINED:
            # Declined after each of the last N returns is a stuck case too.
            return declined_each_time(episode.child_id, moment.at) >= rule.threshold_count
        failed = InterviewAttempt.objects.filter(
            interview__episode_id=episode.pk,
            outcome__in=InterviewAttempt.FAILED_OUTCOMES,
            attempted_at__lte=moment.at,
        ).count()
        return failed >= rule.threshold_count
    return False


def declined_each_time(child_id: int, at: dt.datetime) -> int:
    """How many of the child's latest interviews done by ``at`` were declined in a row
    (``incidents.engagement``'s rule, as at the moment)."""
    outcomes = (
        ReturnInterview.objects.filter(episode__child_id=child_id)
        .filter(Q(held_at__lte=at) | Q(declined_at__lte=at))
        .order_by("-episode__last_seen_at", "-id")
        .values_list("outcome", flat=True)
    )
    return declines_in_a_row(outcomes)


# Recipients ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    agency: Agency | None
    contact: Contact | None = None
    name: str = ""
    email: str = ""
    problem: str = ""

    @property
    def key(self) -> str:
        if self.problem or self.agency is None:
            return NO_RECIPIENT
        return f"agency:{self.agency.pk}"


def agency_serving(kind: str, area: LocalAuthorityArea | None) -> Agency | None:
    if area is None:
        return None
    return Agency.objects.filter(kind=kind, active=True, areas=area).order_by("name", "id").first()


def default_contact(agency: Agency) -> Contact | None:
    """The contact an agency names for notifications, else its first general contact."""
    contacts = agency.contacts.filter(active=True, out_of_hours=False, notification_role="")
    return contacts.filter(is_default=True).order_by("id").first() or (
        None if agency.email else contacts.order_by("name", "id").first()
    )


def out_of_hours_contact(agency: Agency) -> Contact | None:
    return (
        agency.contacts.filter(active=True, out_of_hours=True).order_by("-is_default", "id").first()
    )


def _at_agency(agency: Agency, contact: Contact | None) -> Recipient:
    if contact is not None:
        return Recipient(
            agency=agency, contact=contact, name=contact.name, email=contact.email or agency.email
        )
    # No contact named: the agency's shared mailbox, if it has one.
    return Recipient(agency=agency, name=agency.name, email=agency.email)


def _from_involvement(involvement: Involvement) -> Recipient:
    agency = involvement.agency
    if involvement.professional_email:
        return Recipient(
            agency=agency,
            name=involvement.professional_name or agency.name,
            email=involvement.professional_email,
        )
    fallback = _at_agency(agency, default_contact(agency))
    if involvement.professional_name:
        # Named but no e-mail: address the person, through the agency's contact.
        return Recipient(
            agency=agency,
            contact=fallback.contact,
            name=involvement.professional_name,
            email=fallback.email,
        )
    return fallback


def _problem(role: str, where: object, agency: Agency | None = None) -> Recipient:
    label = str(RecipientRole(role).label)
    # Keep "IRO" and "GP" in capitals; lower-case the rest to read as a sentence.
    words = " ".join(w if w.isupper() else w.lower() for w in label.split())
    return Recipient(
        agency=agency, problem=f"No {words} configured for {where}: ask an admin to add one"
    )


def resolve_recipients(rule: Rule, moment: Moment) -> list[Recipient]:
    """Who the rule tells about this child: involved first, then the area's default.

    An empty list means the rule does not apply (an ``involved`` rule with nobody
    involved); a recipient with a ``problem`` means it applies but nobody is set up.
    """
    role = rule.recipient
    child = moment.child
    involved_role = INVOLVEMENT_ROLES.get(role)
    involvements = moment.involvements(involved_role) if involved_role else []
    if rule.condition == Condition.INVOLVED:
        recipients = _distinct([_from_involvement(inv) for inv in involvements])
        return [_out_of_hours(rule, moment, r) for r in recipients]

    if role in MANAGER_ROLES:
        la = moment.facts.serving(K.LOCAL_AUTHORITY, child.responsible_area)
        if la is None:
            return [_problem(R.RESPONSIBLE_LA, child.responsible_area)]
        manager = (
            la.contacts.filter(active=True, notification_role=MANAGER_ROLES[role])
            .order_by("-is_default", "id")
            .first()
        )
        if manager is None:
            return [_problem(role, child.responsible_area, agency=la)]
        return [_at_agency(la, manager)]

    if involvements:
        recipient = _from_involvement(involvements[0])
        return [_out_of_hours(rule, moment, recipient)]

    if role == R.PROVIDER:
        provider = moment.facts.interview_provider()
        if provider is not None:
            return [
                _out_of_hours(rule, moment, _at_agency(provider, moment.facts.contact(provider)))
            ]

    if role == R.POLICE:
        # The force that took the report, else the one serving where the child lives,
        # else the one serving the responsible council (as for the police as teller).
        reporter = moment.episode.reported_by_agency
        force = (
            reporter
            if reporter is not None and reporter.kind == K.POLICE
            else moment.facts.serving(K.POLICE, moment.home_area)
            or moment.facts.serving(K.POLICE, child.responsible_area)
        )
        if force is None:
            return [_problem(role, moment.home_area)]
        return [_out_of_hours(rule, moment, _at_agency(force, moment.facts.contact(force)))]

    if role == R.HOST_LA:
        if moment.placement is None:
            return [_problem(role, "a child with no current placement")]
        area = moment.placement.host_area
    elif role in WHERE_CHILD_LIVES:
        area = moment.home_area
    else:
        area = child.responsible_area
    agency = moment.facts.serving(ROLE_AGENCY_KINDS[role], area)
    if agency is None:
        return [_problem(role, area)]
    return [_out_of_hours(rule, moment, _at_agency(agency, moment.facts.contact(agency)))]


def _distinct(recipients: Iterable[Recipient]) -> list[Recipient]:
    seen: set[str] = set()
    unique = []
    for recipient in recipients:
        if recipient.key not in seen:
            seen.add(recipient.key)
            unique.append(recipient)
    return unique


def _out_of_hours(rule: Rule, moment: Moment, recipient: Recipient) -> Recipient:
    if not rule.use_out_of_hours_contact or recipient.agency is None:
        return recipient
    if in_office_hours(moment.at):
        return recipient
    contact = out_of_hours_contact(recipient.agency)
    return _at_agency(recipient.agency, contact) if contact else recipient


# Who tells ----------------------------------------------------------------------------


def resolve_teller(rule: Rule, moment: Moment) -> Agency | None:
    episode, child = moment.episode, moment.child
    reporter = episode.reported_by_agency
    if rule.teller == TellerKind.POLICE:
        if reporter is not None and reporter.kind == K.POLICE:
            return reporter
        return moment.facts.serving(K.POLICE, child.responsible_area) or moment.facts.serving(
            K.POLICE, moment.placement.host_area if moment.placement else None
        )
    la = moment.facts.serving(K.LOCAL_AUTHORITY, child.responsible_area)
    if rule.teller == TellerKind.REPORTING_AGENCY:
        return reporter or la
    if rule.teller == TellerKind.PROVIDER:
        provider = moment.facts.interview_provider()
        if provider is not None:
            return provider
        return moment.facts.serving(K.PROVIDER, child.responsible_area)
    return la


# The rows -----------------------------------------------------------------------------


def deadline(rule: Rule, moment: Moment, known_from: dt.datetime | None = None) -> dt.datetime:
    """When the teller must have told the recipient.

    From the step, or from ``known_from`` when a fact that makes the rule apply was
    recorded after the step (nobody can be late for what they could not know). The
    high-risk time applies from when the child was graded high, never before the step
    or the fact; it only ever shortens the time. Aware UTC arithmetic: 72 hours means
    72 real hours across a clock change.
    """
    start = max(moment.at, known_from) if known_from is not None else moment.at
    due = start + rule.due_after(high_risk=False)
    high_since = moment.facts.high_risk_since if moment.facts else None
    if high_since is not None and rule.due_after_hours_if_high_risk is not None:
        due = min(due, max(start, high_since) + rule.due_after(high_risk=True))
    return due


def _rows(
    moment: Moment,
    rules: Iterable[Rule],
    now: dt.datetime,
    *,
    late: LateFact | None = None,
) -> list[Notification]:
    rows: list[Notification] = []
    late = late if late is not None and late.is_late_for(moment) else None
    for rule in rules:
        if not condition_holds(rule, moment):
            continue
        recipients = resolve_recipients(rule, moment)
        if not recipients:
            continue
        teller = resolve_teller(rule, moment)
        due_at = deadline(rule, moment, late.at if late else None)
        for recipient in recipients:
            by_email = bool(rule.send_email and recipient.email and not recipient.problem)
            rows.append(
                Notification(
                    episode=moment.episode,
                    child=moment.child,
                    event=moment.event,
                    rule=rule,
                    rule_version=rule.version,
                    step=moment.step,
                    recipient_role=rule.recipient,
                    recipient_key=recipient.key,
                    recipient_agency=recipient.agency,
                    recipient_contact=recipient.contact,
                    recipient_name=recipient.name[:200],
                    recipient_email=recipient.email,
                    problem=recipient.problem[:300],
                    responsible_agency=teller,
                    due_at=due_at,
                    status=Notification.Status.DUE,
                    delivery=(
                        Notification.Delivery.QUEUED
                        if by_email
                        else Notification.Delivery.NOT_BY_EMAIL
                    ),
                    next_attempt_at=now if by_email else None,
                    late_fact_at=late.at if late else None,
                    late_fact_event=late.event if late else None,
                    late_fact=late.what[:200] if late else "",
                )
            )
    return rows


def _active_rules(steps: Iterable[str]) -> list[Rule]:
    return list(Rule.objects.filter(active=True, step__in=list(steps)).order_by("step", "id"))


def notifications_for_event(event: CaseEvent) -> list[Notification]:
    """The unsaved notifications one protocol event calls for (sends nothing)."""
    steps = EVENT_STEPS.get(event.kind, [])
    if not steps or event.episode_id is None:
        return []
    episode = _episode(event.episode_id)
    facts = EpisodeFacts(episode)
    now = timezone.now()
    rows: list[Notification] = []
    for step in steps:
        moment = Moment(episode=episode, step=step, at=event.occurred_at, event=event, facts=facts)
        rows.extend(_rows(moment, _active_rules([step]), now))
    return rows


def _episode(episode_id: int) -> Episode:
    return Episode.objects.select_related(
        "child", "child__responsible_area", "reported_by_agency"
    ).get(pk=episode_id)


def process_event(event_id: int) -> int:
    """Act on one event from the outbox, once. Returns the rows computed or changed.

    A protocol step (reported, returned, ...) adds its notifications; a changed fact
    (placement, involvement, legal status, risk grade, ...) works out again who must be
    told in every open episode of the child. Either way the receipt is written in the
    same transaction, so a failure leaves the event unprocessed, for the scheduler to
    retry, and no half-written notifications.
    """
    with transaction.atomic():
        event = CaseEvent.objects.filter(pk=event_id, is_protocol=True).first()
        if event is None:
            return 0
        # The receipt is the claim: a second process (or a retry) inserting the same
        # receipt waits for the first to commit, then finds it and does nothing.
        _, claimed = ProcessedEvent.objects.get_or_create(event_id=event_id)
        if not claimed:
            return 0
        if event.kind in REEVALUATED_BY:
            return reevaluate_for_fact(event)
        rows = notifications_for_event(event)
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        overtaken_by_event(event)
    return len(rows)


def process_event_safely(event_id: int) -> None:
    """For on_commit: never raise into the request; the scheduler catches up later."""
    try:
        process_event(event_id)
    except Exception:
        # Ids only: the log must not carry a child's details.
        logger.exception("Working out notifications for case event %s failed", event_id)


def _unprocessed() -> Any:
    return CaseEvent.objects.filter(is_protocol=True).filter(
        ~Exists(ProcessedEvent.objects.filter(event_id=OuterRef("pk")))
    )


def process_pending_events(*, limit: int = 500) -> int:
    """Process outbox events that have no receipt yet, oldest first. Only events from
    the outbox mark on are read (see OutboxMark): the work follows what is pending, not
    the years of history."""
    pending = (
        _unprocessed()
        .filter(pk__gte=outbox_mark())
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    processed = 0
    for event_id in list(pending):
        try:
            process_event(event_id)
        except Exception:
            logger.exception("Working out notifications for case event %s failed", event_id)
            continue
        processed += 1
    return processed


def outbox_mark(now: dt.datetime | None = None) -> int:
    """The lowest outbox event id that may lack a receipt, checked again in full once
    OUTBOX_SWEEP_INTERVAL has passed since the last full check."""
    now = now or timezone.now()
    mark = OutboxMark.objects.filter(pk=1).first()
    if mark is not None and mark.swept_at and now - mark.swept_at < settings.OUTBOX_SWEEP_INTERVAL:
        return mark.below
    OutboxMark.objects.get_or_create(pk=1)
    with transaction.atomic():
        # One scheduler checks at a time; another carries on with the mark as it is.
        mark = OutboxMark.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if mark is None:
            return OutboxMark.objects.values_list("below", flat=True).get(pk=1)
        lowest = _unprocessed().order_by("id").values_list("id", flat=True).first()
        highest = CaseEvent.objects.filter(is_protocol=True).aggregate(top=Max("id"))["top"]
        mark.below = mark.next_below if lowest is None else min(mark.next_below, lowest)
        mark.next_below = (highest or 0) + 1
        mark.swept_at = now
        mark.save(update_fields=["below", "next_below", "swept_at"])
    return mark.below


# When facts change --------------------------------------------------------------------

# The events that change a fact some rule's condition or recipient depends on. Each
# one re-evaluates every open episode of the child (or the one episode it is about).
REEVALUATED_BY = frozenset(
    {
        CaseEvent.Kind.RISK_REGRADED,
        CaseEvent.Kind.EPISODE_EDITED,
        CaseEvent.Kind.CHILD_EDITED,
        CaseEvent.Kind.LEGAL_STATUS_CHANGED,
        CaseEvent.Kind.PLACEMENT_ADDED,
        CaseEvent.Kind.PLACEMENT_ENDED,
        CaseEvent.Kind.INVOLVEMENT_ADDED,
        CaseEvent.Kind.INVOLVEMENT_ENDED,
        *CaseEvent.CORRECTION_KINDS,
    }
)

WITHDRAWN_BECAUSE = "No longer applies after: {what} (recorded {at})"
SUPERSEDED_BECAUSE = "A recipient was found after: {what} (recorded {at})"
RECIPIENT_CONFIGURED = "a change to agencies or contacts"


@dataclass(frozen=True)
class LateFact:
    """A fact recorded after a step it bears on.

    Notifications it adds for that step are due from when it was recorded, and say so:
    the teller is not measured as late for what nobody could know.
    """

    at: dt.datetime
    what: str
    event: CaseEvent | None = None

    @classmethod
    def of(cls, event: CaseEvent) -> LateFact:
        return cls(at=event.recorded_at, what=str(event.get_kind_display()), event=event)

    def is_late_for(self, moment: Moment) -> bool:
        return self.at > moment.known_at

    def reason(self, template: str) -> str:
        at = timezone.localtime(self.at).strftime("%d/%m/%Y %H:%M")
        return template.format(what=self.what.lower(), at=at)[:300]


def recorded_times(episode: Episode) -> dict[str, dt.datetime]:
    """When the check was done and the interview held or declined, as the record now
    says: a correction of either time moves its step's moment (never a deadline kept
    from the return as first recorded)."""
    times: dict[str, dt.datetime] = {}
    conducted = (
        SafeAndWellCheck.objects.filter(episode_id=episode.pk)
        .values_list("conducted_at", flat=True)
        .first()
    )
    if conducted is not None:
        times[CaseEvent.Kind.SAFE_AND_WELL_DONE] = conducted
    outcome = (
        ReturnInterview.objects.filter(episode_id=episode.pk)
        .values_list("held_at", "declined_at")
        .first()
    )
    if outcome is not None:
        held, declined = outcome
        if held is not None:
            times[CaseEvent.Kind.INTERVIEW_HELD] = held
        if declined is not None:
            times[CaseEvent.Kind.INTERVIEW_DECLINED] = declined
    return times


def reached_moments(episode: Episode, facts: EpisodeFacts) -> list[Moment]:
    """Every protocol step the episode has reached so far, in the order they happened."""
    times = recorded_times(episode)
    moments = [
        Moment(
            episode=episode,
            step=step,
            at=times.get(event.kind, event.occurred_at),
            event=event,
            facts=facts,
        )
        for event in CaseEvent.objects.filter(
            episode_id=episode.pk, is_protocol=True, kind__in=list(EVENT_STEPS)
        ).order_by("occurred_at", "id")
        for step in EVENT_STEPS[event.kind]
    ]
    fired = TimedStepFired.objects.filter(episode_id=episode.pk, fired=True)
    for step in fired.values_list("step", flat=True):
        due = step_falls_due_at(episode, step)
        if due is not None:
            moments.append(Moment(episode=episode, step=step, at=due, facts=facts))
    moments.sort(key=lambda m: m.at)
    return moments


def reevaluate_for_fact(event: CaseEvent) -> int:
    """Work out again the open episodes a changed fact bears on; returns rows changed."""
    if event.episode_id is not None:
        episodes = Episode.objects.filter(pk=event.episode_id, closed_at__isnull=True)
    else:
        episodes = Episode.objects.filter(child_id=event.child_id, closed_at__isnull=True)
    late = LateFact.of(event)
    return sum(
        reevaluate_episode(episode_id, late=late)
        for episode_id in episodes.order_by("id").values_list("id", flat=True)
    )


def reevaluate_episode(episode_id: int, *, late: LateFact) -> int:
    """Make the episode's notifications what the record now calls for.

    Every step reached so far is evaluated again through the same rules and the same
    facts as the first time. What now applies and is missing is added, due from when
    the fact was recorded; what no longer applies and has not been made yet is
    cancelled with the reason (kept, so the record shows it); notifications already
    sent or recorded stay as history; a re-grading to high risk shortens the deadlines
    of those still due. Returns the number of rows added or changed.
    """
    with transaction.atomic():
        # One re-evaluation of an episode at a time (PostgreSQL row lock).
        Episode.objects.select_for_update().filter(pk=episode_id).values_list("pk").first()
        episode = _episode(episode_id)
        if episode.closed_at is not None:
            return 0
        if late.event is not None and late.event.kind in CaseEvent.CORRECTION_KINDS:
            rejudge_reminders(episode)
        facts = EpisodeFacts(episode)
        moments = reached_moments(episode, facts)
        changed = reconcile(episode, moments, late=late)
        _settle_overtaken(episode.pk)
    return changed


def reconcile(episode: Episode, moments: list[Moment], *, late: LateFact) -> int:
    now = timezone.now()
    steps = sorted({m.step for m in moments})
    rules = _active_rules(steps)
    by_step: dict[str, list[Rule]] = {}
    for rule in rules:
        by_step.setdefault(rule.step, []).append(rule)
    wanted: dict[tuple[int, str], Notification] = {}
    for moment in moments:
        for row in _rows(moment, by_step.get(moment.step, []), now, late=late):
            # The first moment a rule applies at is the one that counts.
            wanted.setdefault((row.rule_id, row.recipient_key), row)
    existing = {
        (n.rule_id, n.recipient_key): n
        for n in Notification.objects.filter(episode_id=episode.pk, rule__in=rules)
    }
    added = [row for key, row in wanted.items() if key not in existing]
    Notification.objects.bulk_create(added, ignore_conflicts=True)
    changed = len(added)
    found_for_rule = {rule_id for (rule_id, key) in wanted if key != NO_RECIPIENT}
    for key, notification in existing.items():
        row = wanted.get(key)
        if row is None:
            template = (
                SUPERSEDED_BECAUSE
                if notification.recipient_key == NO_RECIPIENT
                and notification.rule_id in found_for_rule
                else WITHDRAWN_BECAUSE
            )
            changed += withdraw(notification, late.reason(template), now)
        elif notification.status == Notification.Status.CANCELLED:
            changed += reinstate(notification, row)
        elif notification.status == Notification.Status.DUE and row.due_at < notification.due_at:
            # Only ever sooner: a lower grade or a later fact never buys more time.
            changed += Notification.objects.filter(
                pk=notification.pk, status=Notification.Status.DUE, due_at__gt=row.due_at
            ).update(due_at=row.due_at)
    return changed


def withdraw(notification: Notification, reason: str, now: dt.datetime) -> int:
    """Cancel a notification that no longer applies, if nobody has made it yet."""
    not_made = Notification.objects.filter(
        pk=notification.pk, status=Notification.Status.DUE
    ).exclude(delivery=Notification.Delivery.SENDING)
    cancelled = {
        "status": Notification.Status.CANCELLED,
        "cancelled_reason": reason,
        "withdrawn_at": now,
    }
    return not_made.filter(delivery__in=_WAITING_TO_SEND).update(
        **cancelled, delivery=Notification.Delivery.NOT_BY_EMAIL, next_attempt_at=None
    ) or not_made.update(**cancelled)


# What a reinstated notification takes from the row worked out now: the recipient, the
# teller and the deadline may have changed since it was withdrawn.
REINSTATED_FIELDS = (
    "due_at",
    "recipient_agency",
    "recipient_contact",
    "recipient_name",
    "recipient_email",
    "problem",
    "responsible_agency",
    "delivery",
    "next_attempt_at",
    "failing_since",
    "late_fact_at",
    "late_fact_event",
    "late_fact",
)


def reinstate(notification: Notification, row: Notification) -> int:
    """A withdrawn notification that applies again (a fact undone) is due once more."""
    return Notification.objects.filter(
        pk=notification.pk, status=Notification.Status.CANCELLED, withdrawn_at__isnull=False
    ).update(
        status=Notification.Status.DUE,
        cancelled_reason="",
        withdrawn_at=None,
        **{name: getattr(row, name) for name in REINSTATED_FIELDS},
    )


# Events whose record overtakes notifications; replayed after a re-evaluation, so that a
# notification it adds for a task already done is settled exactly as the first ones were.
_OVERTAKING_KINDS = (
    CaseEvent.Kind.SAFE_AND_WELL_DONE,
    CaseEvent.Kind.SAFE_AND_WELL_SHARED,
    CaseEvent.Kind.INTERVIEW_HELD,
    CaseEvent.Kind.INTERVIEW_DECLINED,
)


def _settle_overtaken(episode_id: int) -> None:
    for event in CaseEvent.objects.filter(
        episode_id=episode_id, kind__in=_OVERTAKING_KINDS
    ).order_by("id"):
        overtaken_by_event(event)


def episodes_needing_recipients() -> Any:
    """Open episodes with a notification that found nobody to tell and is still due."""
    return Episode.objects.filter(
        closed_at__isnull=True,
        notifications__recipient_key=NO_RECIPIENT,
        notifications__status=Notification.Status.DUE,
    ).distinct()


def request_reevaluation(episode_ids: Iterable[int], reason: str) -> int:
    """Flag episodes to be worked out again (in the caller's transaction)."""
    now = timezone.now()
    rows = [
        PendingReevaluation(episode_id=pk, reason=reason[:200], requested_at=now)
        for pk in episode_ids
    ]
    PendingReevaluation.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def process_pending_reevaluations(*, limit: int = 200) -> int:
    """Work out again each flagged episode; a flag stays until its episode is done."""
    done = 0
    for pending in list(PendingReevaluation.objects.order_by("requested_at", "id")[:limit]):
        try:
            with transaction.atomic():
                claimed = PendingReevaluation.objects.filter(pk=pending.pk).delete()[0]
                if not claimed:
                    continue
                reevaluate_episode(
                    pending.episode_id,
                    late=LateFact(at=pending.requested_at, what=pending.reason),
                )
        except Exception:
            logger.exception("Working out episode %s again failed", pending.episode_id)
            continue
        done += 1
    return done


def process_pending_reevaluations_safely() -> None:
    try:
        process_pending_reevaluations()
    except Exception:
        logger.exception("Working out flagged episodes again failed")


# Timed steps --------------------------------------------------------------------------


@dataclass(frozen=True)
class StepBases:
    """The times an episode's timed steps count from, as the record says."""

    # The earliest last-seen time ever recorded (Episode.missing_since).
    missing_since: dt.datetime
    # The return as first recorded (Episode.first_found_at), else as recorded.
    returned: dt.datetime | None
    # The return interview's own deadline (ReturnInterview.due_at), if there is one.
    interview_due: dt.datetime | None

    @classmethod
    def of(cls, episode: Episode, interview_due: dt.datetime | None = None) -> StepBases:
        return cls(
            missing_since=episode.missing_since,
            returned=episode.first_found_at or episode.found_at,
            interview_due=interview_due,
        )

    @classmethod
    def from_values(
        cls,
        last_seen_at: dt.datetime,
        earliest_last_seen_at: dt.datetime | None,
        first_found_at: dt.datetime | None,
        found_at: dt.datetime | None,
        interview_due: dt.datetime | None,
    ) -> StepBases:
        """From a row of ``BASE_FIELDS``."""
        return cls(
            missing_since=min(filter(None, (earliest_last_seen_at, last_seen_at))),
            returned=first_found_at or found_at,
            interview_due=interview_due,
        )


# The episode's columns StepBases.from_values takes, in order (one query, with a join).
BASE_FIELDS = (
    "last_seen_at",
    "earliest_last_seen_at",
    "first_found_at",
    "found_at",
    "interview__due_at",
)


def falls_due(step: str, bases: StepBases) -> dt.datetime | None:
    """When a timed step falls due. Never later because the party measured edits a time:
    still missing at 24 hours, ..., from the earliest last-seen time recorded; the check
    reminder from the return as first recorded (a correction of the return time moves no
    deadline); the interview reminder at the interview's own deadline, set when the
    return was first recorded."""
    if step == Step.INTERVIEW_DUE and bases.interview_due is not None:
        return bases.interview_due
    base, after = TIMED_STEPS[step]
    start = bases.missing_since if base == "last_seen" else bases.returned
    return start + after if start is not None else None


def step_falls_due_at(episode: Episode, step: str) -> dt.datetime | None:
    interview_due = None
    if step == Step.INTERVIEW_DUE:
        interview_due = (
            ReturnInterview.objects.filter(episode_id=episode.pk)
            .values_list("due_at", flat=True)
            .first()
        )
    return falls_due(step, StepBases.of(episode, interview_due))


def timed_step_holds(episode: Episode, step: str, due: dt.datetime) -> bool:
    """Whether the thing the step is about was still true when the step fell due."""
    if step in (Step.STILL_MISSING_24H, Step.STILL_MISSING_72H, Step.STILL_MISSING_7D):
        return episode.found_at is None or episode.found_at > due
    if step == Step.SAFE_AND_WELL_DUE:
        return not SafeAndWellCheck.objects.filter(
            episode_id=episode.pk, conducted_at__lte=due
        ).exists()
    if step == Step.INTERVIEW_DUE:
        return not ReturnInterview.objects.filter(
            Q(held_at__lte=due) | Q(declined_at__lte=due), episode_id=episode.pk
        ).exists()
    return False


# Reminder steps judged again when the time of the task they chase is corrected.
REJUDGED_STEPS = (Step.SAFE_AND_WELL_DUE, Step.INTERVIEW_DUE)


def rejudge_reminders(episode: Episode) -> int:
    """After a corrected check or interview time: judge again, from the record as it now
    is, whether each reminder step already evaluated held when it fell due (the task not
    done by then). The step's time is the kept deadline, which nothing moves; a step that
    now holds is reached, and one that no longer holds is not. Returns the steps changed.
    """
    changed = 0
    for fired in TimedStepFired.objects.filter(episode_id=episode.pk, step__in=REJUDGED_STEPS):
        due = step_falls_due_at(episode, fired.step)
        if due is None:
            continue
        holds = timed_step_holds(episode, fired.step, due)
        if holds != fired.fired:
            changed += TimedStepFired.objects.filter(pk=fired.pk).update(fired=holds)
    return changed


def fire_timed_steps(now: dt.datetime | None = None, *, limit: int = 500) -> int:
    """Evaluate each timed step whose time has come, once per episode.

    Reads only the episodes whose next timed step is due (``Episode.next_timed_step_at``,
    from the partial index episode_next_timed_step_idx): with nothing due, a pass is
    that one indexed query, whatever the number of episodes and evaluated steps. Each
    episode is evaluated in a transaction of its own, and its next time stored again.

    The step's condition is judged as at the moment it fell due, so a child found at
    hour 23 causes no 24-hour escalation, however late the scheduler runs. Returns the
    number of steps that fired.
    """
    now = now or timezone.now()
    due = list(
        Episode.objects.filter(next_timed_step_at__lte=now)
        .order_by("next_timed_step_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    if not due:
        return 0
    rules_by_step: dict[str, list[Rule]] = {}
    for rule in _active_rules(TIMED_STEPS):
        rules_by_step.setdefault(rule.step, []).append(rule)
    fired = 0
    for episode_id in due:
        try:
            fired += _fire_due_steps(episode_id, rules_by_step, now)
        except Exception:
            logger.exception("Timed steps for episode %s failed", episode_id)
    return fired


def _fire_due_steps(episode_id: int, rules_by_step: dict[str, list[Rule]], now: dt.datetime) -> int:
    with transaction.atomic():
        # One scheduler at a time works on an episode: one that finds it held (by another
        # scheduler, or a change being saved) leaves it for its next pass.
        episode = (
            Episode.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("child", "child__responsible_area", "reported_by_agency")
            .annotate(kept_interview_due=F("interview__due_at"))
            .filter(pk=episode_id, next_timed_step_at__lte=now)
            .first()
        )
        if episode is None:
            return 0
        fired = 0
        if episode.closed_at is None:
            evaluated = set(
                TimedStepFired.objects.filter(episode_id=episode_id).values_list("step", flat=True)
            )
            bases = StepBases.of(episode, episode.kept_interview_due)
            for step, rules in rules_by_step.items():
                due = falls_due(step, bases)
                if step not in evaluated and due is not None and due <= now:
                    fired += _fire(episode, step, rules, now)
        schedule_next_timed_step(episode_id)
    return fired


# The next timed step of each episode ----------------------------------------------------


def steps_to_come(episode_id: int) -> list[str]:
    """The timed steps an active rule hangs on, not yet evaluated for the episode."""
    return list(
        Rule.objects.filter(active=True, step__in=list(TIMED_STEPS))
        .exclude(step__in=TimedStepFired.objects.filter(episode_id=episode_id).values("step"))
        .order_by()
        .values_list("step", flat=True)
        .distinct()
    )


def next_timed_step_time(bases: StepBases, steps: Iterable[str]) -> dt.datetime | None:
    """The earliest time one of these steps falls due (None: none will)."""
    return min(filter(None, (falls_due(step, bases) for step in steps)), default=None)


def schedule_next_timed_step(episode_id: int) -> dt.datetime | None:
    """Work out when the episode's next timed step falls due, and store it.

    Called in the same transaction as every change that can move it: each outbox event
    about the episode (``receivers``: the report, the return, edits, corrections, the
    check, the interview, closing) and each evaluation of its steps. The episode's row
    is locked first, so a scheduler and a change saved at the same moment store the
    time one after the other, each from the record as the other left it. Returns the
    time (None when no step is left: closed, or every step evaluated).
    """
    with transaction.atomic():
        row = (
            Episode.objects.select_for_update(of=("self",))
            .filter(pk=episode_id)
            .values_list("closed_at", "next_timed_step_at", *BASE_FIELDS)
            .first()
        )
        if row is None:
            return None
        closed_at, stored, *bases = row
        next_at = (
            next_timed_step_time(StepBases.from_values(*bases), steps_to_come(episode_id))
            if closed_at is None
            else None
        )
        if next_at != stored:
            Episode.objects.filter(pk=episode_id).update(next_timed_step_at=next_at)
    return next_at


RESCHEDULE_CHUNK = 2000


def reschedule_timed_steps(episodes: Any = None) -> int:
    """Work out again, in bulk, when the next timed step falls due for these episodes
    (a queryset; every episode if None), and store it where it changed.

    For a change to a rule on a timed step (every open episode), and for rows written
    in bulk (``generate_synthetic_data``, the migration that filled the column). Open
    episodes are read in id order (episode_open_idx), a chunk at a time, locked as
    read, so a change saved meanwhile is stored after this, from the new rules. A few
    queries a chunk; returns how many episodes changed.
    """
    episodes = Episode.objects.all() if episodes is None else episodes
    with transaction.atomic():
        steps = set(
            Rule.objects.filter(active=True, step__in=list(TIMED_STEPS)).values_list(
                "step", flat=True
            )
        )
        changed = episodes.filter(closed_at__isnull=False, next_timed_step_at__isnull=False).update(
            next_timed_step_at=None
        )
        still_open = episodes.filter(closed_at__isnull=True).order_by("pk")
        after = 0
        while True:
            rows = list(
                still_open.filter(pk__gt=after)
                .select_for_update(of=("self",))
                .values_list("pk", "next_timed_step_at", *BASE_FIELDS)[:RESCHEDULE_CHUNK]
            )
            if not rows:
                break
            after = rows[-1][0]
            evaluated: dict[int, set[str]] = {}
            for episode_id, step in TimedStepFired.objects.filter(
                episode_id__in=[row[0] for row in rows]
            ).values_list("episode_id", "step"):
                evaluated.setdefault(episode_id, set()).add(step)
            moved = []
            for pk, stored, *bases in rows:
                next_at = next_timed_step_time(
                    StepBases.from_values(*bases), steps - evaluated.get(pk, set())
                )
                if next_at != stored:
                    moved.append(Episode(pk=pk, next_timed_step_at=next_at))
            Episode.objects.bulk_update(moved, ["next_timed_step_at"], batch_size=500)
            changed += len(moved)
    return changed


def _fire(episode: Episode, step: str, rules: list[Rule], now: dt.datetime) -> int:
    due = step_falls_due_at(episode, step)
    if due is None or due > now:
        return 0
    with transaction.atomic():
        holds = timed_step_holds(episode, step, due)
        # The TimedStepFired row is the claim, exactly as the event receipt is.
        _, claimed = TimedStepFired.objects.get_or_create(
            episode=episode, step=step, defaults={"fired": holds, "evaluated_at": now}
        )
        if not claimed or not holds:
            return 0
        rows = _rows(Moment(episode=episode, step=step, at=due), rules, now)
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        if step in REMINDER_CANCELLED_BECAUSE and task_recorded(episode.pk, step):
            # Fired late, after the task was recorded (and its event processed): the
            # step did fall due, so the rows stay, but nobody needs telling any more.
            cancel_overtaken_reminders(episode_id=episode.pk, step=step)
    return 1


# When the record overtakes a notification ---------------------------------------------

# Reminder steps and what makes them pointless: the task they chase being recorded.
REMINDER_DONE_BY: dict[str, str] = {
    CaseEvent.Kind.SAFE_AND_WELL_DONE: Step.SAFE_AND_WELL_DUE,
    CaseEvent.Kind.INTERVIEW_HELD: Step.INTERVIEW_DUE,
    CaseEvent.Kind.INTERVIEW_DECLINED: Step.INTERVIEW_DUE,
}
REMINDER_CANCELLED_BECAUSE: dict[str, str] = {
    Step.SAFE_AND_WELL_DUE: "The check was recorded before anyone was told",
    Step.INTERVIEW_DUE: "The interview was recorded before anyone was told",
}
SHARED_CHECK_NOTE = (
    "Taken from the safe and well check: the police recorded when they shared it with "
    "the local authority."
)
# E-mails not yet handed to a worker: stopped when the row is settled, so nobody gets
# a message about something already done. One being sent right now is left to finish.
_WAITING_TO_SEND = (Notification.Delivery.QUEUED, Notification.Delivery.RETRYING)


def task_recorded(episode_id: int, step: str) -> bool:
    """Whether the task a reminder step chases is on the record now, whenever done."""
    if step == Step.SAFE_AND_WELL_DUE:
        return SafeAndWellCheck.objects.filter(episode_id=episode_id).exists()
    if step == Step.INTERVIEW_DUE:
        return ReturnInterview.objects.filter(
            Q(held_at__isnull=False) | Q(declined_at__isnull=False), episode_id=episode_id
        ).exists()
    return False


def cancel_overtaken_reminders(*, episode_id: int, step: str) -> int:
    """Cancel the step's notifications nobody has made yet; returns how many."""
    reason = REMINDER_CANCELLED_BECAUSE[step]
    not_made = Notification.objects.filter(
        episode_id=episode_id, step=step, status=Notification.Status.DUE
    ).exclude(delivery=Notification.Delivery.SENDING)
    cancelled = not_made.filter(delivery__in=_WAITING_TO_SEND).update(
        status=Notification.Status.CANCELLED,
        cancelled_reason=reason,
        delivery=Notification.Delivery.NOT_BY_EMAIL,
        next_attempt_at=None,
    )
    return cancelled + not_made.update(
        status=Notification.Status.CANCELLED, cancelled_reason=reason
    )


@dataclass(frozen=True)
class Sharing:
    """The check's record of its sharing with the local authority."""

    at: dt.datetime
    by_id: int
    method: str
    whom: str = ""


def _told_method(data: dict[str, Any] | None) -> str:
    data = data or {}
    method = data.get("shared_method") or data.get("method")
    # Sharings recorded before the check kept how were made without one; the
    # protocol's channel for a check's outcome is secure e-mail.
    return method if method in Method.values else Method.SECURE_EMAIL


def _sharing(event: CaseEvent, at: dt.datetime) -> Sharing:
    whom = (event.data or {}).get("shared_with")
    return Sharing(
        at=at,
        by_id=event.actor_id,
        method=_told_method(event.data),
        whom=whom if isinstance(whom, str) else "",
    )


def check_sharing(event: CaseEvent) -> Sharing | None:
    """When, by whom, how and to whom the episode's check was shared, as this event shows."""
    if event.kind == CaseEvent.Kind.SAFE_AND_WELL_SHARED:
        return _sharing(event, event.occurred_at)
    if event.kind != CaseEvent.Kind.SAFE_AND_WELL_DONE:
        return None
    # The sharing may have been processed before this event (which failed, and the
    # scheduler caught up later): its rows did not exist then, so settle them now.
    shared = (
        CaseEvent.objects.filter(
            episode_id=event.episode_id, kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED
        )
        .order_by("id")
        .first()
    )
    if shared is not None:
        return check_sharing(shared)
    raw = (event.data or {}).get("shared_at")
    at = parse_datetime(raw) if isinstance(raw, str) else None
    if at is None:
        return None
    if timezone.is_naive(at):
        at = timezone.make_aware(at, dt.UTC)
    return _sharing(event, at)


def complete_shared_check(*, episode_id: int, sharing: Sharing) -> int:
    """Record the local authority's check notifications as told; returns how many."""
    open_rows = Notification.objects.filter(
        episode_id=episode_id,
        step=Step.SAFE_AND_WELL_DONE,
        recipient_role=RecipientRole.RESPONSIBLE_LA,
        status=Notification.Status.DUE,
    ).select_related("recipient_agency")
    completed = 0
    for notification in open_rows:
        agency = notification.recipient_agency
        told = {
            "status": Notification.Status.TOLD,
            "method": sharing.method,
            "told_at": sharing.at,
            "told_by_id": sharing.by_id,
            "told_whom": (
                sharing.whom or (agency.name if agency else RecipientRole.RESPONSIBLE_LA.label)
            )[:200],
            "notes": SHARED_CHECK_NOTE,
        }
        # Conditional on "due": a worker's "sent" or a person's record stands.
        still_due = Notification.objects.filter(pk=notification.pk, status=Notification.Status.DUE)
        completed += still_due.filter(delivery__in=_WAITING_TO_SEND).update(
            **told, delivery=Notification.Delivery.NOT_BY_EMAIL, next_attempt_at=None
        ) or still_due.update(**told)
    return completed


def overtaken_by_event(event: CaseEvent) -> None:
    """Settle the episode's notifications that this event shows are done or pointless."""
    if event.episode_id is None:
        return
    sharing = check_sharing(event)
    if sharing is not None:
        complete_shared_check(episode_id=event.episode_id, sharing=sharing)
    step = REMINDER_DONE_BY.get(event.kind)
    if step is not None:
        cancel_overtaken_reminders(episode_id=event.episode_id, step=step)
