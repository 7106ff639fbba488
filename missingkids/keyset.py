"""Keyset pagination: "Next page" links that carry the last row's sort key.

A page is read as ``WHERE (sort key) > (the last row's) ORDER BY sort key LIMIT 26``,
through the index that serves the list's order, so the hundredth page costs what the
first does; an ``OFFSET`` reads and throws away every row before it. The order is taken
from the queryset itself (``order_by``), which must end with the id as tie-break; a
column that may be empty must say where empty values go (``nulls_last=True``).

The key travels signed (``django.core.signing``): one that is altered or unreadable
starts again at the first page rather than failing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import F, OrderBy, Q, QuerySet

SALT = "missingkids.keyset"
# Lists paged by key say how many rows they have up to this, and "more than" beyond it:
# counting a list of any length would read all of it, this reads a bounded number of rows.
COUNTED_AT_MOST = 1000


@dataclass(frozen=True)
class Key:
    path: str
    descending: bool
    nulls_last: bool


@dataclass
class KeysetPage:
    rows: list[Any]
    number: int  # 1 for the first page
    next_cursor: str  # "" on the last page

    @property
    def has_next(self) -> bool:
        return bool(self.next_cursor)


def keys_of(queryset: QuerySet, tie_break: tuple[str, ...] = ("pk", "id")) -> list[Key]:
    keys = []
    for item in queryset.query.order_by:
        if isinstance(item, str):
            keys.append(Key(item.lstrip("-"), item.startswith("-"), False))
        elif isinstance(item, OrderBy) and isinstance(item.expression, F):
            keys.append(Key(item.expression.name, item.descending, bool(item.nulls_last)))
        else:  # pragma: no cover - a list ordered otherwise cannot be paged by key
            raise ValueError(f"Cannot page by {item!r}")
    if not keys or keys[-1].path not in tie_break:
        raise ValueError("A keyset order must end with the id")
    return keys


def _value(row: Any, path: str) -> Any:
    value = row
    for name in path.split("__"):
        if value is None:
            return None
        try:
            value = getattr(value, name)
        except ObjectDoesNotExist:  # a one-to-one the row does not have: empty
            return None
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    return value


def _load(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:
            return dt.datetime.fromisoformat(value["t"])
        return dt.date.fromisoformat(value["d"])
    return value


def _after(keys: list[Key], values: list[Any]) -> Q:
    """Rows after ``values`` in the order of ``keys``."""
    after = Q(pk__in=[])
    same = Q()
    for key, value in zip(keys, values, strict=True):
        if value is None:
            # Empty values come last (nulls_last): nothing comes after them in this key.
            here = Q(pk__in=[])
            equal = Q(**{f"{key.path}__isnull": True})
        else:
            here = Q(**{f"{key.path}__{'lt' if key.descending else 'gt'}": value})
            if key.nulls_last:
                here |= Q(**{f"{key.path}__isnull": True})
            equal = Q(**{key.path: value})
        after |= same & here
        same &= equal
    first, value = keys[0], values[0]
    if value is not None:
        # Implied by the above, but a range on the leading column is what lets the
        # database start reading its index at the last row rather than at the top.
        bound = Q(**{f"{first.path}__{'lte' if first.descending else 'gte'}": value})
        if first.nulls_last:
            bound |= Q(**{f"{first.path}__isnull": True})
        after &= bound
    return after


def counted(rows: QuerySet, at_most: int = COUNTED_AT_MOST) -> tuple[int, bool]:
    """(how many rows, up to ``at_most``; whether there are more): one query that reads
    ``at_most + 1`` rows at most."""
    n = rows.order_by()[: at_most + 1].count()
    return min(n, at_most), n > at_most


def page(
    queryset: QuerySet,
    cursor: str | None,
    size: int,
    number: int = 1,
    *,
    tie_break: tuple[str, ...] = ("pk", "id"),
) -> KeysetPage:
    """The ``size`` rows after ``cursor`` (from ``KeysetPage.next_cursor``; none or one
    that does not read back gives the first page), and the cursor of the next page.
    ``tie_break``: the names the order may end with (a column unique in the rows)."""
    keys = keys_of(queryset, tie_break)
    if cursor:
        try:
            loaded = signing.loads(cursor, salt=SALT)
            values = [_load(value) for value in loaded["k"]]
            number = int(loaded["n"])
            queryset = queryset.filter(_after(keys, values))
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            number = 1
    rows = list(queryset[: size + 1])
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = signing.dumps(
            {"k": [_dump(_value(last, key.path)) for key in keys], "n": number + 1}, salt=SALT
        )
    return KeysetPage(rows=rows, number=number, next_cursor=next_cursor)


def rows(
    queryset: QuerySet, size: int, *, tie_break: tuple[str, ...] = ("pk", "id")
) -> Iterator[Any]:
    """Every row of ``queryset``, in its order, read ``size`` at a time: each chunk one
    query that reads by key after the last row of the one before, through the index that
    serves the order. The first rows come as soon as the index gives them, whatever the
    length (a server-side cursor, held across commits, is filled whole first). Rows may
    be model instances or ``values_list(named=True)`` rows holding the order's columns."""
    keys = keys_of(queryset, tie_break)
    chunk = queryset
    while True:
        read, last = 0, None
        for last in chunk[:size].iterator(chunk_size=size):
            read += 1
            yield last
        if read < size:
            return
        chunk = queryset.filter(_after(keys, [_value(last, key.path) for key in keys]))
