"""The overdue lists kept as rows (``oversight.due``) equal the lists counted from the
records (``oversight.queries``): the same items, in the same order, for every agency,
whatever happened to the records and whatever the time."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone

from incidents.actions.base import history_write
from incidents.models import (
    Child,
    ChildVisibility,
    Episode,
    LegalStatus,
    ReturnInterview,
    StrategyMeeting,
)
from missingkids.accounts.models import Agency, User
from notifications.models import Notification
from oversight import due, queries
from oversight.apps import fill_due_items
from oversight.filters import Filters
from oversight.models import DueCount, DueItem, DueState, PlaceChild, PlaceTally
from oversight.views import LISTS_BY_SLUG
from tests.factories.incidents import LocationFactory, PlacementFactory, SafeAndWellCheckFactory
from tests.factories.notifications import NotificationFactory, RuleFactory

from .world import NOW, attempts, episode, returned

pytestmark = pytest.mark.django_db

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def viewers() -> list[User]:
    """A manager at every agency (unsaved: only the agency and role count)."""
    return [
        User(agency=agency, role=User.Role.MANAGER, is_active=True)
        for agency in Agency.objects.all()
    ]


def raw(user: User, slug: str, now: dt.datetime) -> list[int]:
    return list(LISTS_BY_SLUG[slug].query(user, Filters(), now).values_list("pk", flat=True))


def kept(user: User, slug: str, now: dt.datetime) -> list[int]:
    return list(due.shown(user, slug, now).values_list(due.KINDS[slug].record_field, flat=True))


def assert_counts_equal_rows(user: User, now: dt.datetime) -> None:
    """The kept counts (``DueCount``) are the rows counted, and give the raw lists' counts
    and the notifications' groups."""
    assert due.stored_counts() == due.counted(DueItem.objects.all())
    totals = queries.counts({slug: due.total(user, slug, now) for slug in due.KINDS})
    assert totals == {slug: len(raw(user, slug, now)) for slug in due.KINDS}, (user.agency, now)
    rows = LISTS_BY_SLUG["notifications_overdue"].query(user, Filters(), now)
    assert due.notification_groups(user, now) == queries.notifications_overdue_by_agency(rows)


# What ``due.differences`` finds when the kept rows, counts and hotspot tallies are right.
NO_DIFFERENCES = {"missing": [], "extra": [], "different": [], "counts": [], "places": []}


def tallies_answer(user: User, now: dt.datetime) -> bool:
    """Whether the hotspots are read from the tallies (not the kept sightings grouped)."""
    sql, params = due._tallies_answer_sql(user, now)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT CASE WHEN {sql} THEN 1 ELSE 0 END", params)
        return bool(cursor.fetchone()[0])


def assert_hotspots_kept(user: User, now: dt.datetime) -> int:
    """The hotspots read from the kept sightings are the raw hotspots: a page (each
    place's latest sightings) and the download (every sighting); how many there are."""
    assert due._hotspot_rows(user, Filters(), now, 1, 0)[1], "read from the kept rows"
    # The dashboard's count, from the tallies (or the kept sightings grouped).
    assert queries.counts({"kept": due.hotspot_places_sql(user, now)}) == queries.counts(
        {"kept": queries.hotspot_places_sql(user, Filters(), now)}
    )
    kept = due.hotspot_page(user, Filters(), now, limit=2)
    assert kept == queries.hotspot_page(user, Filters(), now, limit=2)
    every = queries.hotspots(user, Filters(), now)
    assert list(due.hotspots(user, Filters(), now)) == every
    return len(every)


def assert_kept_equals_raw(now: dt.datetime) -> int:
    """Compares every kept list with the raw one for every agency: how many rows (and
    hotspots) were compared."""
    compared = 0
    for user in viewers():
        for slug in due.KINDS:
            assert kept(user, slug, now) == raw(user, slug, now), (user.agency, slug, now)
            compared += len(kept(user, slug, now))
        rows = LISTS_BY_SLUG["notifications_overdue"].query(user, Filters(), now)
        assert due.notifications_by_agency(
            due.shown(user, "notifications_overdue", now)
        ) == queries.notifications_overdue_by_agency(rows)
        assert_counts_equal_rows(user, now)
        compared += assert_hotspots_kept(user, now)
    return compared


def test_synthetic_data_kept_equals_raw_at_several_times(time_machine):
    time_machine.move_to(NOW, tick=False)
    call_command(
        "generate_synthetic_data", children=30, episodes=150, seed=7, batch_size=100,
        stdout=StringIO(),
    )  # fmt: skip
    assert DueState.objects.exists()
    compared = 0
    for later in (dt.timedelta(0), 3 * H, dt.timedelta(days=2), dt.timedelta(days=120)):
        compared += assert_kept_equals_raw(NOW + later)
    assert sum(assert_hotspots_kept(user, NOW) for user in viewers())  # places to compare
    assert compared > 50  # the data set has items on every list worth comparing


@pytest.fixture
def fixed(frozen, west_child, far_child, la_west, police, provider, social_worker, area_east):
    """A fixed world made through the models, so every row was kept by the receivers."""
    rule = RuleFactory()
    a, b, far = west_child(), west_child(), far_child()
    late = returned(a, la_west, found=NOW - 100 * H, provider=provider)
    attempts(late, ["no_contact"] * 3)
    for n in range(3):
        returned(
            b, la_west, found=NOW - (300 - 50 * n) * H,
            outcome=ReturnInterview.Outcome.DECLINED, declined_at=NOW - (200 - 50 * n) * H,
        )  # fmt: skip
    returned(far, la_west, found=NOW - 90 * H)
    missing = episode(a, last_seen=NOW - 30 * H)
    SafeAndWellCheckFactory(
        episode=episode(b, last_seen=NOW - 40 * H, found=NOW - 30 * H), agency=police
    )
    for child, ep in ((a, missing), (far, Episode.objects.filter(child=far).first())):
        for hours, agency in ((-5, police), (-2, la_west), (3, None)):
            NotificationFactory(
                episode=ep, child=child, rule=rule, responsible_agency=agency,
                due_at=NOW + hours * H,
            )  # fmt: skip
    NotificationFactory(
        episode=missing, rule=rule, problem="No contact", due_at=NOW - H,
        delivery=Notification.Delivery.FAILED, failing_since=NOW - 2 * H,
    )  # fmt: skip
    # In care and placed in another council's area from 40 days ago for 60 days: an
    # interview missed and one held late; a child placed there missing from tomorrow.
    away, later = west_child(legal_status=LegalStatus.IN_CARE), west_child()
    today = timezone.localdate()
    PlacementFactory(child=away, host_area=area_east, start=today - 40 * D, end=today + 20 * D)
    returned(away, la_west, found=NOW - 100 * H)
    returned(
        away, la_west, found=NOW - 20 * 24 * H, outcome=ReturnInterview.Outcome.HELD,
        held_at=NOW - 10 * 24 * H,
    )  # fmt: skip
    Child.objects.filter(pk=later.pk).update(legal_status=LegalStatus.IN_CARE)
    history_write(Child, later.pk)
    episode(later, last_seen=NOW - 2 * H)
    PlacementFactory(child=later, host_area=area_east, start=today + D)
    # b went missing again after a strategy meeting: 3 episodes since then.
    meeting(b, today - 20 * D, social_worker)
    for days in (15, 10, 5):
        returned(b, la_west, found=NOW - days * 24 * H)
    return {"a": a, "b": b, "far": far, "away": away, "later": later, "rule": rule}


def meeting(child: Child, held_on: dt.date, user: User) -> StrategyMeeting:
    return StrategyMeeting.objects.create(
        child=child, held_on=held_on, decisions="Safety plan", recorded_by=user
    )


def test_the_receivers_keep_a_fixed_world_equal_to_raw(fixed):
    for later in (dt.timedelta(0), 4 * H, D, 2 * D, 15 * D, 30 * D, 100 * D):
        assert_kept_equals_raw(NOW + later)
    slugs = set(DueItem.objects.values_list("kind", flat=True))
    assert slugs == set(due.KEPT)
    # What a rebuild finds is what the receivers kept.
    assert due.differences() == NO_DIFFERENCES


def test_changes_through_update_and_bulk_writes_are_kept(fixed, la_west):
    a = fixed["a"]
    # Made (the e-mail worker's QuerySet.update()), cancelled (save), added in bulk.
    Notification.objects.filter(child=a, status=Notification.Status.DUE).update(
        status=Notification.Status.SENT
    )
    ep = Episode.objects.filter(child=a).last()
    Notification.objects.bulk_create(
        [
            Notification(
                episode=ep, child=a, rule=fixed["rule"], rule_version=1, step="reported",
                recipient_role=fixed["rule"].recipient, recipient_key="x", due_at=NOW - H,
                responsible_agency=la_west,
            )
        ]
    )  # fmt: skip
    # Found (the actions' update_versioned, which writes history).
    from incidents.actions.base import update_versioned

    update_versioned(ep, expected_version=ep.version, values={"found_at": NOW - 30 * H})
    Episode.objects.filter(pk=ep.pk).update(first_found_at=NOW - 30 * H)
    from incidents.actions.base import history_write

    history_write(Episode, ep.pk)
    assert_kept_equals_raw(NOW)
    assert_kept_equals_raw(NOW + dt.timedelta(days=3))


def test_children_on_the_patterns_lists_follow_placements_meetings_and_edits(
    fixed, la_west, social_worker, area_east
):
    """Each record the children's lists read is followed: a child is on a list once at
    any time, and its periods follow the records."""
    away, b = fixed["away"], fixed["b"]
    manager = User(agency=la_west, role=User.Role.MANAGER, is_active=True)
    assert away.pk in kept(manager, "out_of_area", NOW)
    assert b.pk in kept(manager, "repeat_missing", NOW)
    assert fixed["later"].pk in kept(manager, "out_of_area", NOW + 2 * D)
    # Pages show what the raw lists do, at the time (counted from the records).
    rows = list(due.shown(manager, "repeat_missing", NOW))
    shown = due.records("repeat_missing", rows, NOW)
    raw_rows = list(queries.repeat_children(manager, Filters(), NOW))
    assert [(c.pk, c.recent_count, c.first_recent, c.last_recent) for c in shown] == [
        (c.pk, c.recent_count, c.first_recent, c.last_recent) for c in raw_rows
    ]
    rows = list(due.shown(manager, "out_of_area", NOW + 2 * D))
    shown = due.records("out_of_area", rows, NOW + 2 * D)
    raw_rows = list(queries.out_of_area_missed(manager, Filters(), NOW + 2 * D))
    assert [(c.pk, c.missing_now, c.missed_interviews, c.host_area_name) for c in shown] == [
        (c.pk, c.missing_now, c.missed_interviews, c.host_area_name) for c in raw_rows
    ]
    # A meeting held today takes b off; the placement ended yesterday takes the child off.
    meeting(b, timezone.localdate(), social_worker)
    placement = away.placements.get()
    placement.end = timezone.localdate() - D
    placement.save(update_fields=["end"])
    assert b.pk not in kept(manager, "repeat_missing", NOW)
    assert away.pk not in kept(manager, "out_of_area", NOW)
    assert_kept_equals_raw(NOW)
    # Placed in its own area, by an edit of the child (update and history).
    later = fixed["later"]
    Child.objects.filter(pk=later.pk).update(responsible_area=area_east)
    history_write(Child, later.pk)
    StrategyMeeting.objects.filter(child=b).delete()
    for at in (NOW, NOW + 2 * D, NOW + 50 * D, NOW + 90 * D):
        assert_kept_equals_raw(at)
    assert due.differences() == NO_DIFFERENCES


def test_strategy_discussions_follow_the_episode_and_the_meetings(
    fixed, la_west, west_child, social_worker
):
    """An episode is on the kept list once its deadline has passed (strictly after it),
    stays there when the child is found late (missed), and leaves it when a meeting is
    held since the episode began, when found in time, or when the episode closes."""
    manager = User(agency=la_west, role=User.Role.MANAGER, is_active=True)
    slug = "strategy_discussions_overdue"
    child = west_child()
    ep = episode(child, last_seen=NOW - 24 * H)
    assert ep.pk not in kept(manager, slug, NOW)  # due exactly now: not yet late
    assert ep.pk in kept(manager, slug, NOW + dt.timedelta(microseconds=1))
    assert_kept_equals_raw(NOW + H)
    # Found two hours after the deadline: missed, still on the list.
    ep.found_at = NOW + 2 * H
    ep.save(update_fields=["found_at"])
    assert ep.pk in kept(manager, slug, NOW + 3 * H)
    # A meeting the day before the episode began does not meet it; one that day does.
    start = timezone.localdate(ep.last_seen_at)
    old = meeting(child, start - D, social_worker)
    assert ep.pk in kept(manager, slug, NOW + 3 * H)
    held = meeting(child, start, social_worker)
    assert ep.pk not in kept(manager, slug, NOW + 3 * H)
    held.delete()
    old.delete()
    assert ep.pk in kept(manager, slug, NOW + 3 * H)
    # Found in time (corrected), then the episode closed (an update with its history).
    Episode.objects.filter(pk=ep.pk).update(found_at=NOW - H)
    history_write(Episode, ep.pk)
    assert ep.pk not in kept(manager, slug, NOW + 3 * H)
    Episode.objects.filter(pk=ep.pk).update(found_at=NOW + 2 * H, closed_at=NOW + 3 * H)
    history_write(Episode, ep.pk)
    assert ep.pk not in kept(manager, slug, NOW + 4 * H)
    assert_kept_equals_raw(NOW + 4 * H)
    assert due.differences() == NO_DIFFERENCES


def test_a_rule_changing_the_stuck_threshold_counts_the_stuck_cases_again(fixed):
    from notifications.models import Condition, Step

    before = set(DueItem.objects.filter(kind="stuck_cases").values_list("item_id", flat=True))
    assert before
    rule = fixed["rule"]
    # The fewest attempts of the active rules is the threshold.
    rule.step, rule.condition = Step.NOT_ENGAGING, Condition.FAILED_ATTEMPTS
    rule.threshold_count = 2
    rule.save()
    assert DueState.objects.get().stuck_threshold == 2
    assert_kept_equals_raw(NOW)
    rule.threshold_count = 9
    rule.save()
    assert DueState.objects.get().stuck_threshold == 3
    assert_kept_equals_raw(NOW)


def test_rebuild_command_fills_and_checks(fixed):
    DueItem.objects.all().delete()
    with pytest.raises(CommandError):
        call_command("rebuild_due_items", "--check", stdout=StringIO())
    out = StringIO()
    call_command("rebuild_due_items", stdout=out)
    assert "Kept" in out.getvalue()
    call_command("rebuild_due_items", "--check", stdout=StringIO())
    assert_kept_equals_raw(NOW)


def test_the_check_finds_counts_that_are_not_the_rows_counted(fixed):
    DueCount.objects.filter(kind="notifications_overdue").update(n=F("n") + 1)
    assert due.differences()["counts"]
    with pytest.raises(CommandError):
        call_command("rebuild_due_items", "--check", stdout=StringIO())
    call_command("rebuild_due_items", stdout=StringIO())
    assert due.differences() == NO_DIFFERENCES


def test_a_child_deleted_is_counted_out(fixed):
    """As the erasure of records past retention deletes them: the episodes, then the
    child (whose remaining rows, if any, go with it)."""
    far = fixed["far"].pk
    assert DueItem.objects.filter(child_id=far).exists()
    Episode.objects.filter(child_id=far).delete()
    fixed["far"].delete()
    assert not DueItem.objects.filter(child_id=far).exists()
    assert_kept_equals_raw(NOW)
    assert_kept_equals_raw(NOW + dt.timedelta(days=2))


def test_the_hotspot_tallies_follow_sightings_the_scheduler_and_corrections(
    frozen, west_child, manager
):
    """The hotspots from the tallies (a few rows a manager) are the raw hotspots as
    sightings are recorded, fall out of the period, are corrected and deleted, whether
    or not the scheduler's pass has moved the tallies on since; looking back before its
    pass they are the kept sightings grouped, still the raw hotspots."""
    days = dt.timedelta(days=Filters().days)
    busy, quiet = LocationFactory(), LocationFactory()
    a, b, c = west_child(), west_child(), west_child()
    # a was seen at the busy place two days before it falls out of the period.
    episode(a, last_seen=NOW - days + 2 * 24 * H, last_seen_location=busy)
    seen_b = episode(
        b, last_seen=NOW - 10 * H, last_seen_location=busy, found=NOW - 5 * H, found_location=quiet
    )
    episode(c, last_seen=NOW - 3 * H, last_seen_location=quiet, found=NOW - 2 * H)

    def check(hotspots: int, *, tallied: bool = True) -> None:
        now = timezone.now()
        assert tallies_answer(manager, now) is tallied
        assert assert_hotspots_kept(manager, now) == hotspots
        assert due.place_differences() == []

    def tally(place: Any) -> tuple[int, dt.datetime] | None:
        return (
            PlaceTally.objects.filter(viewer=manager.agency, place=place.pk)
            .values_list("children", "latest")
            .first()
        )

    MINUTE = dt.timedelta(minutes=1)

    check(2)
    assert tally(busy) == (2, NOW - 10 * H)
    # Three days on a's sighting has fallen out: counted out as the page is read ...
    frozen.shift(3 * 24 * H)
    check(1)
    assert tally(busy) == (2, NOW - 10 * H)
    # ... and deleted by the scheduler's pass, which then has nothing to do.
    assert due.roll_places() >= 1
    assert due.roll_places() == 0
    assert tally(busy) == (1, NOW - 10 * H)
    check(1)
    # Looking back before the pass: not from the tallies (nor from the kept sightings
    # it deleted, whose period was over: no page looks back).
    assert tallies_answer(manager, NOW) is False
    # b's sighting at the quiet place corrected to earlier: its latest worked out again.
    seen_b.found_at = NOW - 8 * H
    seen_b.save()
    assert tally(quiet) == (2, NOW - 3 * H)
    c_episode = Episode.objects.get(child=c)
    c_episode.last_seen_at = NOW - 20 * H
    c_episode.save()
    assert tally(quiet) == (2, NOW - 8 * H)
    check(1)
    # A third child at the busy place, then c deleted (its episode first, as erasure does).
    episode(c, last_seen=NOW + 2 * 24 * H, last_seen_location=busy)
    check(2)
    Episode.objects.filter(child=c).delete()
    c.delete()
    assert tally(quiet) == (1, NOW - 8 * H)
    check(0)
    # A row written before the start by a change kept while the pass ran: counted out as
    # the page is read, deleted by the next pass.
    frozen.shift(24 * H)
    due.roll_places()
    early = timezone.now() - days - H
    key = (manager.agency_id, busy.pk)
    PlaceChild.objects.create(viewer=manager.agency, place=busy.pk, child=a, latest_at=early)
    deltas: dict = {}
    due._insert(
        [
            DueItem(
                viewer=manager.agency, kind=due.SIGHTINGS.slug, child=a, item_id=0,
                due_at=early - dt.timedelta(microseconds=1), until=early + days,
                sort_num=busy.pk, sort_at=early,
            )
        ],
        deltas,
    )  # fmt: skip
    due._apply(deltas)
    due._tally({key: 1}, {key: early}, set(), {key: 1})
    check(0)
    frozen.shift(H)
    assert due.roll_places() == 1
    assert tally(busy) == (1, NOW - 10 * H)
    assert not DueItem.objects.filter(item_id=0).exists()
    # A sighting after the page's time (asked about a time after the pass, before the
    # sighting was recorded): from the kept sightings, which read the period alone.
    rolled = timezone.now()
    frozen.shift(H)
    episode(b, last_seen=timezone.now() - 10 * MINUTE, last_seen_location=quiet)
    assert tallies_answer(manager, rolled + 30 * MINUTE) is False
    assert_hotspots_kept(manager, rolled + 30 * MINUTE)
    check(0)
    assert tally(quiet) == (1, timezone.now() - 10 * MINUTE)


def test_the_scheduler_moves_the_hotspot_tallies_on_in_a_few_queries(
    frozen, west_child, manager, django_assert_num_queries
):
    """The scheduler's pass is proportional to the rows fallen out of the period since
    the last one (a range of ``placechild_at_idx``), whatever the history."""
    from notifications.management.commands.notifications_scheduler import PASS_STEPS

    (step,) = [step for step in PASS_STEPS if step.name == "hotspots"]
    place = LocationFactory()
    first, second = west_child(), west_child()
    for child, hours in ((first, 30), (second, 20)):
        episode(child, last_seen=NOW - hours * H, last_seen_location=place)
    assert step.run() == 0
    # Run again at once: the start read, nothing to do.
    with django_assert_num_queries(1):
        assert step.run() == 0
    # A minute on, nothing fallen out: the start read, the kept sightings whose period
    # is over with the children of the rows before the new start (none, one query),
    # those rows deleted and the start moved on, in a savepoint.
    frozen.shift(dt.timedelta(minutes=1))
    with django_assert_num_queries(ROLL_QUERIES):
        assert step.run() == 0
    frozen.shift(dt.timedelta(days=Filters().days) - 25 * H)
    # The first child's row fallen out, for each agency that sees the child.
    assert step.run() == ChildVisibility.objects.filter(child=first).count() > 0
    assert tallies_answer(manager, timezone.now())
    assert_hotspots_kept(manager, timezone.now())


ROLL_QUERIES = 6


def test_until_the_table_is_filled_the_pages_count_from_the_records(fixed, manager):
    """Marked unfilled by the migration of a database holding records; filled after
    migrating when small (else by the command)."""
    DueItem.objects.all().delete()
    DueState.objects.update_or_create(pk=1, defaults={"filled": False, "built_at": NOW})
    assert not due.ready(manager, Filters())
    fill_due_items(sender=None)
    assert due.ready(manager, Filters())
    assert_kept_equals_raw(NOW)
    assert not due.ready(manager, Filters(days=30))


def test_visibility_rows_follow_the_agencies(fixed, la_west):
    child = fixed["a"]
    seen_by = set(ChildVisibility.objects.filter(child=child).values_list("agency_id", flat=True))
    assert set(DueItem.objects.filter(child=child).values_list("viewer_id", flat=True)) <= seen_by
    assert DueItem.objects.filter(child=child, viewer=la_west).exists()


@pytest.fixture
def refusing(settings):
    from tests.notifications.fault_mail import RefusingBackend

    settings.MAILERS = {"default": {"BACKEND": "tests.notifications.fault_mail.RefusingBackend"}}
    settings.EMAIL_SEND_CONNECTIONS = 1
    RefusingBackend.error = None
    yield RefusingBackend
    RefusingBackend.error = None


def test_the_e_mail_worker_keeps_the_lists_through_claims_failures_retries_and_deliveries(
    fixed, frozen, refusing
):
    """Through the worker's own functions: a claim (a retry claimed leaves *E-mails
    failing* while it is sent), a temporary and a permanent refusal, a claim given back,
    a lease running out and taken over, deliveries; the kept rows equal the raw lists
    after each, now and later."""
    from notifications.sending import claim_batch, release, send_batch
    from tests.notifications.fault_mail import permanent_refusal, temporary_refusal

    D = Notification.Delivery

    def check() -> None:
        for later in (dt.timedelta(0), 3 * H, dt.timedelta(days=3)):
            assert_kept_equals_raw(timezone.now() + later)

    due_rows = Notification.objects.filter(status=Notification.Status.DUE)
    due_rows.update(delivery=D.QUEUED, next_attempt_at=NOW, recipient_email="duty@example.org")
    queued = due_rows.filter(delivery=D.QUEUED).count()
    assert queued >= 5
    check()
    refusing.error = temporary_refusal
    assert set(send_batch(worker="w1", size=3)) == {"retrying"}
    check()
    assert DueItem.objects.filter(kind="emails_failing").exists()
    frozen.shift(dt.timedelta(minutes=2))
    # Another worker claims the retries (and the queued rows) and has not sent them yet.
    claimed = claim_batch(worker="w2", size=50)
    assert {n.claimed_from for n in claimed} == {D.RETRYING, D.QUEUED}
    check()
    release(claimed, worker="w2")
    check()
    refusing.error = permanent_refusal
    assert send_batch(worker="w1", size=1) == ["failed"]
    check()
    # A claim left behind by a worker that died: once its lease has run out, another
    # worker takes it over and delivers it.
    left = claim_batch(worker="w2", size=2)
    assert left
    frozen.shift(dt.timedelta(hours=1))
    refusing.error = None
    outcomes = send_batch(worker="w1", size=50)
    assert "delivered" in outcomes
    check()
    assert not Notification.objects.filter(delivery__in=[D.SENDING, D.QUEUED]).exists()
    assert due.differences() == NO_DIFFERENCES
