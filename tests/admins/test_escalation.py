"""Every way an admin was found to raise their own power is refused, at the form (the
choices offered) and at the save (a forged POST), as a school's agency admin tried it.

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


# Creating people -------------------------------------------------------------------------


def test_school_admin_cannot_create_a_manager_at_the_council(client, school_admin, la_west):
    client.force_login(school_admin)

    response = client.post(reverse("admin:accounts_user_add"), user_add_form(la_west))

    assert response.status_code == 200
    assert "agency" in response.context["adminform"].form.errors
    assert not User.objects.filter(email="new.manager@cwac.example.org").exists()


def test_school_admin_is_offered_only_their_own_agency(client, school_admin, school, la_west):
    client.force_login(school_admin)

    page = client.get(reverse("admin:accounts_user_add"))
    found = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "accounts", "model_name": "user", "field_name": "agency", "term": ""},
    )

    assert list(page.context["adminform"].form.fields["agency"].queryset) == [school]
    assert {r["text"] for r in found.json()["results"]} == {school.name}


def test_school_admin_adds_people_to_their_own_school(client, school_admin, school):
    client.force_login(school_admin)
    form = user_add_form(school, email="kai.new@riverside-academy.example.org")

    response = client.post(reverse("admin:accounts_user_add"), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    person = User.objects.get(email="kai.new@riverside-academy.example.org")
    assert (person.agency, person.role) == (school, User.Role.MANAGER)


def test_partnership_admin_adds_people_anywhere(client, admin_user, police):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_user_add"),
        user_add_form(police, email="new.sergeant@police.example.org", role=User.Role.ADMIN),
    )

    assert response.status_code == 302
    assert User.objects.get(email="new.sergeant@police.example.org").agency == police


def test_no_admin_can_give_out_a_partnership_admins_address(client, council_admin, settings):
    settings.PARTNERSHIP_ADMINS = [*settings.PARTNERSHIP_ADMINS, "next.lead@cwac.example.org"]
    client.force_login(council_admin)

    created = client.post(
        reverse("admin:accounts_user_add"),
        user_add_form(
            council_admin.agency, email="Next.Lead@cwac.example.org", role=User.Role.ADMIN
        ),
    )
    renamed = client.post(
        reverse("admin:accounts_user_change", args=[council_admin.pk]),
        user_change_form(council_admin, email="next.lead@cwac.example.org"),
    )

    assert "email" in created.context["adminform"].form.errors
    assert "email" in renamed.context["adminform"].form.errors
    assert not User.objects.filter(email="next.lead@cwac.example.org").exists()
    council_admin.refresh_from_db()
    assert not council_admin.is_partnership_admin


# Changing people ---------------------------------------------------------------------------


def test_school_admin_cannot_see_or_change_people_elsewhere(client, school_admin, officer):
    client.force_login(school_admin)
    url = reverse("admin:accounts_user_change", args=[officer.pk])

    listed = client.get(reverse("admin:accounts_user_changelist"))
    opened = client.get(url)
    posted = client.post(url, user_change_form(officer, role=User.Role.ADMIN, is_active=None))

    assert officer not in listed.context["cl"].result_list
    assert refused_as_missing(opened)
    assert refused_as_missing(posted)
    officer.refresh_from_db()
    assert officer.role == User.Role.PRACTITIONER and officer.is_active


def test_school_admin_cannot_set_the_password_of_someone_elsewhere(client, school_admin, officer):
    client.force_login(school_admin)
    url = reverse("admin:auth_user_password_change", args=[officer.pk])

    opened = client.get(url)
    posted = client.post(
        url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    )

    assert opened.status_code == 404
    assert posted.status_code == 404
    officer.refresh_from_db()
    assert officer.check_password(DEFAULT_PASSWORD)


def test_agency_admin_cannot_touch_a_partnership_admin_of_the_same_agency(
    client, council_admin, admin_user
):
    assert council_admin.agency == admin_user.agency
    client.force_login(council_admin)

    opened = client.get(reverse("admin:accounts_user_change", args=[admin_user.pk]))
    password = client.post(
        reverse("admin:auth_user_password_change", args=[admin_user.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert refused_as_missing(opened)
    assert password.status_code == 404
    admin_user.refresh_from_db()
    assert admin_user.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize("who", ["school_admin", "admin_user"])
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


def test_forged_superuser_and_permission_fields_are_ignored(client, school_admin, school_teacher):
    client.force_login(school_admin)

    response = client.post(
        reverse("admin:accounts_user_change", args=[school_teacher.pk]),
        user_change_form(school_teacher, is_superuser="on", groups=[1], user_permissions=[1]),
    )

    assert response.status_code == 302
    school_teacher.refresh_from_db()
    assert not school_teacher.is_superuser
    assert not school_teacher.user_permissions.exists()


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


def test_agency_admin_cannot_change_their_agencys_areas_kind_or_name(
    client, school_admin, school, area_west, area_east
):
    client.force_login(school_admin)
    url = reverse("admin:accounts_agency_change", args=[school.pk])

    page = client.get(url)
    response = client.post(
        url,
        agency_change_form(
            school,
            name="Renamed",
            kind=Agency.Kind.LOCAL_AUTHORITY,
            areas=[area_west.pk, area_east.pk],
            active="",
            email="office@riverside-academy.example.org",
        ),
    )

    assert not {"name", "kind", "areas", "active"} & set(page.context["adminform"].form.fields)
    assert response.status_code == 302
    school.refresh_from_db()
    assert (school.name, school.kind, school.active) == (
        "Chester Riverside Academy",
        Agency.Kind.SCHOOL,
        True,
    )
    assert list(school.areas.all()) == [area_west]
    assert school.email == "office@riverside-academy.example.org"  # their own to keep


def test_agency_admin_cannot_open_or_change_another_agency(client, school_admin, la_west):
    client.force_login(school_admin)
    url = reverse("admin:accounts_agency_change", args=[la_west.pk])

    listed = client.get(reverse("admin:accounts_agency_changelist"))
    opened = client.get(url)
    posted = client.post(url, agency_change_form(la_west, email="attacker@evil.example.com"))

    assert list(listed.context["cl"].result_list) == [school_admin.agency]
    assert refused_as_missing(opened)
    assert refused_as_missing(posted)
    la_west.refresh_from_db()
    assert la_west.email != "attacker@evil.example.com"


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


def test_school_admin_cannot_point_the_councils_contact_elsewhere(client, school_admin, la_west):
    front_door = ContactFactory(
        agency=la_west, name="Integrated Front Door", email="ifd@cwac.example.org", is_default=True
    )
    client.force_login(school_admin)
    url = reverse("admin:accounts_contact_change", args=[front_door.pk])

    opened = client.get(url)
    posted = client.post(url, contact_form(front_door, email="attacker@evil.example.com"))
    added = client.post(
        reverse("admin:accounts_contact_add"),
        contact_form(front_door, name="Fake front door", email="attacker@evil.example.com"),
    )

    assert refused_as_missing(opened)
    assert refused_as_missing(posted)
    assert added.status_code == 200
    assert "agency" in added.context["adminform"].form.errors
    front_door.refresh_from_db()
    assert front_door.email == "ifd@cwac.example.org"
    assert not Contact.objects.filter(email="attacker@evil.example.com").exists()


def test_agency_admin_manages_their_own_contacts(client, school_admin, school, la_west):
    ContactFactory(agency=la_west, name="Council duty desk")
    mine = ContactFactory(agency=school, name="Designated safeguarding lead")
    client.force_login(school_admin)

    listed = client.get(reverse("admin:accounts_contact_changelist"))
    changed = client.post(
        reverse("admin:accounts_contact_change", args=[mine.pk]),
        contact_form(mine, email="dsl@riverside-academy.example.org"),
    )

    assert list(listed.context["cl"].result_list) == [mine]
    assert changed.status_code == 302
    mine.refresh_from_db()
    assert mine.email == "dsl@riverside-academy.example.org"


# Rules ---------------------------------------------------------------------------------


def test_agency_admin_reads_the_rules_but_cannot_change_them(client, school_admin):
    rule = Rule.objects.filter(active=True).first()
    client.force_login(school_admin)
    url = reverse("admin:notifications_rule_change", args=[rule.pk])

    assert client.get(reverse("admin:notifications_rule_changelist")).status_code == 200
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(url, {"name": "x", "active": ""}).status_code == 403
    assert client.get(reverse("admin:notifications_rule_add")).status_code == 403
    rule.refresh_from_db()
    assert rule.active and rule.version == 1


# The security records ----------------------------------------------------------------------


def test_only_partnership_admins_read_the_access_log(client, school_admin, admin_user):
    url = reverse("admin:audit_accesslogentry_changelist")
    client.force_login(school_admin)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


def test_agency_admin_sees_and_clears_lockouts_of_their_own_people_only(
    client, school_admin, school_teacher, officer
):
    from axes.models import AccessAttempt

    def attempt(username: str) -> AccessAttempt:
        return AccessAttempt.objects.create(
            username=username, ip_address="192.0.2.1", failures_since_start=5
        )

    theirs = attempt(school_teacher.email)
    police = attempt(officer.email)
    client.force_login(school_admin)

    listed = client.get(reverse("admin:axes_accessattempt_changelist"))
    cleared = client.post(
        reverse("admin:axes_accessattempt_delete", args=[police.pk]), {"post": "yes"}
    )

    assert list(listed.context["cl"].result_list) == [theirs]
    assert refused_as_missing(cleared)
    assert AccessAttempt.objects.filter(pk=police.pk).exists()


def test_new_people_default_to_a_plain_practitioner_account(client, school_admin):
    """Nothing an agency admin makes is staff beyond what they are themselves."""
    client.force_login(school_admin)
    client.post(
        reverse("admin:accounts_user_add"),
        user_add_form(
            school_admin.agency,
            email="new.admin@riverside-academy.example.org",
            role=User.Role.ADMIN,
            is_superuser="on",
        ),
    )
    made = User.objects.get(email="new.admin@riverside-academy.example.org")
    assert not made.is_superuser and not made.is_partnership_admin


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
