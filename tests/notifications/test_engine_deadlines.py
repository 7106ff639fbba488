"""Deadlines: timed steps at their edges, clock changes, high risk, out of hours."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from incidents.models import CaseEvent, Episode, LegalStatus
from notifications.engine import fire_timed_steps, in_office_hours
from notifications.models import (
    Notification,
    RecipientRole,
    Step,
    TellerKind,
    TimedStepFired,
)
from tests.factories.incidents import ReturnInterviewFactory
from tests.factories.notifications import RuleFactory

from .engine_world import (
    REPORTED_LA,
    RETURNED_IRO,
    UTC,
    by_rule,
    child_fixture,  # noqa: F401
    contacts_fixture,  # noqa: F401
    make_episode,
    notify,
)

pytestmark = pytest.mark.django_db

LAST_SEEN = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # a Tuesday, GMT


def _escalations(episode, step=Step.STILL_MISSING_24H):
    return Notification.objects.filter(episode=episode, step=step)


def test_still_missing_at_23_59_nothing_at_24_00_the_team_manager(child, officer, contacts):
    episode = make_episode(child, officer, last_seen=LAST_SEEN)

    with time_machine.travel(LAST_SEEN + dt.timedelta(hours=23, minutes=59), tick=False):
        assert fire_timed_steps() == 0
    assert not _escalations(episode).exists()
    assert not TimedStepFired.objects.filter(episode=episode).exists()

    with time_machine.travel(LAST_SEEN + dt.timedelta(hours=24), tick=False):
        assert fire_timed_steps() == 1

    notification = _escalations(episode).get()
    assert notification.recipient_contact == contacts["team_manager"]
    # "At once": due when the step fell due, not when the scheduler noticed.
    assert notification.due_at == LAST_SEEN + dt.timedelta(hours=24)
    assert notification.event is None
    assert TimedStepFired.objects.get(episode=episode, step=Step.STILL_MISSING_24H).fired


def test_found_at_hour_23_never_escalates_even_when_the_scheduler_runs_late(child, officer):
    episode = make_episode(
        child, officer, last_seen=LAST_SEEN, found_at=LAST_SEEN + dt.timedelta(hours=23)
    )

    with time_machine.travel(LAST_SEEN + dt.timedelta(hours=30), tick=False):
        fire_timed_steps()
    with time_machine.travel(LAST_SEEN + dt.timedelta(days=8), tick=False):
        fire_timed_steps()

    assert not Notification.objects.filter(episode=episode).exists()
    assert not TimedStepFired.objects.get(episode=episode, step=Step.STILL_MISSING_24H).fired


def test_found_after_the_step_fell_due_still_escalates_when_the_scheduler_was_late(child, officer):
    # Missing at hour 24, found at hour 25, scheduler down until hour 30: the team
    # manager was owed the escalation, and it shows as overdue rather than vanishing.
    episode = make_episode(
        child, officer, last_seen=LAST_SEEN, found_at=LAST_SEEN + dt.timedelta(hours=25)
    )

    fire_timed_steps(now=LAST_SEEN + dt.timedelta(hours=30))

    assert _escalations(episode).count() == 1
    assert not _escalations(episode, Step.STILL_MISSING_72H).exists()


def test_each_still_missing_step_fires_once_at_its_time(child, officer, contacts):
    episode = make_episode(child, officer, last_seen=LAST_SEEN)

    for hours in (24, 30, 72, 100, 168, 200):
        fire_timed_steps(now=LAST_SEEN + dt.timedelta(hours=hours))

    contacts_told = dict(
        Notification.objects.filter(episode=episode).values_list("step", "recipient_contact")
    )
    assert contacts_told == {
        Step.STILL_MISSING_24H: contacts["team_manager"].pk,
        Step.STILL_MISSING_72H: contacts["head_of_service"].pk,
        Step.STILL_MISSING_7D: contacts["director"].pk,
    }


def test_a_closed_episode_is_not_looked_at(child, officer, manager):
    make_episode(
        child,
        officer,
        last_seen=LAST_SEEN,
        found_at=LAST_SEEN + dt.timedelta(hours=1),
        closed_at=LAST_SEEN + dt.timedelta(hours=2),
        closed_by=manager,
    )

    fire_timed_steps(now=LAST_SEEN + dt.timedelta(days=10))

    assert not TimedStepFired.objects.exists()


def test_72_hours_across_the_october_clock_change_is_72_real_hours(child, officer):
    child.legal_status = LegalStatus.IN_CARE
    child.save()
    # 24 Oct 2026 12:00 BST; the clocks go back at 02:00 on 25 Oct.
    found = dt.datetime(2026, 10, 24, 11, 0, tzinfo=UTC)
    episode = make_episode(child, officer, last_seen=found - dt.timedelta(hours=5), found_at=found)

    made = notify(episode, officer, CaseEvent.Kind.RETURNED, found)

    due = by_rule(made, RETURNED_IRO).due_at
    assert due == dt.datetime(2026, 10, 27, 11, 0, tzinfo=UTC)  # 11:00 GMT local
    assert due - found == dt.timedelta(hours=72)


def test_still_missing_24_hours_across_the_clock_change(child, officer):
    # Last seen 20:00 BST on 24 Oct; 24 real hours later the clocks read 19:00 GMT.
    last_seen = dt.datetime(2026, 10, 24, 19, 0, tzinfo=UTC)
    episode = make_episode(child, officer, last_seen=last_seen)

    fire_timed_steps(now=dt.datetime(2026, 10, 25, 18, 59, tzinfo=UTC))
    assert not _escalations(episode).exists()

    fire_timed_steps(now=dt.datetime(2026, 10, 25, 19, 0, tzinfo=UTC))
    assert _escalations(episode).get().due_at == dt.datetime(2026, 10, 25, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(("risk", "hours"), [("high", 2), ("medium", 24), ("low", 24)])
def test_police_tell_the_la_within_2_hours_of_a_high_risk_report_else_24(
    child, officer, risk, hours
):
    episode = make_episode(child, officer, last_seen=LAST_SEEN, risk=risk)
    reported = LAST_SEEN + dt.timedelta(minutes=30)

    made = notify(episode, officer, CaseEvent.Kind.REPORTED, reported, risk=risk)

    assert by_rule(made, REPORTED_LA).due_at == reported + dt.timedelta(hours=hours)


@pytest.mark.parametrize(
    ("reported", "out_of_hours"),
    [
        (dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC), False),  # Tuesday 10:00 GMT
        (dt.datetime(2026, 3, 10, 8, 59, tzinfo=UTC), True),  # before 09:00
        (dt.datetime(2026, 3, 10, 17, 0, tzinfo=UTC), True),  # 17:00: closed
        (dt.datetime(2026, 3, 10, 22, 0, tzinfo=UTC), True),  # at night
        (dt.datetime(2026, 3, 14, 11, 0, tzinfo=UTC), True),  # Saturday
        (dt.datetime(2026, 7, 7, 8, 30, tzinfo=UTC), False),  # 09:30 BST
        (dt.datetime(2026, 7, 7, 16, 30, tzinfo=UTC), True),  # 17:30 BST
        # England and Wales bank holidays are out of hours all day.
        (dt.datetime(2026, 12, 25, 10, 0, tzinfo=UTC), True),  # Christmas Day, a Friday
        (dt.datetime(2026, 12, 28, 10, 0, tzinfo=UTC), True),  # Boxing Day, moved to Monday
        (dt.datetime(2026, 12, 29, 10, 0, tzinfo=UTC), False),  # an ordinary Tuesday
        (dt.datetime(2026, 8, 31, 9, 0, tzinfo=UTC), True),  # late summer bank holiday, BST
        (dt.datetime(2027, 3, 26, 10, 0, tzinfo=UTC), True),  # Good Friday 2027
    ],
)
def test_the_out_of_hours_team_is_told_at_night_and_weekends(
    child, officer, contacts, reported, out_of_hours
):
    episode = make_episode(child, officer, last_seen=reported - dt.timedelta(hours=1))

    made = notify(episode, officer, CaseEvent.Kind.REPORTED, reported, risk="medium")

    told = by_rule(made, REPORTED_LA)
    expected = contacts["out_of_hours"] if out_of_hours else contacts["front_door"]
    assert told.recipient_contact == expected
    assert told.recipient_email == expected.email
    assert in_office_hours(reported) is not out_of_hours


def test_rules_without_out_of_hours_tell_the_front_door_at_night(child, officer, contacts):
    found = dt.datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    episode = make_episode(child, officer, last_seen=found - dt.timedelta(hours=3), found_at=found)

    made = notify(episode, officer, CaseEvent.Kind.RETURNED, found)

    told = by_rule(made, "Returned: police tell the responsible local authority")
    assert told.recipient_contact == contacts["front_door"]


def test_the_interview_reminder_keeps_the_deadline_when_the_return_time_is_corrected(
    child, officer, la_west
):
    """The provider's deadline is the interview's, set at the first recorded return: a
    return time corrected two days later neither delays nor cancels the reminder."""
    reminder = RuleFactory(
        step=Step.INTERVIEW_DUE,
        teller=TellerKind.RESPONSIBLE_LA,
        recipient=RecipientRole.TEAM_MANAGER,
        due_after_hours=Decimal(2),
    )
    found = LAST_SEEN + dt.timedelta(hours=5)
    episode = make_episode(child, officer, last_seen=LAST_SEEN, found_at=found)
    kept = found + dt.timedelta(hours=72)
    ReturnInterviewFactory(episode=episode, owner=la_west, due_at=kept)
    Episode.objects.filter(pk=episode.pk).update(found_at=found + dt.timedelta(days=2))

    interview_due = TimedStepFired.objects.filter(episode=episode, step=Step.INTERVIEW_DUE)
    fire_timed_steps(now=kept - dt.timedelta(minutes=1))
    assert not interview_due.exists()
    fire_timed_steps(now=kept)
    assert interview_due.get().fired
    made = Notification.objects.get(episode=episode, step=Step.INTERVIEW_DUE)
    assert made.rule == reminder
    assert made.due_at == kept + dt.timedelta(hours=2)
