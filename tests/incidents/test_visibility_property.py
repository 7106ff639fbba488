"""The visibility table always equals the rule computed from the raw facts.

Hypothesis draws a sequence of changes to the facts visibility depends on: children
added and moved to another responsible area; placements added (some starting in the
future), ended and removed; involvements added (some starting in the future, some
already ended), ended and removed; agencies serving
areas and ceasing to (from either side of the relation); days passing with the
scheduler's pass. After every change, for every agency, the children the table lets it
see are exactly those ``children_visible_to_by_rules`` (the rule as one query on the
raw facts) finds, and ``manage.py rebuild_visibility --check`` finds no difference.

The CI profile (tests/conftest.py) runs at least 200 examples with a fixed seed.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents import visibility
from incidents.access import children_visible_to
from incidents.models import Child, ChildVisibility, Involvement, Placement, VisibilityClock
from incidents.rights import Relation, relation_to
from missingkids.accounts.models import Agency, User
from tests.factories import AgencyFactory, LocalAuthorityAreaFactory, UserFactory
from tests.factories.incidents import ChildFactory

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
AREAS, AGENCIES, CHILDREN = 3, 4, 4

offset = st.integers(min_value=-20, max_value=20)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("child"), st.integers(0, AREAS - 1)),
        st.tuples(st.just("move"), st.integers(0, CHILDREN - 1), st.integers(0, AREAS - 1)),
        st.tuples(
            st.just("place"),
            st.integers(0, CHILDREN - 1),
            st.integers(0, AREAS - 1),
            offset,
            st.none() | st.integers(0, 15),
        ),
        st.tuples(st.just("end_placement"), st.integers(0, CHILDREN - 1), offset),
        st.tuples(st.just("remove_placement"), st.integers(0, CHILDREN - 1)),
        st.tuples(
            st.just("involve"),
            st.integers(0, CHILDREN - 1),
            st.integers(0, AGENCIES - 1),
            offset,
            st.none() | st.integers(0, 15),
        ),
        st.tuples(st.just("end_involvement"), st.integers(0, CHILDREN - 1), offset),
        st.tuples(st.just("remove_involvement"), st.integers(0, CHILDREN - 1)),
        st.tuples(st.just("serve"), st.integers(0, AGENCIES - 1), st.integers(0, AREAS - 1)),
        st.tuples(st.just("unserve"), st.integers(0, AGENCIES - 1), st.integers(0, AREAS - 1)),
        st.tuples(st.just("area_adds"), st.integers(0, AREAS - 1), st.integers(0, AGENCIES - 1)),
        st.tuples(st.just("area_clear"), st.integers(0, AREAS - 1)),
        st.tuples(st.just("agency_clear"), st.integers(0, AGENCIES - 1)),
        st.tuples(st.just("days_pass"), st.integers(1, 12)),
    ),
    min_size=1,
    max_size=25,
)


@pytest.fixture
def world() -> dict:
    areas = [LocalAuthorityAreaFactory() for _ in range(AREAS)]
    kinds = [
        Agency.Kind.LOCAL_AUTHORITY,
        Agency.Kind.POLICE,
        Agency.Kind.GP_PRACTICE,
        Agency.Kind.PROVIDER,
    ]
    agencies = [AgencyFactory(kind=kind, areas=[areas[i % AREAS]]) for i, kind in enumerate(kinds)]
    users = [UserFactory(agency=agency, role=User.Role.PRACTITIONER) for agency in agencies]
    return {"areas": areas, "agencies": agencies, "users": users}


def _today() -> dt.date:
    from django.utils import timezone

    return timezone.localdate()


def apply(step: tuple, world: dict, children: list[Child], traveller) -> None:
    areas, agencies = world["areas"], world["agencies"]
    today = _today()
    kind, *args = step
    child = (
        children[args[0] % len(children)]
        if children
        and kind
        not in ("child", "serve", "unserve", "area_adds", "area_clear", "agency_clear", "days_pass")
        else None
    )
    if kind == "child":
        children.append(ChildFactory(responsible_area=areas[args[0]], created_by=world["users"][0]))
    elif kind == "move" and child is not None:
        child.responsible_area = areas[args[1]]
        child.save()
    elif kind == "place" and child is not None:
        start = today + dt.timedelta(days=args[2])
        end = None if args[3] is None else start + dt.timedelta(days=args[3])
        if end is None and child.placements.filter(end__isnull=True).exists():
            end = start
        Placement.objects.create(
            child=child,
            start=start,
            end=end,
            type=Placement.Type.FOSTER,
            address="1 High Street",
            postcode="CW1 2AB",
            host_area=areas[args[1]],
        )
    elif kind == "end_placement" and child is not None:
        placement = child.placements.filter(end__isnull=True).first()
        if placement is not None:
            placement.end = max(placement.start, today + dt.timedelta(days=args[1]))
            placement.save(update_fields=["end"])
    elif kind == "remove_placement" and child is not None:
        placement = child.placements.order_by("-pk").first()
        if placement is not None:
            placement.delete()
    elif kind == "involve" and child is not None:
        # Started in the past, today or in the future; open-ended, or ending some days on.
        start = today + dt.timedelta(days=args[2])
        end = None if args[3] is None else start + dt.timedelta(days=args[3])
        Involvement.objects.create(
            child=child, agency=agencies[args[1]], role=Involvement.Role.OTHER, start=start, end=end
        )
    elif kind == "end_involvement" and child is not None:
        involvement = child.involvements.filter(end__isnull=True).first()
        if involvement is not None:
            involvement.end = max(involvement.start, today + dt.timedelta(days=args[1]))
            involvement.save()
    elif kind == "remove_involvement" and child is not None:
        involvement = child.involvements.order_by("-pk").first()
        if involvement is not None:
            involvement.delete()
    elif kind == "serve":
        agencies[args[0]].areas.add(areas[args[1]])
    elif kind == "unserve":
        agencies[args[0]].areas.remove(areas[args[1]])
    elif kind == "area_adds":
        areas[args[0]].agencies.add(agencies[args[1]])
    elif kind == "area_clear":
        areas[args[0]].agencies.clear()
    elif kind == "agency_clear":
        agencies[args[0]].areas.clear()
    elif kind == "days_pass":
        traveller.shift(dt.timedelta(days=args[0]))
        visibility.apply_dated_changes()
        visibility.apply_dated_changes()  # a second pass the same day changes nothing


def assert_table_equals_rule(world: dict) -> None:
    for user in world["users"]:
        by_table = set(children_visible_to(user).values_list("pk", flat=True))
        by_rules = set(visibility.children_visible_to_by_rules(user).values_list("pk", flat=True))
        assert by_table == by_rules, (user.agency.kind, by_table, by_rules)
    assert visibility.differences() == {"missing": [], "extra": [], "different": []}


@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=steps)
def test_the_visibility_table_equals_the_rule_after_any_changes(changes, world) -> None:
    with time_machine.travel(START, tick=False) as traveller, transaction.atomic():
        VisibilityClock.objects.update_or_create(pk=1, defaults={"applied_through": _today()})
        children: list[Child] = []
        for step in changes:
            apply(step, world, children, traveller)
            assert_table_equals_rule(world)
        transaction.set_rollback(True)


def test_a_placement_starting_in_the_future_grants_nothing_until_the_pass_on_its_day(
    world,
) -> None:
    west, east, _ = world["areas"]
    council_east = world["users"][1]  # serves east
    with time_machine.travel(START, tick=False) as traveller:
        VisibilityClock.objects.update_or_create(pk=1, defaults={"applied_through": _today()})
        child = ChildFactory(responsible_area=west, created_by=world["users"][0])
        Placement.objects.create(
            child=child,
            start=_today() + dt.timedelta(days=3),
            type=Placement.Type.FOSTER,
            address="1 High Street",
            postcode="CW1 2AB",
            host_area=east,
        )
        assert not children_visible_to(council_east).filter(pk=child.pk).exists()
        traveller.shift(dt.timedelta(days=2))
        assert visibility.apply_dated_changes() == 0
        assert not children_visible_to(council_east).filter(pk=child.pk).exists()
        traveller.shift(dt.timedelta(days=1))
        assert visibility.apply_dated_changes() == 1
        assert children_visible_to(council_east).filter(pk=child.pk).exists()
        row = ChildVisibility.objects.get(agency=council_east.agency, child=child)
        assert (row.responsible, row.host, row.involved) == (False, True, False)
        # The same day again: one row read, nothing done.
        assert visibility.apply_dated_changes() == 0


def test_an_involvement_starting_in_the_future_grants_nothing_until_the_pass_on_its_day(
    world,
) -> None:
    west, _, _ = world["areas"]
    gp = world["users"][2]  # a GP practice serving the third area
    with time_machine.travel(START, tick=False) as traveller:
        VisibilityClock.objects.update_or_create(pk=1, defaults={"applied_through": _today()})
        child = ChildFactory(responsible_area=west, created_by=world["users"][0])
        Involvement.objects.create(
            child=child,
            agency=gp.agency,
            role=Involvement.Role.GP_PRACTICE,
            start=_today() + dt.timedelta(days=3),
        )
        assert not children_visible_to(gp).filter(pk=child.pk).exists()
        assert not visibility.children_visible_to_by_rules(gp).filter(pk=child.pk).exists()
        assert relation_to(gp, child) is None
        traveller.shift(dt.timedelta(days=2))
        assert visibility.apply_dated_changes() == 0
        assert not children_visible_to(gp).filter(pk=child.pk).exists()
        traveller.shift(dt.timedelta(days=1))
        assert visibility.apply_dated_changes() == 1
        assert children_visible_to(gp).filter(pk=child.pk).exists()
        assert relation_to(gp, child) == Relation.INVOLVED
        row = ChildVisibility.objects.get(agency=gp.agency, child=child)
        assert (row.responsible, row.host, row.involved) == (False, False, True)
        assert visibility.apply_dated_changes() == 0


def test_a_placement_provider_starting_later_keeps_no_profile_rights_yet(world) -> None:
    """The placement provider's relation (who keeps the missing person profile) follows
    the same rule: an agency already involved, and recorded as the child's placement
    provider from tomorrow, is only an involved agency today."""
    west, _, _ = world["areas"]
    home = world["users"][2]  # serves none of the child's areas
    with time_machine.travel(START, tick=False) as traveller:
        VisibilityClock.objects.update_or_create(pk=1, defaults={"applied_through": _today()})
        child = ChildFactory(responsible_area=west, created_by=world["users"][0])
        for role, start in (
            (Involvement.Role.OTHER, _today() - dt.timedelta(days=10)),
            (Involvement.Role.PLACEMENT_PROVIDER, _today() + dt.timedelta(days=1)),
        ):
            Involvement.objects.create(child=child, agency=home.agency, role=role, start=start)
        assert relation_to(home, child) == Relation.INVOLVED
        traveller.shift(dt.timedelta(days=1))
        visibility.apply_dated_changes()
        assert relation_to(home, child) == Relation.PLACEMENT_PROVIDER


def test_moving_a_child_through_the_action_changes_who_sees_them(world, django_user_model) -> None:
    from incidents.actions.children import child_update

    west, east, _ = world["areas"]
    council = AgencyFactory(kind=Agency.Kind.LOCAL_AUTHORITY, areas=[west])
    manager = UserFactory(agency=council, role=User.Role.MANAGER)
    east_council = world["users"][1]
    child = ChildFactory(responsible_area=west, created_by=manager)
    assert not children_visible_to(east_council).filter(pk=child.pk).exists()
    child_update(acting_user=manager, child=child, expected_version=1, responsible_area=east)
    assert children_visible_to(east_council).filter(pk=child.pk).exists()
    assert not children_visible_to(manager).filter(pk=child.pk).exists()


def test_rebuild_visibility_check_reports_and_the_rebuild_repairs(world, capsys) -> None:
    from django.core.management.base import CommandError

    child = ChildFactory(responsible_area=world["areas"][0], created_by=world["users"][0])
    call_command("rebuild_visibility", "--check")
    ChildVisibility.objects.filter(child=child).delete()
    with pytest.raises(CommandError, match="differs from the rule"):
        call_command("rebuild_visibility", "--check")
    assert "missing: agency" in capsys.readouterr().out
    call_command("rebuild_visibility")
    call_command("rebuild_visibility", "--check")
    assert children_visible_to(world["users"][0]).filter(pk=child.pk).exists()


def test_deleting_a_child_deletes_its_rows_with_its_placements(world) -> None:

    child = ChildFactory(responsible_area=world["areas"][0], created_by=world["users"][0])
    Placement.objects.create(
        child=child,
        start=_today() - dt.timedelta(days=3),
        type=Placement.Type.FOSTER,
        address="1 High Street",
        postcode="CW1 2AB",
        host_area=world["areas"][1],
    )
    assert ChildVisibility.objects.filter(child_id=child.pk, host=True).exists()
    pk = child.pk
    child.delete()
    assert not ChildVisibility.objects.filter(child_id=pk).exists()
