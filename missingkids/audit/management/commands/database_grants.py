"""Print the SQL that gives the application's database role its privileges.

    .venv/bin/python manage.py database_grants --app-role missingkids_app \
        | psql "$OWNER_DATABASE_URL"

Run it as the owner after every ``migrate``. See missingkids.audit.database_roles.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from missingkids.audit.database_roles import app_role_grants


class Command(BaseCommand):
    help = "Print the SQL granting the application's database role what it needs (PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app-role", required=True, help="The role the application uses.")
        parser.add_argument(
            "--database",
            default="",
            help="The database name (default: the one in DATABASE_URL).",
        )

    def handle(self, *args: Any, app_role: str, database: str, **options: Any) -> None:
        name = database or str(connection.settings_dict["NAME"])
        for statement in app_role_grants(database=name, app_role=app_role):
            self.stdout.write(statement)
