"""Lockout after repeated failed sign-ins (django-axes), and unlocking by an admin."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from missingkids.accounts.forms import LOCKED_OUT_MESSAGE
from tests.factories import DEFAULT_PASSWORD
from tests.security.signing_in import password_step

pytestmark = pytest.mark.django_db

GENERIC_ERROR = "Enter a correct e-mail address and password."
WRONG = "Wrong-Horse-Battery-9"
LOCKED_OUT_HTML = escape(LOCKED_OUT_MESSAGE)


def fail(client: Client, email: str, times: int) -> list:
    return [password_step(client, email, WRONG) for _ in range(times)]


@pytest.fixture
def limit(settings) -> int:
    assert settings.AXES_FAILURE_LIMIT == 5
    return settings.AXES_FAILURE_LIMIT


def test_the_fifth_failure_locks_the_account_out_even_with_the_right_password(
    client, officer, limit
):
    responses = fail(client, officer.email, limit)

    for response in responses[:-1]:
        assert response.status_code == 200
        assert response.context["form"].non_field_errors() == [GENERIC_ERROR]
    assert responses[-1].status_code == 429
    assert LOCKED_OUT_HTML in responses[-1].content.decode()

    right = password_step(client, officer.email, DEFAULT_PASSWORD)
    assert right.status_code == 429
    assert LOCKED_OUT_HTML in right.content.decode()
    assert SESSION_KEY not in client.session


def _message_part(response) -> str:
    html = response.content.decode()
    start = html.index('<main class="govuk-main-wrapper"')
    main = html[start : html.index("</main>")]
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", main)


def test_the_lockout_says_the_same_for_an_account_that_does_not_exist(client, officer, limit):
    nobody = "nobody@police.example.org"
    existing = fail(client, officer.email, limit)
    missing = fail(Client(), nobody, limit)

    for ours, theirs in zip(existing, missing, strict=True):
        assert ours.status_code == theirs.status_code
        assert _message_part(ours).replace(officer.email, "EMAIL") == _message_part(theirs).replace(
            nobody, "EMAIL"
        )
    assert "sam" not in _message_part(existing[-1]).replace(officer.email, "")
    assert AccessAttempt.objects.filter(username=nobody).exists()


def test_the_email_counts_the_same_in_any_case_or_spacing(client, officer, limit):
    for n in range(limit):
        email = officer.email.upper() if n % 2 else f"  {officer.email} "
        response = password_step(client, email, WRONG)
    assert response.status_code == 429
    assert AccessAttempt.objects.get().username == officer.email


def test_the_lockout_is_for_that_address_and_network_address_together(client, officer, limit):
    fail(client, officer.email, limit)

    elsewhere = Client(REMOTE_ADDR="192.0.2.7")
    response = password_step(elsewhere, officer.email, DEFAULT_PASSWORD)

    assert response.status_code == 302  # the real person, from their own network
    other_person = password_step(client, "jo@example.org", WRONG)
    assert other_person.status_code == 200  # others from the same network are not blocked


def test_the_lockout_ends_after_the_cool_off(client, officer, limit, settings):
    assert dt.timedelta(minutes=30) == settings.AXES_COOLOFF_TIME
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        fail(client, officer.email, limit)
    with time_machine.travel(start + dt.timedelta(minutes=29), tick=False):
        assert password_step(client, officer.email, DEFAULT_PASSWORD).status_code == 429
    with time_machine.travel(start + dt.timedelta(minutes=60), tick=False):
        assert password_step(client, officer.email, DEFAULT_PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_earlier_failures(client, officer, limit):
    fail(client, officer.email, limit - 1)
    assert password_step(client, officer.email, DEFAULT_PASSWORD).status_code == 302
    client.post(reverse("logout"))

    responses = fail(client, officer.email, limit - 1)

    assert all(r.status_code == 200 for r in responses)


def test_an_admin_unlocks_an_account_in_the_admin(client, officer, admin_user, limit):
    fail(client, officer.email, limit)
    admin = Client()
    admin.force_login(admin_user)

    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    assert officer.email in listing.content.decode()
    attempt = AccessAttempt.objects.get(username=officer.email)
    response = admin.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )
    assert response.status_code == 302

    assert not AccessAttempt.objects.exists()
    assert password_step(client, officer.email, DEFAULT_PASSWORD).status_code == 302


def test_practitioners_cannot_see_or_clear_lockouts(client, officer, social_worker, limit):
    fail(Client(), officer.email, limit)
    client.force_login(social_worker)

    response = client.get(reverse("admin:axes_accessattempt_changelist"))

    assert response.status_code in (302, 403)
    assert AccessAttempt.objects.exists()


def test_the_test_client_login_still_works_with_the_lockout_backend(client, officer):
    assert client.login(username=officer.email, password=DEFAULT_PASSWORD)
    assert client.get(reverse("home")).status_code == 200


def test_behind_the_proxy_failures_count_against_the_forwarded_client_address(
    officer, limit, settings
):
    # Behind the reverse proxy every request comes from the proxy's own address; the
    # client is the X-Forwarded-For entry the proxy added. Counting by the proxy's
    # address would let anyone lock a named person out from anywhere.
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    attacker = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")
    colleague = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")

    responses = fail(attacker, officer.email, limit)
    assert responses[-1].status_code == 429

    right = password_step(colleague, officer.email, DEFAULT_PASSWORD)
    assert right.status_code == 302
    assert SESSION_KEY in colleague.session


def test_failures_from_many_addresses_lock_the_account_everywhere(officer, settings):
    """Guessing spread over addresses, each under the per-address limit."""
    account_limit = settings.SIGN_IN_ACCOUNT_FAILURE_LIMIT
    assert account_limit == 20
    per_address = settings.AXES_FAILURE_LIMIT - 1
    addresses = [f"203.0.113.{n}" for n in range(1, account_limit // per_address + 1)]
    responses = []
    for address in addresses:
        responses += fail(Client(REMOTE_ADDR=address), officer.email, per_address)
    assert len(responses) == account_limit
    assert [r.status_code for r in responses] == [200] * (account_limit - 1) + [429]

    right = password_step(Client(REMOTE_ADDR="198.51.100.7"), officer.email, DEFAULT_PASSWORD)

    assert right.status_code == 429
    assert LOCKED_OUT_HTML in right.content.decode()


def test_failures_on_many_accounts_lock_the_address(officer, social_worker, settings):
    """One machine trying one password on many accounts."""
    assert settings.SIGN_IN_ADDRESS_FAILURE_LIMIT == 50
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 8
    machine = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(8):
        response = password_step(machine, f"person{n}@cwac.example.org", WRONG)
    assert response.status_code == 429

    assert password_step(machine, officer.email, DEFAULT_PASSWORD).status_code == 429
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert password_step(elsewhere, officer.email, DEFAULT_PASSWORD).status_code == 302


def test_signing_in_clears_only_that_accounts_failures_from_that_address(
    officer, social_worker, settings
):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 8
    machine = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(7):
        password_step(machine, f"person{n}@cwac.example.org", WRONG)
    # An account the attacker holds: signing in with it does not wipe the slate.
    assert password_step(machine, social_worker.email, DEFAULT_PASSWORD).status_code == 302

    assert password_step(Client(REMOTE_ADDR="203.0.113.9"), officer.email, WRONG).status_code == 429
