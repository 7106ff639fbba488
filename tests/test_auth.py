"""Signing in and out: by e-mail, one message whatever went wrong, sign-out by POST."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

GENERIC_ERROR = "Enter a correct e-mail address and password."


def post_sign_in(client, email: str, password: str, **extra: str):
    return client.post(reverse("login"), {"username": email, "password": password, **extra})


def test_sign_in_page_is_open_to_anonymous_visitors(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'autocomplete="current-password"' in response.content


def test_sign_in_with_email_in_any_case_goes_home(client, officer):
    response = post_sign_in(client, "  Sam.OKAFOR@Police.Example.ORG ", DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.session[SESSION_KEY] == str(officer.pk)


def test_sign_in_honours_a_local_next_and_ignores_another_site(client, officer):
    response = post_sign_in(client, officer.email, DEFAULT_PASSWORD, next="/admin/")
    assert response.url == "/admin/"

    client.logout()
    response = post_sign_in(
        client, officer.email, DEFAULT_PASSWORD, next="https://evil.example.net/"
    )
    assert response.url == reverse("home")


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param("sam.okafor@police.example.org", "Wrong-Horse-Battery-9", id="wrong-password"),
        pytest.param("nobody@police.example.org", DEFAULT_PASSWORD, id="unknown-email"),
    ],
)
def test_failed_sign_in_gives_one_generic_message_and_keeps_the_email(
    client, officer, email, password
):
    response = post_sign_in(client, email, password)

    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert response.context["form"].non_field_errors() == [GENERIC_ERROR]
    html = response.content.decode()
    assert html.count(GENERIC_ERROR) == 1  # in the summary, not repeated per field
    assert f'value="{email}"' in html
    assert password not in html


def test_inactive_user_cannot_sign_in_and_is_told_nothing_more(client, officer):
    officer.is_active = False
    officer.save(update_fields=["is_active"])

    response = post_sign_in(client, officer.email, DEFAULT_PASSWORD)

    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert response.context["form"].non_field_errors() == [GENERIC_ERROR]


def test_error_summary_is_at_the_top_of_a_failed_sign_in(client, officer):
    response = post_sign_in(client, officer.email, "not-the-password")

    html = response.content.decode()
    main = html[html.index('<main class="govuk-main-wrapper"') :]
    summary = main.index('class="govuk-error-summary"')
    assert summary < main.index("<h1") < main.index("<form")
    # The summary links to the first field so keyboard users land on it.
    assert f'href="#id_username">{GENERIC_ERROR}</a>' in main
    assert response.context["form"]["username"].auto_id == "id_username"
    assert "<title>Error: Sign in" in html


def test_empty_sign_in_names_both_fields(client, db):
    response = post_sign_in(client, "", "")

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"username", "password"}
    assert b"govuk-error-summary" in response.content


def test_signed_in_visitor_to_sign_in_page_goes_home(client, officer):
    client.force_login(officer)

    response = client.get(reverse("login"))

    assert response.status_code == 302
    assert response.url == reverse("home")


def test_home_page_shows_name_and_agency(client, social_worker):
    client.force_login(social_worker)

    response = client.get(reverse("home"))

    assert response.status_code == 200
    html = response.content.decode()
    header = html[html.index('data-testid="signed-in-user"') : html.index("</header>")]
    assert "Jo Whitfield" in header
    assert "Cheshire West and Chester Council Children&#x27;s Services" in header
    assert "Hello, Jo Whitfield" in html
    assert "Cheshire West and Chester" in html  # the area the agency serves


def test_anonymous_home_redirects_to_sign_in_with_next(client, db):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next=/"


def test_sign_out_by_get_is_refused(client, officer):
    client.force_login(officer)

    response = client.get(reverse("logout"))

    assert response.status_code == 405
    assert client.session[SESSION_KEY] == str(officer.pk)


def test_sign_out_by_post_ends_the_session(client, officer):
    client.force_login(officer)
    old_session_key = client.session.session_key

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert SESSION_KEY not in client.session
    assert client.session.session_key != old_session_key
    # The old session is gone server-side too, not merely forgotten by this client.
    assert not Session.objects.filter(session_key=old_session_key).exists()
    assert client.get(reverse("home")).status_code == 302


def test_sign_in_page_is_never_cached_and_cannot_be_framed(client, db):
    response = client.get(reverse("login"))

    assert response["X-Frame-Options"] == "DENY"
    assert "no-store" in response["Cache-Control"]


def test_unknown_page_when_signed_in_is_the_service_404(client, officer, settings):
    assert settings.DEBUG is False  # pytest-django's default: real error pages
    client.force_login(officer)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "404.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "<title>Page not found \N{EN DASH} Missing children</title>" in html
    assert 'class="govuk-template"' in html
    assert '<h1 class="govuk-heading-l">Page not found</h1>' in html
    assert "PC Sam Okafor" in html  # still inside the service, with its header


def test_unknown_page_for_anonymous_visitor_says_nothing_more(client, db):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"Sign out" not in response.content


def test_empty_sign_in_says_what_to_enter(client):
    response = client.post(reverse("login"), {"username": "", "password": ""})

    text = response.content.decode()
    assert "Enter your e-mail address" in text and "Enter your password" in text
    assert "This field is required" not in text
