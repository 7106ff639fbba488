"""Load the demo partnership and its cases. Idempotent: run it as often as you like.

Each app may have a ``demo`` module with a ``load()`` function; they run in the order of
INSTALLED_APPS, so agencies exist before the children and episodes that refer to them.
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
        with transaction.atomic():
            for config in apps.get_app_configs():
                if not config.path.startswith(str(settings.BASE_DIR)):
                    continue  # only this project's apps carry demo data
                module_name = f"{config.name}.demo"
                if find_spec(module_name) is None:
                    continue
                lines = import_module(module_name).load()
                if lines:
                    sign_ins.extend(lines)
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
