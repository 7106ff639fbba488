"""What every form of the service shares: length limits that speak plainly.

A box with a limit (a name of 200 characters, free text of 20,000) answers input beyond
it with a message by the field, "Enter 200 characters or fewer (you entered 250)",
rather than Django's "Ensure this value has at most ...". And the browser is not told
the limit (no ``maxlength`` attribute): it would cut pasted text short without a word,
and the person would save a truncated account believing it whole.

Every text box of several lines with a limit is drawn as GOV.UK's character count
(``character_counts``): "You can enter up to 20,000 characters" under the box, which
GOV.UK Frontend's script (started by static/js/init.js) turns into "You have 1,200
characters remaining" as the person types, and "... too many" beyond it, without
stopping them typing.
"""

from __future__ import annotations

from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import LayoutObject
from crispy_forms_gds.layout import Field
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


COUNTED = "govuk-js-character-count"


def _counted(form: forms.BaseForm, name: Any) -> int | None:
    """The limit of a text box of several lines, if it has one."""
    field = form.fields.get(name) if isinstance(name, str) else None
    if not isinstance(field, forms.CharField) or not isinstance(field.widget, forms.Textarea):
        return None
    return getattr(field, "max_length", None)


class Textarea(forms.Textarea):
    """A text box whose description always names its count message ("-info"), which
    crispy-forms-gds drops from a box with an error and no hint. Named as Django's, as
    crispy-forms-gds styles a box with an error by the widget's class name."""

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        info = f"{widget_attrs.get('id', '')}-info"
        described = (widget_attrs.get("aria-describedby") or "").split()
        if info not in described:
            widget_attrs["aria-describedby"] = " ".join([*described, info])
        return context


def _count(form: forms.BaseForm, item: Field, limit: int) -> None:
    field = form.fields[item.fields[0]]
    if type(field.widget) is forms.Textarea:
        field.widget = Textarea(attrs=field.widget.attrs)
    # crispy-forms-gds adds the count message's id to aria-describedby, reading the
    # attribute without a default: a box with no hint would fail to draw without it.
    field.widget.attrs.setdefault("aria-describedby", "")
    item.context["max_characters"] = limit
    # The hint before the script runs (or without it): the number as people write it.
    item.context["max_characters_text"] = f"{limit:,}"
    classes = item.attrs.get("class", "").split()
    if COUNTED not in classes:
        item.attrs["class"] = " ".join([*classes, COUNTED])


def character_counts(form: forms.BaseForm, container: Any) -> None:
    """Give every limited text box of several lines in the layout GOV.UK's character
    count, whatever its form wrote: a box named as a bare string becomes a ``Field``.
    Idempotent, so it may run each time the form is drawn."""
    items = getattr(container, "fields", None)
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        if isinstance(item, str):
            limit = _counted(form, item)
            if limit is not None:
                items[index] = item = Field.textarea(item, rows=5)
                _count(form, item, limit)
        elif isinstance(item, Field):
            limits = [_counted(form, name) for name in item.fields]
            if len(item.fields) == 1 and limits[0] is not None:
                _count(form, item, limits[0])
        elif isinstance(item, LayoutObject):
            character_counts(form, item)


class PlainLimitsMixin:
    """Applies ``plain_length_limits`` to the fields as they stand when the form is
    checked or drawn, so fields a form adds in its own ``__init__`` are covered, and
    ``character_counts`` to its layout whenever the page reads ``form.helper``."""

    @property
    def helper(self) -> FormHelper:
        helper = self.__dict__.get("_layout_helper")
        if helper is None:
            raise AttributeError("helper")  # drawn without a layout: crispy's default
        if helper.layout is not None:
            character_counts(self, helper.layout)  # type: ignore[arg-type]
        return helper

    @helper.setter
    def helper(self, value: FormHelper) -> None:
        self.__dict__["_layout_helper"] = value

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
            text = str(pk).strip()
            # A sign too: "-99999999999999999999" is read as a number just the same.
            digits = text[1:] if text[:1] in ("+", "-") else text
            if digits.isascii() and digits.isdigit() and not could_be_id(digits):
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": text[:20]},
                )
        return super()._check_values(value)
