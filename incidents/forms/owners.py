"""The owner questions of an agreed action: which agency (and, if wanted, which of its
people) owns it, and by when. Shared by the interview form, the "Add an agreed action"
page and the correction form.

The agencies offered are those that can see the child (``access.agencies_seeing``): an
agency that cannot see the child could never see the action to do it. The people are
theirs, grouped by agency.
"""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.layout import Field
from django import forms

from missingkids.accounts.models import Agency, User

from .. import access
from ..models import Child
from .fields import UKDateField

NO_ONE = "No one in particular"


def owner_agencies(child: Child | None) -> Any:
    agencies = (
        access.agencies_seeing(child) if child is not None else Agency.objects.filter(active=True)
    )
    return agencies.order_by("name")


def owner_people(agencies: Any) -> Any:
    return (
        User.objects.filter(agency__in=agencies, is_active=True, role__in=access.CASE_ROLES)
        .select_related("agency")
        .order_by("agency__name", "name", "pk")
    )


def grouped_people(people: Any) -> list[Any]:
    """The people as choices grouped by their agency (one <optgroup> each)."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for person in people:
        groups.setdefault(person.agency.name, []).append((person.pk, person.name))
    return [("", NO_ONE), *groups.items()]


def add_owner_fields(form: forms.Form, child: Child | None, prefix: str = "") -> None:
    """The agency, person and due date questions, for ``child``'s agencies and people."""
    # Read once for the form, however many actions it asks about.
    cached = getattr(form, "_owner_choices", None)
    if cached is None:
        agencies = owner_agencies(child)
        people = owner_people(agencies)
        cached = form._owner_choices = (agencies, people, grouped_people(people))  # type: ignore[attr-defined]
    agencies, people, grouped = cached
    form.fields[f"{prefix}owner_agency"] = forms.ModelChoiceField(
        label="Which agency owns it?",
        queryset=agencies,
        required=False,
        empty_label="Select an agency",
        help_text="Only someone at this agency can mark the action done.",
    )
    person = forms.ModelChoiceField(
        label="Who at that agency owns it? (optional)",
        queryset=people,
        required=False,
        empty_label=NO_ONE,
    )
    person.widget.choices = grouped
    form.fields[f"{prefix}owner_person"] = person
    form.fields[f"{prefix}due_date"] = UKDateField(
        label="Due by", required=False, allow_future=True, help_text="For example, 27 3 2026"
    )


def owner_layout(prefix: str = "") -> list[Any]:
    return [
        Field.select(f"{prefix}owner_agency"),
        Field.select(f"{prefix}owner_person"),
        Field(f"{prefix}due_date"),
    ]
