"""Template filters for the GOV.UK form patterns the service's own templates render."""

from __future__ import annotations

from django import forms, template
from django.forms.boundfield import BoundField

register = template.Library()


def first_input_id(field: BoundField) -> str:
    """The id of the first input of a question, where an error-summary link or a
    check-your-answers "Change" link must land (GOV.UK error summary guidance).

    Date parts are rendered by Django's MultiWidget, numbered from 0 (the day);
    crispy-forms-gds numbers radios and checkboxes from 1 (the first option).
    """
    widget = field.field.widget
    if isinstance(widget, (forms.RadioSelect, forms.CheckboxSelectMultiple)):
        return f"{field.auto_id}_1"
    if isinstance(widget, forms.MultiWidget):
        return f"{field.auto_id}_0"
    return field.auto_id


register.filter("first_input_id", first_input_id)
