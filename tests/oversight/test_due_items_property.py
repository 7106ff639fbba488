"""The kept overdue lists equal the lists counted from the records after any changes.

Hypothesis draws a sequence of changes, in any order: episodes reported (with a
notification due) and found (with a return interview due), interviews held, declined
(by ``QuerySet.update()`` and ``history_write``, as the actions do) and attempted,
safe and well checks recorded and shared, notifications made (by ``update()``),
cancelled, or added with a problem, e-mails queued, then claimed, sent (taken, refused
for now or for good), retried and given back by the e-mail worker's own functions,
placements and involvements added and ended, a child moved to another area or taken
into care, strategy meetings held, an episode deleted, and hours and days passing (with
the scheduler's visibility pass). After every change, for every agency and every kept
list, the rows kept (``oversight.due``) are the raw list's rows in the raw list's order.

The CI profile (tests/conftest.py) runs at least 200 examples with a fixed seed.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents import visibility
from incidents.actions.base import history_write
from incidents.models import (
    Child,
    Episode,
    InterviewAttempt,
    LegalStatus,
    Placement,
    ReturnInterview,
    SafeAndWellCheck,
    StrategyMeeting,
    VisibilityClock,
)
from missingkids.accounts.models import Agency, User
from notifications.models import Notification
from notifications.sending import claim_batch, release, send_batch
from oversight import due, queries
from oversight.filters import Filters
from oversight.models import DueItem
from oversight.views import LISTS_BY_SLUG
from tests.factories import AgencyFactory, LocalAuthorityAreaFactory, UserFactory
from tests.factories.incidents import (
    ChildFactory,
    EpisodeFactory,
    InvolvementFactory,
    LocationFactory,
    PlacementFactory,
    ReturnInterviewFactory,
    SafeAndWellCheckFactory,
)
from tests.factories.notifications import NotificationFactory, RuleFactory
from tests.notifications.fault_mail import RefusingBackend, permanent_refusal, temporary_refusal
from tests.oversight.test_due_items import assert_hotspots_kept

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
AREAS, AGENCIES, CHILDREN = 2, 4, 3
# The places episodes are last seen or found at (the index PLACES: none), shared by the
# children so that the hotspots have places several children were seen at.
PLACES = 2
H = dt.timedelta(hours=1)
D = Notification.Delivery

child = st.integers(0, CHILDREN - 1)
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("report"),
            child,
            st.integers(0, 60),
            st.integers(-30, 30),
            st.integers(0, AGENCIES),
            st.integers(0, PLACES),
        ),
        st.tuples(st.just("found"), child, st.integers(0, 100), st.integers(0, PLACES)),
        st.tuples(st.just("held"), child),
        st.tuples(st.just("declined"), child),
        st.tuples(st.just("attempt"), child, st.sampled_from(["no_contact", "declined", "held"])),
        st.tuples(st.just("check"), child, st.booleans()),
        st.tuples(st.just("share"), child),
        st.tuples(st.just("made"), child),
        st.tuples(st.just("cancel"), child),
        st.tuples(st.just("problem"), child, st.sampled_from(["failed", "retrying", "sent"])),
        st.tuples(st.just("place"), child, st.integers(0, AREAS - 1), st.integers(-2, 2)),
        st.tuples(st.just("end_placement"), child),
        st.tuples(st.just("involve"), child, st.integers(0, AGENCIES - 1)),
        st.tuples(st.just("move"), child, st.integers(0, AREAS - 1)),
        st.tuples(st.just("care"), child, st.booleans()),
        st.tuples(st.just("meeting"), child, st.integers(-40, 0)),
        st.tuples(st.just("delete_episode"), child),
        st.tuples(st.just("queue"), child),
        st.tuples(st.just("send"), st.sampled_from(["taken", "451", "550"]), st.integers(1, 3)),
        st.tuples(st.just("claim"), st.integers(1, 3)),
        st.tuples(st.just("release")),
        st.tuples(st.just("hours_pass"), st.integers(1, 80)),
        st.tuples(st.just("days_pass"), st.integers(1, 100)),
        # The scheduler's pass moving the hotspots' tallies on.
        st.tuples(st.just("roll")),
    ),
    min_size=1,
    max_size=20,
)


@pytest.fixture
def world() -> dict:
    areas = [LocalAuthorityAreaFactory() for _ in range(AREAS)]
    kinds = [
        Agency.Kind.LOCAL_AUTHORITY,
        Agency.Kind.LOCAL_AUTHORITY,
        Agency.Kind.POLICE,
        Agency.Kind.PROVIDER,
    ]
    agencies = [
        AgencyFactory(kind=kind, areas=[areas[i]] if i < AREAS else list(areas))
        for i, kind in enumerate(kinds)
    ]
    agencies[3].areas.clear()  # the provider sees only the children it is involved with
    users = [UserFactory(agency=agency, role=User.Role.MANAGER) for agency in agencies]
    places = [LocationFactory() for _ in range(PLACES)]
    return {
        "areas": areas, "agencies": agencies, "users": users, "rule": RuleFactory(),
        "places": [*places, None],
    }  # fmt: skip


# The steps about one child (the others are about time, or the e-mail worker's queue).
CHILD_STEPS = {
    "report", "found", "held", "declined", "attempt", "check", "share", "made", "cancel",
    "problem", "place", "end_placement", "involve", "move", "care", "meeting",
    "delete_episode", "queue",
}  # fmt: skip
REFUSALS = {"taken": None, "451": temporary_refusal, "550": permanent_refusal}


def _latest(model, **lookups):
    return model.objects.filter(**lookups).order_by("-pk").first()


def apply(step: tuple, world: dict, children: list, traveller) -> None:
    areas, agencies = world["areas"], world["agencies"]
    now = timezone.now()
    kind, *args = step
    kid = children[args[0]] if kind in CHILD_STEPS else None
    if kind == "report":
        if Episode.objects.filter(child=kid, found_at__isnull=True).exists():
            return  # one open episode a child
        ep = EpisodeFactory(
            child=kid, last_seen_at=now - args[1] * H, reported_at=now - args[1] * H,
            last_seen_location=world["places"][args[4]],
        )  # fmt: skip
        NotificationFactory(
            episode=ep, child=kid, rule=world["rule"], recipient_agency=agencies[0],
            responsible_agency=agencies[args[3]] if args[3] < AGENCIES else None,
            due_at=now + args[2] * H,
        )  # fmt: skip
    elif kind == "found":
        ep = _latest(Episode, child=kid, found_at__isnull=True)
        if ep is not None:
            ep.found_at = max(ep.last_seen_at, now - args[1] * H)
            ep.found_location = world["places"][args[2]]
            ep.save()
            ReturnInterviewFactory(episode=ep, owner=agencies[0])
    elif kind in ("held", "declined"):
        interview = _latest(
            ReturnInterview, episode__child=kid, outcome=ReturnInterview.Outcome.PENDING
        )
        if interview is None:
            return
        if kind == "held":
            interview.outcome, interview.held_at = ReturnInterview.Outcome.HELD, now
            interview.save()
        else:  # as the actions do: a conditional update, then the history
            ReturnInterview.objects.filter(pk=interview.pk).update(
                outcome=ReturnInterview.Outcome.DECLINED, declined_at=now
            )
            history_write(ReturnInterview, interview.pk)
    elif kind == "attempt":
        interview = _latest(ReturnInterview, episode__child=kid)
        if interview is not None:
            InterviewAttempt.objects.create(
                interview=interview, attempted_at=now, method=InterviewAttempt.Method.PHONE,
                outcome=args[1], recorded_by=world["users"][0],
            )  # fmt: skip
    elif kind == "check":
        ep = _latest(Episode, child=kid, found_at__isnull=False, safe_and_well__isnull=True)
        if ep is not None:
            SafeAndWellCheckFactory(
                episode=ep, agency=agencies[2], recorded_by=world["users"][0],
                shared_with_la_at=now if args[1] else None,
            )  # fmt: skip
    elif kind == "share":
        check = _latest(SafeAndWellCheck, episode__child=kid, shared_with_la_at__isnull=True)
        if check is not None:
            SafeAndWellCheck.objects.filter(pk=check.pk).update(shared_with_la_at=now)
            history_write(SafeAndWellCheck, check.pk)
    elif kind == "made":
        notification = _latest(Notification, child=kid, status=Notification.Status.DUE)
        if notification is not None:  # as the e-mail worker does
            Notification.objects.filter(pk=notification.pk).update(
                status=Notification.Status.SENT, told_at=now
            )
    elif kind == "cancel":
        notification = _latest(Notification, child=kid, status=Notification.Status.DUE)
        if notification is not None:
            notification.status = Notification.Status.CANCELLED
            notification.save()
    elif kind == "problem":
        ep = _latest(Episode, child=kid)
        if ep is not None:
            NotificationFactory(
                episode=ep, child=kid, rule=world["rule"], recipient_agency=agencies[1],
                problem="No contact", delivery=args[1], failing_since=now - H,
                status=Notification.Status.SENT if args[1] == "sent" else Notification.Status.DUE,
                due_at=now - 2 * H, responsible_agency=agencies[2],
            )  # fmt: skip
    elif kind == "place":
        if not kid.placements.filter(end__isnull=True).exists():
            PlacementFactory(
                child=kid, host_area=areas[args[1]],
                start=timezone.localdate() + dt.timedelta(days=args[2]),
            )  # fmt: skip
    elif kind == "end_placement":
        placement = kid.placements.filter(end__isnull=True).first()
        if placement is not None:
            placement.end = max(placement.start, timezone.localdate())
            placement.save()
    elif kind == "involve":
        InvolvementFactory(child=kid, agency=agencies[args[1]], start=timezone.localdate())
    elif kind == "move":
        kid.responsible_area = areas[args[1]]
        kid.save()
    elif kind == "care":  # as the actions do: an update, then the history
        status = LegalStatus.IN_CARE if args[1] else LegalStatus.NONE
        Child.objects.filter(pk=kid.pk).update(legal_status=status)
        history_write(Child, kid.pk)
    elif kind == "meeting":
        StrategyMeeting.objects.create(
            child=kid, held_on=timezone.localdate() + dt.timedelta(days=args[1]),
            decisions="Safety plan", recorded_by=world["users"][0],
        )  # fmt: skip
    elif kind == "delete_episode":
        ep = _latest(Episode, child=kid)
        if ep is not None:
            ep.delete()
    elif kind == "queue":
        # An e-mail queued (made so, or queued again after failing, as requeue_email does).
        notification = _latest(Notification, child=kid, status=Notification.Status.DUE)
        if notification is not None and notification.delivery != D.SENDING:
            Notification.objects.filter(pk=notification.pk).update(
                delivery=D.QUEUED, next_attempt_at=now, recipient_email="duty@example.org"
            )
    elif kind == "send":
        # The e-mail worker: a batch claimed, sent (taken, or refused for now or for
        # good) and recorded, through its own functions.
        RefusingBackend.error = REFUSALS[args[0]]
        try:
            send_batch(worker="w1", size=args[1])
        finally:
            RefusingBackend.error = None
    elif kind == "claim":
        # Another worker claims rows (queued, due a retry, or left behind by a worker
        # whose lease ran out) and has not sent them yet.
        world["claimed"].extend(claim_batch(worker="w2", size=args[0]))
    elif kind == "release":
        # ... and gives them back unsent (asked to stop).
        release(world["claimed"], worker="w2")
        world["claimed"].clear()
    elif kind == "hours_pass":
        traveller.shift(args[0] * H)
    elif kind == "days_pass":
        traveller.shift(dt.timedelta(days=args[0]))
        visibility.apply_dated_changes()
    elif kind == "roll":
        due.roll_places()


def assert_kept_equals_raw(world: dict) -> None:
    now = timezone.now()
    for user in world["users"]:
        for slug in due.KINDS:
            raw = list(LISTS_BY_SLUG[slug].query(user, Filters(), now).values_list("pk", flat=True))
            kept = list(
                due.shown(user, slug, now).values_list(due.KINDS[slug].record_field, flat=True)
            )
            assert kept == raw, (user.agency.kind, slug)
        # The kept counts too: the rows counted, and the raw lists' counts and groups.
        totals = queries.counts({slug: due.total(user, slug, now) for slug in due.KINDS})
        assert totals == {
            slug: LISTS_BY_SLUG[slug].query(user, Filters(), now).count() for slug in due.KINDS
        }, user.agency.kind
        rows = LISTS_BY_SLUG["notifications_overdue"].query(user, Filters(), now)
        assert due.notification_groups(user, now) == queries.notifications_overdue_by_agency(rows)
        assert_hotspots_kept(user, now)
    assert due.stored_counts() == due.counted(DueItem.objects.all())
    assert due.place_differences() == []


@settings(
    # Each sequence compares every agency's kept lists and counts with the raw lists after
    # every step: at most 100 sequences (the CI profile's 200 took 15 minutes on
    # PostgreSQL once the worker's, placements' and meetings' steps were added).
    max_examples=min(settings.default.max_examples, 100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=steps)
def test_the_kept_lists_equal_the_raw_lists_after_any_changes(changes, world) -> None:
    world["claimed"] = []
    mailers = {"default": {"BACKEND": "tests.notifications.fault_mail.RefusingBackend"}}
    with (
        time_machine.travel(START, tick=False) as traveller,
        override_settings(MAILERS=mailers, EMAIL_SEND_CONNECTIONS=1),
        transaction.atomic(),
    ):
        VisibilityClock.objects.update_or_create(
            pk=1, defaults={"applied_through": timezone.localdate()}
        )
        children = [
            ChildFactory(responsible_area=world["areas"][i % AREAS], created_by=world["users"][0])
            for i in range(CHILDREN)
        ]
        for step in changes:
            apply(step, world, children, traveller)
            assert_kept_equals_raw(world)
        transaction.set_rollback(True)


def test_placements_are_kept_for_the_host_councils_managers(world) -> None:
    with time_machine.travel(START, tick=False):
        kid = ChildFactory(responsible_area=world["areas"][0], created_by=world["users"][0])
        ep = EpisodeFactory(child=kid)
        NotificationFactory(episode=ep, child=kid, rule=world["rule"], due_at=START - H)
        host = world["users"][1]
        assert not due.shown(host, "notifications_overdue", START).exists()
        Placement.objects.create(
            child=kid, start=timezone.localdate(), type=Placement.Type.FOSTER,
            address="1 High Street", postcode="CW1 2AB", host_area=world["areas"][1],
        )  # fmt: skip
        assert due.shown(host, "notifications_overdue", START).count() == 1
