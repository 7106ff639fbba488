"""Bad input to the children actions: each is refused with a message by its field and
nothing is saved."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from incidents.actions import children as actions
from incidents.models import Child, LegalStatus, LegalStatusPeriod, Placement
from tests.factories.incidents import ChildFactory, PlacementFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)


@pytest.fixture(autouse=True)
def _today(time_machine) -> None:
    time_machine.move_to(dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC), tick=False)


def create(user, area, **overrides: Any) -> Child:
    values: dict[str, Any] = {
        "first_name": "Kayla",
        "last_name": "Jones",
        "date_of_birth": dt.date(2011, 3, 4),
        "gender": "female",
        "responsible_area": area,
    }
    values.update(overrides)
    return actions.child_create(acting_user=user, **values)


def errors_for(call, *args: Any, **kwargs: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    return caught.value.message_dict


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("4857773457", "4857773457"), ("485 777 3457", "4857773457"), ("943-476-5919", "9434765919")],
)
def test_valid_nhs_numbers_are_normalised(social_worker, area_west, typed, stored) -> None:
    assert create(social_worker, area_west, nhs_number=typed).nhs_number == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("485 777 3458", "check digit"),
        ("12345", "10 digits"),
        ("48577734AB", "10 digits"),
    ],
)
def test_invalid_nhs_numbers_refused(social_worker, area_west, typed, message) -> None:
    errors = errors_for(create, social_worker, area_west, nhs_number=typed)
    assert message in errors["nhs_number"][0]
    assert not Child.objects.exists()


def test_blank_identifiers_stored_as_null(social_worker, area_west) -> None:
    first = create(social_worker, area_west, nhs_number=" ", la_child_id="")
    second = create(social_worker, area_west, nhs_number="", la_child_id=None)
    assert first.nhs_number is None and second.la_child_id is None


def test_la_child_id_too_long(social_worker, area_west) -> None:
    errors = errors_for(create, social_worker, area_west, la_child_id="X" * 11)
    assert "10 characters" in errors["la_child_id"][0]


def test_date_of_birth_in_future_refused(social_worker, area_west) -> None:
    errors = errors_for(create, social_worker, area_west, date_of_birth=TODAY + dt.timedelta(1))
    assert "today or in the past" in errors["date_of_birth"][0]


def test_date_of_birth_of_an_adult_refused(social_worker, area_west) -> None:
    errors = errors_for(create, social_worker, area_west, date_of_birth=dt.date(2008, 6, 15))
    assert "18 or over" in errors["date_of_birth"][0]


def test_child_turning_18_tomorrow_accepted(social_worker, area_west) -> None:
    child = create(social_worker, area_west, date_of_birth=dt.date(2008, 6, 16))
    assert child.age_on(TODAY) == 17


def test_legal_status_start_before_birth_refused(social_worker, area_west) -> None:
    errors = errors_for(
        create,
        social_worker,
        area_west,
        legal_status=LegalStatus.IN_CARE,
        legal_status_start=dt.date(2010, 1, 1),
    )
    assert "before the child's date of birth" in errors["legal_status_start"][0]


def test_legal_status_start_in_future_refused(social_worker, area_west) -> None:
    errors = errors_for(
        create,
        social_worker,
        area_west,
        legal_status=LegalStatus.IN_CARE,
        legal_status_start=TODAY + dt.timedelta(days=1),
    )
    assert "legal_status_start" in errors


# Placements --------------------------------------------------------------------------


@pytest.fixture
def child_in_care(area_west) -> Child:
    child = ChildFactory(
        responsible_area=area_west, legal_status="in_care", date_of_birth=dt.date(2011, 3, 4)
    )
    LegalStatusPeriod.objects.create(child=child, status="in_care", start=dt.date(2020, 1, 1))
    return child


def add_placement(user, child, area, **overrides: Any) -> Placement:
    values: dict[str, Any] = {
        "start": dt.date(2025, 1, 1),
        "type": "foster",
        "address": "2 Park Road",
        "postcode": "CW1 2AB",
        "host_area": area,
    }
    values.update(overrides)
    return actions.placement_add(acting_user=user, child=child, **values)


@pytest.mark.parametrize("postcode", ["CW1", "12345", "ZZ99 9ZZZ", "Q1 1AA"])
def test_invalid_placement_postcode_refused(social_worker, child_in_care, area_west, postcode):
    errors = errors_for(add_placement, social_worker, child_in_care, area_west, postcode=postcode)
    assert "postcode" in errors
    assert not Placement.objects.exists()


def test_blank_placement_postcode_and_address_refused(social_worker, child_in_care, area_west):
    errors = errors_for(
        add_placement, social_worker, child_in_care, area_west, postcode="", address=" "
    )
    assert set(errors) == {"postcode", "address"}


def test_placement_postcode_normalised(social_worker, child_in_care, area_west) -> None:
    placement = add_placement(social_worker, child_in_care, area_west, postcode=" ch11sf ")
    assert placement.postcode == "CH1 1SF"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.date(2025, 2, 1), None),  # starts while the other is running
        (dt.date(2024, 6, 1), dt.date(2025, 2, 1)),  # ends inside the other
        (dt.date(2024, 6, 1), None),  # open-ended, covering the other
        (dt.date(2025, 3, 1), dt.date(2025, 3, 1)),  # exactly the other's end day
        (dt.date(2025, 1, 1), dt.date(2025, 1, 1)),  # exactly the other's start day
    ],
)
def test_overlapping_placements_refused(social_worker, child_in_care, area_west, start, end):
    PlacementFactory(child=child_in_care, start=dt.date(2025, 1, 1), end=dt.date(2025, 3, 1))
    errors = errors_for(
        add_placement, social_worker, child_in_care, area_west, start=start, end=end
    )
    assert "overlaps another placement" in errors["start"][0]
    assert "01/01/2025 to 01/03/2025" in errors["start"][0]
    assert Placement.objects.count() == 1


def test_open_placement_overlap_says_still_current(social_worker, child_in_care, area_west):
    PlacementFactory(child=child_in_care, start=dt.date(2025, 1, 1))
    errors = errors_for(add_placement, social_worker, child_in_care, area_west, start=TODAY)
    assert "still current" in errors["start"][0]


def test_adjacent_placements_allowed(social_worker, child_in_care, area_west) -> None:
    PlacementFactory(child=child_in_care, start=dt.date(2025, 1, 1), end=dt.date(2025, 3, 1))
    add_placement(social_worker, child_in_care, area_west, start=dt.date(2025, 3, 2))
    add_placement(
        social_worker,
        child_in_care,
        area_west,
        start=dt.date(2024, 1, 1),
        end=dt.date(2024, 12, 31),
    )
    assert Placement.objects.count() == 3


def test_other_childs_placement_does_not_overlap(social_worker, child_in_care, area_west):
    PlacementFactory(start=dt.date(2025, 1, 1))
    add_placement(social_worker, child_in_care, area_west)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (TODAY + dt.timedelta(days=1), None, "start"),
        (dt.date(2025, 1, 1), TODAY + dt.timedelta(days=1), "end"),
        (dt.date(2025, 1, 1), dt.date(2024, 12, 1), "end"),
        (dt.date(2010, 1, 1), None, "start"),  # before birth
    ],
)
def test_placement_dates_refused(social_worker, child_in_care, area_west, start, end, field):
    errors = errors_for(
        add_placement, social_worker, child_in_care, area_west, start=start, end=end
    )
    assert field in errors


def test_placement_end_in_future_refused(social_worker, child_in_care) -> None:
    placement = PlacementFactory(child=child_in_care, start=dt.date(2025, 1, 1))
    errors = errors_for(
        actions.placement_end,
        acting_user=social_worker,
        placement=placement,
        end=TODAY + dt.timedelta(days=1),
    )
    assert "today or in the past" in errors["end"][0]
