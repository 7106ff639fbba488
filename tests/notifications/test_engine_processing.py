"""Processing events: once only, after commit, never raising into the request; rule
versions; two processes at once on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection

from incidents.models import CaseEvent
from notifications import engine
from notifications.engine import (
    notifications_for_event,
    process_event,
    process_event_safely,
    process_pending_events,
)
from notifications.models import Notification, ProcessedEvent, Rule, RuleVersion
from notifications.rules import rule_save_with_version

from .engine_world import (
    REPORTED_LA,
    UTC,
    by_rule,
    child_fixture,  # noqa: F401
    contacts_fixture,  # noqa: F401
    make_episode,
    make_event,
    notify,
)

pytestmark = pytest.mark.django_db

SEEN = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture
def report(child, officer):
    episode = make_episode(child, officer, last_seen=SEEN)
    return make_event(episode, officer, CaseEvent.Kind.REPORTED, SEEN + dt.timedelta(hours=1))


def test_notifications_for_event_returns_unsaved_rows(report):
    rows = notifications_for_event(report)

    assert rows
    assert all(row.pk is None for row in rows)
    assert not Notification.objects.exists()


def test_processing_the_same_event_twice_adds_nothing(report):
    first = process_event(report.pk)
    rows = set(Notification.objects.values_list("pk", "rule_id", "recipient_key"))

    second = process_event(report.pk)

    assert first == len(rows) > 0
    assert second == 0
    assert set(Notification.objects.values_list("pk", "rule_id", "recipient_key")) == rows
    assert ProcessedEvent.objects.filter(event=report).count() == 1


def test_a_lost_receipt_still_cannot_duplicate(report):
    process_event(report.pk)
    count = Notification.objects.count()
    ProcessedEvent.objects.all().delete()

    process_event(report.pk)

    assert Notification.objects.count() == count


def test_history_events_are_ignored(child, officer):
    episode = make_episode(child, officer, last_seen=SEEN)
    event = make_event(episode, officer, CaseEvent.Kind.EPISODE_EDITED, SEEN)
    CaseEvent.objects.filter(pk=event.pk).update(is_protocol=False)

    assert process_event(event.pk) == 0
    assert not ProcessedEvent.objects.exists()


def test_a_protocol_event_is_processed_after_commit_only(
    child, officer, django_capture_on_commit_callbacks
):
    episode = make_episode(child, officer, last_seen=SEEN)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        make_event(episode, officer, CaseEvent.Kind.REPORTED, SEEN + dt.timedelta(hours=1))
    assert not Notification.objects.exists()

    for callback in callbacks:
        callback()

    assert Notification.objects.filter(episode=episode).exists()


def test_a_failure_is_logged_by_id_and_not_raised(report, caplog):
    with (
        mock.patch.object(engine, "notifications_for_event", side_effect=RuntimeError("boom")),
        caplog.at_level(logging.ERROR, logger="notifications.engine"),
    ):
        process_event_safely(report.pk)

    assert f"case event {report.pk} failed" in caplog.text
    assert report.child.last_name not in caplog.messages[0]
    # Nothing half-done: no receipt, so the scheduler will try again.
    assert not ProcessedEvent.objects.exists()
    assert process_pending_events() == 1
    assert Notification.objects.filter(event=report).exists()


def test_pending_events_are_processed_oldest_first_and_once(child, officer):
    episode = make_episode(child, officer, last_seen=SEEN, found_at=SEEN + dt.timedelta(hours=5))
    reported = make_event(episode, officer, CaseEvent.Kind.REPORTED, SEEN + dt.timedelta(hours=1))
    returned = make_event(episode, officer, CaseEvent.Kind.RETURNED, SEEN + dt.timedelta(hours=5))

    assert process_pending_events(limit=1) == 1
    assert ProcessedEvent.objects.get().event == reported
    assert process_pending_events() == 1
    assert process_pending_events() == 0
    assert Notification.objects.filter(event=returned).exists()


def test_an_edited_rule_applies_to_new_events_only(child, officer, admin_user):
    episode = make_episode(child, officer, last_seen=SEEN, found_at=SEEN + dt.timedelta(hours=5))
    first = notify(episode, officer, CaseEvent.Kind.REPORTED, SEEN + dt.timedelta(hours=1))
    old = by_rule(first, REPORTED_LA)

    rule = Rule.objects.get(name="Returned: police tell the responsible local authority")
    rule.due_after_hours = Decimal(12)
    rule_save_with_version(rule=rule, acting_user=admin_user)
    reported_rule = Rule.objects.get(name=REPORTED_LA)
    reported_rule.due_after_hours = Decimal(12)
    rule_save_with_version(rule=reported_rule, acting_user=admin_user)

    returned = notify(episode, officer, CaseEvent.Kind.RETURNED, SEEN + dt.timedelta(hours=5))

    old.refresh_from_db()
    assert old.rule_version == 1
    assert old.due_at == SEEN + dt.timedelta(hours=25)
    new = by_rule(returned, "Returned: police tell the responsible local authority")
    assert new.rule_version == 2
    assert new.due_at == SEEN + dt.timedelta(hours=17)
    version = RuleVersion.objects.get(rule=rule, version=2)
    assert version.changed_by == admin_user
    assert version.data["due_after_hours"] == "12.00"
    assert RuleVersion.objects.get(rule=rule, version=1).data["due_after_hours"] == "24.00"


def test_a_new_rule_starts_at_version_1(admin_user):
    rule = Rule(
        name="New",
        step="returned",
        teller="police",
        recipient="responsible_la",
        due_after_hours=Decimal(1),
        basis="Local decision",
    )

    rule_save_with_version(rule=rule, acting_user=admin_user)

    assert rule.version == 1
    assert RuleVersion.objects.get(rule=rule).changed_by == admin_user


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_processes_at_once_make_one_set_of_rows(postgres_only, child, officer):
    episode = make_episode(child, officer, last_seen=SEEN)
    event = make_event(episode, officer, CaseEvent.Kind.REPORTED, SEEN + dt.timedelta(hours=1))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            process_event(event.pk)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert ProcessedEvent.objects.filter(event=event).count() == 1
    keys = list(Notification.objects.filter(event=event).values_list("rule_id", "recipient_key"))
    assert keys and len(keys) == len(set(keys))
