"""What the statutory returns need on the record: the child's sex as the returns code it,
ethnicity, unique pupil number, the SSDA903 legal status of a period in care, and the
time a return interview was first offered."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from incidents.actions import children as actions
from incidents.actions.corrections import interview_correct_declined, interview_correct_held
from incidents.actions.interviews import (
    interview_record_attempt,
    interview_record_declined,
    interview_record_held,
)
from incidents.models import Child, LegalStatus, ReturnInterview
from incidents.validators import upn_check_letter, validate_upn
from tests.factories.incidents import ChildFactory
from tests.incidents.test_interviews_actions import HOUR, held_kwargs, make_interview

pytestmark = pytest.mark.django_db


# The unique pupil number -----------------------------------------------------------------


@pytest.mark.parametrize("upn", ["H801200001001", "U801200002001", "h8012 0000 1001"])
def test_valid_upns(upn):
    validate_upn(upn)


def test_a_temporary_upn_ends_in_a_letter():
    body = "80120000100A"
    validate_upn(upn_check_letter(body) + body)


@pytest.mark.parametrize(
    ("upn", "code"),
    [
        ("H80120000100", "upn_length"),
        ("H8012000010011", "upn_length"),
        ("I801200001001", "upn_format"),  # I, O and S are never used
        ("H80120000100O", "upn_format"),
        ("HX01200001001", "upn_format"),
        ("A801200001001", "upn_checksum"),
    ],
)
def test_invalid_upns(upn, code):
    with pytest.raises(ValidationError) as caught:
        validate_upn(upn)
    assert caught.value.code == code


# The child's record --------------------------------------------------------------------------


def _kwargs(area, **overrides):
    return {
        "first_name": "Kayla",
        "last_name": "Jones",
        "date_of_birth": dt.date(2011, 3, 4),
        "gender": "female",
        "responsible_area": area,
        **overrides,
    }


def test_sex_comes_from_gender_where_it_can(social_worker, area_west):
    girl = actions.child_create(acting_user=social_worker, **_kwargs(area_west))
    assert girl.return_sex == "2"
    boy = actions.child_create(acting_user=social_worker, **_kwargs(area_west, gender="male"))
    assert boy.return_sex == "1"
    other = actions.child_create(
        acting_user=social_worker, **_kwargs(area_west, gender="other", sex="1")
    )
    assert other.return_sex == "1"
    unknown = actions.child_create(
        acting_user=social_worker, **_kwargs(area_west, gender="not_known")
    )
    assert unknown.return_sex == ""


def test_ethnicity_and_upn_are_kept_and_checked(social_worker, area_west):
    child = actions.child_create(
        acting_user=social_worker,
        **_kwargs(area_west, ethnicity="BAFR", upn=" h801200001001 "),
    )
    assert (child.ethnicity, child.upn) == ("BAFR", "H801200001001")
    with pytest.raises(ValidationError) as caught:
        actions.child_create(
            acting_user=social_worker,
            **_kwargs(area_west, ethnicity="XXXX", upn="A801200001001", sex="3"),
        )
    errors = caught.value.message_dict
    assert set(errors) >= {"ethnicity", "upn", "sex"}
    assert "check letter does not match" in errors["upn"][0]


def test_the_edit_form_keeps_the_return_details(client, social_worker, area_west):
    child = ChildFactory(responsible_area=area_west, created_by=social_worker)
    client.force_login(social_worker)
    url = reverse("incidents:child_edit", args=[child.pk])
    data = {
        "version": child.version,
        "first_name": child.first_name,
        "last_name": child.last_name,
        "date_of_birth_0": child.date_of_birth.day,
        "date_of_birth_1": child.date_of_birth.month,
        "date_of_birth_2": child.date_of_birth.year,
        "gender": "other",
        "sex": "2",
        "ethnicity": "MWAS",
        "upn": "U801200002001",
        "responsible_area": area_west.pk,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    child.refresh_from_db()
    assert (child.return_sex, child.ethnicity, child.upn) == ("2", "MWAS", "U801200002001")
    page = client.get(reverse("incidents:child_detail", args=[child.pk])).content.decode()
    assert "White and Asian" in page and "U801200002001" in page

    response = client.post(url, {**data, "version": child.version, "upn": "A801200001001"})
    assert response.status_code == 200
    assert "check letter does not match" in response.content.decode()


def test_a_period_in_care_keeps_its_ssda903_legal_status(manager, social_worker, area_west):
    child = actions.child_create(
        acting_user=social_worker,
        **_kwargs(
            area_west,
            legal_status=LegalStatus.IN_CARE,
            legal_status_start=timezone.localdate() - dt.timedelta(days=100),
            care_legal_status="V2",
        ),
    )
    assert child.legal_statuses.get().care_legal_status == "V2"
    actions.child_set_legal_status(
        acting_user=social_worker,
        child=child,
        status=LegalStatus.NONE,
        start=timezone.localdate() - dt.timedelta(days=50),
    )
    actions.child_set_legal_status(
        acting_user=social_worker,
        child=Child.objects.get(pk=child.pk),
        status=LegalStatus.IN_CARE,
        start=timezone.localdate() - dt.timedelta(days=10),
        care_legal_status="C2",
    )
    assert list(
        child.legal_statuses.order_by("start").values_list("care_legal_status", flat=True)
    ) == [
        "V2",
        "",
        "C2",
    ]
    with pytest.raises(ValidationError) as caught:
        actions.child_set_legal_status(
            acting_user=social_worker,
            child=Child.objects.get(pk=child.pk),
            status=LegalStatus.CHILD_IN_NEED,
            start=timezone.localdate(),
            care_legal_status="C2",
        )
    assert "only for a child in care" in caught.value.message_dict["care_legal_status"][0]


# The time the interview was offered -------------------------------------------------------------


@pytest.fixture
def interview(area_west, la_west, provider, social_worker) -> ReturnInterview:
    return make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )


def test_held_at_the_first_contact_is_offered_then(provider_worker, interview):
    held = interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    assert held.offered_at == held.held_at
    interview.refresh_from_db()
    assert interview.offered_at == interview.held_at
    assert interview.history.first().offered_at == interview.held_at


def test_declined_at_the_first_contact_is_offered_then(provider_worker, interview):
    declined_at = interview.episode.found_at + 5 * HOUR
    interview_record_declined(
        acting_user=provider_worker,
        interview=interview,
        expected_version=interview.version,
        declined_at=declined_at,
        carers_information="Carer says she is fine.",
        decision_not_to_hold="She said no twice; her teacher will check in.",
    )
    interview.refresh_from_db()
    assert interview.offered_at == declined_at


def test_an_earlier_attempt_stays_the_offered_time(provider_worker, interview):
    first = interview.episode.found_at + 2 * HOUR
    interview_record_attempt(
        acting_user=provider_worker,
        interview=interview,
        attempted_at=first,
        method="phone",
        outcome="no_contact",
    )
    interview.refresh_from_db()
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    interview.refresh_from_db()
    assert interview.offered_at == first


def test_correcting_the_time_moves_the_offered_time(provider_worker, interview):
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    interview.refresh_from_db()
    earlier = interview.held_at - 10 * HOUR
    corrected = interview_correct_held(
        acting_user=provider_worker,
        **{
            **held_kwargs(interview, held_at=earlier),
            "reason": "Typed the wrong day",
        },
    )
    assert corrected.offered_at == earlier
    interview.refresh_from_db()
    assert interview.offered_at == earlier


def test_correcting_a_declined_time_moves_the_offered_time(provider_worker, interview):
    declined_at = interview.episode.found_at + 5 * HOUR
    interview_record_declined(
        acting_user=provider_worker,
        interview=interview,
        expected_version=interview.version,
        declined_at=declined_at,
        carers_information="Carer says she is fine.",
        decision_not_to_hold="She said no twice.",
    )
    interview.refresh_from_db()
    interview_correct_declined(
        acting_user=provider_worker,
        interview=interview,
        expected_version=interview.version,
        declined_at=declined_at + 2 * HOUR,
        carers_information="Carer says she is fine.",
        decision_not_to_hold="She said no twice.",
        reason="Typed the wrong hour",
    )
    interview.refresh_from_db()
    assert interview.offered_at == declined_at + 2 * HOUR
