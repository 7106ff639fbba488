"""Playwright fixtures for tests marked ``browser``: Debian's Chromium, headless.

The browser is the system's ``/usr/bin/chromium`` (``apt-get install chromium``); the
tests never download one with ``playwright install``. Without it the browser tests skip
with the reason, except under CI (``CI`` set), where they fail: a CI run that silently
skipped them would claim more than it checked.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.urls import reverse

if TYPE_CHECKING:
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from playwright.sync_api import Browser, Page
    from pytest_django.live_server_helper import LiveServer

    from missingkids.accounts.models import User

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous for a cold start on a slow machine, short enough that a broken page fails
# in seconds rather than minutes.
TIMEOUT_MS = 10_000
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-results"


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this fails instead of skipping", pytrace=False)
        pytest.skip(reason)

    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread, which makes
    # Django refuse ORM calls from the test ("async context"). The calls really are
    # synchronous, so allow them for as long as the browser lives.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


_call_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_call_failed] = report.failed
    return report


@pytest.fixture
def page(chromium_browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page in its own browser context (no cookies shared between tests).

    On failure a screenshot is left in test-results/ to show what the browser saw.
    """
    context = chromium_browser.new_context(locale="en-GB", timezone_id="Europe/London")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        if request.node.stash.get(_call_failed, False):
            ARTIFACTS.mkdir(exist_ok=True)
            safe_name = "".join(c if c.isalnum() else "_" for c in request.node.nodeid)
            page.screenshot(path=str(ARTIFACTS / f"{safe_name}.png"), full_page=True)
        context.close()


def current_totp_code(device: TOTPDevice) -> str:
    """The code an authenticator app would show now for ``device``.

    A code is accepted once (django-otp remembers the last time step used), so when
    this test already used the current step's code, give the next step's: the device
    accepts one step either side.
    """
    from django_otp.oath import totp

    device.refresh_from_db()
    now_step = int(time.time() - device.t0) // device.step
    ahead = max(0, device.last_t + 1 - now_step)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, ahead):0{device.digits}d}"


def sign_in(page: Page, live_server: LiveServer, user: User, password: str) -> None:
    """Sign in through the real sign-in form and second step; wait for the home page.

    The user gets a confirmed authenticator if they have none, and the code is worked
    out from its key as their app would.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Test authenticator", confirmed=True)
    page.goto(live_server.url + reverse("login"))
    page.get_by_label("E-mail address").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(live_server.url + reverse("two_factor"))))
    page.get_by_label("Code").fill(current_totp_code(device))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(live_server.url + reverse("home"))
