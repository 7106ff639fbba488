"""Changing a rule: every save is a new version, kept with who made it and when."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from missingkids.accounts.models import User
from missingkids.policy import RuleNumbers

from .defaults import rule_snapshot
from .models import Condition, Rule, RuleVersion, Step


def rule_save_with_version(*, rule: Rule, acting_user: User | None) -> Rule:
    """Save the rule as its next version and keep a copy of it.

    Notifications already made keep the version they were made under; events from now
    on use the new one. The row lock makes two admins saving at once get versions n+1
    and n+2 rather than both n+1 (the unique constraint would refuse the second).
    """
    with transaction.atomic():
        if rule.pk is None:
            rule.version = 1
        else:
            current = (
                Rule.objects.select_for_update()
                .filter(pk=rule.pk)
                .values_list("version", flat=True)
                .first()
            )
            rule.version = (current or 0) + 1
        rule.updated_by = acting_user
        rule.save()
        RuleVersion.objects.create(
            rule=rule,
            version=rule.version,
            data=rule_snapshot(rule),
            changed_at=timezone.now(),
            changed_by=acting_user,
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
