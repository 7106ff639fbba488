"""The fixed cast every test works with, and the rules for tests that need more.

Two areas of one partnership (Cheshire West and Chester, Cheshire East), the agencies a
missing episode involves, and six people: a police officer, a social worker, a
return-interview worker, a manager, an admin, and an outsider from an agency in another
area who must not see the partnership's children. Three more stand where the rights
inside a child's scope matter: a practitioner and a manager of the host council
(Cheshire East) and a GP practice's manager.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from hypothesis import settings as hypothesis_settings

from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from tests.factories import AgencyFactory, LocalAuthorityAreaFactory, UserFactory

# Playwright fixtures (chromium_browser, page) for tests marked `browser`.
pytest_plugins = ["tests.browser"]

K = Agency.Kind


def pytest_configure(config: pytest.Config) -> None:
    # Tests serve static files from the finders; nobody runs collectstatic first, so
    # WhiteNoise's warning about the missing STATIC_ROOT is expected noise here.
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")


def in_ci() -> bool:
    """CI sets CI=true; there a test that cannot run is a failure, never a skip."""
    return bool(os.environ.get("CI"))


# Property tests (hypothesis). CI runs a fixed, derandomised set of at least 200
# examples and keeps no example database; on a developer's machine fewer random
# examples run each time, and failing ones are remembered in .hypothesis/ (not in git).
# HYPOTHESIS_PROFILE=ci runs the CI set anywhere.
hypothesis_settings.register_profile(
    "ci", max_examples=200, derandomize=True, database=None, deadline=None, print_blob=True
)
hypothesis_settings.register_profile("dev", max_examples=30, deadline=None)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "dev")
)


def skip_or_fail(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def using_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and not using_postgres():
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://... (see README)")


def _flush_past_the_access_log_guard() -> None:
    """Let the test suite's own flushes empty the access log on PostgreSQL.

    Transactional tests (the browser tests, the concurrency tests) end with Django's
    flush, a TRUNCATE of every table, which the access log's trigger refuses (migration
    audit 0004), as it must in production. Between tests only, the flush switches that
    one trigger off around its TRUNCATE, in the same transaction. The tests of the
    trigger itself (tests/security/test_audit.py, test_database_roles.py) issue their own
    TRUNCATE and see it refused.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):  # type: ignore[no-untyped-def]
        statements = original(self, style, tables, **kwargs)
        if "audit_accesslogentry" not in tables:
            return statements
        table, trigger = "audit_accesslogentry", "audit_accesslog_no_truncate"
        return [
            f"ALTER TABLE {table} DISABLE TRIGGER {trigger};",
            *statements,
            f"ALTER TABLE {table} ENABLE TRIGGER {trigger};",
        ]

    DatabaseOperations.sql_flush = sql_flush


_flush_past_the_access_log_guard()


@pytest.fixture
def postgres_only() -> None:
    """Request this (or mark the test `postgres`) for behaviour SQLite cannot show."""
    if not using_postgres():
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://... (see README)")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # The production hasher is deliberately slow; tests hash dozens of passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


TEST_AUTHENTICATOR_NAME = "Test authenticator"


@pytest.fixture(autouse=True)
def _test_client_sign_in_passes_two_factor(monkeypatch) -> None:
    """``client.force_login(user)`` and ``client.login(...)`` give a fully signed-in session.

    Every page needs the second factor (TwoFactorRequiredMiddleware). Tests that are not
    about signing in should not each go through it, so the test client's sign-in also
    gives the user a confirmed authenticator named "Test authenticator" (if they have no
    confirmed one) and marks the session as verified with it, exactly as the real
    second step does (django_otp.login stores the device's id in the session). The
    middleware still checks that device on every request, so removing it in a test
    still sends the user back to the second step.

    This changes only the test client: nothing in the product trusts a session without
    a verified device. Tests of the real steps (tests/security/, the browser tests)
    sign in through the forms. ``client.login`` also gets a request to pass to
    ``authenticate``, which django-axes' backend requires.
    """
    from django.http import HttpRequest
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    original_login = Client._login
    original_credentials_login = Client.login

    def _login(self: Client, user: User, backend: str | None = None) -> None:
        original_login(self, user, backend)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
        if device is None:
            device = TOTPDevice.objects.create(
                user=user, name=TEST_AUTHENTICATOR_NAME, confirmed=True
            )
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

    def login(self: Client, **credentials: object) -> bool:
        if "request" not in credentials:
            request = HttpRequest()
            request.META["REMOTE_ADDR"] = "127.0.0.1"
            credentials["request"] = request
        return original_credentials_login(self, **credentials)

    monkeypatch.setattr(Client, "_login", _login)
    monkeypatch.setattr(Client, "login", login)


# Areas ------------------------------------------------------------------------------


@pytest.fixture
def area_west(db) -> LocalAuthorityArea:
    return LocalAuthorityAreaFactory(name="Cheshire West and Chester", code="E06000050")


@pytest.fixture
def area_east(db) -> LocalAuthorityArea:
    return LocalAuthorityAreaFactory(name="Cheshire East", code="E06000049")


@pytest.fixture
def area_other(db) -> LocalAuthorityArea:
    return LocalAuthorityAreaFactory(name="Liverpool", code="E08000012")


# Agencies ---------------------------------------------------------------------------


@pytest.fixture
def police(area_west, area_east) -> Agency:
    return AgencyFactory(name="Cheshire Constabulary", kind=K.POLICE, areas=[area_west, area_east])


@pytest.fixture
def la_west(area_west) -> Agency:
    return AgencyFactory(
        name="Cheshire West and Chester Council Children's Services",
        kind=K.LOCAL_AUTHORITY,
        areas=[area_west],
    )


@pytest.fixture
def la_east(area_east) -> Agency:
    return AgencyFactory(
        name="Cheshire East Council Children's Services",
        kind=K.LOCAL_AUTHORITY,
        areas=[area_east],
    )


@pytest.fixture
def iro_service(area_west) -> Agency:
    return AgencyFactory(
        name="Cheshire West and Chester IRO Service", kind=K.IRO, areas=[area_west]
    )


@pytest.fixture
def provider(area_west, area_east) -> Agency:
    return AgencyFactory(
        name="Catch22 Missing from Home Service",
        kind=K.PROVIDER,
        areas=[area_west, area_east],
    )


@pytest.fixture
def gp_practice(area_west) -> Agency:
    return AgencyFactory(name="Northgate Medical Centre", kind=K.GP_PRACTICE, areas=[area_west])


@pytest.fixture
def school(area_west) -> Agency:
    return AgencyFactory(name="Chester Riverside Academy", kind=K.SCHOOL, areas=[area_west])


@pytest.fixture
def school_nurse(area_west, area_east) -> Agency:
    return AgencyFactory(
        name="Cheshire and Wirral School Nursing Service",
        kind=K.SCHOOL_NURSE,
        areas=[area_west, area_east],
    )


@pytest.fixture
def other_agency(area_other) -> Agency:
    return AgencyFactory(
        name="Liverpool City Council Children's Services",
        kind=K.LOCAL_AUTHORITY,
        areas=[area_other],
    )


# People -----------------------------------------------------------------------------


@pytest.fixture
def officer(police) -> User:
    return UserFactory(
        email="sam.okafor@police.example.org",
        name="PC Sam Okafor",
        agency=police,
        job_title="Missing persons officer",
    )


@pytest.fixture
def social_worker(la_west) -> User:
    return UserFactory(
        email="jo.whitfield@cwac.example.org",
        name="Jo Whitfield",
        agency=la_west,
        job_title="Social worker, children in care",
    )


@pytest.fixture
def provider_worker(provider) -> User:
    return UserFactory(
        email="aisha.begum@catch22.example.org",
        name="Aisha Begum",
        agency=provider,
        job_title="Return interview worker",
    )


@pytest.fixture
def manager(la_west) -> User:
    return UserFactory(
        email="priya.shah@cwac.example.org",
        name="Priya Shah",
        agency=la_west,
        role=User.Role.MANAGER,
        job_title="Team manager, children in care",
    )


# The cast's admin is a partnership admin (see ``admin_user``); tests/admins/conftest.py
# adds agency admins.
CAST_PARTNERSHIP_ADMIN = "morgan.ellis@cwac.example.org"


@pytest.fixture(autouse=True)
def _cast_partnership_admin(settings) -> None:
    settings.PARTNERSHIP_ADMINS = [*settings.PARTNERSHIP_ADMINS, CAST_PARTNERSHIP_ADMIN]


@pytest.fixture
def admin_user(la_west) -> User:
    """A partnership admin (named in PARTNERSHIP_ADMINS): manages agencies, areas, rules
    and everyone's accounts. Not a superuser, and sees no case data."""
    return UserFactory(
        email=CAST_PARTNERSHIP_ADMIN,
        name="Morgan Ellis",
        agency=la_west,
        role=User.Role.ADMIN,
        job_title="Partnership systems administrator",
    )


@pytest.fixture
def host_worker(la_east) -> User:
    """A practitioner of the host council: Cheshire East, where a West child may be placed."""
    return UserFactory(
        email="alex.roberts@cheshireeast.example.org",
        name="Alex Roberts",
        agency=la_east,
        job_title="Social worker, children placed in Cheshire East",
    )


@pytest.fixture
def host_manager(la_east) -> User:
    return UserFactory(
        email="sue.patel@cheshireeast.example.org",
        name="Sue Patel",
        agency=la_east,
        role=User.Role.MANAGER,
        job_title="Team manager, Cheshire East",
    )


@pytest.fixture
def gp_manager(gp_practice) -> User:
    """A manager of a GP practice serving West: sees West's children, owns none of them."""
    return UserFactory(
        email="practice.manager@northgate.example.org",
        name="Dana Hughes",
        agency=gp_practice,
        role=User.Role.MANAGER,
        job_title="Practice manager",
    )


@pytest.fixture
def outsider(other_agency) -> User:
    return UserFactory(
        email="lee.carter@liverpool.example.org",
        name="Lee Carter",
        agency=other_agency,
        job_title="Social worker",
    )
