"""Retention: records past the 25th birthday are listed, and erased only on a
partnership admin's confirmation, leaving nothing of the child but anonymous counts that
keep the managers' measures of past months whole."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import models

from incidents.models import (
    CaseEvent,
    Challenge,
    Child,
    InterviewAttempt,
    InvolvementRequest,
    LegalStatusPeriod,
    Location,
    ReturnInterview,
    ReturnTimeCorrection,
    StrategyMeeting,
    StrategyMeetingAttendee,
    SupervisionNote,
)
from missingkids.accounts.models import User
from missingkids.audit.models import AccessLogEntry
from notifications.models import (
    DeliveryAttempt,
    Notification,
    PendingReevaluation,
    ProcessedEvent,
    TimedStepFired,
)
from oversight import aggregates, queries
from oversight.filters import Filters
from oversight.models import ErasedCount, Erasure, MeasureMonth
from oversight.retention import children_past_retention, records_erase
from tests.factories.accounts import UserFactory
from tests.factories.incidents import (
    AgreedActionFactory,
    CaseEventFactory,
    InvolvementFactory,
    LocationFactory,
    PlacementFactory,
    RiskGradingFactory,
    SafeAndWellCheckFactory,
)
from tests.factories.notifications import NotificationFactory

from .world import NOW, episode, returned

pytestmark = pytest.mark.django_db

H = dt.timedelta(hours=1)
# A name no other record in the test holds: nothing of it may remain after erasure.
MARKER = "Zebedee"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _born_years_ago(years: int, days: int = 0) -> dt.date:
    today = NOW.date()
    return today.replace(year=today.year - years) + dt.timedelta(days=days)


# Who is past retention -----------------------------------------------------------------


def test_a_record_is_past_retention_from_the_25th_birthday(west_child):
    birthday_today = west_child(date_of_birth=_born_years_ago(25))
    tomorrow = west_child(date_of_birth=_born_years_ago(25, days=1))
    older = west_child(date_of_birth=_born_years_ago(30))
    assert list(children_past_retention()) == [older, birthday_today]
    assert tomorrow not in children_past_retention()


def test_someone_born_on_29_february_reaches_it_on_1_march(west_child):
    leapling = west_child(date_of_birth=dt.date(2004, 2, 29))
    assert leapling not in children_past_retention(dt.date(2029, 2, 28))
    assert leapling in children_past_retention(dt.date(2029, 3, 1))


def test_the_age_is_a_setting(west_child, settings):
    child = west_child(date_of_birth=_born_years_ago(25))
    settings.RECORD_RETENTION_AGE = 30
    assert child not in children_past_retention()
    settings.RECORD_RETENTION_AGE = 21
    assert child in children_past_retention()


# Erasing -------------------------------------------------------------------------------


def _whole_record(child: Child, *, officer, social_worker, manager, police, la_west, provider):
    """A record with something in every table that hangs off a child."""
    own_place = LocationFactory(description=f"{MARKER}'s den", address=f"{MARKER} Lane")
    shared_place = LocationFactory(description="Chester bus station")
    child.frequented_locations.add(own_place)
    LegalStatusPeriod.objects.create(child=child, status="in_care", start=dt.date(2019, 1, 1))
    PlacementFactory(child=child, carer_name=f"{MARKER} carer")
    InvolvementFactory(child=child, agency=provider, professional_name=f"{MARKER} worker")
    InvolvementRequest.objects.create(
        child=child,
        agency=provider,
        role="other",
        start=dt.date(2026, 1, 1),
        note=MARKER,
        requested_by=social_worker,
        requested_by_agency=la_west,
    )
    interview = returned(
        child,
        la_west,
        found=dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC),
        outcome=ReturnInterview.Outcome.HELD,
        held_at=dt.datetime(2026, 10, 6, 9, 0, tzinfo=dt.UTC),
        last_seen_location=own_place,
        found_location=shared_place,
        circumstances=f"{MARKER} left after school",
    )
    interview.child_voice = f"{MARKER} said"
    interview.save()
    first = interview.episode
    late = returned(
        child,
        la_west,
        found=dt.datetime(2026, 10, 20, 9, 0, tzinfo=dt.UTC),
        outcome=ReturnInterview.Outcome.HELD,
        held_at=dt.datetime(2026, 10, 25, 9, 0, tzinfo=dt.UTC),
    ).episode
    RiskGradingFactory(episode=first, graded_by=officer, rationale=MARKER)
    SafeAndWellCheckFactory(
        episode=first,
        agency=police,
        recorded_by=officer,
        conducted_at=first.found_at + H,
        shared_with_la_at=first.found_at + 2 * H,
        outcome=f"{MARKER} safe",
    )
    ReturnTimeCorrection.objects.create(
        episode=first,
        previous_found_at=first.found_at,
        found_at=first.found_at,
        reason=MARKER,
        corrected_by=officer,
    )
    InterviewAttempt.objects.create(
        interview=interview,
        attempted_at=first.found_at + H,
        method="phone",
        outcome="no_contact",
        notes=MARKER,
        recorded_by=social_worker,
    )
    AgreedActionFactory(interview=interview, description=MARKER, owner_name="Jo")
    Challenge.objects.create(
        child=child,
        episode=first,
        challenged_agency=police,
        decision=MARKER,
        reason="r",
        raised_at=first.found_at,
        raised_by=social_worker,
    )
    meeting = StrategyMeeting.objects.create(
        child=child, held_on=dt.date(2026, 10, 7), decisions=MARKER, recorded_by=manager
    )
    StrategyMeetingAttendee.objects.create(meeting=meeting, agency=police)
    SupervisionNote.objects.create(child=child, note=MARKER, written_by=manager)
    event = CaseEventFactory(
        child=child, episode=first, actor=officer, summary=MARKER, is_protocol=True
    )
    ProcessedEvent.objects.create(event=event)
    told = NotificationFactory(
        episode=first,
        event=event,
        due_at=dt.datetime(2026, 10, 5, 12, 0, tzinfo=dt.UTC),
        told_at=dt.datetime(2026, 10, 5, 11, 0, tzinfo=dt.UTC),
        status=Notification.Status.TOLD,
        responsible_agency=police,
        notes=MARKER,
    )
    NotificationFactory(
        episode=late,
        due_at=dt.datetime(2026, 10, 21, 12, 0, tzinfo=dt.UTC),
        responsible_agency=police,
    )
    DeliveryAttempt.objects.create(notification=told, succeeded=True)
    TimedStepFired.objects.create(episode=first, step="still_missing_24h", fired=False)
    PendingReevaluation.objects.create(episode=late, reason="contact changed")
    return own_place, shared_place


def _text_anywhere(marker: str) -> list[str]:
    """Every table (the access log aside) holding ``marker`` in any text column."""
    found = []
    for model in apps.get_models():
        if model is AccessLogEntry:
            continue
        text = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        for row in model.objects.values_list(*text) if text else []:
            if any(marker in str(value) for value in row):
                found.append(model._meta.label)
                break
    return found


def _comparable(data: queries.Measures) -> tuple:
    months = [{k: v for k, v in m.items() if k != "median_hours"} for m in data.by_month]
    areas = [{k: v for k, v in a.items() if k != "median_hours"} for a in data.episodes_by_area]
    return (
        months,
        areas,
        data.interviews_by_agency,
        data.safe_and_well_by_area,
        data.notifications_by_agency,
    )


def test_erasure_leaves_nothing_of_the_child_and_the_measures_still_count(
    west_child, officer, social_worker, manager, admin_user, police, la_west, provider, settings
):
    settings.RECORD_RETENTION_AGE = 18  # so the record has episodes in the months measured
    child = west_child(first_name=MARKER, date_of_birth=_born_years_ago(18))
    kept = west_child(first_name="Kept", date_of_birth=_born_years_ago(15))
    own_place, shared_place = _whole_record(
        child,
        officer=officer,
        social_worker=social_worker,
        manager=manager,
        police=police,
        la_west=la_west,
        provider=provider,
    )
    kept_episode = episode(
        kept, last_seen=dt.datetime(2026, 10, 8, 9, 0, tzinfo=dt.UTC), found_location=shared_place
    )
    AccessLogEntry.objects.create(
        user=social_worker, action=AccessLogEntry.Action.VIEW_CHILD, child_id=child.pk
    )
    child_id = child.pk
    assert _text_anywhere(MARKER)
    # October read from its kept counts.
    aggregates.refresh(NOW, limit=None)
    before = queries.measures(manager, Filters(months=2), NOW)
    assert before.by_month[0]["episodes"] == 3

    erasure = records_erase(confirmed_by=admin_user)
    # The kept counts counted the erased records: the months are counted from the
    # records (and the erased counts) until counted again.
    assert not MeasureMonth.objects.filter(stale=False).exists()

    assert (erasure.children, erasure.episodes, erasure.child_ids) == (1, 2, [child_id])
    assert erasure.confirmed_by == admin_user and erasure.erased_at == NOW
    assert (erasure.retention_age, erasure.born_on_or_before) == (18, _born_years_ago(18))
    assert _text_anywhere(MARKER) == []
    assert not Child.objects.filter(pk=child_id).exists()
    assert not Child.history.filter(id=child_id).exists()
    assert not CaseEvent.objects.filter(child_id=child_id).exists()
    assert not Notification.objects.exists() and not DeliveryAttempt.objects.exists()
    assert not (TimedStepFired.objects.exists() or PendingReevaluation.objects.exists())
    assert not Location.objects.filter(pk=own_place.pk).exists()
    # A place another child's record names stays; so does that record.
    assert Location.objects.filter(pk=shared_place.pk).exists()
    assert Child.objects.filter(pk=kept.pk).exists()
    assert kept_episode.__class__.objects.filter(pk=kept_episode.pk).exists()
    # The access log keeps its row: the id, now read against the erasure's list.
    assert AccessLogEntry.objects.filter(child_id=child_id).count() == 1

    after = queries.measures(manager, Filters(months=2), NOW)
    assert _comparable(after) == _comparable(before)
    october = after.by_month[0]
    assert (october["episodes"], october["interviews_due"], october["interviews_on_time"]) == (
        3,
        2,
        1,
    )
    assert (october["returns"], october["shared_on_time"]) == (2, 1)
    assert (october["notifications_due"], october["notifications_on_time"]) == (2, 1)
    assert set(ErasedCount.objects.values_list("measure", flat=True)) == set(ErasedCount.Measure)
    aggregates.refresh(NOW, limit=None)
    assert _comparable(queries.measures(manager, Filters(months=2), NOW)) == _comparable(before)


def test_erased_counts_are_left_out_when_a_filter_they_cannot_answer_is_applied(
    west_child, manager, admin_user, la_west, area_west, settings
):
    settings.RECORD_RETENTION_AGE = 18
    child = west_child(date_of_birth=_born_years_ago(18))
    returned(child, la_west, found=dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC))
    records_erase(confirmed_by=admin_user)

    by_council = queries.measures(manager, Filters(months=2, local_authority=area_west), NOW)
    assert by_council.by_month[0]["episodes"] == 1
    by_risk = queries.measures(manager, Filters(months=2, risk="high"), NOW)
    assert by_risk.by_month[0]["episodes"] == 0


def test_erased_counts_are_seen_only_by_managers_of_the_council(
    west_child, admin_user, la_west, area_other, settings
):
    settings.RECORD_RETENTION_AGE = 18
    returned(
        west_child(date_of_birth=_born_years_ago(18)),
        la_west,
        found=dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC),
    )
    records_erase(confirmed_by=admin_user)
    elsewhere = UserFactory(
        agency=la_west.__class__.objects.create(name="Elsewhere", kind="la"),
        role=User.Role.MANAGER,
    )
    elsewhere.agency.areas.add(area_other)
    data = queries.measures(elsewhere, Filters(months=2), NOW)
    assert data.by_month[0]["episodes"] == 0


@pytest.mark.parametrize("who", ["manager", "agency_admin", "inactive_partnership_admin"])
def test_only_a_partnership_admin_confirms_an_erasure(west_child, request, who, la_west):
    child = west_child(date_of_birth=_born_years_ago(40))
    if who == "manager":
        person = request.getfixturevalue("manager")
    elif who == "agency_admin":
        person = UserFactory(agency=la_west, role=User.Role.ADMIN)
    else:
        person = request.getfixturevalue("admin_user")
        person.is_active = False
        person.save()
    with pytest.raises(PermissionDenied):
        records_erase(confirmed_by=person)
    assert Child.objects.filter(pk=child.pk).exists()
    assert not Erasure.objects.exists()


def test_nothing_past_retention_erases_nothing(west_child, admin_user):
    west_child()
    assert records_erase(confirmed_by=admin_user) is None
    assert not Erasure.objects.exists()


# The command ---------------------------------------------------------------------------


def test_the_command_lists_ids_and_counts_never_names(west_child):
    child = west_child(first_name=MARKER, date_of_birth=_born_years_ago(26))
    episode(child, last_seen=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    west_child(date_of_birth=_born_years_ago(10))
    out = StringIO()
    call_command("retention", stdout=out)
    text = out.getvalue()
    assert "until the child's 25th birthday" in text
    assert "1 child record(s) past retention, with 1 episode(s)." in text
    assert f"Record ids: {child.pk}" in text
    assert MARKER not in text and child.last_name not in text
    assert Child.objects.filter(pk=child.pk).exists()


def test_the_command_erases_only_when_a_partnership_admin_confirms(west_child, manager, admin_user):
    child = west_child(date_of_birth=_born_years_ago(26))
    with pytest.raises(CommandError, match="needs --confirmed-by"):
        call_command("retention", "--erase", stdout=StringIO())
    with pytest.raises(CommandError, match="is not a partnership admin"):
        call_command("retention", "--erase", "--confirmed-by", manager.email, stdout=StringIO())
    with pytest.raises(CommandError, match="is not a partnership admin"):
        call_command(
            "retention", "--erase", "--confirmed-by", "nobody@example.org", stdout=StringIO()
        )
    assert Child.objects.filter(pk=child.pk).exists()

    out = StringIO()
    call_command("retention", "--erase", "--confirmed-by", admin_user.email.upper(), stdout=out)
    assert "Erased 1 child record(s) and 0 episode(s)" in out.getvalue()
    assert not Child.objects.filter(pk=child.pk).exists()
    assert Erasure.objects.get().confirmed_by == admin_user
