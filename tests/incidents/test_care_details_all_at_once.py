"""The care details pages (legal status, placement, involved agency) show every problem
with what was typed at once: the form's own messages and the action's checks together,
so nobody fixes one message only to be shown the next."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.actions import children as actions
from incidents.models import Involvement, LegalStatus, LegalStatusPeriod, Placement
from tests.factories.incidents import ChildFactory, InvolvementFactory, PlacementFactory
from tests.incidents.test_children_views import date_post, placement_post, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def child(area_west, social_worker):
    return ChildFactory(responsible_area=area_west, created_by=social_worker)


@pytest.fixture
def child_in_care(child):
    child.legal_status = LegalStatus.IN_CARE
    child.save()
    LegalStatusPeriod.objects.create(child=child, status="in_care", start=dt.date(2024, 1, 1))
    return child


def _errors(body: str) -> list[str]:
    """The error summary's links: where each message points."""
    summary = body[body.index("govuk-error-summary") :]
    return re.findall(r'<a href="(#[^"]+)"', summary[: summary.index("</div>\n</div>")])


def test_placement_overlap_comes_with_the_forms_own_messages(
    client, social_worker, child_in_care, area_west
):
    PlacementFactory(child=child_in_care, start=dt.date(2024, 6, 1))
    url = reverse("incidents:placement_add", args=[child_in_care.pk])
    response = signed_in(client, social_worker).post(
        url, placement_post(area_west, postcode="not a postcode", address="", host_area="")
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Enter a real UK postcode" in body
    assert "Enter the address of the placement" in body
    assert "Select the local authority the placement is in" in body
    assert "overlaps another placement of this child, which started on 01/06/2024" in body
    assert "The Browns" in body
    assert Placement.objects.count() == 1


def test_each_question_has_one_message_not_the_form_and_the_actions(
    client, social_worker, child_in_care, area_west
):
    url = reverse("incidents:placement_add", args=[child_in_care.pk])
    body = (
        signed_in(client, social_worker)
        .post(url, placement_post(area_west, postcode="", type=""))
        .content.decode()
    )
    assert body.count("Enter the postcode of the placement") == 2  # by the field, in the summary
    assert body.count("Select the type of placement") == 2


def test_an_unreadable_end_date_is_not_checked_for_an_overlap(
    client, social_worker, child_in_care, area_west
):
    PlacementFactory(child=child_in_care, start=dt.date(2024, 6, 1), end=dt.date(2024, 12, 1))
    url = reverse("incidents:placement_add", args=[child_in_care.pk])
    data = placement_post(area_west, address="")
    data |= date_post("start", dt.date(2025, 1, 1)) | {"end_0": "40", "end_1": "1", "end_2": "2025"}
    body = signed_in(client, social_worker).post(url, data).content.decode()
    assert "Enter the address of the placement" in body
    assert "overlaps" not in body


def test_a_child_not_in_care_and_a_bad_date_are_said_together(
    client, social_worker, child, area_west
):
    url = reverse("incidents:placement_add", args=[child.pk])
    future = timezone.localdate() + dt.timedelta(days=3)
    body = (
        signed_in(client, social_worker)
        .post(url, placement_post(area_west, postcode="") | date_post("start", future))
        .content.decode()
    )
    assert "Only a child in care can have a placement" in body
    assert "Enter the postcode of the placement" in body
    assert "The date must be today or in the past" in body


def test_placement_problems_lists_every_problem(child_in_care, area_west):
    PlacementFactory(child=child_in_care, start=dt.date(2024, 6, 1))
    problems = actions.placement_problems(
        child_in_care,
        start=dt.date(2025, 1, 1),
        end=dt.date(2024, 12, 1),
        type="castle",
        address=" ",
        postcode="XX",
        host_area=None,
    )
    assert set(problems) == {"type", "address", "postcode", "host_area", "end"}


def test_legal_status_every_problem_at_once(client, social_worker, child_in_care):
    PlacementFactory(child=child_in_care, start=dt.date(2024, 6, 1))
    url = reverse("incidents:child_legal_status", args=[child_in_care.pk])
    # The status is read, the date is not: the status's own problem is still said.
    body = (
        signed_in(client, social_worker)
        .post(url, {"status": "cin", "start_0": "31", "start_1": "2", "start_2": "2025"})
        .content.decode()
    )
    assert "The date must be a real date" in body
    assert "The child has a current placement" in body
    assert LegalStatusPeriod.objects.filter(child=child_in_care).count() == 1


def test_legal_status_action_collects_every_problem(social_worker, child_in_care):
    PlacementFactory(child=child_in_care, start=dt.date(2024, 6, 1))
    problems = actions.legal_status_problems(child_in_care, status="cin", start=dt.date(2023, 1, 1))
    assert "must start after 01/01/2024" in problems["start"][0]
    assert "current placement" in problems["status"][0]
    same = actions.legal_status_problems(child_in_care, status=LegalStatus.IN_CARE, start=None)
    assert set(same) == {"status", "start"}


def test_involvement_duplicate_comes_with_the_forms_own_messages(
    client, social_worker, child, gp_practice
):
    InvolvementFactory(child=child, agency=gp_practice, role="gp", start=dt.date(2025, 1, 1))
    url = reverse("incidents:involvement_add", args=[child.pk])
    data = {
        "agency": str(gp_practice.pk),
        "role": "gp",
        "professional_email": "nope",
        "start_0": "",
        "start_1": "",
        "start_2": "",
    }
    body = signed_in(client, social_worker).post(url, data).content.decode()
    assert "Enter an e-mail address like name@example.org" in body
    assert "already recorded as involved in this role" in body
    assert Involvement.objects.filter(child=child).count() == 1
    assert _errors(body)[0].startswith("#id_agency")
