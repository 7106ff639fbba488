"""The configuration pages (Django admin) as an admin by role, and refused to others."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from missingkids.accounts.models import Agency, User
from tests.factories import AgencyFactory, ContactFactory

pytestmark = pytest.mark.django_db

RAW_ID_WIDGET = "vForeignKeyRawIdAdminField"


@pytest.fixture
def admin_client(client, admin_user):
    """Signed in as the cast's admin: role admin, not a superuser."""
    assert not admin_user.is_superuser
    client.force_login(admin_user)
    return client


@pytest.fixture
def police_contacts(police):
    return [
        ContactFactory(
            agency=police, name="Force Control Room", email="control@police.example.org"
        ),
        ContactFactory(
            agency=police, name="Missing from Home Coordinator", phone="01244 350000", email=""
        ),
    ]


def test_admin_role_sees_configuration_but_not_auth_groups(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    apps = {app["app_label"] for app in response.context["app_list"]}
    assert "accounts" in apps
    assert "auth" not in apps  # groups and permissions are not configuration here
    assert admin_client.get(reverse("admin:auth_group_changelist")).status_code == 403


def test_agency_list_searches_and_filters(admin_client, police, la_west, la_east, police_contacts):
    url = reverse("admin:accounts_agency_changelist")

    everything = admin_client.get(url)
    by_name = admin_client.get(url, {"q": "Constabulary"})
    by_contact = admin_client.get(url, {"q": "control@police"})
    by_kind = admin_client.get(url, {"kind": Agency.Kind.POLICE})

    assert everything.status_code == 200
    assert set(everything.context["cl"].result_list) == {police, la_west, la_east}
    assert list(by_name.context["cl"].result_list) == [police]
    assert list(by_contact.context["cl"].result_list) == [police]
    assert list(by_kind.context["cl"].result_list) == [police]
    html = everything.content.decode()
    assert "Cheshire East, Cheshire West and Chester" in html  # areas served, by name


def test_agency_list_query_count_does_not_grow_with_agencies(admin_client, area_west):
    url = reverse("admin:accounts_agency_changelist")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    for _ in range(2):
        ContactFactory(agency=AgencyFactory(areas=[area_west]))
    few = queries()
    for _ in range(8):
        ContactFactory(agency=AgencyFactory(areas=[area_west]))
    assert queries() == few


def test_agency_change_page_lists_its_contacts_inline(admin_client, police, police_contacts):
    response = admin_client.get(reverse("admin:accounts_agency_change", args=[police.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="contacts-group"' in html
    assert "Force Control Room" in html
    assert "Missing from Home Coordinator" in html
    assert RAW_ID_WIDGET not in html


def agency_form(area_ids: list[int], **contact: str) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Warrington Youth Service",
        "kind": Agency.Kind.OTHER,
        "areas": area_ids,
        "address": "",
        "phone": "",
        "email": "youth@warrington.example.org",
        "active": "on",
        "contacts-TOTAL_FORMS": "1",
        "contacts-INITIAL_FORMS": "0",
        "contacts-MIN_NUM_FORMS": "0",
        "contacts-MAX_NUM_FORMS": "1000",
        "contacts-0-name": "Duty worker",
        "contacts-0-role_title": "Youth worker",
        "contacts-0-email": "",
        "contacts-0-phone": "",
        "contacts-0-active": "on",
        "_save": "Save",
    }
    data.update({f"contacts-0-{key}": value for key, value in contact.items()})
    return data


def test_admin_adds_an_agency_with_a_contact(admin_client, area_west, area_east):
    response = admin_client.post(
        reverse("admin:accounts_agency_add"),
        agency_form([area_west.pk, area_east.pk], email="duty@warrington.example.org"),
    )

    assert response.status_code == 302, response.context["errors"]
    agency = Agency.objects.get(name="Warrington Youth Service")
    assert set(agency.areas.all()) == {area_west, area_east}
    contact = agency.contacts.get()
    assert (contact.name, contact.email) == ("Duty worker", "duty@warrington.example.org")


def test_inline_contact_needs_an_email_or_a_phone(admin_client, area_west):
    response = admin_client.post(reverse("admin:accounts_agency_add"), agency_form([area_west.pk]))

    assert response.status_code == 200
    assert "Give an e-mail address or a phone number." in response.content.decode()
    assert not Agency.objects.filter(name="Warrington Youth Service").exists()


def test_contact_list_and_form_use_names_not_ids(admin_client, police, police_contacts):
    changelist = admin_client.get(reverse("admin:accounts_contact_changelist"))
    add = admin_client.get(reverse("admin:accounts_contact_add"))

    assert changelist.status_code == 200
    assert "Cheshire Constabulary" in changelist.content.decode()
    assert add.status_code == 200
    html = add.content.decode()
    assert RAW_ID_WIDGET not in html
    assert 'class="admin-autocomplete' in html


def test_agency_autocomplete_answers_with_names(admin_client, police, la_west):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "accounts", "model_name": "contact", "field_name": "agency", "term": "Chesh"},
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert {r["text"] for r in results} == {police.name, la_west.name}


def test_user_pages_open_for_admin(admin_client, officer):
    for url in [
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_user_add"),
        reverse("admin:accounts_user_change", args=[officer.pk]),
    ]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert RAW_ID_WIDGET not in html, url
    assert 'class="admin-autocomplete' in html  # the change page picks the agency by name
    assert "Cheshire Constabulary" in html


def user_form(agency: Agency, password: str) -> dict[str, object]:
    return {
        "email": "New.Person@Police.Example.org",
        "name": "Dana Hughes",
        "job_title": "Detective constable",
        "agency": agency.pk,
        "role": User.Role.PRACTITIONER,
        "password1": password,
        "password2": password,
        "_save": "Save",
    }


def test_admin_creates_a_user_who_can_sign_in(admin_client, police):
    response = admin_client.post(
        reverse("admin:accounts_user_add"), user_form(police, "Lantern-Quarry-Violet-7")
    )

    assert response.status_code == 302
    user = User.objects.get(email="new.person@police.example.org")  # stored lower-case
    assert (user.name, user.agency, user.role) == ("Dana Hughes", police, "practitioner")
    assert not user.is_staff
    their_browser = Client()
    signed_in = their_browser.post(
        reverse("login"),
        {"username": "new.person@police.example.org", "password": "Lantern-Quarry-Violet-7"},
    )
    assert signed_in.status_code == 302
    # Their first sign-in goes on to setting up two-factor sign-in.
    set_up = their_browser.get(reverse("home"), follow=True)
    assert set_up.request["PATH_INFO"] == reverse("two_factor_enrol")
    assert "Dana Hughes" in set_up.content.decode()


def test_new_user_password_must_be_twelve_characters(admin_client, police):
    response = admin_client.post(
        reverse("admin:accounts_user_add"), user_form(police, "Short-pw-1")
    )

    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()
    assert not User.objects.filter(email__iexact="new.person@police.example.org").exists()


def test_new_user_email_must_be_new_in_any_case(admin_client, police, officer):
    data = user_form(police, "Lantern-Quarry-Violet-7") | {"email": officer.email.upper()}

    response = admin_client.post(reverse("admin:accounts_user_add"), data)

    assert response.status_code == 200
    assert "A person with this e-mail address already exists." in response.content.decode()


@pytest.mark.parametrize("who", ["officer", "social_worker", "manager"])
def test_people_without_admin_role_never_see_configuration(client, request, who):
    user = request.getfixturevalue(who)
    client.force_login(user)

    for url in [
        reverse("admin:index"),
        reverse("admin:accounts_agency_changelist"),
        reverse("admin:accounts_user_add"),
    ]:
        response = client.get(url, follow=True)
        # Refused with a 403 (or sent outside the admin), and not round in a loop.
        final = response.request["PATH_INFO"]
        assert response.status_code in (200, 403), url
        assert response.status_code == 403 or not final.startswith("/admin/"), (
            url,
            response.redirect_chain,
        )
        assert len(response.redirect_chain) <= 3, response.redirect_chain
        assert b"Missing children: configuration" not in response.content


def test_admin_sets_a_new_password_for_someone(admin_client, officer):
    url = reverse("admin:auth_user_password_change", args=[officer.pk])
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(
        url,
        {
            "password1": "Lantern-Quarry-Violet-7",
            "password2": "Lantern-Quarry-Violet-7",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.check_password("Lantern-Quarry-Violet-7")
