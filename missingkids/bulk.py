"""Many rows in one statement, with few parameters.

psycopg binds parameters client-side, in Python: a statement of thousands of ``%s``
spends more time binding than the database spends running it (700 rows of six values
took 22 ms to bind as ``VALUES``, 4 ms as arrays). On PostgreSQL rows are therefore
passed as one array a column and ``unnest``ed; elsewhere (SQLite) as ``VALUES``.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models

# Rows a statement at most.
CHUNK = 2000


def values_list(count: int, width: int) -> str:
    """``count`` rows of ``width`` placeholders, for ``VALUES``."""
    row = f"({', '.join(['%s'] * width)})"
    return ", ".join([row] * count)


def rows_sql(rows: list[tuple[Any, ...]], types: tuple[str, ...]) -> tuple[str, list[Any]]:
    """These rows (values already adapted for the database) as a table to insert from or
    compare with, and its parameters: on PostgreSQL an array a column, ``unnest``ed, so a
    statement of 2,000 rows has a few parameters; elsewhere ``VALUES``."""
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{db_type}[]" for db_type in types)
        columns = [list(column) for column in zip(*rows, strict=True)]
        return f"SELECT * FROM unnest({arrays})", columns  # noqa: S608 (types from the models)
    return f"VALUES {values_list(len(rows), len(types))}", [v for row in rows for v in row]


def db_types(model: type[models.Model], columns: tuple[str, ...]) -> tuple[str, ...]:
    """The database types of these columns of a model (``rows_sql``'s ``types``)."""
    fields = {field.column: field for field in model._meta.concrete_fields}
    return tuple(
        fields[column].rel_db_type(connection)
        if fields[column].is_relation
        else fields[column].db_type(connection)
        for column in columns
    )


def bulk_insert(model: type[models.Model], columns: tuple[str, ...], rows: list[Any]) -> None:
    """Insert these unsaved instances of a model (only ``columns``, which must name every
    column without a database default but the key, by attribute name): on PostgreSQL
    from arrays (``rows_sql``), their values as the driver takes them (no field's own
    preparation: plain numbers, text, booleans and aware datetimes); elsewhere by
    ``bulk_create``. No signals are sent, as with ``bulk_create``."""
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(rows, batch_size=CHUNK)
        return
    table = connection.ops.quote_name(model._meta.db_table)
    types = db_types(model, columns)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            part = rows[start : start + CHUNK]
            select, params = rows_sql([tuple(getattr(r, c) for c in columns) for r in part], types)
            cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) {select}", params)
