"""The default guidance pages, as version 1 of each (written by no one: shipped)."""

from django.db import migrations
from django.utils import timezone


def add_shipped_pages(apps, schema_editor):
    from guidance.defaults import shipped_pages

    page_model = apps.get_model("guidance", "GuidancePage")
    version_model = apps.get_model("guidance", "GuidanceVersion")
    now = timezone.now()
    for shipped in shipped_pages():
        if page_model.objects.filter(slug=shipped["slug"]).exists():
            continue
        page = page_model.objects.create(**shipped, version=1, updated_at=now)
        version_model.objects.create(
            page=page,
            number=1,
            title=shipped["title"],
            summary=shipped["summary"],
            body=shipped["body"],
            change_note="Shipped with the service",
            written_at=now,
        )


class Migration(migrations.Migration):
    dependencies = [("guidance", "0001_practice_guidance")]

    operations = [migrations.RunPython(add_shipped_pages, migrations.RunPython.noop)]
