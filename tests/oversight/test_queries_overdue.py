"""Overdue and due-soon lists against hand-worked expectations, with deadline edges."""

from __future__ import annotations

import datetime as dt

import pytest

from incidents.models import (
    Involvement,
    LegalStatus,
    ReturnInterview,
    RiskGrade,
    StrategyMeeting,
)
from notifications.models import Notification
from oversight import queries
from oversight.filters import Filters
from tests.factories.incidents import (
    InvolvementFactory,
    PlacementFactory,
    SafeAndWellCheckFactory,
)
from tests.factories.notifications import NotificationFactory

from .world import LONDON, NOW, episode, returned

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)
S = dt.timedelta(seconds=1)
NONE = Filters()


def names(rows) -> list[str]:
    out = []
    for row in rows:
        child = getattr(row, "child", None) or row.episode.child
        out.append(child.first_name)
    return out


def test_interview_deadline_edges(frozen, manager, la_west, west_child, far_child, other_agency):
    # found = now - 72 h - 1 s: due 1 second ago, overdue.
    returned(west_child(first_name="Late"), la_west, found=NOW - 72 * H - S)
    # Due exactly now: not yet late (overdue is strictly after the deadline); due soon.
    returned(west_child(first_name="Now"), la_west, found=NOW - 72 * H)
    returned(west_child(first_name="Day"), la_west, found=NOW - 48 * H)  # due in 24 h
    returned(west_child(first_name="Later"), la_west, found=NOW - 48 * H + S)  # 24 h 1 s
    returned(
        west_child(first_name="Held"),
        la_west,
        found=NOW - 100 * H,
        outcome=ReturnInterview.Outcome.HELD,
        held_at=NOW - 90 * H,
    )
    returned(far_child(first_name="Far"), other_agency, found=NOW - 100 * H)

    assert names(queries.interviews_overdue(manager, NONE, NOW)) == ["Late"]
    assert names(queries.interviews_due_soon(manager, NONE, NOW)) == ["Now", "Day"]
    # One second later the interview due "now" is late.
    later = NOW + S
    assert names(queries.interviews_overdue(manager, NONE, later)) == ["Late", "Now"]


def test_interview_due_across_the_clock_change(manager, la_west, west_child):
    # Found 24 Oct 2026 12:00 BST; the clocks go back on 25 Oct: 72 real hours later is
    # 27 Oct 11:00 GMT, not 12:00.
    found = dt.datetime(2026, 10, 24, 12, 0, tzinfo=LONDON)
    interview = returned(west_child(first_name="Oct"), la_west, found=found)
    assert interview.due_at == dt.datetime(2026, 10, 27, 11, 0, tzinfo=LONDON)
    at_deadline = dt.datetime(2026, 10, 27, 11, 0, tzinfo=LONDON)
    assert names(queries.interviews_overdue(manager, NONE, at_deadline)) == []
    assert names(queries.interviews_due_soon(manager, NONE, at_deadline)) == ["Oct"]
    assert names(queries.interviews_overdue(manager, NONE, at_deadline + S)) == ["Oct"]


def test_safe_and_well_not_done_or_not_shared(frozen, manager, la_west, west_child):
    episode(west_child(first_name="NoCheck"), last_seen=NOW - 40 * H, found=NOW - 24 * H - S)
    episode(west_child(first_name="JustNow"), last_seen=NOW - 40 * H, found=NOW - 24 * H)
    unshared = episode(west_child(first_name="Unshared"), last_seen=NOW - 9 * H, found=NOW - 2 * H)
    SafeAndWellCheckFactory(episode=unshared, conducted_at=NOW - H)
    shared = episode(west_child(first_name="Shared"), last_seen=NOW - 50 * H, found=NOW - 30 * H)
    SafeAndWellCheckFactory(
        episode=shared, conducted_at=NOW - 29 * H, shared_with_la_at=NOW - 28 * H
    )
    episode(west_child(first_name="Missing"), last_seen=NOW - 50 * H)

    rows = queries.safe_and_well_outstanding(manager, NONE, NOW)
    assert names(rows) == ["NoCheck", "Unshared"]


def test_strategy_discussions_overdue_or_missed(frozen, manager, west_child, far_child, police):
    # Still missing 24 hours and 1 second after last seen: overdue. Exactly 24: not yet.
    episode(west_child(first_name="Late"), last_seen=NOW - 24 * H - S)
    episode(west_child(first_name="Now"), last_seen=NOW - 24 * H)
    # Found after the deadline without a meeting: missed, shown until the episode closes.
    episode(west_child(first_name="Missed"), last_seen=NOW - 50 * H, found=NOW - 20 * H)
    closed = episode(west_child(first_name="Closed"), last_seen=NOW - 60 * H, found=NOW - 30 * H)
    closed.closed_at, closed.closed_by, closed.closure_reason = NOW - H, manager, "Done"
    closed.save()
    # Found within 24 hours: no discussion was needed.
    episode(west_child(first_name="Early"), last_seen=NOW - 60 * H, found=NOW - 40 * H)
    # A meeting since the episode began meets it; one before does not.
    met = west_child(first_name="Met")
    episode(met, last_seen=NOW - 30 * H)
    StrategyMeeting.objects.create(
        child=met, held_on=NOW.date(), decisions="Plan", recorded_by=manager
    )
    before = west_child(first_name="Before")
    episode(before, last_seen=NOW - 40 * H)
    StrategyMeeting.objects.create(
        child=before,
        held_on=(NOW - 40 * H).date() - dt.timedelta(days=1),
        decisions="Earlier plan",
        recorded_by=manager,
    )
    episode(far_child(first_name="Far"), last_seen=NOW - 30 * H)

    rows = queries.strategy_discussions_overdue(manager, NONE, NOW)
    # Longest overdue first.
    assert names(rows) == ["Missed", "Before", "Late"]
    assert names(queries.strategy_discussions_overdue(manager, NONE, NOW + S)) == [
        "Missed",
        "Before",
        "Late",
        "Now",
    ]
    high = queries.strategy_discussions_overdue(manager, Filters(risk=RiskGrade.HIGH), NOW)
    assert names(high) == []


def test_notifications_overdue_by_responsible_agency(
    frozen, manager, police, la_west, west_child, far_child
):
    def note(child, due_at, agency, status=Notification.Status.DUE):
        ep = episode(child, last_seen=NOW - 10 * H)
        return NotificationFactory(
            episode=ep, child=child, due_at=due_at, responsible_agency=agency, status=status
        )

    note(west_child(first_name="PoliceLate"), NOW - 3 * H, police)
    note(west_child(first_name="PoliceLater"), NOW - S, police)
    note(west_child(first_name="LaLate"), NOW - 2 * H, la_west)
    note(west_child(first_name="DueNow"), NOW, police)
    note(west_child(first_name="Sent"), NOW - 5 * H, police, Notification.Status.SENT)
    note(far_child(first_name="Far"), NOW - 5 * H, police)

    rows = queries.notifications_overdue(manager, NONE, NOW)
    # Grouped by the agency that must tell (by name), then oldest deadline first.
    assert names(rows) == ["PoliceLate", "PoliceLater", "LaLate"]
    groups = queries.notifications_overdue_by_agency(rows)
    assert [(g["agency"], g["count"]) for g in groups] == [(police.name, 2), (la_west.name, 1)]
    only_la = queries.notifications_overdue(manager, Filters(agency=la_west), NOW)
    assert names(only_la) == ["LaLate"]


def test_open_episodes_by_risk_then_duration(frozen, manager, west_child, far_child):
    episode(west_child(first_name="MedOld"), last_seen=NOW - 50 * H)
    episode(west_child(first_name="HighNew"), last_seen=NOW - 2 * H, risk=RiskGrade.HIGH)
    episode(west_child(first_name="HighOld"), last_seen=NOW - 20 * H, risk=RiskGrade.HIGH)
    episode(west_child(first_name="Back"), last_seen=NOW - 20 * H, found=NOW - H)
    episode(far_child(first_name="Far"), last_seen=NOW - 20 * H, risk=RiskGrade.HIGH)
    rows = queries.open_episodes(manager, NONE, NOW)
    assert names(rows) == ["HighOld", "HighNew", "MedOld"]
    assert names(queries.open_episodes(manager, Filters(risk=RiskGrade.HIGH), NOW)) == [
        "HighOld",
        "HighNew",
    ]


def test_notification_problems(frozen, manager, west_child):
    ep = episode(west_child(first_name="Nobody"), last_seen=NOW - 3 * H)
    NotificationFactory(episode=ep, child=ep.child, problem="No host LA configured")
    ep2 = episode(west_child(first_name="Cancelled"), last_seen=NOW - 3 * H)
    NotificationFactory(
        episode=ep2, child=ep2.child, problem="No IRO", status=Notification.Status.CANCELLED
    )
    ep3 = episode(west_child(first_name="Fine"), last_seen=NOW - 3 * H)
    NotificationFactory(episode=ep3, child=ep3.child)
    assert names(queries.notification_problems(manager, NONE, NOW)) == ["Nobody"]


def test_filters(
    frozen, manager, social_worker, officer, police, la_west, area_west, area_east, west_child
):
    cared = west_child(first_name="Cared", legal_status=LegalStatus.IN_CARE)
    PlacementFactory(child=cared, host_area=area_east)  # placed out of area
    home = west_child(first_name="Home", legal_status=LegalStatus.IN_CARE)
    PlacementFactory(child=home, host_area=area_west)
    plain = west_child(first_name="Plain")
    InvolvementFactory(
        child=plain,
        agency=la_west,
        role=Involvement.Role.SOCIAL_WORKER,
        professional_name="Jo Whitfield",
    )
    episode(cared, last_seen=NOW - 5 * H, risk=RiskGrade.HIGH, created_by=officer)
    episode(home, last_seen=NOW - 4 * H, reported_by_agency=police, created_by=manager)
    episode(plain, last_seen=NOW - 3 * H, category="missing")

    def run(**kwargs) -> list[str]:
        return sorted(names(queries.open_episodes(manager, Filters(**kwargs), NOW)))

    assert run() == ["Cared", "Home", "Plain"]
    assert run(in_care=True) == ["Cared", "Home"]
    assert run(in_care=False) == ["Plain"]
    assert run(out_of_area=True) == ["Cared"]
    assert run(out_of_area=False) == ["Home", "Plain"]
    assert run(risk=RiskGrade.HIGH) == ["Cared"]
    assert run(category="away") == []
    assert run(local_authority=area_west) == ["Cared", "Home", "Plain"]
    assert run(local_authority=area_east) == []
    # The allocated social worker's name, or the person who reported the episode.
    assert run(worker="whitfield") == ["Plain"]
    assert run(worker=officer.name.split()[-1]) == ["Cared"]
    # The reporting agency, or an agency involved with the child.
    assert run(agency=police) == ["Home"]
    assert run(agency=la_west) == ["Plain"]
