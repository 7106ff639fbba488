"""Forms for finding and adding a child and keeping their details.

The forms only parse what was typed; the rules (unique identifiers, overlapping
placements, legal status dates) live in ``incidents.actions.children`` so a crafted
POST meets them too, and their messages come back by the field.
"""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import HTML, Field, Fieldset, Layout, Size, Submit
from django import forms

from missingkids.accounts.models import Agency, LocalAuthorityArea
from missingkids.forms import Form
from missingkids.policy import FREE_TEXT_MAX_LENGTH

from ..models import (
    CareLegalStatus,
    Ethnicity,
    Gender,
    Involvement,
    LegalStatus,
    Placement,
    ReturnSex,
)
from ..validators import validate_nhs_number, validate_uk_postcode, validate_upn
from .fields import UKDateField

NAME_MAX = 100


def _helper(*fields: Any, submit: str) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    helper.layout = Layout(*fields, Submit("submit", submit))
    return helper


class ChildSearchForm(Form):
    """Posted, never sent in a URL: see ``incidents.views.children.child_search``."""

    q = forms.CharField(
        label="Name, date of birth or an identifier",
        help_text=(
            "For example 'Jo Bloggs', '27/03/2011', the council's child identifier, an "
            "NHS number or a police person reference"
        ),
        max_length=200,
        error_messages={"required": "Enter a name, date of birth or an identifier"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.form_method = "post"
        self.helper.layout = Layout(
            Field.text("q", label_size=Size.MEDIUM, label_tag="h2"),
            Submit("search", "Search"),
        )


class ChildIdentityForm(Form):
    """Identity and profile: the fields anyone working the case may keep."""

    first_name = forms.CharField(
        max_length=NAME_MAX, error_messages={"required": "Enter the child's first name"}
    )
    last_name = forms.CharField(
        max_length=NAME_MAX, error_messages={"required": "Enter the child's last name"}
    )
    known_as = forms.CharField(
        label="Known as (optional)",
        max_length=NAME_MAX,
        required=False,
        help_text="A nickname or other name the child uses",
    )
    date_of_birth = UKDateField(label="Date of birth", help_text="For example, 27 3 2011")
    gender = forms.ChoiceField(
        choices=Gender.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select the child's gender, or 'Not known'"},
    )
    sex = forms.ChoiceField(
        label="Sex for statutory returns (optional)",
        # Coded as the return codes it, so as not to read as a second gender question.
        choices=[
            ("", "Not given"),
            *((v, f"{label} (code {v})") for v, label in ReturnSex.choices),
        ],
        required=False,
        help_text="Needed for the DfE returns only when the gender is not male or female",
    )
    ethnicity = forms.ChoiceField(
        label="Ethnicity (optional)",
        choices=[("", "Select ethnicity"), *Ethnicity.choices],
        required=False,
        help_text="As the DfE returns code it",
    )
    upn = forms.CharField(
        label="Unique pupil number (optional)",
        max_length=20,
        required=False,
        help_text="13 characters, for example H801200001001",
        validators=[validate_upn],
    )
    la_child_id = forms.CharField(
        label="Local authority child identifier (optional)",
        max_length=10,
        required=False,
        help_text="The CHILD identifier the council uses in its SSDA903 return",
    )
    nhs_number = forms.CharField(
        label="NHS number (optional)",
        max_length=14,
        required=False,
        help_text="10 digits, for example 485 777 3457",
        validators=[validate_nhs_number],
    )
    police_person_reference = forms.CharField(
        label="Police person reference (optional)", max_length=40, required=False
    )
    responsible_area = forms.ModelChoiceField(
        label="Responsible local authority",
        queryset=LocalAuthorityArea.objects.all(),
        empty_label="Select a local authority",
        help_text="The council that looks after the child or holds the child's plan",
        error_messages={"required": "Select the responsible local authority"},
    )
    physical_description = forms.CharField(
        label="Physical description (optional)",
        required=False,
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        help_text="Height, build, hair, distinguishing features, clothes they often wear",
    )
    places_they_go = forms.CharField(
        label="Places they go (optional)",
        required=False,
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
    )
    people_they_may_be_with = forms.CharField(
        label="People they may be with (optional)",
        required=False,
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
    )

    identity_fields: tuple[str, ...] = (
        "first_name",
        "last_name",
        "known_as",
        "date_of_birth",
        "gender",
        "sex",
        "ethnicity",
    )
    identifier_fields: tuple[str, ...] = (
        "la_child_id",
        "nhs_number",
        "upn",
        "police_person_reference",
    )
    profile_fields: tuple[str, ...] = (
        "physical_description",
        "places_they_go",
        "people_they_may_be_with",
    )

    def identity_layout(self) -> list[Any]:
        return [
            Fieldset(
                Field.text("first_name", field_width=20),
                Field.text("last_name", field_width=20),
                Field.text("known_as", field_width=20),
                Field("date_of_birth"),
                Field.radios("gender", legend_size=Size.SMALL),
                Field.select("sex"),
                Field.select("ethnicity"),
                legend="Who the child is",
                legend_size=Size.MEDIUM,
            ),
            Fieldset(
                Field.text("la_child_id", field_width=10),
                Field.text("nhs_number", field_width=10),
                Field.text("upn", field_width=20),
                Field.text("police_person_reference", field_width=20),
                legend="Identifiers",
                legend_size=Size.MEDIUM,
            ),
        ]

    def profile_layout(self) -> list[Any]:
        return [
            Fieldset(
                HTML(
                    '<p class="govuk-body">What helps the police find the child if they go '
                    "missing.</p>"
                ),
                Field.textarea("physical_description", rows=3),
                Field.textarea("places_they_go", rows=3),
                Field.textarea("people_they_may_be_with", rows=3),
                legend="Profile to help find them",
                legend_size=Size.MEDIUM,
            )
        ]


class ChildAddForm(ChildIdentityForm):
    legal_status = forms.ChoiceField(
        choices=LegalStatus.choices,
        widget=forms.RadioSelect,
        initial=LegalStatus.NONE,
        error_messages={"required": "Select the child's legal status"},
    )
    legal_status_start = UKDateField(
        label="Date the legal status started",
        required=False,
        help_text="Needed unless the legal status is None",
    )
    care_legal_status = forms.ChoiceField(
        label="SSDA903 legal status (optional)",
        choices=[("", "Not given"), *CareLegalStatus.choices],
        required=False,
        help_text="For a child in care: the legal status the SSDA903 return records",
    )

    field_order = [
        *ChildIdentityForm.identity_fields,
        *ChildIdentityForm.identifier_fields,
        "legal_status",
        "legal_status_start",
        "care_legal_status",
        "responsible_area",
        *ChildIdentityForm.profile_fields,
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            *self.identity_layout(),
            Fieldset(
                Field.radios("legal_status", legend_size=Size.SMALL),
                Field("legal_status_start"),
                Field.select("care_legal_status"),
                Field.select("responsible_area"),
                legend="Legal status and responsible council",
                legend_size=Size.MEDIUM,
            ),
            *self.profile_layout(),
            submit="Continue",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        status = cleaned.get("legal_status")
        needs_start = status and status != LegalStatus.NONE
        if (
            needs_start
            and not cleaned.get("legal_status_start")
            and "legal_status_start" not in self.errors
        ):
            self.add_error("legal_status_start", "Enter the date the legal status started")
        return cleaned


class ChildEditForm(ChildIdentityForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, with_area: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the local authority may move the child to another council (it decides
        # who can see them), so others are not offered the field at all.
        area: list[Any] = []
        if with_area:
            area = [Field.select("responsible_area")]
        else:
            del self.fields["responsible_area"]
        self.helper = _helper(
            Field("version"),
            *self.identity_layout(),
            *area,
            *self.profile_layout(),
            submit="Save changes",
        )

    def action_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "version"}


class LegalStatusForm(Form):
    status = forms.ChoiceField(
        label="New legal status",
        choices=LegalStatus.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select the child's legal status"},
    )
    start = UKDateField(label="Date it started", help_text="For example, 27 3 2026")
    care_legal_status = forms.ChoiceField(
        label="SSDA903 legal status (optional)",
        choices=[("", "Not given"), *CareLegalStatus.choices],
        required=False,
        help_text="For a child in care: the legal status the SSDA903 return records",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.radios("status", legend_size=Size.MEDIUM),
            Field("start"),
            Field.select("care_legal_status"),
            submit="Save legal status",
        )


class PlacementForm(Form):
    type = forms.ChoiceField(
        label="Type of placement",
        choices=Placement.Type.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select the type of placement"},
    )
    carer_name = forms.CharField(label="Carer or home (optional)", max_length=200, required=False)
    address = forms.CharField(
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        error_messages={"required": "Enter the address of the placement"},
    )
    postcode = forms.CharField(
        max_length=10,
        validators=[validate_uk_postcode],
        error_messages={"required": "Enter the postcode of the placement"},
    )
    host_area = forms.ModelChoiceField(
        label="Local authority the placement is in",
        queryset=LocalAuthorityArea.objects.all(),
        empty_label="Select a local authority",
        error_messages={"required": "Select the local authority the placement is in"},
    )
    start = UKDateField(label="Start date")
    end = UKDateField(
        label="End date (optional)",
        required=False,
        help_text="Leave blank if the child still lives there",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.radios("type", legend_size=Size.MEDIUM),
            Field.text("carer_name"),
            Field.textarea("address", rows=3),
            Field.text("postcode", field_width=10),
            Field.select("host_area"),
            Field("start"),
            Field("end"),
            submit="Save placement",
        )


class EndDateForm(Form):
    end = UKDateField(label="End date")

    def __init__(self, *args: Any, submit: str = "Save", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(Field("end"), submit=submit)


class InvolvementForm(Form):
    agency = forms.ModelChoiceField(
        queryset=Agency.objects.filter(active=True),
        empty_label="Select an agency",
        error_messages={"required": "Select the agency"},
    )
    role = forms.ChoiceField(
        choices=Involvement.Role.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select the role the agency has with the child"},
    )
    professional_name = forms.CharField(
        label="Professional's name (optional)", max_length=200, required=False
    )
    professional_email = forms.EmailField(
        label="Professional's e-mail address (optional)",
        required=False,
        error_messages={"invalid": "Enter an e-mail address like name@example.org"},
    )
    professional_phone = forms.CharField(
        label="Professional's phone number (optional)", max_length=40, required=False
    )
    start = UKDateField(label="Start date")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.select("agency"),
            Field.radios("role", legend_size=Size.SMALL),
            Field.text("professional_name"),
            Field.text("professional_email", spellcheck="false"),
            Field.text("professional_phone", field_width=20),
            Field("start"),
            submit="Save agency",
        )


class InvolvementRequestForm(InvolvementForm):
    """The host council's request: the same details, and what it knows."""

    note = forms.CharField(
        label="What do you know about their work with the child? (optional)",
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        required=False,
        help_text="For example, how you heard of them. The responsible council sees this.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.select("agency"),
            Field.radios("role", legend_size=Size.SMALL),
            Field.text("professional_name"),
            Field.text("professional_email", spellcheck="false"),
            Field.text("professional_phone", field_width=20),
            Field("start"),
            Field.textarea("note", rows=3),
            submit="Send the request",
        )


class InvolvementAnswerForm(Form):
    decision = forms.ChoiceField(
        label="Do you want to record this agency as involved?",
        choices=[("accept", "Yes, record it"), ("decline", "No, decline the request")],
        widget=forms.RadioSelect,
        error_messages={"required": "Select whether to record the agency or decline"},
    )
    reason = forms.CharField(
        label="Reason (needed to decline)",
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.radios("decision", legend_size=Size.MEDIUM),
            Field.textarea("reason", rows=3),
            submit="Save answer",
        )
