"""Forms for the safe and well check, the return interview and challenges.

The forms only parse what was typed; the rules (after the return, not twice, the
child's own words) live in ``incidents.actions.interviews``, which reports errors by
these forms' field names.
"""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import HTML, Field, Fieldset, Layout, Size, Submit
from django import forms

from missingkids.accounts.models import Agency
from missingkids.forms import Form
from missingkids.policy import FREE_TEXT_MAX_LENGTH

from ..actions.interviews import MAX_AGREED_ACTIONS, OTHER_MAX_LENGTH, factor_problems
from ..models import (
    PULL_FACTORS,
    PUSH_FACTORS,
    Challenge,
    Child,
    Episode,
    InterviewAttempt,
    SharingMethod,
)
from .fields import UKDateTimeField
from .layout import CheckboxesWithOther
from .owners import add_owner_fields, owner_layout

YES_NO = [("yes", "Yes"), ("no", "No")]
SHARING_METHODS = SharingMethod.choices
SHARED_WITH_HINT = (
    "Their name and role, and their agency, for example 'Sam Patel, duty social worker, "
    "Cheshire West and Chester front door'."
)


def _required(message: str) -> dict[str, str]:
    return {"required": message}


def _text(label: str, *, required: bool = False, message: str = "", **kwargs: Any) -> Any:
    return forms.CharField(
        label=label,
        required=required,
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea,
        error_messages=_required(message) if message else None,
        **kwargs,
    )


def _when(label: str, *, required: bool = True, **kwargs: Any) -> UKDateTimeField:
    """A UK date-time whose messages read well for a 'When ...' label."""
    field = UKDateTimeField(label=label, required=required, **kwargs)
    field.error_messages["required"] = f"Enter {label[0].lower()}{label[1:]}"
    field.error_messages["incomplete"] = (
        "Enter the date and time in full: day, month, year and time"
    )
    return field


def _helper(*fields: Any, submit: str) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    # The page template writes the CSRF token inside its own <form>.
    helper.disable_csrf = True
    helper.layout = Layout(*fields, Submit("submit", submit))
    return helper


class VersionedForm(Form):
    """Carries the version of the record the form was drawn from (see update_versioned)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def keep_input_with_version(self, version: int) -> None:
        """After a conflict: keep what was typed, but base the next try on the new version."""
        data = self.data.copy()
        data["version"] = str(version)
        self.data = data


class SafeAndWellForm(Form):
    officer_name = forms.CharField(
        label="Officer's name",
        max_length=200,
        error_messages=_required("Enter the name of the officer who did the check"),
    )
    conducted_at = _when("When the check was done", help_text="For example, 27 3 2026 and 14:30")
    face_to_face = forms.TypedChoiceField(
        label="Was the check done face to face?",
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        error_messages=_required("Select yes if the check was done face to face"),
    )
    outcome = _text("Outcome of the check", required=True, message="Enter the outcome of the check")
    harm_disclosed = forms.BooleanField(label="The child disclosed harm", required=False)
    crime_disclosed = forms.BooleanField(label="The child disclosed a crime", required=False)
    disclosure_details = _text("What the child disclosed")
    shared_with_la_at = _when(
        "When it was shared with the local authority",
        required=False,
        help_text="Leave the sharing blank if it has not been shared yet: the service "
        "e-mails the check to the local authority, or you can record it later.",
    )
    shared_method = forms.ChoiceField(
        label="How was it shared?",
        choices=SHARING_METHODS,
        widget=forms.RadioSelect,
        required=False,
    )
    shared_with = forms.CharField(
        label="Who was it shared with?",
        max_length=200,
        required=False,
        help_text=SHARED_WITH_HINT,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.text("officer_name"),
            Field("conducted_at"),
            Field.radios("face_to_face", legend_size=Size.SMALL, inline=True),
            Field.textarea("outcome", rows=4),
            Fieldset(
                Field.checkbox("harm_disclosed"),
                Field.checkbox("crime_disclosed"),
                Field.textarea("disclosure_details", rows=4),
                legend="Disclosures",
                legend_size=Size.SMALL,
            ),
            Fieldset(
                Field("shared_with_la_at"),
                Field.radios("shared_method", legend_size=Size.SMALL),
                Field.text("shared_with"),
                legend="Sharing with the local authority",
                legend_size=Size.SMALL,
            ),
            submit="Save the safe and well check",
        )


class SafeAndWellShareForm(Form):
    shared_at = _when(
        "When it was shared with the local authority",
        help_text="Not before the check was done. For example, 27 3 2026 and 14:30",
    )
    method = forms.ChoiceField(
        label="How was it shared?",
        choices=SHARING_METHODS,
        widget=forms.RadioSelect,
        error_messages=_required("Select how it was shared"),
    )
    shared_with = forms.CharField(
        label="Who was it shared with?",
        max_length=200,
        help_text=SHARED_WITH_HINT,
        error_messages=_required("Enter who it was shared with: their name and agency"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field("shared_at"),
            Field.radios("method", legend_size=Size.SMALL),
            Field.text("shared_with"),
            submit="Save",
        )


class AttemptForm(Form):
    attempted_at = _when("When the attempt was made")
    method = forms.ChoiceField(
        label="How was the child contacted?",
        choices=InterviewAttempt.Method.choices,
        widget=forms.RadioSelect,
        error_messages=_required("Select how the child was contacted"),
    )
    outcome = forms.ChoiceField(
        label="What happened?",
        choices=InterviewAttempt.Outcome.choices,
        widget=forms.RadioSelect,
        error_messages=_required("Select what happened"),
        help_text="If the interview went ahead, record the interview itself afterwards.",
    )
    notes = _text("Notes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field("attempted_at"),
            Field.radios("method", legend_size=Size.SMALL),
            Field.radios("outcome", legend_size=Size.SMALL),
            Field.textarea("notes", rows=4),
            submit="Save the attempt",
        )


# The push and pull factors, each with "Other" revealing a box to say what it was.
FACTOR_FIELDS = (
    CheckboxesWithOther("push_factors", "push_other"),
    CheckboxesWithOther("pull_factors", "pull_other"),
)


class InterviewHeldForm(VersionedForm):
    child_voice = _text(
        "What the child said, in their own words",
        required=True,
        message="Write what the child said, in their own words",
        help_text=(
            "Why they went, what happened, how they feel and what they want. Use their "
            "words, not a summary."
        ),
    )
    held_at = _when("When the interview was held")
    held_by = forms.CharField(
        label="Who held the interview",
        max_length=200,
        error_messages=_required("Enter who held the interview"),
    )
    push_factors = forms.MultipleChoiceField(
        label="What pushed them to go (push factors)",
        choices=PUSH_FACTORS,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    pull_factors = forms.MultipleChoiceField(
        label="What drew them away (pull factors)",
        choices=PULL_FACTORS,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    push_other = forms.CharField(
        label="What was the other push factor?", max_length=OTHER_MAX_LENGTH, required=False
    )
    pull_other = forms.CharField(
        label="What was the other pull factor?", max_length=OTHER_MAX_LENGTH, required=False
    )
    factors_notes = _text("More about why they went")
    where_they_were = _text("Where they were")
    who_with = _text("Who they were with")
    harm_disclosed = forms.BooleanField(label="The child disclosed harm", required=False)
    harm_details = _text("The harm disclosed")
    what_would_help = _text("What would help, in the child's view")

    # The correction form asks about the interview only: actions are changed one by one.
    asks_actions = True

    def __init__(self, *args: Any, child: Child | None = None, **kwargs: Any) -> None:
        """``child``: whose interview it is, so that the agencies offered to own an action
        are those that can see them (all active agencies without one)."""
        super().__init__(*args, **kwargs)
        action_fieldsets = []
        for number in range(1, MAX_AGREED_ACTIONS + 1 if self.asks_actions else 1):
            prefix = f"action_{number}_"
            self.fields[f"{prefix}description"] = _text("Action")
            add_owner_fields(self, child, prefix)
            action_fieldsets.append(
                Fieldset(
                    Field.textarea(f"{prefix}description", rows=4),
                    *owner_layout(prefix),
                    legend=f"Agreed action {number}",
                    legend_size=Size.SMALL,
                )
            )
        self.helper = _helper(
            Field.textarea("child_voice", label_size=Size.MEDIUM, rows=12),
            Field("held_at"),
            Field.text("held_by"),
            *FACTOR_FIELDS,
            Field.textarea("factors_notes", rows=4),
            Field.textarea("where_they_were", rows=4),
            Field.textarea("who_with", rows=4),
            Field.checkbox("harm_disclosed"),
            Field.textarea("harm_details", rows=4),
            Field.textarea("what_would_help", rows=4),
            HTML('<h2 class="govuk-heading-m">Actions agreed</h2>'),
            *action_fieldsets,
            Field("version"),
            submit="Save the interview",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # "Other" needs words: the action's own rule, asked here so the message is by the box.
        errors: dict[str, list[str]] = {}
        factor_problems(
            errors,
            push=data.get("push_factors") or [],
            pull=data.get("pull_factors") or [],
            push_other=data.get("push_other", ""),
            pull_other=data.get("pull_other", ""),
        )
        for name, messages in errors.items():
            if name not in self.errors:
                self.add_error(name, messages)
        return data

    def agreed_actions(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        return [
            {
                key: data.get(f"action_{number}_{key}")
                for key in ("description", "owner_agency", "owner_person", "due_date")
            }
            for number in range(1, MAX_AGREED_ACTIONS + 1)
        ]


class InterviewDeclinedForm(VersionedForm):
    declined_at = _when("When the child declined")
    carers_information = _text(
        "Information from the child's carers",
        required=True,
        message="Enter what the carers said, or why they could not give information",
        help_text="If the carers were not asked or could not help, say why.",
    )
    decision_not_to_hold = _text(
        "The decision not to hold an interview, and why",
        required=True,
        message="Enter the decision not to hold an interview and the reasons for it",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field("declined_at"),
            Field.textarea("carers_information", rows=6),
            Field.textarea("decision_not_to_hold", rows=6),
            Field("version"),
            submit="Save",
        )


class ChallengeForm(Form):
    challenged_agency = forms.ModelChoiceField(
        label="Whose decision did you challenge?",
        queryset=Agency.objects.none(),
        empty_label="Select an agency",
        error_messages=_required("Select the agency whose decision you challenged"),
    )
    episode = forms.ModelChoiceField(
        label="Which episode was it about?",
        queryset=Episode.objects.none(),
        required=False,
        empty_label="Not about one episode",
    )
    decision = _text("The decision you challenged", required=True, message="Enter the decision")
    reason = _text("Why you challenged it", required=True, message="Enter why you challenged it")
    raised_at = _when("When you raised the challenge")

    def __init__(self, *args: Any, child: Child, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["challenged_agency"].queryset = Agency.objects.filter(active=True)
        self.fields["episode"].queryset = child.episodes.order_by("-last_seen_at")
        self.helper = _helper(
            Field.select("challenged_agency"),
            Field.select("episode"),
            Field.textarea("decision", rows=4),
            Field.textarea("reason", rows=4),
            Field("raised_at"),
            submit="Save the challenge",
        )


class ChallengeOutcomeForm(VersionedForm):
    status = forms.ChoiceField(
        label="What happened?",
        choices=[
            (Challenge.Status.RESOLVED, "Resolved"),
            (Challenge.Status.ESCALATED, "Escalated to the next level"),
        ],
        widget=forms.RadioSelect,
        error_messages=_required("Select whether the challenge was resolved or escalated"),
    )
    outcome = _text("The outcome", required=True, message="Enter the outcome of the challenge")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.radios("status", legend_size=Size.SMALL),
            Field.textarea("outcome", rows=4),
            Field("version"),
            submit="Save the outcome",
        )
