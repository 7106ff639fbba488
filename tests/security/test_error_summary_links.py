"""Every error-summary link lands on an input that exists (GOV.UK error summary).

Walks every page (the walker of test_url_access.py), as each kind of person in scope,
and submits each form it finds twice: empty, then with "x" in every box. Wherever the
page comes back with "There is a problem", each link in the summary must point at an
element on the page: the first box of a date, the first option of radios and
checkboxes, the box itself otherwise; and no message is one of Django's defaults,
which do not say what to do, nor a date's question read as its name ("Enter the when
was ...").
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.security.test_url_access import OPEN_BY_DESIGN, ROUTES, url_for

IN_SCOPE = ["social_worker", "officer", "provider_worker", "manager"]
# Django's defaults, which say nothing about the question (GOV.UK: "Enter your e-mail
# address", ...), and a date's question read as its name. (A forged choice, which no
# browser can send, may keep Django's "Select a valid choice".)
GENERIC_MESSAGES = [
    "This field is required.",
    "Enter a valid email address.",
    "Enter a valid date.",
    "Enter a valid value.",
    "Enter a whole number.",
    "Enter the when",
]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.summary_links: list[str] = []
        self.forms: list[dict[str, str]] = []  # the names of each post form's fields
        self._in_summary = 0
        self._form: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        classes = values.get("class", "").split()
        if "govuk-error-summary" in classes:
            self._in_summary = 1
        elif self._in_summary and tag == "div":
            self._in_summary += 1
        if self._in_summary and tag == "a" and values.get("href", "").startswith("#"):
            self.summary_links.append(values["href"][1:])
        if tag == "form" and values.get("method", "").lower() == "post":
            self._form = {"__action__": values.get("action", "")}
            self.forms.append(self._form)
        if self._form is not None and tag in ("input", "textarea", "select"):
            name = values.get("name", "")
            kind = values.get("type", "text")
            if name and name != "csrfmiddlewaretoken" and kind not in ("hidden", "submit"):
                self._form[name] = kind

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if self._in_summary and tag == "div":
            self._in_summary -= 1


def parse(response) -> _Page:
    page = _Page()
    page.feed(response.content.decode(errors="replace"))
    return page


@pytest.mark.parametrize("role", IN_SCOPE)
def test_every_error_summary_link_has_a_target(client, case, request, role):
    client.force_login(request.getfixturevalue(role))
    checked, broken, vague = 0, [], []
    for route in ROUTES:
        if route.view_name in OPEN_BY_DESIGN:
            continue
        url = url_for(route, case)
        shown = client.get(url)
        if shown.status_code != 200 or shown.streaming:  # a download has no form
            continue
        for form in parse(shown).forms:
            action = form.pop("__action__") or url
            if not action.startswith("/") or "sign-out" in action:
                continue
            for data in ({}, dict.fromkeys(form, "x")):
                answer = client.post(action, data)
                if answer.status_code != 200:
                    continue
                page = parse(answer)
                text = answer.content.decode(errors="replace")
                for generic in GENERIC_MESSAGES:
                    if generic in text:
                        vague.append(f"{route.view_name}: {generic}")
                for target in page.summary_links:
                    checked += 1
                    if target not in page.ids:
                        broken.append(f"{route.view_name}: #{target}")
    assert not broken, f"error-summary links with no target: {sorted(set(broken))}"
    assert not vague, f"messages that do not say what to do: {sorted(set(vague))}"
    assert checked > 50, checked
