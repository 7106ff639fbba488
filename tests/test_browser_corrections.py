"""Correcting a saved record in a real browser: the provider's worker changes the child's
words in a return interview, giving a reason, and the history shows both versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.urls import reverse

from incidents.actions.interviews import interview_record_held
from tests.browser import sign_in
from tests.factories import DEFAULT_PASSWORD
from tests.incidents.test_interviews_actions import HOUR, held_kwargs, make_interview
from tests.test_browser_journeys import click_and_wait, expect_banner

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from missingkids.accounts.models import Agency, LocalAuthorityArea, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TYPED = "I went because nobody listens to me at home."
MEANT = "I went because nobody listened to me at home, not since my nan died."


def test_correcting_the_childs_words_keeps_both_in_the_history(
    page: Page,
    live_server: LiveServer,
    area_west: LocalAuthorityArea,
    la_west: Agency,
    provider: Agency,
    social_worker: User,
    provider_worker: User,
) -> None:
    from playwright.sync_api import expect

    interview = make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )
    found = interview.episode.found_at.replace(second=0, microsecond=0)
    interview_record_held(
        acting_user=provider_worker,
        **held_kwargs(interview, child_voice=TYPED, held_at=found + 20 * HOUR),
    )

    sign_in(page, live_server, provider_worker, DEFAULT_PASSWORD)
    page.goto(live_server.url + reverse("incidents:interview_detail", args=[interview.episode_id]))
    expect(page.get_by_test_id("child-voice")).to_contain_text(TYPED)

    click_and_wait(page, "Change the return interview", role="link")
    expect(page.get_by_role("heading", level=1)).to_have_text("Change the return interview")
    words = page.get_by_label("What the child said, in their own words")
    expect(words).to_have_value(TYPED)
    words.fill(MEANT)
    page.get_by_label("Why are you changing it?").fill("Typed before checking my notes")
    click_and_wait(page, "Save the changes")

    expect_banner(page, "Return interview changed")
    expect(page.get_by_test_id("child-voice")).to_contain_text(MEANT)
    history = page.get_by_test_id("change-history")
    history.locator("summary").click()
    expect(history).to_contain_text(
        f"The child's own words: \u2018{TYPED}\u2019 to \u2018{MEANT}\u2019"
    )
    expect(history).to_contain_text("Reason: Typed before checking my notes")
    expect(history).to_contain_text(f"{provider_worker.name} ({provider.name})")
