"""The backup and restore drill (scripts/restore_drill.py), run against the test database
on PostgreSQL: dumped, restored into a scratch database, compared, dropped."""

from __future__ import annotations

import datetime as dt
import importlib.util
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from missingkids.audit.models import AccessLogEntry
from tests.factories.incidents import (
    ChildFactory,
    EpisodeFactory,
    ReturnInterviewFactory,
    SafeAndWellCheckFactory,
)

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "restore_drill.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("restore_drill", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


drill = _load_script()


def _database_url() -> str:
    db = connection.settings_dict
    user = quote(db["USER"] or "")
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _databases() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database")
        return {name for (name,) in cursor.fetchall()}


# The comparison, without a database --------------------------------------------------


def test_a_restore_with_the_same_rows_passes():
    snapshot = drill.Snapshot({"a": 3, "audit_accesslogentry": 2}, {"a_id_seq": 3}, "abc")
    copy = drill.Snapshot(dict(snapshot.counts), {"a_id_seq": 3}, "abc")
    assert drill.compare(snapshot, copy) == []
    assert drill.compare(snapshot, snapshot) == []


def test_every_difference_is_named():
    source = drill.Snapshot({"a": 3, "b": 1, "audit_accesslogentry": 2}, {"a_id_seq": 3}, "abc")
    restored = drill.Snapshot({"a": 2, "c": 0, "audit_accesslogentry": 2}, {"a_id_seq": 2}, "xyz")
    problems = drill.compare(source, restored)
    assert "table b is missing from the restore" in problems
    assert "table c is in the restore but not in the database" in problems
    assert "table a: 3 rows in the database, 2 in the restore" in problems
    assert "sequence a_id_seq: at 3 in the database, 2 in the restore" in problems
    assert "the access log's rows differ between the database and the restore" in problems


def test_the_command_refuses_anything_but_postgres(capsys):
    assert drill.main(["sqlite:///db.sqlite3"]) == drill.COULD_NOT_RUN


# The drill itself, on PostgreSQL ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_drill_restores_every_row_and_the_access_logs_guards(officer, social_worker):
    # Committed data (a transactional test), so pg_dump, in another connection, sees it.
    child = ChildFactory(created_by=social_worker)
    episode = EpisodeFactory(
        child=child, created_by=officer, found_at=timezone.now() - dt.timedelta(hours=1)
    )
    SafeAndWellCheckFactory(episode=episode, agency=officer.agency, recorded_by=officer)
    ReturnInterviewFactory(episode=episode, owner=social_worker.agency)
    for action in (AccessLogEntry.Action.SIGN_IN, AccessLogEntry.Action.VIEW_CHILD):
        AccessLogEntry.objects.create(user=officer, action=action, child_id=child.pk)
    scratch = f"{connection.settings_dict['NAME']}_drill_test"

    result = subprocess.run(
        [sys.executable, str(SCRIPT), _database_url(), "--scratch-name", scratch],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESTORE DRILL PASSED" in result.stdout
    assert "Access log: 2 rows in both" in result.stdout
    assert scratch not in _databases()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_disabled_trigger_fails_the_check(officer):
    AccessLogEntry.objects.create(user=officer, action=AccessLogEntry.Action.SIGN_IN)
    with psycopg.connect(_database_url(), autocommit=True) as conn:
        assert drill.check_access_log_guards(conn) == []
        conn.execute("ALTER TABLE audit_accesslogentry DISABLE TRIGGER audit_accesslog_append_only")
        try:
            problems = drill.check_access_log_guards(conn)
        finally:
            conn.execute(
                "ALTER TABLE audit_accesslogentry ENABLE TRIGGER audit_accesslog_append_only"
            )
    assert problems == [
        "the access log's trigger audit_accesslog_append_only is disabled in the restore",
        "a DELETE of the access log was not refused in the restore",
    ]
    assert AccessLogEntry.objects.count() == 1  # the check's DELETE was rolled back
