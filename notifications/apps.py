from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications and protocol rules"

    def ready(self) -> None:
        from . import (
            panels,  # noqa: F401 (adds the checklist to the episode page)
            receivers,  # noqa: F401 (connects the signal receivers)
        )
