"""Forms for recording a notification made by phone or in person, cancelling one, and
acknowledging receipt."""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Submit
from django import forms

from incidents.forms.fields import UKDateTimeField
from missingkids.forms import Form
from missingkids.policy import FREE_TEXT_MAX_LENGTH

from .models import Method

# Phone first: the form exists for telling people outside automatic e-mail.
TOLD_METHODS = [
    (Method.PHONE, Method.PHONE.label),
    (Method.SECURE_EMAIL, Method.SECURE_EMAIL.label),
    (Method.IN_PERSON, Method.IN_PERSON.label),
    (Method.MEETING, Method.MEETING.label),
    (Method.EMAIL, Method.EMAIL.label),
]


def _helper(*fields: Any, submit: str) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    # The page template writes the token inside its own <form>.
    helper.disable_csrf = True
    helper.layout = Layout(*fields, Submit("submit", submit))
    return helper


class RecordToldForm(Form):
    method = forms.ChoiceField(
        label="How did you tell them?",
        choices=TOLD_METHODS,
        widget=forms.RadioSelect,
        error_messages={"required": "Select how you told them"},
    )
    told_at = UKDateTimeField(
        label="When did you tell them?",
        what="date and time you told them",
        help_text="For example, 27 3 2026 and 14:30",
    )
    told_whom = forms.CharField(
        label="Who did you tell?",
        max_length=200,
        help_text="Their name and role, for example 'Sam Patel, duty social worker'.",
        error_messages={"required": "Enter who you told"},
    )
    notes = forms.CharField(
        label="Notes (optional)",
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        required=False,
    )

    def __init__(self, *args: Any, not_before: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.not_before = not_before
        self.helper = _helper(
            Field.radios("method"),
            Field("told_at"),
            Field.text("told_whom"),
            Field.textarea("notes", rows=4),
            submit="Record that I told them",
        )

    def clean_told_at(self) -> Any:
        told_at = self.cleaned_data["told_at"]
        if told_at and self.not_before and told_at < self.not_before:
            raise forms.ValidationError(
                "The time you told them must be after the child was last seen"
            )
        return told_at


class CancelForm(Form):
    reason = forms.CharField(
        label="Why is this notification no longer needed?",
        max_length=300,
        widget=forms.Textarea,
        error_messages={"required": "Enter the reason for cancelling"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(Field.textarea("reason", rows=4), submit="Cancel the notification")


class AcknowledgeForm(Form):
    name = forms.CharField(
        label="Your name (optional)",
        max_length=200,
        required=False,
        help_text="So the person who told you knows who received it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(Field.text("name"), submit="Confirm I have received this")
