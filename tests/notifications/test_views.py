"""Acknowledgement links, recording a call, cancelling, and the episode checklist."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.models import Episode
from notifications.emails import acknowledge_token, acknowledge_url
from notifications.models import Method, Notification
from tests.factories.incidents import ChildFactory, EpisodeFactory

from .factories_delivery import DeliveryNotificationFactory

pytestmark = pytest.mark.django_db

S = Notification.Status


@pytest.fixture
def episode(area_west, social_worker) -> Episode:
    child = ChildFactory(
        first_name="Amelia", last_name="Jones", responsible_area=area_west, created_by=social_worker
    )
    return EpisodeFactory(child=child)


@pytest.fixture
def notification(episode, police, la_west) -> Notification:
    """Police must tell the responsible LA."""
    return DeliveryNotificationFactory(
        episode=episode, recipient_agency=la_west, responsible_agency=police
    )


def ack_path(notification: Notification) -> str:
    return reverse("notifications:acknowledge", args=[acknowledge_token(notification)])


# Acknowledgement ------------------------------------------------------------------------


def test_acknowledge_url_is_absolute(notification, settings):
    settings.SITE_URL = "https://missingkids.example.org"
    assert acknowledge_url(notification).startswith(
        "https://missingkids.example.org/notifications/acknowledge/"
    )


def test_acknowledge_get_shows_minimal_and_changes_nothing(client, notification):
    response = client.get(ack_path(notification))
    assert response.status_code == 200
    content = response.content.decode()
    assert "AJ" in content
    assert "Amelia" not in content and "Jones" not in content
    assert "Reported missing" in content
    assert "Cheshire Constabulary" in content
    assert "Confirm I have received this" in content
    notification.refresh_from_db()
    assert notification.acknowledged_at is None
    assert notification.status == S.DUE


def test_acknowledge_post_records_without_signing_in(client, notification):
    path = ack_path(notification)
    response = client.post(path, {"name": "Dr Ahmed"})
    assert response.status_code == 302
    assert response.url == path
    notification.refresh_from_db()
    assert notification.acknowledged_at is not None
    assert notification.acknowledged_by == "Dr Ahmed"
    assert notification.status == S.ACKNOWLEDGED
    page = client.get(path).content.decode()
    assert "your acknowledgement has been recorded" in page
    assert "by Dr Ahmed" in page


def test_acknowledge_name_is_optional(client, notification):
    client.post(ack_path(notification), {"name": ""})
    notification.refresh_from_db()
    assert notification.acknowledged_at is not None
    assert notification.acknowledged_by == ""


def test_acknowledge_reused_link_changes_nothing(client, notification):
    path = ack_path(notification)
    client.post(path, {"name": "First"})
    notification.refresh_from_db()
    first_at = notification.acknowledged_at
    response = client.post(path, {"name": "Second"})
    assert response.status_code == 200
    assert "has been acknowledged" in response.content.decode()
    notification.refresh_from_db()
    assert notification.acknowledged_at == first_at
    assert notification.acknowledged_by == "First"


@pytest.mark.parametrize("method", ["get", "post"])
def test_acknowledge_forged_token(client, notification, method):
    forged = signing.TimestampSigner(salt="something-else").sign(str(notification.pk))
    tampered = acknowledge_token(notification)[:-2] + "xx"
    for token in (forged, tampered, "nonsense"):
        url = reverse("notifications:acknowledge", args=[token])
        response = getattr(client, method)(url, {"name": "Mallory"})
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()
    notification.refresh_from_db()
    assert notification.acknowledged_at is None
    assert notification.status == S.DUE


def test_acknowledge_expired(client, notification):
    with time_machine.travel(timezone.now() - dt.timedelta(days=15)):
        path = ack_path(notification)
    response = client.post(path, {"name": "Late"})
    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()
    notification.refresh_from_db()
    assert notification.acknowledged_at is None


def test_acknowledge_still_valid_at_13_days(client, notification):
    with time_machine.travel(timezone.now() - dt.timedelta(days=13)):
        path = ack_path(notification)
    assert client.get(path).status_code == 200


def test_acknowledge_cancelled(client, notification):
    Notification.objects.filter(pk=notification.pk).update(status=S.CANCELLED)
    response = client.post(ack_path(notification), {"name": "X"})
    assert "was cancelled" in response.content.decode()
    notification.refresh_from_db()
    assert notification.acknowledged_at is None


def test_acknowledge_wrong_method(client, notification):
    assert client.put(ack_path(notification)).status_code == 405


# Record that I told them ------------------------------------------------------------------


def told_data(**overrides: str) -> dict[str, str]:
    when = timezone.localtime() - dt.timedelta(minutes=30)
    data = {
        "method": "phone",
        "told_at_0": str(when.day),
        "told_at_1": str(when.month),
        "told_at_2": str(when.year),
        "told_at_3": when.strftime("%H:%M"),
        "told_whom": "Sam Patel, duty social worker",
        "notes": "Called the duty line.",
    }
    data.update(overrides)
    return data


def test_record_told_get_for_teller(client, officer, notification):
    client.force_login(officer)
    response = client.get(reverse("notifications:record_told", args=[notification.pk]))
    assert response.status_code == 200
    assert "Record that you told them" in response.content.decode()


def test_record_told_post(client, officer, notification):
    client.force_login(officer)
    response = client.post(
        reverse("notifications:record_told", args=[notification.pk]), told_data()
    )
    assert response.status_code == 302
    assert response.url == reverse("incidents:episode_detail", args=[notification.episode_id])
    notification.refresh_from_db()
    assert notification.status == S.TOLD
    assert notification.method == Method.PHONE
    assert notification.told_by == officer
    assert notification.told_whom == "Sam Patel, duty social worker"
    assert notification.told_at is not None


def test_record_told_by_manager_of_responsible_la(client, manager, notification):
    client.force_login(manager)
    response = client.post(
        reverse("notifications:record_told", args=[notification.pk]), told_data()
    )
    assert response.status_code == 302
    notification.refresh_from_db()
    assert notification.told_by == manager


def test_record_told_refused_for_others(client, social_worker, notification):
    client.force_login(social_worker)
    url = reverse("notifications:record_told", args=[notification.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, told_data()).status_code == 403
    notification.refresh_from_db()
    assert notification.status == S.DUE


def test_record_told_out_of_scope_is_404(client, outsider, notification):
    client.force_login(outsider)
    url = reverse("notifications:record_told", args=[notification.pk])
    assert client.get(url).status_code == 404
    assert client.get(reverse("notifications:record_told", args=[999999])).status_code == 404


def test_record_told_invalid_keeps_input(client, officer, notification):
    client.force_login(officer)
    response = client.post(
        reverse("notifications:record_told", args=[notification.pk]),
        told_data(told_whom="", told_at_3="25:99", notes="Kept"),
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.count("Enter who you told") >= 1
    assert "Error: " in content
    assert "Kept" in content
    notification.refresh_from_db()
    assert notification.status == S.DUE


def test_record_told_before_last_seen_refused(client, officer, notification):
    client.force_login(officer)
    before = timezone.localtime(notification.episode.last_seen_at) - dt.timedelta(days=1)
    response = client.post(
        reverse("notifications:record_told", args=[notification.pk]),
        told_data(
            told_at_0=str(before.day), told_at_1=str(before.month), told_at_2=str(before.year)
        ),
    )
    assert response.status_code == 200
    assert "after the child was last seen" in response.content.decode()


def test_record_told_wrong_method(client, officer, notification):
    client.force_login(officer)
    url = reverse("notifications:record_told", args=[notification.pk])
    assert client.delete(url).status_code == 405


def test_record_told_already_done(client, officer, notification):
    Notification.objects.filter(pk=notification.pk).update(status=S.CANCELLED)
    client.force_login(officer)
    response = client.post(
        reverse("notifications:record_told", args=[notification.pk]), told_data()
    )
    assert response.status_code == 302
    notification.refresh_from_db()
    assert notification.status == S.CANCELLED


# Cancel ---------------------------------------------------------------------------------


def test_cancel_by_manager(client, manager, notification):
    client.force_login(manager)
    url = reverse("notifications:cancel", args=[notification.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": "Child found before the report was made"})
    assert response.status_code == 302
    notification.refresh_from_db()
    assert notification.status == S.CANCELLED
    assert notification.cancelled_reason == "Child found before the report was made"


def test_cancel_needs_reason(client, manager, notification):
    client.force_login(manager)
    response = client.post(reverse("notifications:cancel", args=[notification.pk]), {})
    assert "Enter the reason for cancelling" in response.content.decode()
    notification.refresh_from_db()
    assert notification.status == S.DUE


def test_cancel_refused_for_practitioner(client, officer, notification):
    client.force_login(officer)
    url = reverse("notifications:cancel", args=[notification.pk])
    assert client.post(url, {"reason": "x"}).status_code == 403


# The episode page's checklist ----------------------------------------------------------


def test_checklist_on_episode_page(client, officer, episode, police, la_west, gp_practice):
    now = timezone.now()
    due = DeliveryNotificationFactory(
        episode=episode, recipient_agency=la_west, responsible_agency=police
    )
    overdue = DeliveryNotificationFactory(
        episode=episode,
        recipient_agency=gp_practice,
        responsible_agency=la_west,
        due_at=now - dt.timedelta(hours=1),
    )
    DeliveryNotificationFactory(
        episode=episode,
        recipient_agency=None,
        recipient_name="",
        recipient_email="",
        problem="No school nurse contact configured for Cheshire West and Chester",
        responsible_agency=la_west,
    )
    DeliveryNotificationFactory(
        episode=episode,
        recipient_agency=la_west,
        responsible_agency=police,
        status=S.TOLD,
        method=Method.PHONE,
        told_at=now - dt.timedelta(minutes=10),
        told_by=officer,
        told_whom="Duty social worker",
    )
    DeliveryNotificationFactory(
        episode=episode, responsible_agency=police, status=S.CANCELLED, cancelled_reason="Dup"
    )
    client.force_login(officer)
    content = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    assert "Who must be told" in content
    for label in ("Done", "Overdue", "Due", "Problem", "Cancelled"):
        assert f">{label}</strong>" in content
    assert "No school nurse contact configured" in content
    assert "PC Sam Okafor told Duty social worker" in content
    # The officer is the teller for the police rows only.
    assert reverse("notifications:record_told", args=[due.pk]) in content
    assert reverse("notifications:record_told", args=[overdue.pk]) not in content
    assert reverse("notifications:cancel", args=[due.pk]) not in content


def test_checklist_manager_sees_record_and_cancel(client, manager, notification):
    client.force_login(manager)
    url = reverse("incidents:episode_detail", args=[notification.episode_id])
    content = client.get(url).content.decode()
    assert reverse("notifications:record_told", args=[notification.pk]) in content
    assert reverse("notifications:cancel", args=[notification.pk]) in content


def test_checklist_offers_record_told_only_where_nobody_was_told(
    client, officer, episode, police, la_west
):
    """A row delivered by e-mail (sent) is done: recording a call on top would only
    invite a second one. A row whose e-mail failed is still due, and offered."""
    now = timezone.now()
    emailed = DeliveryNotificationFactory(
        episode=episode,
        recipient_agency=la_west,
        responsible_agency=police,
        status=S.SENT,
        delivery=Notification.Delivery.DELIVERED,
        method=Method.EMAIL,
        told_at=now - dt.timedelta(minutes=5),
    )
    failed = DeliveryNotificationFactory(
        episode=episode,
        recipient_agency=la_west,
        responsible_agency=police,
        delivery=Notification.Delivery.FAILED,
    )
    client.force_login(officer)
    content = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    assert reverse("notifications:record_told", args=[emailed.pk]) not in content
    assert reverse("notifications:record_told", args=[failed.pk]) in content
    assert "E-mail failed: tell them another way" in content


def test_checklist_empty(client, officer, episode):
    client.force_login(officer)
    content = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    assert "No one needs to be told yet." in content


@pytest.mark.parametrize("user_fixture", ["officer", "manager"])
def test_checklist_query_count_is_fixed(
    request, client, episode, police, la_west, django_assert_num_queries, user_fixture
):
    user = request.getfixturevalue(user_fixture)
    client.force_login(user)
    url = reverse("incidents:episode_detail", args=[episode.pk])
    DeliveryNotificationFactory.create_batch(
        2, episode=episode, recipient_agency=la_west, responsible_agency=police, told_by=user
    )
    client.get(url)
    with CaptureQueriesContext(connection) as two:
        client.get(url)
    DeliveryNotificationFactory.create_batch(
        8, episode=episode, recipient_agency=la_west, responsible_agency=police, told_by=user
    )
    with django_assert_num_queries(len(two.captured_queries)):
        client.get(url)
