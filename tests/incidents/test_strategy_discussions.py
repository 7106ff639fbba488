"""The strategy discussion due when a child is still missing 24 hours after last seen:
its state for one episode, the same rule in SQL for the lists, and the episode page."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from incidents import strategy_discussions as discussions
from incidents.models import Episode, StrategyMeeting
from incidents.strategy_discussions import State
from missingkids import policy
from tests.factories.incidents import ChildFactory, EpisodeFactory

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC
H = dt.timedelta(hours=1)
S = dt.timedelta(seconds=1)
# A Tuesday in November (GMT).
NOW = dt.datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def child(area_west, social_worker):
    return ChildFactory(first_name="Ella", responsible_area=area_west, created_by=social_worker)


def missing(child, *, last_seen: dt.datetime, found: dt.datetime | None = None) -> Episode:
    last_seen = last_seen.astimezone(UTC)
    return EpisodeFactory(
        child=child,
        last_seen_at=last_seen,
        reported_at=last_seen + dt.timedelta(minutes=10),
        found_at=found.astimezone(UTC) if found else None,
    )


def meeting(child, held_on: dt.date, manager) -> StrategyMeeting:
    return StrategyMeeting.objects.create(
        child=child, held_on=held_on, decisions="Search plan agreed", recorded_by=manager
    )


def state(episode: Episode, now: dt.datetime = NOW) -> State:
    """The state as the episode page works it out, the meeting found by the SQL."""
    row = discussions.with_strategy_meeting(Episode.objects.filter(pk=episode.pk)).get()
    return discussions.strategy_discussion(row, held_on=row.strategy_meeting_on, now=now).state


def in_lists(episode: Episode, now: dt.datetime = NOW) -> tuple[bool, bool]:
    """(needing a discussion, overdue or missed) as the lists' SQL says."""
    one = Episode.objects.filter(pk=episode.pk)
    return (
        discussions.needing_strategy_discussion(one).exists(),
        discussions.strategy_discussions_overdue(one, now).exists(),
    )


def test_due_24_real_hours_after_last_seen():
    assert dt.timedelta(hours=24) == policy.strategy_discussion_due_after()
    episode = Episode(last_seen_at=NOW)
    assert episode.strategy_discussion_due_at == NOW + 24 * H


def test_still_missing_due_then_overdue_strictly_after_the_deadline(child):
    episode = missing(child, last_seen=NOW - 24 * H)
    assert state(episode) == State.DUE  # due exactly now: not yet late
    assert in_lists(episode) == (True, False)
    assert state(episode, NOW + S) == State.OVERDUE
    assert in_lists(episode, NOW + S) == (True, True)


def test_found_before_24_hours_needs_no_discussion(child):
    early = missing(child, last_seen=NOW - 40 * H, found=NOW - 40 * H + 23 * H)
    assert state(early) == State.NOT_NEEDED
    assert in_lists(early) == (False, False)


def test_found_exactly_at_24_hours_was_found_in_time(child):
    # As the "still missing at 24 hours" escalation treats it.
    on_time = missing(child, last_seen=NOW - 40 * H, found=NOW - 40 * H + 24 * H)
    assert state(on_time) == State.NOT_NEEDED
    assert in_lists(on_time) == (False, False)


def test_found_after_24_hours_without_a_meeting_was_missed_until_closed(child, manager):
    late = missing(child, last_seen=NOW - 40 * H, found=NOW - 40 * H + 24 * H + S)
    assert state(late) == State.MISSED
    assert in_lists(late) == (True, True)
    late.closed_at, late.closed_by, late.closure_reason = NOW, manager, "All done"
    late.save()
    # The episode page still says it was missed; the lists no longer chase it.
    assert state(late) == State.MISSED
    assert in_lists(late) == (False, False)


def test_a_meeting_since_the_episode_began_meets_it_even_late(child, manager):
    episode = missing(child, last_seen=NOW - 60 * H, found=NOW - 10 * H)
    assert state(episode) == State.MISSED
    meeting(child, NOW.date(), manager)  # after the child was found: late, but held
    assert state(episode) == State.HELD
    assert in_lists(episode) == (False, False)


def test_a_meeting_before_the_episode_began_does_not_count(child, manager):
    episode = missing(child, last_seen=NOW - 30 * H)
    meeting(child, (NOW - 30 * H).date() - dt.timedelta(days=1), manager)
    assert state(episode) == State.OVERDUE
    assert in_lists(episode) == (True, True)
    # One held the day the episode began counts (meetings are recorded by date).
    meeting(child, (NOW - 30 * H).date(), manager)
    assert state(episode) == State.HELD
    assert in_lists(episode) == (False, False)


def test_another_childs_meeting_does_not_count(child, manager, area_west, social_worker):
    episode = missing(child, last_seen=NOW - 30 * H)
    other = ChildFactory(responsible_area=area_west, created_by=social_worker)
    meeting(other, NOW.date(), manager)
    assert state(episode) == State.OVERDUE


def test_the_day_the_episode_began_is_the_uk_date(child, manager):
    # Last seen at 00:30 BST on Sunday 25 October 2026, which is 23:30 UTC on the 24th:
    # a meeting on the 24th was before the episode began, one on the 25th was not.
    last_seen = dt.datetime(2026, 10, 25, 0, 30, tzinfo=LONDON)
    assert last_seen.astimezone(UTC).date() == dt.date(2026, 10, 24)
    episode = missing(child, last_seen=last_seen)
    later = last_seen + 30 * H
    meeting(child, dt.date(2026, 10, 24), manager)
    assert state(episode, later) == State.OVERDUE
    assert in_lists(episode, later) == (True, True)
    meeting(child, dt.date(2026, 10, 25), manager)
    assert state(episode, later) == State.HELD
    assert in_lists(episode, later) == (False, False)


def test_the_deadline_is_real_hours_across_the_october_clock_change(child):
    # Last seen 12:00 BST on Saturday 24 October 2026; the clocks go back at 02:00 on
    # the 25th, so 24 real hours later is 11:00 GMT on Sunday, not 12:00.
    last_seen = dt.datetime(2026, 10, 24, 12, 0, tzinfo=LONDON)
    episode = missing(child, last_seen=last_seen)
    deadline = dt.datetime(2026, 10, 25, 11, 0, tzinfo=LONDON)
    assert episode.strategy_discussion_due_at == deadline
    assert state(episode, deadline) == State.DUE
    assert in_lists(episode, deadline) == (True, False)
    assert state(episode, deadline + S) == State.OVERDUE
    assert in_lists(episode, deadline + S) == (True, True)
    # Found at 11:30 GMT: after the deadline, although less than 24 clock-face hours.
    episode.found_at = dt.datetime(2026, 10, 25, 11, 30, tzinfo=LONDON)
    episode.save()
    assert state(episode, deadline + 2 * H) == State.MISSED
    assert in_lists(episode, deadline + 2 * H) == (True, True)


def test_an_earlier_meeting_passed_by_mistake_is_ignored(child):
    episode = missing(child, last_seen=NOW - 30 * H)
    before = (NOW - 30 * H).date() - dt.timedelta(days=3)
    assert discussions.strategy_discussion(episode, held_on=before, now=NOW).state == (
        State.OVERDUE
    )


# The episode page ------------------------------------------------------------------------


def step(client, episode: Episode) -> dict:
    response = client.get(reverse("incidents:episode_detail", args=[episode.pk]))
    assert response.status_code == 200
    return next(s for s in response.context["steps"] if s["name"] == "Strategy discussion")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_episode_page_shows_due_by_with_a_link_to_record_for_managers(
    client, frozen, child, manager, social_worker
):
    episode = missing(child, last_seen=NOW - 3 * H)
    client.force_login(manager)
    shown = step(client, episode)
    assert shown["status"] == {"text": "To do", "css": "govuk-tag--blue"}
    assert shown["hint"] == "Due by 11 Nov 2026 09:00 if still missing"
    record = reverse("incidents:strategy_meeting_add", args=[child.pk])
    assert shown["url"] == record
    assert client.get(record).status_code == 200
    # Only managers record strategy meetings: no link for a practitioner.
    client.force_login(social_worker)
    assert step(client, episode)["url"] == ""


def test_episode_page_shows_overdue_missed_and_not_needed(client, frozen, child, social_worker):
    client.force_login(social_worker)
    overdue = missing(child, last_seen=NOW - 30 * H)
    shown = step(client, overdue)
    assert shown["status"] == {"text": "Overdue", "css": "govuk-tag--red"}
    assert shown["hint"] == "Was due by 10 Nov 2026 06:00: still missing"
    overdue.found_at = NOW - 2 * H
    overdue.save()
    shown = step(client, overdue)
    assert shown["status"] == {"text": "Missed", "css": "govuk-tag--red"}
    assert "found after it, no strategy meeting recorded" in shown["hint"]
    early = missing(child, last_seen=NOW - 80 * H, found=NOW - 70 * H)
    shown = step(client, early)
    assert shown["status"]["text"] == "Not needed"
    assert shown["url"] == ""


def test_episode_page_shows_when_the_meeting_was_held(
    client, frozen, child, manager, social_worker
):
    episode = missing(child, last_seen=NOW - 30 * H)
    meeting(child, NOW.date(), manager)
    client.force_login(social_worker)
    shown = step(client, episode)
    assert shown["status"]["text"] == "Held"
    assert shown["hint"] == "Strategy meeting held on 10 Nov 2026"
    assert shown["url"] == reverse("incidents:child_detail", args=[child.pk]) + "#strategy-meetings"
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).text
    assert "Strategy meeting held on 10 Nov 2026" in page


def test_editing_the_last_seen_time_later_does_not_move_the_deadline(child, officer):
    """The council is measured on the discussion: a later last-seen time typed into the
    episode cannot buy it time; an earlier one brings the deadline forward."""
    from incidents.actions import episodes as actions

    first = NOW - 30 * H
    episode = missing(child, last_seen=first)
    with time_machine.travel(NOW, tick=False):
        actions.episode_update(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            last_seen_at=NOW - 10 * H,
            reported_at=NOW - 9 * H,
        )
    episode.refresh_from_db()
    assert episode.last_seen_at == NOW - 10 * H
    assert episode.earliest_last_seen_at == first
    assert episode.strategy_discussion_due_at == first + 24 * H
    assert state(episode) == State.OVERDUE
    assert in_lists(episode) == (True, True)

    with time_machine.travel(NOW, tick=False):
        episode.refresh_from_db()
        actions.episode_update(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            last_seen_at=first - 2 * H,
        )
    episode.refresh_from_db()
    assert episode.strategy_discussion_due_at == first + 22 * H
