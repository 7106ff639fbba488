"""One source for every policy number: the active rules, else the defaults, read by every
page, list and the engine alike; and changing a rule changes them all at once."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents.actions.episodes import episode_record_return, episode_report
from incidents.actions.interviews import interview_record_attempt
from incidents.models import CaseEvent, Child, Episode, ReturnInterview, RiskGrade
from missingkids import policy
from notifications.engine import notifications_for_event
from notifications.models import TIMED_STEPS, Condition, Rule, Step
from notifications.rules import active_rule_numbers, rule_save_with_version
from tests.factories.incidents import ChildFactory, EpisodeFactory, ReturnInterviewFactory
from tests.factories.notifications import RuleFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# A Tuesday in November (GMT).
NOW = dt.datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


# The numbers and where they come from ----------------------------------------------------


def test_defaults_apply_without_an_active_rule():
    Rule.objects.filter(step__in=[Step.REPEAT_THRESHOLD, Step.NOT_ENGAGING]).update(active=False)
    assert policy.repeat_threshold() == (3, 90)
    assert policy.stuck_failed_attempts() == 3


def test_the_shipped_rules_say_the_same_as_the_defaults():
    assert active_rule_numbers() == policy.RuleNumbers(repeat=(3, 90), stuck_failed_attempts=3)
    assert policy.repeat_threshold() == (
        policy.DEFAULT_REPEAT_COUNT,
        policy.DEFAULT_REPEAT_DAYS,
    )
    assert policy.stuck_failed_attempts() == policy.DEFAULT_STUCK_FAILED_ATTEMPTS


def test_without_a_rule_reader_the_defaults_apply(monkeypatch):
    monkeypatch.setattr(policy, "_reader", None)
    Rule.objects.filter(step=Step.NOT_ENGAGING).update(threshold_count=2)
    assert policy.stuck_failed_attempts() == 3


def test_the_active_rule_wins_and_of_several_the_first_to_speak():
    Rule.objects.filter(step=Step.REPEAT_THRESHOLD).update(active=False)
    RuleFactory(
        step=Step.REPEAT_THRESHOLD,
        condition=Condition.REPEAT,
        threshold_count=3,
        threshold_days=30,
        due_after_hours=Decimal(120),
    )
    assert policy.repeat_threshold() == (3, 30)
    # Fewer episodes wins; of two needing as many, the longer window.
    for days in (14, 60):
        RuleFactory(
            step=Step.REPEAT_THRESHOLD,
            condition=Condition.REPEAT,
            threshold_count=2,
            threshold_days=days,
            due_after_hours=Decimal(120),
        )
    assert policy.repeat_threshold() == (2, 60)
    # A switched-off rule says nothing.
    Rule.objects.filter(step=Step.REPEAT_THRESHOLD, threshold_days=60).update(active=False)
    assert policy.repeat_threshold() == (2, 14)

    social_worker_rule = Rule.objects.get(step=Step.NOT_ENGAGING, recipient="social_worker")
    social_worker_rule.threshold_count = 4
    social_worker_rule.save()
    assert policy.stuck_failed_attempts() == 3  # the team manager's rule still says 3
    Rule.objects.filter(step=Step.NOT_ENGAGING).update(threshold_count=5)
    assert policy.stuck_failed_attempts() == 5


def test_reading_the_rules_is_one_query_and_remembered_only_inside_the_block():
    with CaptureQueriesContext(connection) as queries:
        policy.repeat_threshold()
        policy.stuck_failed_attempts()
    assert len(queries) == 2  # outside a block every call reads afresh

    with CaptureQueriesContext(connection) as queries, policy.remembered():
        assert policy.repeat_threshold() == (3, 90)
        Rule.objects.filter(step=Step.REPEAT_THRESHOLD).update(threshold_count=2)
        assert policy.stuck_failed_attempts() == 3
        assert policy.repeat_threshold() == (3, 90)  # one reading for the whole block
    reads = [
        q for q in queries if q["sql"].startswith("SELECT") and "notifications_rule" in q["sql"]
    ]
    assert len(reads) == 1
    assert policy.repeat_threshold() == (2, 90)  # the next block reads the change


def test_the_deadlines_after_a_return_are_one_pair_of_numbers():
    assert policy.interview_due_after() == dt.timedelta(hours=72)
    assert policy.safe_and_well_due_after() == dt.timedelta(hours=24)
    assert TIMED_STEPS[Step.INTERVIEW_DUE] == ("found", policy.interview_due_after())
    assert TIMED_STEPS[Step.SAFE_AND_WELL_DUE] == ("found", policy.safe_and_well_due_after())
    episode = EpisodeFactory(last_seen_at=NOW - 5 * H, found_at=NOW)
    assert episode.interview_due_at == NOW + policy.interview_due_after()
    assert episode.safe_and_well_due_at == NOW + policy.safe_and_well_due_after()


def test_recording_a_return_stores_the_interview_deadline_from_the_policy(
    officer, area_west, la_west, provider
):
    child = ChildFactory(responsible_area=area_west)
    episode = EpisodeFactory(child=child, last_seen_at=NOW - 5 * H, reported_at=NOW - 4 * H)
    with time_machine.travel(NOW, tick=False):
        episode_record_return(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            found_at=NOW - H,
            how_returned=Episode.HowReturned.RETURNED_SELF,
        )
    interview = ReturnInterview.objects.get(episode=episode)
    assert interview.due_at == NOW - H + policy.interview_due_after()


# Change the rules: every page follows --------------------------------------------------


def _report(officer, child: Child, last_seen: dt.datetime) -> Episode:
    with time_machine.travel(last_seen + H, tick=False):
        return episode_report(
            acting_user=officer,
            child=child,
            category=Episode.Category.MISSING,
            reported_at=last_seen + 30 * dt.timedelta(minutes=1),
            reported_by_name="Carer",
            reported_by_agency=None,
            last_seen_at=last_seen,
            last_seen_location=None,
            circumstances="Did not come home from school.",
            police_reference="",
            flags={},
            risk=RiskGrade.MEDIUM,
            risk_rationale="Known to go to friends.",
        )


def _return(officer, episode: Episode, found: dt.datetime) -> ReturnInterview:
    with time_machine.travel(found + H, tick=False):
        episode.refresh_from_db()
        episode_record_return(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            found_at=found,
            how_returned=Episode.HowReturned.RETURNED_SELF,
        )
    return ReturnInterview.objects.get(episode=episode)


def _attempts(worker, interview: ReturnInterview, outcomes: list[str]) -> None:
    for n, outcome in enumerate(outcomes):
        at = interview.episode.found_at + (n + 1) * H
        with time_machine.travel(at + dt.timedelta(minutes=5), tick=False):
            interview_record_attempt(
                acting_user=worker, interview=interview, attempted_at=at, method="phone",
                outcome=outcome,
            )  # fmt: skip


def _change_rules(admin_user) -> None:
    """As an admin does on the configuration pages: a new version of each rule."""
    for rule in Rule.objects.filter(step=Step.REPEAT_THRESHOLD, active=True):
        rule.threshold_count, rule.threshold_days = 2, 30
        rule_save_with_version(rule=rule, acting_user=admin_user)
    for rule in Rule.objects.filter(step=Step.NOT_ENGAGING, active=True):
        rule.threshold_count = 2
        rule_save_with_version(rule=rule, acting_user=admin_user)


def _steps_the_engine_makes(event: CaseEvent) -> set[str]:
    return {row.step for row in notifications_for_event(event)}


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def world(officer, provider_worker, area_west, la_west, provider, social_worker):
    """A child missing twice in three weeks, the second interview failing twice."""
    child = ChildFactory(responsible_area=area_west, first_name="Rhys", created_by=social_worker)
    first = _report(officer, child, NOW - 20 * D)
    _return(officer, first, NOW - 20 * D + 6 * H)
    second = _report(officer, child, NOW - 4 * D)
    interview = _return(officer, second, NOW - 4 * D + 6 * H)
    _attempts(provider_worker, interview, ["no_contact", "rearranged"])
    events = CaseEvent.objects.filter(child=child)
    return {
        "child": child,
        "episode": second,
        "interview": interview,
        "report": events.filter(kind=CaseEvent.Kind.REPORTED).latest("occurred_at"),
        "attempt": events.filter(kind=CaseEvent.Kind.INTERVIEW_ATTEMPT).latest("occurred_at"),
    }


def _pages(client, *, practitioner, manager, world) -> dict[str, str]:
    child, episode = world["child"], world["episode"]
    client.force_login(practitioner)
    pages = {
        "child": _text(client.get(reverse("incidents:child_detail", args=[child.pk]))),
        "episode": _text(client.get(reverse("incidents:episode_detail", args=[episode.pk]))),
        "interview": _text(client.get(reverse("incidents:interview_detail", args=[episode.pk]))),
    }
    client.force_login(manager)
    for name in ("dashboard", "repeat_missing", "stuck_cases"):
        pages[name] = _text(client.get(reverse(f"oversight:{name}")))
    return pages


def test_change_the_rules_and_every_page_and_the_engine_follow(
    client, world, provider_worker, manager, admin_user
):
    traveller = time_machine.travel(NOW, tick=False)
    traveller.start()
    try:
        before = _pages(client, practitioner=provider_worker, manager=manager, world=world)
        engine_before = (
            _steps_the_engine_makes(world["report"]),
            _steps_the_engine_makes(world["attempt"]),
        )
        _change_rules(admin_user)
        after = _pages(client, practitioner=provider_worker, manager=manager, world=world)
        engine_after = (
            _steps_the_engine_makes(world["report"]),
            _steps_the_engine_makes(world["attempt"]),
        )
    finally:
        traveller.stop()

    # The child's page: the repeat warning, and the stuck-case prompt.
    assert "2 episodes in the last 90 days." in before["child"]
    assert "strategy meeting or multi-agency review is called for" not in before["child"]
    assert 'data-testid="stuck-prompt"' not in before["child"]
    assert (
        "2 episodes in the last 30 days: a strategy meeting or multi-agency review is "
        "called for" in after["child"]
    )
    assert 'data-testid="stuck-prompt"' in after["child"]
    assert "Rhys has had 2 attempts that have not led to an interview" in after["child"]

    # The episode page's count and tag.
    assert "Episodes in the last 90 days" in before["episode"]
    assert "Repeat missing" not in before["episode"]
    assert "Episodes in the last 30 days" in after["episode"]
    assert "Repeat missing" in after["episode"]

    # The interview page's prompt.
    assert 'data-testid="stuck-prompt"' not in before["interview"]
    assert 'data-testid="stuck-prompt"' in after["interview"]

    # The managers' dashboard counts, lists and what they say the numbers are.
    for name, count_before, count_after in (("repeat_missing", 0, 1), ("stuck_cases", 0, 1)):
        pattern = f'data-testid="count-{name}">{{}}<'
        assert pattern.format(count_before) in before["dashboard"]
        assert pattern.format(count_after) in after["dashboard"]
    assert "(3 episodes in 90 days)" in before["repeat_missing"]
    assert "(2 episodes in 30 days)" in after["repeat_missing"]
    assert "Rhys" not in before["repeat_missing"]
    assert "Rhys" in after["repeat_missing"]
    assert "with 3 or more failed attempts" in before["stuck_cases"]
    assert "with 2 or more failed attempts" in after["stuck_cases"]
    assert "Rhys" not in before["stuck_cases"]
    assert "2 failed attempts at the return interview" in after["stuck_cases"]

    # The engine: the same rules fire at the same numbers.
    report_before, attempt_before = engine_before
    report_after, attempt_after = engine_after
    assert Step.REPEAT_THRESHOLD not in report_before
    assert Step.REPEAT_THRESHOLD in report_after
    assert Step.NOT_ENGAGING not in attempt_before
    assert Step.NOT_ENGAGING in attempt_after


# Declined after each of several returns -----------------------------------------------------


@pytest.fixture
def decliner(area_west, la_west, provider, social_worker):
    """Three returns, the interview declined after each; then a fourth, pending."""
    child = ChildFactory(responsible_area=area_west, first_name="Mo", created_by=social_worker)
    interviews = []
    for weeks in (6, 4, 2, 0):
        found = NOW - weeks * 7 * D - 2 * D
        declined = weeks > 0
        interviews.append(
            ReturnInterviewFactory(
                episode=EpisodeFactory(
                    child=child,
                    last_seen_at=found - 5 * H,
                    reported_at=found - 4 * H,
                    found_at=found,
                    created_by=social_worker,
                ),
                owner=la_west,
                provider=provider,
                outcome=ReturnInterview.Outcome.DECLINED if declined else "pending",
                declined_at=found + 3 * H if declined else None,
            )
        )
    return child, interviews


def test_declined_after_each_of_the_last_returns_prompts_on_the_childs_and_interview_pages(
    client, provider_worker, manager, decliner
):
    child, interviews = decliner
    client.force_login(provider_worker)
    with time_machine.travel(NOW, tick=False):
        child_page = _text(client.get(reverse("incidents:child_detail", args=[child.pk])))
        latest = _text(
            client.get(reverse("incidents:interview_detail", args=[interviews[-1].episode_id]))
        )
        older = _text(
            client.get(reverse("incidents:interview_detail", args=[interviews[1].episode_id]))
        )
    words = "Mo declined the return interview after each of the last 3 returns"
    assert words in child_page
    interview_url = reverse("incidents:interview_detail", args=[interviews[-1].episode_id])
    assert f'href="{interview_url}">See the return interview' in child_page
    assert words in latest
    assert "somewhere the child chooses" in latest
    assert 'data-testid="stuck-prompt"' not in older  # an older interview's page is history


def test_declined_after_each_return_is_a_stuck_case_for_managers(
    client, manager, decliner, admin_user
):
    child, interviews = decliner
    client.force_login(manager)
    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("oversight:stuck_cases"))
        dashboard = _text(client.get(reverse("oversight:dashboard")))
        export = client.get(reverse("oversight:stuck_cases"), {"format": "csv"})
    (row,) = page.context["rows"]
    assert row[0].text == "Mo " + child.last_name
    assert row[0].href == reverse("incidents:interview_detail", args=[interviews[-1].episode_id])
    assert row[1].text == "Declined the return interview after each of the last 3 returns"
    assert 'data-testid="count-stuck_cases">1<' in dashboard
    assert "Declined the return interview after each of the last 3 returns" in (
        b"".join(export.streaming_content).decode()
    )

    # The not-engaging rule's count is the run's length too.
    for rule in Rule.objects.filter(step=Step.NOT_ENGAGING):
        rule.threshold_count = 4
        rule_save_with_version(rule=rule, acting_user=admin_user)
    with time_machine.travel(NOW, tick=False):
        assert client.get(reverse("oversight:stuck_cases")).context["rows"] == []
        child_page = _text(client.get(reverse("incidents:child_detail", args=[child.pk])))
    assert "declined the return interview after each" not in child_page
