"""Changing a rule: every save is a new version, kept with who made it and when, and
shown to the managers of the agencies it affects and to the partnership admins (see
missingkids.accounts.configuration)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from missingkids.accounts.configuration import configuration_change_record, snapshot_of
from missingkids.accounts.models import Agency, ConfigurationChange, User
from missingkids.policy import RuleNumbers

from .defaults import VERSIONED_FIELDS, rule_snapshot
from .engine import ROLE_AGENCY_KINDS, reschedule_timed_steps
from .models import TIMED_STEPS, Condition, Rule, RuleVersion, Step, TellerKind

K = Agency.Kind
TELLER_AGENCY_KINDS: dict[str, tuple[str, ...]] = {
    TellerKind.POLICE: (K.POLICE,),
    TellerKind.RESPONSIBLE_LA: (K.LOCAL_AUTHORITY,),
    # Usually the police; the responsible council when another agency reported.
    TellerKind.REPORTING_AGENCY: (K.POLICE, K.LOCAL_AUTHORITY),
    TellerKind.PROVIDER: (K.PROVIDER,),
}


# What a change to a rule shows: every versioned field, and why it was switched off.
SHOWN_FIELDS = (*VERSIONED_FIELDS, "switched_off_reason")


def rule_agency_kinds(*rules: Rule | None) -> set[str]:
    """The kinds of agency a rule concerns: those who must tell and those told."""
    kinds: set[str] = set()
    for rule in rules:
        if rule is None:
            continue
        kinds.update(TELLER_AGENCY_KINDS.get(rule.teller, ()))
        if rule.recipient in ROLE_AGENCY_KINDS:
            kinds.add(ROLE_AGENCY_KINDS[rule.recipient])
    return kinds


def rule_affected_agencies(*rules: Rule | None) -> Iterable[int]:
    return Agency.objects.filter(kind__in=rule_agency_kinds(*rules)).values_list("pk", flat=True)


def rule_save_with_version(*, rule: Rule, acting_user: User | None, reason: str = "") -> Rule:
    """Save the rule as its next version and keep a copy of it.

    Notifications already made keep the version they were made under; events from now
    on use the new one. A rule on a timed step changes which steps are still to come, so
    every open episode's next timed step is worked out again in the same transaction.
    The row lock makes two admins saving at once get versions n+1 and n+2 rather than
    both n+1 (the unique constraint would refuse the second).
    """
    with transaction.atomic():
        stored = None
        if rule.pk is None:
            rule.version = 1
        else:
            stored = Rule.objects.select_for_update().filter(pk=rule.pk).first()
            rule.version = (stored.version if stored else 0) + 1
        rule.updated_by = acting_user
        switched_off = not rule.active and (stored is None or stored.active)
        if rule.active:
            rule.switched_off_reason = ""
            rule.switched_off_at = None
            rule.switched_off_by = None
        elif switched_off:
            rule.switched_off_at = timezone.now()
            rule.switched_off_by = acting_user
        rule.save()
        RuleVersion.objects.create(
            rule=rule,
            version=rule.version,
            data=rule_snapshot(rule),
            changed_at=timezone.now(),
            changed_by=acting_user,
        )
        if {rule.step, stored.step if stored else None} & set(TIMED_STEPS):
            # A timed step's rule added, switched on or off, or moved to another step:
            # when each open episode's next timed step falls due may have changed.
            reschedule_timed_steps()
        configuration_change_record(
            kind=ConfigurationChange.Kind.RULE,
            object_id=rule.pk,
            subject=rule.name,
            before=snapshot_of(stored, SHOWN_FIELDS) if stored else None,
            after=snapshot_of(rule, SHOWN_FIELDS),
            agencies=rule_affected_agencies(stored, rule),
            acting_user=acting_user,
            reason=reason or (rule.switched_off_reason if switched_off else ""),
        )
    return rule


def active_rule_numbers() -> RuleNumbers:
    """The repeat threshold and the not-engaging attempt count of the active rules.

    Registered with ``missingkids.policy`` when the app starts, so the incidents pages
    and the managers' lists count with the numbers the engine fires at. One query. If
    several rules of a kind are active, the one that speaks first wins: the fewest
    failed attempts; the fewest episodes (the longest window if two need as many).
    """
    repeat: list[tuple[int, int, int]] = []
    attempts: list[int] = []
    rows = Rule.objects.filter(
        Q(step=Step.REPEAT_THRESHOLD, condition=Condition.REPEAT, threshold_days__gte=1)
        | Q(step=Step.NOT_ENGAGING, condition=Condition.FAILED_ATTEMPTS),
        active=True,
        threshold_count__gte=1,
    ).values_list("pk", "step", "threshold_count", "threshold_days")
    for pk, step, count, days in rows:
        if step == Step.REPEAT_THRESHOLD:
            repeat.append((count, -days, pk))
        else:
            attempts.append(count)
    first = min(repeat, default=None)
    return RuleNumbers(
        repeat=(first[0], -first[1]) if first else None,
        stuck_failed_attempts=min(attempts, default=None),
    )


def statutory_rules_switched_off() -> list[Rule]:
    """Rules shipped by default that are switched off, with why, by whom and when (for
    the managers' dashboard). One query."""
    return list(
        Rule.objects.filter(statutory=True, active=False)
        .select_related("switched_off_by__agency")
        .order_by("step", "name")
    )
