"""A notification's rows of the kept lists found by its id: the e-mail worker keeps the
rows of the notifications it delivered alone (``oversight.due.sync_children`` with
``items``), rather than every row of their children."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("oversight", "0004_kept_overdue_lists"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="dueitem",
            index=models.Index(
                condition=models.Q(
                    ("kind__in", ["notifications_overdue", "emails_failing", "notification_problems"])
                ),
                fields=["item_id"],
                name="dueitem_notification_idx",
            ),
        ),
    ]
