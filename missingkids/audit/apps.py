from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "missingkids.audit"
    label = "audit"
    verbose_name = "Access log"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the sign-in signal receivers)
