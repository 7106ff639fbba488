"""Markdown to safe HTML in the GOV.UK styles.

Two layers, each enough on its own:

1. ``markdown-it-py`` (CommonMark) with raw HTML switched off: a ``<script>`` or an
   ``<iframe>`` typed into a page is shown as the text it is, and a link to a
   ``javascript:``, ``vbscript:`` or ``data:`` address is not made a link.
2. ``nh3`` (the Rust ``ammonia`` sanitiser) then keeps only the tags and attributes
   listed here and only ``http``, ``https`` and ``mailto`` links, and adds the GOV.UK
   classes, so no author-supplied class or attribute survives.

Headings are renumbered below the page's title, which is its only ``<h1>``: the
largest heading in the text becomes an ``<h2>`` (whether the author wrote ``#`` or
``##``), and no heading is more than one level below the one before it, so the page's
outline has no gaps for a screen reader to stumble on.
"""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_MARKDOWN.enable("table")

TAGS = {
    "a",
    "blockquote",
    "br",
    "code",
    "em",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}

_CLASSES = {
    "p": "govuk-body",
    "h2": "govuk-heading-m",
    "h3": "govuk-heading-s",
    "h4": "govuk-heading-s",
    "h5": "govuk-heading-s",
    "h6": "govuk-heading-s",
    "ul": "govuk-list govuk-list--bullet",
    "ol": "govuk-list govuk-list--number",
    "a": "govuk-link",
    "blockquote": "govuk-inset-text",
    "hr": "govuk-section-break govuk-section-break--l govuk-section-break--visible",
    "table": "govuk-table",
    "thead": "govuk-table__head",
    "tbody": "govuk-table__body",
    "tr": "govuk-table__row",
    "th": "govuk-table__header",
    "td": "govuk-table__cell",
}


def _renumber_headings(tokens: list) -> None:
    opening = [token for token in tokens if token.type == "heading_open"]
    if not opening:
        return
    top = min(int(token.tag[1]) for token in opening)
    previous = 1  # the page's title
    level_of_open: list[str] = []
    for token in tokens:
        if token.type == "heading_open":
            level = min(int(token.tag[1]) - top + 2, previous + 1, 6)
            token.tag = f"h{level}"
            level_of_open.append(token.tag)
            previous = level
        elif token.type == "heading_close":
            token.tag = level_of_open[-1]


def sanitise(html: str) -> str:
    """Keep only the listed tags, attributes and link schemes; add the GOV.UK classes."""
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={tag: {"class": value} for tag, value in _CLASSES.items()},
    )


def render_markdown(text: str) -> SafeString:
    tokens = _MARKDOWN.parse(text or "")
    _renumber_headings(tokens)
    html = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    return mark_safe(sanitise(html))  # noqa: S308 - sanitised by nh3 just above
