"""The children action functions: each succeeds, refuses the wrong role, validates,
and writes its CaseEvent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from incidents import access
from incidents.actions import children as actions
from incidents.actions.base import StaleEdit
from incidents.models import (
    CaseEvent,
    Child,
    Involvement,
    LegalStatus,
    LegalStatusPeriod,
    Location,
    Placement,
)
from tests.factories.incidents import ChildFactory, InvolvementFactory, PlacementFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)


@pytest.fixture(autouse=True)
def _today(time_machine) -> None:
    time_machine.move_to(dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC), tick=False)


def create_kwargs(area, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "first_name": "Kayla",
        "last_name": "Jones",
        "date_of_birth": dt.date(2011, 3, 4),
        "gender": "female",
        "responsible_area": area,
    }
    values.update(overrides)
    return values


def messages_of(error: ValidationError) -> dict[str, list[str]]:
    return error.message_dict


# child_create ------------------------------------------------------------------------


def test_child_create_writes_child_and_event(social_worker, area_west) -> None:
    child = actions.child_create(
        acting_user=social_worker,
        **create_kwargs(area_west, nhs_number="485 777 3457", la_child_id=" W123 "),
    )
    assert child.nhs_number == "4857773457"
    assert child.la_child_id == "W123"
    assert child.created_by == social_worker
    assert not child.legal_statuses.exists()
    assert not child.involvements.exists()
    event = CaseEvent.objects.get(child=child)
    assert event.kind == CaseEvent.Kind.CHILD_CREATED
    assert event.actor == social_worker
    assert event.actor_agency == social_worker.agency
    assert event.data["in_care"] is False
    assert event.data["creator_agency_involved"] is False
    assert not event.is_protocol


def test_child_create_in_care_opens_first_legal_status(social_worker, area_west) -> None:
    child = actions.child_create(
        acting_user=social_worker,
        **create_kwargs(
            area_west, legal_status=LegalStatus.IN_CARE, legal_status_start=dt.date(2024, 1, 1)
        ),
    )
    period = child.legal_statuses.get()
    assert (period.status, period.start, period.end) == ("in_care", dt.date(2024, 1, 1), None)
    assert child.is_in_care
    assert CaseEvent.objects.get(child=child).data["in_care"] is True


def test_child_create_legal_status_needs_start(social_worker, area_west) -> None:
    with pytest.raises(ValidationError) as caught:
        actions.child_create(
            acting_user=social_worker, **create_kwargs(area_west, legal_status="cp_plan")
        )
    assert "legal_status_start" in messages_of(caught.value)
    assert not Child.objects.exists()


def test_child_create_by_agency_outside_area_records_involvement(school, area_east) -> None:
    """A school in the west adding a child of the east council must still see the child."""
    from tests.factories import UserFactory

    teacher = UserFactory(agency=school, name="Ms Teach")
    child = actions.child_create(acting_user=teacher, **create_kwargs(area_east))
    involvement = child.involvements.get()
    assert involvement.agency == school
    assert involvement.role == Involvement.Role.SCHOOL
    assert involvement.start == TODAY
    assert access.child_in_scope(teacher, child)
    assert CaseEvent.objects.get(child=child).data["creator_agency_involved"] is True


def test_child_create_police_outside_area_involved_as_other(officer, area_other) -> None:
    child = actions.child_create(acting_user=officer, **create_kwargs(area_other))
    assert child.involvements.get().role == Involvement.Role.OTHER
    assert access.child_in_scope(officer, child)


def test_child_create_refused_for_admin(admin_user, area_west) -> None:
    with pytest.raises(PermissionDenied):
        actions.child_create(acting_user=admin_user, **create_kwargs(area_west))
    assert not Child.objects.exists()


def test_child_create_duplicate_identifiers_refused(social_worker, area_west) -> None:
    ChildFactory(la_child_id="W1", nhs_number="4857773457", responsible_area=area_west)
    with pytest.raises(ValidationError) as caught:
        actions.child_create(
            acting_user=social_worker,
            **create_kwargs(area_west, la_child_id="W1", nhs_number="485 777 3457"),
        )
    errors = messages_of(caught.value)
    assert "already used" in errors["la_child_id"][0]
    assert "already recorded" in errors["nhs_number"][0]
    assert Child.objects.count() == 1


def test_child_create_names_and_gender_required(social_worker, area_west) -> None:
    with pytest.raises(ValidationError) as caught:
        actions.child_create(
            acting_user=social_worker,
            **create_kwargs(area_west, first_name=" ", last_name="", gender="x"),
        )
    assert set(messages_of(caught.value)) == {"first_name", "last_name", "gender"}


# child_update ------------------------------------------------------------------------


def test_child_update_records_changes(officer, social_worker, area_west) -> None:
    child = actions.child_create(acting_user=social_worker, **create_kwargs(area_west))
    actions.child_update(
        acting_user=officer,
        child=child,
        expected_version=1,
        known_as="KJ",
        physical_description="Tall, red coat",
        first_name="Kayla",
    )
    child.refresh_from_db()
    assert child.known_as == "KJ"
    assert child.version == 2
    event = CaseEvent.objects.filter(kind=CaseEvent.Kind.CHILD_EDITED).get()
    assert event.actor == officer
    assert event.data["changes"] == {
        "known_as": ["", "KJ"],
        "physical_description": ["", "Tall, red coat"],
    }


def test_child_update_stale_version_refused(officer, social_worker, area_west) -> None:
    child = actions.child_create(acting_user=social_worker, **create_kwargs(area_west))
    actions.child_update(acting_user=officer, child=child, expected_version=1, known_as="KJ")
    stale = Child.objects.get(pk=child.pk)
    with pytest.raises(StaleEdit):
        actions.child_update(
            acting_user=social_worker, child=stale, expected_version=1, known_as="Kay"
        )
    stale.refresh_from_db()
    assert stale.known_as == "KJ"
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.CHILD_EDITED).count() == 1


def test_child_update_no_change_writes_no_event(social_worker, area_west) -> None:
    child = actions.child_create(acting_user=social_worker, **create_kwargs(area_west))
    actions.child_update(
        acting_user=social_worker, child=child, expected_version=1, first_name="Kayla"
    )
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.CHILD_EDITED).exists()


def test_child_update_refused_for_admin(admin_user, area_west) -> None:
    child = ChildFactory(responsible_area=area_west)
    with pytest.raises(PermissionDenied):
        actions.child_update(acting_user=admin_user, child=child, expected_version=1, known_as="x")


def test_child_update_responsible_area_only_by_la(officer, social_worker, area_west, area_east):
    child = ChildFactory(responsible_area=area_west)
    with pytest.raises(PermissionDenied):
        actions.child_update(
            acting_user=officer, child=child, expected_version=1, responsible_area=area_east
        )
    actions.child_update(
        acting_user=social_worker, child=child, expected_version=1, responsible_area=area_east
    )
    child.refresh_from_db()
    assert child.responsible_area == area_east


def test_child_update_unknown_field_is_a_programming_error(social_worker, area_west) -> None:
    child = ChildFactory(responsible_area=area_west)
    with pytest.raises(TypeError):
        actions.child_update(
            acting_user=social_worker, child=child, expected_version=1, legal_status="in_care"
        )


def test_child_update_duplicate_nhs_number_refused(social_worker, area_west) -> None:
    ChildFactory(nhs_number="9434765919", responsible_area=area_west)
    child = ChildFactory(responsible_area=area_west, nhs_number="4857773457")
    with pytest.raises(ValidationError) as caught:
        actions.child_update(
            acting_user=social_worker, child=child, expected_version=1, nhs_number="943 476 5919"
        )
    assert "nhs_number" in messages_of(caught.value)
    # Its own number is not a duplicate of itself.
    actions.child_update(
        acting_user=social_worker, child=child, expected_version=1, nhs_number="485 777 3457"
    )


def test_child_update_frequented_locations(social_worker, area_west) -> None:
    child = ChildFactory(responsible_area=area_west)
    place = actions.location_find_or_create(description="Bus station", postcode="ch11sf")
    actions.child_update(
        acting_user=social_worker, child=child, expected_version=1, frequented_locations=[place]
    )
    assert list(child.frequented_locations.all()) == [place]
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.CHILD_EDITED)
    assert event.data["changes"]["frequented_locations"] == [[], ["Bus station, CH1 1SF"]]


# child_set_legal_status --------------------------------------------------------------


def in_care_child(area, start: dt.date = dt.date(2024, 1, 1)) -> Child:
    child = ChildFactory(
        responsible_area=area, legal_status=LegalStatus.IN_CARE, date_of_birth=dt.date(2011, 3, 4)
    )
    LegalStatusPeriod.objects.create(child=child, status=LegalStatus.IN_CARE, start=start)
    return child


def test_legal_status_change_closes_current_period(social_worker, area_west) -> None:
    child = ChildFactory(
        responsible_area=area_west, legal_status="cin", date_of_birth=dt.date(2011, 3, 4)
    )
    LegalStatusPeriod.objects.create(child=child, status="cin", start=dt.date(2024, 1, 1))
    period = actions.child_set_legal_status(
        acting_user=social_worker, child=child, status=LegalStatus.IN_CARE, start=TODAY
    )
    old = child.legal_statuses.get(status="cin")
    assert old.end == TODAY - dt.timedelta(days=1)
    assert period.end is None and period.start == TODAY
    child.refresh_from_db()
    assert child.legal_status == LegalStatus.IN_CARE
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.LEGAL_STATUS_CHANGED)
    assert event.data["changes"] == {"legal_status": ["cin", "in_care"]}
    assert event.data["in_care"] is True


def test_legal_status_first_period_when_none(social_worker, area_west) -> None:
    child = ChildFactory(responsible_area=area_west, date_of_birth=dt.date(2011, 3, 4))
    actions.child_set_legal_status(
        acting_user=social_worker, child=child, status="cp_plan", start=dt.date(2025, 5, 1)
    )
    assert child.legal_statuses.get().status == "cp_plan"


def test_legal_status_start_before_current_refused(social_worker, area_west) -> None:
    child = in_care_child(area_west, start=dt.date(2025, 1, 1))
    for start in (dt.date(2024, 12, 31), dt.date(2025, 1, 1)):
        with pytest.raises(ValidationError) as caught:
            actions.child_set_legal_status(
                acting_user=social_worker, child=child, status="cin", start=start
            )
        assert "must start after 01/01/2025" in messages_of(caught.value)["start"][0]
    assert child.legal_statuses.get().end is None


def test_legal_status_future_and_same_refused(social_worker, area_west) -> None:
    child = in_care_child(area_west)
    with pytest.raises(ValidationError) as caught:
        actions.child_set_legal_status(
            acting_user=social_worker,
            child=child,
            status="in_care",
            start=TODAY + dt.timedelta(days=1),
        )
    errors = messages_of(caught.value)
    assert "today or in the past" in errors["start"][0]
    assert "already" in errors["status"][0]


def test_legal_status_leaving_care_with_current_placement_refused(social_worker, area_west):
    child = in_care_child(area_west)
    PlacementFactory(child=child, start=dt.date(2024, 2, 1))
    with pytest.raises(ValidationError) as caught:
        actions.child_set_legal_status(
            acting_user=social_worker, child=child, status="none", start=TODAY
        )
    assert "placement" in messages_of(caught.value)["status"][0]


def test_legal_status_refused_for_police(officer, area_west) -> None:
    child = in_care_child(area_west)
    with pytest.raises(PermissionDenied):
        actions.child_set_legal_status(acting_user=officer, child=child, status="cin", start=TODAY)


# Placements --------------------------------------------------------------------------


def placement_kwargs(area, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "start": dt.date(2025, 1, 1),
        "type": Placement.Type.FOSTER,
        "address": "2 Park Road, Crewe",
        "postcode": "cw1 2ab",
        "host_area": area,
    }
    values.update(overrides)
    return values


def test_placement_add_out_of_area(social_worker, area_west, area_east) -> None:
    child = in_care_child(area_west)
    placement = actions.placement_add(
        acting_user=social_worker, child=child, **placement_kwargs(area_east)
    )
    assert placement.postcode == "CW1 2AB"
    assert placement.placed_out_of_area
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.PLACEMENT_ADDED)
    assert event.data["placed_out_of_area"] is True
    assert event.data["host_area_id"] == area_east.pk
    assert "placed out of area" in event.summary


def test_placement_add_in_area_not_out_of_area(social_worker, area_west) -> None:
    child = in_care_child(area_west)
    actions.placement_add(acting_user=social_worker, child=child, **placement_kwargs(area_west))
    assert CaseEvent.objects.get().data["placed_out_of_area"] is False


def test_placement_refused_for_provider(provider_worker, area_west) -> None:
    child = in_care_child(area_west)
    with pytest.raises(PermissionDenied):
        actions.placement_add(
            acting_user=provider_worker, child=child, **placement_kwargs(area_west)
        )


def test_placement_only_for_child_in_care(social_worker, area_west) -> None:
    child = ChildFactory(responsible_area=area_west)
    with pytest.raises(ValidationError) as caught:
        actions.placement_add(acting_user=social_worker, child=child, **placement_kwargs(area_west))
    assert "child in care" in messages_of(caught.value)["__all__"][0]
    assert not Placement.objects.exists()


def test_placement_end_records_event(social_worker, area_west) -> None:
    child = in_care_child(area_west)
    placement = actions.placement_add(
        acting_user=social_worker, child=child, **placement_kwargs(area_west)
    )
    actions.placement_end(acting_user=social_worker, placement=placement, end=dt.date(2026, 1, 1))
    placement.refresh_from_db()
    assert placement.end == dt.date(2026, 1, 1)
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.PLACEMENT_ENDED)
    assert event.data["placement_id"] == placement.pk


def test_placement_end_validation(social_worker, officer, area_west) -> None:
    child = in_care_child(area_west)
    placement = PlacementFactory(child=child, start=dt.date(2025, 1, 1))
    with pytest.raises(ValidationError) as caught:
        actions.placement_end(
            acting_user=social_worker, placement=placement, end=dt.date(2024, 12, 31)
        )
    assert "on or after the start date" in messages_of(caught.value)["end"][0]
    with pytest.raises(PermissionDenied):
        actions.placement_end(acting_user=officer, placement=placement, end=TODAY)
    actions.placement_end(acting_user=social_worker, placement=placement, end=TODAY)
    with pytest.raises(ValidationError) as caught:
        actions.placement_end(acting_user=social_worker, placement=placement, end=TODAY)
    assert "already ended" in messages_of(caught.value)["end"][0]


# Involvements ------------------------------------------------------------------------


def test_involvement_add_and_end(social_worker, gp_practice, area_west) -> None:
    child = ChildFactory(responsible_area=area_west)
    involvement = actions.involvement_add(
        acting_user=social_worker,
        child=child,
        agency=gp_practice,
        role=Involvement.Role.GP_PRACTICE,
        professional_name="Dr Rao",
        professional_email="rao@example.org",
        start=dt.date(2025, 1, 1),
    )
    added = CaseEvent.objects.get(kind=CaseEvent.Kind.INVOLVEMENT_ADDED)
    assert added.data["agency_id"] == gp_practice.pk
    assert added.data["role"] == "gp"
    actions.involvement_end(acting_user=social_worker, involvement=involvement, end=TODAY)
    involvement.refresh_from_db()
    assert involvement.end == TODAY
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.INVOLVEMENT_ENDED).count() == 1


def test_involvement_validation(social_worker, gp_practice, area_west) -> None:
    child = ChildFactory(responsible_area=area_west)
    InvolvementFactory(child=child, agency=gp_practice, role="gp")
    with pytest.raises(ValidationError) as caught:
        actions.involvement_add(
            acting_user=social_worker,
            child=child,
            agency=gp_practice,
            role="gp",
            professional_email="not-an-email",
            start=TODAY + dt.timedelta(days=2),
        )
    errors = messages_of(caught.value)
    assert set(errors) == {"agency", "professional_email", "start"}


def test_involvement_refused_for_school(school, area_west, gp_practice) -> None:
    from tests.factories import UserFactory

    teacher = UserFactory(agency=school)
    child = ChildFactory(responsible_area=area_west)
    with pytest.raises(PermissionDenied):
        actions.involvement_add(
            acting_user=teacher, child=child, agency=gp_practice, role="gp", start=TODAY
        )
    involvement = InvolvementFactory(child=child, agency=gp_practice)
    with pytest.raises(PermissionDenied):
        actions.involvement_end(acting_user=teacher, involvement=involvement, end=TODAY)


def test_involvement_end_before_start_refused(social_worker, gp_practice, area_west) -> None:
    involvement = InvolvementFactory(
        child=ChildFactory(responsible_area=area_west), agency=gp_practice, start=TODAY
    )
    with pytest.raises(ValidationError) as caught:
        actions.involvement_end(
            acting_user=social_worker, involvement=involvement, end=TODAY - dt.timedelta(days=1)
        )
    assert "end" in messages_of(caught.value)


# Locations ---------------------------------------------------------------------------


def test_location_find_or_create_reuses_same_place() -> None:
    first = actions.location_find_or_create(description="Chester bus station", postcode="ch1 1sf")
    again = actions.location_find_or_create(description="chester  BUS station", postcode="CH11SF")
    other = actions.location_find_or_create(description="Chester bus station", postcode="CH2 1AA")
    assert first.pk == again.pk != other.pk
    assert first.postcode == "CH1 1SF"
    assert Location.objects.count() == 2


def test_location_validation() -> None:
    with pytest.raises(ValidationError) as caught:
        actions.location_find_or_create(description=" ", postcode="NOT A CODE", latitude=1)
    assert set(caught.value.message_dict) == {"description", "postcode", "latitude"}
