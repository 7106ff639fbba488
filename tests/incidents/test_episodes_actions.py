"""The episode actions: report, re-grade, return, edit, close, and the repeat count."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.utils import timezone

from incidents.actions import episodes as actions
from incidents.actions.base import StaleEdit
from incidents.models import (
    NOT_GRADED,
    CaseEvent,
    Episode,
    Involvement,
    LegalStatus,
    ReturnInterview,
    RiskGrade,
    RiskGrading,
)
from tests.factories import AgencyFactory
from tests.factories.incidents import (
    ChildFactory,
    EpisodeFactory,
    InvolvementFactory,
    LocationFactory,
    PlacementFactory,
    ReturnInterviewFactory,
    SafeAndWellCheckFactory,
)

LONDON = zoneinfo.ZoneInfo("Europe/London")


@pytest.fixture
def child(area_west, social_worker, la_west, provider):
    return ChildFactory(responsible_area=area_west, created_by=social_worker)


@pytest.fixture
def child_in_care(area_west, area_east, social_worker, la_west, provider):
    child = ChildFactory(
        responsible_area=area_west, created_by=social_worker, legal_status=LegalStatus.IN_CARE
    )
    PlacementFactory(child=child, host_area=area_east)
    return child


def report(user, child, **overrides) -> Episode:
    now = timezone.now()
    values = {
        "category": Episode.Category.MISSING,
        "reported_at": now - dt.timedelta(hours=1),
        "reported_by_name": "Jane Carer",
        "reported_by_agency": None,
        "last_seen_at": now - dt.timedelta(hours=3),
        "last_seen_location": None,
        "circumstances": "Left the house after an argument.",
        "police_reference": "CH-123",
        "flags": {"flag_cse": True, "flag_other": "Older boyfriend"},
        "risk": RiskGrade.HIGH,
        "risk_rationale": "Known CSE concerns.",
    }
    values.update(overrides)
    return actions.episode_report(acting_user=user, child=child, **values)


def errors_of(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return excinfo.value.message_dict


# Report ---------------------------------------------------------------------------------


def test_report_writes_episode_grading_and_event(officer, child, police):
    place = LocationFactory(description="Chester bus station")
    episode = report(officer, child, reported_by_agency=police, last_seen_location=place)

    assert episode.risk == RiskGrade.HIGH
    assert episode.risk_rank == 4
    assert episode.flag_cse and not episode.flag_cce
    assert episode.flag_other == "Older boyfriend"
    assert episode.created_by == officer
    grading = RiskGrading.objects.get(episode=episode)
    assert (grading.grade, grading.graded_by, grading.rationale) == (
        "high",
        officer,
        "Known CSE concerns.",
    )
    event = CaseEvent.objects.get(episode=episode)
    assert event.kind == CaseEvent.Kind.REPORTED
    assert event.is_protocol
    assert event.actor_agency == police
    assert event.data["category"] == "missing"
    assert event.data["risk"] == "high"
    assert event.data["child_in_care"] is False
    assert event.data["placed_out_of_area"] is False
    assert event.data["flags"] == ["flag_cse"]
    assert event.data["reported_by_agency_id"] == police.pk
    assert event.data["episodes_in_90_days"] == 1
    assert "Chester bus station" in event.summary


def test_report_for_child_in_care_placed_out_of_area(social_worker, child_in_care):
    episode = report(social_worker, child_in_care, category=Episode.Category.AWAY)
    event = CaseEvent.objects.get(episode=episode, kind="reported")
    assert event.data["category"] == "away"
    assert event.data["child_in_care"] is True
    assert event.data["placed_out_of_area"] is True


def test_report_counts_earlier_episodes_in_90_days(officer, child):
    now = timezone.now()
    for days in (100, 60, 10):
        EpisodeFactory(
            child=child,
            last_seen_at=now - dt.timedelta(days=days),
            found_at=now - dt.timedelta(days=days) + dt.timedelta(hours=5),
        )
    episode = report(officer, child)
    event = CaseEvent.objects.get(episode=episode, kind="reported")
    assert event.data["episodes_in_90_days"] == 3
    assert actions.episodes_in_last_days(child, 30) == 2
    assert actions.episodes_in_last_days(child, 90, now=now - dt.timedelta(days=50)) == 2


def test_report_refused_for_admin_and_outsider(admin_user, outsider, child):
    with pytest.raises(PermissionDenied):
        report(admin_user, child)
    with pytest.raises(PermissionDenied):
        report(outsider, child)
    assert not Episode.objects.exists()


def test_report_refuses_second_open_episode(officer, child):
    report(officer, child)
    with pytest.raises(ValidationError) as excinfo:
        report(officer, child)
    assert "already has an open missing episode" in errors_of(excinfo)["__all__"][0]
    assert Episode.objects.count() == 1


def test_report_race_on_open_episode_gives_same_message(officer, child, monkeypatch):
    report(officer, child)
    # The other report committed between our check and our insert.
    answers = iter([False, True])
    monkeypatch.setattr(actions, "_has_open_episode", lambda child: next(answers))
    monkeypatch.setattr(actions, "overlapping_episode", lambda *args, **kwargs: None)
    with pytest.raises(ValidationError) as excinfo:
        report(officer, child)
    assert errors_of(excinfo)["__all__"] == [actions.OPEN_EPISODE_MESSAGE]


def test_open_episode_constraint_in_database(child):
    EpisodeFactory(child=child)
    with pytest.raises(IntegrityError):
        EpisodeFactory(child=child)


def test_report_refuses_away_for_child_not_in_care(officer, child):
    with pytest.raises(ValidationError) as excinfo:
        report(officer, child, category=Episode.Category.AWAY)
    assert errors_of(excinfo)["category"] == [actions.AWAY_ONLY_IN_CARE_MESSAGE]


def test_report_refuses_future_times_and_reported_before_last_seen(officer, child):
    now = timezone.now()
    with pytest.raises(ValidationError) as excinfo:
        report(
            officer,
            child,
            last_seen_at=now + dt.timedelta(hours=2),
            reported_at=now + dt.timedelta(hours=3),
        )
    errors = errors_of(excinfo)
    assert errors["last_seen_at"] == ["The time last seen must not be in the future"]
    assert errors["reported_at"] == ["The time reported must not be in the future"]

    with pytest.raises(ValidationError) as excinfo:
        report(
            officer,
            child,
            last_seen_at=now - dt.timedelta(hours=1),
            reported_at=now - dt.timedelta(hours=2),
        )
    assert errors_of(excinfo)["reported_at"] == [actions.REPORTED_BEFORE_LAST_SEEN_MESSAGE]


def test_report_requires_risk_and_rationale(officer, child):
    with pytest.raises(ValidationError) as excinfo:
        report(officer, child, risk="extreme", risk_rationale=" ", circumstances="")
    errors = errors_of(excinfo)
    assert set(errors) == {"risk", "risk_rationale", "circumstances"}


# Re-grade -------------------------------------------------------------------------------


def test_report_by_anyone_but_police_is_a_reporters_concern(social_worker, child):
    episode = report(social_worker, child, risk=RiskGrade.HIGH)

    assert (episode.risk, episode.risk_rank) == (NOT_GRADED, 0)
    assert episode.get_risk_display() == "Not yet graded"
    concern = RiskGrading.objects.get(episode=episode)
    assert concern.kind == RiskGrading.Kind.CONCERN
    assert (concern.grade, concern.graded_by, concern.rationale) == (
        "high",
        social_worker,
        "Known CSE concerns.",
    )
    event = CaseEvent.objects.get(episode=episode)
    assert event.data["risk"] == NOT_GRADED
    assert event.data["risk_rank"] == 0
    assert event.data["reporters_concern"] == "high"
    assert "not yet graded by police; reporter's concern: High" in event.summary


def test_report_by_police_is_the_police_grade(officer, child):
    episode = report(officer, child, risk=RiskGrade.LOW)
    assert (episode.risk, episode.risk_rank) == ("low", 2)
    assert RiskGrading.objects.get(episode=episode).kind == RiskGrading.Kind.POLICE
    assert CaseEvent.objects.get(episode=episode).data["reporters_concern"] is None


def test_regrade_by_police_while_missing(officer, social_worker, child):
    episode = report(social_worker, child, risk=RiskGrade.LOW)
    grading = actions.episode_regrade_risk(
        acting_user=officer, episode=episode, grade=RiskGrade.HIGH, rationale="Seen with adults"
    )
    episode.refresh_from_db()
    assert (episode.risk, episode.risk_rank) == ("high", 4)
    assert grading.graded_by == officer
    assert grading.kind == RiskGrading.Kind.POLICE
    assert episode.gradings.count() == 2
    event = CaseEvent.objects.get(episode=episode, kind=CaseEvent.Kind.RISK_REGRADED)
    # The social worker's "low" was their concern: the police grade went from none.
    assert event.data["old"] == NOT_GRADED
    assert event.data["new"] == "high"
    assert event.summary == "Risk graded High by police: Seen with adults"
    assert event.is_protocol


def test_regrade_refused_for_non_police(social_worker, child):
    episode = report(social_worker, child)
    with pytest.raises(PermissionDenied):
        actions.episode_regrade_risk(
            acting_user=social_worker, episode=episode, grade="low", rationale="x"
        )


def test_regrade_refused_after_return(officer, child):
    episode = EpisodeFactory(child=child, found_at=timezone.now())
    with pytest.raises(ValidationError) as excinfo:
        actions.episode_regrade_risk(
            acting_user=officer, episode=episode, grade="low", rationale="x"
        )
    assert "still missing" in errors_of(excinfo)["__all__"][0]
    assert not RiskGrading.objects.exists()


def test_regrade_refuses_future_time(officer, child):
    episode = report(officer, child)
    with pytest.raises(ValidationError) as excinfo:
        actions.episode_regrade_risk(
            acting_user=officer,
            episode=episode,
            grade="low",
            rationale="x",
            graded_at=timezone.now() + dt.timedelta(hours=1),
        )
    assert "graded_at" in errors_of(excinfo)


# Return ---------------------------------------------------------------------------------


def test_record_return_creates_interview_and_event(social_worker, child, la_west, provider):
    episode = report(social_worker, child)
    found_at = timezone.now() - dt.timedelta(minutes=30)
    place = LocationFactory(description="Friend's flat")
    actions.episode_record_return(
        acting_user=social_worker,
        episode=episode,
        expected_version=episode.version,
        found_at=found_at,
        found_location=place,
        found_with="A friend",
        how_returned=Episode.HowReturned.FOUND_POLICE,
    )
    episode.refresh_from_db()
    assert episode.found_at == found_at
    assert episode.found_location == place
    interview = ReturnInterview.objects.get(episode=episode)
    assert interview.owner == la_west
    assert interview.provider == provider
    assert interview.due_at == found_at + dt.timedelta(hours=72)
    event = CaseEvent.objects.get(episode=episode, kind=CaseEvent.Kind.RETURNED)
    assert event.data["found_at"] == found_at.isoformat()
    assert event.data["interview_due_at"] == interview.due_at.isoformat()
    assert event.data["placed_out_of_area"] is False
    assert event.data["child_in_care"] is False


def test_record_return_prefers_involved_provider(social_worker, child, area_west):
    involved = AgencyFactory(name="Local Provider", kind="provider", areas=[area_west])
    InvolvementFactory(child=child, agency=involved, role=Involvement.Role.PROVIDER)
    episode = report(social_worker, child)
    actions.episode_record_return(
        acting_user=social_worker,
        episode=episode,
        expected_version=episode.version,
        found_at=timezone.now(),
        how_returned="self",
    )
    assert ReturnInterview.objects.get(episode=episode).provider == involved


def test_record_return_without_la_asks_for_admin(social_worker, child, la_west):
    la_west.active = False
    la_west.save()
    episode = EpisodeFactory(child=child)
    with pytest.raises(ValidationError) as excinfo:
        actions.episode_record_return(
            acting_user=social_worker,
            episode=episode,
            expected_version=episode.version,
            found_at=timezone.now(),
            how_returned="self",
        )
    assert "Ask an admin" in errors_of(excinfo)["__all__"][0]
    episode.refresh_from_db()
    assert episode.found_at is None


def test_record_return_refuses_found_before_last_seen_and_future(social_worker, child):
    episode = EpisodeFactory(child=child)
    for found_at, message in (
        (episode.last_seen_at - dt.timedelta(minutes=1), actions.FOUND_BEFORE_LAST_SEEN_MESSAGE),
        (timezone.now() + dt.timedelta(hours=1), "The time found must not be in the future"),
    ):
        with pytest.raises(ValidationError) as excinfo:
            actions.episode_record_return(
                acting_user=social_worker,
                episode=episode,
                expected_version=episode.version,
                found_at=found_at,
                how_returned="self",
            )
        assert errors_of(excinfo)["found_at"] == [message]
    assert not ReturnInterview.objects.exists()


def test_record_return_only_once(social_worker, child):
    episode = report(social_worker, child)
    kwargs = {"found_at": timezone.now(), "how_returned": "self"}
    actions.episode_record_return(
        acting_user=social_worker, episode=episode, expected_version=episode.version, **kwargs
    )
    with pytest.raises(ValidationError) as excinfo:
        actions.episode_record_return(
            acting_user=social_worker, episode=episode, expected_version=episode.version, **kwargs
        )
    assert "already been recorded" in errors_of(excinfo)["__all__"][0]


def test_record_return_stale_version(social_worker, child):
    episode = report(social_worker, child)
    with pytest.raises(StaleEdit):
        actions.episode_record_return(
            acting_user=social_worker,
            episode=episode,
            expected_version=episode.version - 1,
            found_at=timezone.now(),
            how_returned="self",
        )


def test_record_return_refused_for_admin(admin_user, child):
    episode = EpisodeFactory(child=child)
    with pytest.raises(PermissionDenied):
        actions.episode_record_return(
            acting_user=admin_user,
            episode=episode,
            expected_version=1,
            found_at=timezone.now(),
            how_returned="self",
        )


def test_interview_due_72_hours_across_october_clock_change(social_worker, child):
    last_seen = dt.datetime(2026, 10, 23, 20, 0, tzinfo=LONDON)
    found = dt.datetime(2026, 10, 24, 12, 0, tzinfo=LONDON)  # BST
    with time_machine.travel(dt.datetime(2026, 10, 24, 13, 0, tzinfo=LONDON), tick=False):
        episode = EpisodeFactory(
            child=child, last_seen_at=last_seen, reported_at=last_seen + dt.timedelta(hours=1)
        )
        actions.episode_record_return(
            acting_user=social_worker,
            episode=episode,
            expected_version=episode.version,
            found_at=found,
            how_returned="self",
        )
    due = ReturnInterview.objects.get(episode=episode).due_at
    # 72 real hours: the clocks went back on 25 October, so 11:00 GMT on the wall.
    local = timezone.localtime(due)
    assert (local.day, local.hour, local.minute) == (27, 11, 0)
    assert local.utcoffset() == dt.timedelta(0)
    assert due - found == dt.timedelta(hours=72)


# Edit -----------------------------------------------------------------------------------


def test_update_records_changes(social_worker, child):
    episode = report(social_worker, child)
    actions.episode_update(
        acting_user=social_worker,
        episode=episode,
        expected_version=episode.version,
        circumstances="New account of what happened",
        flag_cce=True,
    )
    episode.refresh_from_db()
    assert episode.version == 2
    assert episode.flag_cce
    event = CaseEvent.objects.get(episode=episode, kind=CaseEvent.Kind.EPISODE_EDITED)
    assert event.data["changes"]["flag_cce"] == [False, True]
    assert "circumstances" in event.data["changes"]
    # A changed fact: the notifications app works the episode out again.
    assert event.is_protocol


def test_update_stale_version_refused(social_worker, child):
    episode = report(social_worker, child)
    actions.episode_update(
        acting_user=social_worker, episode=episode, expected_version=1, police_reference="A"
    )
    stale = Episode.objects.get(pk=episode.pk)
    with pytest.raises(StaleEdit):
        actions.episode_update(
            acting_user=social_worker, episode=stale, expected_version=1, police_reference="B"
        )
    stale.refresh_from_db()
    assert stale.police_reference == "A"


def test_update_validates_merged_values(social_worker, child):
    episode = report(social_worker, child)
    with pytest.raises(ValidationError) as excinfo:
        actions.episode_update(
            acting_user=social_worker,
            episode=episode,
            expected_version=episode.version,
            category="away",
            last_seen_at=episode.reported_at + dt.timedelta(minutes=5),
        )
    errors = errors_of(excinfo)
    assert errors["category"] == [actions.AWAY_ONLY_IN_CARE_MESSAGE]
    assert errors["reported_at"] == [actions.REPORTED_BEFORE_LAST_SEEN_MESSAGE]


def test_update_cannot_change_the_return_time(social_worker, child):
    """The return time has its own action, with a reason and the deadline kept."""
    interview = ReturnInterviewFactory(episode__child=child)
    episode = interview.episode
    with pytest.raises(TypeError):
        actions.episode_update(
            acting_user=social_worker,
            episode=episode,
            expected_version=1,
            found_at=episode.found_at - dt.timedelta(minutes=30),
        )


# Correct the return time ----------------------------------------------------------------


def _correct(user, episode, found_at, reason="Custody record shows the earlier time"):
    return actions.episode_correct_return_time(
        acting_user=user,
        episode=episode,
        expected_version=episode.version,
        found_at=found_at,
        reason=reason,
    )


def test_correcting_the_return_time_keeps_the_interview_deadline(social_worker, child):
    interview = ReturnInterviewFactory(episode__child=child)
    episode = interview.episode
    first_found, kept_due = episode.found_at, interview.due_at
    corrected = first_found + dt.timedelta(minutes=40)

    correction = _correct(social_worker, episode, corrected)

    episode.refresh_from_db()
    interview.refresh_from_db()
    assert episode.found_at == corrected
    assert interview.due_at == kept_due  # not corrected + 72 hours
    assert episode.interview_due_at == kept_due
    assert (correction.previous_found_at, correction.found_at) == (first_found, corrected)
    assert correction.corrected_by == social_worker
    assert correction.reason == "Custody record shows the earlier time"
    event = CaseEvent.objects.get(episode=episode, kind=CaseEvent.Kind.EPISODE_EDITED)
    assert event.is_protocol  # who must be told is worked out again
    assert event.data["return_time_corrected"] is True
    assert set(event.data["changes"]) == {"found_at"}
    assert "Custody record shows the earlier time" in event.summary
    assert "The return interview stays due by" in event.summary


def test_correcting_the_return_time_by_police(officer, child):
    episode = ReturnInterviewFactory(episode__child=child).episode
    _correct(officer, episode, episode.found_at - dt.timedelta(minutes=5))
    assert episode.return_time_corrections.get().corrected_by == officer


def test_the_police_correcting_the_return_time_keep_the_check_deadline(officer, manager, child):
    """The police are measured on the safe and well check: moving the return time later
    must not move the check's deadline, on the episode or in the managers' list."""
    from oversight import queries
    from oversight.filters import Filters

    now = timezone.now()
    episode = ReturnInterviewFactory(
        episode__child=child,
        episode__last_seen_at=now - dt.timedelta(hours=40),
        episode__reported_at=now - dt.timedelta(hours=39),
        episode__found_at=now - dt.timedelta(hours=30),
    ).episode
    first_found = episode.found_at
    kept = episode.safe_and_well_due_at
    _correct(officer, episode, first_found + dt.timedelta(hours=20))

    episode.refresh_from_db()
    assert episode.first_found_at == first_found
    assert episode.safe_and_well_due_at == kept == first_found + dt.timedelta(hours=24)
    # 25 hours after the first recorded return, the check is overdue, whatever the
    # corrected time says.
    late = first_found + dt.timedelta(hours=25)
    outstanding = queries.safe_and_well_outstanding(manager, Filters(), late)
    assert episode in outstanding


def test_the_provider_cannot_correct_the_return_time(provider_worker, child, provider):
    interview = ReturnInterviewFactory(episode__child=child, provider=provider)
    episode = interview.episode
    with pytest.raises(PermissionDenied):
        _correct(provider_worker, episode, episode.found_at + dt.timedelta(days=18))
    episode.refresh_from_db()
    assert episode.found_at == interview.episode.found_at
    assert not episode.return_time_corrections.exists()


def test_a_correction_is_checked_like_the_return(social_worker, child):
    episode = ReturnInterviewFactory(episode__child=child).episode
    now = timezone.now()
    for found_at, field, message in (
        (episode.last_seen_at - dt.timedelta(minutes=1), "found_at", "after the time last seen"),
        (now + dt.timedelta(hours=1), "found_at", "must not be in the future"),
        (episode.found_at, "found_at", "already recorded at"),
    ):
        with pytest.raises(ValidationError) as excinfo:
            _correct(social_worker, episode, found_at)
        assert message in " ".join(errors_of(excinfo)[field])
    with pytest.raises(ValidationError) as excinfo:
        _correct(social_worker, episode, episode.found_at - dt.timedelta(minutes=1), reason=" ")
    assert errors_of(excinfo)["reason"] == ["Enter why the return time is being corrected"]
    assert not episode.return_time_corrections.exists()


def test_no_correction_before_the_return_or_after_closing(social_worker, manager, child):
    missing = EpisodeFactory(child=child)
    with pytest.raises(ValidationError) as excinfo:
        _correct(social_worker, missing, timezone.now() - dt.timedelta(minutes=5))
    assert "Record the return before" in errors_of(excinfo)["__all__"][0]

    missing.found_at = timezone.now() - dt.timedelta(hours=1)
    missing.save()
    actions.episode_close(acting_user=manager, episode=missing, reason="Done")
    missing.refresh_from_db()
    with pytest.raises(ValidationError) as excinfo:
        _correct(social_worker, missing, missing.found_at - dt.timedelta(minutes=5))
    assert errors_of(excinfo)["__all__"] == ["A closed episode cannot be changed"]


def test_update_refused_for_admin(admin_user, child):
    episode = EpisodeFactory(child=child)
    with pytest.raises(PermissionDenied):
        actions.episode_update(
            acting_user=admin_user, episode=episode, expected_version=1, circumstances="x"
        )


# Close ----------------------------------------------------------------------------------


def test_close_by_manager_after_return(manager, child):
    episode = EpisodeFactory(child=child, found_at=timezone.now())
    actions.episode_close(acting_user=manager, episode=episode, reason="Child moved away")
    episode.refresh_from_db()
    assert episode.closed_at is not None
    assert episode.closed_by == manager
    event = CaseEvent.objects.get(episode=episode, kind=CaseEvent.Kind.CLOSED)
    assert event.data["reason"] == "Child moved away"
    assert event.data["automatic"] is False


def test_close_refused_for_practitioner(social_worker, child):
    episode = EpisodeFactory(child=child, found_at=timezone.now())
    with pytest.raises(PermissionDenied):
        actions.episode_close(acting_user=social_worker, episode=episode, reason="x")


def test_close_before_return_and_without_reason(manager, child):
    episode = EpisodeFactory(child=child)
    with pytest.raises(ValidationError) as excinfo:
        actions.episode_close(acting_user=manager, episode=episode, reason="  ")
    errors = errors_of(excinfo)
    assert "after the child's return" in errors["__all__"][0]
    assert errors["reason"] == ["Enter the reason for closing the episode"]
    assert not CaseEvent.objects.filter(kind="closed").exists()


def test_close_twice_refused(manager, child):
    episode = EpisodeFactory(child=child, found_at=timezone.now())
    actions.episode_close(acting_user=manager, episode=episode, reason="Done")
    with pytest.raises(ValidationError):
        actions.episode_close(acting_user=manager, episode=episode, reason="Again")


def test_close_if_complete(provider_worker, child):
    interview = ReturnInterviewFactory(episode__child=child)
    episode = interview.episode
    assert actions.episode_close_if_complete(acting_user=provider_worker, episode=episode) is False
    SafeAndWellCheckFactory(episode=episode)
    assert actions.episode_close_if_complete(acting_user=provider_worker, episode=episode) is False
    interview.outcome = ReturnInterview.Outcome.HELD
    interview.held_at = timezone.now()
    interview.save()
    assert actions.episode_close_if_complete(acting_user=provider_worker, episode=episode) is True
    episode.refresh_from_db()
    assert episode.closure_reason == actions.AUTO_CLOSE_REASON
    event = CaseEvent.objects.get(episode=episode, kind="closed")
    assert event.data["automatic"] is True
    # Already closed: nothing more happens.
    assert actions.episode_close_if_complete(acting_user=provider_worker, episode=episode) is False
    assert CaseEvent.objects.filter(kind="closed").count() == 1


def test_close_if_complete_while_missing(provider_worker, child):
    episode = EpisodeFactory(child=child)
    assert actions.episode_close_if_complete(acting_user=provider_worker, episode=episode) is False
