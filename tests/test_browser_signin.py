"""Sign in and out in a real browser: the form, the header, the sign-out button."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.browser import sign_in
from tests.factories import DEFAULT_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_see_who_you_are_and_sign_out(page, live_server, social_worker):
    from playwright.sync_api import expect

    sign_in(page, live_server, social_worker, DEFAULT_PASSWORD)

    header = page.get_by_test_id("signed-in-user")
    expect(header).to_contain_text("Jo Whitfield")
    expect(header).to_contain_text("Cheshire West and Chester Council Children's Services")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Jo Whitfield")

    header.get_by_role("button", name="Sign out").click()

    page.wait_for_url(re.compile(re.escape(live_server.url + reverse("login")) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.goto(live_server.url + reverse("home"))
    expect(page).to_have_url(re.compile(re.escape(reverse("login")) + r"\?next=/$"))


def test_wrong_password_shows_the_error_summary_first(page, live_server, social_worker):
    from playwright.sync_api import expect

    page.goto(live_server.url + reverse("login"))
    page.get_by_label("E-mail address").fill(social_worker.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Enter a correct e-mail address and password.")
    # GOV.UK Frontend's JavaScript moves focus to the summary for screen readers.
    expect(summary).to_be_focused()
    expect(page.get_by_label("E-mail address")).to_have_value(social_worker.email)
    expect(page).to_have_title(re.compile(r"^Error: Sign in"))


def test_first_sign_in_sets_up_an_authenticator_and_shows_recovery_codes(
    page, live_server, social_worker
):
    from base64 import b32decode

    from django_otp.oath import totp
    from playwright.sync_api import expect

    page.goto(live_server.url + reverse("login"))
    page.get_by_label("E-mail address").fill(social_worker.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(re.compile(re.escape(live_server.url + reverse("two_factor_enrol"))))
    expect(page.get_by_test_id("enrol-qr-code").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("enrol-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(f"{totp(b32decode(secret)):06d}")
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(re.compile(re.escape(live_server.url + reverse("two_factor_recovery_codes"))))
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_role("link", name="I have kept my recovery codes, continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Jo Whitfield")
