"""The statutory returns pages: the SSDA903 Missing and Header tables and Ofsted's Annex
A List 8, for a council's managers, checked before they are downloaded.

Managers of a local authority only, for the councils their authority serves (the
children whose responsible authority it is). A manager asks for a council's returns for
a year on the returns page; the scheduler builds them (``oversight.return_requests``)
and the request's page, which shows the request's status until then, lists every row
failing one of DfE's rules with a link to the record that puts it right, and the
downloads. A row DfE could not match to a child (no council child identifier) stops the
Missing and Header downloads until it is added. Every download is written to the access
log with its row count; the files are read as stored, never built in the request.
"""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Submit
from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from incidents.forms.fields import UKDateField
from missingkids.accounts.models import LocalAuthorityArea
from missingkids.audit.log import log_export
from missingkids.forms import Form
from missingkids.spreadsheets import csv_response

from . import return_requests, returns
from .models import ReturnFilePart, ReturnRequest
from .return_requests import council_areas

DOWNLOADS = tuple(ReturnFilePart.Kind.values)
# What each file is called in the access log.
EXPORT_NAMES = {
    ReturnFilePart.Kind.MISSING: "ssda903_missing",
    ReturnFilePart.Kind.HEADER: "ssda903_header",
    ReturnFilePart.Kind.LIST_8: "annex_a_list_8",
}


class ReturnsForm(Form):
    area = forms.ModelChoiceField(
        label="Council",
        queryset=LocalAuthorityArea.objects.none(),
        empty_label=None,
        error_messages={
            "required": "Select the council",
            "invalid_choice": "Select one of your councils",
        },
    )
    year = forms.IntegerField(
        label="Collection year ending 31 March",
        help_text="For example 2026, for 1 April 2025 to 31 March 2026",
        error_messages={
            "required": "Enter the year the collection ends, for example 2026",
            "invalid": "Enter the year as four digits, for example 2026",
        },
    )
    as_at = UKDateField(
        label="Annex A List 8 as at",
        required=False,
        help_text="Children in care on this date; today if left blank. For example, 31 3 2026",
    )

    def __init__(self, *args: Any, areas: QuerySet[LocalAuthorityArea], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["area"].queryset = areas
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.form_method = "post"
        self.helper.layout = Layout(
            Field.select("area"),
            Field.text("year", field_width=4),
            Field("as_at"),
            Submit("ask", "Prepare the returns"),
        )
        self.fields["year"].widget.attrs["inputmode"] = "numeric"

    def clean_year(self) -> int:
        year = self.cleaned_data["year"]
        message = returns.year_error(year)
        if message:
            raise forms.ValidationError(message)
        return year


def _ask_again(request: ReturnRequest) -> dict[str, Any]:
    """The form's fields for the same returns, for the page's "ask again" button."""
    return {
        "area": request.area_id,
        "year": request.year,
        "as_at_0": request.as_at.day,
        "as_at_1": request.as_at.month,
        "as_at_2": request.as_at.year,
    }


@require_http_methods(["GET", "POST"])
def returns_view(request: HttpRequest) -> HttpResponse:
    """The form to ask for a council's returns, and the agency's latest requests."""
    areas = council_areas(request.user)
    initial = {"year": returns.latest_year() - 1}
    bound = request.method == "POST"
    form = ReturnsForm(request.POST if bound else None, areas=areas, initial=initial)
    if bound and form.is_valid():
        asked = return_requests.return_request(
            acting_user=request.user,
            area=form.cleaned_data["area"],
            year=form.cleaned_data["year"],
            as_at=form.cleaned_data.get("as_at") or timezone.localdate(),
        )
        return redirect("oversight:return_request", return_pk=asked.pk)
    context = {
        "form": form,
        "rules": returns.RULES,
        "requests": list(return_requests.return_requests_for_user(request.user)),
    }
    return render(request, "oversight/returns.html", context)


def _request_page(request: HttpRequest, asked: ReturnRequest, *, refused: str = "") -> HttpResponse:
    failures = (
        return_requests.failures_of(asked) if asked.status == ReturnRequest.Status.READY else []
    )
    context = {
        "asked": asked,
        "area": asked.area,
        "year": returns.CollectionYear(asked.year),
        "failures": failures,
        "blocking": [failure for failure in failures if failure.blocking],
        "download_refused": refused,
        "files_kept": asked.files_removed_at is None,
        "ask_again": _ask_again(asked),
        "rules": returns.RULES,
    }
    return render(request, "oversight/return_request.html", context)


@require_http_methods(["GET"])
def return_request_view(request: HttpRequest, return_pk: int) -> HttpResponse:
    """One request: its status while it is prepared, then its checks and downloads."""
    asked = return_requests.get_return_request_for_user(request.user, return_pk)
    return _request_page(request, asked)


@require_http_methods(["GET"])
def return_download(request: HttpRequest, return_pk: int, kind: str) -> HttpResponse:
    """A built file, streamed as stored. Not built yet, or not made (a child with no
    identifier), or no longer kept: the request's page, saying so."""
    asked = return_requests.get_return_request_for_user(request.user, return_pk)
    if kind not in DOWNLOADS:
        return redirect("oversight:return_request", return_pk=asked.pk)
    if not return_requests.has_file(asked, kind):
        if asked.pending:
            return redirect("oversight:return_request", return_pk=asked.pk)
        return _request_page(request, asked, refused=kind)
    described: dict[str, Any] = {"council": asked.area.code, "year": asked.year}
    if kind == ReturnFilePart.Kind.LIST_8:
        described["as_at"] = str(asked.as_at)
    log_export(
        request,
        what=EXPORT_NAMES[kind],
        **described,
        rows=return_requests.file_rows(asked, kind),
        return_request=asked.pk,
    )
    return csv_response(
        return_requests.file_name(asked, kind), return_requests.file_pieces(asked, kind)
    )
