"""Registering a system in the admin: partnership admins only; the token shown once."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from api.models import ApiClient
from api.tokens import client_for_token, digest
from missingkids.accounts import access
from missingkids.accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:api_apiclient_add")
LIST = reverse("admin:api_apiclient_changelist")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def registered(admin_client, police) -> tuple[ApiClient, str]:
    response = admin_client.post(
        ADD,
        {
            "name": "Cheshire Police records system",
            "agency": police.pk,
            "operations": ["report_missing", "record_return"],
            "contact_email": "systems@police.example.org",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = re.search(rb'id="api-token">(mk_[^<]+)<', response.content)[1].decode()
    return ApiClient.objects.get(), token


def test_a_partnership_admin_registers_a_system_and_sees_its_token_once(
    admin_client, police, admin_user
):
    client, token = registered(admin_client, police)
    assert client.operations == ["record_return", "report_missing"]
    assert client.token_hash == digest(token)
    assert token not in client.token_hash
    assert client_for_token(token) == client
    user = client.user
    assert (user.agency, user.role, user.is_active) == (police, User.Role.PRACTITIONER, True)
    assert not user.has_usable_password()
    assert client.token_issued_by == admin_user
    # Never shown again: not on its page, nor in the list.
    page = admin_client.get(reverse("admin:api_apiclient_change", args=[client.pk]))
    assert token.encode() not in page.content
    assert token.encode() not in admin_client.get(LIST).content


def test_police_operations_only_for_a_police_system(admin_client, la_west):
    response = admin_client.post(
        ADD,
        {
            "name": "Council system",
            "agency": la_west.pk,
            "operations": ["report_missing"],
            "contact_email": "it@la.example.org",
        },
    )
    assert response.status_code == 200
    assert b"police forces&#x27; systems only" in response.content
    assert not ApiClient.objects.exists()


def test_rotate_and_revoke(admin_client, police):
    client, first = registered(admin_client, police)
    response = admin_client.post(LIST, {"action": "rotate_token", "_selected_action": [client.pk]})
    second = re.search(rb'id="api-token">(mk_[^<]+)<', response.content)[1].decode()
    assert second != first
    assert client_for_token(first) is None
    assert client_for_token(second) == client
    admin_client.post(LIST, {"action": "revoke_token", "_selected_action": [client.pk]})
    client.refresh_from_db()
    assert client.is_revoked
    assert not client.user.is_active


def test_agency_admins_and_others_cannot_reach_systems(client, la_west, police, officer):
    agency_admin = UserFactory(
        email="agency.admin@cwac.example.org", agency=la_west, role=User.Role.ADMIN
    )
    client.force_login(agency_admin)
    assert client.get(LIST).status_code == 403
    assert client.get(ADD).status_code == 403
    client.force_login(officer)
    assert client.get(LIST).status_code in (302, 403)


def test_service_users_are_not_managed_as_people(admin_client, admin_user, police):
    system, _ = registered(admin_client, police)
    assert not access.people_managed_by(admin_user).filter(pk=system.user_id).exists()
    assert not access.may_manage_person(admin_user, system.user)
    assert not access.may_assign_address(admin_user, "someone@systems.invalid")
    page = admin_client.get(reverse("admin:accounts_user_change", args=[system.user_id]))
    assert page.status_code in (302, 404)


def test_council_operations_only_for_a_council_system(admin_client, la_west, police):
    fields = {"operations": ["upsert_children"], "contact_email": "it@example.org"}
    refused = admin_client.post(ADD, {"name": "Force", "agency": police.pk, **fields})
    assert b"children&#x27;s services only" in refused.content
    admin_client.post(ADD, {"name": "West case system", "agency": la_west.pk, **fields})
    assert ApiClient.objects.get().operations == ["upsert_children"]


def test_registering_rotating_and_revoking_are_configuration_changes_emailed(
    admin_user, police, settings, mailoutbox, django_capture_on_commit_callbacks
):
    from api.tokens import register_client, revoke_token, rotate_token
    from missingkids.accounts.models import ConfigurationChange
    from tests.factories import UserFactory

    police_manager = UserFactory(agency=police, role="manager", email="dci@police.example.org")
    with django_capture_on_commit_callbacks(execute=True):
        client, token = register_client(
            name="Niche RMS",
            agency=police,
            operations=["report_missing"],
            contact_email="it@police.example.org",
            by=admin_user,
        )
        rotate_token(client=client, by=admin_user)
        revoke_token(client=client, by=admin_user)
    changes = list(
        ConfigurationChange.objects.filter(kind="system", object_id=client.pk).order_by("pk")
    )
    assert [c.action for c in changes] == ["added", "changed", "changed"]
    assert {c.changed_by for c in changes} == {admin_user}
    assert all(list(c.agencies.all()) == [police] for c in changes)
    fields = [{f["field"] for f in c.changes} for c in changes]
    assert "Token" in fields[1] and "Token revoked" in fields[2]
    everything = str([c.changes for c in changes])
    assert token not in everything and token.split("_", 2)[2] not in everything
    told = [m for m in mailoutbox if police_manager.email in m.to]
    assert len(told) == 3
