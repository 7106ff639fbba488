"""Load the demo partnership and its cases. Idempotent: run it as often as you like.

Each app may have a ``demo`` module with a ``load()`` function; they run in the order of
INSTALLED_APPS, so agencies exist before the children and episodes that refer to them.
A module may also have ``after_load()``, run once everything is committed (and so once
the notifications the new records give rise to are worked out).
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from missingkids.accounts.demo import DEMO_PASSWORD


class Command(BaseCommand):
    help = "Create or refresh the demo agencies, contacts, people, children and episodes."

    def handle(self, *args: Any, **options: Any) -> None:
        sign_ins: list[str] = []
        modules = [
            import_module(f"{config.name}.demo")
            for config in apps.get_app_configs()
            # only this project's apps carry demo data
            if config.path.startswith(str(settings.BASE_DIR))
            and find_spec(f"{config.name}.demo") is not None
        ]
        with transaction.atomic():
            for module in modules:
                lines = module.load() if hasattr(module, "load") else None
                if lines:
                    sign_ins.extend(lines)
        for module in modules:
            if hasattr(module, "after_load"):
                module.after_load()
        self.stdout.write(self.style.SUCCESS("Demo data is loaded."))
        self.stdout.write("")
        self.stdout.write(f"Sign in at {settings.SITE_URL}/ as any of these people,")
        self.stdout.write(f"each with the password: {DEMO_PASSWORD}")
        self.stdout.write("")
        self.stdout.write("Signing in also asks for a security code. Either add the person's")
        self.stdout.write("authenticator key to an authenticator app (it stays the same), or use")
        self.stdout.write("one of their recovery codes (each works once; new ones are printed")
        self.stdout.write("every time this command runs).")
        self.stdout.write("")
        for line in sign_ins:
            self.stdout.write(line)
        self.stdout.write("")
