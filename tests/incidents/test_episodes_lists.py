"""The open episodes list and my agency's recent work."""

from __future__ import annotations

import datetime as dt
import html
import re

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


def test_open_list_returned_in_the_order_interviews_fall_due(client, social_worker, west_child):
    """Soonest due first: the order the returns were first recorded in, whatever the
    time found was corrected to."""
    now = timezone.now()

    def returned(first_found_hours: int, found_hours: int) -> Episode:
        first = now - dt.timedelta(hours=first_found_hours)
        return ReturnInterviewFactory(
            episode__child=west_child(),
            episode__last_seen_at=now - dt.timedelta(hours=40),
            episode__found_at=now - dt.timedelta(hours=found_hours),
            episode__first_found_at=first,
        ).episode

    later = returned(5, 5)
    corrected = returned(10, 2)
    soonest = returned(20, 20)
    client.force_login(social_worker)
    response = client.get(OPEN)
    order = [row["episode"] for row in response.context["returned_rows"]]
    assert order == [soonest, corrected, later]


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


def next_href(response, label: str) -> str:
    """The "Next page" link of the list named ``label``."""
    found = re.search(
        rf'aria-label="{label}: pages">.*?href="([^"]*)" rel="next"',
        response.content.decode(),
        re.S,
    )
    return html.unescape(found[1]) if found else ""


def test_open_list_pages_by_key(client, social_worker, west_child):
    made = [missing(west_child(), risk="medium", rank=3, hours=60 - n) for n in range(27)]
    client.force_login(social_worker)
    first = client.get(OPEN)
    assert [row["episode"] for row in first.context["rows"]] == made[:25]
    assert "27 episodes." in first.content.decode()
    link = next_href(first, "Missing or away now")
    assert "after=" in link and "page=" not in link
    second = client.get(OPEN + link)
    assert [row["episode"] for row in second.context["rows"]] == made[25:]
    assert second.context["missing"]["number"] == 2
    assert 'rel="first"' in second.content.decode()
    assert not next_href(second, "Missing or away now")
    # An altered key starts again at the first page rather than failing.
    again = client.get(OPEN, {"after": "not-a-key"})
    assert again.status_code == 200
    assert [row["episode"] for row in again.context["rows"]] == made[:25]


def test_open_list_next_page_keeps_the_filters_and_the_other_list(
    client, social_worker, west_child
):
    highs = [missing(west_child(), risk="high", rank=4, hours=60 - n) for n in range(26)]
    missing(west_child(), risk="low", rank=2, hours=100)
    now = timezone.now()
    returned = [
        ReturnInterviewFactory(
            episode__child=west_child(),
            episode__last_seen_at=now - dt.timedelta(hours=40),
            episode__found_at=now - dt.timedelta(hours=30 - n),
            episode__first_found_at=now - dt.timedelta(hours=30 - n),
        ).episode
        for n in range(27)
    ]
    client.force_login(social_worker)
    first = client.get(OPEN, {"risk": "high"})
    returned_link = next_href(first, "Returned, steps outstanding")
    second = client.get(OPEN + returned_link)
    assert [row["episode"] for row in second.context["returned_rows"]] == returned[25:]
    # The missing list stays on its first page, with its filter.
    assert [row["episode"] for row in second.context["rows"]] == highs[:25]
    missing_link = next_href(second, "Missing or away now")
    third = client.get(OPEN + missing_link)
    assert [row["episode"] for row in third.context["rows"]] == highs[25:]
    assert [row["episode"] for row in third.context["returned_rows"]] == returned[25:]


def test_open_list_counts_up_to_a_bound(client, social_worker, west_child, monkeypatch):
    from missingkids import keyset

    monkeypatch.setattr(keyset, "COUNTED_AT_MOST", 3)
    monkeypatch.setattr(keyset.counted, "__defaults__", (3,))
    for n in range(5):
        missing(west_child(), risk="medium", rank=3, hours=n + 1)
    client.force_login(social_worker)
    response = client.get(OPEN)
    assert "More than 3 episodes." in response.content.decode()
    assert len(response.context["rows"]) == 5


@pytest.mark.parametrize("count", [2, 10])
def test_open_list_query_count_is_fixed(
    client, social_worker, west_child, count, django_assert_num_queries
):
    for n in range(count):
        missing(west_child(), risk="high", rank=4, hours=n + 1)
        ReturnInterviewFactory(episode__child=west_child())
    client.force_login(social_worker)
    client.get(OPEN)
    # Session, user, a count (up to a bound) and a page for each of the two sections,
    # and the user's agency for the page header; the access log entry.
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
