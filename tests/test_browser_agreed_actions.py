"""Agreed actions in a real browser: a return worker records an interview with two actions
owned by the child's school; a teacher sees them on her home page and marks one done; a
week later a manager finds the other overdue."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from incidents.models import AgreedAction
from missingkids.accounts.models import User
from tests.browser import sign_in
from tests.factories import DEFAULT_PASSWORD
from tests.factories.accounts import UserFactory
from tests.factories.incidents import ChildFactory, ReturnInterviewFactory
from tests.test_browser_journeys import (
    click_and_wait,
    expect_banner,
    fill_date,
    fill_datetime,
    switch_user,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_actions_agreed_at_the_interview_are_followed_up_by_their_owner(
    page: Page,
    live_server: LiveServer,
    provider_worker,
    provider,
    la_west,
    school,
    social_worker,
    manager,
    area_west,
) -> None:
    from playwright.sync_api import expect

    teacher = UserFactory(
        email="amy.rowe@riverside.example.org",
        name="Amy Rowe",
        agency=school,
        role=User.Role.PRACTITIONER,
    )
    now = timezone.now()
    today = timezone.localdate()
    found = now - dt.timedelta(days=2)
    interview = ReturnInterviewFactory(
        owner=la_west,
        provider=provider,
        episode__child=ChildFactory(
            first_name="Ellie",
            last_name="Brennan",
            responsible_area=area_west,
            created_by=social_worker,
        ),
        episode__created_by=social_worker,
        episode__last_seen_at=found - dt.timedelta(hours=6),
        episode__found_at=found,
    )
    episode = interview.episode

    # The return worker records the interview and two actions for the school. ---------
    sign_in(page, live_server, provider_worker, DEFAULT_PASSWORD)
    page.goto(live_server.url + reverse("incidents:interview_held", args=[episode.pk]))
    page.get_by_label("What the child said, in their own words").fill(
        "School is where I feel safe, but I have nobody to talk to there."
    )
    fill_datetime(page, "held_at", found + dt.timedelta(hours=20))
    page.get_by_label("What would help, in the child's view").fill("A mentor at school.")
    page.locator("#id_action_1_description").fill("Offer Ellie a mentor at school")
    page.locator("#id_action_1_owner_agency").select_option(label=school.name)
    fill_date(page, "action_1_due_date", today + dt.timedelta(days=3))
    page.locator("#id_action_2_description").fill("Tell Ellie's form tutor what happened")
    page.locator("#id_action_2_owner_agency").select_option(label=school.name)
    page.locator("#id_action_2_owner_person").select_option(label=teacher.name)
    fill_date(page, "action_2_due_date", today + dt.timedelta(days=5))
    click_and_wait(page, "Save the interview")
    expect(page.get_by_test_id("check-answers")).to_contain_text("Offer Ellie a mentor")
    click_and_wait(page, "Confirm and save")
    expect_banner(page, "Return interview saved")
    expect(page.get_by_test_id("action-state")).to_have_count(2)

    # The teacher sees them on her home page and marks the first done. ----------------
    switch_user(page, live_server, teacher)
    rows = page.get_by_test_id("agreed-action-rows")
    expect(rows).to_contain_text("Offer Ellie a mentor at school")
    expect(rows).to_contain_text("Tell Ellie's form tutor what happened")
    expect(page.get_by_test_id("agreed-action-counts")).to_contain_text("2 open agreed actions")
    click_and_wait(page, re.compile("^Offer Ellie a mentor at school"), role="link")  # type: ignore[arg-type]
    actions = page.get_by_test_id("open-actions")
    expect(actions).to_contain_text("Owner: Amy Rowe, Chester Riverside Academy")
    with page.expect_navigation():
        # Soonest due first: the mentor.
        actions.get_by_role("link", name="Mark done").first.click()
    expect(page.get_by_test_id("action-summary")).to_contain_text("Offer Ellie a mentor")
    page.get_by_label("What happened?").fill("Ellie meets Mr Hale every Monday lunchtime.")
    click_and_wait(page, "Mark as done")
    expect_banner(page, "Action marked done")
    closed = page.get_by_test_id("closed-actions")
    closed.locator("summary").click()
    expect(closed).to_contain_text("Ellie meets Mr Hale every Monday lunchtime.")

    # A week later, a manager finds the other one overdue. -----------------------------
    with time_machine.travel(now + dt.timedelta(days=8), tick=True):
        switch_user(page, live_server, manager)
        page.get_by_role("link", name="Managers", exact=True).first.click()
        page.wait_for_url(live_server.url + reverse("oversight:dashboard"))
        expect(page.get_by_test_id("count-agreed_actions_overdue")).to_have_text("1")
        click_and_wait(page, "Agreed actions overdue", role="link")
        rows = page.get_by_test_id("rows")
        expect(rows).to_contain_text("Tell Ellie's form tutor what happened")
        expect(rows).to_contain_text("3 days")
        expect(rows).not_to_contain_text("Offer Ellie a mentor")

    assert AgreedAction.objects.filter(state=AgreedAction.State.DONE).count() == 1
