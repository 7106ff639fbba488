"""The strategy discussions overdue kept as rows too (``oversight.due``), read in the
list's order from the same index as the other oldest-first lists.

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
        ("incidents", "0038_agency_work_indexes"),
        ("oversight", "0008_kept_hotspot_sightings"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="dueitem",
            name="dueitem_oldest_first_idx",
        ),
        migrations.AddIndex(
            model_name="dueitem",
            index=models.Index(
                condition=models.Q(
                    (
                        "kind__in",
                        [
                            "interviews_overdue",
                            "safe_and_well_outstanding",
                            "strategy_discussions_overdue",
                        ],
                    )
                ),
                fields=["viewer", "sort_at", "item_id"],
                name="dueitem_oldest_first_idx",
            ),
        ),
        migrations.RunPython(mark_unfilled, migrations.RunPython.noop),
    ]
