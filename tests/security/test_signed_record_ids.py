"""A record id with a sign, beyond any database integer, is "not one of the choices",
never a server error (the database is not asked about it)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories.incidents import ChildFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "forged", ["-99999999999999999999", "+99999999999999999999", " 99999999999999999999 "]
)
def test_a_signed_huge_id_among_several_is_refused_by_the_field(client, manager, area_west, forged):
    child = ChildFactory(responsible_area=area_west, created_by=manager)
    client.force_login(manager)
    response = client.post(
        reverse("incidents:strategy_meeting_add", args=[child.pk]),
        {"attendee_agencies": [forged], "decisions": "Agreed a plan"},
    )
    assert response.status_code == 200
    assert "There is a problem" in response.content.decode()
