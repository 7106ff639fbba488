"""No admin sees case data on the configuration pages' notifications and failed
e-mails: every such page, as a partnership admin and as an agency admin, holds none of
the words typed about the child (names, what was told to whom, notes, reasons, late
facts, who acknowledged), though the notification stores all of them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from missingkids.accounts.models import User
from notifications.models import Method, Notification
from tests.factories import UserFactory
from tests.factories.notifications import NotificationFactory

pytestmark = pytest.mark.django_db

SECRETS = {
    "told_whom": "Told-Whom-Secret carer",
    "notes": "Notes-Secret about the boyfriend",
    "cancelled_reason": "Cancelled-Secret because of the court",
    "late_fact": "Late-Fact-Secret placement at 4 Elm Road",
    "acknowledged_by": "Acknowledged-Secret Person",
}


@pytest.fixture
def notifications(case, la_west, police, social_worker) -> list[Notification]:
    told = NotificationFactory(
        episode=case.episode,
        recipient_agency=la_west,
        responsible_agency=police,
        status=Notification.Status.TOLD,
        method=Method.PHONE,
        told_at=timezone.now() - dt.timedelta(hours=1),
        told_by=social_worker,
        **SECRETS,
    )
    failed = NotificationFactory(
        episode=case.episode,
        recipient_agency=la_west,
        responsible_agency=police,
        delivery=Notification.Delivery.FAILED,
        last_error="SMTPRecipientsRefused: 550 No such user [address]",
        failing_since=timezone.now() - dt.timedelta(hours=3),
        problem="No contact for the school",
        **SECRETS,
    )
    return [told, failed]


def pages(notifications: list[Notification]) -> list[str]:
    urls = [
        reverse("configuration:notifications"),
        reverse("configuration:notifications") + "?problem=yes&status=due",
        reverse("configuration:failed_emails"),
    ]
    urls += [reverse("configuration:notification", args=[n.pk]) for n in notifications]
    return urls


def _leaks(content: str, case) -> list[str]:
    words = [case.child.first_name, case.child.last_name, *SECRETS.values()]
    return [word for word in words if word in content]


@pytest.mark.parametrize("who", ["admin_user", "council_admin"])
def test_no_notification_page_shows_case_data(client, request, case, notifications, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    for url in pages(notifications):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert not _leaks(html, case), url
    # The pages did show the notifications, with what an admin needs.
    detail = client.get(reverse("configuration:notification", args=[notifications[1].pk]))
    html = detail.content.decode()
    assert notifications[1].recipient_email in html
    assert "550 No such user" in html and "No contact for the school" in html
    assert reverse("incidents:episode_detail", args=[case.episode.pk]) not in html
    assert reverse("incidents:child_detail", args=[case.child.pk]) not in html


@pytest.fixture
def council_admin(la_west) -> User:
    return UserFactory(email="ravi.patel@cwac.example.org", agency=la_west, role=User.Role.ADMIN)
