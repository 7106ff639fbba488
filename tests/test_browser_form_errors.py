"""Errors on the report's question page, in a real browser.

The checks that need the child's record (reported before last seen, "away" for a child
not in care, an episode it would overlap) are shown on the question page, by their
fields and all at once, and the check answers page is not reached. Each link of the
error summary puts the cursor in the first input of its question (GOV.UK Frontend's
ErrorSummary script, started by static/js/init.js, moves the focus). And a text box
with a limit counts down as the person types (GOV.UK's character count).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.actions.episodes import (
    AWAY_ONLY_IN_CARE_MESSAGE,
    REPORTED_BEFORE_LAST_SEEN_MESSAGE,
)
from incidents.models import Episode
from missingkids.policy import FREE_TEXT_MAX_LENGTH
from tests.browser import sign_in
from tests.factories import DEFAULT_PASSWORD
from tests.factories.incidents import ChildFactory, EpisodeFactory
from tests.test_browser_journeys import click_and_wait, fill_datetime, hours_ago

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from missingkids.accounts.models import LocalAuthorityArea, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def report_url(live_server: LiveServer, child_pk: int) -> str:
    return live_server.url + reverse("incidents:episode_report", args=[child_pk])


def answer_the_rest(page: Page) -> None:
    """The questions with no part in the checks, answered well."""
    page.get_by_label("Who reported the child missing?").fill("Sarah Jones, foster carer")
    page.get_by_label("Name of the place").fill("Chester bus interchange")
    page.get_by_label("Circumstances").fill("Did not come home after school.")
    page.get_by_label("Medium", exact=True).check()
    page.get_by_label("What is your concern based on?").fill("Missing twice before.")


def expect_by_field(page: Page, first_input: str, message: str) -> None:
    from playwright.sync_api import expect

    group = page.locator(".govuk-form-group--error").filter(has=page.locator(f"#{first_input}"))
    expect(group.locator(".govuk-error-message")).to_contain_text(message)
    expect(page.locator(".govuk-error-summary")).to_contain_text(message)


def expect_question_page(page: Page, live_server: LiveServer, child_pk: int) -> None:
    from playwright.sync_api import expect

    expect(page).to_have_title(re.compile(r"^Error: "))
    assert page.url == report_url(live_server, child_pk)
    expect(page.get_by_role("heading", level=1)).not_to_have_text(
        "Check your answers before reporting"
    )


def test_reported_before_last_seen_and_away_for_a_child_not_in_care_are_shown_together(
    page: Page, live_server: LiveServer, social_worker: User, area_west: LocalAuthorityArea
) -> None:
    from playwright.sync_api import expect

    now = timezone.now().replace(second=0, microsecond=0)
    child = ChildFactory(
        first_name="Noah", last_name="Price", responsible_area=area_west, created_by=social_worker
    )
    assert not child.is_in_care
    sign_in(page, live_server, social_worker, DEFAULT_PASSWORD)
    page.goto(report_url(live_server, child.pk))
    # "Away" is not offered for a child not in care; a page kept open from before the
    # child left care (or a crafted post) may still send it.
    page.locator("input[name=category]").first.evaluate("box => { box.value = 'away' }")
    fill_datetime(page, "reported_at", hours_ago(now, 6))
    fill_datetime(page, "last_seen_at", hours_ago(now, 3))
    answer_the_rest(page)
    click_and_wait(page, "Continue")

    expect_question_page(page, live_server, child.pk)
    expect_by_field(page, "id_reported_at_0", REPORTED_BEFORE_LAST_SEEN_MESSAGE)
    expect_by_field(page, "id_category_1", AWAY_ONLY_IN_CARE_MESSAGE)
    # What was typed is kept.
    expect(page.get_by_label("Circumstances")).to_have_value("Did not come home after school.")
    assert not Episode.objects.filter(child=child).exists()


def test_an_episode_the_report_would_overlap_is_named_by_last_seen(
    page: Page, live_server: LiveServer, social_worker: User, area_west: LocalAuthorityArea
) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    child = ChildFactory(
        first_name="Ava", last_name="Hughes", responsible_area=area_west, created_by=social_worker
    )
    EpisodeFactory(
        child=child,
        last_seen_at=now - dt.timedelta(hours=10),
        found_at=now - dt.timedelta(hours=2),
        created_by=social_worker,
    )
    sign_in(page, live_server, social_worker, DEFAULT_PASSWORD)
    page.goto(report_url(live_server, child.pk))
    page.get_by_label("Missing", exact=True).check()
    fill_datetime(page, "last_seen_at", hours_ago(now, 5))
    answer_the_rest(page)
    click_and_wait(page, "Continue")

    expect_question_page(page, live_server, child.pk)
    expect_by_field(page, "id_last_seen_at_0", "This overlaps the child's episode last seen")
    assert Episode.objects.filter(child=child).count() == 1


def test_each_error_summary_link_puts_the_cursor_in_its_question(
    page: Page, live_server: LiveServer, social_worker: User, area_west: LocalAuthorityArea
) -> None:
    from playwright.sync_api import expect

    child = ChildFactory(responsible_area=area_west, created_by=social_worker)
    sign_in(page, live_server, social_worker, DEFAULT_PASSWORD)
    page.goto(report_url(live_server, child.pk))
    click_and_wait(page, "Continue")
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator(".govuk-error-summary")

    questions = {
        # A radio question: its first option.
        "Select your concern about the risk": "input[name=risk]",
        # A date: its day box.
        "Enter the date and time the child was last seen": "#id_last_seen_at_0",
        # A text box, and a text area.
        "Enter who reported the child missing": "#id_reported_by_name",
        "Enter the circumstances": "#id_circumstances",
    }
    for message, first_input in questions.items():
        expected = page.locator(first_input).first.get_attribute("id")
        assert expected
        page.evaluate("() => window.scrollTo(0, 0)")
        summary.get_by_role("link", name=message).click()
        expect(page.locator(f"#{expected}")).to_be_focused()
        assert page.evaluate("() => document.activeElement.id") == expected


def test_a_text_box_counts_down_as_the_person_types(
    page: Page, live_server: LiveServer, social_worker: User, area_west: LocalAuthorityArea
) -> None:
    from playwright.sync_api import expect

    child = ChildFactory(responsible_area=area_west, created_by=social_worker)
    sign_in(page, live_server, social_worker, DEFAULT_PASSWORD)
    page.goto(report_url(live_server, child.pk))
    box = page.get_by_label("Circumstances")
    count = page.locator("#id_circumstances-info ~ .govuk-character-count__status").first
    expect(count).to_have_text(f"You have {FREE_TEXT_MAX_LENGTH:,} characters remaining")
    box.fill("x" * 1200)
    expect(count).to_have_text(f"You have {FREE_TEXT_MAX_LENGTH - 1200:,} characters remaining")
    # Nothing stops the typing: beyond the limit the count says by how much.
    box.fill("x" * (FREE_TEXT_MAX_LENGTH + 5))
    expect(count).to_have_text("You have 5 characters too many")
    assert len(box.input_value()) == FREE_TEXT_MAX_LENGTH + 5
