"""Every default rule of domain.md, firing when its condition holds and not otherwise.

One world where every condition holds (a child in care of Cheshire West and Chester,
placed in Cheshire East, with a GP, school and school nurse involved, and every agency
with a contact), then one trigger per protocol step. A rule's "not firing" case changes
the single fact its condition rests on.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from django.db.models import QuerySet

from incidents.models import CaseEvent, Episode, InterviewAttempt, Involvement, LegalStatus
from missingkids.accounts import demo
from missingkids.accounts.models import Agency, LocalAuthorityArea
from notifications.defaults import DEFAULT_RULES, VERSIONED_FIELDS
from notifications.engine import fire_timed_steps, process_event
from notifications.models import TIMED_STEPS, Notification, Rule, RuleVersion, Step
from tests.factories.incidents import (
    CaseEventFactory,
    ChildFactory,
    EpisodeFactory,
    InvolvementFactory,
    PlacementFactory,
    ReturnInterviewFactory,
)
from tests.factories.notifications import ensure_default_rules, partnership_contacts

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# A Tuesday in term time, in office hours.
LAST_SEEN = dt.datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
REPORTED = LAST_SEEN + dt.timedelta(hours=1)
FOUND = LAST_SEEN + dt.timedelta(hours=30)
LONG_AGO = dt.date(2020, 1, 1)

INVOLVED_ROLES = {
    "gp": Involvement.Role.GP_PRACTICE,
    "school": Involvement.Role.SCHOOL,
    "school_nurse": Involvement.Role.SCHOOL_NURSE,
}


@pytest.fixture
def world(
    officer,
    area_west,
    area_east,
    police,
    la_west,
    la_east,
    iro_service,
    provider,
    gp_practice,
    school,
    school_nurse,
) -> SimpleNamespace:
    ensure_default_rules()
    partnership_contacts(
        la=la_west,
        others=[police, la_east, iro_service, provider, gp_practice, school, school_nurse],
    )
    child = ChildFactory(
        responsible_area=area_west, legal_status=LegalStatus.IN_CARE, created_by=officer
    )
    placement = PlacementFactory(child=child, host_area=area_east, start=LONG_AGO)
    involvements = {
        role: InvolvementFactory(
            child=child, agency=agency, role=INVOLVED_ROLES[role], start=LONG_AGO
        )
        for role, agency in (
            ("gp", gp_practice),
            ("school", school),
            ("school_nurse", school_nurse),
        )
    }
    return SimpleNamespace(
        officer=officer,
        child=child,
        placement=placement,
        involvements=involvements,
        police=police,
        provider=provider,
        la_west=la_west,
        area_west=area_west,
        prior_episodes=2,
        failed_attempts=3,
        found_early=False,
    )


def _event(w: SimpleNamespace, episode: Episode, kind: str, at: dt.datetime, **data: Any) -> None:
    event = CaseEventFactory(
        child=w.child,
        episode=episode,
        kind=kind,
        is_protocol=True,
        occurred_at=at,
        actor=w.officer,
        data=data,
    )
    process_event(event.pk)


def _episode(w: SimpleNamespace, **fields: Any) -> Episode:
    return EpisodeFactory(
        child=w.child,
        last_seen_at=LAST_SEEN,
        reported_at=REPORTED,
        reported_by_agency=w.police,
        created_by=w.officer,
        **fields,
    )


def trigger(w: SimpleNamespace, step: str) -> QuerySet[Notification]:
    """Make the step happen for a fresh episode; return its notifications."""
    if step in (Step.REPORTED, Step.REPEAT_THRESHOLD):
        for n in range(w.prior_episodes):
            seen = LAST_SEEN - dt.timedelta(days=20 * (n + 1))
            EpisodeFactory(
                child=w.child,
                last_seen_at=seen,
                found_at=seen + dt.timedelta(hours=5),
                created_by=w.officer,
            )
        episode = _episode(w)
        _event(w, episode, CaseEvent.Kind.REPORTED, REPORTED, risk="medium")
    elif step == Step.PROFILE_SHARED:
        episode = _episode(w)
        _event(w, episode, CaseEvent.Kind.PROFILE_SHARED, REPORTED)
    elif step in TIMED_STEPS:
        after = TIMED_STEPS[step][1]
        found = LAST_SEEN + after - dt.timedelta(hours=1) if w.found_early else None
        episode = _episode(w, found_at=found)
        fire_timed_steps(now=LAST_SEEN + after + dt.timedelta(minutes=1))
    else:
        episode = _episode(w, found_at=FOUND)
        if step == Step.RETURNED:
            _event(w, episode, CaseEvent.Kind.RETURNED, FOUND)
        elif step == Step.SAFE_AND_WELL_DONE:
            _event(w, episode, CaseEvent.Kind.SAFE_AND_WELL_DONE, FOUND + dt.timedelta(hours=2))
        else:
            interview = ReturnInterviewFactory(
                episode=episode, owner=w.la_west, provider=w.provider
            )
            if step == Step.INTERVIEW_DONE:
                held = FOUND + dt.timedelta(hours=40)
                interview.outcome, interview.held_at = "held", held
                interview.save()
                _event(w, episode, CaseEvent.Kind.INTERVIEW_HELD, held)
            elif step == Step.NOT_ENGAGING:
                at = FOUND
                for n in range(w.failed_attempts):
                    at = FOUND + dt.timedelta(hours=5 * (n + 1))
                    InterviewAttempt.objects.create(
                        interview=interview,
                        attempted_at=at,
                        method="phone",
                        outcome="no_contact",
                        recorded_by=w.officer,
                    )
                _event(w, episode, CaseEvent.Kind.INTERVIEW_ATTEMPT, at)
            else:  # pragma: no cover - every default step is handled above
                raise AssertionError(step)
    return Notification.objects.filter(episode=episode)


def _make_condition_fail(w: SimpleNamespace, rule: dict[str, Any]) -> None:
    condition = rule["condition"]
    if condition == "any":
        # Nothing about the child can stop an "any" rule: only switching it off can.
        Rule.objects.filter(name=rule["name"]).update(active=False)
    elif condition == "in_care":
        w.child.legal_status = LegalStatus.CHILD_IN_NEED
        w.child.save()
    elif condition == "out_of_area":
        w.placement.host_area = w.area_west
        w.placement.save()
    elif condition == "involved":
        involvement = w.involvements[rule["recipient"]]
        involvement.end = LONG_AGO + dt.timedelta(days=30)
        involvement.save()
    elif condition == "still_open":
        w.found_early = True
    elif condition == "repeat":
        w.prior_episodes = 1
    elif condition == "failed_attempts":
        w.failed_attempts = 2
    else:  # pragma: no cover
        raise AssertionError(condition)


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=[r["name"] for r in DEFAULT_RULES])
def test_default_rule_fires_and_finds_a_recipient(world, rule):
    made = trigger(world, rule["step"]).filter(rule__name=rule["name"])

    assert made.count() == 1
    notification = made.get()
    assert notification.problem == ""
    assert notification.recipient_agency is not None
    assert notification.recipient_email
    assert notification.responsible_agency is not None
    assert notification.rule_version == 1
    assert notification.status == Notification.Status.DUE
    assert notification.delivery == Notification.Delivery.QUEUED


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=[r["name"] for r in DEFAULT_RULES])
def test_default_rule_does_not_fire_when_its_condition_fails(world, rule):
    _make_condition_fail(world, rule)

    made = trigger(world, rule["step"])

    # Only the rules resting on the changed fact are silenced; the others still fire.
    assert _fired(made, rule["step"]) == _rules_for(rule["step"]) - _silenced(rule)


REPORT_STEPS = {Step.REPORTED, Step.REPEAT_THRESHOLD}


def _steps(step: str) -> set[str]:
    # A report is also the moment the repeat threshold is checked.
    return REPORT_STEPS if step in REPORT_STEPS else {step}


def _rules_for(step: str) -> set[str]:
    return {r["name"] for r in DEFAULT_RULES if r["step"] in _steps(step)}


def _fired(made: QuerySet[Notification], step: str) -> set[str]:
    # A later still-missing step also fires the earlier ones: look at this step's own.
    return set(made.filter(step__in=_steps(step)).values_list("rule__name", flat=True))


def _silenced(rule: dict[str, Any]) -> set[str]:
    if rule["condition"] in ("any", "involved"):
        return {rule["name"]}
    return {
        r["name"]
        for r in DEFAULT_RULES
        if r["step"] == rule["step"] and r["condition"] == rule["condition"]
    }


@pytest.mark.parametrize("step", list(dict.fromkeys(r["step"] for r in DEFAULT_RULES)))
def test_each_step_fires_exactly_its_own_rules(world, step):
    made = trigger(world, step)

    assert _fired(made, step) == _rules_for(step)


def test_default_rules_are_loaded_with_their_basis_and_first_version(db):
    ensure_default_rules()
    rules = Rule.objects.filter(name__in=[r["name"] for r in DEFAULT_RULES])

    assert rules.count() == len(DEFAULT_RULES) == 26
    for rule in rules:
        rule.full_clean()
        assert rule.basis
        assert rule.version == 1
        version = RuleVersion.objects.get(rule=rule, version=1)
        assert set(version.data) == set(VERSIONED_FIELDS)


def test_default_rules_follow_the_table(db):
    ensure_default_rules()
    by_name = {r.name: r for r in Rule.objects.all()}
    reported_la = by_name["Reported: police tell the responsible local authority"]
    assert reported_la.due_after_hours == 24
    assert reported_la.due_after_hours_if_high_risk == 2
    assert reported_la.use_out_of_hours_contact
    repeat = by_name["Repeat missing (3 in 90 days): tell the team manager"]
    assert (repeat.threshold_count, repeat.threshold_days, repeat.due_after_hours) == (3, 90, 120)
    stuck = Rule.objects.filter(step=Step.NOT_ENGAGING)
    assert {r.recipient for r in stuck} == {"social_worker", "team_manager"}
    assert {r.due_after_hours for r in stuck} == {48}
    interview_done = Rule.objects.filter(step=Step.INTERVIEW_DONE)
    assert {(r.recipient, r.condition) for r in interview_done} == {
        ("responsible_la", "any"),
        ("gp", "involved"),
        ("school", "involved"),
        ("school_nurse", "involved"),
        ("iro", "in_care"),
    }


def test_the_demo_partnership_resolves_every_default_rule(officer):
    ensure_default_rules()
    demo.load()
    west = LocalAuthorityArea.objects.get(code="E06000050")
    east = LocalAuthorityArea.objects.get(code="E06000049")
    by_name = {agency.name: agency for agency in Agency.objects.all()}
    child = ChildFactory(responsible_area=west, legal_status=LegalStatus.IN_CARE)
    placement = PlacementFactory(child=child, host_area=east, start=LONG_AGO)
    involvements = {
        role: InvolvementFactory(
            child=child, agency=by_name[name], role=INVOLVED_ROLES[role], start=LONG_AGO
        )
        for role, name in (
            ("gp", "Northgate Medical Centre"),
            ("school", "Chester Riverside Academy"),
            ("school_nurse", "Cheshire and Wirral School Nursing Service"),
        )
    }
    w = SimpleNamespace(
        officer=officer,
        child=child,
        placement=placement,
        involvements=involvements,
        police=by_name["Cheshire Constabulary"],
        provider=by_name["Catch22 Missing from Home Service"],
        la_west=by_name["Cheshire West and Chester Council Children's Services"],
        area_west=west,
        prior_episodes=2,
        failed_attempts=3,
        found_early=False,
    )

    made = Notification.objects.none()
    for step in dict.fromkeys(r["step"] for r in DEFAULT_RULES):
        made = made | trigger(w, step)
        # Each step's episodes happen at the same times, and one child's episodes may
        # not overlap (PostgreSQL refuses it): once counted, they move to a child of
        # their own.
        Episode.objects.filter(child=child).update(
            child=ChildFactory(responsible_area=west, created_by=officer)
        )

    assert set(made.values_list("rule__name", flat=True)) == {r["name"] for r in DEFAULT_RULES}
    assert list(made.exclude(problem="").values_list("problem", flat=True)) == []
    assert not made.filter(recipient_email="").exists()
