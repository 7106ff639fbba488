"""Partnership admins see failed e-mails on the configuration pages' front page and the
notifications list, and queue them again; an agency admin sees their own agency's and
cannot queue them."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from missingkids.accounts.models import User
from notifications.models import EmailRequeue, Notification
from tests.factories import ContactFactory, UserFactory

from .factories_delivery import DeliveryNotificationFactory

pytestmark = pytest.mark.django_db

D = Notification.Delivery


@pytest.fixture
def failed(la_west, police):
    contact = ContactFactory(agency=la_west, email="old@cwac.example.org")
    return DeliveryNotificationFactory(
        recipient_agency=la_west,
        recipient_contact=contact,
        responsible_agency=police,
        recipient_email="old@cwac.example.org",
        delivery=D.FAILED,
        next_attempt_at=None,
        last_error="SMTPRecipientsRefused: 550 5.1.1 [address] no such user",
    )


@pytest.fixture
def police_admin(police) -> User:
    return UserFactory(email="it.officer@police.example.org", agency=police, role=User.Role.ADMIN)


def test_front_page_and_list_show_failed_emails(client, admin_user, failed):
    client.force_login(admin_user)
    front = client.get(reverse("admin:index")).content.decode()
    assert 'data-testid="failing-emails"' in front
    assert "1 notification e-mail failed" in front

    listing = client.get(
        reverse("admin:notifications_notification_changelist"),
        {"delivery__exact": "failed", "status__exact": "due"},
    )
    assert list(listing.context["cl"].result_list) == [failed]
    warnings = [str(m) for m in get_messages(listing.wsgi_request)]
    assert any("1 notification e-mail(s) failed" in m for m in warnings)


def test_front_page_quiet_when_nothing_failed(client, admin_user):
    client.force_login(admin_user)
    assert 'data-testid="failing-emails"' not in client.get(reverse("admin:index")).content.decode()


def test_partnership_admin_queues_again_to_the_current_address(client, admin_user, failed):
    failed.recipient_contact.email = "duty@cwac.example.org"
    failed.recipient_contact.save()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:notifications_notification_changelist"),
        {"action": "queue_again", "_selected_action": [failed.pk]},
    )
    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.delivery, failed.recipient_email) == (D.QUEUED, "duty@cwac.example.org")
    requeue = EmailRequeue.objects.get()
    assert (requeue.requeued_by, requeue.address_changed) == (admin_user, True)
    change = client.get(reverse("admin:notifications_notification_change", args=[failed.pk]))
    assert "queued again after failing" in change.content.decode().lower()


def test_agency_admin_cannot_reach_or_queue_failures_in_the_django_admin(
    client, police_admin, failed
):
    """The Django admin is for partnership admins' support: an agency admin is refused
    it, and so cannot queue an e-mail again by a forged post either."""
    client.force_login(police_admin)
    url = reverse("admin:notifications_notification_changelist")
    assert client.get(url).status_code == 403
    posted = client.post(url, {"action": "queue_again", "_selected_action": [failed.pk]})
    assert posted.status_code == 403
    failed.refresh_from_db()
    assert failed.delivery == D.FAILED
    assert not EmailRequeue.objects.exists()
