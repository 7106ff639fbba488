from django.apps import AppConfig


def _episode_record(pk: int) -> tuple[int | None, int | None]:
    from .models import Episode

    child_id = Episode.objects.filter(pk=pk).values_list("child_id", flat=True).first()
    return (child_id, pk) if child_id is not None else (None, None)


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Children and missing episodes"

    def ready(self) -> None:
        from missingkids.audit.log import register_record_lookup

        from . import visibility

        # The visibility table follows every change to the facts it is computed from.
        visibility.connect()

        # The access log names the child of every episode page it records.
        register_record_lookup("episode", _episode_record)
