"""The hotspots' sightings kept as rows too (``oversight.due``).

A database that already holds records is marked unfilled: ``migrate`` then fills it
when it is small, else the pages count from the records until
``manage.py rebuild_due_items`` has run.
"""

from django.db import migrations, models
from django.utils import timezone


def mark_unfilled(apps, schema_editor):
    if apps.get_model("incidents", "Episode").objects.exists():
        apps.get_model("oversight", "DueState").objects.update_or_create(
            pk=1,
            defaults={"filled": False},
            create_defaults={"filled": False, "built_at": timezone.now()},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_housekeeping_clears_unimported_csv_files"),
        ("incidents", "0037_manager_list_indexes"),
        ("oversight", "0007_kept_patterns"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="dueitem",
            index=models.Index(
                condition=models.Q(("kind", "hotspots")),
                fields=["viewer", "until", "due_at", "sort_num", "child", "sort_at"],
                name="dueitem_sighting_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="dueitem",
            index=models.Index(
                condition=models.Q(("kind", "hotspots")),
                fields=["viewer", "sort_num", "-sort_at", "-item_id"],
                name="dueitem_sighting_place_idx",
            ),
        ),
        migrations.RunPython(mark_unfilled, migrations.RunPython.noop),
    ]
