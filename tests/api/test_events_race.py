"""The events feed skips nothing when transactions commit out of order, on PostgreSQL.

Two writers, each on its own connection (a thread), interleaved in a fixed order with
``threading.Event`` (no sleeps), and a reader on a third connection (the test's). An id
cursor ("everything after the last id seen") would lose the event of the transaction
that took the lower id but committed later; the feed's cursor does not. SQLite lets one
writer at a time commit, so it cannot show this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from incidents.actions.base import event_record
from incidents.models import CaseEvent
from tests.factories.incidents import ChildFactory

from .conftest import Caller
from .test_events import follow

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]

WAIT = 300  # seconds: only ever reached if a step never happens (a failure)


class Writer(threading.Thread):
    """Runs ``steps`` inside one transaction on its own connection, each step after the
    event it waits for."""

    def __init__(self, steps: list[tuple[threading.Event | None, Callable[[], None]]]) -> None:
        super().__init__()
        self.steps = steps
        self.errors: list[BaseException] = []
        self.committed = threading.Event()

    def run(self) -> None:
        try:
            with transaction.atomic():
                for wait_for, step in self.steps:
                    if wait_for is not None:
                        assert wait_for.wait(timeout=WAIT), "a step never came"
                    step()
            self.committed.set()
        except BaseException as error:
            self.errors.append(error)
            self.committed.set()
        finally:
            connection.close()


def take_transaction_id() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()")


def server_quiet_before(txid: int) -> None:
    """Wait until no transaction older than ``txid`` is in progress on the server. The
    feed's bound is the server's oldest transaction in progress: on a server of its own
    this holds at once, but on a server shared with other test runs one of theirs may be
    older, and would (rightly) hold the feed back."""
    pause = threading.Event()
    for _ in range(2400):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            if cursor.fetchone()[0] > txid:
                return
        pause.wait(timeout=0.05)
    pytest.fail("Another transaction on the server stayed open for two minutes")


@pytest.fixture
def setting(postgres_only, area_west, officer, police, admin_user):
    from .conftest import register

    child = ChildFactory(responsible_area=area_west, created_by=officer)
    _, token = register(police, admin_user)
    return child, officer, token


def test_a_lower_id_committed_after_a_higher_id_was_read_is_not_skipped(client, setting):
    child, officer, token = setting
    reader = Caller(client, token)
    made: dict[str, int] = {}

    def write(name: str) -> Callable[[], None]:
        def step() -> None:
            made[name] = event_record(
                child=child, kind=CaseEvent.Kind.REPORTED, actor=officer, summary=name
            ).pk

        return step

    b_has_its_transaction, a_wrote, b_may_commit, a_may_commit = (threading.Event() for _ in "1234")
    # B takes its transaction id first; A then writes (a later transaction id, the lower
    # event id) and stays open; B writes (the higher event id) and commits.
    b = Writer(
        [
            (None, take_transaction_id),
            (None, b_has_its_transaction.set),
            (b_may_commit, write("B")),
        ]
    )
    a = Writer(
        [
            (b_has_its_transaction, write("A")),
            (None, a_wrote.set),
            (a_may_commit, lambda: None),
        ]
    )
    b.start()
    a.start()
    assert a_wrote.wait(timeout=WAIT)
    b_may_commit.set()
    assert b.committed.wait(timeout=WAIT)
    assert made["A"] < made["B"]

    # B is committed and final (its transaction is older than A's): the feed gives it,
    # once no transaction older than B's is in progress anywhere on the server.
    server_quiet_before(CaseEvent.objects.get(pk=made["B"]).txid)
    seen, resume = follow(reader)
    assert [e["summary"] for e in seen] == ["B"]
    # What an id cursor would do next: nothing below B's id will ever be asked for.
    id_cursor_would_ask = CaseEvent.objects.filter(pk__gt=made["B"])

    a_may_commit.set()
    a.join(timeout=WAIT)
    b.join(timeout=WAIT)
    assert not a.errors and not b.errors, (a.errors, b.errors)

    later, _ = follow(reader, resume)
    assert [e["summary"] for e in later] == ["A"]
    assert not id_cursor_would_ask.exists()  # the event an id cursor would have lost


def test_a_later_event_waits_for_an_earlier_transaction_still_open(client, setting):
    child, officer, token = setting
    reader = Caller(client, token)
    first_wrote, first_may_commit = threading.Event(), threading.Event()

    def write(name: str) -> Callable[[], None]:
        return lambda: (
            event_record(child=child, kind=CaseEvent.Kind.REPORTED, actor=officer, summary=name)
            and None
        )

    first = Writer([(None, write("first")), (None, first_wrote.set), (first_may_commit, str)])
    first.start()
    assert first_wrote.wait(timeout=WAIT)
    second = Writer([(None, write("second"))])
    second.start()
    second.join(timeout=WAIT)
    assert not second.errors, second.errors
    assert CaseEvent.objects.filter(summary="second").exists()

    # "second" is committed, but "first" (an older transaction) is not yet: neither is
    # given, so the cursor cannot pass "first".
    seen, resume = follow(reader)
    assert seen == []

    first_may_commit.set()
    first.join(timeout=WAIT)
    assert not first.errors, first.errors
    server_quiet_before(CaseEvent.objects.get(summary="second").txid)
    later, _ = follow(reader, resume)
    assert [e["summary"] for e in later] == ["first", "second"]
