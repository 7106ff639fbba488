"""On PostgreSQL, refuse TRUNCATE on the access log too, as 0002 refuses UPDATE and DELETE.

A row trigger does not fire for TRUNCATE, which empties a table without touching its
rows; a statement trigger does, including when the table is emptied by a TRUNCATE ...
CASCADE of a table it refers to (the people). Django's ``flush`` is a TRUNCATE, so it
is refused too: the test suite steps around this trigger for its own flushes only
(tests/conftest.py)."""

from django.db import migrations

CREATE = """
CREATE TRIGGER audit_accesslog_no_truncate
    BEFORE TRUNCATE ON audit_accesslogentry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_accesslog_append_only();
"""

DROP = "DROP TRIGGER IF EXISTS audit_accesslog_no_truncate ON audit_accesslogentry;"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_access_log_sign_in_steps_and_page_views")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
