"""The filters every manager list and measure takes, as one GET form.

``Filters`` is what the queries read: plain values, so a query can be tested without a
form and the CSV export applies exactly the filters the page showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Submit
from django import forms

from incidents.models import Episode, RiskGrade
from missingkids.accounts.models import Agency, LocalAuthorityArea
from missingkids.forms import Form

YES_NO = [("", "Either"), ("yes", "Yes"), ("no", "No")]
PERIOD_DAYS = [
    (30, "Last 30 days"),
    (90, "Last 90 days"),
    (180, "Last 6 months"),
    (365, "Last year"),
]
PERIOD_MONTHS = [
    (3, "Last 3 months"),
    (6, "Last 6 months"),
    (12, "Last 12 months"),
    (24, "Last 24 months"),
]
DEFAULT_DAYS = 90
DEFAULT_MONTHS = 12


@dataclass(frozen=True)
class Filters:
    agency: Agency | None = None
    local_authority: LocalAuthorityArea | None = None
    worker: str = ""
    risk: str = ""
    category: str = ""
    in_care: bool | None = None
    out_of_area: bool | None = None
    days: int = DEFAULT_DAYS
    months: int = DEFAULT_MONTHS

    def describe(self) -> dict[str, Any]:
        """The filters as plain values, for the access log and the CSV's audit entry."""
        values: dict[str, Any] = {
            "agency": self.agency.name if self.agency else "",
            "local_authority": self.local_authority.name if self.local_authority else "",
            "worker": self.worker,
            "risk": self.risk,
            "category": self.category,
            "in_care": self.in_care,
            "out_of_area": self.out_of_area,
            "days": self.days,
            "months": self.months,
        }
        return {key: value for key, value in values.items() if value not in ("", None)}


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class ManagerFilterForm(Form):
    agency = forms.ModelChoiceField(
        label="Agency",
        queryset=Agency.objects.filter(active=True).order_by("name"),
        required=False,
        empty_label="Any agency",
    )
    local_authority = forms.ModelChoiceField(
        label="Responsible local authority",
        queryset=LocalAuthorityArea.objects.order_by("name"),
        required=False,
        empty_label="Any local authority",
    )
    worker = forms.CharField(
        label="Team or worker",
        help_text="The allocated social worker, or the person who reported the episode.",
        required=False,
        max_length=200,
    )
    risk = forms.ChoiceField(
        label="Risk", choices=[("", "Any risk"), *RiskGrade.choices], required=False
    )
    category = forms.ChoiceField(
        label="Category",
        choices=[("", "Missing or away"), *Episode.Category.choices],
        required=False,
    )
    in_care = forms.ChoiceField(label="Child in care", choices=YES_NO, required=False)
    out_of_area = forms.ChoiceField(label="Placed out of area", choices=YES_NO, required=False)
    # The period shown selected is the one the figures are for: without it, the first
    # choice would show while the default applied.
    days = forms.TypedChoiceField(
        label="Period",
        choices=PERIOD_DAYS,
        coerce=int,
        required=False,
        empty_value=None,
        initial=DEFAULT_DAYS,
    )
    months = forms.TypedChoiceField(
        label="Period",
        choices=PERIOD_MONTHS,
        coerce=int,
        required=False,
        empty_value=None,
        initial=DEFAULT_MONTHS,
    )

    def __init__(self, *args: Any, period: str = "", **kwargs: Any) -> None:
        """``period`` is "days" (patterns), "months" (measures) or "" (overdue lists)."""
        super().__init__(*args, **kwargs)
        for name in ("days", "months"):
            if name != period:
                del self.fields[name]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.form_method = "get"
        fields = [Field.select(period)] if period else []
        self.helper.layout = Layout(
            *fields,
            Field.select("agency"),
            Field.select("local_authority"),
            Field.text("worker", field_width=20),
            Field.select("risk"),
            Field.select("category"),
            Field.select("in_care"),
            Field.select("out_of_area"),
            Submit("filter", "Filter", css_class="govuk-button--secondary"),
        )

    def filters(self) -> Filters:
        """The valid filters; an invalid value is ignored (the form shows why)."""
        if not self.is_bound or not self.is_valid():
            data: dict[str, Any] = {}
            if self.is_bound:
                data = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        else:
            data = self.cleaned_data
        return Filters(
            agency=data.get("agency"),
            local_authority=data.get("local_authority"),
            worker=(data.get("worker") or "").strip(),
            risk=data.get("risk") or "",
            category=data.get("category") or "",
            in_care=_yes_no(data.get("in_care") or ""),
            out_of_area=_yes_no(data.get("out_of_area") or ""),
            days=data.get("days") or DEFAULT_DAYS,
            months=data.get("months") or DEFAULT_MONTHS,
        )
