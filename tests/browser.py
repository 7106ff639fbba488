"""Playwright fixtures for tests marked ``browser``: Debian's Chromium, headless.

The browser is the system's ``/usr/bin/chromium`` (``apt-get install chromium``); the
tests never download one with ``playwright install``. Without it the browser tests skip
with the reason, except under CI (``CI`` set), where they fail: a CI run that silently
skipped them would claim more than it checked.

Every page a browser test loads is checked for accessibility with axe-core (pinned in
package.json, installed by ``make assets``): after each page load (following a link,
``page.goto``, submitting a form) the page fixture runs ``axe.run()`` at the viewport
the test is using, and a test whose pages had any violation fails at its end with the
list: rule, element, page and width. The only rules not enforced are in
``ACCEPTED_AXE_RULES``, each with its reason (also listed in the README).
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.test import signals
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
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-results"
AXE_SCRIPT = REPO / "node_modules" / "axe-core" / "axe.min.js"
# What the pages need from `make assets`: the compiled stylesheet and GOV.UK's script.
BUILT_ASSETS = (
    REPO / "static" / "build" / "app.css",
    REPO / "static" / "build" / "govuk" / "all.bundle.js",
)

# axe-core rules not enforced, each with the reason. Keep this in step with the README
# ("Accessibility"). Every other rule of axe's default set (WCAG 2.0, 2.1 and 2.2 A and
# AA, and best practices) fails the test.
ACCEPTED_AXE_RULES: dict[str, str] = {}

# Widths the browser tests use: GOV.UK's desktop layout and a common phone.
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _missing_assets() -> str | None:
    if not AXE_SCRIPT.exists():
        return (
            f"axe-core is missing ({AXE_SCRIPT.relative_to(REPO)} not found): run make assets "
            "to install the front-end packages pinned in package.json"
        )
    missing = [str(path.relative_to(REPO)) for path in BUILT_ASSETS if not path.exists()]
    if missing:
        return (
            f"the front-end is not built ({', '.join(missing)} not found): run make assets "
            "so the pages have their stylesheet and scripts"
        )
    return None


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this fails instead of skipping", pytrace=False)
        pytest.skip(reason)
    # With a browser, pages without their stylesheet or axe-core would make every test
    # fail for a reason that has nothing to do with it: say what to run instead.
    missing = _missing_assets()
    if missing:
        pytest.fail(f"browser tests: {missing}", pytrace=False)

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


# Run inside the page: axe's default rule set, violations only, each reduced to what a
# failure message needs.
_AXE_RUN = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map((v) => ({
    rule: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""


@functools.cache
def _axe_source() -> str:
    # axe's bundle sets window.axe when there is no module system, as in a page.
    return f"() => {{ {AXE_SCRIPT.read_text(encoding='utf-8')}\n}}"


@dataclass
class AxeScans:
    """The accessibility scans of one test's page: what was scanned and what failed."""

    scans: int = 0
    pages: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # A page has loaded and not been scanned yet; a scan is running.
    unscanned: bool = False
    scanning: bool = False
    # Each template the server rendered, with the widths of the pages it was part of.
    templates: dict[str, set[int]] = field(default_factory=dict)
    rendered: list[str] = field(default_factory=list)

    def scan(self, page: Page) -> None:
        """Run axe on what ``page`` shows now and keep any violation."""
        self.unscanned = False
        self.scanning = True
        try:
            self._scan(page)
        finally:
            self.scanning = False

    def _scan(self, page: Page) -> None:
        url = page.url
        if not url.startswith("http"):
            return
        width = (page.viewport_size or {}).get("width")
        try:
            # Evaluated rather than added with page.add_script_tag(): the pages'
            # Content-Security-Policy allows only scripts carrying the response's
            # nonce, and the tests keep that policy on rather than bypass it.
            page.evaluate(_axe_source())
            found: list[dict[str, Any]] = page.evaluate(_AXE_RUN)
        except Exception as error:  # reported with the test's result
            self.errors.append(f"{url} at {width}px: axe could not run: {error}")
            return
        self.scans += 1
        self.pages.add(url.split("?")[0].split("#")[0])
        rendered, self.rendered[:] = list(self.rendered), []
        for name in rendered:
            self.templates.setdefault(name, set()).add(width or 0)
        _TOTALS["scans"] += 1
        _TOTALS["pages"].add(re.sub(r"/\d+(?=/|$)", "/<id>", self.pages_key(url)))
        for violation in found:
            if violation["rule"] in ACCEPTED_AXE_RULES:
                continue
            for target in violation["targets"]:
                self.violations.append(
                    f"{violation['rule']} ({violation['impact']}): {violation['help']}\n"
                    f"    element: {target}\n    page: {url} at {width}px wide"
                )

    @staticmethod
    def pages_key(url: str) -> str:
        return re.sub(r"^https?://[^/]+", "", url.split("?")[0].split("#")[0])

    def report(self) -> str:
        lines = [f"{len(self.violations)} accessibility violation(s) found by axe-core:"]
        lines += [f"  {v}" for v in self.violations]
        lines += [f"  {e}" for e in self.errors]
        return "\n".join(lines)


# For the summary at the end of the run: scans, and pages by URL with ids generalised.
_TOTALS: dict[str, Any] = {"scans": 0, "pages": set()}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _TOTALS["scans"]:
        terminalreporter.write_line(
            f"accessibility: {_TOTALS['scans']} axe-core scans of "
            f"{len(_TOTALS['pages'])} distinct pages, no violation allowed"
        )


def axe_scans(page: Page) -> AxeScans:
    """The scans of the test's page (to read the count)."""
    return next(scans for active, scans in _ACTIVE if active is page)


def check_accessibility(page: Page) -> None:
    """Scan what the page shows now: after a change made without loading a page (a new
    viewport width, a disclosure opened)."""
    axe_scans(page).scan(page)


_ACTIVE: list[tuple[Page, AxeScans]] = []


def _scan_before_next_call(original: Any) -> Any:
    """Wrap Playwright's one entry point for sync API calls: before the test's next
    call (a click, a fill, reading text, another goto), a page that has loaded since
    the last scan is scanned."""

    def call(self: Any, awaitable: Any) -> Any:
        if _ACTIVE:
            page, scans = _ACTIVE[-1]
            if scans.unscanned and not scans.scanning:
                scans.scan(page)
        return original(self, awaitable)

    return call


@pytest.fixture
def page(
    chromium_browser: Browser, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Page]:
    """A fresh page in its own browser context (no cookies shared between tests), at
    desktop width, with every page it shows checked by axe-core.

    A page that has loaded (after a link, a form submitted, ``page.goto``) is scanned
    just before the test's next call to the browser, so the scan sees the page the
    test is looking at and finishes before the test moves on; the last page is scanned
    when the test ends. No scan waits on a timer.

    On failure a screenshot is left in test-results/ to show what the browser saw.
    """
    from playwright._impl._sync_base import SyncBase

    context = chromium_browser.new_context(
        locale="en-GB", timezone_id="Europe/London", viewport=DESKTOP
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    scans = AxeScans()

    def loaded(_: Page) -> None:
        scans.unscanned = True

    def template_rendered(sender: Any, template: Any, **kwargs: Any) -> None:
        if template.name:
            scans.rendered.append(template.name)

    # Sent for each template the live server renders (Django's test instrumentation).
    signals.template_rendered.connect(template_rendered, weak=False)
    page.on("load", loaded)
    monkeypatch.setattr(SyncBase, "_sync", _scan_before_next_call(SyncBase._sync))
    _ACTIVE.append((page, scans))
    try:
        yield page
        if scans.unscanned and not page.is_closed():
            scans.scan(page)
    finally:
        signals.template_rendered.disconnect(template_rendered)
        _ACTIVE.remove((page, scans))
        if request.node.stash.get(_call_failed, False):
            ARTIFACTS.mkdir(exist_ok=True)
            safe_name = "".join(c if c.isalnum() else "_" for c in request.node.nodeid)
            page.screenshot(path=str(ARTIFACTS / f"{safe_name}.png"), full_page=True)
        context.close()
    if (scans.violations or scans.errors) and not request.node.stash.get(_call_failed, False):
        pytest.fail(scans.report(), pytrace=False)


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
