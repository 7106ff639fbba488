"""Agreed actions: agreed at each source, followed up by the owner agency alone, shown on
the child's page, the interview page and the owner's home page, with their history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.actions.agreed_actions import (
    agreed_action_add,
    agreed_action_mark_done,
    agreed_action_mark_not_needed,
    agreed_action_reopen,
)
from incidents.actions.base import StaleEdit
from incidents.actions.interviews import interview_record_held
from incidents.actions.oversight import strategy_meeting_record, supervision_note_add
from incidents.models import AgreedAction, CaseEvent
from missingkids.accounts.models import User
from tests.factories.accounts import UserFactory
from tests.incidents.test_interviews_actions import held_kwargs, make_interview

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture
def teacher(school) -> User:
    return UserFactory(name="Ms Rowe", agency=school, role=User.Role.PRACTITIONER)


@pytest.fixture
def interview(area_west, la_west, provider, social_worker) -> Any:
    return make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )


@pytest.fixture
def held(provider_worker, interview) -> Any:
    interview_record_held(acting_user=provider_worker, **held_kwargs(interview))
    interview.refresh_from_db()
    return interview


def child_of(interview: Any) -> Any:
    return interview.episode.child


def add_at_interview(held: Any, who: Any, owner: Any, **extra: Any) -> AgreedAction:
    values = {
        "description": "Mentor sessions at school",
        "owner_agency": owner,
        "due_date": timezone.localdate() + 7 * DAY,
    } | extra
    return agreed_action_add(acting_user=who, child=child_of(held), record=held, **values)


def errors_of(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return excinfo.value.message_dict


# Agreeing -------------------------------------------------------------------------------


def test_an_action_agreed_at_the_interview_is_written_with_its_history(
    held, provider_worker, school, teacher
):
    action = add_at_interview(held, provider_worker, school, owner_person=teacher)
    assert (action.child, action.source, action.interview) == (
        child_of(held),
        AgreedAction.Source.INTERVIEW,
        held,
    )
    assert action.agreed_on == timezone.localdate(held.held_at)
    assert action.state == AgreedAction.State.OPEN
    assert action.created_by == provider_worker
    assert action.history.get().history_user == provider_worker
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.AGREED_ACTION_ADDED)
    assert not event.is_protocol
    assert event.episode == held.episode
    assert "Chester Riverside Academy" in event.summary


def test_an_action_agreed_at_a_strategy_meeting(manager, interview, la_west, school):
    child = child_of(interview)
    meeting = strategy_meeting_record(
        acting_user=manager,
        child=child,
        held_on=timezone.localdate() - DAY,
        attendee_agencies=[la_west],
        decisions="School to offer a mentor",
    )
    action = agreed_action_add(
        acting_user=manager,
        child=child,
        record=meeting,
        description="Mentor",
        owner_agency=school,
        due_date=timezone.localdate(),
    )
    assert (action.source, action.strategy_meeting, action.agreed_on) == (
        AgreedAction.Source.STRATEGY_MEETING,
        meeting,
        meeting.held_on,
    )
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.AGREED_ACTION_ADDED).count() == 1


def test_an_action_agreed_in_a_supervision_note(manager, interview, la_west, social_worker):
    child = child_of(interview)
    note = supervision_note_add(acting_user=manager, child=child, note="Visit weekly")
    action = agreed_action_add(
        acting_user=manager,
        child=child,
        record=note,
        description="Visit weekly",
        owner_agency=la_west,
        owner_person=social_worker,
        due_date=timezone.localdate() + DAY,
    )
    assert (action.source, action.supervision_note) == (
        AgreedAction.Source.SUPERVISION_NOTE,
        note,
    )


def test_only_who_records_the_source_agrees_at_it(held, officer, teacher, school):
    with pytest.raises(PermissionDenied):
        add_at_interview(held, officer, school)
    with pytest.raises(PermissionDenied):
        add_at_interview(held, teacher, school)
    assert not AgreedAction.objects.exists()


def test_due_before_agreed_and_missing_answers_are_field_errors(
    held, provider_worker, school, social_worker, other_agency
):
    with pytest.raises(ValidationError) as before:
        add_at_interview(
            held, provider_worker, school, due_date=timezone.localdate(held.held_at) - DAY
        )
    assert errors_of(before)["due_date"][0].startswith(
        "The due date must be on or after the day the action was agreed"
    )
    with pytest.raises(ValidationError) as missing:
        add_at_interview(held, provider_worker, None, description=" ", due_date=None)
    assert set(errors_of(missing)) == {"description", "owner_agency", "due_date"}
    with pytest.raises(ValidationError) as wrong_person:
        add_at_interview(held, provider_worker, school, owner_person=social_worker)
    assert errors_of(wrong_person)["owner_person"] == [
        "Choose someone at Chester Riverside Academy, or no one in particular"
    ]
    with pytest.raises(ValidationError) as unseen:
        add_at_interview(held, provider_worker, other_agency)
    assert "does not work with" in errors_of(unseen)["owner_agency"][0]
    assert not AgreedAction.objects.exists()


# Following up ---------------------------------------------------------------------------


def test_the_owner_marks_it_done_with_what_happened(held, provider_worker, school, teacher):
    action = add_at_interview(held, provider_worker, school)
    with pytest.raises(ValidationError) as blank:
        agreed_action_mark_done(
            acting_user=teacher, action=action, expected_version=1, what_happened="  "
        )
    assert errors_of(blank) == {"what_happened": ["Enter what happened"]}

    done = agreed_action_mark_done(
        acting_user=teacher, action=action, expected_version=1, what_happened="Mentor met twice"
    )
    action.refresh_from_db()
    assert (action.state, action.what_happened, action.done_by, action.version) == (
        AgreedAction.State.DONE,
        "Mentor met twice",
        teacher,
        2,
    )
    assert done.done_at is not None
    assert action.history.count() == 2
    assert action.history.first().history_user == teacher
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.AGREED_ACTION_DONE)
    assert (event.actor, event.actor_agency) == (teacher, teacher.agency)

    # Reopened by mistake, then no longer needed.
    agreed_action_reopen(acting_user=teacher, action=action, expected_version=2)
    action.refresh_from_db()
    assert (action.state, action.what_happened, action.done_at) == ("open", "", None)
    agreed_action_mark_not_needed(
        acting_user=teacher, action=action, expected_version=3, reason="Moved school"
    )
    action.refresh_from_db()
    assert (action.state, action.not_needed_reason) == ("not_needed", "Moved school")


def test_not_needed_needs_a_reason(held, provider_worker, school, teacher):
    action = add_at_interview(held, provider_worker, school)
    with pytest.raises(ValidationError) as blank:
        agreed_action_mark_not_needed(
            acting_user=teacher, action=action, expected_version=1, reason=""
        )
    assert errors_of(blank) == {"reason": ["Enter why the action is no longer needed"]}


@pytest.mark.parametrize("who", ["provider_worker", "social_worker", "manager", "admin_user"])
def test_only_the_owner_agency_may_mark_it_done(request, held, provider_worker, school, who):
    action = add_at_interview(held, provider_worker, school)
    with pytest.raises(PermissionDenied) as refused:
        agreed_action_mark_done(
            acting_user=request.getfixturevalue(who),
            action=action,
            expected_version=1,
            what_happened="Done",
        )
    assert str(refused.value) == "Only someone at Chester Riverside Academy can mark this done."
    action.refresh_from_db()
    assert action.state == AgreedAction.State.OPEN


def test_a_stale_follow_up_is_refused(held, provider_worker, school, teacher):
    action = add_at_interview(held, provider_worker, school)
    agreed_action_mark_done(
        acting_user=teacher, action=action, expected_version=1, what_happened="Met"
    )
    with pytest.raises(StaleEdit):
        agreed_action_mark_not_needed(
            acting_user=teacher, action=action, expected_version=1, reason="Moved"
        )


# Pages ----------------------------------------------------------------------------------


def follow_up_url(name: str, action: AgreedAction) -> str:
    return reverse(f"incidents:{name}", args=[action.child_id, action.pk])


def test_a_forged_post_from_another_agency_is_refused(
    client, held, provider_worker, school, social_worker
):
    action = add_at_interview(held, provider_worker, school)
    client.force_login(social_worker)
    response = client.post(
        follow_up_url("agreed_action_done", action), {"version": "1", "what_happened": "x"}
    )
    assert response.status_code == 403
    action.refresh_from_db()
    assert action.state == AgreedAction.State.OPEN


def test_the_child_page_shows_actions_and_who_may_mark_them_done(
    client, held, provider_worker, school, teacher, social_worker
):
    late = add_at_interview(held, provider_worker, school, description="Late one")
    AgreedAction.objects.filter(pk=late.pk).update(due_date=timezone.localdate() - DAY)
    add_at_interview(held, provider_worker, school, description="Done one")
    done = AgreedAction.objects.get(description="Done one")
    agreed_action_mark_done(
        acting_user=teacher, action=done, expected_version=1, what_happened="Mentor met"
    )
    child_url = reverse("incidents:child_detail", args=[child_of(held).pk])

    client.force_login(social_worker)
    page = client.get(child_url).text
    assert "Only someone at Chester Riverside Academy can mark this done." in page
    assert follow_up_url("agreed_action_done", late) not in page
    assert "govuk-tag--red" in page.split('data-testid="open-actions"')[1].split("</dl>")[0]
    assert "Mentor met" in page.split('data-testid="closed-actions"')[1]
    assert "Someone to talk to at school" in page  # what would help

    client.force_login(teacher)
    page = client.get(child_url).text
    assert follow_up_url("agreed_action_done", late) in page
    response = client.post(
        follow_up_url("agreed_action_done", late), {"version": "1", "what_happened": ""}
    )
    assert response.status_code == 200
    assert "Enter what happened" in response.text
    response = client.post(
        follow_up_url("agreed_action_done", late), {"version": "1", "what_happened": "Seen"}
    )
    assert response.status_code == 302
    late.refresh_from_db()
    assert late.state == AgreedAction.State.DONE


def test_what_would_help_prompts_an_action_when_none_was_agreed(client, held, provider_worker):
    client.force_login(provider_worker)
    page = client.get(reverse("incidents:child_detail", args=[child_of(held).pk])).text
    assert 'data-testid="agree-prompt"' in page
    assert f"?source=interview:{held.pk}" in page


def test_the_add_page_offers_the_sources_and_saves(client, held, manager, school, la_west):
    child = child_of(held)
    meeting = strategy_meeting_record(
        acting_user=manager,
        child=child,
        held_on=timezone.localdate(),
        attendee_agencies=[la_west],
        decisions="Mentor",
    )
    client.force_login(manager)
    add = reverse("incidents:agreed_action_add", args=[child.pk])
    page = client.get(add).text
    assert f'value="strategy_meeting:{meeting.pk}"' in page
    assert f'value="interview:{held.pk}"' in page
    assert "<optgroup" in page
    before = timezone.localdate() - DAY
    response = client.post(
        add,
        {
            "source": f"strategy_meeting:{meeting.pk}",
            "description": "Mentor",
            "owner_agency": str(school.pk),
            "due_date_0": str(before.day),
            "due_date_1": str(before.month),
            "due_date_2": str(before.year),
        },
    )
    assert response.status_code == 200
    assert "The due date must be on or after the day the action was agreed" in response.text
    assert 'href="#id_due_date_0"' in response.text or 'href="#id_due_date"' in response.text
    due = timezone.localdate() + DAY
    response = client.post(
        add,
        {
            "source": f"strategy_meeting:{meeting.pk}",
            "description": "Mentor",
            "owner_agency": str(school.pk),
            "due_date_0": str(due.day),
            "due_date_1": str(due.month),
            "due_date_2": str(due.year),
        },
    )
    assert response.status_code == 302
    assert AgreedAction.objects.get().strategy_meeting == meeting


def test_no_source_to_record_is_refused(client, interview, teacher):
    client.force_login(teacher)
    add = reverse("incidents:agreed_action_add", args=[child_of(interview).pk])
    assert client.get(add).status_code == 403


def test_the_interview_page_shows_the_state(client, held, provider_worker, school):
    add_at_interview(held, provider_worker, school)
    client.force_login(provider_worker)
    page = client.get(reverse("incidents:interview_detail", args=[held.episode_id])).text
    assert 'data-testid="action-state"' in page
    assert "Chester Riverside Academy" in page


# The owner's home page ------------------------------------------------------------------


def test_the_owners_home_page_lists_their_open_actions(
    client, held, provider_worker, school, teacher, social_worker
):
    late = add_at_interview(held, provider_worker, school, description="Late one")
    AgreedAction.objects.filter(pk=late.pk).update(due_date=timezone.localdate() - DAY)
    add_at_interview(held, provider_worker, school, description="Soon one")
    client.force_login(teacher)
    home = client.get(reverse("home"))
    assert home.status_code == 200
    counts = home.text.split('data-testid="agreed-action-counts"')[1].split("</p>")[0]
    assert "<strong>2</strong> open agreed actions" in counts
    assert "1 overdue" in counts
    assert home.text.index("Late one") < home.text.index("Soon one")
    assert f"{reverse('incidents:child_detail', args=[late.child_id])}#agreed-actions" in (
        home.text
    )
    full = client.get(reverse("agency_work:list"))
    assert "Late one" in full.text

    client.force_login(social_worker)
    assert "Late one" not in client.get(reverse("home")).text


def test_the_home_page_query_count_does_not_grow_with_actions(
    client, held, provider_worker, school, teacher, django_assert_num_queries
):
    add_at_interview(held, provider_worker, school)
    client.force_login(teacher)
    client.get(reverse("home"))
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("home"))
    for n in range(12):
        add_at_interview(held, provider_worker, school, description=f"More {n}")
    with django_assert_num_queries(len(one.captured_queries)):
        assert client.get(reverse("home")).status_code == 200
    with CaptureQueriesContext(connection) as full_one:
        client.get(reverse("agency_work:list"))
    for n in range(30):
        add_at_interview(held, provider_worker, school, description=f"Even more {n}")
    with django_assert_num_queries(len(full_one.captured_queries)):
        assert client.get(reverse("agency_work:list")).status_code == 200
