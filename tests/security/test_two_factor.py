"""Two-factor sign-in: enrolment, codes, replay, recovery codes, and nothing before it."""

from __future__ import annotations

import datetime as dt
import re
from base64 import b32decode
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone
from django.utils.html import escape
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from missingkids.accounts import two_factor
from missingkids.accounts.models import UserSession
from missingkids.accounts.views import SECOND_STEP_LOCKED_OUT
from missingkids.audit.models import AccessLogEntry
from tests.security.signing_in import authenticator, code_now, password_step, time_step_now
from tests.test_access_anonymous import SAMPLES

pytestmark = pytest.mark.django_db
A = AccessLogEntry.Action


def enrol_page_secret(html: str) -> str:
    match = re.search(r'data-testid="enrol-secret"><code>([A-Z2-7 ]+)</code>', html)
    assert match, html
    return match.group(1).replace(" ", "")


def test_password_alone_leads_to_setting_up_an_authenticator(client, social_worker):
    response = password_step(client, social_worker.email)
    assert response.status_code == 302

    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url == f"{reverse('two_factor')}?next=%2F"
    response = client.get(response.url)
    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("two_factor_enrol")


def test_enrolment_shows_a_qr_code_and_the_secret_then_ten_recovery_codes_once(
    client, social_worker
):
    password_step(client, social_worker.email)
    page = client.get(reverse("two_factor_enrol"))
    html = page.content.decode()

    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert re.search(r'data-testid="enrol-qr-code"><svg [^>]*role="img"', html)
    assert "<path" in html  # the QR code, drawn here; no image fetched from elsewhere
    secret = enrol_page_secret(html)
    device = TOTPDevice.objects.get(user=social_worker)
    assert not device.confirmed
    assert b32decode(secret) == device.bin_key
    # Showing the page again keeps the secret someone may already have scanned.
    assert enrol_page_secret(client.get(reverse("two_factor_enrol")).content.decode()) == secret

    response = client.post(
        reverse("two_factor_enrol"), {"code": f"{totp(b32decode(secret)):06d}", "next": "/"}
    )

    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("two_factor_recovery_codes")
    device.refresh_from_db()
    assert device.confirmed
    codes_page = client.get(response.url)
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", codes_page.content.decode())
    assert len(codes) == 10 == len(set(codes))
    assert sorted(codes) == sorted(
        StaticToken.objects.filter(device__user=social_worker).values_list("token", flat=True)
    )
    # Shown once only.
    again = client.get(reverse("two_factor_recovery_codes"))
    assert again.status_code == 302
    assert again.url == reverse("account")
    assert client.get(reverse("home")).status_code == 200


def test_enrolment_refuses_a_wrong_code_with_the_error_summary(client, social_worker, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    password_step(client, social_worker.email)
    client.get(reverse("two_factor_enrol"))

    for wrong in ["000000", "12345", "abcdef", ""]:
        response = client.post(reverse("two_factor_enrol"), {"code": wrong})
        assert response.status_code == 200, wrong
        assert b"govuk-error-summary" in response.content
    assert not TOTPDevice.objects.filter(user=social_worker, confirmed=True).exists()
    assert client.get(reverse("home")).status_code == 302


def test_someone_with_an_authenticator_cannot_enrol_another(client, social_worker):
    device = authenticator(social_worker)
    password_step(client, social_worker.email)

    response = client.get(reverse("two_factor_enrol"))

    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("two_factor")
    assert list(TOTPDevice.objects.filter(user=social_worker)) == [device]


def test_a_code_from_the_app_completes_sign_in_and_returns_to_the_page_asked_for(
    client, social_worker
):
    device = authenticator(social_worker)
    password_step(client, social_worker.email, next=reverse("incidents:child_search"))
    response = client.get(reverse("incidents:child_search"))
    assert response.status_code == 302
    verify_url = response.url

    response = client.post(verify_url, {"code": code_now(device)})

    assert response.status_code == 302
    assert response.url == reverse("incidents:child_search")
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get(reverse("incidents:child_search")).status_code == 200


def test_a_wrong_code_is_refused(client, social_worker):
    device = authenticator(social_worker)
    password_step(client, social_worker.email)
    wrong = f"{(int(code_now(device)) + 1) % 1_000_000:06d}"

    response = client.post(reverse("two_factor"), {"code": wrong})

    assert response.status_code == 200
    assert "The code is wrong or has already been used" in response.content.decode()
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert client.get(reverse("home")).status_code == 302


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(code_now(device)) + 500_000) % 1_000_000:06d}"


def test_wrong_codes_lock_out_the_address_they_come_from(social_worker, settings):
    device = authenticator(social_worker)
    limit = settings.AXES_FAILURE_LIMIT
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    password_step(attacker, social_worker.email)

    responses = [
        attacker.post(reverse("two_factor"), {"code": wrong_code(device)}) for _ in range(limit)
    ]

    assert [r.status_code for r in responses[:-1]] == [200] * (limit - 1)
    assert responses[-1].status_code == 302
    assert responses[-1].url == reverse("login")
    assert SESSION_KEY not in attacker.session  # signed out: the password again, at least
    page = attacker.get(reverse("login"))
    assert escape(SECOND_STEP_LOCKED_OUT) in page.content.decode()
    # The password still works from there, but the second step does not, even the right code.
    assert password_step(attacker, social_worker.email).status_code == 302
    response = attacker.post(reverse("two_factor"), {"code": code_now(device)})
    assert response.status_code == 302 and response.url == reverse("login")
    assert DEVICE_ID_SESSION_KEY not in attacker.session


def test_wrong_codes_never_lock_the_person_out_from_elsewhere(social_worker, settings):
    """A stolen password and wrong codes from many addresses: the owner still signs in."""
    device = authenticator(social_worker)
    for n in range(settings.SIGN_IN_ACCOUNT_FAILURE_LIMIT // 2):
        attacker = Client(REMOTE_ADDR=f"203.0.113.{n + 1}")
        password_step(attacker, social_worker.email)
        for _ in range(settings.AXES_FAILURE_LIMIT):
            attacker.post(reverse("two_factor"), {"code": wrong_code(device)})
    # The device itself is never slowed down (django-otp's throttle is off).
    assert TOTPDevice.objects.get(pk=device.pk).verify_is_allowed()[0]

    owner = Client(REMOTE_ADDR="198.51.100.7")
    assert password_step(owner, social_worker.email).status_code == 302
    response = owner.post(reverse("two_factor"), {"code": code_now(device)})
    assert response.status_code == 302
    assert owner.get(reverse("home")).status_code == 200


def test_wrong_codes_count_towards_the_address_limit_for_every_account(
    social_worker, officer, settings
):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 6
    device = authenticator(social_worker)
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    password_step(attacker, social_worker.email)
    for _ in range(4):
        attacker.post(reverse("two_factor"), {"code": wrong_code(device)})
    same_address = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(2):
        password_step(same_address, officer.email, "Wrong-Horse-Battery-9")

    assert password_step(same_address, officer.email).status_code == 429
    assert password_step(Client(REMOTE_ADDR="198.51.100.7"), officer.email).status_code == 302


def test_a_right_code_clears_the_wrong_ones_from_that_address(client, social_worker, settings):
    device = authenticator(social_worker)
    password_step(client, social_worker.email)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("two_factor"), {"code": wrong_code(device)})
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=30), tick=False):
        assert client.post(reverse("two_factor"), {"code": code_now(device)}).status_code == 302
    client.post(reverse("logout"))
    password_step(client, social_worker.email)

    responses = [
        client.post(reverse("two_factor"), {"code": wrong_code(device)})
        for _ in range(settings.AXES_FAILURE_LIMIT - 1)
    ]

    assert all(r.status_code == 200 for r in responses)


def test_an_admin_unlocks_the_second_step(client, social_worker, admin_user, settings):
    device = authenticator(social_worker)
    password_step(client, social_worker.email)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("two_factor"), {"code": wrong_code(device)})
    attempt = AccessAttempt.objects.get()
    assert attempt.username == f"{social_worker.email} (security code)"
    assert wrong_code(device) not in attempt.post_data  # what was typed is never kept

    admin = Client()
    admin.force_login(admin_user)
    listing = admin.get(reverse("admin:axes_accessattempt_changelist"), {"q": social_worker.email})
    assert attempt.username in listing.content.decode()
    admin.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})

    password_step(client, social_worker.email)
    assert client.post(reverse("two_factor"), {"code": code_now(device)}).status_code == 302


# What is logged, and the session ----------------------------------------------------------


def test_signed_in_is_logged_after_the_second_step_only(client, social_worker):
    device = authenticator(social_worker)
    password_step(client, social_worker.email)
    actions = lambda: list(  # noqa: E731
        AccessLogEntry.objects.filter(user=social_worker)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions() == [A.PASSWORD_ACCEPTED]

    client.post(reverse("two_factor"), {"code": wrong_code(device)})
    assert actions() == [A.PASSWORD_ACCEPTED, A.SIGN_IN_FAILED]
    failed = AccessLogEntry.objects.get(action=A.SIGN_IN_FAILED)
    assert failed.detail == {"step": "security code"}
    assert failed.username == social_worker.email
    assert failed.ip_address == "127.0.0.1"

    with time_machine.travel(timezone.now() + dt.timedelta(seconds=30), tick=False):
        client.post(reverse("two_factor"), {"code": code_now(device)})
    assert actions() == [A.PASSWORD_ACCEPTED, A.SIGN_IN_FAILED, A.SIGN_IN]


def test_wrong_codes_while_setting_up_are_logged(client, social_worker):
    password_step(client, social_worker.email)
    client.get(reverse("two_factor_enrol"))
    client.post(reverse("two_factor_enrol"), {"code": "000000"})

    failed = AccessLogEntry.objects.get(action=A.SIGN_IN_FAILED)
    assert (failed.user, failed.detail) == (
        social_worker,
        {"step": "setting up an authenticator"},
    )


def test_the_session_key_changes_when_the_second_step_is_passed(social_worker):
    device = authenticator(social_worker)
    client = Client()
    password_step(client, social_worker.email)
    half_signed_in = client.session.session_key

    client.post(reverse("two_factor"), {"code": code_now(device)})

    signed_in = client.session.session_key
    assert signed_in != half_signed_in
    assert client.get(reverse("home")).status_code == 200
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [signed_in]
    # Whoever held the earlier key (fixed in the browser, or seen) holds nothing now.
    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = half_signed_in
    response = thief.get(reverse("home"))
    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("login")


def test_a_replayed_code_is_refused(client, social_worker):
    device = authenticator(social_worker)
    with time_machine.travel(timezone.now(), tick=False):
        code = code_now(device)
        password_step(client, social_worker.email)
        assert client.post(reverse("two_factor"), {"code": code}).status_code == 302
        device.refresh_from_db()
        assert device.last_t == time_step_now(device)
        client.post(reverse("logout"))

        # Someone who saw the code (and knows the password) tries it straight away.
        password_step(client, social_worker.email)
        response = client.post(reverse("two_factor"), {"code": code})

        assert response.status_code == 200
        assert "already been used" in response.content.decode()
        assert client.get(reverse("home")).status_code == 302


def test_an_earlier_code_is_refused_after_a_later_one(client, social_worker, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = authenticator(social_worker)
    with time_machine.travel(timezone.now(), tick=False):
        earlier, later = code_now(device), code_now(device, steps_ahead=1)
        password_step(client, social_worker.email)
        assert client.post(reverse("two_factor"), {"code": later}).status_code == 302
        client.post(reverse("logout"))
        password_step(client, social_worker.email)

        assert client.post(reverse("two_factor"), {"code": earlier}).status_code == 200


def test_a_recovery_code_works_once(client, social_worker, settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0
    authenticator(social_worker)
    codes = two_factor.recovery_codes_replace(social_worker)

    password_step(client, social_worker.email)
    # Typed with spaces and in capitals, as people copy them.
    response = client.post(
        reverse("two_factor"), {"code": f" {codes[0][:4].upper()} {codes[0][4:]}"}
    )
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    assert StaticToken.objects.filter(device__user=social_worker).count() == 9
    client.post(reverse("logout"))

    password_step(client, social_worker.email)
    again = client.post(reverse("two_factor"), {"code": codes[0]})
    assert again.status_code == 200
    assert client.get(reverse("home")).status_code == 302
    assert client.post(reverse("two_factor"), {"code": codes[1]}).status_code == 302


def test_another_persons_recovery_code_is_refused(client, social_worker, officer):
    authenticator(social_worker)
    codes = two_factor.recovery_codes_replace(officer)
    password_step(client, social_worker.email)

    assert client.post(reverse("two_factor"), {"code": codes[0]}).status_code == 200
    assert StaticToken.objects.filter(device__user=officer).count() == 10


def test_new_recovery_codes_from_your_account_replace_the_old_ones(client, social_worker):
    old = two_factor.recovery_codes_replace(social_worker)
    client.force_login(social_worker)

    response = client.post(reverse("account_recovery_codes"), follow=True)

    new = re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode())
    assert len(new) == 10
    assert not set(new) & set(old)
    assert set(
        StaticToken.objects.filter(device__user=social_worker).values_list("token", flat=True)
    ) == set(new)
    assert client.get(reverse("account_recovery_codes")).status_code == 405


def test_the_admin_is_behind_the_second_step(client, admin_user):
    device = authenticator(admin_user)
    password_step(client, admin_user.email)

    for url in [reverse("admin:index"), reverse("admin:accounts_user_changelist")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response.url).path == reverse("two_factor")
        assert parse_qs(urlsplit(response.url).query)["next"] == [url]

    client.post(reverse("two_factor"), {"code": code_now(device)})
    assert client.get(reverse("admin:index")).status_code == 200


def test_removing_the_authenticator_sends_its_user_back_to_the_second_step(client, officer):
    client.force_login(officer)
    assert client.get(reverse("home")).status_code == 200

    TOTPDevice.objects.filter(user=officer).delete()  # an admin resets a lost phone

    response = client.get(reverse("home"), follow=True)
    assert response.request["PATH_INFO"] == reverse("two_factor_enrol")


OPEN_BEFORE_SECOND_STEP = {"login", "logout", "two_factor", "two_factor_enrol"}


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_page_leads_to_the_second_step_until_it_is_passed(client, admin_user, method):
    """Every URL pattern (the admin's too, and pages that do not exist), half signed in."""
    authenticator(admin_user)
    password_step(client, admin_user.email)
    reached = set()

    for url, name in [*((s.url, s.name) for s in SAMPLES), ("/no-such-page/", None)]:
        if name in OPEN_BEFORE_SECOND_STEP:
            reached.add(name)
            continue  # signing out is tried below, last
        response = getattr(client, method)(url)
        if url != "/no-such-page/" and not getattr(resolve(url).func, "login_required", True):
            # Open to anyone, signed in or not (an e-mailed acknowledgement link).
            assert response.status_code < 500, url
            continue
        assert response.status_code == 302, f"{method} {url} gave {response.status_code}"
        assert urlsplit(response.url).path == reverse("two_factor"), url
    assert reached == OPEN_BEFORE_SECOND_STEP
    for name in ["two_factor", "two_factor_enrol"]:
        assert client.get(reverse(name), follow=True).status_code == 200
    assert client.post(reverse("logout")).url == reverse("login")


def test_the_test_clients_sign_in_is_verified_with_a_real_device(client, officer):
    """The conftest's force_login is fully signed in, through a real confirmed device."""
    client.force_login(officer)

    device_id = client.session[DEVICE_ID_SESSION_KEY]
    device = TOTPDevice.objects.get(user=officer)
    assert device_id == device.persistent_id
    assert device.confirmed
    assert client.get(reverse("home")).status_code == 200
