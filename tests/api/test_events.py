"""The events feed: the protocol events of the children the system's agency may see,
oldest first, a page at a time; scope; what an event carries; bad parameters."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from api.events import encode_cursor
from incidents.actions.base import event_record
from incidents.models import CaseEvent
from tests.factories.incidents import ChildFactory, EpisodeFactory, PlacementFactory

from .conftest import Caller, register

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"
PROBLEM = "application/problem+json"


def record(child, kind=CaseEvent.Kind.REPORTED, *, actor, episode=None, summary="Reported."):
    return event_record(child=child, episode=episode, kind=kind, actor=actor, summary=summary)


def path_of(next_url: str) -> str:
    parts = urlsplit(next_url)
    return f"{parts.path}?{parts.query}"


def follow(caller: Caller, first: str = EVENTS) -> tuple[list[dict], str]:
    """Every page from ``first`` until an empty one: (events, the last next)."""
    got: list[dict] = []
    url = first
    for _ in range(100):
        response = caller.get(url)
        assert response.status_code == 200, response.content
        page = response.json()
        url = path_of(page["next"])
        if not page["events"]:
            return got, url
        got.extend(page["events"])
    raise AssertionError("The feed did not end")


@pytest.fixture(autouse=True)
def _read_in_the_tests_transaction(request, monkeypatch) -> None:
    """These tests write events and read the feed in one transaction, the test's, which
    on PostgreSQL is still in progress while it reads, so the feed would hold its events
    back. Here nothing else writes: read them all. How the feed waits for transactions
    still in progress is tested, with real ones, in test_events_race.py."""
    if "transactional_db" not in request.fixturenames:
        monkeypatch.setattr("api.events.settled", lambda queryset, vendor: queryset)


@pytest.fixture
def west_child(area_west, officer):
    return ChildFactory(
        first_name="Amelia",
        last_name="Jones",
        police_person_reference="PP-1001",
        responsible_area=area_west,
        created_by=officer,
    )


def test_protocol_events_oldest_first_in_pages_each_once(force, west_child, officer):
    episode = EpisodeFactory(child=west_child, created_by=officer)
    recorded = [
        record(west_child, episode=episode, actor=officer, summary=f"Event {n}").pk
        for n in range(7)
    ]
    # History-only kinds are not in the feed.
    record(west_child, CaseEvent.Kind.CHILD_EDITED, actor=officer)
    record(west_child, CaseEvent.Kind.SUPERVISION_NOTE, actor=officer)

    first = force.get(f"{EVENTS}?limit=3").json()
    assert [e["id"] for e in first["events"]] == recorded[:3]
    events, last_next = follow(force, path_of(first["next"]))
    assert [e["id"] for e in first["events"] + events] == recorded

    # Nothing new: the same next again gives nothing, then what comes later.
    assert force.get(last_next).json()["events"] == []
    later = record(west_child, CaseEvent.Kind.RETURNED, episode=episode, actor=officer)
    page = force.get(last_next).json()
    assert [e["id"] for e in page["events"]] == [later.pk]


def test_an_event_carries_what_the_timeline_shows_and_no_names(force, west_child, officer):
    episode = EpisodeFactory(child=west_child, created_by=officer)
    event = event_record(
        child=west_child,
        episode=episode,
        kind=CaseEvent.Kind.RISK_REGRADED,
        actor=officer,
        occurred_at=timezone.now() - dt.timedelta(minutes=10),
        summary="Risk re-graded from Medium to High: seen with older men.",
        data={"old": "medium", "new": "high", "secret_fact": "not for the feed"},
    )
    response = force.get(EVENTS)
    (given,) = response.json()["events"]
    assert set(given) == {
        "id",
        "kind",
        "kind_label",
        "child",
        "episode",
        "occurred_at",
        "recorded_at",
        "recorded_by_agency",
        "summary",
    }
    assert given["id"] == event.pk
    assert given["kind"] == "risk_regraded"
    assert given["child"] == {
        "id": west_child.pk,
        "police_person_reference": "PP-1001",
        "la_child_id": None,
    }
    assert given["episode"] == episode.pk
    assert given["recorded_by_agency"] == officer.agency.name
    text = response.content.decode()
    for private in ("Amelia", "Jones", officer.name, officer.email, "secret_fact"):
        assert private not in text


def test_a_system_never_sees_events_of_children_its_agency_may_not_see(
    client, west_child, officer, area_east, area_other, la_east, admin_user, outsider
):
    elsewhere = ChildFactory(responsible_area=area_other, created_by=outsider)
    placed_east = ChildFactory(responsible_area=west_child.responsible_area, created_by=officer)
    PlacementFactory(child=placed_east, host_area=area_east)
    moved_away = ChildFactory(responsible_area=west_child.responsible_area, created_by=officer)
    PlacementFactory(
        child=moved_away,
        host_area=area_east,
        start=timezone.localdate() - dt.timedelta(days=300),
        end=timezone.localdate() - dt.timedelta(days=10),
    )
    west = record(west_child, actor=officer)
    outside = record(elsewhere, actor=outsider)
    hosted = record(placed_east, actor=officer)
    past = record(moved_away, actor=officer)

    _, east_token = register(la_east, admin_user, operations=[])
    east_events, _ = follow(Caller(client, east_token))
    # The host council sees the child placed in its area now, not the one placed there
    # before, nor the responsible council's other children, nor another area's.
    assert [e["id"] for e in east_events] == [hosted.pk]

    _, police_token = register(officer.agency, admin_user)
    police_events, _ = follow(Caller(client, police_token))
    assert {e["id"] for e in police_events} == {west.pk, hosted.pk, past.pk}
    assert outside.pk not in {e["id"] for e in police_events}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("after=nonsense", "after"),
        ("after=" + "A" * 200, "after"),
        (f"after={encode_cursor(0, 1)[:-2]}", "after"),
        ("after=eDE6MTox", "after"),  # "x1:1:1": not a mark this API gives
        ("since=2026-01-01", "since"),
    ],
)
def test_bad_parameters_are_named(force, west_child, query, field):
    response = force.get(f"{EVENTS}?{query}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/api/v1/problems/invalid-request"
    assert [e["field"] for e in problem["errors"]] == [field]


def test_a_cursor_past_the_largest_number_is_refused(force, west_child):
    response = force.get(f"{EVENTS}?after={encode_cursor(2**63, 1)}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "after"


def test_no_token_no_feed(client, west_child):
    response = client.get(EVENTS)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM


def test_a_page_costs_the_same_queries_however_many_events(
    force, west_child, officer, django_assert_num_queries
):
    for _ in range(3):
        record(west_child, actor=officer)
    force.get(EVENTS)  # the system's first call adds its rate limit row
    # The token's system, its rate limit count, the page of events (scope in the same
    # query), the access log.
    with django_assert_num_queries(4):
        assert len(force.get(EVENTS).json()["events"]) == 3
    for _ in range(20):
        record(west_child, actor=officer)
    with django_assert_num_queries(4):
        assert len(force.get(EVENTS).json()["events"]) == 23
