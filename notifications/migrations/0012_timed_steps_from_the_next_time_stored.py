"""The scheduler reads the episodes whose next timed step is due, not every open episode
and every evaluated step: fill ``Episode.next_timed_step_at`` for the episodes there are
(open ones only; a closed episode has no step left), as ``engine.reschedule_timed_steps``
works it out, and drop the index the old reading needed."""

from django.db import migrations

from notifications.models import TIMED_STEPS

CHUNK = 2000


def _falls_due(step, missing_since, returned, interview_due):
    if step == "interview_due" and interview_due is not None:
        return interview_due
    base, after = TIMED_STEPS[step]
    start = missing_since if base == "last_seen" else returned
    return start + after if start is not None else None


def fill(apps, schema_editor):
    Episode = apps.get_model("incidents", "Episode")
    Rule = apps.get_model("notifications", "Rule")
    TimedStepFired = apps.get_model("notifications", "TimedStepFired")
    steps = set(
        Rule.objects.filter(active=True, step__in=list(TIMED_STEPS)).values_list("step", flat=True)
    )
    still_open = Episode.objects.filter(closed_at__isnull=True).order_by("pk")
    after = 0
    while True:
        rows = list(
            still_open.filter(pk__gt=after).values_list(
                "pk",
                "last_seen_at",
                "earliest_last_seen_at",
                "first_found_at",
                "found_at",
                "interview__due_at",
            )[:CHUNK]
        )
        if not rows:
            break
        after = rows[-1][0]
        evaluated = {}
        for episode_id, step in TimedStepFired.objects.filter(
            episode_id__in=[row[0] for row in rows]
        ).values_list("episode_id", "step"):
            evaluated.setdefault(episode_id, set()).add(step)
        filled = []
        for pk, last_seen, earliest, first_found, found, interview_due in rows:
            missing_since = min(filter(None, (earliest, last_seen)))
            times = [
                _falls_due(step, missing_since, first_found or found, interview_due)
                for step in steps - evaluated.get(pk, set())
            ]
            next_at = min(filter(None, times), default=None)
            if next_at is not None:
                filled.append(Episode(pk=pk, next_timed_step_at=next_at))
        Episode.objects.bulk_update(filled, ["next_timed_step_at"], batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0031_episode_next_timed_step"),
        ("notifications", "0011_timed_step_index"),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RemoveIndex(
            model_name="timedstepfired",
            name="timed_step_by_step_idx",
        ),
    ]
