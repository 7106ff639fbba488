"""End to end: a force's system reports a child placed out of area missing and then
returned, retrying every call; the host council is e-mailed once for each."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from incidents.models import Episode, LegalStatus
from notifications.engine import process_pending_events
from notifications.models import Notification
from notifications.sending import send_due_notifications
from tests.factories.incidents import ChildFactory, PlacementFactory
from tests.factories.notifications import default_contact, partnership_contacts

from .conftest import iso, report_body

pytestmark = pytest.mark.django_db

HOST_DESK = "placements.east@la.example.org"


def retried(call, times: int = 3):
    """The call, then the same call ``times`` times more, as a system whose answers were
    lost would send it; every answer must be the first."""
    answers = [call() for _ in range(times + 1)]
    assert len({a.content for a in answers}) == 1, [a.content for a in answers]
    return answers[0]


def worker_pass() -> None:
    """What the scheduler and the e-mail worker do: work out who must be told, send."""
    process_pending_events()
    send_due_notifications(worker="test")


def test_a_retried_report_and_return_reach_the_host_council_once_each(
    force, officer, area_west, area_east, la_west, la_east, police
):
    partnership_contacts(la=la_west, others=[police])
    default_contact(la_east, name="Placements team", email=HOST_DESK)
    child = ChildFactory(
        first_name="Amelia",
        last_name="Jones",
        police_person_reference="PP-1001",
        legal_status=LegalStatus.IN_CARE,
        responsible_area=area_west,
        created_by=officer,
    )
    PlacementFactory(
        child=child, host_area=area_east, start=timezone.localdate() - dt.timedelta(days=300)
    )

    report = report_body()
    answer = retried(lambda: force.post("/api/v1/episodes/", report))
    assert answer.status_code == 201
    episode_id = answer.json()["episode"]["id"]
    worker_pass()
    worker_pass()

    back = {
        "found_at": iso(timezone.now() - dt.timedelta(minutes=5)),
        "how_returned": "police",
        "found_address": "Crewe bus station",
    }
    answer = retried(lambda: force.post(f"/api/v1/episodes/{episode_id}/return/", back))
    assert answer.status_code == 200
    worker_pass()
    worker_pass()

    assert Episode.objects.count() == 1
    to_host = Notification.objects.filter(recipient_agency=la_east).order_by("step")
    assert [n.step for n in to_host] == ["reported", "returned"]
    assert all(n.status == Notification.Status.SENT for n in to_host)
    host_mail = [m for m in mail.outbox if HOST_DESK in m.to]
    assert len(host_mail) == 2


def commands_pass() -> None:
    """The scheduler's pass and the e-mail worker, as their management commands run them."""
    call_command("notifications_scheduler", "--once", stdout=io.StringIO())
    call_command("send_notifications", "--once", stdout=io.StringIO())


def test_retries_with_an_idempotency_key_reach_the_host_council_once_through_the_worker(
    force, officer, area_west, area_east, la_west, la_east, police
):
    """The same, but the force's system sends an Idempotency-Key with each call, and the
    e-mails go out through the scheduler and worker commands."""
    partnership_contacts(la=la_west, others=[police])
    default_contact(la_east, name="Placements team", email=HOST_DESK)
    child = ChildFactory(
        police_person_reference="PP-1001",
        legal_status=LegalStatus.IN_CARE,
        responsible_area=area_west,
        created_by=officer,
    )
    PlacementFactory(
        child=child, host_area=area_east, start=timezone.localdate() - dt.timedelta(days=300)
    )

    report = report_body()
    answer = retried(lambda: force.post("/api/v1/episodes/", report, key="niche-report-77"))
    assert answer.status_code == 201
    episode_id = answer.json()["episode"]["id"]
    commands_pass()

    back = {"found_at": iso(timezone.now() - dt.timedelta(minutes=5)), "how_returned": "police"}
    answer = retried(
        lambda: force.post(f"/api/v1/episodes/{episode_id}/return/", back, key="niche-return-77")
    )
    assert answer.status_code == 200
    commands_pass()
    commands_pass()

    assert Episode.objects.filter(child=child).count() == 1
    host_mail = [m for m in mail.outbox if HOST_DESK in m.to]
    assert len(host_mail) == 2
    assert len({m.extra_headers.get("Message-ID") for m in host_mail}) == 2
