"""What every form of the service shares: length limits that speak plainly.

A box with a limit (a name of 200 characters, free text of 20,000) answers input beyond
it with a message by the field, "Enter 200 characters or fewer (you entered 250)",
rather than Django's "Ensure this value has at most ...". And the browser is not told
the limit (no ``maxlength`` attribute): it would cut pasted text short without a word,
and the person would save a truncated account believing it whole.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator


class PlainMaxLengthValidator(MaxLengthValidator):
    """Django's check, with the limit and the count written as people write numbers."""

    def __call__(self, value: Any) -> None:
        if len(value) > self.limit_value:
            raise ValidationError(
                f"Enter {self.limit_value:,} characters or fewer (you entered {len(value):,})",
                code="max_length",
            )


def plain_length_limits(form: forms.BaseForm) -> None:
    """Give every limited text field of ``form`` the plain message, and no maxlength.
    Idempotent, so it may run again after fields are added."""
    for field in form.fields.values():
        limit = getattr(field, "max_length", None)
        if not isinstance(field, forms.CharField) or limit is None:
            continue
        field.widget.attrs.pop("maxlength", None)
        if getattr(field, "_plain_length_limit", None) == limit:
            continue
        field.validators = [
            v for v in field.validators if not isinstance(v, MaxLengthValidator)
        ] + [PlainMaxLengthValidator(limit)]
        field._plain_length_limit = limit  # type: ignore[attr-defined]


class PlainLimitsMixin:
    """Applies ``plain_length_limits`` to the fields as they stand when the form is
    checked or drawn, so fields a form adds in its own ``__init__`` are covered."""

    def full_clean(self) -> None:
        plain_length_limits(self)  # type: ignore[arg-type]
        super().full_clean()  # type: ignore[misc]

    def __getitem__(self, name: str) -> Any:
        plain_length_limits(self)  # type: ignore[arg-type]
        return super().__getitem__(name)  # type: ignore[misc]


class Form(PlainLimitsMixin, forms.Form):
    """The service's base form."""


# The largest id a record can have (PostgreSQL bigint).
MAX_ID = 2**63 - 1


def could_be_id(value: Any) -> bool:
    """Digits only, and within the range of a record's id: never int() on a string of
    5,000 digits, nor on a superscript digit that str.isdigit() accepts."""
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        return False
    significant = text.lstrip("0")
    return len(significant) <= len(str(MAX_ID)) and int(significant or "0") <= MAX_ID


class RecordsChoiceField(forms.ModelMultipleChoiceField):
    """Several records by id, refusing ids no record can have with the field's message.

    Django looks the chosen ids up with ``IN``, which, unlike ``=``, passes a forged id
    beyond the database's integer range to the database (an error, not "no such record").
    """

    def _check_values(self, value: Any) -> Any:
        for pk in value or ():
            text = str(pk)
            if text.isascii() and text.isdigit() and not could_be_id(text):
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": text[:20]},
                )
        return super()._check_values(value)
