"""Session limits: idle timeout, absolute lifetime, deactivation, sign out everywhere."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from missingkids.accounts.models import UserSession
from tests.security.signing_in import authenticator, code_now, password_step

pytestmark = pytest.mark.django_db

IDLE_MESSAGE = "You have been signed out because you had not used the service for 30 minutes."
ABSOLUTE_MESSAGE = "You have been signed out because you had been signed in for 10 hours."


def signed_out_with(client: Client, response, message: str) -> None:
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert SESSION_KEY not in client.session
    page = client.get(response.url)
    assert page.status_code == 200
    assert message in page.content.decode()


def test_the_defaults_are_thirty_minutes_idle_and_ten_hours_in_all(settings):
    assert dt.timedelta(minutes=30) == settings.SESSION_IDLE_TIMEOUT
    assert dt.timedelta(hours=10) == settings.SESSION_ABSOLUTE_LIFETIME


def test_an_idle_session_is_signed_out_with_a_message(client, officer):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(officer)
    with time_machine.travel(start + dt.timedelta(minutes=29, seconds=59), tick=False):
        assert client.get(reverse("home")).status_code == 200
    # Each visit counts as use: 29 minutes after the last one is still fine.
    with time_machine.travel(start + dt.timedelta(minutes=58), tick=False):
        assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(start + dt.timedelta(minutes=88, seconds=30), tick=False):
        response = client.get(reverse("incidents:child_search"))
        signed_out_with(client, response, IDLE_MESSAGE)
        assert "next=" in response.url


def test_the_idle_timeout_can_be_configured(client, officer, settings):
    settings.SESSION_IDLE_TIMEOUT = dt.timedelta(minutes=5)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(officer)
    with time_machine.travel(start + dt.timedelta(minutes=5), tick=False):
        response = client.get(reverse("home"))
        signed_out_with(client, response, "had not used the service for 5 minutes")


def test_a_session_ends_after_its_absolute_lifetime_however_busy(client, officer):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(officer)
    for minutes in range(20, 600, 20):
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            assert client.get(reverse("home")).status_code == 200, minutes
    with time_machine.travel(start + dt.timedelta(hours=10), tick=False):
        response = client.get(reverse("home"))
        signed_out_with(client, response, ABSOLUTE_MESSAGE)


def test_the_lifetime_counts_from_the_password_step(client, officer):
    device = authenticator(officer)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        password_step(client, officer.email)
    with time_machine.travel(start + dt.timedelta(minutes=31), tick=False):
        response = client.post(reverse("two_factor"), {"code": code_now(device)})
        signed_out_with(client, response, IDLE_MESSAGE)


def test_signing_in_and_out_keeps_the_session_table(client, officer):
    client.force_login(officer)
    key = client.session.session_key
    assert list(UserSession.objects.values_list("user", "session_key")) == [(officer.pk, key)]

    client.post(reverse("logout"))

    assert not UserSession.objects.exists()


def test_deactivating_someone_ends_all_their_sessions(officer, social_worker):
    laptop, phone, colleague = Client(), Client(), Client()
    laptop.force_login(officer)
    phone.force_login(officer)
    colleague.force_login(social_worker)
    officer_keys = {laptop.session.session_key, phone.session.session_key}

    officer.is_active = False
    officer.save(update_fields=["is_active"])

    assert not Session.objects.filter(session_key__in=officer_keys).exists()
    for client in (laptop, phone):
        response = client.get(reverse("home"))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert colleague.get(reverse("home")).status_code == 200


def test_deactivating_in_the_admin_ends_their_sessions(client, officer, admin_user):
    their_browser = Client()
    their_browser.force_login(officer)
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_user_change", args=[officer.pk]),
        {
            "email": officer.email,
            "name": officer.name,
            "job_title": officer.job_title,
            "agency": officer.agency.pk,
            "role": officer.role,
            # is_active left out: unticked
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert their_browser.get(reverse("home")).status_code == 302
    assert not UserSession.objects.filter(user=officer).exists()


def test_sign_out_everywhere_ends_every_session_of_that_person_only(officer, social_worker):
    laptop, phone, colleague = Client(), Client(), Client()
    laptop.force_login(officer)
    phone.force_login(officer)
    colleague.force_login(social_worker)
    assert b"Sign out everywhere" in laptop.get(reverse("account")).content

    response = laptop.post(reverse("account_sign_out_everywhere"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert "signed out on every device" in laptop.get(response.url).content.decode()
    for client in (laptop, phone):
        assert client.get(reverse("home")).status_code == 302
    assert colleague.get(reverse("home")).status_code == 200
    assert list(UserSession.objects.values_list("user", flat=True)) == [social_worker.pk]


def test_sign_out_everywhere_needs_a_post(client, officer):
    client.force_login(officer)

    assert client.get(reverse("account_sign_out_everywhere")).status_code == 405
    assert client.get(reverse("home")).status_code == 200


def test_the_header_links_to_your_account(client, officer):
    client.force_login(officer)

    html = client.get(reverse("home")).content.decode()

    assert f'href="{reverse("account")}"' in html


# The documented limits are the real ones -------------------------------------------------

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _documented(pattern: str) -> int:
    match = re.search(pattern, README, re.DOTALL)
    assert match, f"README no longer says: {pattern}"
    return int(match.group(1))


def test_the_readme_states_the_limits_in_force(settings):
    idle = _documented(r"\*\*Sessions\*\* end after (\d+) minutes\s+without using the service")
    absolute = _documented(r"and (\d+) hours after\s+signing in however busy")
    idle_default = _documented(r"`SESSION_IDLE_TIMEOUT_MINUTES` \| optional \|[^|]*Default `(\d+)`")
    absolute_default = _documented(r"`SESSION_ABSOLUTE_HOURS` \| optional \|[^|]*Default `(\d+)`")

    assert dt.timedelta(minutes=idle) == dt.timedelta(minutes=idle_default)
    assert dt.timedelta(minutes=idle) == settings.SESSION_IDLE_TIMEOUT
    assert dt.timedelta(hours=absolute) == dt.timedelta(hours=absolute_default)
    assert dt.timedelta(hours=absolute) == settings.SESSION_ABSOLUTE_LIFETIME


def _sign_in(client: Client, user) -> None:
    device = authenticator(user)
    password_step(client, user.email)
    response = client.post(reverse("two_factor"), {"code": code_now(device)})
    assert response.status_code == 302


def test_a_real_sign_in_lasts_ten_hours_however_busy_and_no_longer(client, officer):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _sign_in(client, officer)
    for minutes in range(29, 600, 29):
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            assert client.get(reverse("home")).status_code == 200, minutes
    with time_machine.travel(start + dt.timedelta(hours=10, seconds=-1), tick=False):
        assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(start + dt.timedelta(hours=10), tick=False):
        signed_out_with(client, client.get(reverse("home")), ABSOLUTE_MESSAGE)


def test_a_real_sign_in_ends_after_thirty_minutes_unused(client, officer):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _sign_in(client, officer)
    with time_machine.travel(start + dt.timedelta(minutes=30, seconds=-1), tick=False):
        assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(start + dt.timedelta(minutes=60, seconds=-1), tick=False):
        signed_out_with(client, client.get(reverse("home")), IDLE_MESSAGE)


def test_the_session_ends_with_the_browser_and_is_kept_no_longer_than_a_sign_in(
    client, officer, settings
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        response = password_step(client, officer.email)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert not cookie["max-age"] and not cookie["expires"]  # gone when the browser closes
    stored = Session.objects.get(session_key=client.session.session_key)
    assert stored.expire_date <= start + settings.SESSION_ABSOLUTE_LIFETIME + dt.timedelta(
        seconds=1
    )
    assert settings.SESSION_ABSOLUTE_LIFETIME.total_seconds() == settings.SESSION_COOKIE_AGE


@pytest.mark.parametrize(
    ("variables", "idle", "absolute"),
    [
        ({}, 30 * 60, 10 * 3600),
        ({"SESSION_IDLE_TIMEOUT_MINUTES": "15", "SESSION_ABSOLUTE_HOURS": "8"}, 15 * 60, 8 * 3600),
    ],
)
def test_the_limits_come_from_the_environment(tmp_path, variables, idle, absolute):
    from tests.test_settings import run

    env = {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **variables}
    show = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(int(s.SESSION_IDLE_TIMEOUT.total_seconds()), "
        "int(s.SESSION_ABSOLUTE_LIFETIME.total_seconds()), s.SESSION_COOKIE_AGE)"
    )
    result = run(env, "-c", show)
    assert result.stdout.split() == [str(idle), str(absolute), str(absolute)], result.stderr
