"""Pages for changing a saved record, and check your answers for the long forms."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from incidents.actions.interviews import (
    interview_record_attempt,
    interview_record_held,
    safe_and_well_record,
)
from incidents.actions.oversight import strategy_meeting_record, supervision_note_add
from incidents.models import (
    AgreedAction,
    InterviewAttempt,
    ReturnInterview,
    SafeAndWellCheck,
    StrategyMeeting,
    SupervisionNote,
)
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from tests.factories.accounts import UserFactory
from tests.incidents.test_interviews_actions import HOUR, check_kwargs, held_kwargs, make_interview
from tests.incidents.test_interviews_views import held_post, when


def date_parts(name: str, day: dt.date) -> dict[str, str]:
    return {f"{name}_0": str(day.day), f"{name}_1": str(day.month), f"{name}_2": str(day.year)}


pytestmark = pytest.mark.django_db


@pytest.fixture
def interview(area_west, la_west, provider, social_worker) -> ReturnInterview:
    return make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )


@pytest.fixture
def outsider(other_agency):
    return UserFactory(name="Out of scope", agency=other_agency)


def _minute(moment):
    """Times typed in a form are to the minute."""
    return moment.replace(second=0, microsecond=0)


@pytest.fixture
def check(officer, interview) -> SafeAndWellCheck:
    episode = interview.episode
    return safe_and_well_record(
        acting_user=officer,
        **check_kwargs(episode, conducted_at=_minute(episode.found_at + HOUR)),
    )


@pytest.fixture
def held(provider_worker, interview) -> ReturnInterview:
    held_at = _minute(interview.episode.found_at + 20 * HOUR)
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview, held_at=held_at))
    interview.refresh_from_db()
    return interview


@pytest.fixture
def attempt(provider_worker, interview) -> InterviewAttempt:
    return interview_record_attempt(
        acting_user=provider_worker,
        interview=interview,
        attempted_at=_minute(interview.episode.found_at + HOUR),
        method="phone",
        outcome="no_contact",
    )


@pytest.fixture
def meeting(manager, interview, la_west) -> StrategyMeeting:
    return strategy_meeting_record(
        acting_user=manager,
        child=interview.episode.child,
        held_on=timezone.localdate(),
        attendee_agencies=[la_west],
        decisions="Weekly visits",
    )


@pytest.fixture
def action(provider_worker, interview) -> AgreedAction:
    interview_record_held(
        acting_user=provider_worker,
        **held_kwargs(
            interview,
            actions=[
                {
                    "description": "Check-in",
                    "owner_agency": interview.owner,
                    "due_date": timezone.localdate() + dt.timedelta(days=7),
                }
            ],
        ),
    )
    return interview.actions.get()


@pytest.fixture
def note(manager, interview) -> SupervisionNote:
    return supervision_note_add(
        acting_user=manager, child=interview.episode.child, note="Plan: weekly visits"
    )


def check_post(check: SafeAndWellCheck, **overrides: Any) -> dict[str, Any]:
    data = {
        "version": str(check.version),
        "officer_name": check.officer_name,
        **when("conducted_at", check.conducted_at),
        "face_to_face": "yes" if check.face_to_face else "no",
        "outcome": check.outcome,
        "disclosure_details": "",
        "reason": "",
    }
    data.update(overrides)
    return data


def held_change_post(interview: ReturnInterview, **overrides: Any) -> dict[str, Any]:
    data = held_post(interview)
    data = {k: v for k, v in data.items() if not k.startswith("action_")}
    data.update(
        {
            "version": str(interview.version),
            "child_voice": interview.child_voice,
            "held_by": interview.held_by,
            **when("held_at", interview.held_at),
            "push_factors": interview.push_factors,
            "pull_factors": interview.pull_factors,
            "where_they_were": interview.where_they_were,
            "who_with": interview.who_with,
            "what_would_help": interview.what_would_help,
            "reason": "",
        }
    )
    data.update(overrides)
    return data


def attempt_post(attempt: InterviewAttempt, **overrides: Any) -> dict[str, Any]:
    data = {
        "version": str(attempt.version),
        **when("attempted_at", attempt.attempted_at),
        "method": attempt.method,
        "outcome": attempt.outcome,
        "notes": attempt.notes,
        "reason": "",
    }
    data.update(overrides)
    return data


def check_change_url(interview) -> str:
    return reverse("incidents:safe_and_well_change", args=[interview.episode_id])


def interview_change_url(interview) -> str:
    return reverse("incidents:interview_change", args=[interview.episode_id])


def attempt_change_url(attempt) -> str:
    return reverse(
        "incidents:interview_attempt_change", args=[attempt.interview.episode_id, attempt.pk]
    )


def note_change_url(note) -> str:
    return reverse("incidents:supervision_note_change", args=[note.child_id, note.pk])


# Who may change what --------------------------------------------------------------------


def _route(name: str, request) -> tuple[str, dict[str, Any], Any]:
    """The page, a valid change, and a function reading the changed value."""
    if name == "check":
        check = request.getfixturevalue("check")
        return (
            check_change_url(check),
            check_post(check, outcome="Changed outcome"),
            lambda: SafeAndWellCheck.objects.get(pk=check.pk).outcome,
        )
    if name == "interview":
        interview = request.getfixturevalue("held")
        return (
            interview_change_url(interview),
            held_change_post(interview, who_with="Changed"),
            lambda: ReturnInterview.objects.get(pk=interview.pk).who_with,
        )
    if name == "attempt":
        attempt = request.getfixturevalue("attempt")
        return (
            attempt_change_url(attempt),
            attempt_post(attempt, notes="Changed"),
            lambda: InterviewAttempt.objects.get(pk=attempt.pk).notes,
        )
    if name == "meeting":
        meeting = request.getfixturevalue("meeting")
        return (
            reverse("incidents:strategy_meeting_change", args=[meeting.child_id, meeting.pk]),
            {
                "version": "1",
                "held_on_0": str(meeting.held_on.day),
                "held_on_1": str(meeting.held_on.month),
                "held_on_2": str(meeting.held_on.year),
                "attendee_agencies": [str(a.pk) for a in meeting.attendee_agencies.all()],
                "decisions": "Changed",
                "reason": "",
            },
            lambda: StrategyMeeting.objects.get(pk=meeting.pk).decisions,
        )
    if name == "action":
        action = request.getfixturevalue("action")
        return (
            reverse(
                "incidents:agreed_action_change", args=[action.interview.episode_id, action.pk]
            ),
            {
                "version": "1",
                "description": "Changed",
                "owner_agency": str(action.owner_agency_id),
                **date_parts("due_date", action.due_date),
                "reason": "",
            },
            lambda: AgreedAction.objects.get(pk=action.pk).description,
        )
    note = request.getfixturevalue("note")
    return (
        note_change_url(note),
        {"version": "1", "note": "Changed", "reason": ""},
        lambda: SupervisionNote.objects.get(pk=note.pk).note,
    )


ALLOWED = [
    ("check", "officer"),
    ("interview", "provider_worker"),
    ("interview", "social_worker"),
    ("attempt", "provider_worker"),
    ("attempt", "manager"),
    ("note", "manager"),
    ("meeting", "manager"),
    ("action", "social_worker"),
    ("action", "provider_worker"),
]
REFUSED = [
    ("check", "social_worker"),
    ("check", "provider_worker"),
    ("interview", "officer"),
    ("attempt", "officer"),
    ("note", "social_worker"),
    ("note", "officer"),
    ("meeting", "social_worker"),
    ("meeting", "officer"),
    ("action", "officer"),
]


@pytest.mark.parametrize(("route", "who"), ALLOWED)
def test_whoever_may_record_it_may_change_it(client, request, route, who):
    page, data, value = _route(route, request)
    client.force_login(request.getfixturevalue(who))
    assert client.get(page).status_code == 200
    response = client.post(page, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert value() == "Changed" or value() == "Changed outcome"


@pytest.mark.parametrize(("route", "who"), REFUSED)
def test_others_are_refused_and_nothing_changes(client, request, route, who):
    page, data, value = _route(route, request)
    before = value()
    client.force_login(request.getfixturevalue(who))
    assert client.get(page).status_code == 403
    assert client.post(page, data).status_code == 403
    assert value() == before


ROUTES = ["check", "interview", "attempt", "note", "meeting", "action"]


@pytest.mark.parametrize("route", ROUTES)
def test_out_of_scope_is_not_found(client, request, outsider, route):
    page, data, value = _route(route, request)
    before = value()
    client.force_login(outsider)
    assert client.get(page).status_code == 404
    assert client.post(page, data).status_code == 404
    assert value() == before


def test_an_attempt_of_another_episode_is_not_found(
    client, provider_worker, attempt, area_west, la_west, provider, social_worker
):
    other = make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )
    client.force_login(provider_worker)
    page = reverse("incidents:interview_attempt_change", args=[other.episode_id, attempt.pk])
    assert client.get(page).status_code == 404


# Reason, history, conflicts -------------------------------------------------------------


def test_a_shared_check_needs_a_reason_by_its_field(client, officer, interview):
    episode = interview.episode
    check = safe_and_well_record(
        acting_user=officer,
        **check_kwargs(
            episode,
            shared_with_la_at=episode.found_at + 2 * HOUR,
            shared_method="phone",
            shared_with="Jo Whitfield",
        ),
    )
    client.force_login(officer)
    page = client.get(check_change_url(interview))
    assert "already been shared with the local authority" in page.text
    response = client.post(check_change_url(interview), check_post(check, outcome="New"))
    assert response.status_code == 200
    assert 'href="#id_reason">Enter why you are changing it' in response.text
    assert "New" in response.text
    assert SafeAndWellCheck.objects.get().outcome == check.outcome


def test_the_history_shows_the_childs_words_before_and_after_with_the_reason(
    client, provider_worker, social_worker, held
):
    client.force_login(provider_worker)
    response = client.post(
        interview_change_url(held),
        held_change_post(
            held,
            child_voice="I went because nobody listened to me at home.",
            reason="Typo in the child's words",
        ),
    )
    assert response.status_code == 302

    client.force_login(social_worker)
    for page in (
        reverse("incidents:interview_detail", args=[held.episode_id]),
        reverse("incidents:episode_detail", args=[held.episode_id]),
    ):
        text = client.get(page).text
        before = "The child's own words: \u2018I went because nobody listens to me at home.\u2019"
        assert escape(before) in (text)
        assert escape("\u2018I went because nobody listened to me at home.\u2019") in text
        assert escape("Reason: Typo in the child's words") in text
        assert "Aisha Begum" in text


def test_a_stale_change_says_what_the_other_person_changed_and_keeps_the_input(
    client, provider_worker, social_worker, held
):
    stale = held_change_post(held, child_voice="My corrected words")
    client.force_login(social_worker)
    client.post(interview_change_url(held), held_change_post(held, who_with="Two older girls"))

    client.force_login(provider_worker)
    response = client.post(interview_change_url(held), stale)

    assert response.status_code == 200
    assert "Someone else changed this return interview while you were editing it" in (response.text)
    assert "(who they were with)" in response.text
    assert "My corrected words" in response.text
    assert 'name="version" value="3"' in response.text
    held.refresh_from_db()
    assert held.child_voice == "I went because nobody listens to me at home."


def test_nothing_changed_is_said(client, officer, check, interview):
    client.force_login(officer)
    response = client.post(check_change_url(interview), check_post(check))
    assert response.status_code == 200
    assert "You have not changed anything" in response.text


def test_the_change_form_starts_from_the_record(client, officer, check, interview):
    client.force_login(officer)
    text = client.get(check_change_url(interview)).text
    assert escape(check.outcome) in text
    assert re.search(r'id="id_face_to_face_1"\s+value="yes"\s+checked', text)
    assert 'name="shared_method"' not in text


def test_recording_a_recorded_interview_goes_to_its_change_page(client, provider_worker, held):
    client.force_login(provider_worker)
    response = client.get(reverse("incidents:interview_held", args=[held.episode_id]))
    assert response.status_code == 302
    assert response.url == interview_change_url(held)


def test_the_pages_offer_change_links_to_those_who_may(
    client, officer, provider_worker, social_worker, check, attempt, held
):
    detail = reverse("incidents:interview_detail", args=[held.episode_id])
    client.force_login(provider_worker)
    text = client.get(detail).text
    assert interview_change_url(held) in text
    assert attempt_change_url(attempt) in text
    assert check_change_url(held) not in text
    client.force_login(officer)
    text = client.get(detail).text
    assert check_change_url(held) in text
    assert interview_change_url(held) not in text


# Check your answers ---------------------------------------------------------------------


def check_record_data(interview, **overrides) -> dict[str, Any]:
    data = {
        "officer_name": "PC Sam Okafor",
        **when("conducted_at", interview.episode.found_at + HOUR),
        "face_to_face": "no",
        "outcome": "Spoke by video; safe and well.",
        "harm_disclosed": "on",
        "disclosure_details": "Was pushed by an older boy",
    }
    data.update(overrides)
    return data


def test_check_answers_then_confirm_saves_the_check(client, officer, interview):
    client.force_login(officer)
    record = reverse("incidents:safe_and_well_record", args=[interview.episode_id])
    answers = reverse("incidents:safe_and_well_check_answers", args=[interview.episode_id])

    response = client.post(record, check_record_data(interview))
    assert response.status_code == 302
    assert response.url == answers
    assert not SafeAndWellCheck.objects.exists()

    page = client.get(answers)
    assert page.status_code == 200
    assert "Check your answers before saving the safe and well check" in page.text
    assert "Spoke by video; safe and well." in page.text
    # Each "Change" lands on the first input of its question.
    for anchor in ("id_officer_name", "id_conducted_at_0", "id_face_to_face_1", "id_outcome"):
        assert f'href="{record}#{anchor}"' in page.text
    assert "Confirm and save" in page.text

    response = client.post(answers, {"confirm": "1"})
    assert response.status_code == 302
    check = SafeAndWellCheck.objects.get()
    assert (check.face_to_face, check.harm_disclosed) == (False, True)
    # The draft is gone: the question page is not filled in again.
    assert client.get(answers).status_code == 302


def test_change_goes_back_to_the_question_with_the_answers_kept(client, officer, interview):
    client.force_login(officer)
    record = reverse("incidents:safe_and_well_record", args=[interview.episode_id])
    client.post(record, check_record_data(interview, outcome="A typo in the outcom"))

    page = client.get(record)
    assert page.status_code == 200
    assert 'id="id_face_to_face_1"' in page.text
    assert "A typo in the outcom" in page.text
    assert "Was pushed by an older boy" in page.text

    client.post(record, check_record_data(interview, outcome="The outcome"))
    answers = reverse("incidents:safe_and_well_check_answers", args=[interview.episode_id])
    assert "The outcome" in client.get(answers).text
    client.post(answers, {"confirm": "1"})
    assert SafeAndWellCheck.objects.get().outcome == "The outcome"


def test_check_answers_for_the_interview_lists_the_actions_and_confirms(
    client, provider_worker, interview
):
    client.force_login(provider_worker)
    record = reverse("incidents:interview_held", args=[interview.episode_id])
    answers = reverse("incidents:interview_held_check_answers", args=[interview.episode_id])
    assert client.post(record, held_post(interview)).url == answers

    page = client.get(answers)
    assert "I just wanted to be with my mates." in page.text
    assert "Agreed action 1" in page.text
    for anchor in (
        "id_child_voice",
        "id_held_at_0",
        "id_push_factors_1",
        "id_action_1_description",
    ):
        assert f'href="{record}#{anchor}"' in page.text
    back = client.get(record)
    assert "I just wanted to be with my mates." in back.text

    assert client.post(answers, {"confirm": "1"}).status_code == 302
    interview.refresh_from_db()
    assert interview.outcome == ReturnInterview.Outcome.HELD
    assert interview.actions.count() == 1


def test_check_answers_without_answers_goes_to_the_questions(client, officer, interview):
    client.force_login(officer)
    answers = reverse("incidents:safe_and_well_check_answers", args=[interview.episode_id])
    response = client.post(answers, {"confirm": "1"})
    assert response.status_code == 302
    assert not SafeAndWellCheck.objects.exists()


# Query counts ---------------------------------------------------------------------------

# Signing in, access (episode or child), rights (relation), the record, its history on
# the note's and meeting's pages, the agencies offered, and the session. Pinned: none of
# them grows with the corrections made.
CHANGE_PAGE_QUERIES = {
    "check": 8,
    "interview": 8,
    "attempt": 9,
    "note": 8,
    "meeting": 11,
    "action": 12,
}


@pytest.mark.parametrize("route", ROUTES)
def test_change_pages_have_a_fixed_query_count(
    client, request, route, officer, provider_worker, manager, django_assert_num_queries
):
    page, _data, _ = _route(route, request)
    who = {"check": officer, "note": manager, "meeting": manager}.get(route, provider_worker)
    client.force_login(who)
    client.get(page)
    # Several corrections later, the page reads the same.
    for n in range(3):
        client.post(page, {**_route(route, request)[1], "version": str(n + 1)})
    with django_assert_num_queries(CHANGE_PAGE_QUERIES[route] + TWO_FACTOR_QUERIES):
        assert client.get(page).status_code == 200


def test_check_answers_page_has_a_fixed_query_count(
    client, officer, interview, django_assert_num_queries
):
    client.force_login(officer)
    record = reverse("incidents:safe_and_well_record", args=[interview.episode_id])
    client.post(record, check_record_data(interview))
    answers = reverse("incidents:safe_and_well_check_answers", args=[interview.episode_id])
    with django_assert_num_queries(7 + TWO_FACTOR_QUERIES):
        assert client.get(answers).status_code == 200


def test_interview_page_history_query_count_does_not_grow_with_changes(
    client, provider_worker, held, django_assert_num_queries
):
    client.force_login(provider_worker)
    detail = reverse("incidents:interview_detail", args=[held.episode_id])
    client.get(detail)
    with CaptureQueriesContext(connection) as baseline:
        client.get(detail)
    # Read now: the next request empties the connection's query log.
    queries = len(baseline.captured_queries)
    for n in range(3):
        held.refresh_from_db()
        client.post(
            interview_change_url(held),
            held_change_post(held, who_with=f"Change {n}", reason=f"Reason {n}"),
        )
    with django_assert_num_queries(queries):
        text = client.get(detail).text
    assert "Reason: Reason 2" in text
