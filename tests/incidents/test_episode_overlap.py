"""One child is missing once at a time: a child's episodes never overlap.

Each episode covers the time from last seen until found (open-ended while the child is
still missing). The actions refuse an overlap with a message by the field; on
PostgreSQL an exclusion constraint refuses it from any writer (migration incidents
0012), and an action that loses a race to it still answers with the message.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from incidents.actions import episodes as actions
from incidents.models import Episode
from tests.factories.incidents import ChildFactory, EpisodeFactory
from tests.incidents.test_episodes_actions import errors_of, report

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def child(area_west, social_worker, la_west, provider):
    return ChildFactory(responsible_area=area_west, created_by=social_worker)


@pytest.fixture
def returned(child):
    """An episode last seen 30 hours ago, found 20 hours ago."""
    now = timezone.now()
    return EpisodeFactory(child=child, last_seen_at=now - 30 * HOUR, found_at=now - 20 * HOUR)


def test_a_new_episode_may_start_when_the_last_one_ended(officer, child, returned):
    episode = report(
        officer, child, last_seen_at=returned.found_at, reported_at=returned.found_at + HOUR
    )
    assert episode.last_seen_at == returned.found_at


def test_a_new_episode_last_seen_before_the_last_return_is_refused(officer, child, returned):
    last_seen = returned.found_at - HOUR
    with pytest.raises(ValidationError) as excinfo:
        report(officer, child, last_seen_at=last_seen, reported_at=returned.found_at + HOUR)
    [message] = errors_of(excinfo)["last_seen_at"]
    assert "overlaps the child's episode last seen" in message
    assert Episode.objects.filter(child=child).count() == 1


def test_an_open_episode_blocks_another(officer, child):
    report(officer, child)
    with pytest.raises(ValidationError) as excinfo:
        report(officer, child, last_seen_at=timezone.now() - 20 * HOUR)
    assert errors_of(excinfo)["__all__"] == [actions.OPEN_EPISODE_MESSAGE]


def test_editing_last_seen_into_an_earlier_episode_is_refused(social_worker, child, returned):
    now = timezone.now()
    later = EpisodeFactory(child=child, last_seen_at=now - 10 * HOUR, reported_at=now - 9 * HOUR)
    with pytest.raises(ValidationError) as excinfo:
        actions.episode_update(
            acting_user=social_worker,
            episode=later,
            expected_version=later.version,
            last_seen_at=returned.found_at - HOUR,
        )
    assert "overlaps" in errors_of(excinfo)["last_seen_at"][0]
    later.refresh_from_db()
    assert later.last_seen_at == now - 10 * HOUR


def test_correcting_a_return_into_the_next_episode_is_refused(officer, child, returned):
    now = timezone.now()
    later = EpisodeFactory(child=child, last_seen_at=now - 10 * HOUR, reported_at=now - 9 * HOUR)
    with pytest.raises(ValidationError) as excinfo:
        actions.episode_correct_return_time(
            acting_user=officer,
            episode=returned,
            expected_version=returned.version,
            found_at=later.last_seen_at + HOUR,
            reason="Typed the wrong day",
        )
    assert "overlaps" in errors_of(excinfo)["found_at"][0]


def test_the_report_page_says_why(client, officer, child, returned):
    client.force_login(officer)
    seen = timezone.localtime(returned.found_at - HOUR)
    reported = timezone.localtime(returned.found_at + HOUR)
    url = reverse("incidents:episode_report", kwargs={"child_pk": child.pk})
    response = client.post(
        url,
        {
            "category": Episode.Category.MISSING,
            "reported_at_0": reported.day,
            "reported_at_1": reported.month,
            "reported_at_2": reported.year,
            "reported_at_3": reported.strftime("%H:%M"),
            "reported_by_name": "Carer",
            "last_seen_at_0": seen.day,
            "last_seen_at_1": seen.month,
            "last_seen_at_2": seen.year,
            "last_seen_at_3": seen.strftime("%H:%M"),
            "circumstances": "Went out",
            "risk": "medium",
            "risk_rationale": "Known to go to the same place",
        },
    )
    assert response.status_code == 200
    assert "overlaps the child&#x27;s episode last seen" in response.content.decode()
    assert Episode.objects.filter(child=child).count() == 1


# The database's own rule (PostgreSQL) ---------------------------------------------------


@pytest.mark.postgres
def test_the_database_refuses_overlapping_episodes_from_any_writer(child, returned):
    with pytest.raises(IntegrityError), transaction.atomic():
        EpisodeFactory(
            child=child,
            last_seen_at=returned.found_at - HOUR,
            reported_at=returned.found_at,
            found_at=returned.found_at + HOUR,
        )
    # Touching is not overlapping, and another child's episode is no concern of it.
    EpisodeFactory(child=child, last_seen_at=returned.found_at, reported_at=returned.found_at)
    EpisodeFactory(last_seen_at=returned.last_seen_at, reported_at=returned.found_at)


@pytest.mark.postgres
def test_the_database_refuses_moving_a_return_into_the_next_episode(child, returned):
    later = EpisodeFactory(child=child, last_seen_at=returned.found_at + HOUR)
    with pytest.raises(IntegrityError), transaction.atomic():
        Episode.objects.filter(pk=returned.pk).update(found_at=later.last_seen_at + HOUR)


@pytest.mark.postgres
def test_an_action_losing_the_race_gives_the_message(officer, child, returned, monkeypatch):
    # Another report committed between the action's check and its insert: the check
    # sees nothing, the database refuses, and the person gets the same message.
    real = actions.overlapping_episode
    calls: list[int] = []

    def first_sees_nothing(*args, **kwargs):
        calls.append(1)
        return None if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(actions, "overlapping_episode", first_sees_nothing)
    with pytest.raises(ValidationError) as excinfo:
        report(
            officer,
            child,
            last_seen_at=returned.found_at - HOUR,
            reported_at=returned.found_at + HOUR,
        )
    assert "overlaps" in errors_of(excinfo)["last_seen_at"][0]
    assert Episode.objects.filter(child=child).count() == 1
