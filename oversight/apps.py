from django.apps import AppConfig


class OversightConfig(AppConfig):
    name = "oversight"
    verbose_name = "Managers' oversight"

    def ready(self) -> None:
        from . import agency_views  # noqa: F401 (adds "What your agency must do" to home)
