"""The privileges of the database role the application runs as, in production.

Two roles: the **owner** owns the database and its tables and runs the migrations (and
nothing else); the **application** role is what gunicorn, the worker and the scheduler
connect as. The application may read and write the case tables, but on the access log
only add and read: no UPDATE, DELETE or TRUNCATE, so not even a fault or a compromise of
the application can rewrite or erase the log. (The triggers of migrations 0002 and 0004
refuse those to the owner as well, unless the owner first drops them.)

``manage.py database_grants --app-role NAME`` prints these statements for the owner to
run after each ``migrate``, which may have added tables; tests/security/test_database_roles.py
applies exactly these and checks what the application role can and cannot do.
"""

from __future__ import annotations

from .models import AccessLogEntry

ACCESS_LOG_TABLE = AccessLogEntry._meta.db_table


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def app_role_grants(*, database: str, app_role: str, schema: str = "public") -> list[str]:
    """SQL statements giving ``app_role`` what the application needs and no more."""
    role, db, ns = _quoted(app_role), _quoted(database), _quoted(schema)
    log = f"{ns}.{_quoted(ACCESS_LOG_TABLE)}"
    return [
        f"GRANT CONNECT ON DATABASE {db} TO {role};",
        f"GRANT USAGE ON SCHEMA {ns} TO {role};",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {ns} TO {role};",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {ns} TO {role};",
        # The access log: added to and read, never changed or emptied.
        f"REVOKE ALL ON {log} FROM {role};",
        f"GRANT SELECT, INSERT ON {log} TO {role};",
    ]
