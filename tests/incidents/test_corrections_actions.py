"""Correcting a saved check, interview, attempt or supervision note: through the action
functions, with the previous values and the reason kept, stale edits refused by name,
a reason required once the record was shared or notified, and no deadline moved."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from incidents import history
from incidents.actions.base import StaleEdit
from incidents.actions.corrections import (
    NOTHING_CHANGED,
    REASON_NEEDED_SHARED,
    REASON_NEEDED_TOLD,
    agreed_action_correct,
    interview_attempt_correct,
    interview_correct_declined,
    interview_correct_held,
    safe_and_well_correct,
    strategy_meeting_correct,
    supervision_note_correct,
)
from incidents.actions.interviews import (
    interview_record_attempt,
    interview_record_declined,
    interview_record_held,
    safe_and_well_record,
)
from incidents.actions.oversight import strategy_meeting_record, supervision_note_add
from incidents.models import (
    CaseEvent,
    Episode,
    ReturnInterview,
    SafeAndWellCheck,
    StrategyMeeting,
)
from notifications.models import Notification, Step
from tests.factories.notifications import NotificationFactory, RuleFactory
from tests.incidents.test_interviews_actions import (
    HOUR,
    check_kwargs,
    errors_of,
    held_kwargs,
    make_interview,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def interview(area_west, la_west, provider, social_worker) -> ReturnInterview:
    # Found long enough ago for a corrected time after the deadlines to be in the past.
    return make_interview(
        child_area=area_west,
        owner=la_west,
        provider=provider,
        created_by=social_worker,
        found_ago=200 * HOUR,
    )


@pytest.fixture
def episode(interview) -> Episode:
    return interview.episode


@pytest.fixture
def check(officer, episode) -> SafeAndWellCheck:
    return safe_and_well_record(acting_user=officer, **check_kwargs(episode))


def check_values(check: SafeAndWellCheck, **overrides: Any) -> dict[str, Any]:
    values = {
        "check": check,
        "expected_version": check.version,
        "officer_name": check.officer_name,
        "conducted_at": check.conducted_at,
        "face_to_face": check.face_to_face,
        "outcome": check.outcome,
        "harm_disclosed": check.harm_disclosed,
        "crime_disclosed": check.crime_disclosed,
        "disclosure_details": check.disclosure_details,
    }
    values.update(overrides)
    return values


def held_values(interview: ReturnInterview, **overrides: Any) -> dict[str, Any]:
    values = held_kwargs(interview)
    values.pop("actions", None)
    values["expected_version"] = interview.version
    values.update(overrides)
    return values


def told(episode: Episode, step: str) -> Notification:
    rule = RuleFactory(step=step)
    return NotificationFactory(episode=episode, rule=rule, status=Notification.Status.SENT)


# Safe and well check -----------------------------------------------------------------


def test_correcting_the_check_keeps_the_previous_value_and_writes_a_fact_event(
    officer, check, episode
):
    before = check.outcome
    found = episode.first_found_at
    corrected = safe_and_well_correct(
        acting_user=officer,
        **check_values(check, outcome="Safe and well; stayed with an aunt.", reason="Typo"),
    )

    assert corrected.outcome == "Safe and well; stayed with an aunt."
    assert corrected.version == 2
    event = CaseEvent.objects.filter(kind=CaseEvent.Kind.SAFE_AND_WELL_CORRECTED).get()
    assert event.is_protocol
    assert event.data["fields"] == ["outcome"]
    assert event.data["reason"] == "Typo"
    assert "Reason: Typo" in event.summary
    (entry,) = [e for e in history.episode_history(episode) if e.reason]
    assert entry.who.startswith("PC Sam Okafor")
    assert [(c.label, c.old, c.new) for c in entry.changes] == [
        ("Outcome", before, "Safe and well; stayed with an aunt.")
    ]
    assert entry.reason == "Typo"
    episode.refresh_from_db()
    assert episode.first_found_at == found


def test_a_check_not_shared_needs_no_reason(officer, check):
    corrected = safe_and_well_correct(
        acting_user=officer, **check_values(check, officer_name="PC S Okafor")
    )
    assert corrected.officer_name == "PC S Okafor"


def test_a_check_shared_with_the_council_needs_a_reason(officer, episode):
    check = safe_and_well_record(
        acting_user=officer,
        **check_kwargs(
            episode,
            shared_with_la_at=episode.found_at + 2 * HOUR,
            shared_method="phone",
            shared_with="Jo Whitfield, duty",
        ),
    )
    with pytest.raises(ValidationError) as refused:
        safe_and_well_correct(acting_user=officer, **check_values(check, outcome="Changed"))
    assert errors_of(refused) == {"reason": [REASON_NEEDED_SHARED]}
    assert SafeAndWellCheck.objects.get().version == 1

    safe_and_well_correct(
        acting_user=officer, **check_values(check, outcome="Changed", reason="Wrong child")
    )
    assert SafeAndWellCheck.objects.get().outcome == "Changed"


def test_a_check_already_notified_needs_a_reason(officer, check, episode):
    told(episode, Step.SAFE_AND_WELL_DONE)
    with pytest.raises(ValidationError) as refused:
        safe_and_well_correct(acting_user=officer, **check_values(check, outcome="Changed"))
    assert errors_of(refused) == {"reason": [REASON_NEEDED_TOLD]}


def test_a_check_cannot_be_after_its_sharing(officer, episode):
    check = safe_and_well_record(
        acting_user=officer,
        **check_kwargs(
            episode,
            shared_with_la_at=episode.found_at + 2 * HOUR,
            shared_method="phone",
            shared_with="Jo Whitfield, duty",
        ),
    )
    with pytest.raises(ValidationError) as refused:
        safe_and_well_correct(
            acting_user=officer,
            **check_values(check, conducted_at=episode.found_at + 3 * HOUR, reason="Time"),
        )
    assert "must have been done before then" in errors_of(refused)["conducted_at"][0]


def test_a_stale_check_edit_names_what_changed(officer, check):
    stale = check_values(check, face_to_face=False)
    safe_and_well_correct(acting_user=officer, **check_values(check, outcome="Another outcome"))

    with pytest.raises(StaleEdit) as refused:
        safe_and_well_correct(acting_user=officer, **stale)
    assert "(outcome)" in refused.value.messages[0]
    assert SafeAndWellCheck.objects.get().face_to_face is True


def test_nothing_changed_is_said(officer, check):
    with pytest.raises(ValidationError) as refused:
        safe_and_well_correct(acting_user=officer, **check_values(check))
    assert errors_of(refused) == {"__all__": [NOTHING_CHANGED]}


@pytest.mark.parametrize("who", ["social_worker", "provider_worker", "manager"])
def test_only_police_correct_the_check(request, check, who):
    with pytest.raises(PermissionDenied):
        safe_and_well_correct(
            acting_user=request.getfixturevalue(who), **check_values(check, outcome="No")
        )
    assert SafeAndWellCheck.objects.get().version == 1


# Return interview --------------------------------------------------------------------


def test_correcting_the_childs_words_keeps_them_and_the_deadline(provider_worker, interview):
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    due = interview.due_at
    held_at = interview.episode.found_at + 90 * HOUR  # after the deadline

    interview_correct_held(
        acting_user=provider_worker,
        **held_values(
            interview,
            child_voice="I went because nobody listened to me at home.",
            held_at=held_at,
            reason="Typo in the child's words",
        ),
    )

    interview.refresh_from_db()
    assert interview.child_voice == "I went because nobody listened to me at home."
    assert interview.due_at == due
    assert interview.is_overdue()
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.INTERVIEW_CORRECTED)
    assert event.is_protocol
    assert event.data["fields"] == ["child_voice", "held_at"]
    assert event.data["within_72_hours"] is False
    assert "nobody listen" not in str(event.data)
    (entry,) = [e for e in history.interview_history(interview.episode) if e.reason]
    changes = {c.label: (c.old, c.new) for c in entry.changes}
    assert changes["The child's own words"] == (
        "I went because nobody listens to me at home.",
        "I went because nobody listened to me at home.",
    )
    assert entry.reason == "Typo in the child's words"


def test_an_interview_already_notified_needs_a_reason(provider_worker, interview):
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    told(interview.episode, Step.INTERVIEW_DONE)
    with pytest.raises(ValidationError) as refused:
        interview_correct_held(
            acting_user=provider_worker, **held_values(interview, held_by="A Begum")
        )
    assert errors_of(refused) == {"reason": [REASON_NEEDED_TOLD]}


def test_a_declined_interview_is_corrected_as_declined(social_worker, interview):
    interview_record_declined(
        acting_user=social_worker,
        interview=interview,
        expected_version=1,
        declined_at=interview.episode.found_at + 5 * HOUR,
        carers_information="Carer says he is fine",
        decision_not_to_hold="Declined twice",
    )
    with pytest.raises(ValidationError) as refused:
        interview_correct_held(acting_user=social_worker, **held_values(interview))
    assert "recorded as declined" in errors_of(refused)["__all__"][0]

    interview_correct_declined(
        acting_user=social_worker,
        interview=interview,
        expected_version=interview.version,
        declined_at=interview.episode.found_at + 6 * HOUR,
        carers_information="Carer says he is fine",
        decision_not_to_hold="Declined three times",
    )
    interview.refresh_from_db()
    assert interview.decision_not_to_hold == "Declined three times"
    assert interview.declined_at == interview.episode.found_at + 6 * HOUR


def test_a_stale_interview_edit_names_what_changed(provider_worker, social_worker, interview):
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    stale = held_values(interview, held_by="Someone else")
    interview_correct_held(acting_user=social_worker, **held_values(interview, who_with="Nobody"))
    with pytest.raises(StaleEdit) as refused:
        interview_correct_held(acting_user=provider_worker, **stale)
    assert "(who they were with)" in refused.value.messages[0]


def test_the_police_cannot_correct_the_interview(officer, provider_worker, interview):
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    with pytest.raises(PermissionDenied):
        interview_correct_held(acting_user=officer, **held_values(interview, held_by="X"))


# Attempts ------------------------------------------------------------------------------


def test_correcting_an_attempt_moves_when_the_interview_was_offered(provider_worker, interview):
    found = interview.episode.found_at
    attempt = interview_record_attempt(
        acting_user=provider_worker,
        interview=interview,
        attempted_at=found + HOUR,
        method="phone",
        outcome="no_contact",
    )
    interview_attempt_correct(
        acting_user=provider_worker,
        attempt=attempt,
        expected_version=1,
        attempted_at=found + 3 * HOUR,
        method="visit",
        outcome="no_contact",
        reason="It was a visit, later",
    )
    interview.refresh_from_db()
    assert interview.offered_at == found + 3 * HOUR
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.INTERVIEW_ATTEMPT_CORRECTED)
    assert event.is_protocol
    assert event.data["failed_attempts"] == 1
    assert sorted(event.data["fields"]) == ["attempted_at", "method"]


# Supervision notes ---------------------------------------------------------------------


def test_a_manager_corrects_a_supervision_note_and_the_timeline_does_not_say_what(
    manager, social_worker, interview
):
    child = interview.episode.child
    note = supervision_note_add(acting_user=manager, child=child, note="Plan: weekly visits")
    with pytest.raises(PermissionDenied):
        supervision_note_correct(
            acting_user=social_worker, note=note, expected_version=1, text="Changed"
        )
    supervision_note_correct(
        acting_user=manager, note=note, expected_version=1, text="Plan: twice-weekly visits"
    )
    note.refresh_from_db()
    assert (note.note, note.version) == ("Plan: twice-weekly visits", 2)
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.SUPERVISION_NOTE_CORRECTED)
    assert not event.is_protocol
    assert "weekly" not in event.summary + str(event.data)


def test_deadlines_are_not_moved_by_any_correction(officer, provider_worker, check, interview):
    episode = interview.episode
    episode.refresh_from_db()
    kept = (episode.first_found_at, episode.safe_and_well_due_at, interview.due_at)
    safe_and_well_correct(
        acting_user=officer,
        **check_values(check, conducted_at=episode.found_at + 50 * HOUR),
    )
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    interview_correct_held(
        acting_user=provider_worker,
        **held_values(interview, held_at=episode.found_at + dt.timedelta(hours=80)),
    )
    episode.refresh_from_db()
    interview.refresh_from_db()
    assert (episode.first_found_at, episode.safe_and_well_due_at, interview.due_at) == kept


# Agreed actions and strategy meetings ----------------------------------------------------


def test_correcting_an_agreed_action_keeps_it_in_the_history(provider_worker, interview, la_west):
    interview_record_held(
        acting_user=provider_worker,
        **held_kwargs(
            interview,
            actions=[
                {
                    "description": "Weekly check-in",
                    "owner_agency": la_west,
                    "due_date": timezone.localdate() + dt.timedelta(days=7),
                }
            ],
        ),
    )
    action = interview.actions.get()
    agreed_action_correct(
        acting_user=provider_worker,
        action=action,
        expected_version=1,
        description="Weekly check-in at school",
        owner_agency=la_west,
        due_date=timezone.localdate() + dt.timedelta(days=14),
        reason="Where was missing",
    )
    action.refresh_from_db()
    assert (action.description, action.owner_agency, action.version) == (
        "Weekly check-in at school",
        la_west,
        2,
    )
    (entry,) = [e for e in history.interview_history(interview.episode) if e.reason]
    assert {c.label for c in entry.changes} == {"Action", "Due by"}
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.AGREED_ACTION_CORRECTED)
    assert not event.is_protocol


def test_correcting_a_strategy_meeting_replaces_the_agencies(
    manager, social_worker, interview, police, la_west
):
    child = interview.episode.child
    meeting = strategy_meeting_record(
        acting_user=manager,
        child=child,
        held_on=timezone.localdate() - dt.timedelta(days=3),
        attendee_agencies=[la_west],
        decisions="Weekly visits",
    )
    with pytest.raises(PermissionDenied):
        strategy_meeting_correct(
            acting_user=social_worker,
            meeting=meeting,
            expected_version=1,
            held_on=meeting.held_on,
            attendee_agencies=[la_west],
            decisions="No",
        )
    strategy_meeting_correct(
        acting_user=manager,
        meeting=meeting,
        expected_version=1,
        held_on=meeting.held_on,
        attendee_agencies=[la_west, police],
        decisions="Weekly visits",
        reason="The police attended too",
    )
    meeting.refresh_from_db()
    assert meeting.version == 2
    assert set(meeting.attendee_agencies.all()) == {la_west, police}
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.STRATEGY_MEETING_CORRECTED)
    assert event.data["attendee_agencies"] == [[la_west.name], sorted([la_west.name, police.name])]
    assert "agencies that attended" in event.summary
    latest = history.one_record_history(StrategyMeeting, meeting.pk)[0]
    assert (latest.action, latest.reason) == ("Changed", "The police attended too")
