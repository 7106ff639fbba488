"""The access log in the admin: read-only, searchable, exportable to CSV.

Partnership admins see it (they look after the service), but nobody can add, change or delete an
entry here. Entries name children by id only, so reading the log reveals no child's
name to an admin without case access.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import closing
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils import timezone

from missingkids.admin_search import SearchMixin
from missingkids.spreadsheets import (
    CHUNK_ROWS,
    FORMULA_START,
    LINES_PER_PIECE,
    csv_pieces,
    csv_response,
    csv_safe,
    read_once,
)

from .log import log_export, log_rows_sent
from .models import AccessLogEntry

EXPORT_COLUMNS = [
    "at",
    "action",
    "user_id",
    "username",
    "child_id",
    "episode_id",
    "path",
    "status_code",
    "ip_address",
    "detail",
]

# Different details kept decoded during one download, at most (memory stays flat).
DETAILS_KEPT = 500


def _may_read_log(request: HttpRequest) -> bool:
    """Partnership admins only: the log names everyone's sign-ins and addresses, across
    every agency, which is more than an agency admin manages."""
    user = request.user
    return bool(user.is_active and getattr(user, "is_partnership_admin", False))


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(SearchMixin, admin.ModelAdmin):
    list_display = ["at", "action", "username", "child_id", "episode_id", "path", "ip_address"]
    list_filter = ["action"]
    search_fields = ["=username", "user__name", "=child_id", "=episode_id", "path"]
    date_hierarchy = "at"
    list_select_related = ["user"]
    list_per_page = 100
    show_full_result_count = False
    change_list_template = "admin/audit/accesslogentry/change_list.html"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may_read_log(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_read_log(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # "=child_id" on a non-numeric term would be a database error on PostgreSQL.
        term = search_term.strip()
        if term and not (term.isascii() and term.isdigit()):
            search_fields = ["=username", "user__name", "path"]
            return self._search(request, queryset, term, search_fields), False
        return super().get_search_results(request, queryset, search_term)

    def _search(
        self, request: HttpRequest, queryset: QuerySet, term: str, fields: list[str]
    ) -> QuerySet:
        original = self.search_fields
        self.search_fields = fields
        try:
            results, _ = super().get_search_results(request, queryset, term)
        finally:
            self.search_fields = original
        return results

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        changelist = super().get_changelist(request, **kwargs)
        if getattr(request, "_exporting_log", False):
            return type("UncountedChangeList", (_Uncounted, changelist), {})
        return changelist

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name="audit_accesslogentry_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The entries the change list shows (same filters, search and dates), as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        request._exporting_log = True  # type: ignore[attr-defined]
        changelist = self.get_changelist_instance(request)
        entries = changelist.get_queryset(request).order_by("at", "id")
        filters = dict(request.GET.items())
        # Logged before the first byte without counting the rows (a count of a long log
        # held the first byte back); the rows sent are logged when the file stops.
        started = log_export(request, what="access log", filters=filters)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return csv_response(
            f"access-log-{stamp}.csv",
            csv_pieces(EXPORT_COLUMNS, log_rows_sent(request, started, _batches(entries))),
        )


class _Uncounted(ChangeList):
    """The change list's filters, search and dates without its page of results: the
    export reads its own rows, and counting them first held its first byte back."""

    def get_results(self, request: HttpRequest) -> None:
        self.result_count = self.full_result_count = 0
        self.result_list = self.queryset.none()
        self.can_show_all = self.multi_page = False


def _batches(entries: QuerySet[AccessLogEntry]) -> Iterator[list[list[Any]]]:
    """The entries as rows in the file's order, from one read while the file is sent
    (``read_once``: on PostgreSQL a server-side cursor whose first rows come as the
    index on the time gives them, not after the whole log is read and stored), only the
    file's columns, LINES_PER_PIECE rows a piece.

    The detail is read as its JSON text and written as the dict it holds (as
    ``str(entry.detail)``), each different text decoded once a download: most entries
    share a few details, and decoding every entry's cost more than the rest of its row."""
    zone = timezone.get_current_timezone()
    columns = [name for name in EXPORT_COLUMNS if name != "detail"]
    values = entries.annotate(detail_text=Cast("detail", TextField())).values_list(
        *columns, "detail_text"
    )
    details: dict[str | None, str] = {}
    # Closed with this (the read's transaction ends) before the rows sent are logged.
    with closing(read_once(values, CHUNK_ROWS)) as rows:
        for batch in itertools.batched(rows, LINES_PER_PIECE):
            lines = []
            for (
                at, action, user_id, username, child_id, episode_id, url_path, status_code,
                ip_address, text,
            ) in batch:  # fmt: skip
                detail = details.get(text)
                if detail is None:
                    if len(details) >= DETAILS_KEPT:
                        details.clear()
                    decoded = None if text is None else json.loads(text)
                    detail = details[text] = csv_safe(str(decoded))
                lines.append(
                    [
                        at.astimezone(zone).isoformat(),
                        action,
                        user_id or "",
                        f"'{username}" if username.startswith(FORMULA_START) else username,
                        child_id or "",
                        episode_id or "",
                        f"'{url_path}" if url_path.startswith(FORMULA_START) else url_path,
                        status_code or "",
                        ip_address or "",
                        detail,
                    ]
                )
            yield lines
