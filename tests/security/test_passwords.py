"""Passwords: Argon2 hashing, at least 12 characters, common and all-digit ones refused."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

import missingkids.settings as project_settings
from tests.security.signing_in import password_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_hashers(settings) -> None:
    """The production hashers (tests otherwise use a fast one; see conftest)."""
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


def test_argon2_is_the_hasher_for_new_passwords(real_hashers, officer):
    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")

    officer.set_password("Lantern-Quarry-Violet-7")
    officer.save(update_fields=["password"])

    officer.refresh_from_db()
    assert officer.password.startswith("argon2$argon2id$")
    assert officer.check_password("Lantern-Quarry-Violet-7")


def test_an_older_hash_is_upgraded_to_argon2_at_sign_in(real_hashers, client, officer):
    officer.password = make_password("Lantern-Quarry-Violet-7", hasher="pbkdf2_sha256")
    officer.save(update_fields=["password"])

    response = password_step(client, officer.email, "Lantern-Quarry-Violet-7")

    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.password.startswith("argon2$")


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        pytest.param("Short-pw-1", "at least 12 characters", id="too-short"),
        pytest.param("password1234", "too common", id="common"),
        pytest.param("qwertyuiop123", "too common", id="common-keyboard"),
        pytest.param("849302716548", "entirely numeric", id="all-digits"),
        pytest.param("sam.okafor@police", "too similar", id="like-the-email"),
    ],
)
def test_weak_passwords_are_refused(officer, password, complaint):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, officer)

    assert any(complaint in message for message in refused.value.messages), refused.value


def test_a_long_uncommon_password_is_accepted(officer):
    validate_password("Lantern-Quarry-Violet-7", officer)


def test_the_admin_refuses_a_common_password_for_a_new_person(client, admin_user, police):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "new.person@police.example.org",
            "name": "Dana Hughes",
            "job_title": "",
            "agency": police.pk,
            "role": "practitioner",
            "password1": "password1234",
            "password2": "password1234",
        },
    )

    assert response.status_code == 200
    assert "too common" in response.content.decode()
