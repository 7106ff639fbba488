"""One truth about the safe and well check's sharing: the local authority's e-mail, a
person's "told them" on that notification and the check's own "Record sharing" all write
the same record on the check, and the notification and the check never disagree."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from incidents.actions.episodes import episode_record_return, episode_report
from incidents.actions.interviews import safe_and_well_record, safe_and_well_share
from incidents.models import CaseEvent, Episode, LegalStatus, SafeAndWellCheck, SharingMethod
from notifications.models import Method, Notification, RecipientRole, Step, TellerKind
from notifications.sending import claim_next, send_claimed, send_due_notifications
from oversight import queries
from oversight.filters import Filters
from tests.factories.incidents import ChildFactory
from tests.factories.notifications import RuleFactory

from .engine_world import child_fixture, contacts_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

S = Notification.Status
D = Notification.Delivery
H = dt.timedelta(hours=1)


def when(name: str, moment: dt.datetime) -> dict[str, str]:
    local = timezone.localtime(moment)
    return {
        f"{name}_0": str(local.day),
        f"{name}_1": str(local.month),
        f"{name}_2": str(local.year),
        f"{name}_3": local.strftime("%H:%M"),
    }


@pytest.fixture
def episode(child, officer, django_capture_on_commit_callbacks) -> Episode:
    """Reported six hours ago and found three hours ago, through the actions."""
    return _found_episode(child, officer, django_capture_on_commit_callbacks)


def _found_episode(child, officer, django_capture_on_commit_callbacks) -> Episode:  # type: ignore[no-untyped-def]
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        episode = episode_report(
            acting_user=officer,
            child=child,
            category=Episode.Category.MISSING,
            reported_at=now - 5 * H,
            reported_by_name="Parent",
            last_seen_at=now - 6 * H,
            circumstances="Did not come home.",
            risk="medium",
            risk_rationale="Has gone before.",
        )
    with django_capture_on_commit_callbacks(execute=True):
        episode_record_return(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            found_at=now - 3 * H,
            how_returned="police",
        )
    # Everything about the report and the return has gone: only the check's e-mail is new.
    send_due_notifications(worker="setup", limit=100)
    mail.outbox.clear()
    return episode


@pytest.fixture
def check(episode, officer, django_capture_on_commit_callbacks) -> SafeAndWellCheck:
    return _check(episode, officer, django_capture_on_commit_callbacks)


def _check(episode, officer, django_capture_on_commit_callbacks) -> SafeAndWellCheck:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        return safe_and_well_record(
            acting_user=officer,
            episode=episode,
            officer_name="PC Sam Okafor",
            conducted_at=timezone.now() - 2 * H,
            face_to_face=True,
            outcome="Seen at home, tired but unhurt.",
        )


def _has_returns(month: dict) -> int:
    return month["returns"]


def to_la(episode: Episode) -> Notification:
    return Notification.objects.select_related("recipient_agency").get(
        episode=episode, step=Step.SAFE_AND_WELL_DONE, recipient_role=RecipientRole.RESPONSIBLE_LA
    )


# The service's e-mail -----------------------------------------------------------------


def test_the_delivered_email_is_the_checks_sharing(
    client, check, episode, officer, police, la_west, social_worker, manager,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    notification = to_la(episode)
    assert notification.delivery == D.QUEUED

    with django_capture_on_commit_callbacks(execute=True):
        assert send_due_notifications(worker="w1") == 1

    notification.refresh_from_db()
    check.refresh_from_db()
    assert notification.status == S.SENT
    # Who, how, when: the e-mail, as the check records it.
    assert check.shared_with_la_at == notification.told_at
    assert check.shared_method == SharingMethod.EMAIL
    assert check.shared_with == f"{notification.recipient_name}, {la_west.name}"
    assert check.shared_by_agency == police
    assert check.shared_recorded_by is None
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED)
    assert (event.actor, event.actor_agency) == (officer, police)
    assert "by the service" in event.summary
    # The engine read the sharing too, and left the sent e-mail as it was.
    assert (notification.status, notification.method) == (S.SENT, Method.EMAIL)

    client.force_login(social_worker)
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    assert escape(f"e-mail, with {check.shared_with}") in page
    assert escape(f"Sent by the service for {police.name}") in page
    assert "Not shared" not in page
    interview_page = client.get(reverse("incidents:interview_detail", args=[episode.pk])).text
    assert "Not shared" not in interview_page

    # The managers' list and measure read the same record.
    now = timezone.now()
    assert not queries.safe_and_well_outstanding(manager, Filters(), now).filter(pk=episode.pk)
    # Once the return's 24 hours have passed, the measure counts it shared in time.
    later = episode.found_at + 25 * H
    month = max(queries.measures(manager, Filters(months=3), later).by_month, key=_has_returns)
    assert (month["returns"], month["shared_on_time"]) == (1, 1)


@pytest.fixture
def manager_rule(contacts):
    return RuleFactory(
        step=Step.SAFE_AND_WELL_DONE,
        teller=TellerKind.POLICE,
        recipient=RecipientRole.TEAM_MANAGER,
        due_after_hours=Decimal(24),
    )


def test_an_email_to_anyone_else_is_not_the_sharing(manager_rule, check, episode):
    to_manager = Notification.objects.get(
        episode=episode, step=Step.SAFE_AND_WELL_DONE, recipient_role=RecipientRole.TEAM_MANAGER
    )
    # Only the team manager's e-mail goes: the council's is held back.
    Notification.objects.filter(pk=to_la(episode).pk).update(
        delivery=D.NOT_BY_EMAIL, next_attempt_at=None
    )

    assert send_due_notifications(worker="w1") == 1

    to_manager.refresh_from_db()
    check.refresh_from_db()
    assert to_manager.status == S.SENT
    assert not check.is_shared
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED).exists()


def test_a_sharing_recorded_while_the_email_was_sending_stays_the_first(
    check, episode, officer, django_capture_on_commit_callbacks
):
    claimed = claim_next(worker="w1")
    assert claimed is not None and claimed.pk == to_la(episode).pk
    shared_at = timezone.now() - 10 * dt.timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        safe_and_well_share(
            acting_user=officer,
            check=check,
            shared_at=shared_at,
            method=SharingMethod.PHONE,
            shared_with="Jo Whitfield, duty social worker",
        )

    send_claimed(claimed, worker="w1", now=timezone.now())

    check.refresh_from_db()
    notification = to_la(episode)
    assert (check.shared_with_la_at, check.shared_method) == (shared_at, SharingMethod.PHONE)
    assert check.shared_recorded_by == officer
    # The person's record stands on the notification too; the e-mail is shown delivered.
    assert (notification.status, notification.method) == (S.TOLD, Method.PHONE)
    assert notification.told_whom == "Jo Whitfield, duty social worker"
    assert notification.delivery == D.DELIVERED
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED).count() == 1


def test_a_failure_recording_the_sharing_keeps_the_delivery(check, episode, monkeypatch, caplog):
    def fail(**kwargs):
        raise RuntimeError("database hiccup")

    # Recording the batch's checks together fails, and so does each on its own.
    monkeypatch.setattr("notifications.sharing.safe_and_well_record_emailed_many", fail)
    monkeypatch.setattr("notifications.sharing.safe_and_well_record_emailed", fail)

    assert send_due_notifications(worker="w1") == 1

    notification = to_la(episode)
    assert (notification.status, notification.delivery) == (S.SENT, D.DELIVERED)
    check.refresh_from_db()
    assert not check.is_shared
    assert f"notification {notification.pk}" in caplog.text
    # Sent once, and not again.
    assert send_due_notifications(worker="w1") == 0
    assert len(mail.outbox) == 1


# "Record that I told them" on the council's notification --------------------------------


def told_path(notification: Notification) -> str:
    return reverse("notifications:record_told", args=[notification.pk])


def test_telling_the_council_by_phone_is_the_checks_sharing(
    client, check, episode, officer, police, django_capture_on_commit_callbacks
):
    told_at = timezone.now() - 30 * dt.timedelta(minutes=1)
    client.force_login(officer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            told_path(to_la(episode)),
            {
                "method": "phone",
                **when("told_at", told_at),
                "told_whom": "Sam Patel, duty social worker",
            },
        )
    assert response.status_code == 302

    check.refresh_from_db()
    notification = to_la(episode)
    typed = told_at.replace(second=0, microsecond=0)
    assert (check.shared_with_la_at, check.shared_method) == (typed, SharingMethod.PHONE)
    assert check.shared_with == "Sam Patel, duty social worker"
    assert (check.shared_by_agency, check.shared_recorded_by) == (police, officer)
    assert (notification.status, notification.told_at) == (S.TOLD, typed)

    # The e-mail still queued goes, and changes neither record: the first sharing counts.
    send_due_notifications(worker="w1")
    check.refresh_from_db()
    notification.refresh_from_db()
    assert (check.shared_method, check.shared_recorded_by) == (SharingMethod.PHONE, officer)
    assert (notification.status, notification.method) == (S.TOLD, Method.PHONE)
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED).count() == 1


def test_telling_the_council_before_the_check_is_refused_by_the_field(
    client, check, episode, officer
):
    client.force_login(officer)
    response = client.post(
        told_path(to_la(episode)),
        {
            "method": "phone",
            **when("told_at", check.conducted_at - H),
            "told_whom": "Sam Patel, duty social worker",
        },
    )
    assert response.status_code == 200
    assert 'href="#id_told_at_0">The check cannot be shared before it was done' in response.text
    assert "Sam Patel, duty social worker" in response.text
    check.refresh_from_db()
    assert not check.is_shared
    assert to_la(episode).status == S.DUE


def test_a_council_manager_records_that_the_police_told_them(
    client, check, episode, manager, police
):
    client.force_login(manager)
    response = client.post(
        told_path(to_la(episode)),
        {
            "method": "phone",
            **when("told_at", timezone.now() - H / 2),
            "told_whom": "Priya Shah, team manager",
        },
    )
    assert response.status_code == 302
    check.refresh_from_db()
    assert (check.shared_by_agency, check.shared_recorded_by) == (police, manager)
    assert check.shared_with == "Priya Shah, team manager"


# A batch of checks ------------------------------------------------------------------------


@pytest.fixture
def three_checks(child, officer, area_west, django_capture_on_commit_callbacks):
    """Three children's checks, each with its council's e-mail queued."""
    children = [child] + [
        ChildFactory(responsible_area=area_west, legal_status=LegalStatus.NONE, created_by=officer)
        for _ in range(2)
    ]
    episodes = [
        _found_episode(someone, officer, django_capture_on_commit_callbacks) for someone in children
    ]
    return [_check(episode, officer, django_capture_on_commit_callbacks) for episode in episodes]


def test_a_batch_of_checks_is_shared_together_each_with_its_history_and_event(
    three_checks, officer, police
):
    with CaptureQueriesContext(connection) as queries:
        assert send_due_notifications(worker="w1") == 3
    # The checks' sharing, the same statements for three as for one: read and locked,
    # updated, read for their history, their history rows; and their events. One more
    # reads them for the managers' kept "safe and well" list of the batch's children.
    on_checks = re.compile(r'^(SELECT .* FROM|UPDATE|INSERT INTO) "incidents_\w*safeandwellcheck"')
    assert len([q for q in queries.captured_queries if on_checks.match(q["sql"])]) == 5
    events = [
        q for q in queries.captured_queries if 'INSERT INTO "incidents_caseevent"' in q["sql"]
    ]
    assert len(events) == 1

    for check in three_checks:
        notification = to_la(check.episode)
        check.refresh_from_db()
        assert notification.status == S.SENT
        assert check.shared_with_la_at == notification.told_at
        assert (check.shared_method, check.shared_by_agency) == (SharingMethod.EMAIL, police)
        # Each check its own history row and its own event.
        assert check.history.latest().shared_with_la_at == check.shared_with_la_at
        event = CaseEvent.objects.get(
            kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED, episode=check.episode
        )
        assert (event.actor, event.actor_agency, event.occurred_at) == (
            officer, police, check.shared_with_la_at,
        )  # fmt: skip
        assert event.is_protocol and event.data["shared_with"] == check.shared_with


def test_a_batch_that_cannot_be_recorded_together_is_recorded_check_by_check(
    three_checks, monkeypatch, caplog
):
    def fail(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("notifications.sharing.safe_and_well_record_emailed_many", fail)

    assert send_due_notifications(worker="w1") == 3

    for check in three_checks:
        check.refresh_from_db()
        assert check.is_shared and check.shared_method == SharingMethod.EMAIL
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED).count() == 3
    assert "checks as their sharing together failed" in caplog.text


def test_in_a_batch_a_check_shared_meanwhile_keeps_its_first_sharing(
    three_checks, officer, django_capture_on_commit_callbacks
):
    first = three_checks[1]
    shared_at = timezone.now() - 10 * dt.timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=False):
        safe_and_well_share(
            acting_user=officer,
            check=first,
            shared_at=shared_at,
            method=SharingMethod.PHONE,
            shared_with="Jo Whitfield, duty social worker",
        )
    # The council's e-mail about it is still queued (the engine has not read the sharing).
    assert to_la(first.episode).delivery == D.QUEUED

    assert send_due_notifications(worker="w1") == 3

    first.refresh_from_db()
    assert (first.shared_with_la_at, first.shared_method) == (shared_at, SharingMethod.PHONE)
    assert first.shared_recorded_by == officer
    others = [check for check in three_checks if check.pk != first.pk]
    for check in others:
        check.refresh_from_db()
        assert check.shared_method == SharingMethod.EMAIL
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.SAFE_AND_WELL_SHARED).count() == 3
