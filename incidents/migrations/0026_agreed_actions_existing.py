"""Existing agreed actions (all from return interviews): their child, the day they were
agreed (the interview's day), an owner agency (the interview's owner when none was
given) and their state (done when completed_at was set). Their history rows too."""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    AgreedAction = apps.get_model("incidents", "AgreedAction")
    Historical = apps.get_model("incidents", "HistoricalAgreedAction")
    filled = {}
    for action in AgreedAction.objects.select_related("interview", "interview__episode"):
        interview = action.interview
        when = interview.held_at or interview.created_at or timezone.now()
        action.child_id = interview.episode.child_id
        action.source = "interview"
        action.agreed_on = timezone.localtime(when).date()
        if action.owner_agency_id is None:
            action.owner_agency_id = interview.owner_id
        if action.completed_at is not None:
            action.state = "done"
            action.done_at = action.completed_at
        action.created_at = when
        action.save()
        filled[action.pk] = action
    for row in Historical.objects.all():
        action = filled.get(row.id)
        if action is None:
            row.agreed_on = timezone.localtime(row.history_date).date()
        else:
            row.child_id = action.child_id
            row.agreed_on = action.agreed_on
            if row.owner_agency_id is None:
                row.owner_agency_id = action.owner_agency_id
            if row.completed_at is not None:
                row.state = "done"
                row.done_at = row.completed_at
        row.save()


class Migration(migrations.Migration):
    dependencies = [("incidents", "0025_agreed_action_followed_up")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
