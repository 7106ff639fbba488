"""The notifications and failed e-mails on the configuration pages, and adding a rule:
who may open them, what each admin sees (an agency admin only their own agency's),
queueing a failed e-mail again (partnership admins only), the check-your-answers step
of a new rule, and each page's pinned query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from missingkids.accounts.models import ConfigurationChange
from notifications.models import EmailRequeue, Notification, Rule, RuleVersion
from tests.factories.notifications import NotificationFactory

from .test_configuration_pages import rule_form

pytestmark = pytest.mark.django_db

D = Notification.Delivery


@pytest.fixture
def school_failed(school, la_west) -> Notification:
    """A failed e-mail the council must send to the school."""
    return NotificationFactory(
        recipient_agency=school,
        responsible_agency=la_west,
        delivery=D.FAILED,
        attempt_count=5,
        last_error="SMTPRecipientsRefused: 550 No such user [address]",
        failing_since=timezone.now() - dt.timedelta(hours=5),
    )


@pytest.fixture
def police_failed(police, la_west) -> Notification:
    """A failed e-mail between the council and the police: nothing of the school's."""
    return NotificationFactory(
        recipient_agency=la_west,
        responsible_agency=police,
        delivery=D.FAILED,
        last_error="SMTPDataError: 554 Refused",
        failing_since=timezone.now() - dt.timedelta(hours=2),
        problem="",
    )


def urls(notification: Notification) -> dict[str, str]:
    return {
        "notifications": reverse("configuration:notifications"),
        "notification": reverse("configuration:notification", args=[notification.pk]),
        "failed_emails": reverse("configuration:failed_emails"),
    }


def test_the_front_page_links_to_the_notifications_and_failed_emails(client, school_admin):
    client.force_login(school_admin)
    html = client.get(reverse("configuration:index")).content.decode()
    assert reverse("configuration:notifications") in html
    assert reverse("configuration:failed_emails") in html


@pytest.mark.parametrize("who", ["admin_user", "school_admin"])
def test_admins_open_the_pages(client, request, who, school_failed):
    client.force_login(request.getfixturevalue(who))
    for name, url in urls(school_failed).items():
        assert client.get(url).status_code == 200, name


@pytest.mark.parametrize("who", ["manager", "social_worker"])
def test_managers_and_practitioners_are_refused(client, request, who, school_failed):
    client.force_login(request.getfixturevalue(who))
    for name, url in urls(school_failed).items():
        assert client.get(url).status_code == 403, name
    requeue = reverse("configuration:notification_requeue", args=[school_failed.pk])
    assert client.post(requeue).status_code == 403


def test_anonymous_is_sent_to_sign_in(client, school_failed):
    for name, url in urls(school_failed).items():
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), name


def test_agency_admin_sees_only_their_own_agencys(
    client, school_admin, school_failed, police_failed
):
    client.force_login(school_admin)
    listed = client.get(reverse("configuration:notifications")).content.decode()
    failed = client.get(reverse("configuration:failed_emails")).content.decode()
    other = reverse("configuration:notification", args=[police_failed.pk])

    assert f"notification-{school_failed.pk}" in listed
    assert f"notification-{police_failed.pk}" not in listed
    assert f"failed-{school_failed.pk}" in failed and f"failed-{police_failed.pk}" not in failed
    assert "550 No such user" in failed
    assert client.get(other).status_code == 404
    # No choice of agency: they may see only their own.
    assert 'name="agency"' not in listed


def test_partnership_admin_sees_and_filters_every_agencys(
    client, admin_user, school, police, school_failed, police_failed
):
    problem = NotificationFactory(
        recipient_agency=school, responsible_agency=police, problem="No contact at the school"
    )
    client.force_login(admin_user)
    url = reverse("configuration:notifications")

    every = client.get(url).content.decode()
    by_police = client.get(url, {"agency": police.pk}).content.decode()
    problems = client.get(url, {"problem": "yes"}).content.decode()
    cancelled = client.get(url, {"status": "cancelled"}).content.decode()

    for notification in (school_failed, police_failed, problem):
        assert f"notification-{notification.pk}" in every
    assert f"notification-{police_failed.pk}" in by_police
    assert f"notification-{school_failed.pk}" not in by_police
    assert f"notification-{problem.pk}" in problems
    assert f"notification-{school_failed.pk}" not in problems
    assert "notification-" not in cancelled


def test_the_period_filter_and_uk_times(client, admin_user, school, la_west):
    due = dt.datetime(2025, 7, 1, 13, 30, tzinfo=dt.UTC)  # 14:30 in London (BST)
    old = NotificationFactory(recipient_agency=school, responsible_agency=la_west, due_at=due)
    recent = NotificationFactory(
        recipient_agency=school,
        responsible_agency=la_west,
        due_at=timezone.now() - dt.timedelta(days=2),
    )
    client.force_login(admin_user)
    url = reverse("configuration:notifications")

    last_week = client.get(url, {"period": "7"}).content.decode()
    every = client.get(url).content.decode()

    assert f"notification-{recent.pk}" in last_week and f"notification-{old.pk}" not in last_week
    assert "01/07/2025 14:30" in every


@pytest.mark.parametrize("bad", [{"agency": "abc"}, {"status": "x"}, {"period": "-1"}])
def test_bad_filters_are_a_message_never_an_error(client, admin_user, bad):
    client.force_login(admin_user)
    response = client.get(reverse("configuration:notifications"), bad)
    assert response.status_code == 200
    assert "There is a problem" in response.content.decode()


@pytest.mark.parametrize("bad", ["12abc", "99999999999999999999999", "-1"])
def test_a_malformed_or_unknown_notification_is_not_found(client, admin_user, bad):
    client.force_login(admin_user)
    assert client.get(reverse("configuration:notification", args=[bad])).status_code == 404
    requeue = reverse("configuration:notification_requeue", args=[bad])
    assert client.post(requeue).status_code == 404


def test_partnership_admin_queues_a_failed_email_again(client, admin_user, school_failed):
    client.force_login(admin_user)
    page = client.get(reverse("configuration:failed_emails")).content.decode()
    assert "Queue it again" in page

    response = client.post(reverse("configuration:notification_requeue", args=[school_failed.pk]))

    assert response.url == reverse("configuration:failed_emails")
    school_failed.refresh_from_db()
    assert school_failed.delivery == D.QUEUED and school_failed.attempt_count == 0
    requeue = EmailRequeue.objects.get(notification=school_failed)
    assert requeue.requeued_by == admin_user
    assert requeue.previous_error.startswith("SMTPRecipientsRefused")
    detail = client.get(reverse("configuration:notification", args=[school_failed.pk]))
    assert "Queued again after failing" in detail.content.decode()
    # Queued a second time: nothing happens, and it says so.
    again = client.post(reverse("configuration:notification_requeue", args=[school_failed.pk]))
    assert again.status_code == 302
    assert EmailRequeue.objects.filter(notification=school_failed).count() == 1


def test_agency_admin_sees_failed_emails_but_cannot_queue_them_again(
    client, school_admin, school_failed
):
    client.force_login(school_admin)
    page = client.get(reverse("configuration:failed_emails")).content.decode()
    detail = client.get(reverse("configuration:notification", args=[school_failed.pk]))
    forged = client.post(reverse("configuration:notification_requeue", args=[school_failed.pk]))

    assert f"failed-{school_failed.pk}" in page and "Queue it again" not in page
    assert "Queue it again" not in detail.content.decode()
    assert forged.status_code == 403
    school_failed.refresh_from_db()
    assert school_failed.delivery == D.FAILED
    assert not EmailRequeue.objects.exists()


def test_requeue_is_a_post(client, admin_user, school_failed):
    client.force_login(admin_user)
    url = reverse("configuration:notification_requeue", args=[school_failed.pk])
    assert client.get(url).status_code == 405


def _failed(school, la_west, count: int) -> None:
    for _ in range(count):
        NotificationFactory(
            recipient_agency=school,
            responsible_agency=la_west,
            delivery=D.FAILED,
            failing_since=timezone.now(),
        )


def test_notification_pages_query_counts(
    client, admin_user, school_admin, school, la_west, django_assert_num_queries
):
    _failed(school, la_west, 3)
    one = Notification.objects.first()
    client.force_login(admin_user)
    # Session, user, second factor, count, the agency filter's choices, the menu's
    # agency, the page of rows (with their rule and agencies joined).
    with django_assert_num_queries(7):
        client.get(reverse("configuration:notifications"))
    with django_assert_num_queries(6):  # none match: no page of rows to read
        client.get(reverse("configuration:notifications"), {"problem": "yes", "period": "30"})
    with django_assert_num_queries(6):
        client.get(reverse("configuration:failed_emails"))
    with django_assert_num_queries(7):
        client.get(reverse("configuration:notification", args=[one.pk]))
    client.force_login(school_admin)
    with django_assert_num_queries(6):
        client.get(reverse("configuration:notifications"))
    with django_assert_num_queries(6):
        client.get(reverse("configuration:failed_emails"))
    # More rows, the same queries.
    _failed(school, la_west, 4)
    with django_assert_num_queries(6):
        client.get(reverse("configuration:notifications"))
    with django_assert_num_queries(6):
        client.get(reverse("configuration:failed_emails"))


# Adding a rule ---------------------------------------------------------------------


def new_rule_form(**overrides: object) -> dict[str, object]:
    template = Rule(
        name="Tell the school nurse of every return",
        step="returned",
        condition="any",
        teller="responsible_la",
        recipient="school_nurse",
        due_after_hours=72,
        send_email=True,
        active=True,
        basis="Local agreement of the partnership, 2025",
        message="Check the child's page",
    )
    return rule_form(template, **overrides)


def test_a_new_rule_is_checked_before_it_is_saved(client, admin_user):
    client.force_login(admin_user)
    before = Rule.objects.count()
    add = reverse("configuration:rule_add")
    check = reverse("configuration:rule_add_check")

    assert client.get(reverse("configuration:rules")).content.decode().count(add) == 1
    to_check = client.post(add, new_rule_form())
    assert to_check.url == check
    assert Rule.objects.count() == before  # nothing saved yet

    page = client.get(check).content.decode()
    assert "Check the new rule" in page and "Tell the school nurse of every return" in page
    back = client.get(add + "?draft=1")
    assert back.context["form"]["recipient"].value() == "school_nurse"

    saved = client.post(check)
    rule = Rule.objects.get(name="Tell the school nurse of every return")
    assert saved.url == reverse("configuration:rule", args=[rule.pk])
    assert rule.version == 1 and rule.updated_by == admin_user and not rule.statutory
    assert RuleVersion.objects.filter(rule=rule, version=1).exists()
    change = ConfigurationChange.objects.get(kind=ConfigurationChange.Kind.RULE, object_id=rule.pk)
    assert change.changed_by == admin_user
    assert not client.session.get("configuration-rule-new")
    # Confirming again (back button) adds nothing more.
    assert client.post(check).url == reverse("configuration:rule_add")
    assert Rule.objects.filter(name=rule.name).count() == 1


def test_a_new_rule_with_errors_is_a_message_by_the_field(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("configuration:rule_add"), new_rule_form(name="", basis=""))
    assert response.status_code == 200
    html = response.content.decode()
    assert "There is a problem" in html and "Enter the rule&#x27;s name" in html
    assert response.context["form"]["message"].value() == "Check the child's page"


def test_only_partnership_admins_add_rules(client, school_admin):
    client.force_login(school_admin)
    before = Rule.objects.count()
    assert client.get(reverse("configuration:rule_add")).status_code == 403
    assert client.post(reverse("configuration:rule_add"), new_rule_form()).status_code == 403
    assert client.post(reverse("configuration:rule_add_check")).status_code == 403
    assert (
        reverse("configuration:rule_add")
        not in client.get(reverse("configuration:rules")).content.decode()
    )
    assert Rule.objects.count() == before


def test_add_rule_pages_query_counts(client, admin_user, django_assert_num_queries):
    client.force_login(admin_user)
    with django_assert_num_queries(4):
        client.get(reverse("configuration:rule_add"))
    client.post(reverse("configuration:rule_add"), new_rule_form())
    with django_assert_num_queries(7):
        client.get(reverse("configuration:rule_add_check"))
