"""Every way an admin was found to raise their own power is refused, at the form (the
choices offered) and at the save (a forged POST), as a school's agency admin tried it.

Agency admins now configure on the service's own pages, where the same escalations are
tried (test_configuration_pages.py); the Django admin is for partnership admins'
support only, so every escalation an agency admin tried there is now a 403. The tests
here keep the admin's own checks for partnership admins.

A record an admin may not manage answers as one that does not exist: the admin's
"does not exist" redirect for its pages, 404 for the password page.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from missingkids.accounts.models import Agency, Contact, User
from notifications.models import Rule
from tests.factories import DEFAULT_PASSWORD, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Lantern-Quarry-Violet-7"


def user_add_form(agency: Agency, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "email": "new.manager@cwac.example.org",
        "name": "Alex Strong",
        "job_title": "Team manager",
        "agency": agency.pk,
        "role": User.Role.MANAGER,
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "_save": "Save",
    }
    data.update(overrides)
    return data


def user_change_form(person: User, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "email": person.email,
        "name": person.name,
        "job_title": person.job_title,
        "agency": person.agency_id,
        "role": person.role,
        "is_active": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def agency_change_form(agency: Agency, **overrides: object) -> dict[str, object]:
    contacts = list(agency.contacts.all())
    data: dict[str, object] = {
        "name": agency.name,
        "kind": agency.kind,
        "areas": [area.pk for area in agency.areas.all()],
        "address": agency.address,
        "phone": agency.phone,
        "email": agency.email,
        "active": "on",
        "contacts-TOTAL_FORMS": str(len(contacts)),
        "contacts-INITIAL_FORMS": str(len(contacts)),
        "contacts-MIN_NUM_FORMS": "0",
        "contacts-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, contact in enumerate(contacts):
        prefix = f"contacts-{index}-"
        data.update(
            {
                f"{prefix}id": contact.pk,
                f"{prefix}agency": agency.pk,
                f"{prefix}name": contact.name,
                f"{prefix}role_title": contact.role_title,
                f"{prefix}email": contact.email,
                f"{prefix}phone": contact.phone,
                f"{prefix}notification_role": contact.notification_role,
                f"{prefix}active": "on",
            }
        )
        if contact.is_default:
            data[f"{prefix}is_default"] = "on"
    data.update(overrides)
    return data


def contact_form(contact: Contact, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "agency": contact.agency_id,
        "name": contact.name,
        "role_title": contact.role_title,
        "email": contact.email,
        "phone": contact.phone,
        "notification_role": contact.notification_role,
        "active": "on",
        "_save": "Save",
    }
    if contact.is_default:
        data["is_default"] = "on"
    data.update(overrides)
    return data


def refused_as_missing(response) -> bool:
    """The admin's answer for a record that does not exist: back to its index."""
    return response.status_code == 302 and response.url == reverse("admin:index")


# Agency admins and the Django admin ------------------------------------------------------


def test_every_escalation_an_agency_admin_tried_in_the_django_admin_is_refused(
    client, school_admin, council_admin, school_teacher, la_west, admin_user
):
    front_door = ContactFactory(agency=la_west, email="ifd@cwac.example.org", is_default=True)
    rule = Rule.objects.filter(active=True).first()
    attempts = [
        (reverse("admin:accounts_user_add"), user_add_form(la_west)),
        (
            reverse("admin:accounts_user_change", args=[school_teacher.pk]),
            user_change_form(school_teacher, role=User.Role.ADMIN, is_superuser="on"),
        ),
        (
            reverse("admin:auth_user_password_change", args=[admin_user.pk]),
            {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
        ),
        (
            reverse("admin:accounts_agency_change", args=[la_west.pk]),
            agency_change_form(la_west, email="attacker@evil.example.com"),
        ),
        (
            reverse("admin:accounts_contact_change", args=[front_door.pk]),
            contact_form(front_door, email="attacker@evil.example.com"),
        ),
        (reverse("admin:notifications_rule_change", args=[rule.pk]), {"active": ""}),
    ]
    for admin in (school_admin, council_admin):
        client.force_login(admin)
        for url, data in attempts:
            assert client.get(url).status_code == 403, url
            assert client.post(url, data).status_code == 403, url
    assert not User.objects.filter(email="new.manager@cwac.example.org").exists()
    school_teacher.refresh_from_db()
    admin_user.refresh_from_db()
    front_door.refresh_from_db()
    rule.refresh_from_db()
    assert school_teacher.role == User.Role.PRACTITIONER and not school_teacher.is_superuser
    assert admin_user.check_password(DEFAULT_PASSWORD)
    assert front_door.email == "ifd@cwac.example.org"
    assert rule.active and rule.version == 1


# Creating people -------------------------------------------------------------------------


def test_partnership_admin_adds_people_anywhere(client, admin_user, police):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_user_add"),
        user_add_form(police, email="new.sergeant@police.example.org", role=User.Role.ADMIN),
    )

    assert response.status_code == 302
    assert User.objects.get(email="new.sergeant@police.example.org").agency == police


def test_no_admin_can_give_out_a_partnership_admins_address(client, council_admin, settings):
    """Only a partnership admin reaches the Django admin; an agency admin is refused it
    (their own pages refuse the address too: test_configuration_pages.py)."""
    settings.PARTNERSHIP_ADMINS = [*settings.PARTNERSHIP_ADMINS, "next.lead@cwac.example.org"]
    client.force_login(council_admin)

    created = client.post(
        reverse("admin:accounts_user_add"),
        user_add_form(
            council_admin.agency, email="Next.Lead@cwac.example.org", role=User.Role.ADMIN
        ),
    )

    assert created.status_code == 403
    assert not User.objects.filter(email="next.lead@cwac.example.org").exists()
    council_admin.refresh_from_db()
    assert not council_admin.is_partnership_admin


# Changing people ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin_user"])
def test_no_admin_can_change_their_own_role_agency_or_activity(client, request, who, la_east):
    me = request.getfixturevalue(who)
    client.force_login(me)
    url = reverse("admin:accounts_user_change", args=[me.pk])

    page = client.get(url)
    response = client.post(
        url,
        user_change_form(
            me, role=User.Role.MANAGER, agency=la_east.pk, is_active=None, job_title="Changed"
        ),
    )

    form = page.context["adminform"].form
    assert not {"role", "agency", "is_active"} & set(form.fields)
    assert response.status_code == 302
    me.refresh_from_db()
    assert (me.role, me.is_active, me.job_title) == (User.Role.ADMIN, True, "Changed")
    assert me.agency != la_east


def test_people_are_deactivated_never_deleted(client, admin_user, officer):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_user_delete", args=[officer.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert User.objects.filter(pk=officer.pk).exists()


# Authenticators ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["school_admin", "admin_user"])
def test_no_admin_removes_an_authenticator_without_a_second_admin(
    client, request, who, school_teacher
):
    client.force_login(request.getfixturevalue(who))
    device = TOTPDevice.objects.create(user=school_teacher, name="Phone", confirmed=True)

    listed = client.get(reverse("admin:otp_totp_totpdevice_changelist"))
    deleted = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )

    assert listed.status_code == 403
    assert deleted.status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


# Agencies and areas ------------------------------------------------------------------------


def test_agency_admin_cannot_add_agencies_or_touch_areas(client, school_admin, area_west):
    client.force_login(school_admin)

    for url in (
        reverse("admin:accounts_agency_add"),
        reverse("admin:accounts_localauthorityarea_changelist"),
        reverse("admin:accounts_localauthorityarea_change", args=[area_west.pk]),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("admin:accounts_agency_add"), {"name": "X"}).status_code == 403


def test_partnership_admin_changes_an_agencys_areas(client, admin_user, school, area_east):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_agency_change", args=[school.pk]),
        agency_change_form(school, areas=[area_east.pk]),
    )

    assert response.status_code == 302
    assert list(school.areas.all()) == [area_east]


# Contacts ------------------------------------------------------------------------------


# Rules ---------------------------------------------------------------------------------


# The security records ----------------------------------------------------------------------


def test_only_partnership_admins_read_the_access_log(client, school_admin, admin_user):
    url = reverse("admin:audit_accesslogentry_changelist")
    client.force_login(school_admin)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


def test_a_person_without_an_admin_role_is_not_made_one_by_the_list(settings, officer):
    """Being named in PARTNERSHIP_ADMINS is not enough: the role must be admin too."""
    settings.PARTNERSHIP_ADMINS = [officer.email]
    assert not officer.is_partnership_admin
    assert not officer.is_staff
    assert UserFactory(role=User.Role.ADMIN).is_agency_admin


def test_no_warning_names_a_contact_of_another_agency(client, school_admin, la_west):
    from django.contrib.messages import get_messages

    hidden = ContactFactory(agency=la_west, name="Council night desk", email="", phone="0100")
    client.force_login(school_admin)

    for url in (
        reverse("admin:accounts_contact_change", args=[hidden.pk]),
        reverse("admin:accounts_agency_change", args=[la_west.pk]),
    ):
        response = client.get(url)
        assert not [m for m in get_messages(response.wsgi_request) if "night desk" in str(m)]


@pytest.mark.parametrize("model", ["contact", "agency", "user"])
def test_a_malformed_id_is_not_found(client, admin_user, model):
    client.force_login(admin_user)
    response = client.get(f"/admin/accounts/{model}/12abc/change/")
    assert refused_as_missing(response)


def test_a_forged_inline_contact_of_another_agency_is_not_changed(
    client, school_admin, school, la_west
):
    front_door = ContactFactory(agency=la_west, name="Integrated Front Door", is_default=True)
    ContactFactory(agency=school, name="School office")
    client.force_login(school_admin)
    data = agency_change_form(school)
    data.update({"contacts-0-id": front_door.pk, "contacts-0-email": "attacker@evil.example.com"})

    client.post(reverse("admin:accounts_agency_change", args=[school.pk]), data)

    # The inline's rows are the school's own: a foreign id matches none and is skipped.
    front_door.refresh_from_db()
    assert front_door.email != "attacker@evil.example.com"
    assert front_door.agency == la_west
