"""Patterns and partnership measures against hand-worked expectations."""

from __future__ import annotations

import datetime as dt

import pytest

from incidents.engagement import declines_in_a_row
from incidents.models import InterviewAttempt, LegalStatus, ReturnInterview, StrategyMeeting
from notifications.models import Notification
from oversight import queries
from oversight.filters import Filters
from tests.factories.incidents import LocationFactory, PlacementFactory, SafeAndWellCheckFactory
from tests.factories.notifications import NotificationFactory

from .world import LONDON, NOW, attempts, episode, returned

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
NONE = Filters()
FAILED = InterviewAttempt.Outcome.NO_CONTACT


def first_names(rows) -> list[str]:
    return [row.first_name for row in rows]


def test_repeat_missing_without_strategy_meeting(frozen, manager, west_child, far_child):
    def three(child, *, oldest_days: float = 60) -> None:
        for days in (oldest_days, 30, 5):
            episode(child, last_seen=NOW - days * D, found=NOW - days * D + 5 * H)

    three(west_child(first_name="None"))
    met = west_child(first_name="Met")
    three(met)
    # The meeting is on the day of the first episode (60 days ago, local date): it counts.
    StrategyMeeting.objects.create(
        child=met,
        held_on=(NOW - 60 * D).astimezone(LONDON).date(),
        decisions="Safety plan",
        recorded_by=manager,
    )
    before = west_child(first_name="Before")
    three(before)
    StrategyMeeting.objects.create(
        child=before,
        held_on=(NOW - 61 * D).astimezone(LONDON).date(),
        decisions="Earlier plan",
        recorded_by=manager,
    )
    two = west_child(first_name="Two")
    for days in (30, 5):
        episode(two, last_seen=NOW - days * D, found=NOW - days * D + H)
    three(west_child(first_name="Edge"), oldest_days=91)  # only two inside 90 days
    three(far_child(first_name="Far"))

    rows = list(queries.repeat_children(manager, NONE, NOW, threshold=(3, 90)))
    assert sorted(first_names(rows)) == ["Before", "None"]
    assert {row.recent_count for row in rows} == {3}
    # A lower threshold from the rule brings in the child with two episodes.
    rows = queries.repeat_children(manager, NONE, NOW, threshold=(2, 90))
    assert sorted(first_names(rows)) == ["Before", "Edge", "None", "Two"]


def test_stuck_cases_by_failed_attempts(frozen, manager, la_west, west_child):
    stuck = returned(west_child(first_name="Stuck"), la_west, found=NOW - 60 * H)
    attempts(stuck, [FAILED, InterviewAttempt.Outcome.REARRANGED])
    once = returned(west_child(first_name="Once"), la_west, found=NOW - 60 * H)
    attempts(once, [FAILED])
    declined = returned(
        west_child(first_name="Declined"),
        la_west,
        found=NOW - 10 * D,
        outcome=ReturnInterview.Outcome.DECLINED,
        declined_at=NOW - 9 * D,
    )
    attempts(declined, [FAILED, InterviewAttempt.Outcome.DECLINED])
    held = returned(
        west_child(first_name="Held"),
        la_west,
        found=NOW - 10 * D,
        outcome=ReturnInterview.Outcome.HELD,
        held_at=NOW - 9 * D,
    )
    attempts(held, [FAILED, FAILED, InterviewAttempt.Outcome.HELD])
    rows = list(queries.stuck_cases(manager, NONE, NOW, threshold=2))
    assert [r.episode.child.first_name for r in rows] == ["Declined", "Stuck"]
    assert [r.failed_attempts for r in rows] == [2, 2]
    assert [r.declined_each_time for r in rows] == [False, False]
    # The not-engaging rule's count (3 by default) when none is given.
    assert list(queries.stuck_cases(manager, NONE, NOW)) == []
    attempts(stuck, [FAILED])
    assert [r.pk for r in queries.stuck_cases(manager, NONE, NOW)] == [stuck.pk]


def declines(child, owner, outcomes: list[str], *, days_ago: int = 100):
    """One returned episode per outcome, a week apart, the last found ``days_ago`` days
    ago; returns the interviews, oldest first."""
    made = []
    for n, outcome in enumerate(outcomes):
        found = NOW - (days_ago + 7 * (len(outcomes) - 1 - n)) * D
        made.append(
            returned(
                child,
                owner,
                found=found,
                outcome=outcome,
                held_at=found + 5 * H if outcome == HELD else None,
                declined_at=found + 5 * H if outcome == DECLINED else None,
            )
        )
    return made


HELD = ReturnInterview.Outcome.HELD
DECLINED = ReturnInterview.Outcome.DECLINED
PENDING = ReturnInterview.Outcome.PENDING


def test_stuck_cases_by_declines_in_a_row(frozen, manager, la_west, west_child, far_child):
    # Declined after each of the last three returns, the latest in the period: its
    # latest interview is the row.
    three = declines(west_child(first_name="Three"), la_west, [DECLINED] * 3, days_ago=10)
    # Four in a row after an interview held: counted since the held one.
    four = declines(west_child(first_name="Four"), la_west, [HELD, *[DECLINED] * 4], days_ago=20)
    # Three declines, then a return whose interview is pending: the pending one is the
    # row, so the next attempt is planned differently.
    pending = declines(
        west_child(first_name="Pending"), la_west, [*[DECLINED] * 3, PENDING], days_ago=2
    )
    # Not stuck: an interview held ends the run; two are not three; the latest decline
    # outside the period (90 days); someone else's child.
    declines(west_child(first_name="HeldLast"), la_west, [*[DECLINED] * 3, HELD], days_ago=5)
    declines(west_child(first_name="Broken"), la_west, [DECLINED, DECLINED, HELD, DECLINED])
    declines(west_child(first_name="Two"), la_west, [DECLINED, DECLINED], days_ago=3)
    declines(west_child(first_name="Old"), la_west, [DECLINED] * 3, days_ago=120)
    declines(far_child(first_name="Far"), la_west, [DECLINED] * 3, days_ago=3)

    rows = list(queries.stuck_cases(manager, NONE, NOW))
    assert {r.episode.child.first_name: r.pk for r in rows} == {
        "Three": three[-1].pk,
        "Four": four[-1].pk,
        "Pending": pending[-1].pk,
    }
    assert all(r.declined_each_time for r in rows)
    assert {r.failed_attempts for r in rows} == {0}
    # A longer period brings in the old run; the not-engaging rule's 2 brings in two in
    # a row (and the run after the held interview is still only one).
    names = {
        r.episode.child.first_name for r in queries.stuck_cases(manager, Filters(days=365), NOW)
    }
    assert names == {"Three", "Four", "Pending", "Old"}
    names = {
        r.episode.child.first_name for r in queries.stuck_cases(manager, NONE, NOW, threshold=2)
    }
    assert names == {"Three", "Four", "Pending", "Two"}


@pytest.mark.parametrize(
    "oldest_first",
    [
        [DECLINED] * 3,
        [DECLINED] * 2,
        [HELD, *[DECLINED] * 3],
        [*[DECLINED] * 3, HELD],
        [DECLINED, PENDING, DECLINED, DECLINED],
        [DECLINED, DECLINED, PENDING, DECLINED, PENDING],
        [DECLINED, HELD, DECLINED, DECLINED],
    ],
)
def test_children_declining_counts_as_the_pages_do(frozen, la_west, west_child, oldest_first):
    child = west_child()
    declines(child, la_west, oldest_first, days_ago=3)
    in_sql = child.pk in set(queries.children_declining(3).values_list("episode__child", flat=True))
    assert in_sql == (declines_in_a_row(reversed(oldest_first)) >= 3)


def test_stuck_case_stuck_both_ways_is_one_row(frozen, manager, la_west, west_child):
    made = declines(west_child(), la_west, [DECLINED] * 3, days_ago=3)
    attempts(made[-1], [FAILED, FAILED, InterviewAttempt.Outcome.DECLINED])
    (row,) = queries.stuck_cases(manager, NONE, NOW)
    assert row.pk == made[-1].pk
    assert (row.failed_attempts, row.declined_each_time) == (3, True)


def test_hotspots(frozen, manager, west_child, far_child):
    station = LocationFactory(description="Chester bus station", postcode="CH1 3AE")
    flat = LocationFactory(description="Friend's flat", postcode="")
    ann, ben, cal = (west_child(first_name=n) for n in ("Ann", "Ben", "Cal"))
    a1 = episode(ann, last_seen=NOW - 10 * D, last_seen_location=station)
    a1.found_at, a1.found_location = NOW - 9 * D, flat
    a1.save()
    b1 = episode(ben, last_seen=NOW - 5 * D, found=NOW - 4 * D, found_location=station)
    episode(cal, last_seen=NOW - 200 * D, found=NOW - 199 * D, found_location=flat)  # too old
    episode(ann, last_seen=NOW - 3 * D, last_seen_location=flat)  # Ann twice at the flat
    episode(far_child(), last_seen=NOW - 2 * D, last_seen_location=flat)  # out of scope

    spots = queries.hotspots(manager, NONE, NOW)
    assert [s.place for s in spots] == ["Chester bus station, CH1 3AE"]
    spot = spots[0]
    assert spot.child_count == 2
    assert [(s.child_name.split()[0], s.what, s.at) for s in spot.sightings] == [
        ("Ann", "Last seen", NOW - 10 * D),
        ("Ben", "Found", NOW - 4 * D),
    ]
    assert spot.sightings[1].episode_id == b1.pk
    # Looking back a year brings in Cal at the flat.
    spots = queries.hotspots(manager, Filters(days=365), NOW)
    assert {s.description for s in spots} == {"Chester bus station", "Friend's flat"}


def test_a_page_of_hotspots_shows_each_places_latest_sightings(
    frozen, manager, west_child, far_child
):
    station = LocationFactory(description="Chester bus station", postcode="CH1 3AE")
    made = []
    for n in range(queries.HOTSPOT_SIGHTINGS_SHOWN + 2):
        child = west_child(first_name=f"C{n}")
        # Last seen at the station and found there an hour later: two sightings each.
        made += [
            ("Last seen", NOW - (30 - n) * D),
            ("Found", NOW - (30 - n) * D + H),
        ]
        episode(
            child,
            last_seen=NOW - (30 - n) * D,
            found=NOW - (30 - n) * D + H,
            last_seen_location=station,
            found_location=station,
        )
    episode(far_child(), last_seen=NOW - D, last_seen_location=station)  # out of scope
    (spot,), total = queries.hotspot_page(manager, NONE, NOW, limit=25)
    assert total == 1
    assert spot.sighting_count == len(made)
    shown = queries.HOTSPOT_SIGHTINGS_SHOWN
    # The latest, oldest of them first, as the download lists them all.
    assert [(s.what, s.at) for s in spot.sightings] == made[-shown:]
    assert spot.more_sightings == len(made) - shown
    (every,) = queries.hotspots(manager, NONE, NOW)
    assert [(s.what, s.at) for s in every.sightings] == made
    assert every.more_sightings == 0
    assert [(s.episode_id, s.what) for s in every.sightings[-shown:]] == [
        (s.episode_id, s.what) for s in spot.sightings
    ]


def test_out_of_area_missing_or_interview_missed(
    frozen, manager, la_west, area_west, area_east, west_child
):
    def cared(name, host):
        child = west_child(first_name=name, last_name=name, legal_status=LegalStatus.IN_CARE)
        PlacementFactory(child=child, host_area=host)
        return child

    episode(cared("Missing", area_east), last_seen=NOW - 5 * H)
    returned(
        cared("Late", area_east),
        la_west,
        found=NOW - 10 * D,
        outcome=ReturnInterview.Outcome.HELD,
        held_at=NOW - 10 * D + 72 * H + 30 * dt.timedelta(minutes=1),
    )
    returned(cared("Pending", area_east), la_west, found=NOW - 4 * D)
    returned(
        cared("OnTime", area_east),
        la_west,
        found=NOW - 10 * D,
        outcome=ReturnInterview.Outcome.HELD,
        held_at=NOW - 9 * D,
    )
    episode(cared("AtHome", area_west), last_seen=NOW - 5 * H)
    rows = list(queries.out_of_area_missed(manager, NONE, NOW))
    # Missing now first, then by name.
    assert first_names(rows) == ["Missing", "Late", "Pending"]
    assert rows[0].missing_now is True
    assert rows[0].host_area_name == area_east.name
    assert {r.first_name: r.missed_interviews for r in rows[1:]} == {"Late": 1, "Pending": 1}


def test_measures_by_month_and_agency(manager, police, la_west, provider, west_child, time_machine):
    now = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)
    time_machine.move_to(now, tick=False)
    # October: the clock-change case (due 27 Oct 11:00 GMT, held 11:30: late), one held in
    # time, one declined; November: one episode still missing.
    oct_found = dt.datetime(2026, 10, 24, 12, 0, tzinfo=LONDON)
    late = returned(
        west_child(first_name="Late"),
        la_west,
        found=oct_found,
        hours_missing=10,
        outcome=ReturnInterview.Outcome.HELD,
        held_at=dt.datetime(2026, 10, 27, 11, 30, tzinfo=LONDON),
    )
    late.push_factors, late.pull_factors = ["conflict_home", "rules_boundaries"], ["friends"]
    late.save()
    on_time = returned(
        west_child(first_name="OnTime"),
        la_west,
        found=dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC),
        hours_missing=4,
        outcome=ReturnInterview.Outcome.HELD,
        held_at=dt.datetime(2026, 10, 6, 9, 0, tzinfo=dt.UTC),
        provider=provider,
    )
    on_time.push_factors, on_time.pull_factors = ["conflict_home"], ["friends", "partner"]
    on_time.save()
    SafeAndWellCheckFactory(
        episode=on_time.episode,
        agency=police,
        conducted_at=on_time.episode.found_at + H,
        shared_with_la_at=on_time.episode.found_at + 23 * H,
    )
    SafeAndWellCheckFactory(
        episode=late.episode,
        agency=police,
        conducted_at=late.episode.found_at + H,
        shared_with_la_at=late.episode.found_at + 25 * H,
    )
    returned(
        west_child(first_name="Declined"),
        la_west,
        found=dt.datetime(2026, 10, 10, 9, 0, tzinfo=dt.UTC),
        hours_missing=30,
        outcome=ReturnInterview.Outcome.DECLINED,
        declined_at=dt.datetime(2026, 10, 11, 9, 0, tzinfo=dt.UTC),
    )
    episode(west_child(first_name="Now"), last_seen=now - 5 * H)
    # Notifications due in October: one told in time, one late, one cancelled (ignored).
    for told, status in (
        (dt.timedelta(hours=-1), Notification.Status.TOLD),
        (dt.timedelta(hours=2), Notification.Status.TOLD),
        (None, Notification.Status.CANCELLED),
    ):
        due = dt.datetime(2026, 10, 20, 12, 0, tzinfo=dt.UTC)
        NotificationFactory(
            episode=late.episode,
            child=late.episode.child,
            due_at=due,
            told_at=due + told if told is not None else None,
            status=status,
            responsible_agency=police,
        )

    data = queries.measures(manager, Filters(months=2), now)
    assert [m.month for m in data.months] == [10, 11]
    october, november = data.by_month
    assert (october["episodes"], october["children"]) == (3, 3)
    assert (november["episodes"], november["children"]) == (1, 1)
    # Interviews due in October: 3; held by the deadline: 1 (the clock-change one is late).
    assert (october["interviews_due"], october["interviews_on_time"]) == (3, 1)
    assert october["interviews_pct"] == 33.3
    assert november["interviews_pct"] is None
    # Returns in October: 3; checks shared within 24 hours: 1.
    assert (october["returns"], october["shared_on_time"], october["shared_pct"]) == (3, 1, 33.3)
    assert (october["notifications_due"], october["notifications_on_time"]) == (2, 1)
    assert october["notifications_pct"] == 50.0
    # Episode lengths 4, 10 and 30 hours: median 10.
    assert october["median_hours"] == 10.0
    assert november["median_hours"] is None
    assert data.interviews_by_agency == [
        {"name": la_west.name, "due": 3, "on_time": 1, "pct": 33.3}
    ]
    assert data.notifications_by_agency == [
        {"name": police.name, "due": 2, "on_time": 1, "pct": 50.0}
    ]
    assert data.push_factors[0] == ("Conflict at home or in placement", 2)
    assert data.pull_factors[0] == ("Wanting to be with friends", 2)
    (area,) = data.episodes_by_area
    assert (area["episodes"], area["children"], area["median_hours"]) == (4, 4, 10.0)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(
    manager, la_west, west_child, time_machine
):
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    time_machine.move_to(now, tick=False)
    for hours in (2, 4, 6, 100):
        episode(
            west_child(),
            last_seen=dt.datetime(2026, 11, 3, 0, 0, tzinfo=dt.UTC),
            found=dt.datetime(2026, 11, 3, 0, 0, tzinfo=dt.UTC) + hours * H,
        )
    data = queries.measures(manager, Filters(months=1), now)
    assert data.by_month[0]["median_hours"] == 5.0
