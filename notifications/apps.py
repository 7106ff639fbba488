from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications and protocol rules"

    def ready(self) -> None:
        from missingkids import policy

        from . import (
            panels,  # noqa: F401 (adds the checklist to the episode page)
            receivers,  # noqa: F401 (connects the signal receivers)
        )
        from .rules import active_rule_numbers

        # The incidents pages and the managers' lists take the repeat threshold and the
        # stuck-case count from the active rules, without importing this app.
        policy.register_rule_reader(active_rule_numbers)
