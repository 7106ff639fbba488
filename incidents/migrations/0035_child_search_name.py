"""Search that reads the closest names first: the names as searched in one generated
column, and on PostgreSQL a trigram GiST index on it. The index finds rows containing
each name part (``LIKE '%PART%'``) and, unlike the GIN indexes of migration 0021, also
gives rows in order of closeness to what was typed (``ORDER BY 'Q' <<-> search_name``),
so a page of the closest matches is read without ranking every match. SQLite, used in
development and tests, searches without it."""

import django.db.models.functions.text
from django.db import migrations, models


def gist_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS child_search_name_trgm_idx ON incidents_child "
        "USING gist (search_name gist_trgm_ops)"
    )


def drop_gist_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS child_search_name_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("incidents", "0034_open_episodes_list_indexes")]

    operations = [
        migrations.AddField(
            model_name="child",
            name="search_name",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.text.Upper(
                    django.db.models.functions.text.Concat(
                        "first_name",
                        models.Value(" "),
                        "last_name",
                        models.Value(" "),
                        "known_as",
                    )
                ),
                output_field=models.TextField(),
            ),
        ),
        migrations.RunPython(gist_index, drop_gist_index),
    ]
