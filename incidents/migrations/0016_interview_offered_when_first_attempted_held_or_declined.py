"""An interview held or declined at the first contact had no attempt, so its offered
time was left blank: set it, for every interview, to the earliest of its attempts and
its being held or declined (as ``interview_refresh_offered_at`` now keeps it)."""

from django.db import migrations
from django.db.models import Min


def backfill(apps, schema_editor):
    ReturnInterview = apps.get_model("incidents", "ReturnInterview")
    rows = ReturnInterview.objects.annotate(first_attempt=Min("attempts__attempted_at")).values_list(
        "pk", "offered_at", "first_attempt", "held_at", "declined_at"
    )
    for pk, offered_at, first_attempt, held_at, declined_at in rows.iterator():
        moments = [m for m in (first_attempt, held_at, declined_at) if m is not None]
        offered = min(moments) if moments else None
        if offered is not None and offered != offered_at:
            ReturnInterview.objects.filter(pk=pk).update(offered_at=offered)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0015_child_return_details_and_care_legal_status")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
