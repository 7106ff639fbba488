"""Layout tags shared by every page (loaded as template builtins, see settings.TEMPLATES).

``{% stacked_table %}…{% endstacked_table %}`` wraps a GOV.UK table that becomes stacked
rows below the tablet breakpoint: every body cell gets its column's heading as a
``data-label`` attribute, which the stylesheet (``.app-table--stacked``) shows above
the cell's value on a phone. The headings are written once, in the table's ``<thead>``,
so a table cannot show one heading on a desktop and another on a phone. Explicit ARIA
table roles are added because some screen readers stop treating a table as a table
once its CSS display changes.

``{{ form|applied_filters }}`` counts the filters a list's filter form has applied,
for the "Filter" disclosure's summary; ``{{ form|form_fingerprint }}`` is what the
drawn form is kept under.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

from django import forms, template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_TAG = re.compile(r"<(/?)(table|thead|tbody|tfoot|tr|th|td)\b([^>]*)>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]+>")
_HIDDEN = re.compile(r'<span class="govuk-visually-hidden">.*?</span>', re.IGNORECASE | re.DOTALL)
_COLSPAN = re.compile(r'colspan="(\d+)"', re.IGNORECASE)
_ROLES = {
    "table": "table",
    "thead": "rowgroup",
    "tbody": "rowgroup",
    "tfoot": "rowgroup",
    "tr": "row",
    "td": "cell",
}


def _text(fragment: str) -> str:
    """What a heading says on screen (visually hidden text is left out)."""
    visible = _ANY_TAG.sub("", _HIDDEN.sub("", fragment))
    return " ".join(html.unescape(visible).split())


def _with(attrs: str, extra: str, *, first: bool) -> str:
    """The tag's attributes with ``extra`` added, before them (cells) or after."""
    if not extra:
        return attrs
    return f" {extra}{attrs}" if first else f"{attrs.rstrip()} {extra}"


def _add_class(attrs: str, css: str) -> str:
    match = re.search(r'class="([^"]*)"', attrs)
    if match:
        return f'{attrs[: match.start()]}class="{match.group(1)} {css}"{attrs[match.end() :]}'
    return f'{attrs} class="{css}"'


def stack(table_html: str) -> str:
    """``table_html`` with the stacked-rows class, data-label on each body cell, and roles.

    The templates' own markup is the input: attribute values never contain ``>``
    (Django escapes it), so a regular expression finds the table's tags reliably.
    """
    labels: list[str] = []
    out: list[str] = []
    position = 0
    section = ""
    column = 0
    header_start: int | None = None
    for match in _TAG.finditer(table_html):
        closing, name, attrs = match.group(1), match.group(2).lower(), match.group(3)
        out.append(table_html[position : match.start()])
        position = match.end()
        if closing:
            if name in ("thead", "tbody", "tfoot"):
                section = ""
            if name == "th" and section == "thead" and header_start is not None:
                labels.append(_text(table_html[header_start : match.start()]))
                header_start = None
            out.append(match.group(0))
            continue
        extra = ""
        if name == "table":
            attrs = _add_class(attrs, "app-table--stacked")
        if name in ("thead", "tbody", "tfoot"):
            section = name
        if name == "tr":
            column = 0
        if name in ("th", "td"):
            span = _COLSPAN.search(attrs)
            if section == "thead" and name == "th":
                header_start = match.end()
                extra = 'role="columnheader"'
            else:
                label = labels[column] if column < len(labels) else ""
                role = "rowheader" if name == "th" else "cell"
                extra = f'role="{role}"'
                if label and "data-label=" not in attrs:
                    extra += f' data-label="{html.escape(label, quote=True)}"'
            column += int(span.group(1)) if span else 1
        elif name in _ROLES:
            extra = f'role="{_ROLES[name]}"'
        # A cell's own attributes stay last, next to its content, as the template wrote
        # them; a row's or table's stay first.
        out.append(f"<{name}{_with(attrs, extra, first=name in ('th', 'td'))}>")
    out.append(table_html[position:])
    return "".join(out)


class StackedTableNode(template.Node):
    def __init__(self, nodelist: template.NodeList) -> None:
        self.nodelist = nodelist

    def render(self, context: template.Context) -> SafeString:
        # The content was rendered (and escaped) by the template engine: only tags are
        # rewritten here, so marking the result safe adds nothing unescaped.
        return mark_safe(stack(self.nodelist.render(context)))  # noqa: S308


@register.tag
def stacked_table(parser: template.base.Parser, token: template.base.Token) -> StackedTableNode:
    nodelist = parser.parse(("endstacked_table",))
    parser.delete_first_token()
    return StackedTableNode(nodelist)


def _is_default(field: forms.Field, value: Any) -> bool:
    if value in (None, "", [], ()):
        return True
    if isinstance(value, list | tuple) and not any(value):
        return True
    if field.initial not in (None, "") and str(value) == str(field.initial):
        return True
    if isinstance(field, forms.ModelChoiceField):
        return False  # its empty choice is "", handled above; listing it would query
    # A choice list's first option is what an unfiltered list shows ("Any risk").
    choices = list(getattr(field, "choices", []) or [])
    return bool(choices) and str(value) == str(choices[0][0])


@register.filter
def applied_filters(form: forms.Form | None) -> int:
    """How many of the filter form's fields hold something other than their default."""
    if form is None or not getattr(form, "is_bound", False):
        return 0
    return sum(1 for bound in form if not _is_default(bound.field, bound.value()))


@register.filter
def form_fingerprint(form: forms.Form) -> str:
    """Everything a filter form's HTML is drawn from, hashed: its class, what was
    submitted, each field's label, hint, default and choices (a list of agencies read
    once here, then drawn from the list), and today's date (a date's check may depend
    on it). ``includes/filter.html`` keeps the drawn form under it for a few minutes
    (``{% cache %}``): drawing a form through crispy's and the widgets' templates took
    a third of a manager's list page, and the same few forms are drawn all day."""
    parts: list[Any] = [
        type(form).__module__,
        type(form).__qualname__,
        form.prefix,
        timezone.localdate().isoformat(),
        form.is_bound,
        _submitted(form.data),
        sorted((str(k), repr(v)) for k, v in form.initial.items()),
    ]
    for name, field in form.fields.items():
        choices = None
        if isinstance(field, forms.ChoiceField):
            # Through iter(): list() would first ask a model choice field for its length
            # (a COUNT query).
            listed = list(iter(field.choices))
            field.choices = listed  # drawn from the list, not read again
            choices = [(str(value), str(label)) for value, label in listed]
        parts.append(
            (
                name,
                type(field).__name__,
                str(field.label),
                str(field.help_text),
                field.required,
                repr(field.initial),
                type(field.widget).__name__,
                sorted((str(k), str(v)) for k, v in field.widget.attrs.items()),
                choices,
            )
        )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _submitted(data: Any) -> list[tuple[str, str]]:
    """What was submitted, every value of every name (a QueryDict's lists, or a dict's
    values), in a stable order."""
    if hasattr(data, "lists"):
        return sorted((str(name), repr(values)) for name, values in data.lists())
    return sorted((str(name), repr(value)) for name, value in data.items())
