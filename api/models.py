"""Partner agencies' systems that call the API, and the answers kept for retried calls.

A system is registered by a partnership admin for one agency. It acts through a user
of its own (a practitioner of that agency who cannot sign in to the site), so the
access rules, rights and change history that apply to people apply to it unchanged.
Its token is shown once, when issued, and stored only as a SHA-256 digest; the first
characters after ``mk_`` are kept in clear to find the record (``api.tokens``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from missingkids.accounts.models import Agency


class Operation(models.TextChoices):
    """What a system may do, besides reading the episodes its agency may see."""

    REPORT_MISSING = "report_missing", "Report a child missing"
    REGRADE_RISK = "regrade_risk", "Re-grade risk"
    RECORD_RETURN = "record_return", "Record that a child was found or returned"
    RECORD_SAFE_AND_WELL = "record_safe_and_well", "Record the safe and well check"
    UPSERT_CHILDREN = (
        "upsert_children",
        "Keep the council's children and their placements up to date",
    )


# Operations only a police force's system may be given (the police grade, the safe and
# well check; reports and returns from other agencies come later), and those only a
# council's children's services system may be given.
POLICE_OPERATIONS = frozenset(
    {
        Operation.REPORT_MISSING,
        Operation.REGRADE_RISK,
        Operation.RECORD_RETURN,
        Operation.RECORD_SAFE_AND_WELL,
    }
)
COUNCIL_OPERATIONS = frozenset({Operation.UPSERT_CHILDREN})


class ApiClient(models.Model):
    name = models.CharField(
        max_length=200, unique=True, help_text="The system, e.g. 'Cheshire Police Niche RMS'."
    )
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="api_clients")
    operations = models.JSONField(
        "allowed operations",
        default=list,
        blank=True,
        help_text="What the system may do, besides reading what its agency may see.",
    )
    contact_email = models.EmailField(
        "contact e-mail", help_text="Who runs the system: told nothing automatically yet."
    )
    # The agency's service user the system acts as (see the module's docstring).
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_client"
    )
    token_prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField("token digest (SHA-256)", max_length=64)
    token_issued_at = models.DateTimeField(default=timezone.now)
    token_issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = "connected system"

    def __str__(self) -> str:
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def may(self, operation: str) -> bool:
        return operation in (self.operations or [])


class IdempotentRequest(models.Model):
    """The first answer to a write, kept so that a retried call gets it again.

    Keyed by the system and either its ``Idempotency-Key`` header or a key the call
    itself names (the force's police reference, the episode whose return is recorded).
    The unique constraint makes the race safe: a second call with the same key waits
    for the first's transaction and then replays its answer; if the first failed, the
    row went with it and the second is carried out.
    """

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=300)
    operation = models.CharField(max_length=30, choices=Operation)
    # SHA-256 of the request (path and body): the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The answer's JSON as sent, so a replay is the same text (jsonb would reorder keys).
    response = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotent_request_once"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id}: {self.key}"


class RateLimitCounter(models.Model):
    """Calls counted in the current window, one row per system (or per address for calls
    with no valid token), shared by every process (``api.throttling``)."""

    key = models.CharField(max_length=200, unique=True)
    # The window's number: seconds since the epoch divided by the window's length.
    window_number = models.BigIntegerField()
    calls = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.calls} in window {self.window_number}"


class CsvImport(models.Model):
    """A CSV file uploaded by a person of an agency without a system of its own (a
    council's children in care, a force's missing reports), checked, then imported
    (``api.imports``). The file is kept here between the check and the import, so what
    is imported is exactly what was checked, and cleared once imported; the counts and
    the rejected rows are kept."""

    class Kind(models.TextChoices):
        CHILDREN = "children", "Children in care and placements"
        MISSING = "missing", "Missing reports"

    class Status(models.TextChoices):
        CHECKED = "checked", "Checked, not imported"
        IMPORTING = "importing", "Being imported"
        IMPORTED = "imported", "Imported"
        # Checked but not imported in time: housekeeping cleared the file and its rows.
        EXPIRED = "expired", "Checked, not imported in time"

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=Kind)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField("SHA-256 of the file", max_length=64)
    encoding = models.CharField(max_length=20, help_text="How the file's text was read.")
    # The file's text (as read, in the database's encoding) until it is imported.
    content = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.CHECKED)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    imported_at = models.DateTimeField(null=True, blank=True)
    # What the check found, row by row: [{"row", "key", "outcome", "errors": [...]}].
    # Once imported, what the import did.
    rows = models.JSONField(default=list, blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # The rejected rows as they were in the file: [{"row", "cells", "errors"}], with the
    # header, for the download.
    header = models.JSONField(default=list, blank=True)
    rejected_rows = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        indexes = [
            # The history list (an agency's imports, newest first) and "this file again?".
            models.Index(fields=["agency", "-uploaded_at"], name="csv_import_agency_recent"),
            models.Index(fields=["agency", "kind", "sha256"], name="csv_import_same_file"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_kind_display()}, {self.uploaded_at:%Y-%m-%d})"

    @property
    def good(self) -> int:
        return self.created + self.updated + self.unchanged
