"""When the record overtakes a notification: a check the police shared is recorded as
told, a reminder whose task was recorded first is cancelled with its reason, and an
escalation that fell due stays; each conditional, so nothing recorded is overwritten."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction
from django.urls import reverse
from django.utils.html import escape

from incidents.actions.episodes import episode_record_return, episode_report
from incidents.actions.interviews import safe_and_well_record, safe_and_well_share
from incidents.models import CaseEvent, ReturnInterview
from notifications.engine import fire_timed_steps, process_event
from notifications.models import (
    Method,
    Notification,
    ProcessedEvent,
    RecipientRole,
    Step,
    TellerKind,
)
from notifications.sending import Outcome, claim_next, send_claimed
from tests.factories.incidents import ReturnInterviewFactory, SafeAndWellCheckFactory
from tests.factories.notifications import RuleFactory, ensure_default_rules

from .engine_world import (
    UTC,
    child_fixture,  # noqa: F401
    contacts_fixture,  # noqa: F401
    make_episode,
    make_event,
    notify,
)

pytestmark = pytest.mark.django_db

S = Notification.Status
D = Notification.Delivery
K = CaseEvent.Kind

LAST_SEEN = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
FOUND = LAST_SEEN + dt.timedelta(hours=20)
CONDUCTED = FOUND + dt.timedelta(hours=2)
SHARED = CONDUCTED + dt.timedelta(hours=3)

CHECK_REASON = "The check was recorded before anyone was told"
INTERVIEW_REASON = "The interview was recorded before anyone was told"


@pytest.fixture
def episode(child, officer):
    return make_episode(child, officer, last_seen=LAST_SEEN, found_at=FOUND)


def _check_notification(episode) -> Notification:
    return Notification.objects.select_related("recipient_agency").get(
        episode=episode, step=Step.SAFE_AND_WELL_DONE, recipient_role=RecipientRole.RESPONSIBLE_LA
    )


def _claimable() -> set[int]:
    """What a sending worker would pick up now."""
    claimed = set()
    while (notification := claim_next(worker="w1")) is not None:
        claimed.add(notification.pk)
    return claimed


def _share(episode, user, at=SHARED, **data):
    return make_event(episode, user, K.SAFE_AND_WELL_SHARED, at, **data)


# A shared safe and well check ---------------------------------------------------------


def test_sharing_the_check_records_the_la_as_told(episode, officer, la_west):
    notify(episode, officer, K.SAFE_AND_WELL_DONE, CONDUCTED)
    waiting = _check_notification(episode)
    assert (waiting.status, waiting.delivery) == (S.DUE, D.QUEUED)

    process_event(_share(episode, officer).pk)

    told = _check_notification(episode)
    assert told.status == S.TOLD
    assert told.method == Method.SECURE_EMAIL
    assert told.told_at == SHARED
    assert told.told_by == officer
    assert told.told_whom == la_west.name
    assert "police recorded when they shared it" in told.notes
    # The e-mail would only repeat what the police already did.
    assert (told.delivery, told.next_attempt_at) == (D.NOT_BY_EMAIL, None)
    assert told.pk not in _claimable()


def test_sharing_uses_the_method_the_event_names(episode, officer):
    notify(episode, officer, K.SAFE_AND_WELL_DONE, CONDUCTED)

    process_event(_share(episode, officer, method=Method.PHONE).pk)

    assert _check_notification(episode).method == Method.PHONE


def test_sharing_touches_only_the_la_notifications_of_the_check(episode, officer, la_west):
    returned = notify(episode, officer, K.RETURNED, FOUND)
    RuleFactory(
        step=Step.SAFE_AND_WELL_DONE,
        teller=TellerKind.POLICE,
        recipient=RecipientRole.TEAM_MANAGER,
        due_after_hours=Decimal(24),
    )
    notify(episode, officer, K.SAFE_AND_WELL_DONE, CONDUCTED)

    process_event(_share(episode, officer).pk)

    assert {n.status for n in Notification.objects.filter(pk__in=[r.pk for r in returned])} == {
        S.DUE
    }
    manager = Notification.objects.get(
        episode=episode, step=Step.SAFE_AND_WELL_DONE, recipient_role=RecipientRole.TEAM_MANAGER
    )
    assert manager.status == S.DUE
    assert _check_notification(episode).status == S.TOLD


@pytest.mark.parametrize(
    ("recorded", "method"),
    [
        ({"status": S.TOLD, "method": Method.PHONE}, Method.PHONE),
        ({"status": S.SENT, "method": Method.EMAIL}, Method.EMAIL),
        ({"status": S.CANCELLED, "cancelled_reason": "Duplicate"}, ""),
    ],
)
def test_sharing_never_overwrites_what_is_recorded(episode, officer, manager, recorded, method):
    notify(episode, officer, K.SAFE_AND_WELL_DONE, CONDUCTED)
    earlier = CONDUCTED + dt.timedelta(hours=1)
    Notification.objects.filter(episode=episode).update(
        told_at=earlier, told_by=manager, told_whom="Duty desk", **recorded
    )

    process_event(_share(episode, officer).pk)

    kept = _check_notification(episode)
    assert (kept.status, kept.method, kept.told_at, kept.told_by) == (
        recorded["status"],
        method,
        earlier,
        manager,
    )
    assert kept.told_whom == "Duty desk"


def test_sharing_twice_changes_nothing(episode, officer, social_worker):
    notify(episode, officer, K.SAFE_AND_WELL_DONE, CONDUCTED)
    event = _share(episode, officer)
    process_event(event.pk)
    first = _check_notification(episode)

    ProcessedEvent.objects.filter(event=event).delete()
    process_event(event.pk)
    # A second, later record of the sharing does not move the first.
    process_event(_share(episode, social_worker, at=SHARED + dt.timedelta(hours=1)).pk)

    again = _check_notification(episode)
    assert (again.told_at, again.told_by_id, again.status) == (
        first.told_at,
        first.told_by_id,
        S.TOLD,
    )


def test_a_check_recorded_as_already_shared_is_told_when_its_rows_are_made(episode, officer):
    notify(
        episode,
        officer,
        K.SAFE_AND_WELL_DONE,
        CONDUCTED,
        shared=True,
        shared_at=SHARED.isoformat(),
    )

    told = _check_notification(episode)
    assert (told.status, told.method, told.told_at, told.told_by) == (
        S.TOLD,
        Method.SECURE_EMAIL,
        SHARED,
        officer,
    )
    assert told.delivery == D.NOT_BY_EMAIL


def test_a_check_not_shared_when_recorded_stays_due(episode, officer):
    notify(episode, officer, K.SAFE_AND_WELL_DONE, CONDUCTED, shared=False, shared_at=None)

    assert _check_notification(episode).status == S.DUE


def test_a_sharing_processed_before_its_check_still_completes_it(episode, officer, social_worker):
    done = make_event(episode, officer, K.SAFE_AND_WELL_DONE, CONDUCTED, shared=False)
    # The check's own event failed first time round; the sharing went through.
    process_event(_share(episode, social_worker).pk)

    process_event(done.pk)

    told = _check_notification(episode)
    assert (told.status, told.told_at, told.told_by) == (S.TOLD, SHARED, social_worker)


def test_an_email_being_sent_finishes_and_the_sharing_stands(episode, officer):
    notify(episode, officer, K.SAFE_AND_WELL_DONE, CONDUCTED)
    claimed = claim_next(worker="w1")
    assert claimed.step == Step.SAFE_AND_WELL_DONE

    process_event(_share(episode, officer).pk)
    assert _check_notification(episode).delivery == D.SENDING

    assert send_claimed(claimed, worker="w1", now=claimed.claimed_at) == Outcome.DELIVERED
    final = _check_notification(episode)
    assert (final.status, final.method, final.delivery) == (
        S.TOLD,
        Method.SECURE_EMAIL,
        D.DELIVERED,
    )
    assert len(mail.outbox) == 1


# Reminders whose task was recorded first ----------------------------------------------


@pytest.fixture
def reminders():
    return {
        step: RuleFactory(
            step=step,
            teller=TellerKind.RESPONSIBLE_LA,
            recipient=RecipientRole.TEAM_MANAGER,
            due_after_hours=Decimal(2),
        )
        for step in (Step.SAFE_AND_WELL_DUE, Step.INTERVIEW_DUE)
    }


def _reminder(episode, step) -> Notification:
    return Notification.objects.get(episode=episode, step=step)


def _fire_at(at: dt.datetime) -> None:
    fire_timed_steps(now=at)


def test_check_recorded_after_the_reminder_fired_cancels_it(episode, officer, reminders):
    _fire_at(FOUND + dt.timedelta(hours=24))
    reminder = _reminder(episode, Step.SAFE_AND_WELL_DUE)
    assert (reminder.status, reminder.delivery) == (S.DUE, D.QUEUED)

    notify(episode, officer, K.SAFE_AND_WELL_DONE, FOUND + dt.timedelta(hours=25))

    cancelled = _reminder(episode, Step.SAFE_AND_WELL_DUE)
    assert cancelled.status == S.CANCELLED
    assert cancelled.cancelled_reason == CHECK_REASON
    assert (cancelled.delivery, cancelled.next_attempt_at) == (D.NOT_BY_EMAIL, None)
    assert cancelled.told_by is None
    assert cancelled.pk not in _claimable()


@pytest.mark.parametrize("kind", [K.INTERVIEW_HELD, K.INTERVIEW_DECLINED])
def test_interview_recorded_after_the_reminder_fired_cancels_it(
    episode, provider_worker, reminders, kind
):
    _fire_at(FOUND + dt.timedelta(hours=72))
    # Not due yet (2 hours): the cancellation does not wait for the deadline.
    notify(episode, provider_worker, kind, FOUND + dt.timedelta(hours=73))

    cancelled = _reminder(episode, Step.INTERVIEW_DUE)
    assert (cancelled.status, cancelled.cancelled_reason) == (S.CANCELLED, INTERVIEW_REASON)


def test_the_check_does_not_cancel_the_interview_reminder(episode, officer, reminders):
    _fire_at(FOUND + dt.timedelta(hours=72))

    notify(episode, officer, K.SAFE_AND_WELL_DONE, FOUND + dt.timedelta(hours=73))

    assert _reminder(episode, Step.SAFE_AND_WELL_DUE).status == S.CANCELLED
    assert _reminder(episode, Step.INTERVIEW_DUE).status == S.DUE


@pytest.mark.parametrize(
    ("made", "delivery"),
    [
        ({"status": S.SENT, "method": Method.EMAIL}, D.DELIVERED),
        ({"status": S.TOLD, "method": Method.PHONE}, D.NOT_BY_EMAIL),
        ({"status": S.DUE}, D.SENDING),
    ],
)
def test_a_reminder_already_made_or_being_sent_stays(episode, officer, reminders, made, delivery):
    _fire_at(FOUND + dt.timedelta(hours=24))
    Notification.objects.filter(step=Step.SAFE_AND_WELL_DUE).update(delivery=delivery, **made)

    notify(episode, officer, K.SAFE_AND_WELL_DONE, FOUND + dt.timedelta(hours=25))

    kept = _reminder(episode, Step.SAFE_AND_WELL_DUE)
    assert (kept.status, kept.delivery, kept.cancelled_reason) == (made["status"], delivery, "")


def test_a_reminder_that_fires_after_the_check_was_recorded_is_kept_cancelled(
    episode, officer, police, reminders
):
    # Done late (hour 30) and recorded before the scheduler got round to the step.
    SafeAndWellCheckFactory(
        episode=episode,
        agency=police,
        recorded_by=officer,
        conducted_at=FOUND + dt.timedelta(hours=30),
    )
    _fire_at(FOUND + dt.timedelta(hours=31))

    reminder = _reminder(episode, Step.SAFE_AND_WELL_DUE)
    assert (reminder.status, reminder.cancelled_reason) == (S.CANCELLED, CHECK_REASON)
    assert reminder.delivery == D.NOT_BY_EMAIL


def test_an_interview_recorded_before_the_late_step_fires_is_kept_cancelled(
    episode, la_west, reminders
):
    ReturnInterviewFactory(
        episode=episode,
        owner=la_west,
        outcome=ReturnInterview.Outcome.DECLINED,
        declined_at=FOUND + dt.timedelta(hours=80),
    )
    _fire_at(FOUND + dt.timedelta(hours=90))

    reminder = _reminder(episode, Step.INTERVIEW_DUE)
    assert (reminder.status, reminder.cancelled_reason) == (S.CANCELLED, INTERVIEW_REASON)


def test_a_check_done_in_time_still_means_no_reminder(episode, officer, police, reminders):
    SafeAndWellCheckFactory(
        episode=episode, agency=police, recorded_by=officer, conducted_at=CONDUCTED
    )
    _fire_at(FOUND + dt.timedelta(hours=31))

    assert not Notification.objects.filter(step=Step.SAFE_AND_WELL_DUE).exists()


def test_an_escalation_stays_when_the_child_is_found_after_it_fell_due(child, officer):
    episode = make_episode(child, officer, last_seen=LAST_SEEN)
    _fire_at(LAST_SEEN + dt.timedelta(hours=72, minutes=5))
    escalation = _reminder(episode, Step.STILL_MISSING_72H)
    assert escalation.status == S.DUE

    found = LAST_SEEN + dt.timedelta(hours=73)
    episode.found_at = found
    episode.save(update_fields=["found_at"])
    notify(episode, officer, K.RETURNED, found)

    kept = _reminder(episode, Step.STILL_MISSING_72H)
    assert (kept.status, kept.cancelled_reason) == (S.DUE, "")


# End to end and on the episode page ---------------------------------------------------


def test_end_to_end_the_check_shared_later_shows_as_done(
    client, child, officer, police, la_west, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        episode = episode_report(
            acting_user=officer,
            child=child,
            category="missing",
            reported_at=LAST_SEEN + dt.timedelta(hours=1),
            reported_by_name="Parent",
            reported_by_agency=None,
            last_seen_at=LAST_SEEN,
            circumstances="Did not come home.",
            risk="medium",
            risk_rationale="Has gone before.",
        )
    with django_capture_on_commit_callbacks(execute=True):
        episode_record_return(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            found_at=FOUND,
            how_returned="police",
        )
    with django_capture_on_commit_callbacks(execute=True):
        check = safe_and_well_record(
            acting_user=officer,
            episode=episode,
            officer_name="PC Sam Okafor",
            conducted_at=CONDUCTED,
            face_to_face=True,
            outcome="Safe and well.",
        )
    assert _check_notification(episode).status == S.DUE

    with django_capture_on_commit_callbacks(execute=True):
        safe_and_well_share(
            acting_user=officer,
            check=check,
            shared_at=SHARED,
            method=Method.PHONE,
            shared_with="Jo Whitfield, duty social worker",
        )

    told = _check_notification(episode)
    assert (told.status, told.told_at, told.told_by) == (S.TOLD, SHARED, officer)
    # What the check records, the notification says: how, and whom.
    assert (told.method, told.told_whom) == (Method.PHONE, "Jo Whitfield, duty social worker")
    client.force_login(officer)
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    assert escape(f"{officer.name} told Jo Whitfield, duty social worker") in page
    assert "police recorded when they shared it" in page


def test_end_to_end_a_check_recorded_as_shared_is_done_at_once(
    child, officer, police, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        episode = episode_report(
            acting_user=officer,
            child=child,
            category="missing",
            reported_at=LAST_SEEN + dt.timedelta(hours=1),
            reported_by_name="Parent",
            reported_by_agency=None,
            last_seen_at=LAST_SEEN,
            circumstances="Did not come home.",
            risk="medium",
            risk_rationale="Has gone before.",
        )
        episode_record_return(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            found_at=FOUND,
            how_returned="police",
        )
    with django_capture_on_commit_callbacks(execute=True):
        safe_and_well_record(
            acting_user=officer,
            episode=episode,
            officer_name="PC Sam Okafor",
            conducted_at=CONDUCTED,
            face_to_face=True,
            outcome="Safe and well.",
            shared_with_la_at=SHARED,
            shared_method=Method.SECURE_EMAIL,
            shared_with="Front door",
        )

    told = _check_notification(episode)
    assert (told.status, told.method, told.told_at) == (S.TOLD, Method.SECURE_EMAIL, SHARED)
    assert told.told_whom == "Front door"


def test_checklist_shows_why_a_reminder_was_cancelled(client, episode, officer, reminders):
    _fire_at(FOUND + dt.timedelta(hours=24))
    # The e-mail had failed for good: nobody should now be sent to "tell them another way".
    Notification.objects.filter(step=Step.SAFE_AND_WELL_DUE).update(delivery=D.FAILED)
    notify(episode, officer, K.SAFE_AND_WELL_DONE, FOUND + dt.timedelta(hours=25))

    client.force_login(officer)
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()

    assert f"Cancelled: {CHECK_REASON}" in page
    assert "tell them another way" not in page


# At once, on PostgreSQL ---------------------------------------------------------------


def _record_while_engine_runs(pk: int, values: dict, engine_work) -> None:
    """A person's record holds the row while the engine settles it; theirs commits first."""
    locked = threading.Event()
    errors: list[BaseException] = []

    def person() -> None:
        try:
            with transaction.atomic():
                assert Notification.objects.filter(pk=pk, status=S.DUE).update(**values) == 1
                locked.set()
                time.sleep(0.5)
        except BaseException as error:
            errors.append(error)
            locked.set()
        finally:
            connection.close()

    thread = threading.Thread(target=person)
    thread.start()
    assert locked.wait(timeout=10)
    engine_work()
    thread.join(timeout=30)
    assert errors == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_person_recording_the_call_first_wins_over_the_sharing(postgres_only, child, officer):
    episode = make_episode(child, officer, last_seen=LAST_SEEN, found_at=FOUND)
    notify(episode, officer, K.SAFE_AND_WELL_DONE, CONDUCTED)
    pk = _check_notification(episode).pk
    phoned = CONDUCTED + dt.timedelta(hours=1)

    _record_while_engine_runs(
        pk,
        {"status": S.TOLD, "method": Method.PHONE, "told_at": phoned, "told_whom": "Duty desk"},
        # The event is made here: saving it is what sets the engine going.
        lambda: process_event(_share(episode, officer).pk),
    )

    kept = Notification.objects.get(pk=pk)
    assert (kept.status, kept.method, kept.told_at, kept.told_whom) == (
        S.TOLD,
        Method.PHONE,
        phoned,
        "Duty desk",
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_person_recording_the_call_first_wins_over_the_cancellation(
    postgres_only, child, officer
):
    ensure_default_rules()
    episode = make_episode(child, officer, last_seen=LAST_SEEN, found_at=FOUND)
    RuleFactory(
        step=Step.SAFE_AND_WELL_DUE,
        teller=TellerKind.RESPONSIBLE_LA,
        recipient=RecipientRole.TEAM_MANAGER,
        due_after_hours=Decimal(2),
    )
    _fire_at(FOUND + dt.timedelta(hours=24))
    pk = _reminder(episode, Step.SAFE_AND_WELL_DUE).pk
    done_at = FOUND + dt.timedelta(hours=25)

    _record_while_engine_runs(
        pk,
        {"status": S.TOLD, "method": Method.PHONE, "told_whom": "Team manager"},
        lambda: notify(episode, officer, K.SAFE_AND_WELL_DONE, done_at),
    )

    kept = Notification.objects.get(pk=pk)
    assert (kept.status, kept.cancelled_reason) == (S.TOLD, "")
