"""The CSV import's pages (``/imports/``): choose a kind of file, upload it, see every
row checked, import the good rows, and look back at earlier imports.

For a council's managers (children in care) and a police force's managers (missing
reports) only (``api.imports.kinds_for``); an import is seen only by its agency's. The
file is kept in the database between the check and the import, so the rows imported
are the rows checked, never a file sent a second time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Size, Submit
from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from missingkids import policy
from missingkids.audit.log import Action, log_access, log_export
from missingkids.forms import Form, could_be_id
from missingkids.spreadsheets import LINES_PER_PIECE, csv_pieces, csv_safe

from . import imports
from .models import CsvImport

# Imports a page of the history shows.
HISTORY_PAGE_SIZE = 50


class UploadForm(Form):
    kind = forms.ChoiceField(
        label="What is in the file?",
        widget=forms.RadioSelect,
        error_messages={"required": "Select what is in the file"},
    )
    file = forms.FileField(
        label="The CSV file",
        help_text=(f"Up to {policy.IMPORT_MAX_ROWS:,} rows, saved as CSV UTF-8 (comma delimited)."),
        error_messages={
            "required": "Choose the CSV file to import",
            "empty": "The file is empty",
            "invalid": "Choose the CSV file to import",
        },
    )

    def __init__(self, *args: Any, kinds: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, CsvImport.Kind(k).label) for k in kinds]
        if len(kinds) == 1:
            self.fields["kind"].initial = kinds[0]
        self.fields["file"].widget.attrs["accept"] = ".csv,text/csv"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Field.radios("kind", legend_size=Size.MEDIUM),
            Field("file"),
            Submit("check", "Check the file"),
        )


def _csv_response(filename: str, rows: Iterable[list[str]]) -> StreamingHttpResponse:
    """The rows (the first the header) sent a few hundred lines a piece."""
    rows = iter(rows)
    pieces = csv_pieces(next(rows), itertools.batched(rows, LINES_PER_PIECE))
    # A byte order mark first, so Excel reads the names' letters as UTF-8.
    response = StreamingHttpResponse(_bom_then(pieces), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _bom_then(lines: Iterator[str]) -> Iterator[str]:
    yield "\ufeff"
    yield from lines


def _get_import(request: HttpRequest, pk: str) -> CsvImport:
    found = (
        imports.imports_visible_to(request.user)
        .select_related("uploaded_by", "imported_by")
        .filter(pk=int(pk))
        .first()
        if could_be_id(pk)
        else None
    )
    if found is None:
        raise Http404("No such import")
    return found


def _same_file_before(record: CsvImport) -> CsvImport | None:
    return (
        CsvImport.objects.filter(
            agency_id=record.agency_id,
            kind=record.kind,
            sha256=record.sha256,
            status=CsvImport.Status.IMPORTED,
        )
        .exclude(pk=record.pk)
        .select_related("imported_by")
        .order_by("-imported_at")
        .first()
    )


def _log(request: HttpRequest, record: CsvImport, step: str) -> None:
    log_access(
        request,
        Action.CSV_IMPORT,
        detail={
            "import_id": record.pk,
            "kind": record.kind,
            "step": step,
            "file_name": record.file_name,
            "sha256": record.sha256,
            "created": record.created,
            "updated": record.updated,
            "unchanged": record.unchanged,
            "rejected": record.rejected,
        },
    )


def _set_counts(record: CsvImport, results: list[imports.RowResult]) -> None:
    found = imports.counts(results)
    record.created = found[imports.CREATED]
    record.updated = found[imports.UPDATED]
    record.unchanged = found[imports.UNCHANGED]
    record.rejected = found[imports.REJECTED]


@require_http_methods(["GET"])
def import_list(request: HttpRequest) -> HttpResponse:
    kinds = imports.require_importer(request.user)
    history = list(
        imports.imports_visible_to(request.user)
        .select_related("uploaded_by")
        .defer("content", "rows", "rejected_rows", "header")[:HISTORY_PAGE_SIZE]
    )
    return render(
        request,
        "imports/list.html",
        {"history": history, "kinds": kinds, "page_size": HISTORY_PAGE_SIZE},
    )


@require_http_methods(["GET", "POST"])
def import_new(request: HttpRequest) -> HttpResponse:
    kinds = imports.require_importer(request.user)
    form = UploadForm(request.POST or None, request.FILES or None, kinds=kinds)
    if request.method == "POST" and form.is_valid():
        kind = form.cleaned_data["kind"]
        upload = form.cleaned_data["file"]
        try:
            facts = imports.read_upload(upload, kind)
            text = imports.file_text(upload, facts)
        except imports.FileProblem as problem:
            form.add_error("file", str(problem))
        else:
            results, rejected = imports.run(request.user, kind, text, facts.header, check_only=True)
            record = CsvImport(
                agency_id=request.user.agency_id,
                uploaded_by=request.user,
                kind=kind,
                file_name=(upload.name or "upload.csv")[:255],
                sha256=facts.sha256,
                encoding=facts.encoding,
                content=text,
                header=facts.header,
                rows=[r.as_json() for r in results],
                rejected_rows=rejected,
            )
            _set_counts(record, results)
            record.save()
            _log(request, record, "checked")
            return redirect("imports:detail", pk=record.pk)
    return render(
        request,
        "imports/new.html",
        {
            "form": form,
            "kinds": kinds,
            "max_size": policy.IMPORT_MAX_FILE_BYTES // (1024 * 1024),
        },
    )


@require_http_methods(["GET"])
def import_detail(request: HttpRequest, pk: str) -> HttpResponse:
    # Anyone who may not see the import (another agency, someone who imports nothing)
    # gets the answer for one that does not exist, so ids cannot be probed.
    record = _get_import(request, pk)
    rows = [
        {
            **row,
            "label": imports.OUTCOME_LABELS[row["outcome"]],
            "messages": [imports.describe(row["row"], e) for e in row["errors"]],
        }
        for row in record.rows
    ]
    return render(
        request,
        "imports/detail.html",
        {
            "record": record,
            "rows": rows,
            "same_before": _same_file_before(record),
            "kept_for_hours": int(policy.IMPORT_CHECK_KEPT_FOR.total_seconds() // 3600),
            "may_import": record.status == CsvImport.Status.CHECKED
            and record.kind in imports.kinds_for(request.user),
        },
    )


@require_http_methods(["POST"])
def import_run(request: HttpRequest, pk: str) -> HttpResponse:
    record = _get_import(request, pk)
    imports.require_importer(request.user, record.kind)
    good = {r["row"] for r in record.rows if r["outcome"] != imports.REJECTED}
    with transaction.atomic():
        # Claimed by a conditional update: a second press of the button (or a second
        # person) finds it no longer "checked" and imports nothing.
        claimed = CsvImport.objects.filter(pk=record.pk, status=CsvImport.Status.CHECKED).update(
            status=CsvImport.Status.IMPORTING
        )
        if not claimed:
            record.refresh_from_db(fields=["status"])
            messages.info(
                request,
                "This check has expired: upload the file again to import it."
                if record.status == CsvImport.Status.EXPIRED
                else "This file has already been imported.",
            )
            return redirect("imports:detail", pk=record.pk)
        results, rejected = imports.run(
            request.user, record.kind, record.content, record.header, check_only=False, rows=good
        )
        checked_rejected = [
            r for r in record.rejected_rows if r["row"] not in {entry["row"] for entry in rejected}
        ]
        refused_before = [
            imports.RowResult(r["row"], r["key"], r["outcome"], r["errors"])
            for r in record.rows
            if r["outcome"] == imports.REJECTED
        ]
        results = sorted([*results, *refused_before], key=lambda r: r.row)
        record.rows = [r.as_json() for r in results]
        record.rejected_rows = sorted([*checked_rejected, *rejected], key=lambda r: r["row"])
        _set_counts(record, results)
        record.status = CsvImport.Status.IMPORTED
        record.imported_by = request.user
        record.imported_at = timezone.now()
        # The file itself is no longer needed: its rejected rows are kept.
        record.content = ""
        record.save()
        _log(request, record, "imported")
    messages.success(
        request,
        f"Imported: {record.created} added, {record.updated} updated, "
        f"{record.unchanged} unchanged, {record.rejected} rejected.",
    )
    return redirect("imports:detail", pk=record.pk)


@require_http_methods(["GET"])
def import_rejected(request: HttpRequest, pk: str) -> HttpResponse:
    record = _get_import(request, pk)
    log_export(request, what="csv_import_rejected_rows", import_id=record.pk, rows=record.rejected)
    return _csv_response(
        f"rejected-rows-{record.pk}.csv",
        imports.rejected_csv_rows(record.header, record.rejected_rows),
    )


@require_http_methods(["GET"])
def import_template(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in imports.kinds_for(request.user):
        raise Http404("No such template")
    header, example = imports.template_rows(kind)
    return _csv_response(f"{kind}-template.csv", [header, [csv_safe(cell) for cell in example]])
