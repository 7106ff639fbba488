"""Two calls with the same key at once, each on its own connection, on PostgreSQL: the
second waits for the first (the unique constraint) and replays its answer; the write is
done once. SQLite serialises writers, so it cannot show this."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from api.idempotency import run_once
from api.models import IdempotentRequest, Operation

from .conftest import register


def _someone_waits_on_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_key_at_once_is_done_once(postgres_only, police, admin_user) -> None:
    system, _ = register(police, admin_user)
    performed: list[str] = []
    results: dict[str, object] = {}
    errors: list[BaseException] = []
    first_inside = threading.Event()
    release_first = threading.Event()

    def call(name: str) -> None:
        def perform() -> tuple[int, dict]:
            performed.append(name)
            if name == "first":
                first_inside.set()
                assert release_first.wait(timeout=30)
            return 201, {"done_by": name}

        try:
            results[name] = run_once(
                client=system,
                keys=["key:same"],
                operation=Operation.REPORT_MISSING,
                fingerprint="f" * 64,
                perform=perform,
            )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=call, args=("first",))
    first.start()
    assert first_inside.wait(timeout=30)
    second = threading.Thread(target=call, args=("second",))
    second.start()
    # The second call is blocked on the first's uncommitted key row; then let it finish.
    for _ in range(3000):
        if _someone_waits_on_a_lock():
            break
        release_first.wait(timeout=0.01)
    release_first.set()
    first.join(timeout=30)
    second.join(timeout=30)

    assert not errors, errors
    assert performed == ["first"]
    assert results["first"].replayed is False
    assert results["second"].replayed is True
    assert results["second"].body == {"done_by": "first"}
    assert IdempotentRequest.objects.count() == 1
