"""List the children's records past retention and, when confirmed, erase them.

    manage.py retention
    manage.py retention --erase --confirmed-by partnership.admin@example.org

Lists counts and record ids only, never names. See oversight.retention.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from incidents.models import Episode
from missingkids import policy
from missingkids.accounts.models import User, normalise_email
from oversight.retention import children_past_retention, records_erase


class Command(BaseCommand):
    help = "List children's records past retention; with --erase, erase them (counts kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--erase", action="store_true", help="Erase the records listed (needs --confirmed-by)."
        )
        parser.add_argument(
            "--confirmed-by",
            default="",
            metavar="EMAIL",
            help="The e-mail address of the partnership admin who confirms the erasure.",
        )

    def handle(self, *args: Any, erase: bool, confirmed_by: str, **options: Any) -> None:
        today = timezone.localdate()
        age = policy.retention_age()
        cutoff = policy.retention_cutoff(today)
        child_ids = list(children_past_retention(today).values_list("pk", flat=True))
        episodes = Episode.objects.filter(child_id__in=child_ids).count()
        self.stdout.write(
            f"Records are kept until the child's {age}th birthday: children born on or "
            f"before {cutoff:%d/%m/%Y} are past retention."
        )
        self.stdout.write(
            f"{len(child_ids)} child record(s) past retention, with {episodes} episode(s)."
        )
        if child_ids:
            self.stdout.write("Record ids: " + ", ".join(str(pk) for pk in child_ids))
        if not erase:
            if child_ids:
                self.stdout.write(
                    "To erase them: manage.py retention --erase --confirmed-by "
                    "<a partnership admin's e-mail address>"
                )
            return

        if not confirmed_by:
            raise CommandError("--erase needs --confirmed-by: a partnership admin's address.")
        admin = User.objects.filter(email=normalise_email(confirmed_by)).first()
        if admin is None or not admin.is_partnership_admin:
            raise CommandError(
                f"{confirmed_by} is not a partnership admin (an active admin named in "
                "PARTNERSHIP_ADMINS): nothing was erased."
            )
        try:
            erasure = records_erase(confirmed_by=admin, today=today)
        except PermissionDenied as error:
            raise CommandError(str(error)) from None
        if erasure is None:
            self.stdout.write("Nothing to erase.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Erased {erasure.children} child record(s) and {erasure.episodes} "
                f"episode(s), confirmed by {admin.email} (erasure {erasure.pk}). Their "
                "counts are kept for the managers' measures."
            )
        )
