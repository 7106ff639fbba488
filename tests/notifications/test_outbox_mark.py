"""The scheduler reads outbox events from a mark on, not the whole history: an idle pass
stays small however many events there are, and no event without a receipt is missed."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import CaseEvent
from notifications.engine import outbox_mark, process_event, process_pending_events
from notifications.models import OutboxMark, ProcessedEvent

from .engine_world import (
    UTC,
    child_fixture,  # noqa: F401
    contacts_fixture,  # noqa: F401
    make_episode,
    make_event,
)

pytestmark = pytest.mark.django_db
SEEN = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def events(child, officer):
    episode = make_episode(child, officer, last_seen=SEEN)
    made = [
        make_event(episode, officer, CaseEvent.Kind.REPORTED, SEEN + n * dt.timedelta(minutes=1))
        for n in range(3)
    ]
    for event in made:
        process_event(event.pk)
    return made


def test_the_mark_moves_past_processed_events_after_two_full_checks(events, settings):
    start = timezone.now()
    top = max(event.pk for event in events)
    # First check: nothing is known to be done yet below the events it saw.
    assert outbox_mark(start) == 0
    # Within the interval, no new check.
    assert outbox_mark(start + settings.OUTBOX_SWEEP_INTERVAL / 2) == 0
    # The next check: everything the first one saw has its receipt.
    assert outbox_mark(start + settings.OUTBOX_SWEEP_INTERVAL) == top + 1


def test_an_idle_pass_reads_only_from_the_mark(events, settings):
    later = timezone.now()
    outbox_mark(later)
    outbox_mark(later + settings.OUTBOX_SWEEP_INTERVAL)
    idle = later + settings.OUTBOX_SWEEP_INTERVAL + HOUR / 2
    with time_machine.travel(idle, tick=False), CaptureQueriesContext(connection) as queries:
        assert process_pending_events() == 0
    # The mark, and the events from the mark on: no full check inside the interval.
    assert len(queries) == 2
    assert f'"id" >= {max(e.pk for e in events) + 1}' in queries[-1]["sql"]


def test_an_event_without_a_receipt_is_never_skipped(events, child, officer, settings):
    later = timezone.now()
    outbox_mark(later)
    outbox_mark(later + settings.OUTBOX_SWEEP_INTERVAL)
    # A new event (the request's own processing failed): above the mark, read at once.
    episode = events[0].episode
    late = make_event(episode, officer, CaseEvent.Kind.RISK_REGRADED, SEEN + 2 * HOUR)
    with time_machine.travel(later + settings.OUTBOX_SWEEP_INTERVAL + HOUR / 2, tick=False):
        assert process_pending_events() == 1
    assert ProcessedEvent.objects.filter(event=late).exists()
    # A receipt removed by hand, below the mark: the next full check lowers the mark.
    ProcessedEvent.objects.filter(event=events[0]).delete()
    with time_machine.travel(later + 2 * settings.OUTBOX_SWEEP_INTERVAL, tick=False):
        assert process_pending_events() == 1
    assert ProcessedEvent.objects.filter(event=events[0]).exists()
    assert OutboxMark.objects.get().below == events[0].pk
