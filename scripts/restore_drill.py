"""Backup and restore drill: dump a database, restore it into a scratch one, compare, drop.

    .venv/bin/python scripts/restore_drill.py postgres://USER@HOST:5432/missingkids

(or with DATABASE_URL set and no argument). It

1. opens a snapshot of the database (a repeatable-read transaction) and, in it, counts
   the rows of every table, reads every sequence, and takes a digest of the access log
   (an MD5 over its rows in id order);
2. dumps that same snapshot with ``pg_dump --format=custom --snapshot=...``, so the
   counts are exactly what the dump holds even while the service is in use;
3. creates a scratch database beside it (``<name>_restore_drill_<pid>``) and restores
   the dump into it with ``pg_restore --no-owner --no-acl`` (as the connecting role);
4. checks that the restore holds the same tables with the same row counts, the same
   sequence positions, an access log with the same rows (same digest), and the access
   log's append-only triggers present, enabled, and refusing a DELETE and a TRUNCATE;
5. drops the scratch database and deletes the dump, whatever happened.

It prints what it checked and ``RESTORE DRILL PASSED``, or what differed and ``RESTORE
DRILL FAILED``; the exit status is 0, 1 (a difference) or 2 (it could not run: no
pg_dump, no connection, no right to create a database).

The connecting role needs to read every table and to create databases (CREATEDB). The
dump holds personal data: it is written to a private temporary folder and deleted.

pg_dump must not be older than the server. ``PG_BIN`` names a folder holding pg_dump
and pg_restore; otherwise they are taken from PATH, or, if those are older than the
server, from Debian's ``/usr/lib/postgresql/<server major version>/bin``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ACCESS_LOG_TABLE = "audit_accesslogentry"
# The access log's append-only triggers (migrations audit 0002 and 0005).
ACCESS_LOG_TRIGGERS = ("audit_accesslog_append_only", "audit_accesslog_no_truncate")
PASSED, FAILED, COULD_NOT_RUN = 0, 1, 2


class DrillError(Exception):
    """The drill could not be run (as opposed to a restore that differs)."""


@dataclass
class Snapshot:
    """What a database holds: row counts, sequence positions, the access log's digest."""

    counts: dict[str, int] = field(default_factory=dict)
    sequences: dict[str, int | None] = field(default_factory=dict)
    access_log_digest: str | None = None


def _tables(cursor: psycopg.Cursor) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY schemaname, tablename"
    )
    return list(cursor.fetchall())


def _name(schema: str, table: str) -> str:
    return table if schema == "public" else f"{schema}.{table}"


def read_snapshot(cursor: psycopg.Cursor) -> Snapshot:
    """Row counts of every table, sequence positions and the access log's digest."""
    snapshot = Snapshot()
    for schema, table in _tables(cursor):
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        snapshot.counts[_name(schema, table)] = cursor.fetchone()[0]
    cursor.execute(
        "SELECT schemaname, sequencename, last_value FROM pg_sequences "
        "ORDER BY schemaname, sequencename"
    )
    for schema, name, last_value in cursor.fetchall():
        snapshot.sequences[_name(schema, name)] = last_value
    if ACCESS_LOG_TABLE in snapshot.counts:
        # One MD5 per row, then one over those in id order: the log's whole content,
        # without holding the whole log in one string.
        cursor.execute(
            sql.SQL(
                "SELECT md5(coalesce(string_agg(md5(t::text), '' ORDER BY t.id), '')) FROM {} AS t"
            ).format(sql.Identifier(ACCESS_LOG_TABLE))
        )
        snapshot.access_log_digest = cursor.fetchone()[0]
    return snapshot


def compare(source: Snapshot, restored: Snapshot) -> list[str]:
    """What differs between the database and its restore (empty when nothing does)."""
    problems = []
    for table in sorted(source.counts.keys() - restored.counts.keys()):
        problems.append(f"table {table} is missing from the restore")
    for table in sorted(restored.counts.keys() - source.counts.keys()):
        problems.append(f"table {table} is in the restore but not in the database")
    for table in sorted(source.counts.keys() & restored.counts.keys()):
        if source.counts[table] != restored.counts[table]:
            problems.append(
                f"table {table}: {source.counts[table]} rows in the database, "
                f"{restored.counts[table]} in the restore"
            )
    for sequence in sorted(source.sequences):
        if restored.sequences.get(sequence, "missing") != source.sequences[sequence]:
            problems.append(
                f"sequence {sequence}: at {source.sequences[sequence]} in the database, "
                f"{restored.sequences.get(sequence, 'missing')} in the restore"
            )
    if source.access_log_digest != restored.access_log_digest:
        problems.append("the access log's rows differ between the database and the restore")
    return problems


def check_access_log_guards(connection: psycopg.Connection) -> list[str]:
    """The append-only triggers are in the restore, enabled, and refuse what they should."""
    problems = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [ACCESS_LOG_TABLE])
        if cursor.fetchone()[0] is None:
            return [f"the access log table {ACCESS_LOG_TABLE} is missing from the restore"]
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger "
            "WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [ACCESS_LOG_TABLE],
        )
        triggers = dict(cursor.fetchall())
    for name in ACCESS_LOG_TRIGGERS:
        if name not in triggers:
            problems.append(f"the access log's trigger {name} is missing from the restore")
        elif triggers[name] == "D":
            problems.append(f"the access log's trigger {name} is disabled in the restore")
    table = sql.Identifier(ACCESS_LOG_TABLE)
    attempts = [
        ("TRUNCATE", sql.SQL("TRUNCATE {}").format(table)),
        # A row trigger fires only for a row: the oldest, if there is one.
        (
            "DELETE",
            sql.SQL("DELETE FROM {t} WHERE id = (SELECT min(id) FROM {t})").format(t=table),
        ),
    ]
    for what, statement in attempts:
        refused = False
        try:
            with connection.transaction(force_rollback=True), connection.cursor() as cursor:
                cursor.execute(statement)
                empty = what == "DELETE" and cursor.rowcount == 0
        except psycopg.errors.RaiseException:
            refused = True
            empty = False
        if not refused and not empty:
            problems.append(f"a {what} of the access log was not refused in the restore")
    return problems


def _major(version_text: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", version_text)
    if match is None:
        raise DrillError(f"cannot read a version from {version_text!r}")
    return int(match.group(1))


def client_tools(server_major: int) -> tuple[str, str]:
    """pg_dump and pg_restore at least as new as the server (see the module's notes)."""
    folders = [os.environ["PG_BIN"]] if os.environ.get("PG_BIN") else []
    folders += ["", f"/usr/lib/postgresql/{server_major}/bin"]
    found = []
    for folder in folders:
        dump = str(Path(folder) / "pg_dump") if folder else shutil.which("pg_dump")
        restore = str(Path(folder) / "pg_restore") if folder else shutil.which("pg_restore")
        if not dump or not restore or not (Path(dump).exists() and Path(restore).exists()):
            continue
        version = subprocess.run(  # noqa: S603 - a fixed program, no shell
            [dump, "--version"], check=True, capture_output=True, text=True
        ).stdout
        if _major(version) >= server_major:
            return dump, restore
        found.append(f"{dump} ({version.strip()})")
    raise DrillError(
        f"no pg_dump of version {server_major} or newer (the server's) was found"
        + (f"; found only {', '.join(found)}" if found else "")
        + ". Install the PostgreSQL client of the server's version, or set PG_BIN."
    )


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise DrillError(f"{Path(command[0]).name} failed:\n{result.stderr.strip()}")


def drill(url: str, *, scratch_name: str | None = None, out=sys.stdout) -> int:
    params = conninfo_to_dict(make_conninfo(url))
    database = params.get("dbname") or params.get("user") or ""
    scratch = scratch_name or f"{database}_restore_drill_{os.getpid()}"[:63]
    scratch_conninfo = make_conninfo(url, dbname=scratch)

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    say(f"Restore drill of database {database!r} through scratch database {scratch!r}.")
    workdir = Path(tempfile.mkdtemp(prefix="restore_drill_"))
    dump_file = workdir / "database.dump"
    admin = psycopg.connect(url, autocommit=True)
    created = False
    try:
        server_major = admin.info.server_version // 10000
        pg_dump, pg_restore = client_tools(server_major)
        say(f"Server PostgreSQL {server_major}; using {pg_dump} and {pg_restore}.")

        # One snapshot for the counts and the dump: exact even on a database in use.
        with psycopg.connect(url) as source:
            source.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            source.read_only = True
            snapshot_id = source.execute("SELECT pg_export_snapshot()").fetchone()[0]
            with source.cursor() as cursor:
                before = read_snapshot(cursor)
            _run(
                [
                    pg_dump,
                    "--format=custom",
                    f"--snapshot={snapshot_id}",
                    f"--file={dump_file}",
                    f"--dbname={make_conninfo(url)}",
                ]
            )
            source.rollback()
        say(
            f"Dumped {len(before.counts)} tables, "
            f"{sum(before.counts.values())} rows ({dump_file.stat().st_size} bytes)."
        )

        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(scratch))
        )
        created = True
        _run(
            [
                pg_restore,
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                f"--dbname={scratch_conninfo}",
                str(dump_file),
            ]
        )
        with psycopg.connect(scratch_conninfo) as restored:
            with restored.cursor() as cursor:
                after = read_snapshot(cursor)
            restored.rollback()
            restored.autocommit = True
            problems = compare(before, after) + check_access_log_guards(restored)

        say(
            f"Compared {len(before.counts)} tables' row counts and "
            f"{len(before.sequences)} sequences, the access log and its triggers."
        )
        if problems:
            for problem in problems:
                say(f"  DIFFERENCE: {problem}")
            say("RESTORE DRILL FAILED")
            return FAILED
        say(
            f"Access log: {before.counts.get(ACCESS_LOG_TABLE)} rows in both, the same "
            f"content (digest {before.access_log_digest}); its triggers "
            f"{' and '.join(ACCESS_LOG_TRIGGERS)} present and refusing DELETE and TRUNCATE."
        )
        say("RESTORE DRILL PASSED")
        return PASSED
    finally:
        if created:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )
            say(f"Dropped scratch database {scratch!r}.")
        admin.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "database_url",
        nargs="?",
        default=os.environ.get("DATABASE_URL", ""),
        help="postgres://... of the database to drill (default: DATABASE_URL)",
    )
    parser.add_argument("--scratch-name", help="name of the scratch database to restore into")
    args = parser.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        print("Give a postgres:// DATABASE_URL (argument or environment).", file=sys.stderr)
        return COULD_NOT_RUN
    try:
        return drill(args.database_url, scratch_name=args.scratch_name)
    except (DrillError, psycopg.Error) as error:
        print(f"RESTORE DRILL COULD NOT RUN: {error}", file=sys.stderr)
        return COULD_NOT_RUN


if __name__ == "__main__":
    sys.exit(main())
