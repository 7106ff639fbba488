"""The access log: who signed in, looked at or exported which child's record, and who
was refused. Rows are only ever added.

Append-only is enforced four times over: ``save`` refuses to update an existing row
and ``delete`` refuses outright (so no code path in Python can change the log), the
admin offers no add, change or delete, on PostgreSQL triggers (migrations 0002 and
0004) refuse UPDATE, DELETE and TRUNCATE from anyone, including someone with a database
shell who bypasses the ORM, and in production the application's database role may only
INSERT and SELECT on the table (``missingkids.audit.database_roles``).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """The access log cannot be changed or deleted, only added to."""


class AccessLogQuerySet(models.QuerySet["AccessLogEntry"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Access log entries cannot be changed.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Access log entries cannot be deleted.")


class AccessLogEntry(models.Model):
    class Action(models.TextChoices):
        # The password step; "Signed in" comes only with the second step passed.
        PASSWORD_ACCEPTED = "password_ok", "Password accepted"
        SIGN_IN = "sign_in", "Signed in"
        # A wrong password, or a wrong security code (detail: "step").
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        SIGN_OUT = "sign_out", "Signed out"
        VIEW_CHILD = "view_child", "Viewed a child's record"
        VIEW_EPISODE = "view_episode", "Viewed an episode"
        # Any other page showing a child's data: a form, a meeting or note page.
        VIEW_PAGE = "view_page", "Viewed a page about a child"
        # A page listing children (detail: which list, how many rows shown).
        VIEW_LIST = "view_list", "Viewed a list of children"
        # That a search was made and how many children it found; never what was typed.
        SEARCH = "search", "Searched for a child"
        EXPORT = "export", "Exported"
        # The end of a streamed download: how many rows were sent, and whether the file
        # was sent whole or cut short (detail: "export", the id of its "Exported" entry).
        EXPORT_SENT = "export_sent", "Sent an export"
        REFUSED = "refused", "Refused access"
        # A call from a partner agency's system (detail: the system and the operation).
        API_CALL = "api_call", "Call from a connected system"
        # A CSV file checked or imported (detail: the import, its kind, step and counts).
        CSV_IMPORT = "csv_import", "Checked or imported a CSV file"
        # What an admin did to someone's sign-in (the person in ``detail``).
        PASSWORD_SET = "password_set", "Set someone's password"
        SECOND_FACTOR_RESET_REQUESTED = "2fa_reset_requested", "Asked to reset a second factor"
        SECOND_FACTOR_RESET = "2fa_reset", "Reset a second factor (approved)"
        SECOND_FACTOR_RESET_CANCELLED = "2fa_reset_cancelled", "Cancelled a second-factor reset"
        # Someone's own forgotten password: a link asked for (user: the account, or none
        # for an address no active account has), and the new password set from it.
        PASSWORD_RESET_REQUESTED = "pw_reset_requested", "Asked for a password reset link"
        PASSWORD_RESET = "pw_reset", "Set a new password from a reset link"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # PROTECT: people are deactivated, never deleted, and the log must keep naming them.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # The e-mail address as typed for a failed sign-in (there may be no such user), and
    # the user's address at the time otherwise, so a search by address finds both.
    username = models.CharField("e-mail address", max_length=254, blank=True)
    action = models.CharField(max_length=20, choices=Action)
    # Plain ids, not foreign keys: a refused request may name a record that does not
    # exist, and the log must outlive any record it names.
    child_id = models.PositiveBigIntegerField("child id", null=True, blank=True)
    episode_id = models.PositiveBigIntegerField("episode id", null=True, blank=True)
    path = models.CharField(max_length=500, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    # What an export contained (the filters and the number of rows), never the rows.
    detail = models.JSONField(default=dict, blank=True)

    objects = AccessLogQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "access log entry"
        verbose_name_plural = "access log"
        indexes = [
            # Admin searches: a child's accesses, a person's accesses, newest first.
            models.Index(fields=["child_id", "-at"], name="accesslog_child_idx"),
            models.Index(fields=["user", "-at"], name="accesslog_user_idx"),
        ]
        default_permissions = ("view",)

    def __str__(self) -> str:
        who = self.username or "someone"
        return f"{self.get_action_display()}: {who} at {timezone.localtime(self.at):%d/%m/%Y %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Access log entries cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Access log entries cannot be deleted.")
