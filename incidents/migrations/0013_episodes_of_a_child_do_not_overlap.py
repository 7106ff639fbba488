"""On PostgreSQL, one child's episodes may not overlap in time, in the database itself.

Each episode covers the time from when the child was last seen until they were found,
open-ended while they are still missing. Two episodes of one child whose times overlap
are refused by an exclusion constraint (``btree_gist`` lets the child's id share a GiST
index with the time range), whoever writes them: the action functions check the same
rule first and explain it by the field (``incidents.actions.episodes``), and the
constraint stops two people saving at once, or a script, from slipping past. The range
includes its start and not its end, so a child found at 14:00 may be last seen again at
14:00.

SQLite has no such constraint; there the action functions' check is the rule.

Existing overlapping episodes would make the constraint fail to build: the migration
then stops and names them (by id) so they can be corrected first.
"""

from django.db import migrations

CONSTRAINT = "episode_times_do_not_overlap"

OVERLAPS = """
SELECT a.id, b.id
FROM incidents_episode a
JOIN incidents_episode b
  ON a.child_id = b.child_id
 AND a.id < b.id
 AND tstzrange(a.last_seen_at, a.found_at, '[)') && tstzrange(b.last_seen_at, b.found_at, '[)')
ORDER BY a.id, b.id
LIMIT 50
"""

CREATE = f"""
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE incidents_episode
    ADD CONSTRAINT {CONSTRAINT}
    EXCLUDE USING gist (
        child_id WITH =,
        tstzrange(last_seen_at, found_at, '[)') WITH &&
    );
"""

DROP = f"ALTER TABLE incidents_episode DROP CONSTRAINT IF EXISTS {CONSTRAINT};"


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(OVERLAPS)
        pairs = cursor.fetchall()
    if pairs:
        listed = ", ".join(f"{a} and {b}" for a, b in pairs)
        raise RuntimeError(
            "Some children have episodes whose times overlap, which the database is about "
            f"to refuse. Correct the last-seen or found times of episodes {listed} "
            "(at most 50 pairs are listed), then migrate again."
        )
    schema_editor.execute(CREATE, params=None)


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0012_corrections_with_history")]

    operations = [migrations.RunPython(add_constraint, drop_constraint)]
