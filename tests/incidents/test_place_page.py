"""A place's page at scale: the latest children seen or found there, a page at a time
(a keyset "Older" link), in the same queries however busy the place is."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.views import story as views
from missingkids.audit.models import AccessLogEntry
from tests.factories.incidents import ChildFactory, EpisodeFactory, LocationFactory

# The session, the person, their verified device and their agency; the child; the
# place; the latest episodes last seen there and found there; the counts for the
# children shown; the access log.
PLACE_PAGE_QUERIES = 4 + views.PLACE_QUERIES + 1


@pytest.fixture
def place(db):
    return LocationFactory(description="Bus station", postcode="CH1 1AA")


@pytest.fixture
def child(area_west, social_worker, la_west):
    return ChildFactory(first_name="Ella", last_name="Jones", responsible_area=area_west)


def _episode(child, place, hours_ago: float, **fields):
    return EpisodeFactory(
        child=child,
        last_seen_location=fields.pop("last_seen_location", place),
        last_seen_at=timezone.now() - dt.timedelta(hours=hours_ago),
        found_at=timezone.now() - dt.timedelta(hours=hours_ago - 1),
        **fields,
    )


def _names(html: str) -> list[str]:
    table = html.split('data-testid="place-children"', 1)[-1].split("</table>", 1)[0]
    return re.findall(r'href="/children/\d+/">([^<]+)</a>', table)


def _counts(html: str, name: str) -> list[str]:
    table = html.split('data-testid="place-children"', 1)[-1]
    row = table.split(f">{name}</a>", 1)[1].split("</tr>", 1)[0]
    return re.findall(r'numeric">(\d+)<', row)


def _older(html: str) -> str:
    found = re.search(r'href="(\?before=[^"]+)" rel="next"', html)
    return found.group(1).replace("&amp;", "&") if found else ""


def test_children_latest_first_a_page_at_a_time(
    client, social_worker, child, place, area_west, area_other, monkeypatch
):
    monkeypatch.setattr(views, "PLACE_EPISODES", 3)
    others = [
        ChildFactory(first_name=f"Child{n}", last_name="Seen", responsible_area=area_west)
        for n in range(5)
    ]
    _episode(child, place, 1)  # the newest
    for n, other in enumerate(others):
        _episode(other, place, 10 + n)
    # Found here, last seen elsewhere: counted as found here.
    _episode(others[4], place, 50, last_seen_location=LocationFactory(), found_location=place)
    # An older episode of Ella's: she stays on the first page only.
    _episode(child, place, 100)
    unseen = ChildFactory(first_name="Unseen", responsible_area=area_other)
    _episode(unseen, place, 2)
    url = reverse("incidents:place_detail", args=[child.pk, place.pk])
    client.force_login(social_worker)

    first = client.get(url).text
    assert _names(first) == ["Ella Jones", "Child0 Seen", "Child1 Seen"]
    assert "Unseen" not in first
    # Ella's counts are over all her episodes here, not only those on the page.
    assert _counts(first, "Ella Jones") == ["2", "0"]
    entry = AccessLogEntry.objects.filter(path=url).latest("id")
    assert entry.detail["children_shown"] == [child.pk, others[0].pk, others[1].pk]

    second = client.get(url + _older(first)).text
    assert _names(second) == ["Child2 Seen", "Child3 Seen", "Child4 Seen"]
    assert _counts(second, "Child4 Seen") == ["1", "1"]
    assert "Back to the latest" in second

    # The last page: Ella's older episode, but she was shown on the first page.
    third = client.get(url + _older(second)).text
    assert _names(third) == []
    assert 'data-testid="place-no-more"' in third
    assert _older(third) == ""


@pytest.mark.parametrize(
    "before",
    ["nonsense", "2026-13-45T10:00:00_5", "_", "2026-01-01T00:00:00_²", "2026-01-01_9" * 50],
)
def test_a_cursor_that_makes_no_sense_shows_the_first_page(
    client, social_worker, child, place, before
):
    _episode(child, place, 1)
    client.force_login(social_worker)
    url = reverse("incidents:place_detail", args=[child.pk, place.pk])
    response = client.get(url, {"before": before})
    assert response.status_code == 200
    assert _names(response.text) == ["Ella Jones"]


def test_not_found_for_an_outsider_or_a_place_none_of_their_children_went(
    client, social_worker, outsider, child, place
):
    _episode(child, place, 1)
    client.force_login(social_worker)
    elsewhere = reverse("incidents:place_detail", args=[child.pk, LocationFactory().pk])
    assert client.get(elsewhere).status_code == 404
    client.force_login(outsider)
    url = reverse("incidents:place_detail", args=[child.pk, place.pk])
    assert client.get(url).status_code == 404


def test_the_same_queries_for_a_quiet_place_and_a_busy_one(
    client, social_worker, child, place, area_west, django_assert_num_queries
):
    _episode(child, place, 1)
    url = reverse("incidents:place_detail", args=[child.pk, place.pk])
    client.force_login(social_worker)
    client.get(url)
    with django_assert_num_queries(PLACE_PAGE_QUERIES):
        client.get(url)
    for n in range(views.PLACE_EPISODES + 5):
        other = ChildFactory(responsible_area=area_west)
        _episode(other, place, 2 + n, found_location=place)
    with django_assert_num_queries(PLACE_PAGE_QUERIES):
        busy = client.get(url).text
    assert len(_names(busy)) <= views.PLACE_EPISODES
    with django_assert_num_queries(PLACE_PAGE_QUERIES):
        client.get(url + _older(busy))
