"""The order in which protocol events become final, for readers that follow them.

A reader that remembers "the last event id I saw" can miss events on PostgreSQL: ids
come from a sequence when a row is inserted, but rows become visible when their
transaction commits, and a transaction that took a lower id can commit after a higher id
was read. So each event also keeps the id of the transaction that wrote it
(``CaseEvent.txid``, PostgreSQL's ``pg_current_xact_id()``, 64-bit so it never wraps),
and readers:

- order events by ``(txid, id)``, and
- read only events whose transaction is older than the oldest transaction still in
  progress (``pg_snapshot_xmin(pg_current_snapshot())``), in the same statement.

Every transaction id below that ``xmin`` has ended, so every event it wrote is visible
to the statement, and every transaction that has not yet written (or not yet started)
will be given an id above it. The events returned are therefore a prefix of the final
``(txid, id)`` order that can never change: a cursor past them skips nothing. A
transaction left open holds the feed back (by as long as it stays open) but loses
nothing; read-only transactions take no id and hold nothing back.

SQLite lets one writer at a time commit, so ids are given in commit order there; every
event keeps ``txid`` 0 and the order is the id's.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class CurrentTransactionId(models.Func):
    """The database default of ``CaseEvent.txid``: the writing transaction's id on
    PostgreSQL (the top-level transaction's, inside savepoints too), 0 elsewhere."""

    output_field = models.BigIntegerField()

    def __init__(self) -> None:
        super().__init__()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        return "0", []

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        return "(pg_current_xact_id()::text::bigint)", []


class OldestTransactionInProgress(models.Func):
    """PostgreSQL: the statement's snapshot's ``xmin``, below which every transaction
    has ended, as a bigint (xid8 has no cast to bigint; its text form is the number)."""

    output_field = models.BigIntegerField()

    def __init__(self) -> None:
        super().__init__()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        return "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint)", []


def settled(queryset: models.QuerySet, *, vendor: str) -> models.QuerySet:
    """Only the events no transaction still in progress can come before."""
    if vendor != "postgresql":
        return queryset
    return queryset.filter(txid__lt=OldestTransactionInProgress())
