"""A forgotten password, reset by the person: a link by e-mail, no oracle, once, for an
hour, every session ended, logged, and the second factor still asked for."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.urls import reverse
from django.utils import timezone

from missingkids.audit.models import AccessLogEntry
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

A = AccessLogEntry.Action
NEW_PASSWORD = "Quiet-Harbour-Lantern-42"


def ask(client, email: str, callbacks):
    with callbacks(execute=True):
        return client.post(reverse("password_reset"), {"email": email})


def link_in(message) -> str:
    match = re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_sign_in_offers_the_reset(client):
    page = client.get(reverse("login")).content.decode()
    assert reverse("password_reset") in page


def test_the_answer_is_the_same_for_an_unknown_address(
    client, officer, mailoutbox, django_capture_on_commit_callbacks
):
    known = ask(client, officer.email.upper(), django_capture_on_commit_callbacks)
    unknown = ask(client, "nobody@example.org", django_capture_on_commit_callbacks)

    assert known.status_code == unknown.status_code == 302
    assert known.url == unknown.url == reverse("password_reset_sent")
    assert [m.to for m in mailoutbox] == [[officer.email]]
    asked = list(AccessLogEntry.objects.filter(action=A.PASSWORD_RESET_REQUESTED).order_by("id"))
    assert [(e.user, e.detail["sent"]) for e in asked] == [(officer, True), (None, False)]
    page = client.get(reverse("password_reset_sent")).content.decode()
    assert "If <strong>nobody@example.org</strong> belongs to an account" in page


def test_an_inactive_account_gets_nothing(client, mailoutbox, django_capture_on_commit_callbacks):
    gone = UserFactory(email="left@cwac.example.org", is_active=False)
    ask(client, gone.email, django_capture_on_commit_callbacks)
    assert mailoutbox == []


def test_asking_again_soon_sends_no_second_link(
    client, officer, mailoutbox, django_capture_on_commit_callbacks
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ask(client, officer.email, django_capture_on_commit_callbacks)
        ask(client, officer.email, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 1
    with time_machine.travel(start + dt.timedelta(minutes=16), tick=False):
        ask(client, officer.email, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2


def test_the_link_sets_a_new_password_once_and_ends_every_session(
    client, officer, mailoutbox, django_capture_on_commit_callbacks
):
    elsewhere = type(client)()
    elsewhere.force_login(officer)
    ask(client, officer.email, django_capture_on_commit_callbacks)
    link = link_in(mailoutbox[0])

    opened = client.get(link)
    assert opened.status_code == 302  # the token moves out of the address bar
    form_url = opened.url
    assert "Set a new password" in client.get(form_url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert done.status_code == 302 and done.url == reverse("login")
    officer.refresh_from_db()
    assert officer.check_password(NEW_PASSWORD)
    assert SESSION_KEY not in elsewhere.session
    assert AccessLogEntry.objects.filter(action=A.PASSWORD_RESET, user=officer).exists()
    assert "was changed" in mailoutbox[-1].subject
    # Used once: the link no longer works.
    again = client.get(link, follow=True).content.decode()
    assert "This link does not work" in again


def test_a_link_older_than_an_hour_does_not_work(
    client, officer, mailoutbox, django_capture_on_commit_callbacks
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ask(client, officer.email, django_capture_on_commit_callbacks)
    with time_machine.travel(start + dt.timedelta(hours=1, minutes=5), tick=False):
        page = client.get(link_in(mailoutbox[0]), follow=True).content.decode()
    assert "This link does not work" in page
    officer.refresh_from_db()
    assert officer.check_password(DEFAULT_PASSWORD)


def test_the_new_password_must_meet_the_rules(
    client, officer, mailoutbox, django_capture_on_commit_callbacks
):
    ask(client, officer.email, django_capture_on_commit_callbacks)
    form_url = client.get(link_in(mailoutbox[0])).url
    response = client.post(form_url, {"new_password1": "short", "new_password2": "short"})
    assert response.status_code == 200
    assert "There is a problem" in response.content.decode()
    officer.refresh_from_db()
    assert officer.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize("email", ["", "x" * 300, "a\x00b@example.org"])
def test_bad_addresses_are_a_message(client, email):
    response = client.post(reverse("password_reset"), {"email": email})
    assert response.status_code in (200, 302)
