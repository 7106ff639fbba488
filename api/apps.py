from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Connected systems"

    def ready(self) -> None:
        # Registers the token's description with drf-spectacular.
        from . import schema  # noqa: F401
