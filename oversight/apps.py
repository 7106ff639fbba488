from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

# A database with more episodes than this is not filled after migrating (it would take
# minutes): run ``manage.py rebuild_due_items``. Until then the pages count from the records.
FILL_AFTER_MIGRATE_EPISODES = 20_000


def fill_due_items(sender: Any, using: str = "default", apps: Any = None, **_: Any) -> None:
    """After migrating: fill the kept overdue lists of a new or small database (not
    after migrating back to before they were kept)."""
    from incidents.models import Episode

    if apps is not None:
        try:
            apps.get_model("oversight", "DueItem")
        except LookupError:
            return

    from .due import rebuild
    from .models import DueState

    if not DueState.objects.using(using).filter(filled=False).exists():
        return
    if Episode.objects.using(using).count() > FILL_AFTER_MIGRATE_EPISODES:
        print("  The managers' overdue lists are not yet kept: run manage.py rebuild_due_items.")
        return
    rebuild()


class OversightConfig(AppConfig):
    name = "oversight"
    verbose_name = "Managers' oversight"

    def ready(self) -> None:
        from . import (
            agency_views,  # noqa: F401 (adds "What your agency must do" to home)
            due,
        )

        due.connect()
        post_migrate.connect(fill_due_items, sender=self, dispatch_uid="due_fill_after_migrate")
