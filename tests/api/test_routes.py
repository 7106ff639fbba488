"""Every URL of the API, walked as tests/security/test_url_access.py walks the site's
(which leaves the API to this file): refused without a token, a 404 to another
agency's system for a real record exactly as for a missing one, and every call in the
access log."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from incidents.models import Child, Episode
from missingkids.accounts.models import Agency
from missingkids.audit.models import AccessLogEntry
from tests.factories import AgencyFactory

from .conftest import Caller, register, report_body

pytestmark = pytest.mark.django_db


def _api_routes() -> dict[str, tuple[str, ...]]:
    (api,) = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and entry.namespace == "api"
    ]
    return {
        f"api:{p.name}": tuple(p.pattern.regex.groupindex)
        for p in api.url_patterns
        if isinstance(p, URLPattern)
    }


ROUTES = _api_routes()
# Not a record's page: the OpenAPI document (open to all, no personal data) and the
# answer for any other address.
OPEN = {"api:schema", "api:not_found"}
RECORD_ROUTES = sorted(name for name, kwargs in ROUTES.items() if kwargs and name not in OPEN)
KNOWN = {
    "api:schema",
    "api:not_found",
    "api:episodes",
    "api:episode",
    "api:episode_risk_gradings",
    "api:episode_return",
    "api:episode_safe_and_well",
    "api:child",
    "api:events",
}


def test_every_api_url_is_known_here():
    assert set(ROUTES) == KNOWN, "A new API URL: add it here and give it tests in tests/api."
    assert all(
        kwargs in (("pk",), ("la_child_id",))
        for name, kwargs in ROUTES.items()
        if name in RECORD_ROUTES
    )


@pytest.fixture
def episode(force, area_west) -> Episode:
    force.post("/api/v1/episodes/", report_body())
    return Episode.objects.get()


def _kwargs(name: str, episode: Episode, real: bool = True) -> dict[str, object]:
    """The URL's record: the episode, or its child by the council's identifier."""
    if ROUTES[name] == ("la_child_id",):
        if real:
            Child.objects.filter(pk=episode.child_id).update(la_child_id="C100")
        return {"la_child_id": "C100" if real else "NONE"}
    return {"pk": episode.pk if real else 999999} if ROUTES[name] else {}


@pytest.mark.parametrize("name", sorted(set(ROUTES) - OPEN))
def test_no_token_is_refused_everywhere(client, episode, name):
    url = reverse(name, kwargs=_kwargs(name, episode))
    for method in ("get", "post"):
        response = getattr(client, method)(url, content_type="application/json")
        assert response.status_code == 401, (name, method)
        assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("name", RECORD_ROUTES)
def test_another_agency_finds_a_real_record_as_missing(
    client, episode, area_other, admin_user, name
):
    other = AgencyFactory(name="Merseyside Police", kind=Agency.Kind.POLICE, areas=[area_other])
    caller = Caller(client, register(other, admin_user)[1])
    real_url = reverse(name, kwargs=_kwargs(name, episode))
    missing_url = reverse(name, kwargs=_kwargs(name, episode, real=False))
    for method in ("GET", "POST"):
        real = caller.call(method, real_url, {})
        missing = caller.call(method, missing_url, {})
        assert real.status_code == missing.status_code, (name, method)
        assert real.status_code in (404, 405), (name, method)
        assert real.json()["detail"] == missing.json()["detail"]
    refused = AccessLogEntry.objects.filter(path=real_url, action="refused")
    assert refused.count() == 2
    assert all(e.detail["api_client"] == "Merseyside Police system" for e in refused)
