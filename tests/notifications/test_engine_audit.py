"""The audit's cases, end to end through the incidents action functions: each change
commits, its protocol event is processed on commit, and the right agency is due to be
told by the right teller."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from incidents.actions.episodes import episode_record_return, episode_report
from incidents.actions.interviews import interview_record_held, safe_and_well_record
from incidents.models import Involvement, LegalStatus
from notifications.models import Notification
from tests.factories.incidents import ChildFactory, InvolvementFactory, PlacementFactory

from .engine_world import LONG_AGO, UTC, contacts_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
LAST_SEEN = dt.datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


@pytest.fixture
def travel():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def kayla(contacts, officer, area_west, area_east, gp_practice, school_nurse, provider):
    child = ChildFactory(
        first_name="Kayla",
        responsible_area=area_west,
        legal_status=LegalStatus.IN_CARE,
        created_by=officer,
    )
    PlacementFactory(child=child, host_area=area_east, start=LONG_AGO)
    for agency, role in (
        (gp_practice, Involvement.Role.GP_PRACTICE),
        (school_nurse, Involvement.Role.SCHOOL_NURSE),
        (provider, Involvement.Role.PROVIDER),
    ):
        InvolvementFactory(child=child, agency=agency, role=role, start=LONG_AGO)
    return child


def _report(child, officer, police, run):
    with run(execute=True):
        return episode_report(
            acting_user=officer,
            child=child,
            category="missing",
            reported_at=LAST_SEEN + dt.timedelta(hours=1),
            reported_by_name="Foster carer",
            reported_by_agency=None,
            last_seen_at=LAST_SEEN,
            circumstances="Did not come home.",
            risk="medium",
            risk_rationale="Known to go to Crewe.",
        )


def _return(episode, officer, run):
    with run(execute=True):
        return episode_record_return(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            found_at=LAST_SEEN + dt.timedelta(hours=20),
            how_returned="police",
        )


def _told(episode, step, agency) -> Notification:
    return Notification.objects.get(episode=episode, step=step, recipient_agency=agency)


def test_police_told_the_la_on_report(
    travel, kayla, officer, police, la_west, django_capture_on_commit_callbacks
):
    episode = _report(kayla, officer, police, django_capture_on_commit_callbacks)

    told = _told(episode, "reported", la_west)
    assert told.responsible_agency == police
    assert told.due_at == LAST_SEEN + dt.timedelta(hours=25)
    # 19:00 on a Tuesday: the emergency duty team, not the daytime front door.
    assert told.recipient_contact.out_of_hours


def test_host_la_told_for_a_child_placed_out_of_area(
    travel, kayla, officer, police, la_west, la_east, django_capture_on_commit_callbacks
):
    episode = _report(kayla, officer, police, django_capture_on_commit_callbacks)
    _return(episode, officer, django_capture_on_commit_callbacks)

    for step in ("reported", "returned"):
        told = _told(episode, step, la_east)
        assert told.responsible_agency == la_west
        assert told.recipient_email == la_east.contacts.get(is_default=True).email


def test_safe_and_well_check_shared_with_the_la(
    travel, kayla, officer, police, la_west, django_capture_on_commit_callbacks
):
    episode = _report(kayla, officer, police, django_capture_on_commit_callbacks)
    _return(episode, officer, django_capture_on_commit_callbacks)
    conducted = LAST_SEEN + dt.timedelta(hours=22)

    with django_capture_on_commit_callbacks(execute=True):
        safe_and_well_record(
            acting_user=officer,
            episode=episode,
            officer_name="PC Sam Okafor",
            conducted_at=conducted,
            face_to_face=True,
            outcome="Safe and well.",
        )

    told = _told(episode, "safe_and_well_done", la_west)
    assert told.responsible_agency == police
    assert told.due_at == conducted + dt.timedelta(hours=24)
    assert told.delivery == Notification.Delivery.QUEUED


def test_gp_school_nurse_and_provider_told_of_key_events(
    travel,
    kayla,
    officer,
    police,
    provider_worker,
    provider,
    gp_practice,
    school_nurse,
    django_capture_on_commit_callbacks,
):
    episode = _report(kayla, officer, police, django_capture_on_commit_callbacks)
    for agency in (gp_practice, school_nurse):
        assert _told(episode, "reported", agency)
    _return(episode, officer, django_capture_on_commit_callbacks)
    for agency in (gp_practice, school_nurse, provider):
        assert _told(episode, "returned", agency)

    interview = episode.interview
    with django_capture_on_commit_callbacks(execute=True):
        interview_record_held(
            acting_user=provider_worker,
            interview=interview,
            expected_version=interview.version,
            held_at=LAST_SEEN + dt.timedelta(hours=40),
            held_by="Aisha Begum",
            child_voice="I went to see my friends.",
        )

    for agency in (gp_practice, school_nurse):
        told = _told(episode, "interview_done", agency)
        assert told.responsible_agency == provider
    assert not Notification.objects.filter(episode=episode).exclude(problem="").exists()
