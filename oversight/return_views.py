"""The statutory returns page: the SSDA903 Missing and Header tables and Ofsted's Annex A
List 8, for a council's managers, checked before they are downloaded.

Managers of a local authority only, for the councils their authority serves (the
children whose responsible authority it is). The page lists every row failing one of
DfE's rules with a link to the record that puts it right; a row DfE could not match to a
child (no council child identifier) stops the Missing and Header downloads until it is
added. Every download is written to the access log with its row count.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Submit
from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from incidents.forms.fields import UKDateField
from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from missingkids.audit.log import log_export
from missingkids.forms import Form
from missingkids.spreadsheets import LINES_PER_PIECE, csv_pieces, csv_response, csv_safe

from . import returns
from .views import require_manager

DOWNLOADS = ("missing", "header", "list8")


def council_areas(user: User) -> QuerySet[LocalAuthorityArea]:
    """The councils whose returns this manager may make: those their local authority
    serves. Anyone else may make none."""
    require_manager(user)
    if user.agency.kind != Agency.Kind.LOCAL_AUTHORITY:
        raise PermissionDenied("Only a local authority's managers make its statutory returns.")
    return LocalAuthorityArea.objects.filter(agencies=user.agency).order_by("name")


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
        self.helper.disable_csrf = True
        self.helper.form_method = "get"
        self.helper.layout = Layout(
            Field.select("area"),
            Field.text("year", field_width=4),
            Field("as_at"),
            Submit("check", "Check the returns"),
        )
        self.fields["year"].widget.attrs["inputmode"] = "numeric"

    def clean_year(self) -> int:
        year = self.cleaned_data["year"]
        message = returns.year_error(year)
        if message:
            raise forms.ValidationError(message)
        return year


def _stream(filename: str, header: Iterable[str], rows: Iterable[Iterable[str]]) -> Any:
    """The file sent a few hundred lines at a time, every cell made safe. The returns
    themselves are built whole first: DfE's checks need the whole table."""
    cells = ([csv_safe(cell) for cell in row] for row in rows)
    return csv_response(filename, csv_pieces(header, itertools.batched(cells, LINES_PER_PIECE)))


@require_http_methods(["GET"])
def returns_view(request: HttpRequest) -> HttpResponse:
    areas = council_areas(request.user)
    bound = "year" in request.GET or "area" in request.GET
    initial = {"year": returns.latest_year() - 1}
    form = ReturnsForm(request.GET if bound else None, areas=areas, initial=initial)
    context: dict[str, Any] = {"form": form, "rules": returns.RULES}
    if not form.is_bound or not form.is_valid():
        context["areas"] = list(areas)
        return render(request, "oversight/returns.html", context)

    area: LocalAuthorityArea = form.cleaned_data["area"]
    year = returns.CollectionYear(form.cleaned_data["year"])
    as_at: dt.date = form.cleaned_data.get("as_at") or timezone.localdate()
    download = request.GET.get("download", "")
    described = {"council": area.code, "year": year.ending}

    if download == "list8":
        list_8 = list(returns.list_8_rows(area, as_at))
        log_export(request, what="annex_a_list_8", **described, as_at=str(as_at), rows=len(list_8))
        return _stream(
            f"annex-a-list-8-{area.code}-{as_at:%Y-%m-%d}.csv",
            returns.LIST_8_HEADER,
            (row.cells() for row in list_8),
        )

    built = returns.build_903(area, year)
    if download in ("missing", "header") and not built.checks.blocking:
        table = built.missing if download == "missing" else built.header
        log_export(request, what=f"ssda903_{download}", **described, rows=len(table))
        return _stream(
            f"ssda903-{download}-{area.code}-{year.ending}.csv",
            returns.MISSING_HEADER if download == "missing" else returns.HEADER_HEADER,
            (row.cells() for row in table),
        )

    list_8 = list(returns.list_8_rows(area, as_at, built.periods))
    query = request.GET.copy()
    query.pop("download", None)
    context.update(
        {
            "area": area,
            "year": year,
            "as_at": as_at,
            "built": built,
            "failures": built.checks.failures,
            "blocking": built.checks.blocking,
            "download_refused": download in ("missing", "header"),
            "list_8": list_8,
            "query": query.urlencode(),
        }
    )
    return render(request, "oversight/returns.html", context)
