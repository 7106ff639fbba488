"""End to end: a police report → the engine's notification → the worker's e-mail → the
recipient's acknowledgement → "Done" on the episode page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from incidents.actions.episodes import episode_report
from incidents.models import Episode, RiskGrade
from notifications.models import Notification
from notifications.sending import send_due_notifications
from tests.factories.incidents import ChildFactory
from tests.factories.notifications import partnership_contacts

pytestmark = pytest.mark.django_db


def test_police_report_reaches_the_la_and_is_acknowledged(
    client, officer, area_west, la_west, police, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://missingkids.example.org"
    partnership_contacts(la=la_west, others=[])
    child = ChildFactory(
        first_name="Amelia", last_name="Jones", responsible_area=area_west, created_by=officer
    )
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        episode = episode_report(
            acting_user=officer,
            child=child,
            category=Episode.Category.MISSING,
            reported_at=now - dt.timedelta(minutes=30),
            reported_by_name="Foster carer",
            last_seen_at=now - dt.timedelta(hours=2),
            circumstances="Did not come home.",
            risk=RiskGrade.MEDIUM,
            risk_rationale="No known risks.",
        )
    to_la = Notification.objects.get(
        episode=episode, step="reported", recipient_agency=la_west, responsible_agency=police
    )
    assert to_la.delivery == Notification.Delivery.QUEUED

    assert send_due_notifications(worker="test") >= 1
    to_la.refresh_from_db()
    assert to_la.status == Notification.Status.SENT
    message = next(m for m in mail.outbox if to_la.recipient_email in m.to)
    assert "Amelia J." in message.subject

    link = re.search(
        r"https://missingkids\.example\.org(/notifications/acknowledge/\S+/)", message.body
    )
    assert link
    assert client.post(link[1], {"name": "Front door"}).status_code == 302
    to_la.refresh_from_db()
    assert to_la.status == Notification.Status.ACKNOWLEDGED

    client.force_login(officer)
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    assert "Acknowledged" in page and ">Done</strong>" in page
