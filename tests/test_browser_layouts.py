"""Every page at a desktop's width and a phone's, checked by axe-core, and the phone
layouts: no page wider than a 390 px phone, and a whole report, return and "who must
be told" done on one.

The page fixture (tests/browser.py) runs axe-core on every page loaded here and fails
the test on any violation; it also records which templates each page was drawn from,
at which width, so the first test can show that every page template was seen at both.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from api.models import CsvImport
from guidance.defaults import add_missing_shipped_pages
from incidents.models import (
    AgreedAction,
    Associate,
    Challenge,
    Episode,
    EpisodeProfileSnapshot,
    InvolvementRequest,
    LegalStatus,
    LegalStatusPeriod,
    MissingPersonProfile,
    StrategyMeeting,
)
from notifications.emails import acknowledge_token
from notifications.models import Notification, Rule
from oversight.return_requests import build_queued_returns, return_request
from oversight.returns import latest_year
from tests.browser import DESKTOP, PHONE, axe_scans, sign_in
from tests.factories import DEFAULT_PASSWORD, ContactFactory
from tests.factories.incidents import (
    CaseEventFactory,
    ChildFactory,
    EpisodeFactory,
    InvolvementFactory,
    PlacementFactory,
    ReturnInterviewFactory,
    RiskGradingFactory,
)
from tests.factories.notifications import NotificationFactory, RuleFactory
from tests.test_browser_journeys import click_and_wait, fill_date, fill_datetime

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [REPO / "templates", REPO / "incidents" / "templates"]

# Page templates this module does not draw, and why.
SEEN_ELSEWHERE = {
    # Django admin's own layout, outside the service's: not checked by the browser tests.
    "admin/accounts/user/second_factor.html": "an admin page (Django admin's layout)",
    # Shown only during a first sign-in, checked by test_browser_signin at desktop width;
    # at a phone's width they are the sign-in page's single column.
    "accounts/two_factor_enrol.html": "test_browser_signin (first sign-in)",
    "accounts/recovery_codes.html": "test_browser_signin (first sign-in)",
}


def page_templates() -> set[str]:
    """Every template that draws a whole page: those extending base.html, directly or
    through a form page."""
    found: dict[str, str] = {}
    for root in TEMPLATE_DIRS:
        for path in root.rglob("*.html"):
            name = path.relative_to(root).as_posix()
            head = path.read_text(encoding="utf-8")[:300]
            match = re.search(r'{% extends "([^"]+)" %}', head)
            if match:
                found[name] = match.group(1)
    pages = {name for name, parent in found.items() if parent == "base.html"}
    pages |= {name for name, parent in found.items() if parent in pages}
    pages.add("admin/accounts/user/second_factor.html")
    return pages


def page_fits(page: Page) -> None:
    """The page is no wider than the window: nothing to scroll sideways."""
    scroll_width, inner_width = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= inner_width, (
        f"{page.url} is {scroll_width}px wide in a {inner_width}px window"
    )


def fill_report(page: Page) -> None:
    """Fill in the report-missing question page and continue to check answers."""
    page.get_by_label("Missing", exact=True).check()
    page.get_by_label("Who reported the child missing?").fill("Sarah Jones, residential worker")
    # After the child's last episode ended (an hour ago): episodes never overlap.
    fill_datetime(page, "last_seen_at", timezone.now() - dt.timedelta(minutes=40))
    page.get_by_label("Name of the place").fill("Chester bus interchange")
    page.get_by_label("Circumstances").fill("Did not come back after school.")
    page.get_by_label("Medium", exact=True).check()
    page.get_by_label("What is your concern based on?").fill("Missing before.")
    click_and_wait(page, "Continue")


def make_records(
    social_worker, manager, officer, provider, la_west, la_east, host_worker, area_west
):
    """A child with everything a page can show, and a second whose episode has ended."""
    now = timezone.now()
    child = ChildFactory(
        first_name="Ellie",
        last_name="Brennan",
        known_as="Ellie-Mae",
        responsible_area=area_west,
        legal_status=LegalStatus.IN_CARE,
        created_by=social_worker,
        nhs_number="9434765919",
        physical_description="Slim, long dark hair, often wears a grey hoodie.",
    )
    PlacementFactory(child=child, carer_name="Oak Lodge children's home")
    InvolvementFactory(
        child=child,
        agency=provider,
        professional_name="Dani Okafor",
        professional_email="dani.okafor.return-interviews@provider.example.org",
    )
    request = InvolvementRequest.objects.create(
        child=child,
        agency=provider,
        role="other",
        professional_name="Sam Reed",
        start=timezone.localdate() - dt.timedelta(days=3),
        requested_by=host_worker,
        requested_by_agency=la_east,
    )
    episode = EpisodeFactory(
        child=child, created_by=social_worker, last_seen_at=now - dt.timedelta(hours=5)
    )
    RiskGradingFactory(episode=episode, graded_by=officer)
    rule = RuleFactory()
    told = NotificationFactory(
        episode=episode, rule=rule, responsible_agency=la_west, recipient_agency=provider
    )
    NotificationFactory(
        episode=episode,
        rule=RuleFactory(),
        responsible_agency=la_west,
        recipient_agency=la_east,
        status=Notification.Status.SENT,
        delivery=Notification.Delivery.DELIVERED,
        method="email",
        told_at=now - dt.timedelta(hours=1),
    )
    # One each for acknowledging from the e-mail's link at each width.
    acknowledgeable = [
        NotificationFactory(
            episode=episode,
            rule=RuleFactory(),
            responsible_agency=la_west,
            recipient_agency=officer.agency,
        )
        for _ in range(2)
    ]
    CaseEventFactory(child=child, actor=social_worker, summary="Profile updated")
    # The missing person profile, kept four months ago (so due for review), and the copy
    # shared with the police at the report.
    profile_text = {
        "physical_description": "Slim, 5ft 4, long dark hair, a scar on her left hand.",
        "clothing": "Grey hoodie, white trainers, a small black rucksack.",
        "places": "Chester bus station; her sister's flat in Blacon.",
        "medication": "Salbutamol inhaler, as needed.",
    }
    kept = now - dt.timedelta(days=120)
    MissingPersonProfile.objects.create(
        child=child,
        reviewed_at=kept,
        reviewed_by=social_worker,
        updated_at=kept,
        updated_by=social_worker,
        **profile_text,
    )
    EpisodeProfileSnapshot.objects.create(
        episode=episode,
        profile_version=1,
        reviewed_at=kept,
        updated_at=kept,
        taken_at=episode.reported_at,
        taken_by=social_worker,
        **profile_text,
    )
    StrategyMeeting.objects.create(
        child=child,
        held_on=timezone.localdate() - dt.timedelta(days=2),
        decisions="Daily contact with Oak Lodge; refer to the exploitation panel.",
        recorded_by=manager,
    )
    challenge = Challenge.objects.create(
        child=child,
        challenged_agency=provider,
        raised_by=manager,
        raised_at=now,
        decision="No return interview offered after the second episode.",
        reason="The protocol says every return is offered an interview.",
    )
    returned = ReturnInterviewFactory(
        owner=la_west,
        episode__child=ChildFactory(
            first_name="Jay",
            last_name="Carter",
            responsible_area=area_west,
            created_by=social_worker,
        ),
        episode__created_by=social_worker,
        # Two days ago, so the report drawn for this child (last seen four hours ago)
        # overlaps no episode of theirs and reaches its check-answers page.
        episode__last_seen_at=now - dt.timedelta(days=2),
        episode__found_at=now - dt.timedelta(days=2) + dt.timedelta(hours=2),
    ).episode
    return child, episode, returned, told, request, challenge, acknowledgeable


def test_every_page_at_desktop_and_phone_width(
    page: Page,
    live_server: LiveServer,
    social_worker,
    manager,
    officer,
    provider,
    la_west,
    la_east,
    host_worker,
    area_west,
    admin_user,
) -> None:
    child, episode, returned, told, request, challenge, acknowledgeable = make_records(
        social_worker, manager, officer, provider, la_west, la_east, host_worker, area_west
    )
    # In care (with no council child identifier): the returns page lists its checks.
    LegalStatusPeriod.objects.create(
        child=child, status=LegalStatus.IN_CARE, start=timezone.localdate() - dt.timedelta(days=400)
    )
    # The council's returns for this year: one built (listing its checks), one waiting.
    built_returns = return_request(
        acting_user=manager, area=area_west, year=latest_year(), as_at=timezone.localdate()
    )
    build_queued_returns(worker="layouts")
    waiting_returns = return_request(
        acting_user=manager, area=area_west, year=latest_year() - 1, as_at=timezone.localdate()
    )
    # A checked CSV file, with a rejected row, for the import's pages.
    checked_file = CsvImport.objects.create(
        agency=la_west,
        uploaded_by=manager,
        kind=CsvImport.Kind.CHILDREN,
        file_name="children-in-care.csv",
        sha256="0" * 64,
        encoding="utf-8",
        header=["child_id", "date_of_birth"],
        rows=[
            {"row": 2, "key": "C100", "outcome": "created", "errors": []},
            {
                "row": 3,
                "key": "C101",
                "outcome": "rejected",
                "errors": [{"column": "date_of_birth", "message": "enter a real date"}],
            },
        ],
        rejected_rows=[{"row": 3, "cells": ["C101", "31/02/2013"], "errors": []}],
        created=1,
        rejected=1,
    )
    associate = Associate.objects.create(
        child=child,
        episode=episode,
        name="Jay Nolan",
        relationship=Associate.Relationship.OTHER,
        relationship_other="Drives her to Liverpool",
        concern="Older; seen with other missing children.",
        recorded_by=officer,
    )
    # Agreed at the strategy meeting, owned by the manager's council: one overdue, one done.
    meeting = StrategyMeeting.objects.get(child=child)
    overdue_action, done_action = (
        AgreedAction.objects.create(
            child=child,
            source=AgreedAction.Source.STRATEGY_MEETING,
            strategy_meeting=meeting,
            description=text,
            owner_agency=la_west,
            owner_person=manager,
            agreed_on=meeting.held_on,
            due_date=meeting.held_on + dt.timedelta(days=1),
            **extra,
        )
        for text, extra in (
            ("Refer to the exploitation panel.", {}),
            (
                "Daily contact with Oak Lodge.",
                {"state": "done", "done_at": timezone.now(), "what_happened": "Agreed."},
            ),
        )
    )
    # The shipped guidance pages, which an earlier test's flush of the database removed.
    add_missing_shipped_pages()
    url = live_server.url
    configuration_admin = admin_user
    config_rule = Rule.objects.filter(active=True).first()
    config_contact = ContactFactory(agency=la_west, name="Integrated Front Door", is_default=True)
    TOTPDevice.objects.create(user=social_worker, name="Phone", confirmed=True)
    failed_email = NotificationFactory(
        episode=episode,
        rule=RuleFactory(),
        responsible_agency=la_west,
        recipient_agency=la_east,
        delivery=Notification.Delivery.FAILED,
        attempt_count=5,
        last_error="SMTPRecipientsRefused: 550 5.1.1 No such user [address]",
        failing_since=timezone.now() - dt.timedelta(hours=3),
    )
    configuration_pages = [
        reverse("configuration:index"),
        reverse("configuration:people"),
        reverse("configuration:people") + "?q=zzz-nobody",
        reverse("configuration:person", args=[social_worker.pk]),
        reverse("configuration:person_change", args=[social_worker.pk]),
        reverse("configuration:person_second_factor", args=[social_worker.pk]),
        reverse("configuration:agencies"),
        reverse("configuration:agencies") + "?q=zzz-nothing",
        reverse("configuration:agency", args=[la_west.pk]),
        reverse("configuration:agency_change", args=[la_west.pk]),
        reverse("configuration:contact_add", args=[la_west.pk]),
        reverse("configuration:contact_change", args=[config_contact.pk]),
        reverse("configuration:contact_remove", args=[config_contact.pk]),
        reverse("configuration:areas"),
        reverse("configuration:area_change", args=[area_west.pk]),
        reverse("configuration:rules"),
        reverse("configuration:rule", args=[config_rule.pk]),
        reverse("configuration:rule_add"),
        reverse("configuration:notifications"),
        reverse("configuration:notifications") + "?status=cancelled",
        reverse("configuration:notification", args=[failed_email.pk]),
        reverse("configuration:failed_emails"),
    ]
    signed_in_pages = [
        reverse("imports:list"),
        reverse("imports:new"),
        reverse("imports:detail", args=[checked_file.pk]),
        reverse("incidents:agreed_action_add", args=[child.pk]),
        reverse("incidents:agreed_action_edit", args=[child.pk, overdue_action.pk]),
        reverse("incidents:agreed_action_done", args=[child.pk, overdue_action.pk]),
        reverse("incidents:agreed_action_not_needed", args=[child.pk, overdue_action.pk]),
        reverse("incidents:agreed_action_reopen", args=[child.pk, done_action.pk]),
        reverse("oversight:agreed_actions_overdue"),
        reverse("home"),
        reverse("account"),
        reverse("configuration_changes"),
        reverse("incidents:child_search"),
        reverse("incidents:child_add"),
        reverse("incidents:child_detail", args=[child.pk]),
        # The record's other pages, reached by its sub-navigation.
        reverse("incidents:child_care", args=[child.pk]),
        reverse("incidents:child_story", args=[child.pk]),
        reverse("incidents:child_history", args=[child.pk]),
        reverse("incidents:child_edit", args=[child.pk]),
        reverse("incidents:profile_edit", args=[child.pk]),
        reverse("incidents:profile_sheet", args=[child.pk]),
        reverse("incidents:profile_snapshot", args=[episode.pk]),
        reverse("incidents:involvement_request_answer", args=[child.pk, request.pk]),
        reverse("incidents:challenge_add", args=[child.pk]),
        reverse("incidents:challenge_outcome", args=[child.pk, challenge.pk]),
        reverse("incidents:strategy_meeting_add", args=[child.pk]),
        reverse(
            "incidents:strategy_meeting_change",
            args=[child.pk, StrategyMeeting.objects.get(child=child).pk],
        ),
        reverse("incidents:supervision_note_add", args=[child.pk]),
        # The child's associates and a place's page.
        reverse("incidents:associate_add", args=[episode.pk]),
        reverse("incidents:associate_change", args=[child.pk, associate.pk]),
        reverse("incidents:place_detail", args=[child.pk, episode.last_seen_location_id]),
        reverse("incidents:episode_list_open"),
        reverse("incidents:episode_list_open") + "?risk=medium&category=missing",
        reverse("incidents:episode_detail", args=[episode.pk]),
        reverse("incidents:episode_return", args=[episode.pk]),
        reverse("incidents:episode_report", args=[returned.child_id]),
        reverse("incidents:episode_detail", args=[returned.pk]),
        reverse("incidents:interview_detail", args=[returned.pk]),
        reverse("incidents:interview_held", args=[returned.pk]),
        reverse("incidents:recent_work"),
        reverse("notifications:record_told", args=[told.pk]),
        reverse("oversight:dashboard"),
        reverse("oversight:measures"),
        reverse("oversight:open_episodes") + "?risk=medium",
        reverse("oversight:subject_access", args=[child.pk]),
        # The statutory returns: the year's checks (the case child has episodes this year).
        reverse("oversight:returns"),
        reverse("oversight:return_request", args=[built_returns.pk]),
        reverse("oversight:return_request", args=[waiting_returns.pk]),
        # Reporting a child already missing: the page that links to the open episode.
        reverse("incidents:episode_report", args=[child.pk]),
        reverse("agency_work:list"),
        # Practice guidance, as everyone reads it.
        reverse("guidance:list"),
        reverse("guidance:page", args=["return-interviews"]),
        reverse("guidance:versions", args=["return-interviews"]),
        reverse("guidance:version", args=["return-interviews", 1]),
        "/no-such-page/",
    ]
    # The error pages the server sends when it cannot answer (a bad request, a form
    # whose session has expired, a failure), drawn as the server draws them.
    error_pages = {"400": 400, "403_csrf": 403, "500": 500}
    page.route(
        re.compile(re.escape(url) + r"/error-page/(\w+)/$"),
        lambda route: route.fulfill(
            status=error_pages[route.request.url.rstrip("/").rsplit("/", 1)[1]],
            content_type="text/html",
            body=render_to_string(route.request.url.rstrip("/").rsplit("/", 1)[1] + ".html"),
        ),
    )

    for viewport, acknowledged in zip((DESKTOP, PHONE), acknowledgeable, strict=True):
        page.set_viewport_size(viewport)
        phone = viewport is PHONE

        page.goto(url + reverse("login"))
        if phone:
            page_fits(page)
        # Acknowledging by e-mail link: no sign-in, so before it.
        ack_url = reverse("notifications:acknowledge", args=[acknowledge_token(acknowledged)])
        page.goto(url + ack_url)
        with page.expect_navigation():
            page.locator("main form [type=submit]").click()
        page.goto(url + reverse("notifications:acknowledge", args=["not-a-real-link"]))
        # A forgotten password: ask, "check your e-mail", and a link that does not work.
        page.goto(url + reverse("password_reset"))
        page.get_by_label("E-mail address").fill("nobody@example.org")
        click_and_wait(page, "Send the link")
        assert "Check your e-mail" in page.locator("h1").inner_text()
        page.goto(url + reverse("password_reset_confirm", args=["MQ", "not-a-token"]))
        for name in error_pages:
            page.goto(f"{url}/error-page/{name}/")

        sign_in(page, live_server, manager, DEFAULT_PASSWORD)
        for path in signed_in_pages:
            page.goto(url + path)
            if phone:
                page_fits(page)
        # The check-answers pages of adding a child and of reporting one missing.
        page.goto(url + reverse("incidents:child_add"))
        page.get_by_label("First name", exact=True).fill("Noah")
        page.get_by_label("Last name", exact=True).fill("Price")
        fill_date(page, "date_of_birth", timezone.localdate() - dt.timedelta(days=13 * 365))
        page.get_by_label("Female", exact=True).check()
        page.get_by_label("Responsible local authority").select_option(str(area_west.pk))
        click_and_wait(page, "Continue")
        assert "Check your answers" in page.locator("h1").inner_text()
        if phone:
            page_fits(page)
        page.goto(url + reverse("incidents:episode_report", args=[returned.child_id]))
        fill_report(page)
        assert "Check your answers" in page.locator("h1").inner_text()
        if phone:
            page_fits(page)
        # The interview's check-answers page.
        page.goto(url + reverse("incidents:interview_held", args=[returned.pk]))
        page.get_by_label("What the child said, in their own words").fill("I was at my nan's.")
        fill_datetime(page, "held_at", timezone.now() - dt.timedelta(minutes=5))
        # "Other (say what)" reveals its box.
        assert not page.locator("#id_push_other").is_visible()
        page.locator("#conditional-push_factors-other").locator("..").get_by_label(
            "Other (say what)"
        ).check()
        assert page.locator("#id_push_other").is_visible()
        page.locator("#id_push_other").fill("Missing her sister")
        click_and_wait(page, "Save the interview")
        assert "Check your answers" in page.locator("h1").inner_text()
        if phone:
            page_fits(page)
        # Back to the report later: the unsent report is offered, not pre-filled.
        page.goto(url + reverse("incidents:episode_report", args=[returned.child_id]))
        assert "You started a report" in page.locator("h1").inner_text()
        if phone:
            page_fits(page)
        # The import's upload page with its error summary: no file chosen.
        page.goto(url + reverse("imports:new"))
        click_and_wait(page, "Check the file")
        assert "There is a problem" in page.locator("main").inner_text()
        if phone:
            page_fits(page)
        # Search results, through the search form.
        page.goto(url + reverse("incidents:child_search"))
        page.get_by_label("Name, date of birth or an identifier").fill("Brennan")
        click_and_wait(page, "Search")
        assert "Ellie Brennan" in page.get_by_test_id("search-results").inner_text()
        if phone:
            page_fits(page)
        # A filtered list: the disclosure says how many filters are applied.
        page.goto(url + reverse("oversight:open_episodes") + "?risk=medium&category=missing")
        assert "(2 applied)" in page.get_by_test_id("filter").inner_text()
        page.get_by_test_id("filter").locator("summary").click()
        assert page.get_by_label("Risk").is_visible()

        # The configuration pages, as a partnership admin: every list, record, form
        # (with its errors) and the check-your-answers page of a rule change.
        page.context.clear_cookies()
        sign_in(page, live_server, configuration_admin, DEFAULT_PASSWORD)
        for path in configuration_pages:
            page.goto(url + path)
            if phone:
                page_fits(page)
        page.goto(url + reverse("configuration:person_add"))
        click_and_wait(page, "Save")
        assert "There is a problem" in page.content()
        page.goto(url + reverse("configuration:rule_change", args=[config_rule.pk]))
        message = page.get_by_label("Message", exact=True)
        message.fill(f"Check the child's page ({viewport['width']})")
        click_and_wait(page, "Continue")
        assert "Check the change" in page.locator("h1").inner_text()
        if phone:
            page_fits(page)
        page.goto(url + reverse("configuration:rules"))
        # A partnership admin writes guidance: the page with its preview, and a new page.
        page.goto(url + reverse("guidance:edit", args=["missing-protocol"]))
        click_and_wait(page, "Preview")
        assert page.get_by_test_id("guidance-preview").is_visible()
        if phone:
            page_fits(page)
        page.goto(url + reverse("guidance:add"))

        # Someone from another agency is refused a manager's page.
        page.context.clear_cookies()
        sign_in(page, live_server, officer, DEFAULT_PASSWORD)
        response = page.goto(url + reverse("oversight:dashboard"))
        assert response is not None and response.status == 403
        page.context.clear_cookies()

    # Every page template was seen at both widths (the fixture ran axe on each).
    seen = axe_scans(page).templates
    missing = {
        name: sorted(seen.get(name, set()))
        for name in page_templates() - set(SEEN_ELSEWHERE)
        if {DESKTOP["width"], PHONE["width"]} - seen.get(name, set())
    }
    assert not missing, f"page templates not seen at both widths (widths seen): {missing}"


def test_a_phone_reports_a_child_missing_records_the_return_and_sees_who_must_be_told(
    page: Page, live_server: LiveServer, social_worker, area_west
) -> None:
    page.set_viewport_size(PHONE)
    now = timezone.now()
    child = ChildFactory(
        first_name="Maya", last_name="Reid", responsible_area=area_west, created_by=social_worker
    )
    sign_in(page, live_server, social_worker, DEFAULT_PASSWORD)
    page.goto(live_server.url + reverse("incidents:child_detail", args=[child.pk]))
    page_fits(page)

    click_and_wait(page, "Report missing")
    page_fits(page)
    fill_report(page)
    page_fits(page)
    click_and_wait(page, "Report missing")
    page_fits(page)
    episode = Episode.objects.get(child=child)

    click_and_wait(page, "Record return", role="link")
    page_fits(page)
    fill_datetime(page, "found_at", now - dt.timedelta(minutes=10))
    page.get_by_label("Name of the place").fill("Crewe retail park")
    page.get_by_label("Returned of their own accord", exact=True).check()
    click_and_wait(page, "Record return")
    assert page.url == live_server.url + reverse("incidents:episode_detail", args=[episode.pk])
    page_fits(page)
    assert page.get_by_role("heading", name="Who must be told").is_visible()
