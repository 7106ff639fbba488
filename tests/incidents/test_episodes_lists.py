"""The open episodes list and my agency's recent work."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import CaseEvent, Episode
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from missingkids.audit.log import ACCESS_LOG_QUERIES
from tests.factories.incidents import (
    CaseEventFactory,
    ChildFactory,
    EpisodeFactory,
    ReturnInterviewFactory,
)

OPEN = reverse("incidents:episode_list_open")
RECENT = reverse("incidents:recent_work")


@pytest.fixture
def west_child(area_west, social_worker):
    def make(**kwargs):
        return ChildFactory(responsible_area=area_west, created_by=social_worker, **kwargs)

    return make


def missing(child, *, risk: str, rank: int, hours: int, **kwargs) -> Episode:
    return EpisodeFactory(
        child=child,
        risk=risk,
        risk_rank=rank,
        last_seen_at=timezone.now() - dt.timedelta(hours=hours),
        **kwargs,
    )


def test_open_list_orders_highest_risk_then_longest(client, social_worker, west_child):
    low_long = missing(west_child(), risk="low", rank=2, hours=50)
    high_recent = missing(west_child(), risk="high", rank=4, hours=2)
    high_long = missing(west_child(), risk="high", rank=4, hours=30)
    medium = missing(west_child(), risk="medium", rank=3, hours=5)
    client.force_login(social_worker)
    response = client.get(OPEN)
    assert response.status_code == 200
    order = [row["episode"].pk for row in response.context["rows"]]
    assert order == [high_long.pk, high_recent.pk, medium.pk, low_long.pk]
    content = response.content.decode()
    assert "2 days 2 h" in content
    assert high_long.child.full_name in content


def test_open_list_hides_children_out_of_scope_and_returned(
    client, social_worker, west_child, area_other
):
    mine = missing(west_child(), risk="low", rank=2, hours=3)
    other = missing(ChildFactory(responsible_area=area_other), risk="high", rank=4, hours=3)
    returned = ReturnInterviewFactory(episode__child=west_child()).episode
    client.force_login(social_worker)
    response = client.get(OPEN)
    assert [row["episode"] for row in response.context["rows"]] == [mine]
    assert other.child.full_name not in response.content.decode()
    assert [row["episode"] for row in response.context["returned_rows"]] == [returned]


def test_open_list_filters(client, social_worker, west_child):
    high = missing(west_child(), risk="high", rank=4, hours=3)
    missing(west_child(), risk="low", rank=2, hours=3)
    client.force_login(social_worker)
    response = client.get(OPEN, {"risk": "high", "category": "missing"})
    assert [row["episode"] for row in response.context["rows"]] == [high]
    response = client.get(OPEN, {"category": "away"})
    assert response.context["rows"] == []
    assert "with these filters" in response.content.decode()


def test_open_list_returned_section_shows_interview_due(client, social_worker, west_child):
    found = timezone.now() - dt.timedelta(hours=80)
    ReturnInterviewFactory(
        episode__child=west_child(),
        episode__last_seen_at=found - dt.timedelta(hours=3),
        episode__found_at=found,
    )
    client.force_login(social_worker)
    response = client.get(OPEN)
    row = response.context["returned_rows"][0]
    assert row["overdue"] is True
    assert "Overdue" in response.content.decode()


def test_open_list_paginates(client, social_worker, west_child):
    for hours in range(27):
        missing(west_child(), risk="medium", rank=3, hours=hours + 1)
    client.force_login(social_worker)
    first = client.get(OPEN)
    assert len(first.context["rows"]) == 25
    assert 'rel="next"' in first.content.decode()
    second = client.get(OPEN, {"page": 2})
    assert len(second.context["rows"]) == 2


@pytest.mark.parametrize("count", [2, 10])
def test_open_list_query_count_is_fixed(
    client, social_worker, west_child, count, django_assert_num_queries
):
    for n in range(count):
        missing(west_child(), risk="high", rank=4, hours=n + 1)
        ReturnInterviewFactory(episode__child=west_child())
    client.force_login(social_worker)
    client.get(OPEN)
    # Session, user, a count and a page for each of the two sections, and the user's
    # agency for the page header; the access log entry.
    with django_assert_num_queries(7 + TWO_FACTOR_QUERIES + ACCESS_LOG_QUERIES):
        response = client.get(OPEN)
    assert len(response.context["rows"]) == count
    assert len(response.context["returned_rows"]) == count


def test_open_list_wrong_method_and_admin(client, social_worker, admin_user, west_child):
    missing(west_child(), risk="high", rank=4, hours=1)
    client.force_login(social_worker)
    assert client.post(OPEN).status_code == 405
    client.force_login(admin_user)
    response = client.get(OPEN)
    assert response.status_code == 200
    assert response.context["rows"] == []


def test_open_list_outsider_sees_none(client, outsider, west_child):
    missing(west_child(), risk="high", rank=4, hours=1)
    client.force_login(outsider)
    assert client.get(OPEN).context["rows"] == []


# Recent work ----------------------------------------------------------------------------


def test_recent_work_shows_my_agency_newest_first(
    client, social_worker, manager, officer, west_child
):
    child = west_child()
    now = timezone.now()
    older = CaseEventFactory(
        child=child, actor=manager, recorded_at=now - dt.timedelta(days=2), summary="Older"
    )
    newer = CaseEventFactory(
        child=child, actor=social_worker, recorded_at=now - dt.timedelta(hours=1), summary="New"
    )
    CaseEventFactory(child=child, actor=officer, summary="Police work")
    CaseEventFactory(
        child=child, actor=manager, recorded_at=now - dt.timedelta(days=31), summary="Too old"
    )
    client.force_login(social_worker)
    response = client.get(RECENT)
    assert response.status_code == 200
    assert list(response.context["page"]) == [newer, older]
    content = response.content.decode()
    assert "Police work" not in content
    assert "Too old" not in content


def test_recent_work_only_children_in_scope(client, social_worker, area_other):
    # An event by my agency about a child I can no longer see stays hidden.
    elsewhere = ChildFactory(responsible_area=area_other)
    CaseEventFactory(child=elsewhere, actor=social_worker, summary="Out of scope")
    client.force_login(social_worker)
    response = client.get(RECENT)
    assert list(response.context["page"]) == []
    assert client.post(RECENT).status_code == 405


@pytest.mark.parametrize("count", [2, 10])
def test_recent_work_query_count_is_fixed(
    client, social_worker, west_child, count, django_assert_num_queries
):
    for _ in range(count):
        episode = EpisodeFactory(child=west_child())
        CaseEventFactory(
            child=episode.child,
            episode=episode,
            actor=social_worker,
            kind=CaseEvent.Kind.REPORTED,
        )
        CaseEventFactory(child=west_child(), actor=social_worker)
    client.force_login(social_worker)
    client.get(RECENT)
    # Session, user, the agency, a count and a page; the access log entry.
    with django_assert_num_queries(5 + TWO_FACTOR_QUERIES + ACCESS_LOG_QUERIES):
        response = client.get(RECENT)
    assert len(response.context["page"]) == 2 * count
