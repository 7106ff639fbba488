"""Changing a rule: every save is a new version, kept with who made it and when."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from missingkids.accounts.models import User

from .defaults import rule_snapshot
from .models import Rule, RuleVersion


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
