from django.apps import AppConfig


def _notification_record(pk: int) -> tuple[int | None, int | None]:
    from .models import Notification

    ids = Notification.objects.filter(pk=pk).values_list("child_id", "episode_id").first()
    return ids if ids is not None else (None, None)


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications and protocol rules"

    def ready(self) -> None:
        from missingkids import policy
        from missingkids.audit.log import register_record_lookup

        from . import (
            panels,  # noqa: F401 (adds the checklist to the episode page)
            receivers,  # noqa: F401 (connects the signal receivers)
        )
        from .rules import active_rule_numbers

        # The incidents pages and the managers' lists take the repeat threshold and the
        # stuck-case count from the active rules, without importing this app.
        policy.register_rule_reader(active_rule_numbers)

        # The access log names the child and episode of every notification page.
        register_record_lookup("notification", _notification_record)
