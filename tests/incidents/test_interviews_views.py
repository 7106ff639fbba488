"""Pages for the safe and well check, the return interview and challenges."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from incidents.actions.interviews import interview_record_held
from incidents.models import (
    CaseEvent,
    Challenge,
    InterviewAttempt,
    ReturnInterview,
    SafeAndWellCheck,
)
from tests.factories.incidents import SafeAndWellCheckFactory
from tests.incidents.test_interviews_actions import HOUR, held_kwargs, make_interview

pytestmark = pytest.mark.django_db


@pytest.fixture
def interview(area_west, la_west, provider, social_worker) -> ReturnInterview:
    return make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )


# Every query of the page, the session and sign-in included (see the tests below).
INTERVIEW_PAGE_QUERIES = 12
ATTEMPT_FORM_QUERIES = 9


def url(name: str, interview: ReturnInterview) -> str:
    return reverse(f"incidents:{name}", args=[interview.episode_id])


def when(name: str, moment: dt.datetime) -> dict[str, str]:
    """The four boxes of a UK date-time field, as a person would type them."""
    local = timezone.localtime(moment)
    return {
        f"{name}_0": str(local.day),
        f"{name}_1": str(local.month),
        f"{name}_2": str(local.year),
        f"{name}_3": local.strftime("%H:%M"),
    }


def post_and_confirm(client: Any, name: str, interview: ReturnInterview, data: dict) -> Any:
    """The question page, then "Confirm and save" on the check answers page."""
    answered = client.post(url(name, interview), data)
    if answered.status_code != 302:
        return answered
    assert answered.url == url(f"{name.removesuffix('_record')}_check_answers", interview)
    return client.post(answered.url, {"confirm": "1"})


def add_attempts(interview: ReturnInterview, user: Any, outcomes: list[str]) -> None:
    start = interview.episode.found_at
    InterviewAttempt.objects.bulk_create(
        InterviewAttempt(
            interview=interview,
            attempted_at=start + (n + 1) * dt.timedelta(minutes=10),
            method="phone",
            outcome=outcome,
            notes=f"Attempt {n + 1}",
            recorded_by=user,
        )
        for n, outcome in enumerate(outcomes)
    )


# The interview page --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["social_worker", "provider_worker", "officer", "manager"])
def test_interview_page_shows_for_everyone_in_scope(client, request, interview, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get(url("interview_detail", interview))
    assert response.status_code == 200
    assert escape(interview.owner.name) in response.text
    assert escape(interview.provider.name) in response.text


def test_interview_page_is_404_for_an_outsider(client, outsider, interview):
    client.force_login(outsider)
    assert client.get(url("interview_detail", interview)).status_code == 404
    assert client.get(url("interview_held", interview)).status_code == 404
    assert client.get(url("safe_and_well_record", interview)).status_code == 404


def test_interview_page_accepts_only_get(client, social_worker, interview):
    client.force_login(social_worker)
    assert client.post(url("interview_detail", interview)).status_code == 405
    assert client.put(url("interview_held", interview)).status_code == 405
    assert client.delete(url("safe_and_well_record", interview)).status_code == 405


def test_recording_buttons_follow_the_role(client, officer, provider_worker, interview):
    client.force_login(provider_worker)
    response = client.get(url("interview_detail", interview))
    assert url("interview_attempt_add", interview) in response.text
    assert url("safe_and_well_record", interview) not in response.text

    client.force_login(officer)
    response = client.get(url("interview_detail", interview))
    assert url("interview_attempt_add", interview) not in response.text
    assert url("safe_and_well_record", interview) in response.text


def test_interview_page_without_a_return(client, social_worker, area_west):
    from tests.factories.incidents import ChildFactory, EpisodeFactory

    episode = EpisodeFactory(
        child=ChildFactory(responsible_area=area_west, created_by=social_worker)
    )
    client.force_login(social_worker)
    response = client.get(reverse("incidents:interview_detail", args=[episode.pk]))
    assert response.status_code == 200
    assert "once the child's return has been recorded" in response.text
    assert client.get(reverse("incidents:interview_held", args=[episode.pk])).status_code == 404


def test_stuck_prompt_at_the_not_engaging_rules_failed_attempts(client, provider_worker, interview):
    client.force_login(provider_worker)
    add_attempts(interview, provider_worker, ["no_contact", "held", "declined"])
    response = client.get(url("interview_detail", interview))
    assert 'data-testid="stuck-prompt"' not in response.text

    # The third failed attempt: the default not-engaging rule's count.
    add_attempts(interview, provider_worker, ["rearranged"])
    response = client.get(url("interview_detail", interview))
    assert 'data-testid="stuck-prompt"' in response.text
    assert "3 attempts that have not led to an interview" in response.text
    assert "somewhere the child chooses" in response.text
    assert reverse("incidents:challenge_add", args=[interview.episode.child_id]) in response.text


def test_interview_page_query_count_does_not_grow_with_attempts(
    client, provider_worker, area_west, la_west, provider, social_worker, django_assert_num_queries
):
    client.force_login(provider_worker)
    few = make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )
    many = make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )
    add_attempts(few, provider_worker, ["no_contact"] * 2)
    add_attempts(many, social_worker, ["no_contact", "rearranged"] * 4)
    for interview in (few, many):
        interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
        SafeAndWellCheckFactory(episode=interview.episode)
    client.get(url("interview_detail", few))  # warm the session

    with CaptureQueriesContext(connection) as baseline:
        response = client.get(url("interview_detail", few))
    assert response.status_code == 200
    # Everything, the session and sign-in included: the session, the person, their
    # verified device and agency; the episode with its interview and safe and well
    # check (with the access check); the access log; what the person may record; the
    # attempts; the child's interviews (declined in a row) and the rules' threshold;
    # the actions agreed; the change history, in one query.
    assert len(baseline.captured_queries) == INTERVIEW_PAGE_QUERIES
    with django_assert_num_queries(INTERVIEW_PAGE_QUERIES):
        response = client.get(url("interview_detail", many))
    assert response.text.count("Attempt ") >= 8


def test_attempt_form_query_count_does_not_grow_with_attempts(
    client, provider_worker, area_west, la_west, provider, social_worker, django_assert_num_queries
):
    client.force_login(provider_worker)
    few = make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )
    many = make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )
    add_attempts(many, social_worker, ["no_contact", "rearranged"] * 6)
    client.get(url("interview_attempt_add", few))  # warm the session
    with django_assert_num_queries(ATTEMPT_FORM_QUERIES):
        assert client.get(url("interview_attempt_add", few)).status_code == 200
    with django_assert_num_queries(ATTEMPT_FORM_QUERIES):
        assert client.get(url("interview_attempt_add", many)).status_code == 200


def test_held_interview_shows_the_childs_voice(client, social_worker, provider_worker, interview):
    interview_record_held(
        acting_user=provider_worker,
        **held_kwargs(interview, child_voice="Nobody <listens> to me"),
    )
    client.force_login(social_worker)
    response = client.get(url("interview_detail", interview))
    assert 'class="app-voice"' in response.text
    assert "Nobody &lt;listens&gt; to me" in response.text
    assert "Older people or adults met online" in response.text


# Due time and the overdue tag ---------------------------------------------------------


def due_tag_at(client: Any, interview: ReturnInterview, moment: dt.datetime) -> str:
    with time_machine.travel(moment, tick=False):
        response = client.get(url("interview_detail", interview))
    text = response.text
    start = text.index('data-testid="interview-due-tag">') + len('data-testid="interview-due-tag">')
    return text[start : text.index("<", start)]


def test_due_time_across_the_october_clock_change(client, social_worker, area_west, la_west):
    # Found 24 Oct 2026 12:00 BST; the clocks go back on the 25th, so 72 real hours
    # later is 27 Oct 11:00 GMT, not 12:00.
    found = dt.datetime(2026, 10, 24, 11, 0, tzinfo=dt.UTC)
    with time_machine.travel(found + HOUR, tick=False):
        interview = make_interview(
            child_area=area_west, owner=la_west, created_by=social_worker, found_at=found
        )
    client.force_login(social_worker)

    with time_machine.travel(found + HOUR, tick=False):
        response = client.get(url("interview_detail", interview))
    assert "27 Oct 2026 11:00" in response.text
    assert "24 Oct 2026 12:00" in response.text

    assert due_tag_at(client, interview, found + dt.timedelta(hours=24)) == "Due"
    assert due_tag_at(client, interview, found + dt.timedelta(hours=71, minutes=59)) == "Due soon"
    assert due_tag_at(client, interview, found + dt.timedelta(hours=72)) == "Due soon"
    assert due_tag_at(client, interview, found + dt.timedelta(hours=72, seconds=1)) == "Overdue"
    assert due_tag_at(client, interview, found + dt.timedelta(hours=73)) == "Overdue"


# Recording an attempt -------------------------------------------------------------------


def test_record_an_attempt(client, provider_worker, interview):
    client.force_login(provider_worker)
    assert client.get(url("interview_attempt_add", interview)).status_code == 200
    response = client.post(
        url("interview_attempt_add", interview),
        {
            **when("attempted_at", interview.episode.found_at + HOUR),
            "method": "text",
            "outcome": "no_contact",
            "notes": "No reply",
        },
    )
    assert response.status_code == 302
    assert response.url == url("interview_detail", interview)
    attempt = interview.attempts.get()
    assert (attempt.method, attempt.outcome, attempt.notes) == ("text", "no_contact", "No reply")


def test_attempt_before_the_return_is_shown_by_its_field(client, provider_worker, interview):
    client.force_login(provider_worker)
    response = client.post(
        url("interview_attempt_add", interview),
        {
            **when("attempted_at", interview.episode.found_at - HOUR),
            "method": "visit",
            "outcome": "declined",
            "notes": "Kept note",
        },
    )
    assert response.status_code == 200
    assert "The attempt must be after the child returned" in response.text
    assert "Kept note" in response.text
    assert response.text.count("<title>Error: ") == 1
    assert not interview.attempts.exists()


def test_police_cannot_open_the_interview_forms(client, officer, interview):
    client.force_login(officer)
    for name in ("interview_attempt_add", "interview_held", "interview_declined"):
        assert client.get(url(name, interview)).status_code == 403
    assert client.post(url("interview_held", interview), {}).status_code == 403


# Recording the interview ------------------------------------------------------------


def held_post(interview: ReturnInterview, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": str(interview.version),
        "child_voice": "I just wanted to be with my mates.",
        **when("held_at", interview.episode.found_at + 5 * HOUR),
        "held_by": "Aisha Begum",
        "push_factors": ["rules_boundaries"],
        "pull_factors": ["friends"],
        "where_they_were": "Park by the canal",
        "action_1_description": "Weekly check-in at school",
        "action_1_owner_agency": str(interview.owner_id),
        "action_1_due_date_0": "1",
        "action_1_due_date_1": "2",
        "action_1_due_date_2": "2030",
    }
    data.update(overrides)
    return data


def test_record_the_interview_held(client, provider_worker, interview):
    client.force_login(provider_worker)
    page = client.get(url("interview_held", interview))
    assert page.status_code == 200
    assert page.text.index('name="child_voice"') < page.text.index('name="held_at_0"')

    response = post_and_confirm(client, "interview_held", interview, held_post(interview))

    assert response.status_code == 302
    interview.refresh_from_db()
    assert interview.outcome == ReturnInterview.Outcome.HELD
    assert interview.child_voice == "I just wanted to be with my mates."
    assert interview.push_factors == ["rules_boundaries"]
    action = interview.actions.get()
    assert (action.owner_agency, action.due_date) == (interview.owner, dt.date(2030, 2, 1))
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.INTERVIEW_HELD).count() == 1


def test_interview_without_the_childs_words_keeps_the_input(client, provider_worker, interview):
    client.force_login(provider_worker)
    response = client.post(
        url("interview_held", interview),
        held_post(interview, child_voice="  ", where_they_were="Under the bridge"),
    )
    assert response.status_code == 200
    assert "Write what the child said, in their own words" in response.text
    assert "Under the bridge" in response.text
    assert "<title>Error: " in response.text
    interview.refresh_from_db()
    assert interview.outcome == ReturnInterview.Outcome.PENDING


def test_action_without_an_owner_is_shown_by_its_field(client, provider_worker, interview):
    client.force_login(provider_worker)
    response = post_and_confirm(
        client, "interview_held", interview, held_post(interview, action_1_owner_agency="")
    )
    assert response.status_code == 200
    assert "Select the agency that owns this action" in response.text
    assert 'href="#id_action_1_owner_agency"' in response.text


def test_stale_interview_edit_shows_a_conflict_and_keeps_input(
    client, provider_worker, social_worker, interview
):
    client.force_login(provider_worker)
    client.get(url("interview_held", interview))
    # Someone else records the outcome while this form is open.
    interview_record_held(acting_user=social_worker, **held_kwargs(interview))

    response = post_and_confirm(
        client,
        "interview_held",
        interview,
        held_post(interview, version="1", child_voice="My own version of events"),
    )

    assert response.status_code == 200
    assert "Someone else changed this return interview" in response.text
    assert "My own version of events" in response.text
    interview.refresh_from_db()
    assert interview.held_by == "Aisha Begum"
    assert interview.child_voice == "I went because nobody listens to me at home."
    assert 'name="version" value="2"' in response.text


def test_form_for_a_recorded_interview_goes_back_to_the_page(client, provider_worker, interview):
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    client.force_login(provider_worker)
    response = client.get(url("interview_declined", interview))
    assert response.status_code == 302
    assert response.url == url("interview_detail", interview)


def test_record_that_the_child_declined(client, social_worker, interview):
    client.force_login(social_worker)
    assert client.get(url("interview_declined", interview)).status_code == 200
    response = client.post(
        url("interview_declined", interview),
        {
            "version": "1",
            **when("declined_at", interview.episode.found_at + 6 * HOUR),
            "carers_information": "Carer says he came home tired and hungry.",
            "decision_not_to_hold": "Declined three offers; the school nurse will follow up.",
        },
    )
    assert response.status_code == 302
    interview.refresh_from_db()
    assert interview.outcome == ReturnInterview.Outcome.DECLINED


def test_declined_without_the_decision_keeps_the_input(client, social_worker, interview):
    client.force_login(social_worker)
    response = client.post(
        url("interview_declined", interview),
        {
            "version": "1",
            **when("declined_at", interview.episode.found_at + 6 * HOUR),
            "carers_information": "Carer could not be reached",
            "decision_not_to_hold": "",
        },
    )
    assert response.status_code == 200
    assert "Enter the decision not to hold an interview" in response.text
    assert "Carer could not be reached" in response.text


# Safe and well check ------------------------------------------------------------------


def test_record_the_safe_and_well_check(client, officer, interview):
    client.force_login(officer)
    page = client.get(url("safe_and_well_record", interview))
    assert page.status_code == 200
    assert 'value="PC Sam Okafor"' in page.text

    response = post_and_confirm(
        client,
        "safe_and_well_record",
        interview,
        {
            "officer_name": "PC Sam Okafor",
            **when("conducted_at", interview.episode.found_at + HOUR),
            "face_to_face": "no",
            "outcome": "Spoke by video; safe and well.",
        },
    )
    assert response.status_code == 302
    check = SafeAndWellCheck.objects.get(episode=interview.episode)
    assert check.face_to_face is False
    assert check.shared_with_la_at is None


def test_record_a_check_already_shared_says_how_and_with_whom(client, officer, interview):
    client.force_login(officer)
    found = interview.episode.found_at
    data = {
        "officer_name": "PC Sam Okafor",
        **when("conducted_at", found + HOUR),
        "face_to_face": "yes",
        "outcome": "Safe and well.",
        **when("shared_with_la_at", found + 2 * HOUR),
    }
    response = post_and_confirm(client, "safe_and_well_record", interview, data)
    assert response.status_code == 200
    assert 'href="#id_shared_method_1">Select how it was shared</a>' in response.text
    assert not SafeAndWellCheck.objects.exists()

    response = post_and_confirm(
        client,
        "safe_and_well_record",
        interview,
        {**data, "shared_method": "secure_email", "shared_with": "Front door, CWAC"},
    )
    assert response.status_code == 302
    check = SafeAndWellCheck.objects.get(episode=interview.episode)
    assert (check.shared_method, check.shared_with) == ("secure_email", "Front door, CWAC")
    assert check.shared_recorded_by == officer


def test_safe_and_well_before_found_is_shown_by_its_field(client, officer, interview):
    client.force_login(officer)
    response = post_and_confirm(
        client,
        "safe_and_well_record",
        interview,
        {
            "officer_name": "PC Sam Okafor",
            **when("conducted_at", interview.episode.found_at - 2 * HOUR),
            "face_to_face": "yes",
            "outcome": "Typed outcome",
        },
    )
    assert response.status_code == 200
    assert "The safe and well check must be after the child was found" in response.text
    assert "Typed outcome" in response.text
    assert not SafeAndWellCheck.objects.exists()


def test_social_worker_cannot_record_safe_and_well(client, social_worker, interview):
    client.force_login(social_worker)
    assert client.get(url("safe_and_well_record", interview)).status_code == 403
    assert client.post(url("safe_and_well_record", interview), {}).status_code == 403


def test_share_the_safe_and_well_check_later(client, officer, social_worker, interview):
    check = SafeAndWellCheckFactory(
        episode=interview.episode, conducted_at=interview.episode.found_at + HOUR
    )
    client.force_login(social_worker)
    assert client.get(url("safe_and_well_share", interview)).status_code == 403

    client.force_login(officer)
    assert (
        url("safe_and_well_share", interview) in client.get(url("interview_detail", interview)).text
    )
    page = client.get(url("safe_and_well_share", interview))
    assert "How was it shared?" in page.text
    assert "Who was it shared with?" in page.text
    response = client.post(
        url("safe_and_well_share", interview),
        {
            **when("shared_at", interview.episode.found_at + 2 * HOUR),
            "method": "phone",
            "shared_with": "Jo Whitfield, duty social worker",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == check_url(interview)
    check.refresh_from_db()
    typed = interview.episode.found_at + 2 * HOUR
    assert check.shared_with_la_at == typed.replace(second=0, microsecond=0)
    assert (check.shared_method, check.shared_with) == ("phone", "Jo Whitfield, duty social worker")
    assert check.shared_recorded_by == officer


def check_url(interview: ReturnInterview) -> str:
    return url("episode_detail", interview) + "#safe-and-well"


def test_sharing_asks_how_and_whom_by_the_fields(client, officer, interview):
    SafeAndWellCheckFactory(episode=interview.episode, conducted_at=interview.episode.found_at)
    client.force_login(officer)
    response = client.post(
        url("safe_and_well_share", interview),
        when("shared_at", interview.episode.found_at + 2 * HOUR),
    )
    assert response.status_code == 200
    assert "Error:" in response.text
    assert 'href="#id_method_1">Select how it was shared</a>' in response.text
    assert (
        'href="#id_shared_with">Enter who it was shared with: their name and agency</a>'
        in response.text
    )
    assert not SafeAndWellCheck.objects.get().is_shared


def test_sharing_dated_before_the_check_is_shown_by_its_field(client, officer, interview):
    check = SafeAndWellCheckFactory(
        episode=interview.episode, conducted_at=interview.episode.found_at + 3 * HOUR
    )
    client.force_login(officer)
    response = client.post(
        url("safe_and_well_share", interview),
        {
            **when("shared_at", interview.episode.found_at + HOUR),
            "method": "phone",
            "shared_with": "Typed name, duty desk",
        },
    )
    assert response.status_code == 200
    assert 'href="#id_shared_at_0">The check cannot be shared before it was done' in response.text
    # What was typed stays in the form.
    assert "Typed name, duty desk" in response.text
    check.refresh_from_db()
    assert not check.is_shared


def test_a_check_already_shared_is_not_shared_again(client, officer, interview):
    SafeAndWellCheckFactory(
        episode=interview.episode,
        conducted_at=interview.episode.found_at,
        shared_with_la_at=interview.episode.found_at + HOUR,
        shared_method="email",
        shared_with="Front door",
    )
    client.force_login(officer)
    response = client.get(url("safe_and_well_share", interview), follow=True)
    assert response.redirect_chain == [(check_url(interview), 302)]
    assert "already been shared with the local authority" in response.text
    assert url("safe_and_well_share", interview) not in response.text

    # A form opened before someone else's sharing is refused, saying which.
    response = client.post(
        url("safe_and_well_share", interview),
        {
            **when("shared_at", interview.episode.found_at + 2 * HOUR),
            "method": "phone",
            "shared_with": "Jo Whitfield",
        },
    )
    assert response.status_code == 200
    assert "already been recorded as shared" in response.text
    assert "e-mail, with Front door" in response.text
    assert SafeAndWellCheck.objects.get().shared_method == "email"


def test_a_recorded_check_is_not_offered_again(client, officer, interview):
    SafeAndWellCheckFactory(episode=interview.episode, conducted_at=interview.episode.found_at)
    client.force_login(officer)
    response = client.get(url("safe_and_well_record", interview), follow=True)
    assert response.redirect_chain == [(url("safe_and_well_change", interview), 302)]
    assert "already been recorded: you can change it here" in response.text


# Challenges ---------------------------------------------------------------------------


def test_raise_a_challenge_and_record_its_outcome(
    client, provider_worker, social_worker, interview, police
):
    child = interview.episode.child
    client.force_login(provider_worker)
    add_url = reverse("incidents:challenge_add", args=[child.pk])
    assert client.get(add_url).status_code == 200
    response = client.post(
        add_url,
        {
            "challenged_agency": str(police.pk),
            "episode": str(interview.episode_id),
            "decision": "Graded low risk",
            "reason": "Found with adults linked to county lines",
            **when("raised_at", timezone.now() - HOUR),
        },
    )
    challenge = Challenge.objects.get()
    outcome_url = reverse("incidents:challenge_outcome", args=[child.pk, challenge.pk])
    assert response.status_code == 302
    assert response.url == outcome_url

    client.force_login(social_worker)
    page = client.get(outcome_url)
    assert "Graded low risk" in page.text
    response = client.post(
        outcome_url, {"version": "1", "status": "resolved", "outcome": "Re-graded medium"}
    )
    assert response.status_code == 302
    challenge.refresh_from_db()
    assert (challenge.status, challenge.outcome) == ("resolved", "Re-graded medium")


def test_challenge_pages_refuse_outsiders_admins_and_bad_input(
    client, outsider, admin_user, social_worker, interview
):
    child = interview.episode.child
    add_url = reverse("incidents:challenge_add", args=[child.pk])
    client.force_login(outsider)
    assert client.get(add_url).status_code == 404
    client.force_login(admin_user)
    assert client.get(add_url).status_code in (403, 404)
    client.force_login(social_worker)
    assert client.put(add_url).status_code == 405
    response = client.post(add_url, {"decision": "Kept decision text"})
    assert response.status_code == 200
    assert "Select the agency whose decision you challenged" in response.text
    assert "Kept decision text" in response.text


def test_stale_challenge_outcome_shows_a_conflict(client, social_worker, interview, police):
    child = interview.episode.child
    challenge = Challenge.objects.create(
        child=child,
        challenged_agency=police,
        decision="d",
        reason="r",
        raised_at=timezone.now(),
        raised_by=social_worker,
        version=3,
    )
    client.force_login(social_worker)
    response = client.post(
        reverse("incidents:challenge_outcome", args=[child.pk, challenge.pk]),
        {"version": "1", "status": "escalated", "outcome": "My typed outcome"},
    )
    assert response.status_code == 200
    assert "Someone else changed this challenge" in response.text
    assert "My typed outcome" in response.text


def test_empty_interview_form_says_what_is_missing(client, provider_worker, interview):
    client.force_login(provider_worker)
    response = client.post(url("interview_held", interview), {"version": "1"})
    assert response.status_code == 200
    for message in (
        "Write what the child said, in their own words",
        "Enter when the interview was held",
        "Enter who held the interview",
    ):
        assert message in response.text
    main = response.text[response.text.index("<main") : response.text.index("</main>")]
    assert main.count('name="csrfmiddlewaretoken"') == 1
