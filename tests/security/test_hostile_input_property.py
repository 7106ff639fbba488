"""Hostile input, as a property: whatever is typed into any form, or put in any query
string, the answer is never a server error, and a form that answers with errors has
saved nothing.

Every form the service draws is found by walking the URL resolver (the walker of
test_url_access.py) with the ids of a child who has one of everything recorded, and
asking each page as someone who may use it; the admin's add and change pages are
asked as a partnership admin. Hypothesis then posts each form with some of its fields
(or all) replaced by hostile values: any text (NUL bytes, any script, control
characters), huge numbers, 20-digit and 5,000-digit strings, text just over the
20,000-character limit, dates that no calendar has. The other fields keep the values
the page drew, so the hostile one reaches the checks behind the easy ones.

After each post: no 5xx; and if the page answered with errors (the error summary, or
the admin's error note) or refused (4xx), the number of rows of every table is as it
was. The access log and the session store are left out: they record the request, by
design.

Then every page is asked with hostile query strings (filters, page numbers, ids,
search words, the admin's list filters).

The number of examples is fixed per form (``FORM_EXAMPLES``, ``QUERY_EXAMPLES``), so
the test takes the same time in CI (derandomised by the "ci" profile) and on a
developer's machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from guidance.defaults import add_missing_shipped_pages
from missingkids.policy import FREE_TEXT_MAX_LENGTH
from tests.security.test_url_access import OPEN_BY_DESIGN, ROUTES, url_for

pytestmark = pytest.mark.django_db

FORM_EXAMPLES = 5
ADMIN_FORM_EXAMPLES = 3
QUERY_EXAMPLES = 3
# Pages whose form ends the session the test signs in with.
SIGNS_OUT = {"logout", "account_sign_out_everywhere"}
CASE_ROLES = ("manager", "social_worker", "officer", "provider_worker")
# Rows these tables gain on any request: who asked for what, and the session.
RECORDS_EVERY_REQUEST = {"audit.accesslogentry", "sessions.session"}
RECORDS_EVERY_REQUEST |= {"axes.accessattempt", "axes.accesslog", "axes.accessfailurelog"}

CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
CHECKS.append(HealthCheck.function_scoped_fixture)


# Hostile values ---------------------------------------------------------------------------

HUGE = "99999999999999999999"
FIXED = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "-1",
    "0",
    HUGE,
    "-" + HUGE,
    "9" * 5000,
    "1e309",
    "NaN",
    "٣",  # an Arabic-Indic digit: str.isdigit() says yes, int() says yes, a calendar no
    "²",  # a superscript two: str.isdigit() says yes, int() says no
    "x" * (FREE_TEXT_MAX_LENGTH + 1),
    "31",
    "13",
    "29",
    "0001",
    "1",
    "24:60",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\u202e\ufeff\u200b",
]
hostile = st.one_of(
    st.sampled_from(FIXED),
    st.text(max_size=40),
    st.integers().map(str),
    st.text(alphabet="0123456789", min_size=15, max_size=60),
    st.floats().map(str),
)


# Forms as the page draws them -----------------------------------------------------------


@dataclass
class DrawnForm:
    method: str
    action: str
    values: dict[str, list[str]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted(self.values)


class FormReader(HTMLParser):
    """The forms of a page, each with the values a browser would send as drawn."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[DrawnForm] = []
        self._form: DrawnForm | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._textarea: str | None = None

    def _add(self, name: str, value: str) -> None:
        if self._form is not None:
            self._form.values.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = DrawnForm(a.get("method", "get").lower(), a.get("action", ""))
            self.forms.append(self._form)
        elif self._form is None or ("name" not in a and tag != "option"):
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            self._form.values.setdefault(a["name"], [])
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._add(a["name"], a.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "textarea":
            self._textarea = a["name"]
            self._form.values.setdefault(a["name"], [])
        elif tag == "select":
            self._select, self._select_first, self._select_chosen = a["name"], None, False
            self._form.values.setdefault(a["name"], [])
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                self._select_chosen = True
                self._add(self._select, value)

    def handle_data(self, data: str) -> None:
        if self._textarea and self._form is not None:
            self._form.values[self._textarea] = [data]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select:
            if not self._select_chosen and self._select_first is not None:
                self._add(self._select, self._select_first)
            self._select = None


def forms_of(html: str, url: str) -> list[DrawnForm]:
    """The page's forms that post back to the page itself (not the header's sign-out)."""
    reader = FormReader()
    reader.feed(html)
    path = urlsplit(url).path
    return [
        form
        for form in reader.forms
        if form.values
        and urlsplit(form.action or url).path == path
        and set(form.values) - {"csrfmiddlewaretoken"}
    ]


# The pages ------------------------------------------------------------------------------


def answering(client: Client) -> Client:
    client.raise_request_exception = False
    return client


def case_pages(case) -> Iterator[tuple[str, str]]:
    """(view name, URL) of every page of the service but the admin's."""
    for route in ROUTES:
        if route.view_name in OPEN_BY_DESIGN | SIGNS_OUT:
            continue
        yield route.view_name, url_for(route, case)


def admin_pages() -> Iterator[tuple[str, str]]:
    """The admin's list, add and change pages for every model it offers."""
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        base = f"admin:{meta.app_label}_{meta.model_name}"
        first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
        for suffix, args in (("changelist", []), ("add", []), ("change", [first])):
            if suffix == "change" and first is None:
                continue
            try:
                yield f"{base}_{suffix}", reverse(f"{base}_{suffix}", args=args)
            except NoReverseMatch:
                continue
        del model_admin


def row_counts() -> dict[str, int]:
    return {
        model._meta.label_lower: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.label_lower not in RECORDS_EVERY_REQUEST and not model._meta.proxy
    }


def answered_with_errors(response) -> bool:
    if 400 <= response.status_code < 500:
        return True
    if response.status_code != 200:
        return False
    html = response.content.decode(errors="replace")
    return "govuk-error-summary" in html or 'class="errornote"' in html


def page_forms(client: Client, pages, users) -> list[tuple[str, str, object, DrawnForm]]:
    """Each (page, URL, user, form) with the first user to whom the page draws a form."""
    found = []
    for name, url in pages:
        for user in users:
            client.force_login(user)
            response = client.get(url)
            if response.status_code != 200 or response.streaming:  # a download
                continue
            forms = forms_of(response.content.decode(), url)
            if forms:
                found.extend((name, url, user, form) for form in forms)
                break
    return found


def fuzz_form(
    client: Client, name: str, url: str, user, form: DrawnForm, examples: int = FORM_EXAMPLES
) -> None:
    names = [n for n in form.names if n != "csrfmiddlewaretoken"]

    @settings(max_examples=examples, deadline=None, suppress_health_check=CHECKS)
    @given(
        chosen=st.one_of(st.just(names), st.lists(st.sampled_from(names), min_size=1)),
        values=st.lists(hostile, min_size=len(names), max_size=len(names)),
    )
    def posting(chosen: list[str], values: list[str]) -> None:
        data = {n: list(v) for n, v in form.values.items()}
        for field_name, value in zip(names, values, strict=True):
            if field_name in chosen:
                data[field_name] = [value]
        client.force_login(user)
        before = row_counts()
        send = client.get if form.method == "get" else client.post
        response = send(url, data)
        assert response.status_code < 500, (name, form.method, data)
        if answered_with_errors(response):
            assert row_counts() == before, (name, "saved in part", data)

    posting()


# The tests ------------------------------------------------------------------------------


def test_every_case_form_takes_hostile_input(client, case, request):
    answering(client)
    add_missing_shipped_pages()  # guidance to change, whatever an earlier test emptied
    # Then a partnership admin, for the service's own pages that only they may change
    # (practice guidance).
    users = [request.getfixturevalue(role) for role in (*CASE_ROLES, "admin_user")]
    found = page_forms(client, case_pages(case), users)
    names = {name for name, *_ in found}
    # The walk reached the forms that matter (a change in the pages shows up here).
    assert {
        "incidents:child_edit",
        "incidents:episode_edit",
        "incidents:episode_report",
        "incidents:episode_return",
        "incidents:interview_held",
        "incidents:strategy_meeting_add",
        "notifications:record_told",
        "guidance:edit",
        "guidance:add",
    } <= names, sorted(names)
    for name, url, user, form in found:
        fuzz_form(client, name, url, user, form)


def test_every_admin_form_takes_hostile_input(client, case, admin_user):
    answering(client)
    found = page_forms(client, admin_pages(), [admin_user])
    names = {name for name, *_ in found}
    assert {"admin:accounts_user_add", "admin:accounts_agency_change"} <= names, sorted(names)
    for name, url, user, form in found:
        fuzz_form(client, name, url, user, form, examples=ADMIN_FORM_EXAMPLES)


def test_signing_in_takes_hostile_input(client, officer):
    answering(client)

    @settings(max_examples=FORM_EXAMPLES * 4, deadline=None, suppress_health_check=CHECKS)
    @given(username=st.one_of(hostile, st.emails()), password=hostile)
    @example(username="a" * 300 + "@example.org", password="x")
    @example(username=officer.email + "\x00", password="\x00")
    def signing_in(username: str, password: str) -> None:
        # Each try from a clean slate: once locked out, a try is refused before it is
        # checked (or recorded), which would hide what the checks do with the input.
        AccessAttempt.objects.all().delete()
        response = client.post(reverse("login"), {"username": username, "password": password})
        assert response.status_code < 500, (username[:50], password[:50])

    signing_in()


QUERY_KEYS = [
    "page",
    "q",
    "search",
    "risk",
    "category",
    "agency",
    "local_authority",
    "worker",
    "in_care",
    "out_of_area",
    "days",
    "months",
    "period",
    "format",
    "next",
    "episode",
    "timeline",
    "returned_page",
    "draft",
    "check",
    # The admin's lists.
    "o",
    "p",
    "e",
    "_changelist_filters",
    "agency__id__exact",
    "agency__kind__exact",
    "role__exact",
    "is_active__exact",
    "active__exact",
]


def get_with_hostile_queries(client: Client, pages, user) -> None:
    for name, url in pages:
        ask_with_hostile_queries(client, name, url, user)


def ask_with_hostile_queries(client: Client, name: str, url: str, user) -> None:
    @settings(max_examples=QUERY_EXAMPLES, deadline=None, suppress_health_check=CHECKS)
    @given(
        query=st.dictionaries(
            st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=10)),
            hostile,
            min_size=1,
            max_size=6,
        )
    )
    def asking(query: dict[str, str]) -> None:
        client.force_login(user)
        response = client.get(url, query)
        assert response.status_code < 500, (name, query)

    asking()


def test_every_page_takes_hostile_query_strings(client, case, manager, social_worker):
    answering(client)
    get_with_hostile_queries(client, list(case_pages(case)), manager)
    routes = [(n, u) for n, u in case_pages(case) if not re.match(r"oversight:", n)]
    get_with_hostile_queries(client, routes[:8], social_worker)


def test_every_admin_page_takes_hostile_query_strings(client, case, admin_user):
    answering(client)
    get_with_hostile_queries(client, list(admin_pages()), admin_user)
