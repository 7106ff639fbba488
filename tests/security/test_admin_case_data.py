"""No admin sees case data: every page of the admin, walked as each kind of admin.

The pages are found from the admin's own registry (each registered model's list, search,
add, change and history pages, and the notifications' problem filter), so a model
registered later is walked too. The world holds a child and a notification with every
case field filled with words that must never appear: the child's names, what was
recorded about telling someone, notes, reasons and late facts.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
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
def told_notification(case, la_west, police, social_worker):
    return NotificationFactory(
        episode=case.episode,
        recipient_agency=la_west,
        responsible_agency=police,
        status=Notification.Status.TOLD,
        method=Method.PHONE,
        told_at=timezone.now() - dt.timedelta(hours=1),
        told_by=social_worker,
        **SECRETS,
    )


def _urls(model, search: str) -> list[str]:
    info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    # A search by the child's id: the term is shown back in the search box, so it is
    # not one of the words that must not appear.
    urls = [reverse(f"{info}_changelist"), reverse(f"{info}_changelist") + f"?q={search}"]
    with contextlib.suppress(NoReverseMatch):
        urls.append(reverse(f"{info}_add"))
    for obj in model._default_manager.all()[:3]:
        for page in ("change", "history"):
            with contextlib.suppress(NoReverseMatch):
                urls.append(reverse(f"{info}_{page}", args=[obj.pk]))
    return urls


def admin_urls(search: str) -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        urls.extend(_urls(model, search))
    urls.append(reverse("admin:notifications_notification_changelist") + "?problem=no")
    return urls


def _leaks(content: str, case) -> list[str]:
    words = [case.child.first_name, case.child.last_name, *SECRETS.values()]
    return [word for word in words if word in content]


@pytest.fixture
def council_admin(la_west) -> User:
    return UserFactory(email="ravi.patel@cwac.example.org", agency=la_west, role=User.Role.ADMIN)


@pytest.fixture
def superuser(la_west) -> User:
    return UserFactory(
        email="root@cwac.example.org", agency=la_west, role=User.Role.ADMIN, is_superuser=True
    )


@pytest.mark.parametrize("who", ["admin_user", "superuser"])
def test_no_admin_page_shows_case_data(client, request, case, told_notification, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    seen = []
    for url in admin_urls(str(case.child.pk)):
        response = client.get(url)
        assert response.status_code in (200, 302, 403, 404), (url, response.status_code)
        if response.status_code == 200:
            seen.append(url)
            assert not _leaks(response.content.decode(), case), url
    # The walk reached the notification itself, where the secrets are stored.
    change = reverse("admin:notifications_notification_change", args=[told_notification.pk])
    assert change in seen


def test_the_notification_page_keeps_what_admins_need(client, case, told_notification, admin_user):
    client.force_login(admin_user)
    page = client.get(
        reverse("admin:notifications_notification_change", args=[told_notification.pk])
    )
    html = page.content.decode()
    assert told_notification.recipient_email in html
    assert "Recorded as told" in html
    for field in ("episode", "child", "told_whom", "notes", "cancelled_reason", "late_fact"):
        assert f"field-{field}" not in html, field


def test_agency_admins_are_refused_every_admin_page(client, case, told_notification, school):
    """The Django admin is for partnership admins' support: an agency admin gets 403 on
    every page of it, so sees no notification there at all."""
    school_admin = UserFactory(agency=school, role=User.Role.ADMIN)
    client.force_login(school_admin)
    for url in admin_urls(str(case.child.pk)):
        response = client.get(url)
        assert response.status_code in (403, 404), (url, response.status_code)
