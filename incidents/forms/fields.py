"""Form fields for dates and times as people in England type them.

Dates use the GOV.UK date input (day, month, year). Date-times add a time box
(24-hour, "14:30"). What is typed is UK local time (GMT or BST, whichever applied on
that day); it is stored in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from crispy_forms_gds.fields import DateInputField
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from missingkids.policy import EARLIEST_DATE

LONDON = zoneinfo.ZoneInfo("Europe/London")
# A minute's grace for clocks that differ a little between a device and the server.
FUTURE_GRACE = dt.timedelta(minutes=1)
EARLIEST_DATE_MESSAGE = f"The date must be on or after {EARLIEST_DATE.day} {EARLIEST_DATE:%B %Y}"

_TIME = re.compile(r"^\s*(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?\s*$", re.IGNORECASE)


def parse_time(text: str) -> dt.time:
    match = _TIME.match(text or "")
    if not match:
        raise ValidationError("Enter a time like 14:30 or 2:30pm", code="invalid_time")
    hour, minute, meridiem = int(match[1]), int(match[2] or 0), (match[3] or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValidationError("Enter a time like 14:30 or 2:30pm", code="invalid_time")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ValidationError("Enter a real time, like 14:30", code="invalid_time")
    return dt.time(hour, minute)


def london_datetime(day: dt.date, time: dt.time) -> dt.datetime:
    """The aware datetime for a UK wall-clock time, refusing times that did not exist.

    When the clocks go back the hour 01:00-01:59 happens twice; the first (BST) is
    taken, as a person reporting "01:30" most often means the earlier one.
    """
    naive = dt.datetime.combine(day, time)
    aware = naive.replace(tzinfo=LONDON, fold=0)
    # A time in the hour skipped when the clocks go forward does not survive a round
    # trip through UTC.
    if aware.astimezone(dt.UTC).astimezone(LONDON).replace(tzinfo=None) != naive:
        raise ValidationError(
            "That time did not exist in the UK: the clocks went forward an hour that night",
            code="nonexistent_time",
        )
    return aware


def _number(text: Any, *, most_digits: int) -> int | None:
    """The number typed in one part of a date, or None if it is not a plain number of at
    most ``most_digits`` digits (leading zeros aside). Never int() on a string of 5,000
    digits, nor on a superscript digit that str.isdigit() accepts."""
    text = str(text or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    significant = text.lstrip("0")
    if len(significant) > most_digits:
        return None
    return int(significant or "0")


def real_date(day: Any, month: Any, year: Any) -> dt.date:
    """The date typed in the three boxes, or a message by the field naming the part that
    is wrong. However many digits are typed, the answer is a message, never an
    OverflowError or ValueError from Python's date."""
    day_number = _number(day, most_digits=2)
    if day_number is None or not 1 <= day_number <= 31:
        raise ValidationError("Day must be a real day, from 1 to 31", code="invalid_day")
    month_number = _number(month, most_digits=2)
    if month_number is None or not 1 <= month_number <= 12:
        raise ValidationError("Month must be a real month, from 1 to 12", code="invalid_month")
    year_text = str(year or "").strip()
    if len(year_text) != 4 or _number(year_text, most_digits=4) is None:
        raise ValidationError("Year must include 4 numbers", code="year_digits")
    try:
        return dt.date(int(year_text), month_number, day_number)
    except ValueError:  # 31 February, 29 February outside a leap year
        raise ValidationError("The date must be a real date", code="invalid_date") from None


def check_not_too_early(value: dt.date | dt.datetime | None) -> None:
    """No date before the service's earliest (missingkids.policy.EARLIEST_DATE)."""
    if value is None:
        return
    day = timezone.localtime(value).date() if isinstance(value, dt.datetime) else value
    if day < EARLIEST_DATE:
        raise ValidationError(EARLIEST_DATE_MESSAGE, code="too_early")


def _what(label: Any, default: str) -> str:
    """A date's name for its messages, from a label that is a name ("Date of birth"), not
    a question ("When was the child last seen?", which would read "Enter the when ...")."""
    text = str(label or "").strip()
    if not text or text.endswith("?") or text.lower().startswith("when"):
        return default
    return text[0].lower() + text[1:]


class UKDateField(DateInputField):
    """GOV.UK date input with clear messages and an optional 'not in the future' rule."""

    def __init__(
        self, *, allow_future: bool = False, what: str | None = None, **kwargs: Any
    ) -> None:
        """``what`` names the date in messages ("Enter the {what}"); by default the label,
        unless the label is a question ("When did it start?"), then just "date"."""
        self.allow_future = allow_future
        super().__init__(**kwargs)
        self.require_all_fields = False
        self.what = what or _what(self.label, "date")
        self.error_messages["required"] = f"Enter the {self.what}"
        self.error_messages["incomplete"] = f"Enter the {self.what} in full"

    def compress(self, data_list: Any) -> dt.date | None:
        day, month, year = data_list
        if not (day and month and year):
            return None
        return real_date(day, month, year)

    def validate(self, value: Any) -> None:
        super().validate(value)
        check_not_too_early(value)
        if value and not self.allow_future and value > timezone.localdate():
            raise ValidationError("The date must be today or in the past", code="future")


class DateTimeInputWidget(forms.MultiWidget):
    template_name = "incidents/widgets/datetime.html"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        part = "govuk-input govuk-date-input__input"
        widgets = [
            forms.TextInput(
                attrs={
                    "class": f"{part} govuk-input--width-2",
                    "label": "Day",
                    "inputmode": "numeric",
                }
            ),
            forms.TextInput(
                attrs={
                    "class": f"{part} govuk-input--width-2",
                    "label": "Month",
                    "inputmode": "numeric",
                }
            ),
            forms.TextInput(
                attrs={
                    "class": f"{part} govuk-input--width-4",
                    "label": "Year",
                    "inputmode": "numeric",
                }
            ),
            forms.TextInput(
                attrs={
                    "class": f"{part} govuk-input--width-5",
                    "label": "Time",
                    "placeholder": "14:30",
                }
            ),
        ]
        super().__init__(widgets, attrs)

    def decompress(self, value: dt.datetime | None) -> list[Any]:
        if value:
            local = value.astimezone(LONDON)
            return [local.day, local.month, local.year, local.strftime("%H:%M")]
        return [None, None, None, None]


class UKDateTimeField(forms.MultiValueField):
    """Day, month, year and time in UK local time; stored as an aware UTC datetime."""

    widget = DateTimeInputWidget

    def __init__(
        self, *, allow_future: bool = False, what: str | None = None, **kwargs: Any
    ) -> None:
        """``what`` names the moment in messages ("Enter the {what}"), GOV.UK style:
        "Enter the date and time the child was last seen". By default the label, unless
        the label is a question, then just "date and time"."""
        self.allow_future = allow_future
        fields = (
            forms.CharField(error_messages={"incomplete": "Enter the day"}),
            forms.CharField(error_messages={"incomplete": "Enter the month"}),
            forms.CharField(error_messages={"incomplete": "Enter the year"}),
            forms.CharField(error_messages={"incomplete": "Enter the time"}),
        )
        super().__init__(fields=fields, require_all_fields=False, **kwargs)
        self.what = what or _what(self.label, "date and time")
        self.error_messages["required"] = f"Enter the {self.what}"
        self.error_messages["incomplete"] = (
            f"Enter the {self.what} in full: day, month, year and time"
        )

    def compress(self, data_list: list[Any]) -> dt.datetime | None:
        if not data_list or not any(data_list):
            return None
        day, month, year, time_text = (list(data_list) + [None] * 4)[:4]
        if not (day and month and year and time_text):
            raise ValidationError(self.error_messages["incomplete"], code="incomplete")
        day_value = real_date(day, month, year)
        # In UTC: adding hours to a London-zoned datetime in Python counts wall-clock
        # hours, which is an hour out across a clock change.
        return london_datetime(day_value, parse_time(str(time_text))).astimezone(dt.UTC)

    def validate(self, value: Any) -> None:
        super().validate(value)
        check_not_too_early(value)
        if value and not self.allow_future and value > timezone.now() + FUTURE_GRACE:
            raise ValidationError("The date and time must not be in the future", code="future")
