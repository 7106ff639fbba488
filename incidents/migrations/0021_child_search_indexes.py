"""Search that scales: trigram indexes for partial names (PostgreSQL only; SQLite, used
in development and tests, searches without them), and indexes for exact identifiers.

Django's ``icontains`` on PostgreSQL is ``UPPER("col"::text) LIKE UPPER('%...%')``, so
the trigram GIN indexes are on ``UPPER(col)``: the planner uses them for any part of
three or more characters.
"""

from django.db import migrations, models
from django.db.models.functions import Upper

NAME_FIELDS = ("first_name", "last_name", "known_as")


def trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for field in NAME_FIELDS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS child_{field}_trgm_idx ON incidents_child "
            f'USING gin (UPPER("{field}") gin_trgm_ops)'
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for field in NAME_FIELDS:
        schema_editor.execute(f"DROP INDEX IF EXISTS child_{field}_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("incidents", "0020_fill_child_visibility")]

    operations = [
        migrations.RunPython(trigram_indexes, drop_trigram_indexes),
        migrations.AddIndex(
            model_name="child",
            index=models.Index(Upper("la_child_id"), name="child_la_child_id_upper_idx"),
        ),
        migrations.AddIndex(
            model_name="child",
            index=models.Index(
                Upper("police_person_reference"), name="child_police_ref_upper_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="child",
            index=models.Index(fields=["upn"], name="child_upn_idx"),
        ),
    ]
