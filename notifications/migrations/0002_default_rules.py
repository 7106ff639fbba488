"""Load the default rule set of domain.md (notifications.defaults), each as version 1."""

from decimal import Decimal

from django.db import migrations

from notifications.defaults import DEFAULT_RULES, rule_snapshot


def load_default_rules(apps, schema_editor):
    Rule = apps.get_model("notifications", "Rule")
    RuleVersion = apps.get_model("notifications", "RuleVersion")
    for values in DEFAULT_RULES:
        fields = dict(values)
        for name in ("due_after_hours", "due_after_hours_if_high_risk"):
            if fields[name] is not None:
                fields[name] = Decimal(fields[name])
        rule = Rule.objects.create(version=1, **fields)
        RuleVersion.objects.create(rule=rule, version=1, data=rule_snapshot(rule))


def remove_default_rules(apps, schema_editor):
    # Rules that notifications point at are protected: going back past this migration
    # with notifications recorded fails rather than losing who was told under what rule.
    Rule = apps.get_model("notifications", "Rule")
    RuleVersion = apps.get_model("notifications", "RuleVersion")
    names = [values["name"] for values in DEFAULT_RULES]
    RuleVersion.objects.filter(rule__name__in=names).delete()
    Rule.objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(load_default_rules, remove_default_rules),
    ]
