"""Correcting a challenge and its outcome: the action and its page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from incidents.actions.base import StaleEdit
from incidents.actions.corrections import REASON_NEEDED_CHALLENGE, challenge_correct
from incidents.actions.interviews import challenge_raise, challenge_record_outcome
from incidents.models import CaseEvent, Challenge
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from tests.factories.accounts import UserFactory
from tests.incidents.test_interviews_actions import HOUR, errors_of, make_interview
from tests.incidents.test_interviews_views import when

pytestmark = pytest.mark.django_db


@pytest.fixture
def episode(area_west, la_west, provider, social_worker):
    return make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    ).episode


def _minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


@pytest.fixture
def challenge(social_worker, episode, police) -> Challenge:
    return challenge_raise(
        acting_user=social_worker,
        child=episode.child,
        episode=episode,
        challenged_agency=police,
        decision="Risk graded low despite exploitation concerns",
        reason="She was found with older men known to police",
        raised_at=_minute(timezone.now() - 2 * HOUR),
    )


@pytest.fixture
def answered(challenge, social_worker) -> Challenge:
    challenge_record_outcome(
        acting_user=social_worker,
        challenge=challenge,
        expected_version=1,
        status=Challenge.Status.RESOLVED,
        outcome="Re-graded medium",
    )
    challenge.refresh_from_db()
    return challenge


def _values(challenge: Challenge, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "challenged_agency": challenge.challenged_agency,
        "episode": challenge.episode,
        "decision": challenge.decision,
        "reason": challenge.reason,
        "raised_at": challenge.raised_at,
        "change_reason": "Typed the wrong thing",
    }
    return values | overrides


# The action ---------------------------------------------------------------------------


def test_a_correction_keeps_the_old_values_and_the_reason(social_worker, challenge):
    corrected = challenge_correct(
        acting_user=social_worker,
        challenge=challenge,
        expected_version=1,
        **_values(challenge, decision="Risk graded low, no strategy discussion"),
    )
    assert corrected.version == 2
    assert corrected.decision == "Risk graded low, no strategy discussion"
    rows = list(Challenge.history.filter(id=challenge.pk).order_by("history_id"))
    assert rows[-2].decision == "Risk graded low despite exploitation concerns"
    assert rows[-1].history_change_reason == "Typed the wrong thing"
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.CHALLENGE_CORRECTED)
    assert event.data["fields"] == ["decision"]
    assert event.data["reason"] == "Typed the wrong thing"
    assert "decision challenged" in event.summary


def test_a_reason_is_always_needed_the_other_agency_has_the_challenge(social_worker, challenge):
    with pytest.raises(ValidationError) as excinfo:
        challenge_correct(
            acting_user=social_worker,
            challenge=challenge,
            expected_version=1,
            **_values(challenge, decision="Changed", change_reason="  "),
        )
    assert errors_of(excinfo) == {"change_reason": [REASON_NEEDED_CHALLENGE]}
    assert Challenge.objects.get(pk=challenge.pk).version == 1


def test_the_outcome_is_corrected_and_its_time_kept(social_worker, answered):
    outcome_at = answered.outcome_at
    challenge_correct(
        acting_user=social_worker,
        challenge=answered,
        expected_version=answered.version,
        **_values(answered, status=Challenge.Status.ESCALATED, outcome="Escalated to the DI"),
    )
    answered.refresh_from_db()
    assert answered.status == Challenge.Status.ESCALATED
    assert answered.outcome == "Escalated to the DI"
    assert answered.outcome_at == outcome_at


def test_every_problem_is_reported_at_once(social_worker, answered, episode):
    other = make_interview(
        child_area=episode.child.responsible_area,
        owner=episode.child.responsible_area.agencies.first(),
        created_by=social_worker,
    ).episode
    with pytest.raises(ValidationError) as excinfo:
        challenge_correct(
            acting_user=social_worker,
            challenge=answered,
            expected_version=answered.version,
            **_values(
                answered,
                episode=other,
                challenged_agency=None,
                decision=" ",
                reason="",
                raised_at=answered.outcome_at + HOUR,
                status="open",
                outcome="",
            ),
        )
    assert set(errors_of(excinfo)) == {
        "episode",
        "challenged_agency",
        "decision",
        "reason",
        "raised_at",
        "status",
        "outcome",
    }


def test_an_open_challenges_outcome_is_not_set_here(social_worker, challenge):
    with pytest.raises(ValidationError) as excinfo:
        challenge_correct(
            acting_user=social_worker,
            challenge=challenge,
            expected_version=1,
            **_values(challenge, status="resolved", outcome="Agreed"),
        )
    assert "still open" in str(excinfo.value)


def test_a_stale_correction_names_what_changed(social_worker, provider_worker, challenge):
    challenge_correct(
        acting_user=provider_worker,
        challenge=challenge,
        expected_version=1,
        **_values(challenge, decision="Theirs"),
    )
    with pytest.raises(StaleEdit) as excinfo:
        challenge_correct(
            acting_user=social_worker,
            challenge=challenge,
            expected_version=1,
            **_values(challenge, reason="Mine"),
        )
    assert "decision challenged" in str(excinfo.value)
    assert Challenge.objects.get(pk=challenge.pk).reason != "Mine"


def test_only_those_who_may_record_it_correct_it(admin_user, challenge):
    with pytest.raises(PermissionDenied):
        challenge_correct(
            acting_user=admin_user,
            challenge=challenge,
            expected_version=1,
            **_values(challenge, decision="Changed"),
        )


# The page -----------------------------------------------------------------------------


def change_url(challenge: Challenge) -> str:
    return reverse("incidents:challenge_change", args=[challenge.child_id, challenge.pk])


def change_post(challenge: Challenge, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": str(challenge.version),
        "challenged_agency": str(challenge.challenged_agency_id),
        "episode": str(challenge.episode_id or ""),
        "decision": challenge.decision,
        "reason": challenge.reason,
        **when("raised_at", challenge.raised_at),
        "change_reason": "Typed the wrong agency",
    }
    if challenge.status != Challenge.Status.OPEN:
        data |= {"status": challenge.status, "outcome": challenge.outcome}
    return data | overrides


@pytest.mark.parametrize("who", ["social_worker", "officer", "provider_worker", "manager"])
def test_anyone_working_with_the_child_may_change_it(client, request, challenge, who):
    client.force_login(request.getfixturevalue(who))
    page = change_url(challenge)
    assert client.get(page).status_code == 200
    response = client.post(page, change_post(challenge, decision="Changed"))
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "incidents:challenge_outcome", args=[challenge.child_id, challenge.pk]
    )
    assert Challenge.objects.get(pk=challenge.pk).decision == "Changed"


def test_an_admin_holds_no_case_role_and_changes_nothing(client, admin_user, challenge):
    client.force_login(admin_user)
    response = client.post(change_url(challenge), change_post(challenge, decision="X"))
    assert response.status_code in (403, 404)
    assert Challenge.objects.get(pk=challenge.pk).decision != "X"


def test_out_of_scope_is_not_found(client, other_agency, challenge):
    client.force_login(UserFactory(name="Out of scope", agency=other_agency))
    page = change_url(challenge)
    assert client.get(page).status_code == 404
    assert client.post(page, change_post(challenge, decision="X")).status_code == 404
    assert Challenge.objects.get(pk=challenge.pk).decision != "X"


def test_a_challenge_of_another_child_is_not_found(client, social_worker, challenge, episode):
    other = make_interview(
        child_area=episode.child.responsible_area,
        owner=episode.child.responsible_area.agencies.first(),
        created_by=social_worker,
    ).episode.child
    client.force_login(social_worker)
    page = reverse("incidents:challenge_change", args=[other.pk, challenge.pk])
    assert client.get(page).status_code == 404


def test_the_reason_is_asked_for_by_its_field(client, social_worker, challenge):
    client.force_login(social_worker)
    response = client.post(
        change_url(challenge), change_post(challenge, decision="Changed", change_reason="")
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="#id_change_reason"' in page
    assert Challenge.objects.get(pk=challenge.pk).version == 1


def test_the_outcome_is_on_the_form_only_once_recorded(client, social_worker, answered):
    client.force_login(social_worker)
    page = client.get(change_url(answered)).content.decode()
    assert 'name="status"' in page and 'name="outcome"' in page
    assert "Re-graded medium" in page


def test_an_open_challenge_has_no_outcome_questions(client, social_worker, challenge):
    client.force_login(social_worker)
    page = client.get(change_url(challenge)).content.decode()
    assert 'name="status"' not in page and 'name="outcome"' not in page
    assert "Risk graded low despite exploitation concerns" in page


def test_the_history_shows_before_and_after_with_the_reason(client, social_worker, answered):
    client.force_login(social_worker)
    client.post(
        change_url(answered),
        change_post(answered, outcome="Re-graded high", change_reason="Misread the e-mail"),
    )
    for page in (
        change_url(answered),
        reverse("incidents:challenge_outcome", args=[answered.child_id, answered.pk]),
    ):
        html = client.get(page).content.decode()
        assert escape("Outcome: \u2018Re-graded medium\u2019 to \u2018Re-graded high\u2019") in html
        assert "Reason: Misread the e-mail" in html
    # And in the child's change history, on the record's History page.
    child_page = client.get(reverse("incidents:child_history", args=[answered.child_id]))
    changed = escape("\u2018Re-graded medium\u2019 to \u2018Re-graded high\u2019")
    assert changed in child_page.content.decode()


def test_a_stale_change_says_so_and_keeps_the_input(client, social_worker, officer, challenge):
    client.force_login(officer)
    client.post(change_url(challenge), change_post(challenge, decision="Officer's"))
    client.force_login(social_worker)
    response = client.post(change_url(challenge), change_post(challenge, reason="Mine"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Someone else changed this challenge" in page
    assert "Mine" in page
    assert 'name="version" value="2"' in page


def test_the_pages_link_to_the_change(client, social_worker, challenge):
    client.force_login(social_worker)
    detail = client.get(reverse("incidents:child_detail", args=[challenge.child_id]))
    outcome_page = reverse("incidents:challenge_outcome", args=[challenge.child_id, challenge.pk])
    assert outcome_page in detail.content.decode()
    assert change_url(challenge) in client.get(outcome_page).content.decode()


def test_the_change_page_has_a_fixed_query_count(
    client, social_worker, answered, django_assert_num_queries
):
    client.force_login(social_worker)
    page = change_url(answered)
    client.get(page)
    for n in range(3):
        client.post(
            page,
            change_post(answered, version=str(answered.version + n), outcome=f"Outcome {n}"),
        )
    assert Challenge.objects.get(pk=answered.pk).version == answered.version + 3
    with django_assert_num_queries(CHANGE_PAGE_QUERIES + TWO_FACTOR_QUERIES):
        assert client.get(page).status_code == 200


# Session and user, the child (in scope), the challenge, the person's standing, the
# history (one query, whatever its length), the agencies and the episodes offered.
CHANGE_PAGE_QUERIES = 10
