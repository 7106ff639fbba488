"""Fill the visibility table from the facts (the rule of incidents.access), and start the
clock of the daily pass at today."""

from collections import defaultdict

from django.db import migrations
from django.db.models import Q
from django.utils import timezone

CHUNK = 2000


def fill(apps, schema_editor):
    Agency = apps.get_model("accounts", "Agency")
    Child = apps.get_model("incidents", "Child")
    Placement = apps.get_model("incidents", "Placement")
    Involvement = apps.get_model("incidents", "Involvement")
    ChildVisibility = apps.get_model("incidents", "ChildVisibility")
    VisibilityClock = apps.get_model("incidents", "VisibilityClock")
    today = timezone.localdate()

    served = defaultdict(set)
    for area_id, agency_id in Agency.areas.through.objects.values_list(
        "localauthorityarea_id", "agency_id"
    ):
        served[area_id].add(agency_id)
    flags = defaultdict(lambda: [False, False, False])
    for child_id, area_id in Child.objects.values_list("pk", "responsible_area_id").iterator(
        chunk_size=CHUNK
    ):
        for agency_id in served.get(area_id, ()):
            flags[agency_id, child_id][0] = True
    current = Q(end__isnull=True) | Q(end__gte=today)
    for child_id, area_id in (
        Placement.objects.filter(current, start__lte=today)
        .values_list("child_id", "host_area_id")
        .iterator(chunk_size=CHUNK)
    ):
        for agency_id in served.get(area_id, ()):
            flags[agency_id, child_id][1] = True
    for child_id, agency_id in (
        Involvement.objects.filter(current)
        .values_list("child_id", "agency_id")
        .iterator(chunk_size=CHUNK)
    ):
        flags[agency_id, child_id][2] = True

    ChildVisibility.objects.all().delete()
    ChildVisibility.objects.bulk_create(
        (
            ChildVisibility(
                agency_id=agency_id, child_id=child_id, responsible=r, host=h, involved=i
            )
            for (agency_id, child_id), (r, h, i) in flags.items()
        ),
        batch_size=CHUNK,
    )
    VisibilityClock.objects.update_or_create(pk=1, defaults={"applied_through": today})


def empty(apps, schema_editor):
    apps.get_model("incidents", "ChildVisibility").objects.all().delete()
    apps.get_model("incidents", "VisibilityClock").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_free_text_limits"),
        ("incidents", "0019_child_visibility"),
    ]

    operations = [migrations.RunPython(fill, empty)]
