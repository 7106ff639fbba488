"""The worker's locks, on PostgreSQL (SQLite has no row locks): the children before their
notifications, as every change to notifications takes them (``models.NotificationQuerySet``),
and a claim never waits for anything while it holds rows.

Shown without timing: the statements' order as sent, and a second connection holding a
child's lock while the worker claims under ``lock_timeout`` (a wait would fail the test
at once, rather than hang it)."""

from __future__ import annotations

import datetime as dt
import re

import psycopg
import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import ChildVisibility
from notifications.models import Notification
from notifications.sending import _record_successes, claim_batch
from oversight.models import DueItem
from tests.factories import AgencyFactory
from tests.factories.incidents import EpisodeFactory

from .factories_delivery import DeliveryNotificationFactory

pytestmark = pytest.mark.postgres
D = Notification.Delivery

LOCKS = re.compile(
    r'FROM "(incidents_child|notifications_notification)".*FOR UPDATE|^UPDATE "(\w+)"'
)


def _locking(sql: list[str]) -> list[str]:
    """The tables locked, in the order the statements lock them."""
    order = []
    for statement in sql:
        found = LOCKS.search(statement)
        if found:
            order.append(found.group(1) or found.group(2))
    return order


@pytest.mark.django_db
def test_a_delivery_locks_the_children_before_the_notifications(postgres_only):
    rows = DeliveryNotificationFactory.create_batch(3, episode=EpisodeFactory())
    claimed = claim_batch(worker="w1", size=3)
    assert len(claimed) == 3
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        mine = _record_successes(claimed, worker="w1", sent_at={n.pk: now for n in claimed})
    assert mine == {row.pk for row in rows}
    order = _locking([query["sql"] for query in queries.captured_queries])
    assert order[0] == "incidents_child"
    assert order.index("incidents_child") < order.index("notifications_notification")


@pytest.mark.django_db
def test_an_update_in_a_transaction_locks_the_children_first(postgres_only):
    row = DeliveryNotificationFactory()
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        Notification.objects.filter(pk=row.pk).update(status=Notification.Status.TOLD)
    order = _locking([query["sql"] for query in queries.captured_queries])
    assert order[:2] == ["incidents_child", "notifications_notification"]


@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_a_retry_whose_child_another_transaction_holds(postgres_only):
    """A retry claimed leaves *E-mails failing*, so its child is locked to keep that
    list; the claim already holds its rows, so a child held elsewhere (the engine, say,
    which locks children and then changes their notifications) is skipped, not waited
    for, and its retry is left for the next claim."""
    now = timezone.now()
    episode = EpisodeFactory()
    # A council sees the child (the kept lists are per agency that may see it).
    ChildVisibility.objects.create(child=episode.child, agency=AgencyFactory(), responsible=True)
    held_child = DeliveryNotificationFactory(
        episode=episode, delivery=D.RETRYING, attempt_count=1,
        failing_since=now - dt.timedelta(minutes=5), next_attempt_at=now - dt.timedelta(minutes=1),
    )  # fmt: skip
    other = DeliveryNotificationFactory(next_attempt_at=now - dt.timedelta(seconds=30))
    assert DueItem.objects.filter(kind="emails_failing", item_id=held_child.pk).exists()
    params = connection.get_connection_params()
    conninfo = {
        key: params[key] for key in ("host", "port", "user", "password", "dbname") if key in params
    }
    with psycopg.connect(**conninfo) as engine:
        engine.execute(
            "SELECT id FROM incidents_child WHERE id = %s FOR UPDATE", [held_child.child_id]
        )
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        try:
            claimed = claim_batch(worker="w1", size=10)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        assert [n.pk for n in claimed] == [other.pk]
        engine.rollback()
    held_child.refresh_from_db()
    assert held_child.delivery == D.RETRYING
    assert DueItem.objects.filter(kind="emails_failing", item_id=held_child.pk).exists()
    # Once the child is free, the next claim takes the retry, and it leaves the list.
    assert [n.pk for n in claim_batch(worker="w1", size=10)] == [held_child.pk]
    assert not DueItem.objects.filter(kind="emails_failing", item_id=held_child.pk).exists()
    assert not mail.outbox
