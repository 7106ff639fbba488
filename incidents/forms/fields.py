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

LONDON = zoneinfo.ZoneInfo("Europe/London")
# A minute's grace for clocks that differ a little between a device and the server.
FUTURE_GRACE = dt.timedelta(minutes=1)
# The longest free text a box accepts (about 3,000 words): ample for any account, and it
# keeps a pasted or forged megabyte out of the record with a message saying why.
FREE_TEXT_MAX_LENGTH = 20_000

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


def _real_date(day: Any, month: Any, year: Any) -> dt.date:
    """The date typed, or the message by the field: a day of 99999999999999999999 is an
    OverflowError in Python's date, not a ValueError, and must not become a server error."""
    try:
        return dt.date(int(year), int(month), int(day))
    except (ValueError, OverflowError):
        raise ValidationError("The date must be a real date", code="invalid_date") from None


class RecordsChoiceField(forms.ModelMultipleChoiceField):
    """Several records by id, refusing ids no record can have with the field's message.

    Django looks the chosen ids up with ``IN``, which, unlike ``=``, passes a forged id
    beyond the database's integer range to the database (an error, not "no such record").
    """

    MAX_ID = 2**63 - 1

    def _check_values(self, value: Any) -> Any:
        for pk in value or ():
            text = str(pk)
            if text.isdigit() and int(text) > self.MAX_ID:
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": text[:20]},
                )
        return super()._check_values(value)


class UKDateField(DateInputField):
    """GOV.UK date input with clear messages and an optional 'not in the future' rule."""

    def __init__(self, *, allow_future: bool = False, **kwargs: Any) -> None:
        self.allow_future = allow_future
        super().__init__(**kwargs)
        self.require_all_fields = False
        self.error_messages["required"] = f"Enter the {self._what()}"
        self.error_messages["incomplete"] = f"Enter the {self._what()} in full"

    def _what(self) -> str:
        return str(self.label).lower() if self.label else "date"

    def compress(self, data_list: Any) -> dt.date | None:
        day, month, year = data_list
        if not (day and month and year):
            return None
        if len(str(year)) != 4:
            raise ValidationError("The year must include 4 numbers", code="year_digits")
        return _real_date(day, month, year)

    def validate(self, value: Any) -> None:
        super().validate(value)
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

    def __init__(self, *, allow_future: bool = False, **kwargs: Any) -> None:
        self.allow_future = allow_future
        fields = (
            forms.CharField(error_messages={"incomplete": "Enter the day"}),
            forms.CharField(error_messages={"incomplete": "Enter the month"}),
            forms.CharField(error_messages={"incomplete": "Enter the year"}),
            forms.CharField(error_messages={"incomplete": "Enter the time"}),
        )
        super().__init__(fields=fields, require_all_fields=False, **kwargs)
        what = str(self.label).lower() if self.label else "date and time"
        self.error_messages["required"] = f"Enter the {what}"
        self.error_messages["incomplete"] = f"Enter the {what} in full: day, month, year and time"

    def compress(self, data_list: list[Any]) -> dt.datetime | None:
        if not data_list or not any(data_list):
            return None
        day, month, year, time_text = (list(data_list) + [None] * 4)[:4]
        if not (day and month and year and time_text):
            raise ValidationError(self.error_messages["incomplete"], code="incomplete")
        if not (str(day).isdigit() and str(month).isdigit() and str(year).isdigit()):
            raise ValidationError("The date must be a real date", code="invalid_date")
        if len(str(year)) != 4:
            raise ValidationError("The year must include 4 numbers", code="year_digits")
        day_value = _real_date(day, month, year)
        # In UTC: adding hours to a London-zoned datetime in Python counts wall-clock
        # hours, which is an hour out across a clock change.
        return london_datetime(day_value, parse_time(str(time_text))).astimezone(dt.UTC)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and not self.allow_future and value > timezone.now() + FUTURE_GRACE:
            raise ValidationError("The date and time must not be in the future", code="future")
