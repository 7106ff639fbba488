"""Forms for correcting a saved record, and where each question's first input is.

Each is the recording form's questions (the same fields, labels and messages), drawn
from the record's version, with the reason for the change. Whether a reason is required
is decided by ``incidents.actions.corrections``: it is when the record was already
shared or notified.
"""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.layout import Field, Fieldset, Size

from ..models import Child
from .interviews import (
    FACTOR_FIELDS,
    AttemptForm,
    ChallengeForm,
    ChallengeOutcomeForm,
    InterviewDeclinedForm,
    InterviewHeldForm,
    SafeAndWellForm,
    VersionedForm,
    _helper,
    _text,
)
from .oversight import StrategyMeetingForm
from .owners import add_owner_fields, owner_layout

REASON_HINT = (
    "Required if the record has already been shared or others have been told of it. "
    "The previous answer is kept and shown in the record's history with your reason."
)


def _reason() -> Any:
    return _text("Why are you changing it?", help_text=REASON_HINT)


class SafeAndWellCorrectForm(VersionedForm, SafeAndWellForm):
    """The check's questions; its sharing is recorded once and is not changed here."""

    shared_with_la_at = None
    shared_method = None
    shared_with = None
    reason = _reason()

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
            Field.textarea("reason", rows=3),
            Field("version"),
            submit="Save the changes",
        )


class InterviewHeldCorrectForm(InterviewHeldForm):
    """The interview's questions; the actions agreed are not changed here."""

    reason = _reason()
    asks_actions = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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
            Field.textarea("reason", rows=3),
            Field("version"),
            submit="Save the changes",
        )


class InterviewDeclinedCorrectForm(InterviewDeclinedForm):
    reason = _reason()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field("declined_at"),
            Field.textarea("carers_information", rows=6),
            Field.textarea("decision_not_to_hold", rows=6),
            Field.textarea("reason", rows=3),
            Field("version"),
            submit="Save the changes",
        )


class AttemptCorrectForm(VersionedForm, AttemptForm):
    reason = _reason()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field("attempted_at"),
            Field.radios("method", legend_size=Size.SMALL),
            Field.radios("outcome", legend_size=Size.SMALL),
            Field.textarea("notes", rows=4),
            Field.textarea("reason", rows=3),
            Field("version"),
            submit="Save the changes",
        )


class SupervisionNoteCorrectForm(VersionedForm):
    note = _text("Supervision note", required=True, message="Enter the supervision note")
    reason = _reason()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.textarea("note", rows=8),
            Field.textarea("reason", rows=3),
            Field("version"),
            submit="Save the changes",
        )


class AgreedActionCorrectForm(VersionedForm):
    description = _text("Action", required=True, message="Describe the action agreed")
    reason = _reason()

    def __init__(self, *args: Any, child: Child | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_owner_fields(self, child)
        self.helper = _helper(
            Field.textarea("description", rows=4),
            *owner_layout(),
            Field.textarea("reason", rows=3),
            Field("version"),
            submit="Save the changes",
        )


class StrategyMeetingCorrectForm(VersionedForm, StrategyMeetingForm):
    reason = _reason()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field("held_on"),
            Field.checkboxes("attendee_agencies", legend_size=Size.SMALL, small=True),
            Field.textarea("attendee_names", rows=3),
            Field.textarea("decisions", rows=6),
            Field("next_review"),
            Field.textarea("reason", rows=3),
            Field("version"),
            submit="Save the changes",
        )


CHALLENGE_REASON_HINT = (
    "The challenge has already been made to the other agency. The previous answer is "
    "kept and shown in the challenge's history with your reason."
)


class ChallengeCorrectForm(VersionedForm, ChallengeForm):
    """The challenge's questions and, once recorded, its outcome. The challenge has a
    question called ``reason`` of its own, so why it is being changed is
    ``change_reason``; it is always required (see ``challenge_correct``)."""

    status = ChallengeOutcomeForm.base_fields["status"]
    outcome = ChallengeOutcomeForm.base_fields["outcome"]
    change_reason = _text(
        "Why are you changing it?",
        required=True,
        message="Enter why you are changing it",
        help_text=CHALLENGE_REASON_HINT,
    )

    def __init__(self, *args: Any, child: Any, with_outcome: bool, **kwargs: Any) -> None:
        super().__init__(*args, child=child, **kwargs)
        layout = [
            Field.select("challenged_agency"),
            Field.select("episode"),
            Field.textarea("decision", rows=4),
            Field.textarea("reason", rows=4),
            Field("raised_at"),
        ]
        if with_outcome:
            layout += [
                Field.radios("status", legend_size=Size.SMALL),
                Field.textarea("outcome", rows=4),
            ]
        else:
            # An open challenge's outcome is recorded on its own page.
            del self.fields["status"]
            del self.fields["outcome"]
        self.helper = _helper(
            *layout,
            Field.textarea("change_reason", rows=3),
            Field("version"),
            submit="Save the changes",
        )
