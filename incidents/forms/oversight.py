"""Forms for a manager's strategy meeting and supervision note.

The forms parse what was typed; the rules live in ``incidents.actions.oversight``,
which reports errors by these forms' field names.
"""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Size, Submit
from django import forms
from django.db.models import Case, IntegerField, Value, When

from missingkids.accounts.models import Agency
from missingkids.forms import Form, RecordsChoiceField
from missingkids.policy import FREE_TEXT_MAX_LENGTH

from ..models import Child
from .fields import UKDateField


def _helper(*fields: Any, submit: str) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    # The page template writes the CSRF token inside its own <form>.
    helper.disable_csrf = True
    helper.layout = Layout(*fields, Submit("submit", submit))
    return helper


def _text(label: str, *, required: bool, message: str = "", **kwargs: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        error_messages={"required": message} if message else None,
        **kwargs,
    )


class StrategyMeetingForm(Form):
    held_on = UKDateField(label="Date of the meeting", help_text="For example, 27 3 2026")
    attendee_agencies = RecordsChoiceField(
        label="Which agencies attended?",
        queryset=Agency.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Select at least one agency that attended"},
    )
    attendee_names = _text(
        "Who attended (optional)",
        required=False,
        help_text="Names and roles, for example 'Priya Shah, team manager'.",
    )
    decisions = _text(
        "Decisions and actions agreed",
        required=True,
        message="Enter the decisions and actions agreed",
        help_text="Include who owns each action and by when.",
    )
    next_review = UKDateField(
        label="Date of the next review (optional)", required=False, allow_future=True
    )

    def __init__(self, *args: Any, child: Child, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Agencies serving the child's area first: they are the usual attendees.
        serving = Agency.objects.filter(areas=child.responsible_area_id).values("pk")
        self.fields["attendee_agencies"].queryset = (
            Agency.objects.filter(active=True)
            .annotate(
                local=Case(
                    When(pk__in=serving, then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                )
            )
            .order_by("local", "name")
        )
        self.helper = _helper(
            Field("held_on"),
            Field.checkboxes("attendee_agencies", legend_size=Size.SMALL, small=True),
            Field.textarea("attendee_names", rows=3),
            Field.textarea("decisions", rows=6),
            Field("next_review"),
            submit="Save the strategy meeting",
        )


class SupervisionNoteForm(Form):
    note = _text(
        "Supervision note",
        required=True,
        message="Enter the supervision note",
        help_text="Only managers can read supervision notes.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(Field.textarea("note", rows=8), submit="Save the note")
