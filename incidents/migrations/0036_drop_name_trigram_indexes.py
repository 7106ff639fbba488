"""Drop the trigram GIN indexes on each name (migration 0021): search now reads one
generated column of all the names through its GiST index (migration 0035), so these
were only a cost on every write of a child's record. PostgreSQL only, as they were."""

from django.db import migrations

NAME_FIELDS = ("first_name", "last_name", "known_as")


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for field in NAME_FIELDS:
        schema_editor.execute(f"DROP INDEX IF EXISTS child_{field}_trgm_idx")


def trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for field in NAME_FIELDS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS child_{field}_trgm_idx ON incidents_child "
            f'USING gin (UPPER("{field}") gin_trgm_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [("incidents", "0035_child_search_name")]

    operations = [migrations.RunPython(drop_trigram_indexes, trigram_indexes)]
