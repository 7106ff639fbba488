"""A rule shipped by default (statutory) is switched off only with a reason, which every
manager sees on their dashboard while it is off; and the change is told."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps
from django.core import mail
from django.urls import reverse
from django.utils.html import escape

from missingkids.accounts.models import ConfigurationChange
from notifications.defaults import DEFAULT_RULES
from notifications.models import Rule
from tests.notifications.factories_delivery import DeliveryRuleFactory
from tests.notifications.test_admin import rule_form

pytestmark = pytest.mark.django_db

REASON = "The council's front door takes these calls directly from 1 April."
RULE_NAME = "Returned: police tell the responsible local authority"


def switch_off_form(rule: Rule, **overrides: object) -> dict[str, object]:
    data = rule_form(
        rule,
        name=rule.name,
        step=rule.step,
        condition=rule.condition,
        teller=rule.teller,
        recipient=rule.recipient,
        due_after_hours=str(rule.due_after_hours),
        due_after_hours_if_high_risk="",
        message=rule.message,
        basis=rule.basis,
        active=None,
        switched_off_reason="",
    )
    data.update(overrides)
    return data


@pytest.fixture
def shipped_rule() -> Rule:
    return Rule.objects.get(name=RULE_NAME)


def test_every_default_rule_is_marked_statutory():
    assert set(Rule.objects.filter(statutory=True).values_list("name", flat=True)) == {
        values["name"] for values in DEFAULT_RULES
    }


def test_a_statutory_rule_is_not_switched_off_without_a_reason(client, admin_user, shipped_rule):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:notifications_rule_change", args=[shipped_rule.pk]),
        switch_off_form(shipped_rule),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "switched_off_reason" in errors
    assert "Give the reason" in " ".join(errors["switched_off_reason"])
    shipped_rule.refresh_from_db()
    assert shipped_rule.active and shipped_rule.version == 1
    assert not ConfigurationChange.objects.exists()


def test_switched_off_with_a_reason_it_is_shown_and_told(
    client, admin_user, manager, la_west, police, shipped_rule, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:notifications_rule_change", args=[shipped_rule.pk]),
            switch_off_form(shipped_rule, switched_off_reason=REASON),
        )

    assert response.status_code == 302
    shipped_rule.refresh_from_db()
    assert not shipped_rule.active
    assert shipped_rule.switched_off_by == admin_user
    assert shipped_rule.switched_off_at is not None
    change = ConfigurationChange.objects.get()
    assert change.reason == REASON
    assert {"field": "Active", "before": "Yes", "after": "No"} in change.changes
    told = {address for message in mail.outbox for address in message.to}
    assert {manager.email, admin_user.email} <= told
    assert REASON in mail.outbox[0].body

    client.force_login(manager)
    dashboard = client.get(reverse("oversight:dashboard"))
    assert [rule.pk for rule in dashboard.context["statutory_rules_off"]] == [shipped_rule.pk]
    html = dashboard.content.decode()
    assert RULE_NAME in html and escape(REASON) in html and admin_user.name in html


def test_switched_back_on_it_leaves_the_dashboard(client, admin_user, manager, shipped_rule):
    client.force_login(admin_user)
    url = reverse("admin:notifications_rule_change", args=[shipped_rule.pk])
    client.post(url, switch_off_form(shipped_rule, switched_off_reason=REASON))
    shipped_rule.refresh_from_db()

    response = client.post(url, switch_off_form(shipped_rule, active="on"))

    assert response.status_code == 302
    shipped_rule.refresh_from_db()
    assert shipped_rule.active
    assert (shipped_rule.switched_off_reason, shipped_rule.switched_off_by) == ("", None)
    client.force_login(manager)
    assert client.get(reverse("oversight:dashboard")).context["statutory_rules_off"] == []


def test_a_rule_an_admin_added_is_switched_off_without_a_reason(client, admin_user):
    rule = DeliveryRuleFactory(name="Local: tell the youth service")
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:notifications_rule_change", args=[rule.pk]), switch_off_form(rule)
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert not rule.active and not rule.statutory


def test_statutory_cannot_be_set_or_unset_by_a_form(client, admin_user, shipped_rule):
    client.force_login(admin_user)
    client.post(
        reverse("admin:notifications_rule_change", args=[shipped_rule.pk]),
        switch_off_form(shipped_rule, active="on", statutory=""),
    )
    shipped_rule.refresh_from_db()
    assert shipped_rule.statutory


def test_a_default_rule_already_off_before_the_upgrade_shows_why_not_known(shipped_rule):
    migration = import_module("notifications.migrations.0005_statutory_rules_switched_off")
    Rule.objects.filter(pk=shipped_rule.pk).update(statutory=False, active=False)
    renamed = Rule.objects.exclude(pk=shipped_rule.pk).filter(statutory=True).first()
    Rule.objects.filter(pk=renamed.pk).update(statutory=False, name="Renamed by an admin")

    migration.mark_default_rules(apps, None)

    shipped_rule.refresh_from_db()
    renamed.refresh_from_db()
    assert shipped_rule.statutory and renamed.statutory
    assert shipped_rule.switched_off_reason == migration.EARLIER_REASON
    assert renamed.switched_off_reason == ""
