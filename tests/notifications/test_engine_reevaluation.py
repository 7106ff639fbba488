"""Facts arrive late and in any order: each change works the open episodes out again.

Driven through the action functions, as the pages drive them: the police report a child
in care at 23:00 knowing nothing of her placement; the social worker records the
placement and the GP, school and school nurse the next morning.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from incidents.actions import children as child_actions
from incidents.models import CaseEvent, Involvement, LegalStatus, RiskGrade
from missingkids.accounts.models import Agency
from notifications import engine as engine_module
from notifications.engine import fire_timed_steps, process_pending_reevaluations
from notifications.models import (
    Condition,
    Notification,
    PendingReevaluation,
    ProcessedEvent,
    RecipientRole,
    Step,
    TellerKind,
)
from tests.factories.incidents import ChildFactory
from tests.factories.notifications import RuleFactory

from .engine_world import contacts_fixture  # noqa: F401
from .facts_world import (
    LAST_SEEN,
    NEXT_MORNING,
    REPORTED,
    engine,
    involve,
    live,
    place,
    record_return,
    regrade,
    report,
    set_in_care,
    whom,
)

pytestmark = pytest.mark.django_db

R = RecipientRole
GP = Involvement.Role.GP_PRACTICE
SCHOOL = Involvement.Role.SCHOOL
NURSE = Involvement.Role.SCHOOL_NURSE


@pytest.fixture
def clock():
    with time_machine.travel(REPORTED + dt.timedelta(minutes=5), tick=False) as traveller:
        yield traveller


@pytest.fixture
def girl(contacts, social_worker, area_west, clock):
    """A 14-year-old in care of Cheshire West and Chester; no placement recorded yet."""
    child = ChildFactory(
        responsible_area=area_west,
        legal_status=LegalStatus.NONE,
        created_by=social_worker,
        date_of_birth=dt.date(2011, 9, 1),
    )
    clock.move_to(REPORTED - dt.timedelta(days=30))
    set_in_care(social_worker, child)
    clock.move_to(REPORTED + dt.timedelta(minutes=5))
    return child


def the_next_morning(clock, social_worker, girl, area_east, gp_practice, school, school_nurse):
    clock.move_to(NEXT_MORNING)
    place(social_worker, girl, area_east)
    for agency, role in ((gp_practice, GP), (school, SCHOOL), (school_nurse, NURSE)):
        involve(social_worker, girl, agency, role)


# The audit's sequence -----------------------------------------------------------------


def test_the_report_step_reaches_everyone_once_the_facts_arrive(
    clock, girl, officer, social_worker, area_east, la_east, gp_practice, school, school_nurse
):
    episode = report(officer, girl)
    assert whom(live(episode, Step.REPORTED)) == {
        (R.RESPONSIBLE_LA, "Cheshire West and Chester Council Children's Services"),
        (R.IRO, "Cheshire West and Chester IRO Service"),
    }

    the_next_morning(clock, social_worker, girl, area_east, gp_practice, school, school_nurse)

    reported = {n.recipient_role: n for n in live(episode, Step.REPORTED)}
    assert set(reported) == {R.RESPONSIBLE_LA, R.IRO, R.HOST_LA, R.GP, R.SCHOOL, R.SCHOOL_NURSE}
    assert reported[R.HOST_LA].recipient_agency == la_east
    for role in (R.HOST_LA, R.GP, R.SCHOOL, R.SCHOOL_NURSE):
        late = reported[role]
        # Due 24 hours from when the fact was recorded, not from the report, and marked.
        assert late.late_fact_at == NEXT_MORNING
        assert late.due_at == NEXT_MORNING + dt.timedelta(hours=24)
        assert late.late_fact_event.kind in (
            CaseEvent.Kind.PLACEMENT_ADDED,
            CaseEvent.Kind.INVOLVEMENT_ADDED,
        )
        assert late.delivery == Notification.Delivery.QUEUED
    # The ones known at the report keep their own deadlines and are not marked late.
    assert reported[R.RESPONSIBLE_LA].late_fact_at is None
    assert reported[R.RESPONSIBLE_LA].due_at == REPORTED + dt.timedelta(hours=24)

    # Working it out again changes nothing: each recipient once.
    engine_module.reevaluate_episode(episode.pk, late=engine_module.LateFact(NEXT_MORNING, "x"))
    assert len(live(episode, Step.REPORTED)) == 6


def test_the_same_as_if_every_fact_had_been_known_at_the_report(
    clock, girl, officer, social_worker, area_west, area_east, gp_practice, school, school_nurse
):
    late_episode = report(officer, girl)
    the_next_morning(clock, social_worker, girl, area_east, gp_practice, school, school_nurse)

    known = ChildFactory(
        responsible_area=area_west, legal_status=LegalStatus.NONE, created_by=social_worker
    )
    clock.move_to(REPORTED - dt.timedelta(days=1))
    set_in_care(social_worker, known)
    place(social_worker, known, area_east)
    for agency, role in ((gp_practice, GP), (school, SCHOOL), (school_nurse, NURSE)):
        involve(social_worker, known, agency, role)
    clock.move_to(REPORTED + dt.timedelta(minutes=5))
    known_episode = report(officer, known)

    def told(episode):
        return {(n.rule_id, n.recipient_key) for n in live(episode)}

    assert told(late_episode) == told(known_episode)
    assert not any(n.late_fact_at for n in live(known_episode))


# Each trigger -------------------------------------------------------------------------


def test_an_ended_placement_withdraws_what_was_not_yet_made(
    clock, girl, officer, social_worker, area_east
):
    episode = report(officer, girl)
    clock.move_to(NEXT_MORNING)
    placement = place(social_worker, girl, area_east)
    host = Notification.objects.get(episode=episode, recipient_role=R.HOST_LA)

    # Corrected: she left that placement before she went missing.
    child_actions.placement_end(
        acting_user=social_worker, placement=placement, end=LAST_SEEN.date() - dt.timedelta(days=3)
    )
    engine()

    host.refresh_from_db()
    assert host.status == Notification.Status.CANCELLED
    assert host.cancelled_reason.startswith("No longer applies after: placement ended")
    assert host.withdrawn_at is not None
    assert host.delivery == Notification.Delivery.NOT_BY_EMAIL
    assert host.next_attempt_at is None


def test_a_notification_already_sent_stays_as_history(
    clock, girl, officer, social_worker, gp_practice
):
    episode = report(officer, girl)
    clock.move_to(NEXT_MORNING)
    involvement = involve(social_worker, girl, gp_practice, GP)
    gp = Notification.objects.get(episode=episode, recipient_role=R.GP)
    Notification.objects.filter(pk=gp.pk).update(
        status=Notification.Status.SENT, delivery=Notification.Delivery.DELIVERED
    )

    child_actions.involvement_end(
        acting_user=social_worker, involvement=involvement, end=LAST_SEEN.date() - dt.timedelta(1)
    )
    engine()

    gp.refresh_from_db()
    assert gp.status == Notification.Status.SENT


def test_a_fact_undone_and_redone_makes_the_withdrawn_notification_due_again(
    clock, girl, officer, social_worker, gp_practice
):
    episode = report(officer, girl)
    clock.move_to(NEXT_MORNING)
    first = involve(social_worker, girl, gp_practice, GP)
    child_actions.involvement_end(
        acting_user=social_worker, involvement=first, end=LAST_SEEN.date() - dt.timedelta(1)
    )
    engine()
    assert not live(episode, Step.REPORTED) or R.GP not in {
        n.recipient_role for n in live(episode, Step.REPORTED)
    }

    clock.move_to(NEXT_MORNING + dt.timedelta(hours=2))
    involve(social_worker, girl, gp_practice, GP, start=NEXT_MORNING.date())

    gp = Notification.objects.get(episode=episode, recipient_role=R.GP, step=Step.REPORTED)
    assert gp.status == Notification.Status.DUE
    assert gp.withdrawn_at is None and gp.cancelled_reason == ""
    assert gp.due_at == NEXT_MORNING + dt.timedelta(hours=26)
    assert gp.delivery == Notification.Delivery.QUEUED


def test_legal_status_recorded_late_tells_the_iro(
    clock, contacts, officer, social_worker, area_west
):
    child = ChildFactory(
        responsible_area=area_west, legal_status=LegalStatus.NONE, created_by=social_worker
    )
    episode = report(officer, child)
    assert R.IRO not in {n.recipient_role for n in live(episode)}

    clock.move_to(NEXT_MORNING)
    set_in_care(social_worker, child, start=dt.date(2026, 1, 5))

    iro = Notification.objects.get(episode=episode, recipient_role=R.IRO)
    assert iro.late_fact == "Legal status changed"
    assert iro.due_at == NEXT_MORNING + dt.timedelta(hours=24)


def test_re_grading_to_high_risk_shortens_what_is_still_due_and_fires_high_risk_rules(
    clock, girl, officer, contacts
):
    head = RuleFactory(
        name="Reported: head of service told of a high-risk child",
        step=Step.REPORTED,
        condition=Condition.RISK_AT_LEAST,
        risk_at_least=RiskGrade.HIGH,
        teller=TellerKind.RESPONSIBLE_LA,
        recipient=R.HEAD_OF_SERVICE,
        due_after_hours=Decimal(1),
    )
    episode = report(officer, girl)
    la = Notification.objects.get(episode=episode, recipient_role=R.RESPONSIBLE_LA)
    iro = Notification.objects.get(episode=episode, recipient_role=R.IRO)
    assert la.due_at == REPORTED + dt.timedelta(hours=24)
    assert not Notification.objects.filter(rule=head).exists()

    regraded = REPORTED + dt.timedelta(hours=3)
    clock.move_to(regraded)
    regrade(officer, episode, RiskGrade.HIGH)

    la.refresh_from_db()
    iro.refresh_from_db()
    # 2 hours for a high-risk child, from when the grade was recorded.
    assert la.due_at == regraded + dt.timedelta(hours=2)
    assert iro.due_at == REPORTED + dt.timedelta(hours=24)  # no high-risk time: unchanged
    fired = Notification.objects.get(rule=head)
    assert fired.recipient_contact == contacts["head_of_service"]
    assert fired.late_fact == "Risk re-graded"
    assert fired.due_at == regraded + dt.timedelta(hours=1)

    # A lower grade later never buys the police more time, nor withdraws anything.
    clock.move_to(regraded + dt.timedelta(minutes=30))
    regrade(officer, episode, RiskGrade.LOW)
    la.refresh_from_db()
    assert la.due_at == regraded + dt.timedelta(hours=2)
    assert Notification.objects.get(rule=head).status == Notification.Status.DUE


def test_high_risk_at_the_report_gives_two_hours_from_the_report(clock, girl, officer):
    episode = report(officer, girl, risk=RiskGrade.HIGH)
    la = Notification.objects.get(episode=episode, recipient_role=R.RESPONSIBLE_LA)
    assert la.due_at == REPORTED + dt.timedelta(hours=2)


def test_a_reporters_concern_is_not_the_police_grade(clock, girl, social_worker, officer):
    """A council worker reporting "high" gives their concern: the rules wait for the police
    grade, and run from when the police give it."""
    head = RuleFactory(
        name="Reported: head of service told of a high-risk child",
        step=Step.REPORTED,
        condition=Condition.RISK_AT_LEAST,
        risk_at_least=RiskGrade.HIGH,
        teller=TellerKind.RESPONSIBLE_LA,
        recipient=R.HEAD_OF_SERVICE,
        due_after_hours=Decimal(1),
    )
    episode = report(social_worker, girl, risk=RiskGrade.HIGH)

    la = Notification.objects.get(episode=episode, recipient_role=R.RESPONSIBLE_LA)
    assert la.due_at == REPORTED + dt.timedelta(hours=24)  # not the 2 hours of high risk
    assert not Notification.objects.filter(rule=head).exists()

    graded = REPORTED + dt.timedelta(hours=1)
    clock.move_to(graded)
    regrade(officer, episode, RiskGrade.HIGH)

    la.refresh_from_db()
    assert la.due_at == graded + dt.timedelta(hours=2)
    assert Notification.objects.get(rule=head).due_at == graded + dt.timedelta(hours=1)


def test_a_responsible_council_changed_later_moves_who_is_told(
    clock, contacts, officer, social_worker, area_west, area_east, la_east
):
    child = ChildFactory(
        responsible_area=area_west, legal_status=LegalStatus.NONE, created_by=social_worker
    )
    episode = report(officer, child)
    west = Notification.objects.get(episode=episode, recipient_role=R.RESPONSIBLE_LA)

    clock.move_to(NEXT_MORNING)
    child.refresh_from_db()
    child_actions.child_update(
        acting_user=social_worker,
        child=child,
        expected_version=child.version,
        responsible_area=area_east,
    )
    engine()

    west.refresh_from_db()
    assert west.status == Notification.Status.CANCELLED
    east = Notification.objects.get(
        episode=episode, recipient_role=R.RESPONSIBLE_LA, status=Notification.Status.DUE
    )
    assert east.recipient_agency == la_east


def test_a_recipient_configured_later_replaces_the_problem(
    clock, girl, officer, iro_service, django_capture_on_commit_callbacks
):
    Agency.objects.filter(pk=iro_service.pk).update(active=False)
    episode = report(officer, girl)
    problem = Notification.objects.get(episode=episode, recipient_role=R.IRO)
    assert problem.problem.startswith("No independent reviewing officer configured")

    clock.move_to(NEXT_MORNING)
    with django_capture_on_commit_callbacks(execute=True):
        iro_service.active = True
        iro_service.save()

    problem.refresh_from_db()
    assert problem.status == Notification.Status.CANCELLED
    assert problem.cancelled_reason.startswith("A recipient was found after")
    iro = Notification.objects.get(
        episode=episode, recipient_role=R.IRO, status=Notification.Status.DUE
    )
    assert iro.recipient_agency == iro_service
    assert iro.due_at == NEXT_MORNING + dt.timedelta(hours=24)
    assert not PendingReevaluation.objects.exists()


def test_a_closed_episode_is_left_as_it_was(
    clock, girl, officer, social_worker, manager, gp_practice
):
    episode = report(officer, girl)
    clock.move_to(NEXT_MORNING)
    record_return(officer, episode, REPORTED + dt.timedelta(hours=5))
    type(episode).objects.filter(pk=episode.pk).update(
        closed_at=REPORTED + dt.timedelta(hours=6), closed_by=manager
    )
    before = Notification.objects.filter(episode=episode).count()

    clock.move_to(NEXT_MORNING + dt.timedelta(hours=1))
    involve(social_worker, girl, gp_practice, GP)

    assert Notification.objects.filter(episode=episode).count() == before


def test_timed_steps_already_reached_are_worked_out_again(
    clock, contacts, officer, social_worker, area_west, la_west
):
    child = ChildFactory(
        responsible_area=area_west, legal_status=LegalStatus.NONE, created_by=social_worker
    )
    episode = report(officer, child)
    fire_timed_steps(now=LAST_SEEN + dt.timedelta(hours=25))
    manager_told = Notification.objects.get(episode=episode, step=Step.STILL_MISSING_24H)
    assert manager_told.recipient_contact == contacts["team_manager"]

    # The manager's contact is switched off: the escalation already made stays; a
    # withdrawn recipient is only ever one nobody has been told yet.
    clock.move_to(LAST_SEEN + dt.timedelta(hours=26))
    regrade(officer, episode, RiskGrade.HIGH)
    manager_told.refresh_from_db()
    assert manager_told.status == Notification.Status.DUE
    assert Notification.objects.filter(episode=episode, step=Step.STILL_MISSING_24H).count() == 1


# Bad input and failures ---------------------------------------------------------------


def test_bad_facts_are_refused_by_the_field_and_nothing_is_worked_out(
    clock, girl, officer, social_worker, area_east, gp_practice
):
    episode = report(officer, girl)
    involve(social_worker, girl, gp_practice, GP)
    events = CaseEvent.objects.count()
    rows = Notification.objects.count()

    with pytest.raises(ValidationError) as future:
        child_actions.placement_add(
            acting_user=social_worker,
            child=girl,
            start=dt.date(2026, 3, 20),
            type="foster",
            address="1 Example Road",
            postcode="CW1 2AB",
            host_area=area_east,
        )
    assert "start" in future.value.message_dict
    with pytest.raises(ValidationError) as backwards:
        child_actions.placement_add(
            acting_user=social_worker,
            child=girl,
            start=dt.date(2026, 2, 1),
            end=dt.date(2026, 1, 1),
            type="foster",
            address="1 Example Road",
            postcode="CW1 2AB",
            host_area=area_east,
        )
    assert "end" in backwards.value.message_dict
    with pytest.raises(ValidationError) as twice:
        child_actions.involvement_add(
            acting_user=social_worker,
            child=girl,
            agency=gp_practice,
            role=GP,
            start=dt.date(2026, 1, 1),
        )
    assert "agency" in twice.value.message_dict
    with pytest.raises(ValidationError) as future_involvement:
        child_actions.involvement_add(
            acting_user=social_worker,
            child=girl,
            agency=gp_practice,
            role=SCHOOL,
            start=dt.date(2026, 4, 1),
        )
    assert "start" in future_involvement.value.message_dict
    engine()

    assert CaseEvent.objects.count() == events
    assert Notification.objects.count() == rows
    assert episode.notifications.filter(recipient_role=R.HOST_LA).count() == 0


def test_a_failed_re_evaluation_keeps_the_fact_and_is_retried(
    clock, girl, officer, social_worker, area_east, monkeypatch
):
    episode = report(officer, girl)

    def unavailable(*args, **kwargs):
        raise ConnectionError("database unavailable")

    clock.move_to(NEXT_MORNING)
    with monkeypatch.context() as patched:
        patched.setattr(engine_module, "reconcile", unavailable)
        placement = place(social_worker, girl, area_east)

    # The fact is saved, its event waits without a receipt, no half-written rows.
    assert placement.pk
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.PLACEMENT_ADDED, child=girl)
    assert event.is_protocol
    assert not ProcessedEvent.objects.filter(event=event).exists()
    assert not Notification.objects.filter(episode=episode, recipient_role=R.HOST_LA).exists()

    assert engine() == 1  # the scheduler's next pass
    assert ProcessedEvent.objects.filter(event=event).exists()
    host = Notification.objects.get(episode=episode, recipient_role=R.HOST_LA)
    assert host.late_fact_at == NEXT_MORNING


def test_a_failed_flagged_re_evaluation_keeps_its_flag(clock, girl, officer, monkeypatch):
    episode = report(officer, girl)
    PendingReevaluation.objects.create(episode=episode, reason="a change to contacts")
    monkeypatch.setattr(engine_module, "reconcile", lambda *a, **k: 1 / 0)

    assert process_pending_reevaluations() == 0
    assert PendingReevaluation.objects.filter(episode=episode).exists()

    monkeypatch.undo()
    assert process_pending_reevaluations() == 1
    assert not PendingReevaluation.objects.exists()


# On the episode page ------------------------------------------------------------------


def test_the_episode_page_shows_late_facts_and_work_in_progress(
    client, clock, girl, officer, social_worker, area_east, monkeypatch
):
    episode = report(officer, girl)
    clock.move_to(NEXT_MORNING)
    with monkeypatch.context() as patched:
        patched.setattr(engine_module, "reconcile", lambda *a, **k: 1 / 0)
        place(social_worker, girl, area_east)
    client.force_login(social_worker)
    url = reverse("incidents:episode_detail", args=[episode.pk])

    page = client.get(url).content.decode()
    assert 'data-testid="notifications-reworking"' in page
    assert "still being worked through" in page

    engine()
    page = client.get(url).content.decode()
    assert 'data-testid="notifications-reworking"' not in page
    assert "Host local authority" in page
    assert "Late fact: due from when placement added was recorded, 11 Mar 2026 09:15" in page


def test_the_measures_do_not_count_the_teller_late_for_a_late_fact(
    clock, girl, officer, social_worker, manager, gp_practice
):
    from oversight import queries
    from oversight.filters import Filters

    episode = report(officer, girl)
    clock.move_to(NEXT_MORNING)
    involve(social_worker, girl, gp_practice, GP, start=NEXT_MORNING.date())
    rows = {n.recipient_role: n for n in live(episode, Step.REPORTED)}
    assert set(rows) == {R.RESPONSIBLE_LA, R.IRO, R.GP}
    told = Notification.Status.TOLD
    # The police told the council within the hour; the IRO was never told; the GP was
    # told 33 hours after the report but 23 hours after anyone knew of the GP.
    Notification.objects.filter(pk=rows[R.RESPONSIBLE_LA].pk).update(
        status=told, told_at=REPORTED + dt.timedelta(hours=1)
    )
    Notification.objects.filter(pk=rows[R.GP].pk).update(
        status=told, told_at=NEXT_MORNING + dt.timedelta(hours=23)
    )

    data = queries.measures(manager, Filters(months=1), NEXT_MORNING + dt.timedelta(hours=30))

    march = data.by_month[-1]
    assert (march["notifications_due"], march["notifications_on_time"]) == (3, 2)


# A child who declines every time ------------------------------------------------------


def test_declining_after_each_of_the_last_returns_tells_the_social_worker_and_manager(
    contacts, officer, social_worker, area_west, la_west
):
    from incidents.models import ReturnInterview
    from tests.factories.incidents import EpisodeFactory, ReturnInterviewFactory

    from .engine_world import make_event

    child = ChildFactory(
        responsible_area=area_west, legal_status=LegalStatus.NONE, created_by=social_worker
    )
    start = dt.datetime(2026, 1, 5, 18, 0, tzinfo=dt.UTC)
    events = []
    for n in range(3):
        seen = start + dt.timedelta(days=20 * n)
        episode = EpisodeFactory(
            child=child,
            last_seen_at=seen,
            reported_at=seen + dt.timedelta(minutes=30),
            found_at=seen + dt.timedelta(hours=6),
            created_by=officer,
        )
        declined = seen + dt.timedelta(hours=30)
        ReturnInterviewFactory(
            episode=episode,
            owner=la_west,
            outcome=ReturnInterview.Outcome.DECLINED,
            declined_at=declined,
        )
        events.append(
            make_event(episode, social_worker, CaseEvent.Kind.INTERVIEW_DECLINED, declined)
        )
        engine()

    stuck = Notification.objects.filter(step=Step.NOT_ENGAGING)
    # Not after the first or second decline; after the third, both recipients.
    assert {n.episode_id for n in stuck} == {events[2].episode_id}
    assert {n.recipient_role for n in stuck} == {R.SOCIAL_WORKER, R.TEAM_MANAGER}
    assert all(n.event_id == events[2].pk for n in stuck)
