"""The notifications_scheduler command: catches up on events, fires timed steps, and is
safe to run twice, or twice at once."""

from __future__ import annotations

import datetime as dt
import threading
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from incidents.models import CaseEvent
from notifications.models import Notification, ProcessedEvent, Step, TimedStepFired

from .engine_world import (
    UTC,
    child_fixture,  # noqa: F401
    contacts_fixture,  # noqa: F401
    make_episode,
    make_event,
)

pytestmark = pytest.mark.django_db

SEEN = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


def _rows() -> set[tuple[int, int, str]]:
    return set(Notification.objects.values_list("episode_id", "rule_id", "recipient_key"))


def test_once_processes_pending_events_and_fires_timed_steps(child, officer):
    episode = make_episode(child, officer, last_seen=SEEN)
    event = make_event(episode, officer, CaseEvent.Kind.REPORTED, SEEN + dt.timedelta(hours=1))
    out = StringIO()

    with time_machine.travel(SEEN + dt.timedelta(hours=25), tick=False):
        call_command("notifications_scheduler", "--once", stdout=out)

    assert ProcessedEvent.objects.filter(event=event).exists()
    assert Notification.objects.filter(event=event).exists()
    assert Notification.objects.filter(episode=episode, step=Step.STILL_MISSING_24H).exists()
    assert "Processed 1 event(s); 1 timed step(s) fired; 0 episode(s)" in out.getvalue()


def test_running_twice_changes_nothing(child, officer):
    episode = make_episode(child, officer, last_seen=SEEN)
    make_event(episode, officer, CaseEvent.Kind.REPORTED, SEEN + dt.timedelta(hours=1))
    with time_machine.travel(SEEN + dt.timedelta(days=8), tick=False):
        call_command("notifications_scheduler", "--once", stdout=StringIO())
        first = _rows()
        out = StringIO()
        call_command("notifications_scheduler", "--once", stdout=out)

    assert _rows() == first
    assert len(first) > 3
    assert TimedStepFired.objects.filter(episode=episode).count() == 3
    assert out.getvalue() == ""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_schedulers_at_once_make_one_set_of_rows(postgres_only, child, officer):
    episodes = [
        make_episode(child, officer, last_seen=SEEN - dt.timedelta(days=30 * n), found_at=None)
        if n == 0
        else make_episode(
            child,
            officer,
            last_seen=SEEN - dt.timedelta(days=30 * n),
            found_at=SEEN - dt.timedelta(days=30 * n) + dt.timedelta(hours=30),
        )
        for n in range(3)
    ]
    for episode in episodes:
        make_event(episode, officer, CaseEvent.Kind.REPORTED, episode.reported_at)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            with time_machine.travel(SEEN + dt.timedelta(days=8), tick=False):
                call_command("notifications_scheduler", "--once", stdout=StringIO())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert ProcessedEvent.objects.count() == 3
    keys = list(Notification.objects.values_list("episode_id", "rule_id", "recipient_key"))
    assert len(keys) == len(set(keys))
    assert Notification.objects.filter(step=Step.STILL_MISSING_7D).count() == 1
    assert TimedStepFired.objects.filter(episode=episodes[0]).count() == 3


def test_editing_the_last_seen_time_later_does_not_postpone_the_escalations(child, officer):
    """Still missing at 24 hours counts from the earliest last-seen time recorded: a
    later last-seen time typed into the episode cannot put the escalation off."""
    from incidents.actions import episodes as actions

    episode = make_episode(child, officer, last_seen=SEEN)
    make_event(episode, officer, CaseEvent.Kind.REPORTED, SEEN + dt.timedelta(hours=1))
    with time_machine.travel(SEEN + dt.timedelta(hours=20), tick=False):
        call_command("notifications_scheduler", "--once", stdout=StringIO())
        episode.refresh_from_db()
        actions.episode_update(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            last_seen_at=SEEN + dt.timedelta(hours=10),
            reported_at=SEEN + dt.timedelta(hours=11),
        )
    episode.refresh_from_db()
    assert episode.last_seen_at == SEEN + dt.timedelta(hours=10)

    with time_machine.travel(SEEN + dt.timedelta(hours=24, minutes=5), tick=False):
        call_command("notifications_scheduler", "--once", stdout=StringIO())

    escalation = Notification.objects.get(
        episode=episode, step=Step.STILL_MISSING_24H, recipient_key__startswith="agency:"
    )
    assert escalation.due_at <= SEEN + dt.timedelta(hours=25)
