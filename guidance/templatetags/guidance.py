"""``{% guidance_link "report" %}``: the partnership's guidance for a step, in context.

Opens in a new tab (and says so), so a half-filled form is not lost by reading it. No
query: the page's address and the words of the link come from ``guidance.steps``.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from guidance.steps import step

register = template.Library()


@register.simple_tag
def guidance_link(name: str) -> SafeString:
    linked = step(name)
    return format_html(
        '<p class="govuk-body app-guidance-link" data-testid="guidance-link">'
        '<a class="govuk-link" href="{}" target="_blank" rel="noopener">{} '
        "(opens in new tab)</a></p>",
        reverse("guidance:page", args=[linked.slug]),
        linked.link_text,
    )
