"""Layout objects crispy-forms-gds does not have.

``CheckboxesWithOther``: GOV.UK checkboxes whose "Other" choice reveals a text box
(the design system's conditional reveal), for "Other (say what)".
"""

from __future__ import annotations

from typing import Any

from crispy_forms.layout import TemplateNameMixin
from crispy_forms.utils import TEMPLATE_PACK, render_field
from crispy_forms_gds.layout import Field, Size
from django.template.loader import render_to_string

from ..models import OTHER_FACTOR


class CheckboxesWithOther(TemplateNameMixin):
    """Checkboxes (``field``) whose ``other_value`` choice reveals ``other_field``."""

    template = "incidents/layout/checkboxes_with_other.html"

    def __init__(self, field: str, other_field: str, *, other_value: str = OTHER_FACTOR) -> None:
        self.field = field
        self.other_field = other_field
        self.other_value = other_value
        self.fields = [field, other_field]

    def render(
        self, form: Any, context: Any, template_pack: str = TEMPLATE_PACK, **kwargs: Any
    ) -> str:
        other_html = render_field(
            Field.text(self.other_field), form, context, template_pack=template_pack
        )
        context.update(
            {
                "field": form[self.field],
                "other_html": other_html,
                "other_value": self.other_value,
                "legend_size": Size.for_legend(Size.SMALL),
            }
        )
        return render_to_string(self.template, context.flatten())
