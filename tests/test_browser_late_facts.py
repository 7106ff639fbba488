"""The audit's sequence, in a real browser: facts that arrive the morning after the report
still reach everyone the report step must tell.

A police officer reports a 14-year-old in care missing late at night, knowing nothing of
her placement. The next morning the social worker records her out-of-county placement
and her GP, school and school nurse. The episode page must then list the host council,
GP, school and school nurse under "reported missing", with their deadlines, and the
e-mails must go out once each.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from incidents.models import Episode, LegalStatus
from notifications.models import Notification, RecipientRole, Step
from tests.browser import sign_in
from tests.factories import DEFAULT_PASSWORD
from tests.factories.incidents import ChildFactory
from tests.factories.notifications import ensure_default_rules, partnership_contacts
from tests.test_browser_journeys import (
    click_and_wait,
    fill_date,
    fill_datetime,
    hours_ago,
    shown,
    switch_user,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from missingkids.accounts.models import Agency, LocalAuthorityArea, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

R = RecipientRole


def add_agency(page: Page, agency: Agency, role_label: str, start: dt.date) -> None:
    click_and_wait(page, "Add an agency", role="link")
    page.get_by_label("Agency", exact=True).select_option(label=agency.name)
    page.get_by_label(role_label, exact=True).check()
    fill_date(page, "start", start)
    click_and_wait(page, "Save agency")


def test_facts_recorded_the_morning_after_reach_everyone_the_report_must_tell(
    page: Page,
    live_server: LiveServer,
    officer: User,
    social_worker: User,
    area_west: LocalAuthorityArea,
    police: Agency,
    la_west: Agency,
    la_east: Agency,
    iro_service: Agency,
    provider: Agency,
    gp_practice: Agency,
    school: Agency,
    school_nurse: Agency,
) -> None:
    from playwright.sync_api import expect

    ensure_default_rules()
    partnership_contacts(
        la=la_west,
        others=[police, la_east, iro_service, provider, gp_practice, school, school_nurse],
    )
    today = timezone.localdate()
    child = ChildFactory(
        first_name="Mia",
        last_name="Holt",
        date_of_birth=dt.date(today.year - 14, 1, 20),
        legal_status=LegalStatus.IN_CARE,
        responsible_area=area_west,
        created_by=social_worker,
    )
    now = timezone.now().replace(second=0, microsecond=0)
    last_seen = hours_ago(now, 11)
    reported = hours_ago(now, 10)

    # Late at night: the police report her missing; nobody has recorded a placement.
    sign_in(page, live_server, officer, DEFAULT_PASSWORD)
    page.goto(live_server.url + reverse("incidents:child_detail", args=[child.pk]))
    click_and_wait(page, "Report missing")
    page.get_by_label("Missing", exact=True).check()
    fill_datetime(page, "reported_at", reported)
    page.get_by_label("Who reported the child missing?").fill("Duty sergeant")
    page.get_by_label("Their agency (optional)").select_option(label=police.name)
    fill_datetime(page, "last_seen_at", last_seen)
    page.get_by_label("Name of the place").fill("Chester bus interchange")
    page.get_by_label("Circumstances").fill("Did not come back after an evening out.")
    page.get_by_label("Medium", exact=True).check()
    page.get_by_label("What information does the risk grade rest on?").fill(
        "First episode this year."
    )
    click_and_wait(page, "Continue")
    click_and_wait(page, "Report missing")
    episode = Episode.objects.get(child=child)
    episode_url = live_server.url + reverse("incidents:episode_detail", args=[episode.pk])
    assert page.url == episode_url
    checklist = page.get_by_test_id("notification-checklist")
    expect(checklist).to_contain_text("Responsible local authority")
    expect(checklist).not_to_contain_text("Host local authority")

    # The next morning: the social worker records what the council knows.
    switch_user(page, live_server, social_worker)
    page.goto(live_server.url + reverse("incidents:child_detail", args=[child.pk]))
    click_and_wait(page, "Care and agencies", role="link")
    click_and_wait(page, "Add a placement", role="link")
    page.get_by_label("Foster care", exact=True).check()
    page.get_by_label("Address", exact=True).fill("12 Mill Street, Crewe")
    page.get_by_label("Postcode", exact=True).fill("CW1 2AB")
    page.get_by_label("Local authority the placement is in").select_option(label="Cheshire East")
    fill_date(page, "start", today - dt.timedelta(days=200))
    click_and_wait(page, "Save placement")
    # As people do, the involvements are recorded from today.
    add_agency(page, gp_practice, "GP practice", today)
    add_agency(page, school, "School", today)
    add_agency(page, school_nurse, "School nurse", today)
    expect(page.get_by_test_id("involvements")).to_contain_text(school_nurse.name)

    page.goto(episode_url)
    checklist = page.get_by_test_id("notification-checklist")
    for role, agency in (
        (R.HOST_LA, la_east),
        (R.GP, gp_practice),
        (R.SCHOOL, school),
        (R.SCHOOL_NURSE, school_nurse),
    ):
        row = checklist.locator("tbody tr").filter(has_text=f"{R(role).label}: reported missing")
        expect(row).to_have_count(1)
        expect(row).to_contain_text(agency.name)
        notification = Notification.objects.get(
            episode=episode, step=Step.REPORTED, recipient_role=role
        )
        assert notification.late_fact_at is not None
        assert notification.due_at == notification.late_fact_at + dt.timedelta(hours=24)
        expect(row).to_contain_text(shown(notification.due_at))
        expect(row).to_contain_text("Late fact")

    # The worker sends each e-mail once, however often it runs.
    mail.outbox.clear()
    call_command("send_notifications", "--once")
    call_command("send_notifications", "--once")
    sent_to = [address for message in mail.outbox for address in message.to]
    for agency in (la_east, gp_practice, school, school_nurse):
        expected = agency.contacts.get(is_default=True).email
        assert sent_to.count(expected) == 1, agency.name
    assert len(sent_to) == len(set(sent_to))
    assert not Notification.objects.filter(
        episode=episode, delivery=Notification.Delivery.QUEUED
    ).exists()
