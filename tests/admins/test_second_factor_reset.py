"""Resetting someone's second factor takes two admins, tells the person and the
partnership admins, and is logged; an admin setting a password is logged and told."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from missingkids.accounts.models import SecondFactorReset
from missingkids.accounts.two_factor import recovery_codes_replace
from missingkids.audit.models import AccessLogEntry
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

Action = AccessLogEntry.Action
REASON = "Lost her phone on the train; I spoke to her on the office phone."


@pytest.fixture
def enrolled(social_worker):
    """Jo has an authenticator and recovery codes, and is signed in on her own device."""
    TOTPDevice.objects.create(user=social_worker, name="Authenticator app", confirmed=True)
    recovery_codes_replace(social_worker)
    browser = Client()
    browser.force_login(social_worker)
    assert browser.get(reverse("home")).status_code == 200
    return browser


def page(person) -> str:
    return reverse("configuration:person_second_factor", args=[person.pk])


def ask(client, person, reason: str = REASON):
    return client.post(page(person), {"action": "request", "reason": reason})


def act(client, person, action: str):
    pending = SecondFactorReset.objects.get(person=person, approved_at=None, cancelled_at=None)
    return client.post(page(person), {"action": action, "reset": pending.pk})


def sent_to(name_fragment: str) -> set[str]:
    return {
        address
        for message in mail.outbox
        if name_fragment in message.subject
        for address in message.to
    }


def test_one_admin_asks_and_nothing_happens_yet(
    client, council_admin, admin_user, social_worker, enrolled, django_capture_on_commit_callbacks
):
    client.force_login(council_admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = ask(client, social_worker)

    assert response.status_code == 302
    reset = SecondFactorReset.objects.get()
    assert (reset.person, reset.requested_by, reset.reason) == (
        social_worker,
        council_admin,
        REASON,
    )
    assert reset.is_pending
    assert TOTPDevice.objects.filter(user=social_worker).exists()  # nothing removed yet
    # The person is told, and the partnership admins are asked to approve.
    assert sent_to("asked to reset your sign-in") == {social_worker.email}
    assert {admin_user.email, "admin@demo.example.org"} <= sent_to("waiting for a second admin")
    assert council_admin.email not in sent_to("waiting for a second admin")
    assert REASON in mail.outbox[0].body
    entry = AccessLogEntry.objects.get(action=Action.SECOND_FACTOR_RESET_REQUESTED)
    assert entry.user == council_admin
    assert entry.detail["person"] == social_worker.email


def test_the_admin_who_asked_cannot_approve(client, council_admin, social_worker, enrolled):
    client.force_login(council_admin)
    ask(client, social_worker)

    shown = client.get(page(social_worker))
    forged = act(client, social_worker, "approve")

    assert 'value="approve"' not in shown.content.decode()
    assert forged.status_code == 403
    assert TOTPDevice.objects.filter(user=social_worker).exists()
    assert SecondFactorReset.objects.get().is_pending


def test_a_second_admin_approves_and_the_person_starts_again(
    client,
    council_admin,
    admin_user,
    social_worker,
    enrolled,
    django_capture_on_commit_callbacks,
):
    client.force_login(council_admin)
    ask(client, social_worker)
    mail.outbox.clear()
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = act(client, social_worker, "approve")

    assert response.status_code == 302
    reset = SecondFactorReset.objects.get()
    assert reset.approved_by == admin_user and reset.approved_at is not None
    assert not TOTPDevice.objects.filter(user=social_worker).exists()
    assert not StaticDevice.objects.filter(user=social_worker).exists()
    # Signed out everywhere: her old session no longer works.
    assert enrolled.get(reverse("home")).status_code == 302
    assert sent_to("has been reset") == {social_worker.email}
    assert {admin_user.email, council_admin.email} <= sent_to("reset")
    entry = AccessLogEntry.objects.get(action=Action.SECOND_FACTOR_RESET)
    assert entry.user == admin_user
    assert entry.detail["requested_by"] == council_admin.email
    # With her password she is taken to set up a new authenticator.
    fresh = Client()
    fresh.post(reverse("login"), {"username": social_worker.email, "password": DEFAULT_PASSWORD})
    assert fresh.get(reverse("home"), follow=True).request["PATH_INFO"] == reverse(
        "two_factor_enrol"
    )


def test_an_admin_of_another_agency_can_neither_ask_nor_approve(
    client, school_admin, council_admin, social_worker, enrolled
):
    client.force_login(school_admin)
    assert client.get(page(social_worker)).status_code == 404
    assert ask(client, social_worker).status_code == 404

    client.force_login(council_admin)
    ask(client, social_worker)
    client.force_login(school_admin)
    assert act(client, social_worker, "approve").status_code == 404
    assert TOTPDevice.objects.filter(user=social_worker).exists()


def test_no_admin_resets_their_own_second_factor(client, council_admin):
    TOTPDevice.objects.create(user=council_admin, name="Phone", confirmed=True)
    client.force_login(council_admin)

    shown = client.get(page(council_admin))
    forged = ask(client, council_admin)

    assert 'value="request"' not in shown.content.decode()
    assert forged.status_code == 403
    assert not SecondFactorReset.objects.exists()


def test_the_admin_who_asked_can_cancel(client, council_admin, social_worker, enrolled):
    client.force_login(council_admin)
    ask(client, social_worker)

    response = act(client, social_worker, "cancel")

    assert response.status_code == 302
    reset = SecondFactorReset.objects.get()
    assert reset.cancelled_by == council_admin and not reset.is_pending
    assert TOTPDevice.objects.filter(user=social_worker).exists()
    assert AccessLogEntry.objects.filter(action=Action.SECOND_FACTOR_RESET_CANCELLED).exists()


def test_a_reason_is_needed(client, council_admin, social_worker, enrolled):
    client.force_login(council_admin)

    response = ask(client, social_worker, reason="   ")

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert not SecondFactorReset.objects.exists()


def test_one_reset_waits_at_a_time(client, council_admin, admin_user, social_worker, enrolled):
    client.force_login(council_admin)
    ask(client, social_worker)
    client.force_login(admin_user)

    response = ask(client, social_worker, reason="Also asked")

    assert response.status_code == 200
    assert SecondFactorReset.objects.count() == 1


def test_nothing_to_reset_for_someone_not_yet_enrolled(client, council_admin, social_worker):
    client.force_login(council_admin)

    response = ask(client, social_worker)

    assert response.status_code == 200
    assert "no second factor to reset" in response.content.decode()
    assert not SecondFactorReset.objects.exists()


def test_the_database_refuses_one_admin_twice(council_admin, social_worker):
    reset = SecondFactorReset.objects.create(
        person=social_worker, reason=REASON, requested_by=council_admin
    )
    reset.approved_by = council_admin
    with pytest.raises(IntegrityError), transaction.atomic():
        reset.save()


def test_resets_are_listed_for_the_admins_who_manage_the_person(
    client, council_admin, school_admin, admin_user, social_worker, enrolled
):
    client.force_login(council_admin)
    ask(client, social_worker)

    mine = client.get(page(social_worker))
    client.force_login(school_admin)
    theirs = client.get(page(social_worker))
    client.force_login(admin_user)
    support = client.get(reverse("admin:accounts_secondfactorreset_changelist"))

    assert "Waiting for a second admin" in mine.content.decode()
    assert theirs.status_code == 404
    assert len(support.context["cl"].result_list) == 1


def test_the_person_page_shows_the_second_factor(client, council_admin, social_worker, enrolled):
    client.force_login(council_admin)
    html = client.get(reverse("configuration:person", args=[social_worker.pk])).content
    assert b"Authenticator app set up" in html
    assert page(social_worker).encode() in html


def test_a_password_set_by_an_admin_is_logged_and_told(
    client, admin_user, officer, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:auth_user_password_change", args=[officer.pk]),
            {
                "password1": "Lantern-Quarry-Violet-7",
                "password2": "Lantern-Quarry-Violet-7",
                "usable_password": "true",
            },
        )

    assert response.status_code == 302
    assert sent_to("set a new password") == {officer.email}
    assert admin_user.name in mail.outbox[0].body
    entry = AccessLogEntry.objects.get(action=Action.PASSWORD_SET)
    assert entry.user == admin_user and entry.detail["person"] == officer.email


def test_a_refused_password_form_is_neither_logged_nor_told(client, admin_user, officer):
    client.force_login(admin_user)
    client.post(
        reverse("admin:auth_user_password_change", args=[officer.pk]),
        {"password1": "short", "password2": "short", "usable_password": "true"},
    )
    assert not AccessLogEntry.objects.filter(action=Action.PASSWORD_SET).exists()
