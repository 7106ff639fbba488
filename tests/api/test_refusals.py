"""Bad input and refused callers: each a clear problem response, nothing saved."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from api.models import IdempotentRequest
from api.tokens import revoke_token, rotate_token
from incidents.models import Child, Episode
from missingkids.accounts.models import Agency, User
from missingkids.audit.models import AccessLogEntry
from tests.factories import AgencyFactory
from tests.factories.incidents import ChildFactory, EpisodeFactory

from .conftest import Caller, register, report_body

pytestmark = pytest.mark.django_db

EPISODES = "/api/v1/episodes/"
PROBLEM = "application/problem+json"


def assert_problem(response, status: int, kind: str = "about:blank") -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"] == kind
    assert problem["title"] and problem["detail"]
    assert problem["instance"] == response.wsgi_request.path
    return problem


def nothing_saved() -> None:
    assert not Episode.objects.exists()
    assert not Child.objects.exists()
    assert not IdempotentRequest.objects.exists()


@pytest.fixture
def open_episode(area_west, officer):
    child = ChildFactory(responsible_area=area_west, created_by=officer)
    return EpisodeFactory(
        child=child, created_by=officer, last_seen_at=timezone.now() - dt.timedelta(hours=3)
    )


# Who is calling ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer mk_abc_def", "Bearer not-ours", "Token abc", "Bearer a b", "Bearer é"],
)
def test_no_valid_token_is_refused(client, area_west, police_system, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.post(
        EPISODES, data=report_body(), content_type="application/json", headers=headers
    )
    problem = assert_problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "token" in problem["detail"].lower()
    nothing_saved()
    entry = AccessLogEntry.objects.get()
    assert (entry.action, entry.status_code, entry.user) == ("refused", 401, None)


def test_a_revoked_token_is_refused_and_logged_naming_the_system(
    client, area_west, police_system, admin_user
):
    system, token = police_system
    revoke_token(client=system, by=admin_user)
    problem = assert_problem(Caller(client, token).post(EPISODES, report_body()), 401)
    assert "revoked" in problem["detail"]
    nothing_saved()
    entry = AccessLogEntry.objects.get()
    assert entry.detail["api_client"] == system.name
    assert entry.username == system.user.email


def test_a_rotated_token_replaces_the_old_one(client, area_west, police_system, admin_user):
    system, old = police_system
    new = rotate_token(client=system, by=admin_user)
    assert new != old
    assert Caller(client, old).get(f"{EPISODES}?police_reference=X").status_code == 401
    assert Caller(client, new).get(f"{EPISODES}?police_reference=X").status_code == 200


def test_a_token_of_another_agency_sees_nothing_of_this_one(
    client, open_episode, area_other, admin_user
):
    other_force = AgencyFactory(
        name="Merseyside Police", kind=Agency.Kind.POLICE, areas=[area_other]
    )
    _, token = register(other_force, admin_user)
    caller = Caller(client, token)
    assert_problem(caller.get(f"{EPISODES}{open_episode.pk}/"), 404)
    body = {"found_at": timezone.now().isoformat(), "how_returned": "police"}
    assert_problem(caller.post(f"{EPISODES}{open_episode.pk}/return/", body), 404)
    open_episode.refresh_from_db()
    assert open_episode.found_at is None


def test_a_council_system_may_not_use_the_police_operations(client, council_system, open_episode):
    caller = Caller(client, council_system[1])
    problem = assert_problem(caller.post(EPISODES, report_body()), 403)
    assert "police" in problem["detail"]
    body = {"grade": "high", "rationale": "x", "graded_at": timezone.now().isoformat()}
    assert_problem(caller.post(f"{EPISODES}{open_episode.pk}/risk-gradings/", body), 403)
    # It may read what its agency may see.
    assert caller.get(f"{EPISODES}{open_episode.pk}/").status_code == 200


def test_a_police_system_without_the_operation_is_refused(client, police, admin_user, area_west):
    _, token = register(police, admin_user, operations=["record_return"])
    problem = assert_problem(Caller(client, token).post(EPISODES, report_body()), 403)
    assert "not been allowed" in problem["detail"]
    nothing_saved()


def test_the_service_user_cannot_sign_in_to_the_site(client, police_system):
    user = police_system[0].user
    assert not user.has_usable_password()
    assert user.role == User.Role.PRACTITIONER
    response = client.post("/sign-in/", {"username": user.email, "password": ""})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


# What is sent ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["{", "not json", '{"child": }', "[1, 2", "\x00", '{"a": NaN'],
)
def test_malformed_json(force, area_west, raw):
    problem = assert_problem(
        force.post(EPISODES, raw=raw), 400, "/api/v1/problems/malformed-request"
    )
    assert "JSON" in problem["detail"]
    nothing_saved()


def test_a_body_that_is_not_an_object(force, area_west):
    assert_problem(force.post(EPISODES, [1, 2]), 400, "/api/v1/problems/invalid-request")
    assert_problem(force.post(EPISODES, "text"), 400, "/api/v1/problems/invalid-request")
    nothing_saved()


def test_unknown_fields_are_named(force, area_west):
    body = report_body(colour="blue")
    body["child"]["shoe_size"] = 5
    body["flags"]["flag_unknown"] = True
    problem = assert_problem(force.post(EPISODES, body), 400, "/api/v1/problems/invalid-request")
    assert {e["field"] for e in problem["errors"]} == {"colour"}
    del body["colour"]
    problem = assert_problem(force.post(EPISODES, body), 400, "/api/v1/problems/invalid-request")
    assert {e["field"] for e in problem["errors"]} == {"child.shoe_size", "flags.flag_unknown"}
    nothing_saved()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reported_at", 12345),
        ("reported_at", "yesterday"),
        ("reported_at", "2026-13-45T10:00"),
        ("reported_at", "99999-01-01T00:00"),
        ("circumstances", 42),
        ("circumstances", ["a"]),
        ("risk", "enormous"),
        ("category", None),
        ("flags", "cse"),
        ("child__date_of_birth", "14/05/2012"),
        ("child__first_name", {"a": 1}),
        ("police_reference", "x" * 41),
        ("circumstances", "x" * 20_001),
        ("circumstances", "nul \x00 byte"),
    ],
)
def test_wrong_types_and_values_are_named(force, area_west, field, value):
    body = report_body()
    if field.startswith("child__"):
        body["child"][field.removeprefix("child__")] = value
    else:
        body[field] = value
    problem = assert_problem(force.post(EPISODES, body), 400, "/api/v1/problems/invalid-request")
    assert problem["errors"][0]["field"] == field.replace("__", ".")
    nothing_saved()


def test_a_boolean_must_be_true_or_false(force, area_west):
    body = report_body()
    body["flags"]["flag_cse"] = "yes"
    problem = assert_problem(force.post(EPISODES, body), 400, "/api/v1/problems/invalid-request")
    assert problem["errors"][0]["field"] == "flags.flag_cse"


def test_a_child_of_eighteen_is_refused_by_field(force, area_west):
    adult = (timezone.localdate() - dt.timedelta(days=19 * 365)).isoformat()
    problem = assert_problem(
        force.post(EPISODES, report_body(child__date_of_birth=adult)),
        422,
        "/api/v1/problems/validation-error",
    )
    assert problem["errors"][0]["field"] == "child.date_of_birth"
    nothing_saved()


def test_a_body_over_the_limit_is_refused_before_it_is_read(force, area_west, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    body = report_body(circumstances="x" * (1024 * 1024))
    problem = assert_problem(force.post(EPISODES, body), 413)
    assert "limit" in problem["detail"]
    nothing_saved()


def test_not_json_is_refused(force, area_west):
    response = force.post(EPISODES, raw="a=b", content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415)
    nothing_saved()


def test_an_idempotency_key_that_is_not_printable(force, area_west):
    problem = assert_problem(
        force.post(EPISODES, report_body(), key="x" * 201), 400, "/api/v1/problems/invalid-request"
    )
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    nothing_saved()


def test_a_wrong_method_and_an_unknown_address(force, open_episode):
    assert_problem(force.call("DELETE", f"{EPISODES}{open_episode.pk}/"), 405)
    assert_problem(force.get("/api/v1/children/"), 404)
    assert_problem(force.post("/api/v1/episodes"), 404)
    assert_problem(force.get(f"{EPISODES}{2**64}/"), 404)


# How often -----------------------------------------------------------------------------


def test_too_many_calls_are_refused_with_when_to_try_again(force, area_west, settings):
    settings.API_RATE_LIMIT = "3/minute"
    for _ in range(3):
        assert force.get(f"{EPISODES}?police_reference=X").status_code == 200
    response = force.get(f"{EPISODES}?police_reference=X")
    problem = assert_problem(response, 429)
    assert int(response["Retry-After"]) > 0
    assert "throttled" in problem["detail"].lower() or "expected" in problem["detail"].lower()
    assert AccessLogEntry.objects.filter(action="refused", status_code=429).count() == 1


def test_repeated_bad_tokens_are_limited_by_address(client, area_west, settings):
    settings.API_ANONYMOUS_RATE_LIMIT = "2/minute"
    caller = Caller(client, "mk_nothing_here")
    assert [caller.get(EPISODES).status_code for _ in range(3)] == [401, 401, 429]
