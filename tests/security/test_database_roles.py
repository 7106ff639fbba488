"""The production deployment's two database roles, on PostgreSQL.

The tables belong to the owner (here the test database's owner, which ran the
migrations); the application connects as a role given exactly what
``manage.py database_grants`` prints. That role can add to and read the access log and
use the case tables, and cannot change, delete or empty the log.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from missingkids.audit.database_roles import app_role_grants

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def app_role() -> Iterator[str]:
    # Roles belong to the whole PostgreSQL server: a fresh name for each run.
    name = f"mk_app_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" LOGIN')
        for statement in app_role_grants(database=connection.settings_dict["NAME"], app_role=name):
            cursor.execute(statement)
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{name}"')
        cursor.execute(f'DROP ROLE "{name}"')


@pytest.fixture
def as_app(app_role) -> Iterator[psycopg.Connection]:
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=app_role,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=True,
    ) as conn:
        yield conn


def test_the_command_prints_the_grants(capsys):
    call_command("database_grants", "--app-role", "missingkids_app", "--database", "missingkids")
    printed = capsys.readouterr().out.splitlines()
    assert printed == app_role_grants(database="missingkids", app_role="missingkids_app")
    assert 'GRANT SELECT, INSERT ON "public"."audit_accesslogentry" TO "missingkids_app";' in (
        printed
    )


def test_the_application_role_adds_to_and_reads_the_log(as_app):
    with as_app.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_accesslogentry (at, username, action, path, detail) "
            "VALUES (now(), 'someone@example.org', 'view_child', '/children/1/', '{}') "
            "RETURNING id"
        )
        (entry_id,) = cursor.fetchone()
        cursor.execute("SELECT username FROM audit_accesslogentry WHERE id = %s", [entry_id])
        assert cursor.fetchone() == ("someone@example.org",)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_accesslogentry SET username = 'someone.else@example.org'",
        "DELETE FROM audit_accesslogentry",
        "TRUNCATE audit_accesslogentry",
    ],
)
def test_the_application_role_cannot_change_or_empty_the_log(as_app, sql):
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_app.cursor() as cursor:
        cursor.execute(sql)


def test_the_application_role_cannot_undo_the_guard(as_app):
    for sql in (
        "ALTER TABLE audit_accesslogentry DISABLE TRIGGER audit_accesslog_no_truncate",
        "DROP TRIGGER audit_accesslog_append_only ON audit_accesslogentry",
        "DROP TABLE audit_accesslogentry",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), as_app.cursor() as cursor:
            cursor.execute(sql)
    with as_app.cursor() as cursor:
        # Only the owner can grant: PostgreSQL warns and grants nothing.
        cursor.execute("GRANT DELETE ON audit_accesslogentry TO CURRENT_USER")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_app.cursor() as cursor:
        cursor.execute("DELETE FROM audit_accesslogentry")


def test_the_application_role_works_the_case_tables(as_app):
    """What the service does all day: add, change and remove rows of its other tables."""
    with as_app.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_localauthorityarea (name, code) VALUES ('Halton', 'E06000006') "
            "RETURNING id"
        )
        (area_id,) = cursor.fetchone()
        cursor.execute(
            "UPDATE accounts_localauthorityarea SET name = 'Halton Borough' WHERE id = %s",
            [area_id],
        )
        cursor.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) "
            "VALUES ('k', 'd', now())"
        )
        cursor.execute("DELETE FROM django_session WHERE session_key = 'k'")
        cursor.execute("SELECT name FROM accounts_localauthorityarea WHERE id = %s", [area_id])
        assert cursor.fetchone() == ("Halton Borough",)
