"""The form for a child's associate. It only parses what was typed; the rules live in
``incidents.actions.associates``, which reports errors by these fields' names."""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.layout import Field, Size
from django import forms

from missingkids.forms import Form

from ..actions.associates import NAME_MAX_LENGTH
from ..models import Associate
from .corrections import _reason
from .interviews import VersionedForm, _helper, _text


class AssociateForm(Form):
    name = forms.CharField(
        label="Their name",
        max_length=NAME_MAX_LENGTH,
        help_text="A name, nickname or description, as known. For example 'Jay, about 20, "
        "drives a black Golf'.",
        error_messages={"required": "Enter their name, nickname or a description"},
    )
    relationship = forms.ChoiceField(
        label="How do they know the child?",
        choices=Associate.Relationship.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select how they know the child"},
    )
    # A box of its own rather than a reveal under "Other": GOV.UK's reveal marks a radio
    # button aria-expanded, which radio buttons may not carry.
    relationship_other = forms.CharField(
        label="If other, how do they know the child?",
        max_length=NAME_MAX_LENGTH,
        required=False,
    )
    concern = _text("The concern about them (optional)")

    submit_label = "Save the associate"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(*self.layout_fields(), submit=self.submit_label)

    def layout_fields(self) -> list[Any]:
        return [
            Field.text("name"),
            Field.radios("relationship", legend_size=Size.SMALL),
            Field.text("relationship_other"),
            Field.textarea("concern", rows=4),
        ]


class AssociateCorrectForm(VersionedForm, AssociateForm):
    reason = _reason()
    submit_label = "Save the changes"

    def layout_fields(self) -> list[Any]:
        return [*super().layout_fields(), Field.textarea("reason", rows=3), Field("version")]
