"""When each episode's next timed step falls due, stored so the scheduler reads only the
episodes due: kept right, in the same transaction, by every change that can move it."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps
from django.db import transaction

from incidents.actions import episodes as episode_actions
from incidents.actions import interviews as interview_actions
from incidents.models import Episode
from notifications.engine import fire_timed_steps, reschedule_timed_steps
from notifications.models import RecipientRole, Rule, Step, TellerKind, TimedStepFired
from notifications.rules import rule_save_with_version
from tests.factories.incidents import EpisodeFactory
from tests.factories.notifications import RuleFactory

from .engine_world import (
    child_fixture,  # noqa: F401
    contacts_fixture,  # noqa: F401
    make_episode,
)
from .facts_world import LAST_SEEN, REPORTED, record_return, report

pytestmark = pytest.mark.django_db

H = dt.timedelta(hours=1)


@pytest.fixture
def check_reminder(contacts) -> Rule:
    """A local rule on the check reminder (the defaults hang none on it)."""
    return RuleFactory(
        step=Step.SAFE_AND_WELL_DUE,
        teller=TellerKind.RESPONSIBLE_LA,
        recipient=RecipientRole.TEAM_MANAGER,
        due_after_hours=Decimal(0),
    )


def stored(episode: Episode) -> dt.datetime | None:
    return Episode.objects.values_list("next_timed_step_at", flat=True).get(pk=episode.pk)


def test_a_report_stores_the_24_hour_escalation_and_each_pass_the_next(child, officer):
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False):
        episode = report(officer, child)
    assert stored(episode) == LAST_SEEN + 24 * H

    assert fire_timed_steps(now=LAST_SEEN + 24 * H - dt.timedelta(minutes=1)) == 0
    assert stored(episode) == LAST_SEEN + 24 * H
    assert fire_timed_steps(now=LAST_SEEN + 24 * H) == 1
    assert stored(episode) == LAST_SEEN + 72 * H
    assert fire_timed_steps(now=LAST_SEEN + 72 * H) == 1
    assert stored(episode) == LAST_SEEN + 7 * 24 * H
    assert fire_timed_steps(now=LAST_SEEN + 8 * 24 * H) == 1
    # Still missing, every step evaluated: nothing is left for the scheduler to read.
    assert stored(episode) is None


def test_the_return_brings_the_check_reminder_in_the_same_transaction(
    child, officer, check_reminder
):
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False):
        episode = report(officer, child)
    fire_timed_steps(now=LAST_SEEN + 25 * H)
    found = LAST_SEEN + 30 * H
    with time_machine.travel(found + dt.timedelta(minutes=5), tick=False):
        episode.refresh_from_db()
        with transaction.atomic():
            episode_actions.episode_record_return(
                acting_user=officer,
                episode=episode,
                expected_version=episode.version,
                found_at=found,
                how_returned=Episode.HowReturned.RETURNED_SELF,
            )
            # Before the commit: the change and the stored time are one.
            assert stored(episode) == found + 24 * H


def test_a_time_edited_later_does_not_postpone_and_one_edited_earlier_brings_it_forward(
    child, officer
):
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False):
        episode = report(officer, child)
        episode.refresh_from_db()
        episode_actions.episode_update(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            last_seen_at=LAST_SEEN + dt.timedelta(minutes=30),
        )
        assert stored(episode) == LAST_SEEN + 24 * H
        episode.refresh_from_db()
        episode_actions.episode_update(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            last_seen_at=LAST_SEEN - 2 * H,
        )
    assert stored(episode) == LAST_SEEN - 2 * H + 24 * H


def test_a_corrected_return_time_moves_no_reminder(child, officer, check_reminder):
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False):
        episode = report(officer, child)
    found = LAST_SEEN + 5 * H
    with time_machine.travel(found + H, tick=False):
        record_return(officer, episode, found)
    # The 24-hour step comes first (judged at its time: found by then, so not held).
    assert stored(episode) == LAST_SEEN + 24 * H
    assert fire_timed_steps(now=LAST_SEEN + 24 * H) == 0
    assert stored(episode) == found + 24 * H
    with time_machine.travel(LAST_SEEN + 25 * H, tick=False):
        episode.refresh_from_db()
        episode_actions.episode_correct_return_time(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            found_at=found + 3 * H,
            reason="The carer's call was logged late.",
        )
    assert stored(episode) == found + 24 * H


def test_closing_leaves_nothing_for_the_scheduler(child, officer, manager, check_reminder):
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False):
        episode = report(officer, child)
    found = LAST_SEEN + 2 * H
    with time_machine.travel(found + H, tick=False):
        record_return(officer, episode, found)
        interview_actions.safe_and_well_record(
            acting_user=officer,
            episode=episode,
            officer_name="PC Okafor",
            conducted_at=found + H,
            face_to_face=True,
            outcome="Safe and well.",
        )
        # Steps are still to be judged at their times (the 24-hour one first).
        assert stored(episode) == LAST_SEEN + 24 * H
        episode_actions.episode_close(acting_user=manager, episode=episode, reason="All done")
    assert stored(episode) is None


def test_rule_changes_move_the_time_of_open_episodes_only(child, officer, admin_user, manager):
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False):
        episode = report(officer, child)
    fire_timed_steps(now=LAST_SEEN + 25 * H)
    assert stored(episode) == LAST_SEEN + 72 * H
    closed = make_episode(
        child,
        officer,
        last_seen=LAST_SEEN - dt.timedelta(days=30),
        found_at=LAST_SEEN - dt.timedelta(days=29),
        closed_at=LAST_SEEN - dt.timedelta(days=20),
        closed_by=manager,
    )

    escalation = Rule.objects.get(step=Step.STILL_MISSING_72H)
    escalation.active = False
    escalation.switched_off_reason = "Covered by the daily review."
    rule_save_with_version(rule=escalation, acting_user=admin_user)
    assert stored(episode) == LAST_SEEN + 7 * 24 * H

    reminder = Rule(
        name="Interview not done: tell the team manager",
        step=Step.INTERVIEW_DUE,
        teller=TellerKind.RESPONSIBLE_LA,
        recipient=RecipientRole.TEAM_MANAGER,
        due_after_hours=Decimal(0),
        basis="Local decision",
    )
    rule_save_with_version(rule=reminder, acting_user=admin_user)
    escalation.active = True
    rule_save_with_version(rule=escalation, acting_user=admin_user)
    assert stored(episode) == LAST_SEEN + 72 * H
    assert stored(closed) is None


def test_an_episode_written_without_an_event_is_looked_at_from_its_times(child, officer):
    """Rows saved directly (an import, a factory) bring the time forward to when the
    steps count from; the pass then works out the exact time."""
    episode = make_episode(child, officer, last_seen=LAST_SEEN)
    assert stored(episode) == LAST_SEEN

    assert fire_timed_steps(now=LAST_SEEN + H) == 0
    assert stored(episode) == LAST_SEEN + 24 * H

    episode.refresh_from_db()
    episode.found_at = LAST_SEEN + 3 * H
    episode.save()
    assert stored(episode) == LAST_SEEN + 3 * H
    fire_timed_steps(now=LAST_SEEN + 4 * H)
    assert stored(episode) == LAST_SEEN + 24 * H
    assert not TimedStepFired.objects.filter(episode=episode).exists()


def test_an_idle_pass_is_one_query_however_many_episodes(
    child, officer, manager, django_assert_num_queries
):
    for days in range(1, 40, 3):
        make_episode(
            child,
            officer,
            last_seen=LAST_SEEN - dt.timedelta(days=days + 1),
            found_at=LAST_SEEN - dt.timedelta(days=days),
            closed_at=LAST_SEEN - dt.timedelta(days=days) + H,
            closed_by=manager,
        )
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False):
        report(officer, child)
    fire_timed_steps(now=LAST_SEEN + 2 * H)

    with django_assert_num_queries(1):
        assert fire_timed_steps(now=LAST_SEEN + 23 * H) == 0


def test_the_bulk_reschedule_agrees_with_each_episode_worked_out_alone(child, officer, manager):
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False):
        missing = report(officer, child)
    fire_timed_steps(now=LAST_SEEN + 80 * H)
    expected = stored(missing)
    returned = EpisodeFactory(
        last_seen_at=LAST_SEEN,
        reported_at=REPORTED,
        found_at=LAST_SEEN + 5 * H,
        created_by=officer,
    )
    Episode.objects.update(next_timed_step_at=None)

    assert reschedule_timed_steps() == 2
    assert stored(missing) == expected == LAST_SEEN + 7 * 24 * H
    assert stored(returned) == LAST_SEEN + 24 * H
    assert reschedule_timed_steps() == 0


def test_the_migration_fills_the_time_as_the_engine_works_it_out(child, officer, manager):
    fill = importlib.import_module(
        "notifications.migrations.0012_timed_steps_from_the_next_time_stored"
    ).fill
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False):
        missing = report(officer, child)
    fire_timed_steps(now=LAST_SEEN + 30 * H)
    returned = EpisodeFactory(
        last_seen_at=LAST_SEEN, reported_at=REPORTED, found_at=LAST_SEEN + 5 * H
    )
    closed = EpisodeFactory(
        last_seen_at=LAST_SEEN,
        reported_at=REPORTED,
        found_at=LAST_SEEN + H,
        closed_at=LAST_SEEN + 2 * H,
        closed_by=manager,
    )
    Episode.objects.update(next_timed_step_at=None)

    fill(apps, None)

    assert stored(missing) == LAST_SEEN + 72 * H
    assert stored(returned) == LAST_SEEN + 24 * H
    assert stored(closed) is None
    assert reschedule_timed_steps() == 0
