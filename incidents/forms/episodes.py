"""Forms for reporting a missing episode and the steps that follow it.

Forms only parse and check the shape of what was typed; the rules of the protocol (found
after last seen, one open episode, away only for a child in care ...) live in
``incidents.actions.episodes`` and come back as errors keyed by these field names.
"""

from __future__ import annotations

import copy
from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import HTML, Field, Fieldset, Layout, Size, Submit
from django import forms
from django.utils import timezone

from missingkids.accounts.models import Agency, User
from missingkids.forms import Form
from missingkids.policy import FREE_TEXT_MAX_LENGTH

from ..models import EPISODE_RISK_CHOICES, Child, Episode, RiskGrade
from ..validators import normalise_postcode, validate_uk_postcode
from .fields import UKDateTimeField

FLAG_CHOICES = [
    (name, str(Episode._meta.get_field(name).verbose_name).capitalize())
    for name in Episode.FLAG_FIELDS
]
AWAY_HINT = (
    "Away from placement without authorisation applies only to a child in care whose "
    "whereabouts are known. This child is not recorded as in care, so choose missing."
)


class CategoryField(forms.ChoiceField):
    """Offers the choices in ``choices`` but accepts any category, so that a category
    not offered to this child reaches the action and gets its own clear message."""

    def valid_value(self, value: Any) -> bool:
        return value in Episode.Category.values


def _location_fields(prefix: str) -> dict[str, forms.Field]:
    return {
        f"{prefix}_description": forms.CharField(
            label="Name of the place",
            required=False,
            max_length=200,
            help_text="A short name for the place, for example 'Chester bus station'.",
        ),
        f"{prefix}_address": forms.CharField(
            label="Address (optional)",
            required=False,
            max_length=FREE_TEXT_MAX_LENGTH,
            widget=forms.Textarea,
        ),
        f"{prefix}_postcode": forms.CharField(
            label="Postcode (optional)",
            required=False,
            max_length=10,
            validators=[validate_uk_postcode],
        ),
    }


def _location_layout(prefix: str, legend: str) -> Fieldset:
    return Fieldset(
        Field.text(f"{prefix}_description"),
        Field.textarea(f"{prefix}_address", rows=3),
        Field.text(f"{prefix}_postcode", field_width=10),
        legend=legend,
        legend_size=Size.SMALL,
    )


class _LocationMixin:
    def clean_postcode_of(self, prefix: str) -> None:
        data = self.cleaned_data  # type: ignore[attr-defined]
        key = f"{prefix}_postcode"
        if data.get(key):
            data[key] = normalise_postcode(data[key])
        if (data.get(key) or data.get(f"{prefix}_address")) and not data.get(
            f"{prefix}_description"
        ):
            self.add_error(  # type: ignore[attr-defined]
                f"{prefix}_description", "Describe the place, for example 'Chester bus station'"
            )


class EpisodeDetailsForm(_LocationMixin, Form):
    """The details of the report, shared by the report page and the edit page."""

    category = CategoryField(
        label="Is the child missing or away?",
        choices=Episode.Category.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select whether the child is missing or away"},
    )
    reported_at = UKDateTimeField(
        label="When was the child reported missing?",
        what="date and time the child was reported missing",
    )
    reported_by_name = forms.CharField(
        label="Who reported the child missing?",
        max_length=200,
        help_text="Their name and, if useful, their role: for example 'Jane Smith, foster carer'.",
        error_messages={"required": "Enter who reported the child missing"},
    )
    reported_by_agency = forms.ModelChoiceField(
        label="Their agency (optional)",
        queryset=Agency.objects.filter(active=True).order_by("name"),
        required=False,
        empty_label="Not from an agency (for example a parent or carer)",
    )
    last_seen_at = UKDateTimeField(
        label="When was the child last seen?", what="date and time the child was last seen"
    )
    circumstances = forms.CharField(
        label="Circumstances",
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        help_text="What happened before they went, what they were wearing, who they may be with.",
        error_messages={"required": "Enter the circumstances"},
    )
    police_reference = forms.CharField(
        label="Police reference (optional)", max_length=40, required=False
    )
    flags = forms.MultipleChoiceField(
        label="Exploitation and vulnerability",
        choices=FLAG_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Select all that apply.",
    )
    flag_other = forms.CharField(
        label="Other vulnerability (optional)", max_length=200, required=False
    )

    submit_label = "Save changes"

    def __init__(self, *args: Any, child: Child, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.child = child
        self.fields.update(_location_fields("last_seen"))
        if not child.is_in_care:
            # The option is not offered, but a posted "away" still reaches the action,
            # which refuses it with its own message.
            self.fields["category"].choices = [
                (Episode.Category.MISSING, Episode.Category.MISSING.label)
            ]
            self.fields["category"].help_text = AWAY_HINT
        self.helper = FormHelper()
        self.helper.form_tag = False
        # The page template writes the token inside its own <form>.
        self.helper.disable_csrf = True
        self.helper.layout = Layout(*self.layout_items(), Submit("submit", self.submit_label))

    def layout_items(self) -> list[Any]:
        return [
            Field.radios("category", legend_size=Size.MEDIUM),
            Field("reported_at"),
            Field.text("reported_by_name"),
            Field.select("reported_by_agency"),
            Field("last_seen_at"),
            _location_layout("last_seen", "Where were they last seen?"),
            Field.textarea("circumstances", rows=5),
            Field.text("police_reference", field_width=20),
            Field.checkboxes("flags", legend_size=Size.MEDIUM, small=True),
            Field.text("flag_other"),
        ]

    def clean(self) -> dict[str, Any]:
        from ..actions.base import check_dates_for_child  # the actions hold the rule

        data = super().clean()
        self.clean_postcode_of("last_seen")
        errors: dict[str, list[str]] = {}
        times = {name: data.get(name) for name in ("reported_at", "last_seen_at")}
        check_dates_for_child(errors, self.child, **times)
        for name, messages in errors.items():
            for message in messages:
                self.add_error(name, message)
        return data

    def flag_values(self) -> dict[str, Any]:
        chosen = set(self.cleaned_data.get("flags") or [])
        values: dict[str, Any] = {name: name in chosen for name in Episode.FLAG_FIELDS}
        values["flag_other"] = self.cleaned_data.get("flag_other") or ""
        return values


class EpisodeReportForm(EpisodeDetailsForm):
    """The report. From the police, ``risk`` is the police grade; from anyone else it
    is their concern, recorded as such (the police grade follows)."""

    risk = forms.ChoiceField(
        label="Police risk grade",
        choices=RiskGrade.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select the risk grade"},
    )
    risk_rationale = forms.CharField(
        label="What information does the risk grade rest on?",
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        error_messages={"required": "Enter the information the risk grading rests on"},
    )

    submit_label = "Continue"

    def __init__(
        self, *args: Any, child: Child, user: User, police_grade: bool = True, **kwargs: Any
    ) -> None:
        kwargs.setdefault(
            "initial",
            {
                # No agency is assumed for the person who reported: most reports come
                # from parents and carers, and the officer's own force is rarely right.
                "reported_at": timezone.now().replace(second=0, microsecond=0),
                "category": Episode.Category.MISSING,
            },
        )
        super().__init__(*args, child=child, user=user, **kwargs)
        self.police_grade = police_grade
        if not police_grade:
            risk, rationale = self.fields["risk"], self.fields["risk_rationale"]
            risk.label = "Your concern about the risk to the child"
            risk.help_text = (
                "The police grade the risk. Until they do, the episode shows "
                "'Not yet graded', with this recorded as your concern."
            )
            risk.error_messages["required"] = "Select your concern about the risk"
            rationale.label = "What is your concern based on?"
            rationale.error_messages["required"] = "Enter what your concern is based on"

    def layout_items(self) -> list[Any]:
        return [
            *super().layout_items(),
            Field.radios("risk", legend_size=Size.MEDIUM),
            Field.textarea("risk_rationale", rows=4),
        ]


class EpisodeEditForm(EpisodeDetailsForm):
    """Report details, and the return details once the return has been recorded."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, child: Child, user: User, episode: Episode, **kwargs: Any):
        self.episode = episode
        super().__init__(*args, child=child, user=user, **kwargs)
        if episode.found_at is not None:
            # Not the return time: that is corrected on its own page, with a reason, by
            # those who may (ReturnTimeForm).
            self.fields.update(ReturnForm.base_fields_copy(with_time=False))
            self.helper.layout = Layout(
                *self.layout_items(),
                HTML('<h2 class="govuk-heading-m">Found or returned</h2>'),
                *ReturnForm.layout_items(with_time=False),
                Field("version"),
                Submit("submit", self.submit_label),
            )
        else:
            self.helper.layout = Layout(
                *self.layout_items(), Field("version"), Submit("submit", self.submit_label)
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.episode.found_at is not None:
            self.clean_postcode_of("found")
        return data


def initial_from_episode(episode: Episode) -> dict[str, Any]:
    initial: dict[str, Any] = {
        name: getattr(episode, name)
        for name in (
            "category",
            "reported_at",
            "reported_by_name",
            "last_seen_at",
            "circumstances",
            "police_reference",
            "flag_other",
            "found_at",
            "found_with",
            "how_returned",
            "return_notes",
        )
    }
    initial["reported_by_agency"] = episode.reported_by_agency_id
    initial["flags"] = [name for name in Episode.FLAG_FIELDS if getattr(episode, name)]
    initial["version"] = episode.version
    for prefix, location in (
        ("last_seen", episode.last_seen_location),
        ("found", episode.found_location),
    ):
        if location is not None:
            initial[f"{prefix}_description"] = location.description
            # This episode's own address, never another's typed for the shared place.
            initial[f"{prefix}_address"] = getattr(episode, f"{prefix}_address")
            initial[f"{prefix}_postcode"] = location.postcode
    return initial


class RegradeForm(Form):
    grade = forms.ChoiceField(
        label="New risk grade",
        choices=RiskGrade.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select the risk grade"},
    )
    rationale = forms.CharField(
        label="What information does this grading rest on?",
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        error_messages={"required": "Enter the information the risk grading rests on"},
    )
    graded_at = UKDateTimeField(
        label="When was it graded?",
        what="date and time it was graded",
        required=False,
        help_text="Leave blank for now.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        # The page template writes the token inside its own <form>.
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Field.radios("grade", legend_size=Size.MEDIUM),
            Field.textarea("rationale", rows=5),
            Field("graded_at"),
            Submit("submit", "Save grading"),
        )


class ReturnForm(_LocationMixin, Form):
    found_at = UKDateTimeField(
        label="When was the child found or did they return?",
        what="date and time the child was found or returned",
    )
    found_with = forms.CharField(
        label="Who were they with? (optional)", max_length=300, required=False
    )
    how_returned = forms.ChoiceField(
        label="How did they return?",
        choices=Episode.HowReturned.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select how the child returned"},
    )
    return_notes = forms.CharField(
        label="Notes (optional)",
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        required=False,
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(_location_fields("found"))
        self.helper = FormHelper()
        self.helper.form_tag = False
        # The page template writes the token inside its own <form>.
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            *self.layout_items(), Field("version"), Submit("submit", "Record return")
        )

    @staticmethod
    def layout_items(*, with_time: bool = True) -> list[Any]:
        return [
            *([Field("found_at")] if with_time else []),
            _location_layout("found", "Where were they found?"),
            Field.text("found_with"),
            Field.radios("how_returned", legend_size=Size.SMALL),
            Field.textarea("return_notes", rows=4),
        ]

    @classmethod
    def base_fields_copy(cls, *, with_time: bool = True) -> dict[str, forms.Field]:
        left_out = {"version"} if with_time else {"version", "found_at"}
        fields = {
            name: copy.deepcopy(field)
            for name, field in cls.base_fields.items()
            if name not in left_out
        }
        fields.update(_location_fields("found"))
        return fields

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.clean_postcode_of("found")
        return data


class ReturnTimeForm(Form):
    found_at = UKDateTimeField(
        label="When was the child actually found or did they return?",
        what="date and time the child was actually found or returned",
    )
    reason = forms.CharField(
        label="Why are you correcting the return time?",
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        help_text="For example, what the custody record or the carer's log shows.",
        error_messages={"required": "Enter why the return time is being corrected"},
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        # The page template writes the token inside its own <form>.
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Field("found_at"),
            Field.textarea("reason", rows=4),
            Field("version"),
            Submit("submit", "Correct the return time"),
        )


class CloseForm(Form):
    reason = forms.CharField(
        label="Why are you closing this episode?",
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        error_messages={"required": "Enter the reason for closing the episode"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        # The page template writes the token inside its own <form>.
        self.helper.disable_csrf = True
        self.helper.layout = Layout(Field.textarea("reason", rows=5), Submit("submit", "Close"))


class OpenEpisodesFilterForm(Form):
    risk = forms.ChoiceField(
        label="Risk", choices=[("", "Any risk"), *EPISODE_RISK_CHOICES], required=False
    )
    category = forms.ChoiceField(
        label="Category",
        choices=[("", "Missing or away"), *Episode.Category.choices],
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        # The page template writes the token inside its own <form>.
        self.helper.disable_csrf = True
        self.helper.form_method = "get"
        self.helper.layout = Layout(
            Field.select("risk"),
            Field.select("category"),
            Submit("filter", "Filter", css_class="govuk-button--secondary"),
        )
