"""The visibility table: which agency may see which child, kept as rows.

The rule (``incidents.access``): an agency sees a child when it serves the child's
responsible area, or serves the host area of the child's current placement, or is
currently involved with the child. "Current" is counted in whole days, Europe/London,
the same for placements and involvements: from the start day to the end day inclusive,
so one that starts in the future grants nothing until that day.

``ChildVisibility`` holds the result so that every list and count is one indexed
``EXISTS``. It is written here only, in the same transaction as every change to the
facts it follows:

- a child added, or its responsible area changed; a placement or an involvement added,
  changed or removed (``post_save``/``post_delete`` receivers, and ``child_update``
  for the area, which it changes with ``QuerySet.update()``);
- the areas an agency serves (``m2m_changed``, from the admin or anywhere else);
- the passing of days: ``apply_dated_changes`` (a step of the scheduler's pass) brings
  up to date the children whose placements or involvements started or ended since the
  day it last ran. Until that pass runs after midnight, a placement or involvement
  starting today grants nothing yet (at most one scheduler interval).

Bulk writes that send no signals (``bulk_create``, ``QuerySet.update``) must call
``refresh_children`` themselves, or be followed by ``manage.py rebuild_visibility``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from missingkids.accounts.models import Agency, LocalAuthorityArea, User

from .models import Child, ChildVisibility, Involvement, Placement, VisibilityClock
from .signals import visibility_changed

# (agency_id, child_id) -> (responsible, host, involved)
Reasons = tuple[bool, bool, bool]
Pairs = dict[tuple[int, int], Reasons]

CHUNK = 2000


def _today(today: dt.date | None) -> dt.date:
    return today or timezone.localdate()


def placement_current(today: dt.date, prefix: str = "") -> Q:
    """A placement current on ``today``: started, and not yet ended."""
    return Q(**{f"{prefix}start__lte": today}) & (
        Q(**{f"{prefix}end__isnull": True}) | Q(**{f"{prefix}end__gte": today})
    )


def involvement_current(today: dt.date, prefix: str = "") -> Q:
    """An involvement current on ``today``: started, and not yet ended (as a placement)."""
    return placement_current(today, prefix)


# The rule, from the raw facts -----------------------------------------------------


def children_visible_to_by_rules(user: User, today: dt.date | None = None) -> QuerySet[Child]:
    """The rule computed from the raw facts (the reference the table is checked against)."""
    from .access import has_case_role

    if not has_case_role(user):
        return Child.objects.none()
    today = _today(today)
    areas = LocalAuthorityArea.agencies.through.objects.filter(agency_id=user.agency_id).values(
        "localauthorityarea_id"
    )
    hosted = Placement.objects.filter(
        placement_current(today), child=OuterRef("pk"), host_area_id__in=areas
    )
    involved = Involvement.objects.filter(
        involvement_current(today), child=OuterRef("pk"), agency_id=user.agency_id
    )
    return Child.objects.filter(
        Q(responsible_area_id__in=areas) | Q(Exists(hosted)) | Q(Exists(involved))
    )


def _area_agencies() -> dict[int, set[int]]:
    served: dict[int, set[int]] = defaultdict(set)
    rows = LocalAuthorityArea.agencies.through.objects.values_list(
        "localauthorityarea_id", "agency_id"
    )
    for area_id, agency_id in rows:
        served[area_id].add(agency_id)
    return served


def _combine(
    served: dict[int, set[int]],
    responsible: Iterable[tuple[int, int]],
    hosted: Iterable[tuple[int, int]],
    involved: Iterable[tuple[int, int]],
) -> Pairs:
    flags: dict[tuple[int, int], list[bool]] = defaultdict(lambda: [False, False, False])
    for child_id, area_id in responsible:
        for agency_id in served.get(area_id, ()):
            flags[agency_id, child_id][0] = True
    for child_id, area_id in hosted:
        for agency_id in served.get(area_id, ()):
            flags[agency_id, child_id][1] = True
    for child_id, agency_id in involved:
        flags[agency_id, child_id][2] = True
    return {pair: (r, h, i) for pair, (r, h, i) in flags.items()}


def pairs_for_children(child_ids: Iterable[int], today: dt.date | None = None) -> Pairs:
    """The rule for these children: every (agency, child) pair with its reasons. Locks the
    children: call it in a transaction."""
    today = _today(today)
    ids = list(child_ids)
    if not ids:
        return {}
    return _combine(
        _area_agencies(),
        # Locked (in id order), so two changes to one child's facts at once refresh its
        # rows one after the other.
        Child.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "responsible_area_id"),
        Placement.objects.filter(placement_current(today), child_id__in=ids).values_list(
            "child_id", "host_area_id"
        ),
        Involvement.objects.filter(involvement_current(today), child_id__in=ids).values_list(
            "child_id", "agency_id"
        ),
    )


def pairs_for_agencies(agency_ids: Iterable[int], today: dt.date | None = None) -> Pairs:
    """The rule for these agencies: every (agency, child) pair with its reasons."""
    today = _today(today)
    agencies = set(agency_ids)
    served = {
        area: found & agencies for area, found in _area_agencies().items() if found & agencies
    }
    areas = list(served)
    pairs = _combine(
        served,
        Child.objects.filter(responsible_area_id__in=areas).values_list(
            "pk", "responsible_area_id"
        ),
        Placement.objects.filter(placement_current(today), host_area_id__in=areas).values_list(
            "child_id", "host_area_id"
        ),
        Involvement.objects.filter(involvement_current(today), agency_id__in=agencies).values_list(
            "child_id", "agency_id"
        ),
    )
    return pairs


def all_pairs(today: dt.date | None = None) -> Pairs:
    """The rule for every child (for ``rebuild_visibility``)."""
    today = _today(today)
    return _combine(
        _area_agencies(),
        Child.objects.values_list("pk", "responsible_area_id").iterator(chunk_size=CHUNK),
        Placement.objects.filter(placement_current(today))
        .values_list("child_id", "host_area_id")
        .iterator(chunk_size=CHUNK),
        Involvement.objects.filter(involvement_current(today))
        .values_list("child_id", "agency_id")
        .iterator(chunk_size=CHUNK),
    )


# Keeping the table equal to the rule ---------------------------------------------


def _stored(rows: QuerySet[ChildVisibility]) -> dict[tuple[int, int], tuple[int, Reasons]]:
    return {
        (agency_id, child_id): (pk, (r, h, i))
        for pk, agency_id, child_id, r, h, i in rows.values_list(
            "pk", "agency_id", "child_id", "responsible", "host", "involved"
        ).iterator(chunk_size=CHUNK)
    }


def _apply(expected: Pairs, stored: dict[tuple[int, int], tuple[int, Reasons]]) -> int:
    """Write the difference; returns how many rows were added, changed or removed."""
    gone = [pk for pair, (pk, _) in stored.items() if pair not in expected]
    new = [
        ChildVisibility(agency_id=agency_id, child_id=child_id, responsible=r, host=h, involved=i)
        for (agency_id, child_id), (r, h, i) in expected.items()
        if (agency_id, child_id) not in stored
    ]
    changed = [
        ChildVisibility(pk=stored[pair][0], responsible=r, host=h, involved=i)
        for pair, (r, h, i) in expected.items()
        if pair in stored and stored[pair][1] != (r, h, i)
    ]
    for start in range(0, len(gone), CHUNK):
        ChildVisibility.objects.filter(pk__in=gone[start : start + CHUNK]).delete()
    if new:
        # A row added meanwhile by another transaction (an agency's areas changing while
        # a child is added) is the same row: keep it.
        ChildVisibility.objects.bulk_create(new, batch_size=CHUNK, ignore_conflicts=True)
    if changed:
        ChildVisibility.objects.bulk_update(
            changed, ["responsible", "host", "involved"], batch_size=CHUNK
        )
    moved = {pair[1] for pair in stored if pair not in expected}
    moved |= {row.child_id for row in new}
    if moved:
        visibility_changed.send(sender=ChildVisibility, child_ids=moved)
    return len(gone) + len(new) + len(changed)


def refresh_children(child_ids: Iterable[int], today: dt.date | None = None) -> int:
    """Bring these children's rows up to date with the rule (in the caller's transaction)."""
    ids = sorted(set(child_ids))
    if not ids:
        return 0
    with transaction.atomic():
        expected = pairs_for_children(ids, today)
        return _apply(expected, _stored(ChildVisibility.objects.filter(child_id__in=ids)))


def refresh_agencies(agency_ids: Iterable[int], today: dt.date | None = None) -> int:
    """Bring these agencies' rows up to date (after the areas they serve changed)."""
    ids = sorted(set(agency_ids))
    if not ids:
        return 0
    with transaction.atomic():
        expected = pairs_for_agencies(ids, today)
        return _apply(expected, _stored(ChildVisibility.objects.filter(agency_id__in=ids)))


def differences(today: dt.date | None = None) -> dict[str, list[tuple[int, int]]]:
    """Where the table and the rule disagree: rows missing, extra, or with other reasons."""
    expected = all_pairs(today)
    stored = _stored(ChildVisibility.objects.all())
    return {
        "missing": sorted(pair for pair in expected if pair not in stored),
        "extra": sorted(pair for pair in stored if pair not in expected),
        "different": sorted(
            pair for pair, (_, reasons) in stored.items() if expected.get(pair, reasons) != reasons
        ),
    }


@transaction.atomic
def rebuild(today: dt.date | None = None) -> int:
    """Make the whole table equal to the rule; returns how many rows changed."""
    today = _today(today)
    changed = _apply(all_pairs(today), _stored(ChildVisibility.objects.all()))
    VisibilityClock.objects.update_or_create(pk=1, defaults={"applied_through": today})
    return changed


# The passing of days ------------------------------------------------------------


def apply_dated_changes(today: dt.date | None = None) -> int:
    """Apply the placements and involvements that started or ended since the last pass.
    Idempotent: a second pass on the same day reads one row and stops.
    Returns how many children were brought up to date."""
    today = _today(today)
    with transaction.atomic():
        clock = VisibilityClock.objects.select_for_update().filter(pk=1).first()
        if clock is not None and clock.applied_through >= today:
            return 0
        if clock is None:
            # Never run (a database filled without the migration's rebuild): start here.
            rebuild(today)
            return 0
        since = clock.applied_through
        # Started in (since, today]; stopped being current in (since, today], that is
        # ended in [since, today).
        placements = Placement.objects.filter(
            Q(start__gt=since, start__lte=today) | Q(end__gte=since, end__lt=today)
        ).values_list("child_id", flat=True)
        involvements = Involvement.objects.filter(
            Q(start__gt=since, start__lte=today) | Q(end__gte=since, end__lt=today)
        ).values_list("child_id", flat=True)
        child_ids = set(placements) | set(involvements)
        for start in range(0, len(child_ids), CHUNK):
            refresh_children(sorted(child_ids)[start : start + CHUNK], today)
        clock.applied_through = today
        clock.save(update_fields=["applied_through"])
        return len(child_ids)


# Receivers (connected in IncidentsConfig.ready) -----------------------------------


def _deleted_with_child(origin: Any) -> bool:
    """A placement or involvement deleted because its child is: nothing to refresh."""
    model = getattr(origin, "model", type(origin))
    return model is Child


def child_saved(sender: Any, instance: Child, created: bool, raw: bool = False, **_: Any) -> None:
    if raw:
        return
    loaded = instance.__dict__.get("_loaded_responsible_area_id", None)
    if created or loaded is None or loaded != instance.responsible_area_id:
        refresh_children([instance.pk])
    instance._loaded_responsible_area_id = instance.responsible_area_id  # type: ignore[attr-defined]


def child_loaded(sender: Any, instance: Child, **_: Any) -> None:
    # Deferred (``.only()``) loads leave it unknown: a save then always refreshes.
    instance._loaded_responsible_area_id = instance.__dict__.get("responsible_area_id")  # type: ignore[attr-defined]


def fact_saved(sender: Any, instance: Placement | Involvement, raw: bool = False, **_: Any) -> None:
    if not raw:
        refresh_children([instance.child_id])


def fact_deleted(
    sender: Any, instance: Placement | Involvement, origin: Any = None, **_: Any
) -> None:
    if not _deleted_with_child(origin):
        refresh_children([instance.child_id])


def agency_areas_changed(
    sender: Any,
    instance: Any,
    action: str,
    reverse: bool,
    pk_set: set[int] | None,
    **_: Any,
) -> None:
    if not reverse:
        # agency.areas.add/remove/set/clear
        if action in ("post_add", "post_remove", "post_clear"):
            refresh_agencies([instance.pk])
        return
    # area.agencies.add/remove/clear: the agencies named, or all the area had.
    if action == "pre_clear":
        instance._visibility_cleared_agencies = list(  # type: ignore[attr-defined]
            instance.agencies.values_list("pk", flat=True)
        )
    elif action in ("post_add", "post_remove"):
        refresh_agencies(pk_set or ())
    elif action == "post_clear":
        refresh_agencies(getattr(instance, "_visibility_cleared_agencies", ()))


def connect() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_init, post_save

    post_init.connect(child_loaded, sender=Child, dispatch_uid="visibility_child_loaded")
    post_save.connect(child_saved, sender=Child, dispatch_uid="visibility_child_saved")
    for model in (Placement, Involvement):
        post_save.connect(
            fact_saved, sender=model, dispatch_uid=f"visibility_{model.__name__}_saved"
        )
        post_delete.connect(
            fact_deleted, sender=model, dispatch_uid=f"visibility_{model.__name__}_deleted"
        )
    m2m_changed.connect(
        agency_areas_changed, sender=Agency.areas.through, dispatch_uid="visibility_agency_areas"
    )
