"""Forms for agreed actions: what, which agency (and, if wanted, which person) owns it,
and by when; then, for the owner agency, done (what happened) or no longer needed (why).

The owner questions are ``incidents.forms.owners``'.
"""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.layout import Field, Size
from django import forms

from ..models import Child
from .interviews import VersionedForm, _helper, _required, _text
from .owners import add_owner_fields, owner_layout


class AgreedActionAddForm(forms.Form):
    """An action agreed at a return interview, a strategy meeting or a supervision note
    of this child, chosen from those this person may record."""

    source = forms.ChoiceField(
        label="Where was it agreed?",
        widget=forms.RadioSelect,
        error_messages=_required("Select where the action was agreed"),
    )
    description = _text("Action", help_text="What will be done, for the child.")

    def __init__(self, *args: Any, child: Child, sources: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = sources
        add_owner_fields(self, child)
        self.helper = _helper(
            Field.radios("source", legend_size=Size.SMALL),
            Field.textarea("description", rows=4),
            *owner_layout(),
            submit="Save the action",
        )


class AgreedActionDoneForm(VersionedForm):
    what_happened = _text(
        "What happened?",
        required=True,
        message="Enter what happened",
        help_text="What was done, by whom and when, and what difference it made.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.textarea("what_happened", rows=6),
            Field("version"),
            submit="Mark as done",
        )


class AgreedActionNotNeededForm(VersionedForm):
    reason = _text(
        "Why is it no longer needed?",
        required=True,
        message="Enter why the action is no longer needed",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Field.textarea("reason", rows=4),
            Field("version"),
            submit="Save: no longer needed",
        )


class AgreedActionReopenForm(VersionedForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(Field("version"), submit="Reopen the action")
