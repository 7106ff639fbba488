from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "missingkids.accounts"
    label = "accounts"
    verbose_name = "Agencies and people"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out
        from django.db.models.signals import post_save

        from . import checks, sessions  # noqa: F401 (checks registers itself)
        from .models import User

        user_logged_in.connect(sessions.on_user_logged_in, dispatch_uid="accounts_session_in")
        user_logged_out.connect(sessions.on_user_logged_out, dispatch_uid="accounts_session_out")
        post_save.connect(sessions.on_user_saved, sender=User, dispatch_uid="accounts_user_saved")
