"""The rule admin keeps every change, refuses impossible rules by the field, and flags
contacts an e-mail rule cannot reach; notifications are read-only."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications.models import Notification, RecipientRole, Rule, RuleVersion, Step
from tests.factories import ContactFactory

from .factories_delivery import DeliveryNotificationFactory, DeliveryRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def only_our_rules(db):
    # The shipped default rules are loaded by a migration; these tests set their own.
    Rule.objects.update(active=False)


def rule_form(rule: Rule | None = None, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Police tell the responsible local authority",
        "step": Step.REPORTED,
        "active": "on",
        "condition": "any",
        "risk_at_least": "",
        "threshold_count": "",
        "threshold_days": "",
        "teller": "police",
        "recipient": RecipientRole.RESPONSIBLE_LA,
        "due_after_hours": "24",
        "due_after_hours_if_high_risk": "2",
        "send_email": "on",
        "message": "Tell the duty social worker.",
        "basis": "Audit: police did not always notify the LA.",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0" if rule is None else str(rule.versions.count()),
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if not (k == "active" and v is None)}


def test_rule_add_and_change_keep_versions_with_who_and_when(admin_client, admin_user):
    response = admin_client.post(reverse("admin:notifications_rule_add"), rule_form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = Rule.objects.get(name="Police tell the responsible local authority")
    assert rule.version == 1
    first = rule.versions.get()
    assert first.changed_by == admin_user
    assert first.changed_at is not None
    assert first.data["due_after_hours"] in ("24", "24.00", 24, 24.0)

    url = reverse("admin:notifications_rule_change", args=[rule.pk])
    response = admin_client.post(url, rule_form(rule, due_after_hours="12"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule.refresh_from_db()
    assert rule.version == 2
    assert rule.updated_by == admin_user
    assert list(rule.versions.values_list("version", flat=True)) == [2, 1]
    assert RuleVersion.objects.get(rule=rule, version=2).changed_by == admin_user

    page = admin_client.get(url).content.decode()
    assert "history of changes" in page.lower()
    assert admin_user.name in page


def test_rule_negative_delay_refused_by_the_field(admin_client):
    response = admin_client.post(
        reverse("admin:notifications_rule_add"), rule_form(due_after_hours="-1")
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "due_after_hours" in form.errors
    assert not Rule.objects.filter(name="Police tell the responsible local authority").exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"condition": "risk_at_least"}, "risk_at_least", "Choose the risk grade"),
        (
            {"step": Step.REPEAT_THRESHOLD, "condition": "repeat", "threshold_count": "1"},
            "threshold_count",
            "at least 2 episodes",
        ),
        ({"step": Step.RETURNED, "condition": "still_open"}, "condition", "cannot hold"),
        (
            {"due_after_hours": "2", "due_after_hours_if_high_risk": "6"},
            "due_after_hours_if_high_risk",
            "cannot be longer",
        ),
    ],
)
def test_rule_impossible_condition_refused_by_the_field(admin_client, overrides, field, message):
    response = admin_client.post(reverse("admin:notifications_rule_add"), rule_form(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors
    assert message in " ".join(errors[field])
    assert (
        RuleVersion.objects.filter(rule__name="Police tell the responsible local authority").count()
        == 0
    )


def test_rules_cannot_be_deleted(admin_client):
    rule = DeliveryRuleFactory()
    url = reverse("admin:notifications_rule_delete", args=[rule.pk])
    assert admin_client.get(url).status_code == 403


def test_rule_list_searches_basis(admin_client, only_our_rules):
    DeliveryRuleFactory(name="Host LA", basis="zebra crossing protocol")
    DeliveryRuleFactory(name="IRO", basis="local procedures")
    response = admin_client.get(
        reverse("admin:notifications_rule_changelist"), {"q": "zebra crossing"}
    )
    assert [r.name for r in response.context["cl"].result_list] == ["Host LA"]


def test_notification_admin_is_read_only_and_filters_problems(admin_client, la_west):
    fine = DeliveryNotificationFactory(recipient_agency=la_west)
    problem = DeliveryNotificationFactory(
        recipient_agency=None, recipient_email="", problem="No GP practice configured"
    )
    url = reverse("admin:notifications_notification_changelist")
    response = admin_client.get(url)
    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == {fine, problem}
    warnings = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("1 notification(s) have no recipient configured" in m for m in warnings)

    only = admin_client.get(url, {"problem": "yes"})
    assert list(only.context["cl"].result_list) == [problem]
    for params in (
        {"status__exact": "due"},
        {"delivery__exact": "queued"},
        {"step__exact": "reported"},
    ):
        assert admin_client.get(url, params).status_code == 200

    change = admin_client.get(reverse("admin:notifications_notification_change", args=[fine.pk]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    assert admin_client.get(reverse("admin:notifications_notification_add")).status_code == 403


def test_notification_list_query_count_is_fixed(
    admin_client, la_west, police, django_assert_num_queries
):
    url = reverse("admin:notifications_notification_changelist")
    DeliveryNotificationFactory.create_batch(2, recipient_agency=la_west, responsible_agency=police)
    admin_client.get(url)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    DeliveryNotificationFactory.create_batch(8, recipient_agency=la_west, responsible_agency=police)
    with django_assert_num_queries(len(few.captured_queries)):
        admin_client.get(url)


def test_contact_without_email_flagged_when_an_email_rule_targets_its_kind(
    admin_client, only_our_rules, la_west, police, gp_practice
):
    DeliveryRuleFactory(recipient=RecipientRole.RESPONSIBLE_LA, send_email=True)
    DeliveryRuleFactory(recipient=RecipientRole.GP, send_email=False)
    la_phone_only = ContactFactory(agency=la_west, name="Duty phone", email="", phone="0100")
    la_with_email = ContactFactory(agency=la_west, name="Front door")
    gp_phone_only = ContactFactory(agency=gp_practice, name="Practice manager", email="", phone="1")
    police_phone_only = ContactFactory(agency=police, name="Control room", email="", phone="2")

    response = admin_client.get(reverse("admin:accounts_contact_changelist"))
    flagged = {c.name for c in response.context["cl"].result_list if c._email_rule and not c.email}
    assert flagged == {"Duty phone"}
    assert response.content.decode().count("Needs an e-mail address") == 1

    page = admin_client.get(reverse("admin:accounts_contact_change", args=[la_phone_only.pk]))
    warnings = [str(m) for m in get_messages(page.wsgi_request)]
    assert any("No e-mail address for Duty phone" in m for m in warnings)
    for quiet in (la_with_email, gp_phone_only, police_phone_only):
        page = admin_client.get(reverse("admin:accounts_contact_change", args=[quiet.pk]))
        assert not [m for m in get_messages(page.wsgi_request) if "No e-mail" in str(m)]

    agency_page = admin_client.get(reverse("admin:accounts_agency_change", args=[la_west.pk]))
    warnings = [str(m) for m in get_messages(agency_page.wsgi_request)]
    assert any("Duty phone" in m and "shared mailbox" in m for m in warnings)


def test_notification_row_is_unchanged_by_admin_post(admin_client):
    notification = DeliveryNotificationFactory()
    url = reverse("admin:notifications_notification_change", args=[notification.pk])
    assert admin_client.post(url, {"status": "cancelled"}).status_code == 403
    notification.refresh_from_db()
    assert notification.status == Notification.Status.DUE
