"""`manage.py load_demo_data`: the partnership `make run` shows, loaded any number of times."""

from __future__ import annotations

import re
from base64 import b32decode
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_otp.oath import totp

from missingkids.accounts.models import Agency, Contact, LocalAuthorityArea, User

pytestmark = pytest.mark.django_db


def load() -> str:
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (LocalAuthorityArea, Agency, Contact, User)
    }


@pytest.fixture
def demo_output() -> str:
    return load()


def printed_password(output: str) -> str:
    match = re.search(r"with the password: (\S+)", output)
    assert match, output
    return match.group(1)


def printed_emails(output: str) -> list[str]:
    return re.findall(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", output)


def printed_two_factor(output: str) -> dict[str, tuple[str, list[str]]]:
    """Each person's printed authenticator key and recovery codes, by e-mail address."""
    found: dict[str, tuple[str, list[str]]] = {}
    email = key = ""
    for line in output.splitlines():
        if emails := printed_emails(line):
            email = emails[0]
        elif match := re.search(r"authenticator key: ([A-Z2-7]+)$", line):
            key = match.group(1)
        elif match := re.search(r"recovery codes: +(.+)$", line):
            found[email] = (key, match.group(1).split())
    return found


def test_loading_twice_changes_nothing(demo_output):
    first = counts()

    second_output = load()

    assert counts() == first
    assert printed_emails(second_output) == printed_emails(demo_output)
    assert printed_password(second_output) == printed_password(demo_output)
    assert all(first.values()), first


def test_a_changed_demo_password_is_put_back(demo_output):
    user = User.objects.get(email=printed_emails(demo_output)[0])
    user.set_password("Someone-Changed-It-42")
    user.save(update_fields=["password"])

    load()

    user.refresh_from_db()
    assert user.check_password(printed_password(demo_output))


def test_every_role_is_represented(demo_output):
    for role in User.Role:
        assert User.objects.filter(role=role, is_active=True).exists(), role


def test_each_printed_person_signs_in_and_sees_their_name_and_agency(client, demo_output):
    password = printed_password(demo_output)
    emails = printed_emails(demo_output)
    assert set(emails) == set(User.objects.values_list("email", flat=True))

    two_factor = printed_two_factor(demo_output)
    assert set(two_factor) == set(emails)
    for email in emails:
        user = User.objects.select_related("agency").get(email=email)
        response = client.post(reverse("login"), {"username": email, "password": password})
        assert response.status_code == 302, (email, response.context["form"].errors)
        _key, codes = two_factor[email]
        response = client.post(reverse("two_factor"), {"code": codes[0]})
        assert response.status_code == 302, (email, response.context["form"].errors)

        home = client.get(reverse("home")).content.decode()
        assert user.name in home
        assert user.agency.name.replace("'", "&#x27;") in home
        client.post(reverse("logout"))


def test_every_demo_agency_can_be_reached(demo_output):
    """Each agency has someone to tell: a contact with an e-mail address or a phone."""
    for agency in Agency.objects.prefetch_related("contacts", "areas"):
        assert agency.areas.exists(), agency
        assert any(c.active and (c.email or c.phone) for c in agency.contacts.all()), agency


def test_each_printed_person_has_an_authenticator_key_that_works(client, demo_output):
    password = printed_password(demo_output)
    email, (key, _codes) = next(iter(printed_two_factor(demo_output).items()))
    client.post(reverse("login"), {"username": email, "password": password})

    code = f"{totp(b32decode(key)):06d}"
    response = client.post(reverse("two_factor"), {"code": code})

    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_each_run_prints_new_recovery_codes_and_the_old_ones_stop_working(
    client, demo_output, settings
):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0  # no wait after the refused old code
    first = printed_two_factor(demo_output)
    second = printed_two_factor(load())
    email = next(iter(first))

    assert first[email][0] == second[email][0]  # the same authenticator key
    assert len(second[email][1]) == 3
    assert not set(first[email][1]) & set(second[email][1])
    client.post(reverse("login"), {"username": email, "password": printed_password(demo_output)})
    old = client.post(reverse("two_factor"), {"code": first[email][1][0]})
    assert old.status_code == 200  # refused
    assert client.post(reverse("two_factor"), {"code": second[email][1][0]}).status_code == 302


def test_the_demo_has_a_partnership_admin_and_an_agency_admin(demo_output):
    morgan = User.objects.get(email="admin@demo.example.org")
    dan = User.objects.get(email="police.admin@demo.example.org")

    assert morgan.is_partnership_admin and not morgan.is_agency_admin
    assert dan.is_agency_admin and not dan.is_partnership_admin
    assert dan.agency.kind == Agency.Kind.POLICE
    lines = demo_output.splitlines()
    assert any("Partnership admin" in line and morgan.email in line for line in lines)
    assert any("Agency admin" in line and dan.email in line for line in lines)


def test_the_demo_agency_admin_lands_on_the_configuration_pages(client, demo_output):
    dan = User.objects.get(email="police.admin@demo.example.org")
    client.force_login(dan)

    home = client.get(reverse("home"))
    front = client.get(reverse("configuration:index"))
    people = client.get(reverse("configuration:people"))

    assert home.status_code == 200
    assert reverse("configuration:index") in home.content.decode()
    assert front.status_code == 200 and people.status_code == 200
    assert {p.agency_id for p in people.context["page"].object_list} == {dan.agency_id}
    assert client.get(reverse("admin:index")).status_code == 403


def test_without_the_setting_the_demo_says_how_to_name_the_partnership_admin(settings):
    settings.PARTNERSHIP_ADMINS = []
    output = load()
    assert "Set PARTNERSHIP_ADMINS=admin@demo.example.org" in output
    assert "Partnership admin" not in output
