"""Council operations: children in care and their placements, by the council's id."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from incidents.models import CaseEvent, Child, LegalStatus, Placement

from .conftest import Caller, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def council(client, la_west, admin_user) -> Caller:
    return Caller(client, register(la_west, admin_user, name="West case system")[1])


def child_body(**overrides):
    today = timezone.localdate()
    body = {
        "first_name": "Leah",
        "last_name": "Morris",
        "date_of_birth": (today - dt.timedelta(days=13 * 365)).isoformat(),
        "gender": "female",
        "responsible_area": "E06000050",
        "legal_status": "in_care",
        "legal_status_start": (today - dt.timedelta(days=400)).isoformat(),
        "placements": [
            {
                "start": (today - dt.timedelta(days=300)).isoformat(),
                "type": "foster",
                "carer_name": "Mr and Mrs Shaw",
                "address": "4 Mill Lane, Crewe",
                "postcode": "CW1 3AB",
                "host_area": "E06000049",
            }
        ],
    }
    body.update(overrides)
    return body


def put(caller, la_id, body, **kwargs):
    return caller.call("PUT", f"/api/v1/children/{la_id}/", body, **kwargs)


def test_a_council_adds_a_child_in_care_placed_out_of_area(council, area_east, police):
    response = put(council, "C100", child_body())
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["la_child_id"] == "C100"
    assert data["legal_status"] == "in_care"
    assert [p["host_area"] for p in data["placements"]] == ["E06000049"]
    child = Child.objects.get()
    assert child.legal_status == LegalStatus.IN_CARE
    assert child.placements.get().host_area == area_east
    # The same again changes nothing.
    again = put(council, "C100", child_body())
    assert again.status_code == 200
    assert again.json() == data
    assert Placement.objects.count() == 1
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.CHILD_EDITED).count() == 0
    assert council.get("/api/v1/children/C100/").json() == data


def test_a_council_corrects_the_name_ends_a_placement_and_adds_the_next(council, area_east):
    put(council, "C100", child_body())
    today = timezone.localdate()
    body = child_body(first_name="Lea")
    body["placements"][0]["end"] = (today - dt.timedelta(days=10)).isoformat()
    body["placements"].append(
        {
            "start": (today - dt.timedelta(days=9)).isoformat(),
            "type": "home",
            "address": "The Beeches, Chester",
            "postcode": "CH1 1AA",
            "host_area": "E06000050",
        }
    )
    response = put(council, "C100", body)
    assert response.status_code == 200, response.json()
    child = Child.objects.get()
    assert child.first_name == "Lea"
    assert child.version == 2
    assert [(p.end is None) for p in child.placements.order_by("start")] == [False, True]
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.PLACEMENT_ENDED).count() == 1


def test_refusals_by_field_and_nothing_saved(council, area_east, area_other):
    response = put(council, "C100", child_body(responsible_area="E08000012"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "responsible_area"
    body = child_body()
    body["placements"][0]["postcode"] = "XX XX"
    response = put(council, "C100", body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "placements.0.postcode"
    assert not Child.objects.exists()
    assert put(council, "C" * 11, child_body()).status_code == 400


def test_only_a_council_system_with_the_operation(client, force, la_west, admin_user, area_east):
    assert put(force, "C100", child_body()).status_code == 403
    read_only = Caller(client, register(la_west, admin_user, operations=[], name="RO")[1])
    assert put(read_only, "C100", child_body()).status_code == 403
    assert not Child.objects.exists()


def test_another_council_cannot_take_over_a_child(client, council, la_east, admin_user, area_east):
    put(council, "C100", child_body())
    east = Caller(client, register(la_east, admin_user, name="East case system")[1])
    # East hosts the placement, so it sees the child, but may not change the care details.
    response = put(east, "C100", child_body(responsible_area="E06000049"))
    assert response.status_code == 403
    assert "responsible council" in response.json()["detail"]
    assert Child.objects.get().responsible_area.code == "E06000050"
