"""The rows of many tables in one query, as model instances.

A record that spans thirty tables (a child's whole record, for a subject access request)
would take a query a table. Here each table's rows are selected as one JSON object a
row, the tables joined with ``UNION ALL``, and each object is turned back into an
instance of its model, with the values Django would have read (times aware, in UTC;
dates, decimals, JSON). Works on PostgreSQL (``jsonb_build_object``) and SQLite
(``json_object``).

The related records a page shows by name are read afterwards, all kinds in one more
query (``attach``), and set on the instances as ``select_related`` would have set them:
only the relations asked for, so what is shown by name and what by id is the caller's
choice, as before.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.db.models import F, Q, QuerySet, Value
from django.db.models.base import ModelState
from django.db.models.functions import JSONObject

# jsonb_build_object takes at most 100 arguments: 50 keys and their values.
KEYS_PER_OBJECT = 50


@dataclass(frozen=True)
class Part:
    """The rows of one queryset, found under ``key`` in the result."""

    key: str
    queryset: QuerySet


def _to_datetime(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    # SQLite keeps UTC times without their offset; PostgreSQL gives them with it.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _to_json(value: Any) -> Any:
    # SQLite puts a JSON column's text in the object as a string.
    return json.loads(value) if connection.vendor == "sqlite" else value


def _converter(field: models.Field) -> Callable[[Any], Any] | None:
    if isinstance(field, models.DateTimeField):
        return _to_datetime
    if isinstance(field, models.DateField):
        return dt.date.fromisoformat
    if isinstance(field, models.TimeField):
        return dt.time.fromisoformat
    if isinstance(field, models.DecimalField):
        places = Decimal(1).scaleb(-field.decimal_places)
        return lambda value: Decimal(str(value)).quantize(places)
    if isinstance(field, models.BooleanField):
        return bool
    if isinstance(field, models.JSONField):
        return _to_json
    if isinstance(field, models.UUIDField | models.DurationField | models.BinaryField):
        raise NotImplementedError(f"{field} is not read by record_rows")
    return None


@functools.cache
def _plan(model: type[models.Model]) -> tuple[list[str], list[Callable[[Any], Any] | None]]:
    fields = model._meta.concrete_fields
    return [f.attname for f in fields], [_converter(f) for f in fields]


def _row_object(model: type[models.Model]) -> JSONObject:
    names = _plan(model)[0]
    chunks = [names[i : i + KEYS_PER_OBJECT] for i in range(0, len(names), KEYS_PER_OBJECT)]
    return JSONObject(
        **{
            f"p{n}": JSONObject(**{name: F(name) for name in chunk})
            for n, chunk in enumerate(chunks)
        }
    )


def _instance(model: type[models.Model], data: dict[str, Any]) -> models.Model:
    # As ``Model.from_db`` leaves it, without running ``__init__`` for every row.
    row: dict[str, Any] = {}
    for chunk in data.values():
        row.update(chunk)
    names, converters = _plan(model)
    obj = model.__new__(model)
    values = obj.__dict__
    for name, convert in zip(names, converters, strict=True):
        value = row.get(name)
        values[name] = value if value is None or convert is None else convert(value)
    obj._state = ModelState()
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def _union(parts: list[Part]) -> QuerySet:
    selects = [
        part.queryset.order_by()
        .annotate(
            record_rows_kind=Value(part.key),
            record_rows_row=_row_object(part.queryset.model),
        )
        .values_list("record_rows_kind", "record_rows_row")
        for part in parts
    ]
    query = selects[0].union(*selects[1:], all=True) if len(selects) > 1 else selects[0]
    # (Ordered by a column of the result: the first model's own ordering is not one.)
    return query.order_by("record_rows_kind")


def _read(
    rows: Iterable[tuple[str, Any]], model_of: dict[str, type[models.Model]]
) -> dict[str, list[models.Model]]:
    found: dict[str, list[models.Model]] = {key: [] for key in model_of}
    for key, data in rows:
        if isinstance(data, str):  # not decoded by the driver
            data = json.loads(data)
        found[key].append(_instance(model_of[key], data))
    return found


def fetch(parts: Iterable[Part]) -> dict[str, list[models.Model]]:
    """Every part's rows, in one query; in no particular order (see ``ordered``)."""
    parts = list(parts)
    if not parts:
        return {}
    return _read(_union(parts), {part.key: part.queryset.model for part in parts})


# An id no record has, standing for the record's own in a query compiled once.
_ANY_ID = -7_361_942_013
_compiled: dict[tuple[str, str], tuple[str, tuple[Any, ...], dict[str, type[models.Model]]]] = {}


def fetch_for(
    name: str, parts_of: Callable[[int], list[Part]], pk: int
) -> dict[str, list[models.Model]]:
    """``fetch(parts_of(pk))``, the SQL compiled once a process: building a union of
    forty querysets costs more than running it. ``parts_of`` must use ``pk`` only as a
    value compared with ids."""
    key = (connection.alias, name)
    if key not in _compiled:
        parts = parts_of(_ANY_ID)
        sql, params = _union(parts).query.sql_with_params()
        if _ANY_ID not in params:
            raise ValueError(f"{name}: the parts do not use the id")
        _compiled[key] = (sql, params, {part.key: part.queryset.model for part in parts})
    sql, params, model_of = _compiled[key]
    with connection.cursor() as cursor:
        cursor.execute(sql, tuple(pk if value == _ANY_ID else value for value in params))
        return _read(cursor.fetchall(), model_of)


def ordered(rows: list[Any], ordering: Iterable[str]) -> list[Any]:
    """``rows`` sorted as ``order_by(*ordering)`` sorts them on PostgreSQL (blanks last
    going up, first going down); only the model's own fields."""
    rows = list(rows)
    for term in reversed(list(ordering)):
        name = term.lstrip("-")
        down = term.startswith("-")
        rows.sort(key=lambda row, name=name: _sort_key(getattr(row, name)), reverse=down)
    return rows


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (True, 0) if value is None else (False, value)


# Related records ----------------------------------------------------------------------


def set_related(obj: models.Model, name: str, related: models.Model | None) -> None:
    """As ``select_related(name)`` leaves it: ``obj.<name>`` read without a query."""
    obj._meta.get_field(name).set_cached_value(obj, related)


def attach(
    wanted: Iterable[tuple[list[models.Model], tuple[str, ...]]],
    *,
    known: Iterable[models.Model] = (),
    agencies_of: tuple[type[models.Model], ...] = (),
) -> None:
    """Set each listed relation of each object, reading the records not already
    ``known`` in one query. ``agencies_of``: models whose own ``agency`` is wanted too
    (a person's agency), read in the same query. A relation whose record no longer exists
    (history rows keep ids without a constraint) is set to None."""
    wanted = [(objects, names) for objects, names in wanted if objects and names]
    have: dict[tuple[type[models.Model], Any], models.Model] = {
        (type(obj), obj.pk): obj for obj in known
    }
    needed: dict[type[models.Model], set[Any]] = defaultdict(set)
    for objects, names in wanted:
        for name in names:
            field = objects[0]._meta.get_field(name)
            target = field.related_model
            for obj in objects:
                value = getattr(obj, field.attname)
                if value is not None and (target, value) not in have:
                    needed[target].add(value)
    agency_model = agencies_of[0]._meta.get_field("agency").related_model if agencies_of else None
    if agency_model is not None:
        needed.setdefault(agency_model, set())
    parts = []
    for target, ids in needed.items():
        condition = Q(pk__in=ids)
        owners = False
        if target is agency_model:
            for owner in agencies_of:
                if needed.get(owner):
                    owners = True
                    condition |= Q(
                        pk__in=owner.objects.filter(pk__in=needed[owner]).values("agency")
                    )
        if ids or owners:
            parts.append(Part(target._meta.label, target._base_manager.filter(condition)))
    read = fetch(parts)
    for rows in read.values():
        for obj in rows:
            have[(type(obj), obj.pk)] = obj
    for owner in agencies_of:
        for obj in read.get(owner._meta.label, []):
            field = owner._meta.get_field("agency")
            set_related(obj, "agency", have.get((field.related_model, obj.agency_id)))
    for objects, names in wanted:
        for name in names:
            field = objects[0]._meta.get_field(name)
            target = field.related_model
            for obj in objects:
                value = getattr(obj, field.attname)
                field.set_cached_value(obj, None if value is None else have.get((target, value)))
