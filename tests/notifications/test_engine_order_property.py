"""The engine's promise, as a property: who must be told does not depend on the order in
which people record the facts.

Hypothesis draws a child's facts (legal status, a placement in either council, GP,
school, school nurse, IRO and provider involvements, each perhaps ended before the
episode) and an episode's protocol steps (report, perhaps a re-grading, the scheduler
passing 24 hours, the return, perhaps a safe and well check, perhaps a declined
interview, the scheduler passing 72 hours after the return). The same facts and steps
are then recorded for two children through the action functions, as the pages record
them: once with every fact known before the report, once with each fact slotted in
at a drawn place among the steps. Afterwards both episodes must call for the same
(rule, recipient) notifications, in the same state. And after every step, each
episode's stored next timed step (what the scheduler reads) is the time worked out
afresh from the record, and the same in both orders.

The CI profile (tests/conftest.py) runs at least 200 examples with a fixed seed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.actions import children as child_actions
from incidents.actions import episodes as episode_actions
from incidents.actions import interviews as interview_actions
from incidents.models import Child, Episode, Involvement, LegalStatus, ReturnInterview
from notifications.engine import (
    StepBases,
    fire_timed_steps,
    next_timed_step_time,
    process_pending_events,
    steps_to_come,
)
from notifications.models import Notification
from tests.factories.incidents import ChildFactory

from .engine_world import contacts_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

UTC = dt.UTC
LAST_SEEN = dt.datetime(2026, 3, 10, 22, 0, tzinfo=UTC)
REPORTED = LAST_SEEN + dt.timedelta(hours=1)
EPISODE_DAY = LAST_SEEN.date()
LONG_BEFORE = dt.date(2025, 9, 1)
ENDED_BEFORE = dt.date(2026, 2, 1)

INVOLVED_ROLES = [
    Involvement.Role.GP_PRACTICE,
    Involvement.Role.SCHOOL,
    Involvement.Role.SCHOOL_NURSE,
    Involvement.Role.IRO,
    Involvement.Role.PROVIDER,
]


@dataclass(frozen=True)
class Fact:
    kind: str  # "in_care", "placement", "involvement"
    start: dt.date
    end: dt.date | None = None
    area: str = ""  # "west" or "east", for a placement
    role: str = ""  # for an involvement


@dataclass(frozen=True)
class Story:
    facts: tuple[Fact, ...]
    high_risk_later: bool
    found_after_hours: int
    check: bool
    declined: bool
    # Where each fact goes among the steps in the late order (0 = before the report).
    slots: tuple[int, ...]


starts = st.sampled_from([LONG_BEFORE, EPISODE_DAY])
ends = st.sampled_from([None, None, ENDED_BEFORE])


@st.composite
def stories(draw: Any) -> Story:
    facts: list[Fact] = []
    if draw(st.booleans()):
        facts.append(Fact("in_care", start=LONG_BEFORE))
        if draw(st.booleans()):
            start = draw(st.sampled_from([LONG_BEFORE, ENDED_BEFORE, EPISODE_DAY]))
            end = draw(ends) if start < ENDED_BEFORE else None
            facts.append(
                Fact(
                    "placement", start=start, end=end, area=draw(st.sampled_from(["west", "east"]))
                )
            )
    for role in draw(st.lists(st.sampled_from(INVOLVED_ROLES), unique=True, max_size=4)):
        start = draw(starts)
        end = draw(ends) if start == LONG_BEFORE else None
        facts.append(Fact("involvement", start=start, end=end, role=role))
    steps = 7  # report, re-grade, a day passes, return, check, declined, 72 hours pass
    slots = tuple(sorted(draw(st.integers(0, steps)) for _ in facts))
    return Story(
        facts=tuple(facts),
        high_risk_later=draw(st.booleans()),
        found_after_hours=draw(st.sampled_from([2, 30])),
        check=draw(st.booleans()),
        declined=draw(st.booleans()),
        slots=slots,
    )


@dataclass
class Cast:
    officer: Any
    social_worker: Any
    provider_worker: Any
    areas: dict[str, Any]
    agencies: dict[str, Any]


def record_fact(cast: Cast, child: Child, fact: Fact) -> None:
    sw = cast.social_worker
    if fact.kind == "in_care":
        child_actions.child_set_legal_status(
            acting_user=sw, child=child, status=LegalStatus.IN_CARE, start=fact.start
        )
    elif fact.kind == "placement":
        child_actions.placement_add(
            acting_user=sw,
            child=child,
            start=fact.start,
            end=fact.end,
            type="foster",
            address="1 Example Road",
            postcode="CH1 1AA",
            host_area=cast.areas[fact.area],
        )
    else:
        child_actions.involvement_add(
            acting_user=sw,
            child=child,
            agency=cast.agencies[fact.role],
            role=fact.role,
            start=fact.start,
            end=fact.end,
        )
    process_pending_events()


def steps_of(cast: Cast, story: Story, child: Child) -> list[tuple[dt.datetime, Any]]:
    """The protocol steps as (when the clock reads, what is recorded), in time order."""
    found = REPORTED + dt.timedelta(hours=story.found_after_hours)
    episode: list[Episode] = []

    def reported() -> None:
        episode.append(
            episode_actions.episode_report(
                acting_user=cast.officer,
                child=child,
                category=Episode.Category.MISSING,
                reported_at=REPORTED,
                reported_by_name="PC Okafor",
                reported_by_agency=cast.officer.agency,
                last_seen_at=LAST_SEEN,
                circumstances="Did not come home.",
                risk="medium",
                risk_rationale="First time missing.",
            )
        )

    def regraded() -> None:
        episode_actions.episode_regrade_risk(
            acting_user=cast.officer,
            episode=episode[0],
            grade="high",
            rationale="Seen with older men.",
            graded_at=REPORTED + dt.timedelta(hours=1),
        )

    def returned() -> None:
        episode[0].refresh_from_db()
        episode_actions.episode_record_return(
            acting_user=cast.officer,
            episode=episode[0],
            expected_version=episode[0].version,
            found_at=found,
            how_returned=Episode.HowReturned.FOUND_POLICE,
        )

    def checked() -> None:
        interview_actions.safe_and_well_record(
            acting_user=cast.officer,
            episode=episode[0],
            officer_name="PC Okafor",
            conducted_at=found + dt.timedelta(hours=2),
            face_to_face=True,
            outcome="Safe and well.",
        )

    def declined() -> None:
        interview = ReturnInterview.objects.get(episode=episode[0])
        interview_actions.interview_record_declined(
            acting_user=cast.provider_worker,
            interview=interview,
            expected_version=interview.version,
            declined_at=found + dt.timedelta(hours=47),
            carers_information="Carer says she was with friends.",
            decision_not_to_hold="Declined twice; offered again next week.",
        )

    steps: list[tuple[dt.datetime, Any]] = [
        (REPORTED + dt.timedelta(minutes=5), reported),
        (LAST_SEEN + dt.timedelta(hours=24, minutes=1), fire_timed_steps),
        (found + dt.timedelta(minutes=1), returned),
        (found + dt.timedelta(hours=73), fire_timed_steps),
    ]
    if story.high_risk_later:
        steps.append((REPORTED + dt.timedelta(hours=1, minutes=1), regraded))
    if story.check:
        steps.append((found + dt.timedelta(hours=3), checked))
    if story.declined:
        steps.append((found + dt.timedelta(hours=48), declined))
    steps.sort(key=lambda step: step[0])
    steps.append((found + dt.timedelta(hours=74), lambda: episode[0]))
    return steps


def closing_step(steps: list[tuple[dt.datetime, Any]]) -> int:
    """The step after which the episode is closed (every required step done), if any:
    facts recorded after that no longer bear on it, by design, so none is slotted later."""
    done = [i for i, (_, step) in enumerate(steps) if step.__name__ in ("checked", "declined")]
    return max(done) if len(done) == 2 else len(steps) - 1


def next_timed_step_afresh(episode: Episode) -> dt.datetime | None:
    """When the episode's next timed step falls due, worked out from the record now."""
    episode.refresh_from_db()
    if episode.closed_at is not None:
        return None
    due = ReturnInterview.objects.filter(episode=episode).values_list("due_at", flat=True)
    bases = StepBases.of(episode, due.first())
    return next_timed_step_time(bases, steps_to_come(episode.pk))


def play(
    cast: Cast, story: Story, child: Child, *, facts_first: bool
) -> tuple[Episode, list[dt.datetime | None]]:
    """Record the story for one child: every fact before the report, or each fact
    after the step its slot names (the clock never goes back). Returns the episode and
    its stored next timed step after each step, each checked against the record."""
    steps = steps_of(cast, story, child)
    last = closing_step(steps)
    slots = [0] * len(story.facts) if facts_first else [min(s, last) for s in story.slots]
    stored: list[dt.datetime | None] = []
    with time_machine.travel(LAST_SEEN - dt.timedelta(minutes=30), tick=False) as traveller:
        for index, (at, step) in enumerate(steps):
            for fact, slot in zip(story.facts, slots, strict=True):
                if slot == index:
                    record_fact(cast, child, fact)
            traveller.move_to(at)
            result = step()
            process_pending_events()
            episode = Episode.objects.get(child=child)
            assert episode.next_timed_step_at == next_timed_step_afresh(episode), step.__name__
            stored.append(episode.next_timed_step_at)
    return result, stored


def outcome(episode: Episode) -> set[tuple[int, str, str]]:
    """(rule, recipient, state) of every notification a change of facts did not withdraw."""
    return set(
        Notification.objects.filter(episode=episode, withdrawn_at__isnull=True).values_list(
            "rule_id", "recipient_key", "status"
        )
    )


@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(story=stories())
def test_who_must_be_told_does_not_depend_on_the_order_of_the_facts(
    story,
    contacts,
    officer,
    social_worker,
    provider_worker,
    area_west,
    area_east,
    gp_practice,
    school,
    school_nurse,
    iro_service,
    provider,
):
    cast = Cast(
        officer=officer,
        social_worker=social_worker,
        provider_worker=provider_worker,
        areas={"west": area_west, "east": area_east},
        agencies={
            Involvement.Role.GP_PRACTICE: gp_practice,
            Involvement.Role.SCHOOL: school,
            Involvement.Role.SCHOOL_NURSE: school_nurse,
            Involvement.Role.IRO: iro_service,
            Involvement.Role.PROVIDER: provider,
        },
    )

    def child() -> Child:
        return ChildFactory(
            responsible_area=area_west, legal_status=LegalStatus.NONE, created_by=social_worker
        )

    known_at_report, times_known = play(cast, story, child(), facts_first=True)
    in_any_order, times_in_any_order = play(cast, story, child(), facts_first=False)

    assert outcome(in_any_order) == outcome(known_at_report)
    assert times_in_any_order == times_known
