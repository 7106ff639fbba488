"""No page of the product is open to someone who has not signed in.

Walks every URL pattern in the project (through every include, the admin's too) and
asks for each one anonymously. ``LoginRequiredMiddleware`` should send every request to
the sign-in page; the only exceptions are views marked ``@login_not_required``, which
Django records as ``view.login_required = False``. New URLs are picked up as they are
added: a pattern this walker cannot fill in fails the test rather than being skipped.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.converters import (
    IntConverter,
    PathConverter,
    SlugConverter,
    StringConverter,
    UUIDConverter,
)
from django.urls.resolvers import RegexPattern, RoutePattern

SAMPLE_UUID = str(uuid.UUID(int=1))
SAMPLES_BY_CONVERTER: dict[type, str] = {
    IntConverter: "1",
    StringConverter: "x",
    SlugConverter: "a-slug",
    UUIDConverter: SAMPLE_UUID,
    PathConverter: "x/1",
}
# Tried in order for custom converters and regex groups; the first that fits is used.
FALLBACK_SAMPLES = ["1", "x", "a-slug", SAMPLE_UUID, "2026-01-01", "x/1"]


@dataclass(frozen=True)
class Sample:
    url: str
    pattern: str  # the full pattern, to say which one failed
    name: str | None


class CannotFill(Exception):
    pass


def _fits(regex: str, value: str) -> bool:
    return re.fullmatch(regex, value) is not None


def _fill_converter(converter: Any) -> str:
    for kind, sample in SAMPLES_BY_CONVERTER.items():
        if type(converter) is kind:
            return sample
    for sample in [*FALLBACK_SAMPLES, *_app_labels()]:
        if _fits(converter.regex, sample):
            try:
                converter.to_python(sample)
            except ValueError:
                continue
            return sample
    raise CannotFill(f"no sample value fits converter {type(converter).__name__}")


def _app_labels() -> list[str]:
    return [config.label for config in apps.get_app_configs()]


def _fill_route(pattern: RoutePattern) -> str:
    route = str(pattern)
    for name, converter in pattern.converters.items():
        route = re.sub(rf"<(?:\w+:)?{name}>", _fill_converter(converter), route)
    return route


def _group_end(regex: str, start: int) -> int:
    """Index just past the group opening at ``start`` (parentheses balanced)."""
    depth = 0
    i = start
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":  # a character class may hold unescaped parentheses
            i = regex.index("]", i + 2) + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise CannotFill(f"unbalanced group in {regex!r}")


def _fill_regex(pattern: RegexPattern) -> str:
    regex = str(pattern).removeprefix("^").removesuffix("$")
    out = []
    i = 0
    while i < len(regex):
        if regex.startswith("(?P<", i):
            end = _group_end(regex, i)
            inner = regex[regex.index(">", i) + 1 : end - 1]
            sample = next((s for s in [*FALLBACK_SAMPLES, *_app_labels()] if _fits(inner, s)), None)
            if sample is None:
                raise CannotFill(f"no sample value fits group {regex[i:end]!r}")
            out.append(sample)
            i = end
        elif regex[i] == "\\" and i + 1 < len(regex):
            out.append(regex[i + 1])
            i += 2
        elif regex[i] in "()[]*+?{}|^$":
            raise CannotFill(f"unnamed regex syntax at {regex[i:]!r}; use a named group")
        else:
            out.append(regex[i])
            i += 1
    return "".join(out)


def _fill(pattern: RoutePattern | RegexPattern) -> str:
    if isinstance(pattern, RoutePattern):
        return _fill_route(pattern)
    if isinstance(pattern, RegexPattern):
        return _fill_regex(pattern)
    raise CannotFill(f"unknown pattern type {type(pattern).__name__}")


def walk(patterns: list[Any], prefix: str = "", shown: str = "") -> Iterator[Sample]:
    for entry in patterns:
        label = shown + str(entry.pattern)
        try:
            part = _fill(entry.pattern)
        except CannotFill as error:
            raise CannotFill(f"{label}: {error}") from None
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + part, label)
        elif isinstance(entry, URLPattern):
            yield Sample(url="/" + prefix + part, pattern=label, name=entry.name)


def all_samples() -> list[Sample]:
    seen: dict[str, Sample] = {}
    for sample in walk(get_resolver().url_patterns):
        # A URL shadowed by an earlier pattern (admin/login/) is asked for once.
        seen.setdefault(sample.url, sample)
    return list(seen.values())


SAMPLES = all_samples()


def test_walker_reaches_the_project_and_the_admin():
    urls = {sample.url for sample in SAMPLES}
    expected = {
        reverse("home"),
        reverse("logout"),
        reverse("admin:index"),
        reverse("admin:accounts_agency_changelist"),
        reverse("admin:accounts_agency_change", args=["x/1"]),
    }
    assert expected <= urls
    for sample in SAMPLES:
        resolve(sample.url)  # every sample URL really reaches a view


def test_the_only_open_views_are_the_sign_in_pages():
    """The list of views open to anyone is short and each entry is deliberate."""
    open_urls = {
        sample.url
        for sample in SAMPLES
        if not getattr(resolve(sample.url).func, "login_required", True)
    }
    assert reverse("login") in open_urls
    assert "/admin/login/" in open_urls  # redirects to the one sign-in page


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("sample", SAMPLES, ids=[s.url for s in SAMPLES])
def test_anonymous_request_is_sent_to_sign_in(client, sample, method):
    view = resolve(sample.url).func
    response = getattr(client, method)(sample.url)

    if not getattr(view, "login_required", True):
        # Deliberately open (marked @login_not_required): it must at least not break.
        assert response.status_code < 500, sample.pattern
        return
    assert response.status_code in (302, 404, 405), (
        f"{method.upper()} {sample.url} ({sample.pattern}) gave {response.status_code} "
        "to an anonymous visitor"
    )
    if response.status_code != 302:
        return
    # The admin sends people to its own login URL first, which passes them on to the
    # one sign-in page; follow at most a couple of hops to where they end up.
    hops = 0
    while urlsplit(response.url).path != reverse("login"):
        hops += 1
        assert hops <= 2, f"{sample.url} never reached the sign-in page"
        response = client.get(response.url)
        assert response.status_code == 302, f"{sample.url} led to a {response.status_code}"
    if hops == 0:
        assert parse_qs(urlsplit(response.url).query)["next"] == [sample.url]


@pytest.mark.django_db
def test_admin_index_comes_back_after_sign_in(client):
    # Site-wide admin views name /admin/login/ as their login URL; model pages do not.
    page = reverse("admin:index")

    response = client.get(page, follow=True)

    assert response.request["PATH_INFO"] == reverse("login")
    assert parse_qs(response.request["QUERY_STRING"]).get("next") == [page]
