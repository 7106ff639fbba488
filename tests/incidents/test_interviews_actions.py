"""The actions after a return: safe and well check, interview attempts and outcome,
challenges. Episodes are built with factories so these tests do not depend on the
episode actions, except where closing the episode is the point."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.utils import timezone

from incidents.actions.base import StaleEdit
from incidents.actions.interviews import (
    CHILD_VOICE_MESSAGE,
    challenge_raise,
    challenge_record_outcome,
    interview_record_attempt,
    interview_record_declined,
    interview_record_held,
    safe_and_well_record,
    safe_and_well_record_emailed,
    safe_and_well_share,
)
from incidents.models import (
    AgreedAction,
    CaseEvent,
    Challenge,
    Episode,
    InterviewAttempt,
    LegalStatus,
    ReturnInterview,
    SafeAndWellCheck,
    SharingMethod,
)
from missingkids.accounts.models import User
from tests.factories import UserFactory
from tests.factories.incidents import (
    ChildFactory,
    EpisodeFactory,
    PlacementFactory,
    ReturnInterviewFactory,
    SafeAndWellCheckFactory,
)

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


def make_interview(
    *,
    child_area: Any,
    owner: Any,
    provider: Any = None,
    created_by: Any,
    found_ago: dt.timedelta = 40 * HOUR,
    found_at: dt.datetime | None = None,
) -> ReturnInterview:
    """A returned episode (last seen a day before it was found) and its interview."""
    found = found_at or timezone.now() - found_ago
    child = ChildFactory(responsible_area=child_area, created_by=created_by)
    episode = EpisodeFactory(
        child=child,
        last_seen_at=found - dt.timedelta(hours=24),
        found_at=found,
        how_returned=Episode.HowReturned.RETURNED_SELF,
    )
    return ReturnInterviewFactory(
        episode=episode,
        owner=owner,
        provider=provider,
        due_at=found + dt.timedelta(hours=72),
    )


@pytest.fixture
def interview(area_west, la_west, provider, social_worker) -> ReturnInterview:
    return make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )


@pytest.fixture
def episode(interview) -> Episode:
    return interview.episode


def errors_of(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def last_event(kind: str) -> CaseEvent:
    return CaseEvent.objects.filter(kind=kind).latest("id")


# Safe and well check -----------------------------------------------------------------


def check_kwargs(episode: Episode, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "episode": episode,
        "officer_name": "PC Sam Okafor",
        "face_to_face": True,
        "outcome": "Safe and well; spent the night at a friend's flat.",
    }
    values.update(overrides)
    values.setdefault("conducted_at", episode.found_at and episode.found_at + HOUR)
    return values


def test_safe_and_well_record_saves_the_check_and_writes_the_event(officer, episode):
    check = safe_and_well_record(
        acting_user=officer, **check_kwargs(episode, harm_disclosed=True, disclosure_details="x")
    )

    assert check.agency == officer.agency
    assert check.recorded_by == officer
    event = last_event(CaseEvent.Kind.SAFE_AND_WELL_DONE)
    assert event.is_protocol
    assert event.episode == episode
    assert event.occurred_at == check.conducted_at
    assert event.actor_agency == officer.agency
    assert event.data["face_to_face"] is True
    assert event.data["harm_disclosed"] is True
    assert event.data["crime_disclosed"] is False
    assert event.data["shared"] is False
    assert event.data["child_in_care"] is False


def test_safe_and_well_record_with_sharing_says_so(officer, episode, la_west):
    shared = episode.found_at + 2 * HOUR
    check = safe_and_well_record(
        acting_user=officer,
        **check_kwargs(
            episode,
            shared_with_la_at=shared,
            shared_method=SharingMethod.PHONE,
            shared_with=f"  Jo Whitfield, {la_west.name} ",
        ),
    )

    assert check.shared_with_la_at == shared
    assert check.shared_method == SharingMethod.PHONE
    assert check.shared_with == f"Jo Whitfield, {la_west.name}"
    assert check.shared_by_agency == officer.agency
    assert check.shared_recorded_by == officer
    data = last_event(CaseEvent.Kind.SAFE_AND_WELL_DONE).data
    assert data["shared"] is True
    assert data["shared_at"] == shared.isoformat()
    assert data["shared_method"] == SharingMethod.PHONE
    assert data["shared_with"] == f"Jo Whitfield, {la_west.name}"


def test_safe_and_well_record_without_sharing_leaves_it_blank(officer, episode):
    check = safe_and_well_record(acting_user=officer, **check_kwargs(episode))

    assert not check.is_shared
    assert (check.shared_method, check.shared_with) == ("", "")
    assert check.shared_by_agency is None and check.shared_recorded_by is None
    data = last_event(CaseEvent.Kind.SAFE_AND_WELL_DONE).data
    assert (data["shared"], data["shared_at"]) == (False, None)
    assert "shared_method" not in data


@pytest.mark.parametrize(
    ("typed", "missing"),
    [
        ({"shared_method": "", "shared_with": "Jo Whitfield"}, "shared_method"),
        ({"shared_method": SharingMethod.PHONE, "shared_with": " "}, "shared_with"),
    ],
)
def test_safe_and_well_record_sharing_asks_how_and_whom(officer, episode, typed, missing):
    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_record(
            acting_user=officer,
            **check_kwargs(episode, shared_with_la_at=episode.found_at + 2 * HOUR, **typed),
        )
    assert list(errors_of(excinfo)) == [missing]
    assert not SafeAndWellCheck.objects.exists()


def test_safe_and_well_record_how_and_whom_without_when_is_refused(officer, episode):
    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_record(
            acting_user=officer,
            **check_kwargs(episode, shared_method=SharingMethod.PHONE, shared_with="Jo"),
        )
    assert errors_of(excinfo) == {
        "shared_with_la_at": ["Enter when it was shared with the local authority"]
    }


def test_safe_and_well_record_sharing_in_the_future_is_refused(officer, episode):
    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_record(
            acting_user=officer,
            **check_kwargs(
                episode,
                conducted_at=timezone.now() - HOUR,
                shared_with_la_at=timezone.now() + HOUR,
                shared_method=SharingMethod.PHONE,
                shared_with="Jo Whitfield",
            ),
        )
    assert errors_of(excinfo) == {
        "shared_with_la_at": ["The date and time must not be in the future"]
    }


def test_safe_and_well_event_says_placed_out_of_area(officer, episode, area_east):
    child = episode.child
    child.legal_status = LegalStatus.IN_CARE
    child.save(update_fields=["legal_status"])
    PlacementFactory(child=child, host_area=area_east)

    safe_and_well_record(acting_user=officer, **check_kwargs(episode))

    data = last_event(CaseEvent.Kind.SAFE_AND_WELL_DONE).data
    assert data["child_in_care"] is True
    assert data["placed_out_of_area"] is True
    assert data["host_area_id"] == area_east.pk


@pytest.mark.parametrize("who", ["social_worker", "provider_worker", "manager", "admin_user"])
def test_only_police_record_safe_and_well(request, episode, who):
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        safe_and_well_record(acting_user=user, **check_kwargs(episode))
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.SAFE_AND_WELL_DONE).exists()


def test_safe_and_well_before_the_child_was_found_is_refused(officer, episode):
    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_record(
            acting_user=officer,
            **check_kwargs(episode, conducted_at=episode.found_at - dt.timedelta(minutes=1)),
        )
    assert errors_of(excinfo)["conducted_at"] == [
        "The safe and well check must be after the child was found"
    ]


def test_safe_and_well_for_a_child_still_missing_is_refused(officer, social_worker, area_west):
    child = ChildFactory(responsible_area=area_west, created_by=social_worker)
    episode = EpisodeFactory(child=child)
    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_record(
            acting_user=officer, **check_kwargs(episode, conducted_at=timezone.now() - HOUR)
        )
    assert "found" in errors_of(excinfo)[NON_FIELD_ERRORS][0]


def test_safe_and_well_in_the_future_is_refused(officer, episode):
    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_record(
            acting_user=officer, **check_kwargs(episode, conducted_at=timezone.now() + HOUR)
        )
    assert errors_of(excinfo)["conducted_at"] == ["The date and time must not be in the future"]


def test_only_one_safe_and_well_check_per_episode(officer, episode):
    safe_and_well_record(acting_user=officer, **check_kwargs(episode))
    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_record(acting_user=officer, **check_kwargs(episode))
    assert "already" in errors_of(excinfo)[NON_FIELD_ERRORS][0]


def test_safe_and_well_shared_before_the_check_is_refused(officer, episode):
    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_record(
            acting_user=officer,
            **check_kwargs(
                episode,
                shared_with_la_at=episode.found_at,
                shared_method=SharingMethod.PHONE,
                shared_with="Jo Whitfield",
            ),
        )
    assert "shared_with_la_at" in errors_of(excinfo)


def share_kwargs(check: SafeAndWellCheck, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "check": check,
        "shared_at": check.conducted_at + 2 * HOUR,
        "method": SharingMethod.SECURE_EMAIL,
        "shared_with": "Front door, Cheshire West and Chester",
    }
    values.update(overrides)
    return values


@pytest.fixture
def check(episode, officer) -> SafeAndWellCheck:
    return SafeAndWellCheckFactory(
        episode=episode,
        conducted_at=episode.found_at + HOUR,
        agency=officer.agency,
        recorded_by=officer,
    )


def test_safe_and_well_share_later(officer, check):
    shared = check.conducted_at + 2 * HOUR

    safe_and_well_share(
        acting_user=officer,
        **share_kwargs(check, shared_at=shared, method=SharingMethod.PHONE, shared_with=" Jo "),
    )

    check.refresh_from_db()
    assert check.shared_with_la_at == shared
    assert (check.shared_method, check.shared_with) == (SharingMethod.PHONE, "Jo")
    assert (check.shared_by_agency, check.shared_recorded_by) == (officer.agency, officer)
    assert check.version == 2
    assert check.history.latest().history_user == officer
    event = last_event(CaseEvent.Kind.SAFE_AND_WELL_SHARED)
    assert event.is_protocol
    assert event.occurred_at == shared
    assert (event.actor, event.actor_agency) == (officer, officer.agency)
    assert event.summary == "Safe and well check shared with the local authority (phone, with Jo)"
    assert event.data["shared_method"] == SharingMethod.PHONE
    assert event.data["shared_with"] == "Jo"


def test_safe_and_well_share_twice_is_refused_and_names_the_first(officer, check):
    safe_and_well_share(acting_user=officer, **share_kwargs(check, shared_with="Jo Whitfield"))
    first = check.shared_with_la_at

    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_share(
            acting_user=officer,
            **share_kwargs(check, shared_at=timezone.now(), shared_with="Someone else"),
        )

    (message,) = errors_of(excinfo)[NON_FIELD_ERRORS]
    assert message.startswith("This check has already been recorded as shared")
    assert "secure e-mail, with Jo Whitfield" in message
    check.refresh_from_db()
    assert (check.shared_with_la_at, check.shared_with) == (first, "Jo Whitfield")
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED).count() == 1


def test_safe_and_well_share_before_the_check_or_in_the_future_is_refused(officer, check):
    with pytest.raises(ValidationError) as before:
        safe_and_well_share(
            acting_user=officer, **share_kwargs(check, shared_at=check.conducted_at - HOUR)
        )
    with pytest.raises(ValidationError) as future:
        safe_and_well_share(
            acting_user=officer, **share_kwargs(check, shared_at=timezone.now() + HOUR)
        )
    assert errors_of(before)["shared_at"] == [
        "The check cannot be shared before it was done: enter a time after "
        f"{timezone.localtime(check.conducted_at):%d/%m/%Y %H:%M}"
    ]
    assert errors_of(future)["shared_at"] == ["The date and time must not be in the future"]
    check.refresh_from_db()
    assert not check.is_shared


def test_safe_and_well_share_asks_when_how_and_whom(officer, check):
    with pytest.raises(ValidationError) as excinfo:
        safe_and_well_share(
            acting_user=officer,
            **share_kwargs(check, shared_at=None, method="carrier pigeon", shared_with=""),
        )
    assert errors_of(excinfo) == {
        "shared_at": ["Enter when it was shared with the local authority"],
        "method": ["Select how it was shared"],
        "shared_with": ["Enter who it was shared with: their name and agency"],
    }


@pytest.mark.parametrize("who", ["social_worker", "provider_worker", "admin_user"])
def test_safe_and_well_share_is_for_police(request, check, who):
    with pytest.raises(PermissionDenied):
        safe_and_well_share(acting_user=request.getfixturevalue(who), **share_kwargs(check))


def test_a_manager_of_the_childs_council_records_that_the_police_told_them(manager, check, police):
    safe_and_well_share(
        acting_user=manager, by_agency=police, **share_kwargs(check, method=SharingMethod.PHONE)
    )

    check.refresh_from_db()
    assert (check.shared_by_agency, check.shared_recorded_by) == (police, manager)
    event = last_event(CaseEvent.Kind.SAFE_AND_WELL_SHARED)
    assert (event.actor, event.actor_agency) == (manager, police)


def test_a_manager_of_another_council_cannot_record_the_sharing(check, la_east):
    east_manager = UserFactory(agency=la_east, role=User.Role.MANAGER)
    with pytest.raises(PermissionDenied):
        safe_and_well_share(acting_user=east_manager, **share_kwargs(check))


def test_the_services_email_is_recorded_as_the_sharing(officer, check, police, la_west):
    sent = check.conducted_at + 3 * HOUR
    to = f"Front door, {la_west.name}"

    assert safe_and_well_record_emailed(check=check, sent_at=sent, sent_to=to, teller=police)

    check.refresh_from_db()
    assert check.shared_with_la_at == sent
    assert (check.shared_method, check.shared_with) == (SharingMethod.EMAIL, to)
    assert check.shared_by_agency == police
    # Nobody typed it: the service recorded its own e-mail.
    assert check.shared_recorded_by is None
    assert check.shared_by_service
    assert check.history.latest().history_user is None
    event = last_event(CaseEvent.Kind.SAFE_AND_WELL_SHARED)
    assert event.is_protocol
    assert event.occurred_at == sent
    # The officer whose check was sent, for the agency that had to tell.
    assert (event.actor, event.actor_agency) == (officer, police)
    assert event.summary == (
        f"Safe and well check e-mailed to {to} by the service, for {police.name}"
    )
    assert event.data["sent_by_service"] is True
    assert event.data["shared_method"] == SharingMethod.EMAIL
    assert event.data["shared_with"] == to


def test_only_the_first_sharing_counts(officer, check, police):
    safe_and_well_share(acting_user=officer, **share_kwargs(check, method=SharingMethod.PHONE))
    first = (check.shared_with_la_at, check.shared_method, check.shared_with)

    assert not safe_and_well_record_emailed(
        check=check, sent_at=timezone.now(), sent_to="Front door", teller=police
    )

    check.refresh_from_db()
    assert (check.shared_with_la_at, check.shared_method, check.shared_with) == first
    assert check.shared_recorded_by == officer
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED).count() == 1


def test_an_email_sent_in_the_checks_minute_of_grace_is_not_before_it(officer, episode):
    # A check may be typed up to a minute ahead of the server's clock.
    check = SafeAndWellCheckFactory(
        episode=episode, conducted_at=timezone.now() + dt.timedelta(seconds=50)
    )
    assert safe_and_well_record_emailed(
        check=check, sent_at=timezone.now(), sent_to="Front door", teller=None
    )
    check.refresh_from_db()
    assert check.shared_with_la_at == check.conducted_at
    assert check.shared_by_agency == check.agency


# Interview attempts ------------------------------------------------------------------


def test_first_attempt_offers_the_interview(provider_worker, interview, provider, la_west):
    when = interview.episode.found_at + 3 * HOUR
    attempt = interview_record_attempt(
        acting_user=provider_worker,
        interview=interview,
        attempted_at=when,
        method=InterviewAttempt.Method.PHONE,
        outcome=InterviewAttempt.Outcome.NO_CONTACT,
        notes="No answer; left a voicemail.",
    )

    interview.refresh_from_db()
    assert interview.offered_at == when
    assert interview.outcome == ReturnInterview.Outcome.PENDING
    assert attempt.recorded_by == provider_worker
    event = last_event(CaseEvent.Kind.INTERVIEW_ATTEMPT)
    assert event.occurred_at == when
    assert event.data["outcome"] == "no_contact"
    assert event.data["method"] == "phone"
    assert event.data["failed_attempts"] == 1
    assert event.data["owner_agency_id"] == la_west.pk
    assert event.data["provider_agency_id"] == provider.pk


def test_failed_attempts_are_counted_and_an_earlier_attempt_moves_the_offer(
    social_worker, interview
):
    found = interview.episode.found_at
    outcomes = ["rearranged", "held", "declined"]
    for hours, outcome in zip([5, 6, 7], outcomes, strict=True):
        interview_record_attempt(
            acting_user=social_worker,
            interview=interview,
            attempted_at=found + hours * HOUR,
            method="visit",
            outcome=outcome,
        )
    assert last_event(CaseEvent.Kind.INTERVIEW_ATTEMPT).data["failed_attempts"] == 2

    interview_record_attempt(
        acting_user=social_worker,
        interview=interview,
        attempted_at=found + HOUR,
        method="text",
        outcome="no_contact",
    )
    interview.refresh_from_db()
    assert interview.offered_at == found + HOUR
    assert last_event(CaseEvent.Kind.INTERVIEW_ATTEMPT).data["failed_attempts"] == 3
    # An attempt that went ahead is not the interview itself: that is recorded separately.
    assert interview.outcome == ReturnInterview.Outcome.PENDING
    assert interview.version == 1


@pytest.mark.parametrize("who", ["officer", "admin_user"])
def test_police_and_admins_cannot_record_attempts(request, interview, who):
    with pytest.raises(PermissionDenied):
        interview_record_attempt(
            acting_user=request.getfixturevalue(who),
            interview=interview,
            attempted_at=timezone.now(),
            method="phone",
            outcome="no_contact",
        )


def test_attempt_before_the_return_or_in_the_future_is_refused(provider_worker, interview):
    found = interview.episode.found_at
    for when, message in [
        (found - dt.timedelta(minutes=1), "The attempt must be after the child returned"),
        (timezone.now() + HOUR, "The date and time must not be in the future"),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            interview_record_attempt(
                acting_user=provider_worker,
                interview=interview,
                attempted_at=when,
                method="phone",
                outcome="no_contact",
            )
        assert errors_of(excinfo)["attempted_at"] == [message]
    assert not interview.attempts.exists()


def test_attempt_with_an_unknown_method_is_refused(provider_worker, interview):
    with pytest.raises(ValidationError) as excinfo:
        interview_record_attempt(
            acting_user=provider_worker,
            interview=interview,
            attempted_at=timezone.now(),
            method="pigeon",
            outcome="nothing",
        )
    assert set(errors_of(excinfo)) == {"method", "outcome"}


# Interview held ----------------------------------------------------------------------


def held_kwargs(interview: ReturnInterview, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "interview": interview,
        "expected_version": interview.version,
        "held_at": interview.episode.found_at + 20 * HOUR,
        "held_by": "Aisha Begum",
        "child_voice": "I went because nobody listens to me at home.",
        "push_factors": ["conflict_home"],
        "pull_factors": ["friends", "older_people"],
        "where_they_were": "A flat in Ellesmere Port",
        "who_with": "Two older boys",
        "what_would_help": "Someone to talk to at school",
    }
    values.update(overrides)
    return values


def test_interview_held_saves_the_childs_voice_and_actions(provider_worker, interview, la_west):
    interview_record_held(
        acting_user=provider_worker,
        **held_kwargs(
            interview,
            actions=[
                {
                    "description": "Meet at school weekly",
                    "owner_agency": la_west,
                    "due_date": dt.date(2030, 1, 1),
                },
                {"description": "", "owner_agency": None, "due_date": None},
            ],
        ),
    )

    interview.refresh_from_db()
    assert interview.outcome == ReturnInterview.Outcome.HELD
    assert interview.child_voice == "I went because nobody listens to me at home."
    assert interview.pull_factors == ["friends", "older_people"]
    assert interview.recorded_by == provider_worker
    assert interview.version == 2
    action = AgreedAction.objects.get(interview=interview)
    assert (action.owner_agency, action.due_date) == (la_west, dt.date(2030, 1, 1))
    assert (action.child, action.source, action.state) == (
        interview.episode.child,
        AgreedAction.Source.INTERVIEW,
        AgreedAction.State.OPEN,
    )
    assert action.agreed_on == timezone.localdate(interview.held_at)
    assert action.history.get().history_user == provider_worker
    event = last_event(CaseEvent.Kind.INTERVIEW_HELD)
    assert event.is_protocol
    assert event.data["within_72_hours"] is True
    assert event.data["owner_agency_id"] == interview.owner_id
    assert event.data["provider_agency_id"] == interview.provider_id
    assert event.data["agreed_actions"] == 1


def test_interview_held_after_72_hours_is_recorded_as_late(
    social_worker, area_west, la_west, provider
):
    interview = make_interview(
        child_area=area_west,
        owner=la_west,
        provider=provider,
        created_by=social_worker,
        found_ago=dt.timedelta(hours=100),
    )
    interview_record_held(
        acting_user=social_worker,
        **held_kwargs(interview, held_at=interview.due_at + dt.timedelta(minutes=1)),
    )
    assert last_event(CaseEvent.Kind.INTERVIEW_HELD).data["within_72_hours"] is False


def test_interview_held_at_exactly_72_hours_is_within_time(
    social_worker, area_west, la_west, provider
):
    interview = make_interview(
        child_area=area_west,
        owner=la_west,
        provider=provider,
        created_by=social_worker,
        found_ago=dt.timedelta(hours=80),
    )
    interview_record_held(
        acting_user=social_worker, **held_kwargs(interview, held_at=interview.due_at)
    )
    assert last_event(CaseEvent.Kind.INTERVIEW_HELD).data["within_72_hours"] is True


@pytest.mark.parametrize("voice", ["", "   \n "])
def test_interview_held_needs_the_childs_own_words(provider_worker, interview, voice):
    with pytest.raises(ValidationError) as excinfo:
        interview_record_held(
            acting_user=provider_worker, **held_kwargs(interview, child_voice=voice)
        )
    assert errors_of(excinfo)["child_voice"] == [CHILD_VOICE_MESSAGE]
    assert CHILD_VOICE_MESSAGE == "Write what the child said, in their own words"
    interview.refresh_from_db()
    assert interview.outcome == ReturnInterview.Outcome.PENDING


def test_interview_held_before_the_return_or_in_the_future_is_refused(provider_worker, interview):
    found = interview.episode.found_at
    with pytest.raises(ValidationError) as before:
        interview_record_held(
            acting_user=provider_worker, **held_kwargs(interview, held_at=found - HOUR)
        )
    with pytest.raises(ValidationError) as future:
        interview_record_held(
            acting_user=provider_worker, **held_kwargs(interview, held_at=timezone.now() + HOUR)
        )
    assert errors_of(before)["held_at"] == ["The interview must be after the child returned"]
    assert errors_of(future)["held_at"] == ["The date and time must not be in the future"]


def test_interview_held_checks_harm_factors_and_actions(provider_worker, interview):
    with pytest.raises(ValidationError) as excinfo:
        interview_record_held(
            acting_user=provider_worker,
            **held_kwargs(
                interview,
                held_by=" ",
                harm_disclosed=True,
                harm_details="",
                push_factors=["made_up"],
                actions=[{"description": "Call weekly", "owner_agency": None}],
            ),
        )
    assert set(errors_of(excinfo)) == {
        "held_by",
        "harm_details",
        "push_factors",
        "action_1_owner_agency",
        "action_1_due_date",
    }


def test_police_cannot_record_an_interview(officer, interview):
    with pytest.raises(PermissionDenied):
        interview_record_held(acting_user=officer, **held_kwargs(interview))
    with pytest.raises(PermissionDenied):
        interview_record_declined(
            acting_user=officer,
            interview=interview,
            expected_version=1,
            declined_at=timezone.now(),
            carers_information="x",
            decision_not_to_hold="y",
        )


def test_stale_interview_edit_is_refused(provider_worker, social_worker, interview):
    stale = ReturnInterview.objects.get(pk=interview.pk)
    interview_record_held(acting_user=social_worker, **held_kwargs(interview))

    with pytest.raises(StaleEdit):
        interview_record_held(acting_user=provider_worker, **held_kwargs(stale))
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.INTERVIEW_HELD).count() == 1


def test_interview_cannot_be_recorded_twice_or_both_held_and_declined(provider_worker, interview):
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))

    with pytest.raises(ValidationError) as twice:
        interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    with pytest.raises(ValidationError) as declined:
        interview_record_declined(
            acting_user=provider_worker,
            interview=interview,
            expected_version=interview.version,
            declined_at=timezone.now(),
            carers_information="Carer says she is fine",
            decision_not_to_hold="She does not want to talk",
        )
    with pytest.raises(ValidationError) as attempt:
        interview_record_attempt(
            acting_user=provider_worker,
            interview=interview,
            attempted_at=timezone.now(),
            method="phone",
            outcome="no_contact",
        )
    assert "already" in errors_of(twice)[NON_FIELD_ERRORS][0]
    assert "already" in errors_of(declined)[NON_FIELD_ERRORS][0]
    assert "already" in errors_of(attempt)[NON_FIELD_ERRORS][0]


# Interview declined ------------------------------------------------------------------


def test_interview_declined_records_the_decision(social_worker, interview):
    declined_at = interview.episode.found_at + 30 * HOUR
    interview_record_declined(
        acting_user=social_worker,
        interview=interview,
        expected_version=1,
        declined_at=declined_at,
        carers_information="Foster carer: she came back tired but unhurt.",
        decision_not_to_hold="She refused three times; we will try through school.",
    )

    interview.refresh_from_db()
    assert interview.outcome == ReturnInterview.Outcome.DECLINED
    assert interview.declined_at == declined_at
    event = last_event(CaseEvent.Kind.INTERVIEW_DECLINED)
    assert event.is_protocol
    assert event.data["within_72_hours"] is True
    assert event.data["owner_agency_id"] == interview.owner_id


def test_interview_declined_needs_carers_information_and_the_decision(social_worker, interview):
    with pytest.raises(ValidationError) as excinfo:
        interview_record_declined(
            acting_user=social_worker,
            interview=interview,
            expected_version=1,
            declined_at=interview.episode.found_at - HOUR,
            carers_information="",
            decision_not_to_hold=" ",
        )
    assert set(errors_of(excinfo)) == {
        "declined_at",
        "carers_information",
        "decision_not_to_hold",
    }


# Closing the episode when everything is done ----------------------------------------


def test_episode_closes_once_check_and_interview_are_done(officer, provider_worker, interview):
    episode = interview.episode
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    episode.refresh_from_db()
    assert episode.closed_at is None

    safe_and_well_record(acting_user=officer, **check_kwargs(episode))

    episode.refresh_from_db()
    assert episode.closed_at is not None
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.CLOSED, episode=episode).count() == 1


def test_episode_closes_when_the_interview_is_declined_after_the_check(
    officer, social_worker, interview
):
    episode = interview.episode
    SafeAndWellCheckFactory(episode=episode, conducted_at=episode.found_at + HOUR)
    interview_record_declined(
        acting_user=social_worker,
        interview=interview,
        expected_version=1,
        declined_at=timezone.now(),
        carers_information="None available: carer unreachable",
        decision_not_to_hold="Declined firmly",
    )
    episode.refresh_from_db()
    assert episode.is_closed


# Overdue edges -----------------------------------------------------------------------


def test_interview_overdue_only_after_72_hours(social_worker, area_west, la_west):
    found = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(found + HOUR, tick=False):
        interview = make_interview(
            child_area=area_west, owner=la_west, created_by=social_worker, found_at=found
        )
    assert interview.due_at == found + dt.timedelta(hours=72)
    assert not interview.is_overdue(now=found + dt.timedelta(hours=71, minutes=59))
    assert not interview.is_overdue(now=found + dt.timedelta(hours=72))
    assert interview.is_overdue(now=found + dt.timedelta(hours=72, seconds=1))


# Challenges --------------------------------------------------------------------------


def test_challenge_raise_and_outcome(social_worker, provider_worker, episode, police):
    raised_at = timezone.now() - HOUR
    challenge = challenge_raise(
        acting_user=provider_worker,
        child=episode.child,
        episode=episode,
        challenged_agency=police,
        decision="Risk graded low despite exploitation concerns",
        reason="She was found with older men known to police",
        raised_at=raised_at,
    )
    assert challenge.status == Challenge.Status.OPEN
    raised = last_event(CaseEvent.Kind.CHALLENGE_RAISED)
    assert not raised.is_protocol
    assert raised.data["challenged_agency_id"] == police.pk
    assert raised.occurred_at == raised_at

    challenge_record_outcome(
        acting_user=social_worker,
        challenge=challenge,
        expected_version=1,
        status=Challenge.Status.ESCALATED,
        outcome="Escalated to the detective inspector",
    )
    challenge.refresh_from_db()
    assert challenge.status == Challenge.Status.ESCALATED
    assert challenge.outcome_at is not None
    assert challenge.version == 2
    assert last_event(CaseEvent.Kind.CHALLENGE_UPDATED).data["status"] == "escalated"


def test_challenge_validation_and_refusal(social_worker, admin_user, episode, police):
    other_episode = EpisodeFactory()
    with pytest.raises(ValidationError) as excinfo:
        challenge_raise(
            acting_user=social_worker,
            child=episode.child,
            episode=other_episode,
            challenged_agency=police,
            decision="",
            reason="",
            raised_at=timezone.now() + HOUR,
        )
    assert set(errors_of(excinfo)) == {"episode", "decision", "reason", "raised_at"}
    with pytest.raises(PermissionDenied):
        challenge_raise(
            acting_user=admin_user,
            child=episode.child,
            challenged_agency=police,
            decision="d",
            reason="r",
            raised_at=timezone.now(),
        )


def test_challenge_outcome_stale_and_invalid(social_worker, officer, episode, police):
    challenge = challenge_raise(
        acting_user=officer,
        child=episode.child,
        challenged_agency=police,
        decision="d",
        reason="r",
        raised_at=timezone.now(),
    )
    with pytest.raises(ValidationError) as invalid:
        challenge_record_outcome(
            acting_user=social_worker,
            challenge=challenge,
            expected_version=1,
            status="open",
            outcome="",
        )
    assert set(errors_of(invalid)) == {"status", "outcome"}
    with pytest.raises(StaleEdit):
        challenge_record_outcome(
            acting_user=social_worker,
            challenge=challenge,
            expected_version=7,
            status="resolved",
            outcome="Agreed",
        )
