"""Bad input anywhere: out-of-range ids in URLs, impossible numbers in date fields, NUL
bytes in queries, forms and headers. The answer is a 404 or a message by the field,
never a server error, and a refusal is still logged.

Walks every URL (the walker of test_url_access.py) and every form the walk finds, as
people in and out of scope. Run on PostgreSQL too (CI does): it refuses NUL in text
and numbers beyond its integer range where SQLite does not.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from incidents.forms.fields import UKDateField, UKDateTimeField
from incidents.models import CaseEvent
from missingkids.audit.models import AccessLogEntry
from tests.security.test_url_access import (
    OPEN_BY_DESIGN,
    RECORD_ROUTES,
    ROUTES,
    _fill,
    url_for,
)

pytestmark = pytest.mark.django_db
A = AccessLogEntry.Action
HUGE = "99999999999999999999"  # beyond any database integer
WALKED = [r for r in ROUTES if r.view_name not in OPEN_BY_DESIGN]
SCOPED_RECORD_ROUTES = [r for r in RECORD_ROUTES if r.view_name not in OPEN_BY_DESIGN]


def answering(client: Client) -> Client:
    """The client answers as the server would (a 500 page), rather than raising."""
    client.raise_request_exception = False
    return client


# Ids in URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["social_worker", "manager", "outsider"])
def test_out_of_range_ids_are_not_found_and_logged(client, case, request, role):
    user = request.getfixturevalue(role)
    answering(client).force_login(user)
    for route in SCOPED_RECORD_ROUTES:
        # The ids only: a file's kind (a statutory return's) is a word, not a record.
        for kwarg in (k for k in route.kwargs if k == "pk" or k.endswith("_pk")):
            kwargs = {k: int(HUGE) if k == kwarg else _fill(route, k, case) for k in route.kwargs}
            url = reverse(route.view_name, kwargs=kwargs)
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                assert response.status_code in (404, 405), (method, url, response.status_code)
            refused = AccessLogEntry.objects.filter(user=user, action=A.REFUSED, path=url)
            assert refused.exists(), url
            assert all(e.status_code in (404, 405) for e in refused)


def test_an_out_of_range_id_is_logged_by_its_path(client, outsider):
    answering(client).force_login(outsider)
    url = f"/children/{HUGE}/"
    assert client.get(url).status_code == 404
    [entry] = AccessLogEntry.objects.filter(action=A.REFUSED)
    assert (entry.path, entry.child_id, entry.status_code) == (url, None, 404)


# Queries -------------------------------------------------------------------------------------

FILTERS = ("risk", "category", "agency", "local_authority", "worker", "in_care", "out_of_area")
FILTERS += ("days", "months")
QUERIES = [
    {"page": "\x00"},
    {"page": HUGE, "timeline": HUGE, "returned_page": HUGE},
    {"search": "a\x00b", "q": "a\x00b"},
    {"format": "csv\x00"},
    {"next": "/\x00"},
    {"draft": "\x00", "check": "1"},
    {"episode": HUGE},
    # Every filter of the lists and the managers' pages.
    dict.fromkeys(FILTERS, "\x00"),
    {"agency": HUGE, "local_authority": HUGE, "days": HUGE, "months": HUGE},
]


@pytest.mark.parametrize("role", ["social_worker", "manager"])
def test_bad_queries_never_fail(client, case, request, role):
    answering(client).force_login(request.getfixturevalue(role))
    for route in WALKED:
        url = url_for(route, case)
        for params in QUERIES:
            response = client.get(url, params)
            assert response.status_code < 500, (url, params, response.status_code)


# Forms ---------------------------------------------------------------------------------------


def form_fields(html: str) -> list[str]:
    names = set(re.findall(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"', html))
    return sorted(names - {"csrfmiddlewaretoken"})


def date_parts(names: list[str]) -> set[str]:
    """The prefixes of GOV.UK date inputs: name_0 (day), name_1 (month), name_2 (year)."""
    return {n[:-2] for n in names if n.endswith("_0") and f"{n[:-2]}_2" in names}


def with_huge(names: list[str], part: str) -> dict[str, str]:
    """A real-looking date everywhere, but one part (day, month or year) impossible."""
    values = {"_0": "1", "_1": "1", "_2": "2020", "_3": "12:00"}
    data: dict[str, str] = {}
    for name in names:
        data[name] = next((v for s, v in values.items() if name.endswith(s)), "x")
        if name.endswith(part):
            data[name] = HUGE
    return data


@pytest.mark.parametrize("role", ["social_worker", "officer", "provider_worker", "manager"])
def test_every_form_answers_bad_input_with_messages(client, case, request, role):
    answering(client).force_login(request.getfixturevalue(role))
    forms_with_dates = []
    for route in WALKED:
        url = url_for(route, case)
        page = client.get(url)
        # A download (streamed) has no form to fill.
        shown = page.status_code == 200 and not page.streaming
        names = form_fields(page.content.decode()) if shown else []
        if not names:
            continue
        events = CaseEvent.objects.count()
        attempts = {"NUL in every field": dict.fromkeys(names, "a\x00b")}
        if date_parts(names):
            forms_with_dates.append(route.view_name)
            for part, what in (("_0", "day"), ("_1", "month"), ("_2", "year")):
                attempts[f"huge {what}"] = with_huge(names, part)
        for what, data in attempts.items():
            response = client.post(url, data)
            assert response.status_code < 500, (route.view_name, what, response.status_code)
            if response.status_code == 200 and what.startswith("huge "):
                html = response.content.decode()
                assert "govuk-error-summary" in html, (route.view_name, what)
        assert CaseEvent.objects.count() == events, route.view_name  # nothing saved
        # Last, as digits are fine in a text box and this may save: but never a failure.
        response = client.post(url, dict.fromkeys(names, HUGE))
        assert response.status_code < 500, (route.view_name, "huge", response.status_code)
    assert forms_with_dates  # the walk reached the date inputs


@pytest.mark.parametrize(
    "parts",
    [
        [HUGE, "1", "2020"],
        ["1", HUGE, "2020"],
        ["1", "1", HUGE],
        ["99", "99", "2020"],
        ["1" * 5000, "1", "2020"],
        ["²", "1", "2020"],
    ],
)
def test_date_fields_say_the_date_is_not_real(parts):
    field = UKDateField(label="Date of the meeting")
    with pytest.raises(Exception) as caught:
        field.clean(parts)
    assert caught.type.__name__ == "ValidationError"
    timed = UKDateTimeField(label="When")
    with pytest.raises(Exception) as caught:
        timed.clean([*parts, "12:00"])
    assert caught.type.__name__ == "ValidationError"


# Signing in ----------------------------------------------------------------------------------


def test_nul_in_headers_and_sign_in_fields_never_fails(officer):
    browser = answering(Client(HTTP_USER_AGENT="Mozilla\x00", HTTP_ACCEPT="text/html\x00"))
    wrong = browser.post(reverse("login"), {"username": officer.email, "password": "Wrong-1"})
    assert wrong.status_code == 200
    assert AccessLogEntry.objects.filter(action=A.SIGN_IN_FAILED).exists()
    nul = browser.post(reverse("login"), {"username": "a\x00@example.org", "password": "x\x00"})
    assert nul.status_code == 200
    forwarded = answering(Client(HTTP_X_FORWARDED_FOR="203.0.113.9\x00, ::1\x00"))
    assert forwarded.post(reverse("login"), {"username": officer.email}).status_code == 200
