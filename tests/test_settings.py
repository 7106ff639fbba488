"""Production settings refuse to start without their values; development needs none.

Each case runs Django in a subprocess with an environment built from scratch (PATH and
HOME only, plus the variables under test), so nothing from the test runner's own
environment, such as the DEBUG=true that tests/environment.py sets, can leak in.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

PRINT_MAILERS = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps(settings.MAILERS))"
)


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_hex(32),  # 64 random characters
        "ALLOWED_HOSTS": "missingkids.example.org",
        "EMAIL_URL": "smtp+tls://user:pass@smtp.example.org:587",
        "DEFAULT_FROM_EMAIL": "Missing children <missingkids@example.org>",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PARTNERSHIP_ADMINS": "lead@example.org,deputy@example.org",
    }


def run(env: dict[str, str | None], *args: str) -> subprocess.CompletedProcess[str]:
    """Django in a fresh process with only ``env`` (a variable given as None is unset)."""
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(BASE_DIR)),
        "DJANGO_SETTINGS_MODULE": "missingkids.settings",
        # Never the checkout's own development .env: these tests set every variable.
        "ENV_FILE": "",
        **env,
    }
    clean = {name: value for name, value in clean.items() if value is not None}
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def mailers(env: dict[str, str]) -> dict[str, object]:
    result = run(env, "-c", PRINT_MAILERS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_settings_pass_the_deploy_check(production_env):
    result = run(production_env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("admins", [None, "lead@example.org"])
def test_the_deploy_check_asks_for_two_partnership_admins(production_env, admins):
    """Only a partnership admin can approve another's second-factor reset."""
    production_env["PARTNERSHIP_ADMINS"] = admins

    result = run(production_env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert "accounts.W001" in result.stderr + result.stdout
    assert "Name at least two partnership admins" in result.stderr + result.stdout


@pytest.mark.parametrize("name", ["SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL", "DEFAULT_FROM_EMAIL"])
@pytest.mark.parametrize("how", ["missing", "empty"])
def test_production_refuses_to_start_without(production_env, name, how):
    if how == "missing":
        del production_env[name]
    else:
        production_env[name] = ""

    result = run(production_env, "manage.py", "check")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"Set the {name} environment variable." in result.stderr


def test_debug_defaults_to_off(production_env):
    """Forgetting DEBUG must give the strict production settings, not the lenient ones."""
    del production_env["DEBUG"]
    del production_env["SECRET_KEY"]

    result = run(production_env, "manage.py", "check")

    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable." in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(secrets.token_hex(20), id="short"),
        pytest.param("django-insecure-" + secrets.token_hex(32), id="django-insecure"),
    ],
)
def test_production_refuses_a_weak_secret_key(production_env, key):
    production_env["SECRET_KEY"] = key

    result = run(production_env, "manage.py", "check")

    assert result.returncode != 0
    assert "SECRET_KEY must be a random value of at least 50 characters" in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not-a-url", "EMAIL_URL is not a valid e-mail URL"),
        ("smtp://:587", "EMAIL_URL must name an SMTP host."),
    ],
)
def test_production_refuses_a_bad_email_url(production_env, url, message):
    production_env["EMAIL_URL"] = url

    result = run(production_env, "manage.py", "check")

    assert result.returncode != 0
    assert message in result.stderr


def test_production_mail_goes_through_smtp_from_email_url(production_env):
    assert mailers(production_env) == {
        "default": {
            "BACKEND": "missingkids.mail.EmailBackend",
            "OPTIONS": {
                "host": "smtp.example.org",
                "port": 587,
                "username": "user",
                "password": "pass",
                "use_tls": True,
                "use_ssl": False,
                "timeout": 30,
            },
        }
    }


def test_production_mail_over_implicit_tls_with_timeout(production_env):
    production_env["EMAIL_URL"] = "smtp+ssl://relay.example.org:465"
    production_env["EMAIL_TIMEOUT"] = "10"

    options = mailers(production_env)["default"]["OPTIONS"]

    assert (options["host"], options["port"]) == ("relay.example.org", 465)
    assert (options["use_tls"], options["use_ssl"], options["timeout"]) == (False, True, 10)


def test_development_needs_no_configuration_and_prints_mail(tmp_path):
    env = {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    assert mailers(env) == {
        "default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    }
    assert run(env, "manage.py", "check").returncode == 0


def test_production_security_settings(production_env):
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, "
        "s.ALLOWED_HOSTS]))"
    )
    result = run(production_env, "-c", code)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        False,
        True,
        True,
        True,
        31536000,
        ["HTTP_X_FORWARDED_PROTO", "https"],
        ["missingkids.example.org"],
    ]


COLLECT_STATIC = (
    "import sys, django; django.setup(); from django.conf import settings; "
    "from django.core.management import call_command; "
    "settings.STATIC_ROOT = sys.argv[1]; "
    "call_command('collectstatic', '--no-input', verbosity=0)"
)


def test_production_static_files_collect(production_env, tmp_path):
    """`collectstatic` is a deployment step: the hashed manifest must build."""
    if not (BASE_DIR / "static" / "build" / "app.css").exists():
        from tests.conftest import skip_or_fail

        skip_or_fail("the front-end is not built: run `make assets`")
    root = tmp_path / "staticfiles"

    result = run(production_env, "-c", COLLECT_STATIC, str(root))

    assert result.returncode == 0, result.stderr
    manifest = json.loads((root / "staticfiles.json").read_text())["paths"]
    assert {"build/app.css", "build/govuk/all.bundle.js"} <= manifest.keys()


# The test suite's own rule: what cannot run here is skipped, except in CI.


@pytest.mark.parametrize(
    ("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)]
)
def test_a_test_that_cannot_run_skips_locally_and_fails_in_ci(monkeypatch, ci, outcome):
    from tests.conftest import skip_or_fail

    monkeypatch.setenv("CI", ci)

    with pytest.raises(outcome, match="needs something"):
        skip_or_fail("needs something")


def test_a_development_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / "dev.env"
    env_file.write_text("DEBUG=true\nSERVICE_PARTNERSHIP=From the file\n")
    show = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SERVICE_PARTNERSHIP)"
    )

    from_file = run({"ENV_FILE": str(env_file)}, "-c", show)
    overridden = run(
        {"ENV_FILE": str(env_file), "SERVICE_PARTNERSHIP": "From the environment"}, "-c", show
    )

    assert from_file.stdout.strip() == "True From the file", from_file.stderr
    assert overridden.stdout.strip() == "True From the environment", overridden.stderr


PRINT_PARTNERSHIP_ADMINS = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps(settings.PARTNERSHIP_ADMINS))"
)


def test_production_names_no_partnership_admin_unless_told(production_env):
    del production_env["PARTNERSHIP_ADMINS"]
    result = run(production_env, "-c", PRINT_PARTNERSHIP_ADMINS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_partnership_admins_are_read_as_lower_case_addresses(production_env):
    production_env["PARTNERSHIP_ADMINS"] = " Lead@CWAC.example.org , second@police.example.org"
    result = run(production_env, "-c", PRINT_PARTNERSHIP_ADMINS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["lead@cwac.example.org", "second@police.example.org"]


def test_a_partnership_admin_that_is_not_an_address_is_refused(production_env):
    production_env["PARTNERSHIP_ADMINS"] = "lead@cwac.example.org,Morgan Ellis"
    result = run(production_env, "manage.py", "check")
    assert result.returncode != 0
    assert "PARTNERSHIP_ADMINS" in result.stderr


SHOW_DEBUG = "import django; django.setup(); from django.conf import settings as s; print(s.DEBUG)"


@pytest.fixture
def checkout_env_file():
    """The checkout's development .env (DEBUG=true), as make install writes it."""
    path = BASE_DIR / ".env"
    made = not path.exists()
    if made:
        path.write_text("DEBUG=true\n")
    try:
        assert "DEBUG=true" in path.read_text()
        yield path
    finally:
        if made:
            path.unlink()


def test_production_never_reads_a_env_file_it_is_not_told_to(production_env, checkout_env_file):
    """A development .env left in the project folder must not turn DEBUG on."""
    production_env["ENV_FILE"] = None

    assert run(production_env, "-c", SHOW_DEBUG).stdout.strip() == "False"
    without_key = {**production_env, "SECRET_KEY": None}
    result = run(without_key, "manage.py", "check")
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable. (There is a .env file" in result.stderr


def test_a_env_file_is_read_when_env_file_names_it(checkout_env_file):
    assert run({"ENV_FILE": str(checkout_env_file)}, "-c", SHOW_DEBUG).stdout.strip() == "True"


def test_env_file_must_name_a_file(tmp_path):
    result = run({"ENV_FILE": str(tmp_path / "missing.env")}, "-c", SHOW_DEBUG)
    assert result.returncode != 0
    assert "ENV_FILE names" in result.stderr and "which is not a file" in result.stderr


def test_production_refuses_unencrypted_smtp(production_env):
    production_env["EMAIL_URL"] = "smtp://relay.example.org:25"

    result = run(production_env, "manage.py", "check")

    assert result.returncode != 0
    assert "EMAIL_URL is plain SMTP" in result.stderr
    assert "EMAIL_ALLOW_UNENCRYPTED" in result.stderr


def test_production_allows_unencrypted_smtp_when_told(production_env):
    production_env["EMAIL_URL"] = "smtp://localhost:25"
    production_env["EMAIL_ALLOW_UNENCRYPTED"] = "true"

    options = mailers(production_env)["default"]["OPTIONS"]

    assert (options["host"], options["use_tls"], options["use_ssl"]) == ("localhost", False, False)


def test_development_may_use_plain_smtp(tmp_path):
    env = {
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMAIL_URL": "smtp://localhost:1025",
    }
    assert mailers(env)["default"]["OPTIONS"]["host"] == "localhost"


def test_manage_py_by_hand_in_a_checkout_reads_its_env_file(checkout_env_file):
    """Nothing configured (no ENV_FILE, DEBUG or SECRET_KEY): a developer's command."""
    result = run({"ENV_FILE": None}, "manage.py", "shell", "-c", SHOW_DEBUG.split("; ", 2)[2])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("True")


def test_manage_py_with_a_production_environment_ignores_the_env_file(
    production_env, checkout_env_file
):
    production_env["ENV_FILE"] = None
    del production_env["DEBUG"]
    code = SHOW_DEBUG.split("; ", 2)[2]
    result = run(production_env, "manage.py", "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("False")


PRINT_DB_OPTIONS = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))"
)


@pytest.mark.parametrize(
    ("jit", "expected"),
    [
        (None, "-c jit=off -c cursor_tuple_fraction=1"),
        ("true", "-c cursor_tuple_fraction=1"),
    ],
)
def test_postgresql_jit_is_off_unless_asked_for(production_env, jit, expected):
    """PostgreSQL's JIT compiler slows this service's short queries: off by default."""
    production_env["DATABASE_URL"] = "postgres://app@db.example.org:5432/missingkids"
    production_env["DATABASE_JIT"] = jit
    result = run(production_env, "-c", PRINT_DB_OPTIONS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout).get("options") == expected


def test_the_service_connection_runs_without_jit(postgres_only, db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_server_side_cursors_are_planned_for_every_row(postgres_only, db):
    """The downloads read every row of their cursors: planned for all rows, not the
    first tenth."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW cursor_tuple_fraction")
        assert cursor.fetchone()[0] == "1"


PRINT_DB = (
    "import json, django; django.setup(); from django.conf import settings; "
    "db = settings.DATABASES['default']; "
    "print(json.dumps([db['OPTIONS'].get('pool'), db['CONN_MAX_AGE'], "
    "db['DISABLE_SERVER_SIDE_CURSORS']]))"
)


def test_the_connection_pool_is_a_deployment_setting(production_env):
    production_env["DATABASE_URL"] = "postgres://app@db.example.org:5432/missingkids"
    result = run(production_env, "-c", PRINT_DB)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [None, 60, False]
    production_env["DATABASE_POOL"] = "true"
    production_env["DATABASE_POOL_MAX_SIZE"] = "8"
    result = run(production_env, "-c", PRINT_DB)
    assert result.returncode == 0, result.stderr
    # Persistent connections and the pool exclude each other.
    assert json.loads(result.stdout) == [{"min_size": 2, "max_size": 8, "timeout": 10}, 0, False]


PRINT_CONNECTIONS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.EMAIL_SEND_CONNECTIONS)"
)


def test_the_worker_sends_over_four_connections_with_smtp_and_one_in_development(
    production_env, tmp_path
):
    assert run(production_env, "-c", PRINT_CONNECTIONS).stdout.strip() == "4"
    development = {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    # The console backend: one connection, so each e-mail prints whole.
    assert run(development, "-c", PRINT_CONNECTIONS).stdout.strip() == "1"
    production_env["EMAIL_SEND_CONNECTIONS"] = "0"
    result = run(production_env, "-c", PRINT_CONNECTIONS)
    assert result.returncode != 0
    assert "EMAIL_SEND_CONNECTIONS must be between 1 and 32." in result.stderr
