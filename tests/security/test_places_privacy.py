"""Places: a place is shared by every child seen there (so hotspots show), but what one
person typed about it for one child (the address) stays with that child's episode."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from incidents.models import Episode, Location
from tests.factories.incidents import ChildFactory, EpisodeFactory, LocationFactory
from tests.incidents.test_episodes_views import report_data, return_data, when

pytestmark = pytest.mark.django_db


def report(client, child, *, address: str) -> Episode:
    data = report_data(
        last_seen_description="Friend's flat", last_seen_postcode="", last_seen_address=address
    )
    url = reverse("incidents:episode_report", args=[child.pk])
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    client.post(reverse("incidents:episode_report_check", args=[child.pk]))
    return Episode.objects.filter(child=child).get()


@pytest.fixture
def two_children(area_west, area_east, social_worker):
    return (
        ChildFactory(responsible_area=area_west, created_by=social_worker),
        ChildFactory(responsible_area=area_east, created_by=social_worker),
    )


def test_a_shared_place_never_shows_another_childs_typed_address(client, officer, two_children):
    first_child, second_child = two_children
    client.force_login(officer)
    first = report(client, first_child, address="12 Secret Street, Chester")
    second = report(client, second_child, address="99 Other Road, Crewe")

    assert first.last_seen_location == second.last_seen_location  # one place, for hotspots
    assert first.last_seen_address == "12 Secret Street, Chester"
    assert second.last_seen_address == "99 Other Road, Crewe"  # what was typed is kept
    place = second.last_seen_location
    assert place.address == ""

    page = client.get(reverse("incidents:episode_detail", args=[second.pk])).text
    assert "99 Other Road" in page and "12 Secret Street" not in page
    edit = client.get(reverse("incidents:episode_edit", args=[second.pk]))
    assert edit.context["form"].initial["last_seen_address"] == "99 Other Road, Crewe"
    assert "12 Secret Street" not in edit.text


def test_naming_the_place_without_an_address_shows_none(client, officer, two_children):
    first_child, second_child = two_children
    client.force_login(officer)
    report(client, first_child, address="12 Secret Street, Chester")
    second = report(client, second_child, address="")

    page = client.get(reverse("incidents:episode_detail", args=[second.pk])).text
    assert "Friend" in page and "12 Secret Street" not in page


def test_the_address_where_found_is_the_episodes_own(client, officer, two_children, la_west):
    second_child, _ = two_children
    LocationFactory(description="Friend's flat", postcode="", address="Someone else's note")
    episode = EpisodeFactory(
        child=second_child, last_seen_at=timezone.now() - dt.timedelta(hours=5)
    )
    client.force_login(officer)
    url = reverse("incidents:episode_return", args=[episode.pk])
    data = return_data(episode, found_address="Flat 2, 5 Bridge Street")
    data |= when("found_at", timezone.now() - dt.timedelta(minutes=5))
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors

    episode.refresh_from_db()
    assert episode.found_address == "Flat 2, 5 Bridge Street"
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).text
    assert "Flat 2, 5 Bridge Street" in page and "Someone else" not in page


def test_addresses_typed_before_move_to_the_episode_that_typed_them(two_children):
    migration = __import__(
        "incidents.migrations.0009_episode_addresses_kept_per_episode", fromlist=["x"]
    )
    first_child, second_child = two_children
    place = LocationFactory(description="Friend's flat", postcode="", address="12 Secret St")
    unused = LocationFactory(description="Nowhere", address="Kept here")
    first = EpisodeFactory(child=first_child, last_seen_location=place)
    second = EpisodeFactory(child=second_child, last_seen_location=place)

    migration.move_addresses(apps, None)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.last_seen_address, second.last_seen_address) == ("12 Secret St", "")
    assert Location.objects.get(pk=place.pk).address == ""
    assert Location.objects.get(pk=unused.pk).address == "Kept here"
