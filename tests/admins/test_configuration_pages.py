"""The service's own configuration pages (/configuration/): who may open each, what
each may change, a forged form refused, changes recorded with their history, the
check-your-answers step of a rule change, and each page's pinned query count.

The same escalations as test_escalation.py (which now tries them against the Django
admin for partnership admins), tried by agency admins against these pages.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from missingkids.accounts.models import Agency, ConfigurationChange, Contact, User
from notifications.models import Rule
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

Kind = ConfigurationChange.Kind


def person_form(person: User | None = None, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Alex Strong",
        "email": "new.manager@cwac.example.org",
        "job_title": "Team manager",
        "role": User.Role.MANAGER,
    }
    if person is not None:
        data.update(
            {
                "name": person.name,
                "email": person.email,
                "job_title": person.job_title,
                "agency": person.agency_id,
                "role": person.role,
                "is_active": "on" if person.is_active else "",
            }
        )
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def agency_form(agency: Agency, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": agency.name,
        "kind": agency.kind,
        "areas": [area.pk for area in agency.areas.all()],
        "address": agency.address,
        "phone": agency.phone,
        "email": agency.email,
        "active": "on",
    }
    data.update(overrides)
    return data


def contact_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Duty desk",
        "role_title": "",
        "email": "duty@riverside-academy.example.org",
        "phone": "",
        "notification_role": "",
        "active": "on",
    }
    data.update(overrides)
    return data


def rule_form(rule: Rule, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {}
    for name in (
        "name",
        "step",
        "condition",
        "risk_at_least",
        "teller",
        "recipient",
        "message",
        "basis",
        "switched_off_reason",
    ):
        data[name] = getattr(rule, name)
    for name in ("threshold_count", "threshold_days", "due_after_hours_if_high_risk"):
        value = getattr(rule, name)
        data[name] = "" if value is None else str(value)
    data["due_after_hours"] = str(rule.due_after_hours)
    for name in ("use_out_of_hours_contact", "send_email", "active"):
        if getattr(rule, name):
            data[name] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# Who may open which page -------------------------------------------------------------


def page_urls(person: User, agency: Agency, contact: Contact, rule: Rule) -> dict[str, str]:
    area = agency.areas.first()
    return {
        "index": reverse("configuration:index"),
        "people": reverse("configuration:people"),
        "person_add": reverse("configuration:person_add"),
        "person": reverse("configuration:person", args=[person.pk]),
        "person_change": reverse("configuration:person_change", args=[person.pk]),
        "second_factor": reverse("configuration:person_second_factor", args=[person.pk]),
        "agencies": reverse("configuration:agencies"),
        "agency": reverse("configuration:agency", args=[agency.pk]),
        "agency_change": reverse("configuration:agency_change", args=[agency.pk]),
        "contact_add": reverse("configuration:contact_add", args=[agency.pk]),
        "contact_change": reverse("configuration:contact_change", args=[contact.pk]),
        "contact_remove": reverse("configuration:contact_remove", args=[contact.pk]),
        "rules": reverse("configuration:rules"),
        "rule": reverse("configuration:rule", args=[rule.pk]),
        # Partnership admins only:
        "agency_add": reverse("configuration:agency_add"),
        "areas": reverse("configuration:areas"),
        "area_add": reverse("configuration:area_add"),
        "area_change": reverse("configuration:area_change", args=[area.pk]),
        "rule_change": reverse("configuration:rule_change", args=[rule.pk]),
    }


PARTNERSHIP_ONLY = {"agency_add", "areas", "area_add", "area_change", "rule_change"}


def test_partnership_admin_opens_every_page(client, admin_user, school, school_teacher):
    contact = ContactFactory(agency=school)
    rule = Rule.objects.first()
    client.force_login(admin_user)
    for name, url in page_urls(school_teacher, school, contact, rule).items():
        assert client.get(url).status_code == 200, name


def test_agency_admin_opens_their_own_agencys_pages_but_not_the_partnerships(
    client, school_admin, school, school_teacher
):
    contact = ContactFactory(agency=school)
    rule = Rule.objects.first()
    client.force_login(school_admin)
    for name, url in page_urls(school_teacher, school, contact, rule).items():
        expected = 403 if name in PARTNERSHIP_ONLY else 200
        assert client.get(url).status_code == expected, name


def test_agency_admin_finds_nothing_of_another_agency(client, school_admin, la_west, officer):
    contact = ContactFactory(agency=la_west)
    rule = Rule.objects.first()
    client.force_login(school_admin)
    urls = page_urls(officer, la_west, contact, rule)
    for name in (
        "person",
        "person_change",
        "second_factor",
        "agency",
        "agency_change",
        "contact_add",
        "contact_change",
        "contact_remove",
    ):
        assert client.get(urls[name]).status_code == 404, name
        if name not in ("person", "agency"):  # pages that take no form
            assert client.post(urls[name], {}).status_code == 404, name


@pytest.mark.parametrize("who", ["manager", "social_worker"])
def test_managers_and_practitioners_are_refused_every_page(client, request, who, school):
    person = request.getfixturevalue(who)
    contact = ContactFactory(agency=school)
    client.force_login(person)
    for name, url in page_urls(person, school, contact, Rule.objects.first()).items():
        assert client.get(url).status_code == 403, name


@pytest.mark.parametrize("bad", ["12abc", "99999999999999999999999", "-1"])
def test_a_malformed_or_unknown_id_is_not_found(client, admin_user, bad):
    client.force_login(admin_user)
    for name in ("person", "agency", "contact_change", "rule", "area_change"):
        assert client.get(reverse(f"configuration:{name}", args=[bad])).status_code == 404


def test_the_menu_links_to_the_configuration_pages(client, school_admin):
    client.force_login(school_admin)
    html = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("configuration:index")}"' in html
    assert f'href="{reverse("admin:index")}"' not in html


# The Django admin is for partnership admins ----------------------------------------------


def test_agency_admins_are_refused_the_django_admin(client, school_admin, council_admin):
    for admin in (school_admin, council_admin):
        client.force_login(admin)
        for url in (reverse("admin:index"), reverse("admin:accounts_user_changelist")):
            assert client.get(url).status_code == 403, url


def test_partnership_admins_keep_the_django_admin(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("admin:index")).status_code == 200


# People ------------------------------------------------------------------------------


def test_people_list_searches_and_filters(
    client, school_admin, school_teacher, officer, admin_user
):
    UserFactory(agency=school_teacher.agency, name="Lee Gone", is_active=False)
    client.force_login(admin_user)
    url = reverse("configuration:people")

    def names(query: dict[str, object]) -> set[str]:
        page = client.get(url, query).context["page"]
        return {person.name for person in page.object_list}

    assert names({"q": "kim.lowe"}) == {"Kim Lowe"}
    assert names({"q": "price"}) == {"Dylan Price"}
    assert names({"agency": school_teacher.agency_id, "active": "no"}) == {"Lee Gone"}
    assert "Dylan Price" in names({"role": User.Role.ADMIN})
    assert names({"agency": "not-a-number"}) >= {"Kim Lowe", officer.name}  # ignored
    # An agency admin's list is their own agency's people.
    client.force_login(school_admin)
    assert names({}) == {"Kim Lowe", "Dylan Price", "Lee Gone"}


def test_agency_admin_adds_a_person_to_their_own_agency_without_a_password(
    client, school_admin, school
):
    client.force_login(school_admin)
    response = client.post(
        reverse("configuration:person_add"),
        person_form(
            email="Kai.New@riverside-academy.example.org", agency=school.pk, is_superuser="on"
        ),
    )

    person = User.objects.get(email="kai.new@riverside-academy.example.org")
    assert response.url == reverse("configuration:person", args=[person.pk])
    assert (person.agency, person.role) == (school, User.Role.MANAGER)
    assert not person.has_usable_password()
    assert not person.is_superuser and not person.is_partnership_admin
    change = ConfigurationChange.objects.get(kind=Kind.PERSON, object_id=person.pk)
    assert change.action == ConfigurationChange.Action.ADDED
    assert change.changed_by == school_admin
    assert "Forgotten your password" in client.get(response.url).content.decode()


def test_agency_admin_cannot_create_a_manager_at_the_council(client, school_admin, la_west):
    client.force_login(school_admin)

    response = client.post(reverse("configuration:person_add"), person_form(agency=la_west.pk))

    assert response.status_code == 200
    assert "agency" in response.context["form"].errors
    assert "There is a problem" in response.content.decode()
    assert not User.objects.filter(email="new.manager@cwac.example.org").exists()


def test_no_agency_admin_gives_out_a_partnership_admins_address(
    client, council_admin, la_west, settings
):
    settings.PARTNERSHIP_ADMINS = [*settings.PARTNERSHIP_ADMINS, "next.lead@cwac.example.org"]
    client.force_login(council_admin)

    response = client.post(
        reverse("configuration:person_add"),
        person_form(email="next.lead@cwac.example.org", agency=la_west.pk, role="admin"),
    )

    assert "email" in response.context["form"].errors
    assert not User.objects.filter(email="next.lead@cwac.example.org").exists()


def test_agency_admin_cannot_touch_a_partnership_admin_of_the_same_agency(
    client, council_admin, admin_user
):
    client.force_login(council_admin)
    url = reverse("configuration:person_change", args=[admin_user.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, person_form(admin_user, is_active="")).status_code == 404
    admin_user.refresh_from_db()
    assert admin_user.is_active


@pytest.mark.parametrize("who", ["school_admin", "admin_user"])
def test_no_admin_changes_their_own_role_agency_or_activity(client, request, who, la_east):
    me = request.getfixturevalue(who)
    client.force_login(me)
    url = reverse("configuration:person_change", args=[me.pk])

    page = client.get(url)
    response = client.post(
        url,
        person_form(me, role=User.Role.MANAGER, agency=la_east.pk, is_active="", job_title="New"),
    )

    assert not {"role", "agency", "is_active"} & set(page.context["form"].fields)
    assert response.status_code == 302
    me.refresh_from_db()
    assert (me.role, me.is_active, me.job_title) == (User.Role.ADMIN, True, "New")
    assert me.agency != la_east


def test_forged_superuser_and_permission_fields_are_ignored(client, school_admin, school_teacher):
    client.force_login(school_admin)
    client.post(
        reverse("configuration:person_change", args=[school_teacher.pk]),
        person_form(school_teacher, is_superuser="on", groups=[1], user_permissions=[1]),
    )
    school_teacher.refresh_from_db()
    assert not school_teacher.is_superuser
    assert not school_teacher.user_permissions.exists()


def test_deactivating_someone_is_recorded_and_shown_in_their_history(
    client, school_admin, school_teacher
):
    client.force_login(school_admin)
    client.post(
        reverse("configuration:person_change", args=[school_teacher.pk]),
        person_form(school_teacher, is_active=""),
    )

    school_teacher.refresh_from_db()
    assert not school_teacher.is_active
    change = ConfigurationChange.objects.get(kind=Kind.PERSON, object_id=school_teacher.pk)
    assert change.changes == [{"field": "Active", "before": "Yes", "after": "No"}]
    page = client.get(reverse("configuration:person", args=[school_teacher.pk]))
    history = page.content.decode()
    assert "<del>Yes</del> → <ins>No</ins>" in history
    assert change.changed_at.astimezone().strftime("%Y") in history


def test_person_form_errors_are_by_the_field_and_nothing_is_lost(client, school_admin):
    client.force_login(school_admin)
    response = client.post(
        reverse("configuration:person_add"),
        person_form(name="", email="not an address", job_title="Keeps this"),
    )
    form = response.context["form"]
    assert {"name", "email"} <= set(form.errors)
    assert "Keeps this" in response.content.decode()


def test_person_pages_query_counts(
    client, admin_user, school_teacher, school_admin, django_assert_num_queries
):
    for n in range(5):
        UserFactory(agency=school_teacher.agency, name=f"Extra {n}")
    client.force_login(admin_user)
    client.get(reverse("configuration:people"))  # warm the session's device lookup
    with django_assert_num_queries(4):
        client.get(reverse("configuration:index"))
    with django_assert_num_queries(7):
        client.get(reverse("configuration:people"))
    with django_assert_num_queries(7):
        client.get(reverse("configuration:people"), {"q": "extra", "active": "yes"})
    with django_assert_num_queries(10):
        client.get(reverse("configuration:person", args=[school_teacher.pk]))
    with django_assert_num_queries(6):
        client.get(reverse("configuration:person_change", args=[school_teacher.pk]))
    with django_assert_num_queries(9):
        client.get(reverse("configuration:person_second_factor", args=[school_teacher.pk]))


# Second factor -------------------------------------------------------------------------


def test_second_factor_reset_is_asked_by_one_admin_and_approved_by_another(
    client, council_admin, admin_user, social_worker, django_capture_on_commit_callbacks
):
    TOTPDevice.objects.create(user=social_worker, name="Phone", confirmed=True)
    url = reverse("configuration:person_second_factor", args=[social_worker.pk])
    client.force_login(council_admin)

    empty = client.post(url, {"action": "request", "reason": ""})
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(url, {"action": "request", "reason": "Lost their phone"})
    own = client.post(
        url, {"action": "approve", "reset": social_worker.second_factor_resets.get().pk}
    )

    assert "reason" in empty.context["form"].errors
    assert asked.status_code == 302
    assert own.status_code == 403  # the admin who asked cannot approve
    assert TOTPDevice.objects.filter(user=social_worker).exists()
    assert any(url in message.body for message in mail.outbox)

    client.force_login(admin_user)
    reset = social_worker.second_factor_resets.get()
    approved = client.post(url, {"action": "approve", "reset": reset.pk})
    assert approved.status_code == 302
    assert not TOTPDevice.objects.filter(user=social_worker).exists()


# Agencies and contacts -------------------------------------------------------------------


def test_agency_admin_changes_only_their_agencys_address_phone_and_mailbox(
    client, school_admin, school, area_west, area_east
):
    client.force_login(school_admin)
    url = reverse("configuration:agency_change", args=[school.pk])

    page = client.get(url)
    response = client.post(
        url,
        agency_form(
            school,
            name="Renamed",
            kind=Agency.Kind.LOCAL_AUTHORITY,
            areas=[area_west.pk, area_east.pk],
            active="",
            email="office@riverside-academy.example.org",
        ),
    )

    assert set(page.context["form"].fields) == {"address", "phone", "email"}
    assert response.status_code == 302
    school.refresh_from_db()
    assert (school.name, school.kind, school.active) == (
        "Chester Riverside Academy",
        Agency.Kind.SCHOOL,
        True,
    )
    assert list(school.areas.all()) == [area_west]
    assert school.email == "office@riverside-academy.example.org"
    change = ConfigurationChange.objects.get(kind=Kind.AGENCY, object_id=school.pk)
    assert [item["field"] for item in change.changes] == ["Email"]


def test_agency_admin_cannot_change_another_agency(client, school_admin, la_west):
    client.force_login(school_admin)
    url = reverse("configuration:agency_change", args=[la_west.pk])
    assert (
        client.post(url, agency_form(la_west, email="attacker@evil.example.com")).status_code == 404
    )
    la_west.refresh_from_db()
    assert la_west.email != "attacker@evil.example.com"
    listed = client.get(reverse("configuration:agencies")).context["page"].object_list
    assert list(listed) == [school_admin.agency]


def test_partnership_admin_adds_an_agency_and_changes_its_areas(
    client, admin_user, school, area_east, area_west
):
    client.force_login(admin_user)
    empty = client.post(reverse("configuration:agency_add"), {"name": ""})
    added = client.post(
        reverse("configuration:agency_add"),
        {"name": "Crewe Academy", "kind": Agency.Kind.SCHOOL, "areas": [area_east.pk]},
    )
    changed = client.post(
        reverse("configuration:agency_change", args=[school.pk]),
        agency_form(school, areas=[area_east.pk]),
    )

    assert {"name", "kind", "areas"} <= set(empty.context["form"].errors)
    assert added.status_code == 302 and changed.status_code == 302
    assert list(Agency.objects.get(name="Crewe Academy").areas.all()) == [area_east]
    assert list(school.areas.all()) == [area_east]
    change = ConfigurationChange.objects.filter(kind=Kind.AGENCY, object_id=school.pk).get()
    assert change.changes == [
        {"field": "Areas served", "before": area_west.name, "after": area_east.name}
    ]


def test_contacts_added_changed_and_removed_are_recorded(client, school_admin, school):
    client.force_login(school_admin)
    client.post(reverse("configuration:contact_add", args=[school.pk]), contact_form())
    contact = Contact.objects.get(name="Duty desk")
    client.post(
        reverse("configuration:contact_change", args=[contact.pk]),
        contact_form(email="", phone="01244 000000", is_default="on"),
    )
    removed = client.post(reverse("configuration:contact_remove", args=[contact.pk]))

    assert removed.url == reverse("configuration:agency", args=[school.pk])
    assert not Contact.objects.filter(pk=contact.pk).exists()
    actions = list(
        ConfigurationChange.objects.filter(kind=Kind.CONTACT, object_id=contact.pk)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["added", "changed", "removed"]
    history = client.get(reverse("configuration:agency", args=[school.pk])).content.decode()
    assert "Contact removed: Duty desk" in history


def test_a_contact_needs_an_email_address_or_a_phone_number(client, school_admin, school):
    client.force_login(school_admin)
    response = client.post(
        reverse("configuration:contact_add", args=[school.pk]), contact_form(email="", phone="")
    )
    assert "email" in response.context["form"].errors
    assert not Contact.objects.exists()


def test_school_admin_cannot_point_the_councils_contact_elsewhere(client, school_admin, la_west):
    front_door = ContactFactory(agency=la_west, email="ifd@cwac.example.org", is_default=True)
    client.force_login(school_admin)

    changed = client.post(
        reverse("configuration:contact_change", args=[front_door.pk]),
        contact_form(email="attacker@evil.example.com"),
    )
    added = client.post(
        reverse("configuration:contact_add", args=[la_west.pk]),
        contact_form(email="attacker@evil.example.com"),
    )
    # A forged agency field on their own agency's page is not a field: ignored.
    own = client.post(
        reverse("configuration:contact_add", args=[school_admin.agency_id]),
        contact_form(agency=la_west.pk, email="mine@riverside-academy.example.org"),
    )

    assert changed.status_code == 404 and added.status_code == 404
    assert own.status_code == 302
    front_door.refresh_from_db()
    assert front_door.email == "ifd@cwac.example.org"
    assert Contact.objects.get(email="mine@riverside-academy.example.org").agency_id == (
        school_admin.agency_id
    )


def test_agency_pages_query_counts(client, admin_user, school, la_west, django_assert_num_queries):
    for n in range(4):
        ContactFactory(agency=school, name=f"Contact {n}")
    client.force_login(admin_user)
    client.get(reverse("configuration:agencies"))
    with django_assert_num_queries(8):
        client.get(reverse("configuration:agencies"))
    with django_assert_num_queries(8):
        client.get(reverse("configuration:agency", args=[school.pk]))
    with django_assert_num_queries(8):
        client.get(reverse("configuration:agency_change", args=[school.pk]))
    contact = school.contacts.first()
    with django_assert_num_queries(6):
        client.get(reverse("configuration:contact_change", args=[contact.pk]))


# Areas ---------------------------------------------------------------------------------


def test_partnership_admin_adds_and_changes_areas(client, admin_user, area_west):
    client.force_login(admin_user)
    bad = client.post(reverse("configuration:area_add"), {"name": "Wirral", "code": "X1"})
    dup = client.post(
        reverse("configuration:area_add"), {"name": area_west.name, "code": "E08000015"}
    )
    added = client.post(reverse("configuration:area_add"), {"name": "Wirral", "code": "E08000015"})
    changed = client.post(
        reverse("configuration:area_change", args=[area_west.pk]),
        {"name": "Cheshire West", "code": area_west.code},
    )
    assert "code" in bad.context["form"].errors
    assert "name" in dup.context["form"].errors
    assert added.status_code == 302 and changed.status_code == 302
    area_west.refresh_from_db()
    assert area_west.name == "Cheshire West"


def test_areas_query_count(client, admin_user, area_west, area_east, django_assert_num_queries):
    client.force_login(admin_user)
    client.get(reverse("configuration:areas"))
    with django_assert_num_queries(5):
        client.get(reverse("configuration:areas"))


# Rules ---------------------------------------------------------------------------------


def test_agency_admin_reads_the_rules_but_cannot_change_them(client, school_admin):
    rule = Rule.objects.filter(active=True).first()
    client.force_login(school_admin)

    page = client.get(reverse("configuration:rule", args=[rule.pk]))
    posted = client.post(
        reverse("configuration:rule_change", args=[rule.pk]), rule_form(rule, active="")
    )
    checked = client.post(reverse("configuration:rule_check", args=[rule.pk]))

    assert page.status_code == 200
    assert reverse("configuration:rule_change", args=[rule.pk]) not in page.content.decode()
    assert posted.status_code == 403 and checked.status_code == 403
    rule.refresh_from_db()
    assert rule.active and rule.version == 1


def test_a_rule_change_is_checked_before_it_is_saved(client, admin_user):
    rule = Rule.objects.filter(active=True, recipient="gp").first()
    client.force_login(admin_user)
    change_url = reverse("configuration:rule_change", args=[rule.pk])
    check_url = reverse("configuration:rule_check", args=[rule.pk])

    to_check = client.post(change_url, rule_form(rule, recipient="school", due_after_hours="2"))
    assert to_check.url == check_url
    rule.refresh_from_db()
    assert rule.recipient == "gp" and rule.version == 1  # nothing saved yet

    page = client.get(check_url).content.decode()
    assert "Before: GP practice" in page and "After: <strong>School</strong>" in page
    assert "This changes who is told" in page
    # Back to the form: the answers are kept.
    back = client.get(change_url + "?draft=1")
    assert back.context["form"]["recipient"].value() == "school"

    saved = client.post(check_url)
    assert saved.url == reverse("configuration:rule", args=[rule.pk])
    rule.refresh_from_db()
    assert (rule.recipient, rule.version) == ("school", 2)
    change = ConfigurationChange.objects.get(kind=Kind.RULE, object_id=rule.pk)
    fields = {item["field"]: (item["before"], item["after"]) for item in change.changes}
    assert fields["Whom"] == ("GP practice", "School")
    history = client.get(reverse("configuration:rule", args=[rule.pk])).content.decode()
    assert "<del>GP practice</del> → <ins>School</ins>" in history
    assert '"recipient"' not in history  # no raw JSON


def test_switching_off_a_statutory_rule_needs_a_reason(client, admin_user):
    rule = Rule.objects.filter(active=True, statutory=True).first()
    client.force_login(admin_user)
    url = reverse("configuration:rule_change", args=[rule.pk])

    refused = client.post(url, rule_form(rule, active=""))
    assert "switched_off_reason" in refused.context["form"].errors
    assert "There is a problem" in refused.content.decode()

    client.post(url, rule_form(rule, active="", switched_off_reason="Covered by the MASH call"))
    client.post(reverse("configuration:rule_check", args=[rule.pk]))
    rule.refresh_from_db()
    assert not rule.active and rule.switched_off_by == admin_user
    change = ConfigurationChange.objects.get(kind=Kind.RULE, object_id=rule.pk)
    assert change.reason == "Covered by the MASH call"


def test_a_rule_changed_meanwhile_is_not_overwritten(client, admin_user, second_partnership_admin):
    from notifications.rules import rule_save_with_version

    rule = Rule.objects.filter(active=True).first()
    client.force_login(admin_user)
    client.post(
        reverse("configuration:rule_change", args=[rule.pk]), rule_form(rule, message="Mine")
    )
    rule.message = "Theirs"
    rule_save_with_version(rule=rule, acting_user=second_partnership_admin)

    response = client.post(reverse("configuration:rule_check", args=[rule.pk]))

    assert response.url == reverse("configuration:rule_change", args=[rule.pk])
    rule.refresh_from_db()
    assert (rule.message, rule.version) == ("Theirs", 2)


def test_rule_pages_query_counts(client, admin_user, django_assert_num_queries):
    rule = Rule.objects.first()
    client.force_login(admin_user)
    client.get(reverse("configuration:rules"))
    with django_assert_num_queries(5):
        client.get(reverse("configuration:rules"))
    with django_assert_num_queries(6):
        client.get(reverse("configuration:rule", args=[rule.pk]))
    with django_assert_num_queries(5):
        client.get(reverse("configuration:rule_change", args=[rule.pk]))
    client.post(reverse("configuration:rule_change", args=[rule.pk]), rule_form(rule, message="x"))
    with django_assert_num_queries(9):
        client.get(reverse("configuration:rule_check", args=[rule.pk]))


def test_anonymous_is_sent_to_sign_in(client, school, school_teacher):
    contact = ContactFactory(agency=school)
    for name, url in page_urls(school_teacher, school, contact, Rule.objects.first()).items():
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), name


def test_agency_admin_clears_the_failed_sign_ins_of_their_own_people_only(
    client, school_admin, school_teacher, officer
):
    from axes.models import AccessAttempt

    for person in (school_teacher, officer):
        AccessAttempt.objects.create(
            username=person.email, ip_address="192.0.2.1", failures_since_start=5
        )
    client.force_login(school_admin)

    page = client.get(reverse("configuration:person", args=[school_teacher.pk]))
    cleared = client.post(reverse("configuration:person_unlock", args=[school_teacher.pk]))
    elsewhere = client.post(reverse("configuration:person_unlock", args=[officer.pk]))

    assert 'data-testid="locked"' in page.content.decode()
    assert cleared.status_code == 302 and elsewhere.status_code == 404
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [officer.email]


# Bad input -------------------------------------------------------------------------------

HUGE = "99999999999999999999"
BAD_QUERIES = [
    {"page": "\x00"},
    {"page": HUGE},
    {"q": "a\x00b"},
    {"agency": HUGE, "area": "\x00", "kind": "nonsense", "role": "root", "active": "maybe"},
    {"agency": "-1", "area": HUGE},
]


def test_bad_filters_are_a_message_or_ignored_never_an_error(client, admin_user):
    client.raise_request_exception = False
    client.force_login(admin_user)
    for url in (reverse("configuration:people"), reverse("configuration:agencies")):
        for query in BAD_QUERIES:
            assert client.get(url, query).status_code == 200, (url, query)


def test_bad_form_input_is_a_message_by_the_field(client, admin_user, school, school_teacher):
    contact = ContactFactory(agency=school)
    rule = Rule.objects.first()
    client.raise_request_exception = False
    client.force_login(admin_user)
    posts = {
        reverse("configuration:person_add"): person_form(
            name="a\x00b", email="x\x00@example.org", agency=HUGE, role="root"
        ),
        reverse("configuration:person_change", args=[school_teacher.pk]): person_form(
            school_teacher, agency="\x00", job_title="x" * 5000
        ),
        reverse("configuration:agency_add"): {"name": "a\x00", "kind": "x", "areas": [HUGE]},
        reverse("configuration:agency_change", args=[school.pk]): agency_form(
            school, areas=["-99999999999999999999"], email="\x00"
        ),
        reverse("configuration:contact_change", args=[contact.pk]): contact_form(
            name="\x00", notification_role="boss"
        ),
        reverse("configuration:area_add"): {"name": "\x00", "code": HUGE},
        reverse("configuration:rule_change", args=[rule.pk]): rule_form(
            rule, due_after_hours=HUGE, threshold_count=HUGE, step="\x00"
        ),
        reverse("configuration:person_second_factor", args=[school_teacher.pk]): {
            "action": "request",
            "reason": "\x00",
        },
    }
    for url, data in posts.items():
        response = client.post(url, data)
        assert response.status_code == 200, (url, response.status_code)
        assert "There is a problem" in response.content.decode(), url
    # Confirming a rule change with nothing waiting goes back to the form.
    checked = client.post(reverse("configuration:rule_check", args=[rule.pk]))
    assert checked.url == reverse("configuration:rule_change", args=[rule.pk])
