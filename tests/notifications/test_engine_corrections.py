"""A corrected check or interview time is a changed fact: the episode's notifications are
worked out again from the record as corrected, and no deadline moves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from incidents.actions.corrections import safe_and_well_correct
from incidents.actions.interviews import safe_and_well_record
from incidents.models import CaseEvent, ReturnInterview
from notifications.engine import fire_timed_steps, process_pending_events
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
    UTC,
    child_fixture,  # noqa: F401
    contacts_fixture,  # noqa: F401
    make_episode,
)

pytestmark = pytest.mark.django_db

S = Notification.Status
LAST_SEEN = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
FOUND = LAST_SEEN + dt.timedelta(hours=20)
CHECK_REASON = "The check was recorded before anyone was told"


@pytest.fixture
def episode(child, officer, la_west):
    episode = make_episode(child, officer, last_seen=LAST_SEEN, found_at=FOUND)
    # The interview is still to come, so the episode stays open.
    ReturnInterviewFactory(episode=episode, owner=la_west, due_at=FOUND + dt.timedelta(hours=72))
    return episode


@pytest.fixture
def reminder_rule():
    return RuleFactory(
        step=Step.SAFE_AND_WELL_DUE,
        teller=TellerKind.RESPONSIBLE_LA,
        recipient=RecipientRole.TEAM_MANAGER,
        due_after_hours=Decimal(2),
    )


def _reminders(episode):
    return list(Notification.objects.filter(episode=episode, step=Step.SAFE_AND_WELL_DUE))


def test_a_check_corrected_to_after_its_deadline_shows_the_reminder_fell_due(
    episode, officer, reminder_rule
):
    due = episode.safe_and_well_due_at
    with time_machine.travel(FOUND + dt.timedelta(hours=3), tick=False):
        check = safe_and_well_record(
            acting_user=officer,
            episode=episode,
            officer_name="PC Sam Okafor",
            conducted_at=FOUND + dt.timedelta(hours=2),
            face_to_face=True,
            outcome="Safe and well.",
        )
        process_pending_events()
    # Done in time: when the step falls due, nobody needs reminding.
    fire_timed_steps(now=due + dt.timedelta(minutes=1))
    assert TimedStepFired.objects.get(episode=episode, step=Step.SAFE_AND_WELL_DUE).fired is False
    assert _reminders(episode) == []

    with time_machine.travel(due + dt.timedelta(hours=10), tick=False):
        # The officer typed the wrong day: the check was done after the deadline.
        safe_and_well_correct(
            acting_user=officer,
            check=check,
            expected_version=check.version,
            officer_name="PC Sam Okafor",
            conducted_at=due + dt.timedelta(hours=5),
            face_to_face=True,
            outcome="Safe and well.",
            reason="Wrong day typed",
        )
        assert CaseEvent.objects.get(kind=CaseEvent.Kind.SAFE_AND_WELL_CORRECTED).is_protocol
        process_pending_events()

    assert TimedStepFired.objects.get(episode=episode, step=Step.SAFE_AND_WELL_DUE).fired is True
    (reminder,) = _reminders(episode)
    # The step fell due with no check done; the check is on the record now, so nobody
    # is chased, and the row shows the check came late.
    assert (reminder.status, reminder.cancelled_reason) == (S.CANCELLED, CHECK_REASON)
    episode.refresh_from_db()
    assert episode.first_found_at == FOUND
    assert episode.safe_and_well_due_at == due
    assert ReturnInterview.objects.get(episode=episode).due_at == FOUND + dt.timedelta(hours=72)


def test_a_late_check_corrected_to_in_time_no_longer_counts_as_late(
    episode, officer, reminder_rule
):
    due = episode.safe_and_well_due_at
    fire_timed_steps(now=due + dt.timedelta(minutes=1))
    (reminder,) = _reminders(episode)
    assert reminder.status == S.DUE
    with time_machine.travel(due + dt.timedelta(hours=1), tick=False):
        check = safe_and_well_record(
            acting_user=officer,
            episode=episode,
            officer_name="PC Sam Okafor",
            conducted_at=due + dt.timedelta(minutes=30),
            face_to_face=True,
            outcome="Safe and well.",
        )
        process_pending_events()
    assert _reminders(episode)[0].status == S.CANCELLED

    with time_machine.travel(due + dt.timedelta(hours=2), tick=False):
        safe_and_well_correct(
            acting_user=officer,
            check=check,
            expected_version=check.version,
            officer_name="PC Sam Okafor",
            conducted_at=FOUND + dt.timedelta(hours=3),
            face_to_face=True,
            outcome="Safe and well.",
        )
        process_pending_events()

    assert TimedStepFired.objects.get(episode=episode, step=Step.SAFE_AND_WELL_DUE).fired is False
    # What was already settled stays as history; nothing new is due.
    assert [n.status for n in _reminders(episode)] == [S.CANCELLED]
    assert not Notification.objects.filter(
        episode=episode, status=S.DUE, step=Step.SAFE_AND_WELL_DUE
    )
