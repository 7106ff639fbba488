"""Configuration changes are visible: each change to a rule, an agency or a contact is
kept with who, when, before and after, e-mailed to the managers of the agencies it
affects and to the partnership admins, and listed on the "Configuration changes" page."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from missingkids.accounts.models import ConfigurationChange, Contact, User
from notifications.models import Rule
from tests.factories import ContactFactory, UserFactory

from .test_configuration_pages import person_form
from .test_escalation import agency_change_form


def contact_form(contact: Contact, **overrides: object) -> dict[str, object]:
    """The contact's page (/configuration/contacts/<id>/change/), as it stands."""
    data: dict[str, object] = {
        "name": contact.name,
        "role_title": contact.role_title,
        "email": contact.email,
        "phone": contact.phone,
        "notification_role": contact.notification_role,
        "active": "on",
    }
    if contact.is_default:
        data["is_default"] = "on"
    data.update(overrides)
    return data


pytestmark = pytest.mark.django_db

Kind = ConfigurationChange.Kind
URL = "/configuration-changes/"


@pytest.fixture
def police_manager(police) -> User:
    return UserFactory(
        email="inspector.hale@police.example.org",
        name="Inspector Hale",
        agency=police,
        role=User.Role.MANAGER,
    )


@pytest.fixture
def front_door(la_west) -> Contact:
    return ContactFactory(
        agency=la_west,
        name="Integrated Front Door",
        role_title="Front door",
        email="ifd@cwac.example.org",
        is_default=True,
    )


def recipients() -> set[str]:
    return {address for message in mail.outbox for address in message.to}


def test_contact_pointed_elsewhere_is_recorded_and_told(
    client,
    council_admin,
    front_door,
    manager,
    police_manager,
    admin_user,
    django_capture_on_commit_callbacks,
):
    client.force_login(council_admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("configuration:contact_change", args=[front_door.pk]),
            contact_form(front_door, email="duty@outside.example.com"),
        )

    assert response.status_code == 302
    change = ConfigurationChange.objects.get()
    assert (change.kind, change.action, change.object_id) == (
        Kind.CONTACT,
        ConfigurationChange.Action.CHANGED,
        front_door.pk,
    )
    assert change.changed_by == council_admin
    assert change.changes == [
        {"field": "Email", "before": "ifd@cwac.example.org", "after": "duty@outside.example.com"}
    ]
    assert list(change.agencies.all()) == [front_door.agency]
    # The council's manager and the partnership admin are told; the police's are not.
    assert recipients() == {manager.email, admin_user.email, "admin@demo.example.org"}
    message = mail.outbox[0]
    assert "Integrated Front Door" in message.subject
    assert "ifd@cwac.example.org -> duty@outside.example.com" in message.body
    assert council_admin.name in message.body
    assert "ifd@cwac.example.org" in message.alternatives[0][0]
    assert all(len(m.to) == 1 for m in mail.outbox)  # nobody sees who else was told


def test_saving_without_a_change_records_nothing(client, council_admin, front_door):
    client.force_login(council_admin)
    client.post(
        reverse("configuration:contact_change", args=[front_door.pk]), contact_form(front_door)
    )
    assert not ConfigurationChange.objects.exists()


def test_agency_areas_mailbox_and_contacts_are_recorded(
    client, admin_user, la_west, front_door, area_west, area_east
):
    client.force_login(admin_user)
    data = agency_change_form(
        la_west, areas=[area_west.pk, area_east.pk], email="cs@cwac.example.org"
    )
    # The inline removes the front door and adds an out-of-hours team.
    data.update(
        {
            "contacts-0-DELETE": "on",
            "contacts-TOTAL_FORMS": "2",
            "contacts-1-agency": la_west.pk,
            "contacts-1-name": "Emergency Duty Team",
            "contacts-1-email": "edt@cwac.example.org",
            "contacts-1-phone": "",
            "contacts-1-role_title": "",
            "contacts-1-notification_role": "",
            "contacts-1-out_of_hours": "on",
            "contacts-1-active": "on",
        }
    )

    response = client.post(reverse("admin:accounts_agency_change", args=[la_west.pk]), data)

    assert response.status_code == 302, response.context["errors"]
    agency_change = ConfigurationChange.objects.get(kind=Kind.AGENCY)
    fields = {item["field"]: item for item in agency_change.changes}
    assert fields["Areas served"] == {
        "field": "Areas served",
        "before": "Cheshire West and Chester",
        "after": "Cheshire East, Cheshire West and Chester",
    }
    assert fields["Email"]["after"] == "cs@cwac.example.org"
    actions = dict(
        ConfigurationChange.objects.filter(kind=Kind.CONTACT).values_list("subject", "action")
    )
    assert actions == {
        f"Integrated Front Door ({la_west.name})": "removed",
        f"Emergency Duty Team ({la_west.name})": "added",
    }
    # The history on the agency's page shows them all.
    page = client.get(reverse("admin:accounts_agency_change", args=[la_west.pk])).content.decode()
    assert "Emergency Duty Team" in page and "edt@cwac.example.org" in page
    assert "Cheshire East, Cheshire West and Chester" in page


def test_contact_removed_in_its_own_page_is_recorded(client, council_admin, front_door):
    client.force_login(council_admin)
    client.post(reverse("configuration:contact_remove", args=[front_door.pk]))
    change = ConfigurationChange.objects.get()
    assert change.action == ConfigurationChange.Action.REMOVED
    assert {"field": "Email", "before": "ifd@cwac.example.org", "after": ""} in change.changes


def test_contact_history_is_on_its_admin_page(client, council_admin, front_door):
    client.force_login(council_admin)
    url = reverse("configuration:contact_change", args=[front_door.pk])
    client.post(url, contact_form(front_door, email="new.ifd@cwac.example.org"))

    page = client.get(url).content.decode()

    assert "History of changes" in page
    assert "<del>ifd@cwac.example.org</del> → <ins>new.ifd@cwac.example.org</ins>" in page
    assert council_admin.name in page


def test_rule_change_is_told_to_the_agencies_it_concerns(
    client, admin_user, la_west, police, provider, manager, police_manager
):
    from tests.notifications.test_admin import rule_form

    rule = Rule.objects.get(name="Returned: police tell the responsible local authority")
    client.force_login(admin_user)
    data = rule_form(rule, name=rule.name, step=rule.step, basis=rule.basis)
    data.update({"due_after_hours": "48", "due_after_hours_if_high_risk": ""})

    response = client.post(reverse("admin:notifications_rule_change", args=[rule.pk]), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    change = ConfigurationChange.objects.get(kind=Kind.RULE)
    assert change.subject == rule.name
    assert {"field": "Due after hours", "before": "24", "after": "48"} in change.changes
    # Police tell the council: both kinds are affected; the provider is not.
    assert set(change.agencies.all()) == {la_west, police}
    client.force_login(police_manager)
    assert change in client.get(URL).context["page"].object_list


# The page ------------------------------------------------------------------------------


def record(subject: str, agencies: list, **fields) -> ConfigurationChange:
    change = ConfigurationChange.objects.create(
        kind=fields.pop("kind", Kind.CONTACT),
        action=ConfigurationChange.Action.CHANGED,
        object_id=1,
        subject=subject,
        changes=[{"field": "Email", "before": "a@example.org", "after": "b@example.org"}],
        **fields,
    )
    change.agencies.set(agencies)
    return change


def test_managers_see_the_changes_that_affect_their_agency(
    client, manager, la_west, police, admin_user
):
    ours = record("Integrated Front Door", [la_west], changed_by=admin_user)
    theirs = record("Force control room", [police])
    client.force_login(manager)

    response = client.get(URL)

    assert response.status_code == 200
    assert list(response.context["page"].object_list) == [ours]
    html = response.content.decode()
    assert "Integrated Front Door" in html and "Force control room" not in html
    assert "a@example.org" in html and "b@example.org" in html
    assert admin_user.name in html
    assert theirs.pk not in [c.pk for c in response.context["page"].object_list]


def test_partnership_admin_sees_all_and_filters_by_agency(client, admin_user, la_west, police):
    ours = record("Integrated Front Door", [la_west])
    theirs = record("Force control room", [police])
    client.force_login(admin_user)

    everything = client.get(URL)
    police_only = client.get(URL, {"agency": police.pk})
    nonsense = client.get(URL, {"agency": "99999999999999999999"})

    assert list(everything.context["page"].object_list) == [theirs, ours]
    assert list(police_only.context["page"].object_list) == [theirs]
    assert nonsense.status_code == 200
    assert "agency" in nonsense.context["filters"].errors
    assert "Error:" in nonsense.content.decode()


def test_an_agency_admin_cannot_filter_their_way_to_another_agency(
    client, school_admin, school, la_west
):
    record("Integrated Front Door", [la_west])
    client.force_login(school_admin)

    response = client.get(URL, {"agency": la_west.pk})

    assert list(response.context["page"].object_list) == []


@pytest.mark.parametrize("who", ["social_worker", "officer", "provider_worker"])
def test_practitioners_are_refused(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(URL).status_code == 403


def test_page_query_count_is_fixed(client, admin_user, la_west, police, django_assert_num_queries):
    """Session, user, authenticator, the count, the user's agency, the filter's agencies,
    the page of changes (with who), the agencies they affect: 8 however many rows."""
    for _ in range(3):
        record("Front door", [la_west, police], changed_by=admin_user)
    client.force_login(admin_user)
    client.get(URL)
    with django_assert_num_queries(8):
        client.get(URL)
    for _ in range(20):
        record("Front door", [la_west, police], changed_by=admin_user)
    with django_assert_num_queries(8):
        response = client.get(URL)
    assert len(response.context["page"].object_list) == 23


def test_managers_and_admins_have_the_page_in_the_navigation(client, manager, social_worker):
    client.force_login(manager)
    labels = [item["label"] for item in client.get("/").context["navigation"]]
    assert "Configuration changes" in labels
    client.force_login(social_worker)
    labels = [item["label"] for item in client.get("/").context["navigation"]]
    assert "Configuration changes" not in labels


def test_a_mail_server_that_refuses_does_not_undo_the_change(
    client, council_admin, front_door, manager, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.mail import EmailMultiAlternatives

    def refuse(self, *args, **kwargs):
        raise ConnectionRefusedError

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse)
    client.force_login(council_admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("configuration:contact_change", args=[front_door.pk]),
            contact_form(front_door, email="duty@outside.example.com"),
        )

    assert response.status_code == 302
    front_door.refresh_from_db()
    assert front_door.email == "duty@outside.example.com"
    assert ConfigurationChange.objects.count() == 1


@pytest.mark.parametrize(
    "params", [{"agency": "\x00"}, {"agency": "-1"}, {"page": "\x00"}, {"page": "99999999999"}]
)
def test_bad_filters_are_a_message_or_ignored_never_an_error(client, admin_user, la_west, params):
    record("Integrated Front Door", [la_west])
    client.force_login(admin_user)
    response = client.get(URL, params)
    assert response.status_code == 200


# People's access ------------------------------------------------------------------------


def test_a_new_manager_is_recorded_and_told(
    client, council_admin, manager, police_manager, django_capture_on_commit_callbacks
):
    """An agency admin who makes someone a manager (full case access for the agency) is
    seen doing it, as one who repoints a contact is."""
    client.force_login(council_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("configuration:person_add"), person_form(agency=council_admin.agency_id)
        )

    assert response.status_code == 302
    person = User.objects.get(email="new.manager@cwac.example.org")
    change = ConfigurationChange.objects.get()
    assert (change.kind, change.action, change.object_id) == (
        Kind.PERSON,
        ConfigurationChange.Action.ADDED,
        person.pk,
    )
    assert change.changed_by == council_admin
    assert {"field": "Role", "before": "", "after": "Manager"} in change.changes
    assert list(change.agencies.all()) == [council_admin.agency]
    assert manager.email in recipients()
    assert police_manager.email not in recipients()


def test_a_role_change_and_a_deactivation_are_recorded(client, council_admin, social_worker):
    client.force_login(council_admin)
    url = reverse("configuration:person_change", args=[social_worker.pk])

    client.post(url, person_form(social_worker))
    assert not ConfigurationChange.objects.exists()

    client.post(url, person_form(social_worker, role=User.Role.MANAGER))
    client.post(url, person_form(social_worker, role=User.Role.MANAGER, is_active=""))

    changes = list(ConfigurationChange.objects.filter(kind=Kind.PERSON).order_by("id"))
    assert [c.changes for c in changes] == [
        [{"field": "Role", "before": "Practitioner", "after": "Manager"}],
        [{"field": "Active", "before": "Yes", "after": "No"}],
    ]
    page = client.get(reverse("configuration:person", args=[social_worker.pk])).content.decode()
    assert "History of changes" in page and "Practitioner" in page
