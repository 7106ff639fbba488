"""A manager in a real browser: the dashboard, a filtered list, a record, a CSV export;
and a practitioner refused."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from django.urls import reverse
from django.utils import timezone

from missingkids.audit.models import AccessLogEntry
from tests.browser import sign_in
from tests.factories import DEFAULT_PASSWORD
from tests.factories.incidents import ChildFactory, EpisodeFactory

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_filters_follows_a_link_and_exports(
    page: Page, live_server: LiveServer, manager, social_worker, area_west
) -> None:
    now = timezone.now()
    for first, risk, rank in (("Kayla", "high", 4), ("Liam", "low", 2)):
        child = ChildFactory(
            first_name=first, last_name="Test", responsible_area=area_west, created_by=social_worker
        )
        EpisodeFactory(
            child=child, risk=risk, risk_rank=rank, last_seen_at=now - dt.timedelta(hours=5)
        )
    sign_in(page, live_server, manager, DEFAULT_PASSWORD)
    page.get_by_role("link", name="Managers", exact=True).first.click()
    page.wait_for_url(live_server.url + reverse("oversight:dashboard"))
    assert page.get_by_test_id("count-open_episodes").inner_text() == "2"

    page.get_by_role("link", name="Open episodes by risk and duration").click()
    # The filters are folded away until asked for, and say how many are applied.
    page.get_by_text("Filter the list").click()
    page.get_by_label("Risk").select_option("high")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**risk=high**")
    assert page.get_by_test_id("filter").get_by_text("Filter the list (1 applied)").is_visible()
    rows = page.get_by_test_id("rows")
    assert "Kayla Test" in rows.inner_text()
    assert "Liam Test" not in rows.inner_text()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as CSV").click()
    content = download_info.value.path().read_text()
    assert "Kayla Test" in content
    assert "Liam Test" not in content
    assert AccessLogEntry.objects.filter(
        action=AccessLogEntry.Action.EXPORT, user=manager, detail__what="open_episodes"
    ).exists()

    rows.get_by_role("link", name="Kayla Test").click()
    page.wait_for_url("**/episodes/**")
    assert "Kayla Test" in page.locator("main").inner_text()


def test_practitioner_gets_the_403_page(page: Page, live_server: LiveServer, social_worker) -> None:
    sign_in(page, live_server, social_worker, DEFAULT_PASSWORD)
    assert page.get_by_role("link", name="Managers", exact=True).count() == 0
    response = page.goto(live_server.url + reverse("oversight:dashboard"))
    assert response is not None and response.status == 403
    assert "You do not have permission" in page.locator("h1").inner_text()
