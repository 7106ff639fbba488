"""No existence oracle: identifiers stay unique, but someone who cannot see the child
holding one learns only to contact the child's responsible local authority, and the
attempt is in the access log."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from incidents.actions import children as actions
from incidents.models import Child
from missingkids.audit.models import AccessLogEntry
from tests.factories.incidents import ChildFactory

pytestmark = pytest.mark.django_db
A = AccessLogEntry.Action
NHS = "4857773457"
UNSEEN = "Contact the child's responsible local authority"
UNSEEN_HTML = escape(UNSEEN)


@pytest.fixture
def west_child(area_west, social_worker) -> Child:
    return ChildFactory(
        first_name="Kayla",
        last_name="Morris",
        responsible_area=area_west,
        nhs_number=NHS,
        la_child_id="W123",
        created_by=social_worker,
    )


def add_post(area, **overrides: str) -> dict[str, str]:
    born = dt.date(2012, 7, 9)
    return {
        "first_name": "Mia",
        "last_name": "Roberts",
        "known_as": "",
        "date_of_birth_0": str(born.day),
        "date_of_birth_1": str(born.month),
        "date_of_birth_2": str(born.year),
        "gender": "female",
        "la_child_id": "",
        "nhs_number": "",
        "police_person_reference": "",
        "legal_status": "none",
        "responsible_area": str(area.pk),
        "physical_description": "",
        "places_they_go": "",
        "people_they_may_be_with": "",
        **overrides,
    }


def add_child(client, data: dict[str, str]):
    url = reverse("incidents:child_add")
    client.post(url, {**data, "draft": "draft-token-1"})
    return client.post(url, {"draft": "draft-token-1", "confirm": "1"})


@pytest.mark.parametrize(
    ("field", "value"), [("nhs_number", "485 777 3457"), ("la_child_id", "W123")]
)
def test_someone_who_cannot_see_the_child_learns_nothing_about_them(
    client, outsider, area_other, west_child, field, value
):
    client.force_login(outsider)

    response = add_child(client, add_post(area_other, **{field: value}))

    assert response.status_code == 200
    html = response.content.decode()
    assert UNSEEN_HTML in html
    assert "already recorded for another child" not in html
    assert "already used for another child" not in html
    assert "Kayla" not in html and "Morris" not in html
    summary = html[html.index("govuk-error-summary") : html.index("</ul>")]
    assert "Cheshire West" not in summary and f"/children/{west_child.pk}/" not in html
    assert Child.objects.count() == 1  # still unique
    [refused] = AccessLogEntry.objects.filter(action=A.REFUSED)
    assert (refused.user, refused.child_id, refused.detail) == (
        outsider,
        west_child.pk,
        {"reason": "identifier held by a child not in scope", "field": field},
    )


def test_someone_who_can_see_the_child_is_told_it_is_recorded(
    client, social_worker, area_west, west_child
):
    client.force_login(social_worker)

    response = add_child(client, add_post(area_west, nhs_number="485 777 3457"))

    assert "already recorded for another child" in response.content.decode()
    assert not AccessLogEntry.objects.filter(action=A.REFUSED).exists()


def test_changing_an_identifier_to_another_childs_is_the_same(
    client, outsider, area_other, west_child
):
    own = ChildFactory(
        first_name="Leo", last_name="Hart", responsible_area=area_other, created_by=outsider
    )
    client.force_login(outsider)
    url = reverse("incidents:child_edit", args=[own.pk])
    form = client.get(url).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    for name in ("date_of_birth",):
        born = own.date_of_birth
        data |= {f"{name}_0": born.day, f"{name}_1": born.month, f"{name}_2": born.year}
    data["nhs_number"] = NHS

    response = client.post(url, data)

    assert response.status_code == 200
    assert UNSEEN_HTML in response.content.decode()
    assert "Kayla" not in response.content.decode()
    own.refresh_from_db()
    assert own.nhs_number != NHS
    assert AccessLogEntry.objects.filter(action=A.REFUSED, child_id=west_child.pk).exists()


def test_the_action_says_the_same_whoever_calls_it(outsider, area_other, west_child):
    with pytest.raises(ValidationError) as caught:
        actions.child_create(
            acting_user=outsider,
            first_name="Mia",
            last_name="Roberts",
            date_of_birth=dt.date(2012, 7, 9),
            gender="female",
            nhs_number=NHS,
            responsible_area=area_other,
        )
    [message] = caught.value.message_dict["nhs_number"]
    assert UNSEEN in message and "Kayla" not in message
