"""The measures' kept counts of closed and open months: the page's numbers equal the
records' (an open month's, as of when it was counted)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from incidents.models import ChildVisibility, ReturnInterview
from missingkids import policy
from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from oversight import aggregates, queries
from oversight.filters import Filters
from oversight.models import MeasureMonth, MonthlyCount

from .world import NOW, episode, returned

pytestmark = pytest.mark.django_db

# Mid-month, and the first hours of a month (the month before is not closed yet: its
# last returns' safe and well checks are not due).
MID_MONTH = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)
NEW_MONTH = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def generate(now: dt.datetime, time_machine) -> None:
    time_machine.move_to(now, tick=False)
    call_command(
        "generate_synthetic_data",
        children=25,
        episodes=90,
        seed=11,
        batch_size=100,
        stdout=StringIO(),
    )
    # The command counts every kept month once the rows are in; these tests follow the
    # scheduler's passes from before any month is counted.
    MonthlyCount.objects.all().delete()
    MeasureMonth.objects.all().delete()


def viewers() -> list[User]:
    """A manager at each agency that sees a child (unsaved: only agency and role count)."""
    ids = set(ChildVisibility.objects.values_list("agency_id", flat=True))
    return [
        User(agency=agency, role=User.Role.MANAGER, is_active=True)
        for agency in Agency.objects.filter(pk__in=ids)
    ]


def comparable(data: queries.Measures) -> dict:
    """The page's numbers, without when the open months read were counted."""
    out = dataclasses.asdict(data)
    del out["counted_at"], out["counted_months"]
    return out


def assert_same(now: dt.datetime) -> int:
    """Compare the page's measures with those counted from the records, for each
    manager, period and council; return how many comparisons used kept months."""
    used = 0
    areas = [None, *LocalAuthorityArea.objects.all()]
    for user in viewers():
        for months in (3, 12, 24):
            for area in areas:
                filters = Filters(months=months, local_authority=area)
                kept = queries.measures(user, filters, now)
                raw = queries.measures(user, filters, now, kept=False)
                assert comparable(kept) == comparable(raw), (user.agency, filters)
                used += bool(aggregates.fresh_months(kept.months, now))
    return used


@pytest.mark.parametrize("now", [MID_MONTH, NEW_MONTH], ids=["mid-month", "new-month"])
def test_kept_counts_equal_the_records(now, time_machine):
    generate(now - dt.timedelta(days=3), time_machine)
    time_machine.move_to(now, tick=False)
    opened = aggregates.open_months(now)
    assert aggregates.refresh(now, limit=None) == aggregates.KEPT_MONTHS + len(opened)
    assert MonthlyCount.objects.exists()
    assert assert_same(now) > 0
    # The month before is open until its returns' checks are due, and counted as of now,
    # like the current month: the page reads only kept counts.
    closed = aggregates.kept_months(now)
    before, current = queries.month_starts(now, 2)
    assert (before in closed) == (now == MID_MONTH)
    assert opened == ([current] if now == MID_MONTH else [before, current])
    months = queries.month_starts(now, 24)
    assert aggregates.readable(months, now) == aggregates.Readable(months, now)
    # Read as they were counted for a while after, not once the scheduler has stopped.
    later = now + aggregates.OPEN_READ_WITHIN
    assert aggregates.fresh_months(months, later) == months
    assert (
        aggregates.fresh_months(months, later + dt.timedelta(seconds=1)) == months[: -len(opened)]
    )


def test_a_late_correction_is_counted_at_the_next_pass(time_machine):
    generate(MID_MONTH - dt.timedelta(days=3), time_machine)
    time_machine.move_to(MID_MONTH, tick=False)
    aggregates.refresh(MID_MONTH, limit=None)
    interview = (
        ReturnInterview.objects.filter(
            outcome=ReturnInterview.Outcome.PENDING,
            due_at__lt=aggregates.local_start(aggregates.closed_before(MID_MONTH)),
        )
        .order_by("due_at")
        .first()
    )
    assert interview is not None
    # Recorded late, as held on time (the history row is what the pass looks for).
    later = MID_MONTH + dt.timedelta(minutes=10)
    time_machine.move_to(later, tick=False)
    interview.outcome = ReturnInterview.Outcome.HELD
    interview.held_at = interview.due_at - dt.timedelta(hours=1)
    interview.save()
    month = aggregates.month_key(interview.due_at)
    # That month, and the current one (counted again every few minutes).
    assert aggregates.refresh(later) == 2
    assert MeasureMonth.objects.get(month=month).built_at == later
    assert assert_same(later) > 0


def test_a_stale_month_is_counted_from_the_records(time_machine):
    generate(MID_MONTH - dt.timedelta(days=3), time_machine)
    time_machine.move_to(MID_MONTH, tick=False)
    aggregates.refresh(MID_MONTH, limit=None)
    months = queries.month_starts(MID_MONTH, 12)
    assert aggregates.fresh_months(months, MID_MONTH) == months
    # A stale month and every month after it are counted from the records.
    aggregates.mark_stale([months[5]])
    assert aggregates.fresh_months(months, MID_MONTH) == months[:5]
    MonthlyCount.objects.filter(month=months[5]).update(count=999)
    assert assert_same(MID_MONTH) > 0


def test_the_daily_pass_counts_every_month_again(time_machine):
    generate(MID_MONTH - dt.timedelta(days=3), time_machine)
    time_machine.move_to(MID_MONTH, tick=False)
    aggregates.refresh(MID_MONTH, limit=None)
    assert aggregates.refresh(MID_MONTH + dt.timedelta(minutes=1)) == 0
    # A few months a pass, the longest counted first, until all are counted again (and
    # the current month, counted again every few minutes, at the first).
    later = MID_MONTH + dt.timedelta(hours=25)
    assert aggregates.refresh(later) == aggregates.MONTHS_PER_PASS + 1
    passes = 1
    while aggregates.refresh(later) == aggregates.MONTHS_PER_PASS:
        passes += 1
    assert passes == aggregates.KEPT_MONTHS // aggregates.MONTHS_PER_PASS
    assert not MeasureMonth.objects.filter(built_at__lt=later).exists()


def test_a_pass_counts_a_few_months_and_the_page_counts_the_rest(time_machine):
    generate(MID_MONTH - dt.timedelta(days=3), time_machine)
    time_machine.move_to(MID_MONTH, tick=False)
    # And the current month, which is counted whenever due.
    assert aggregates.refresh(MID_MONTH) == aggregates.MONTHS_PER_PASS + 1
    months = queries.month_starts(MID_MONTH, 24)
    # The oldest months first: the period's first months are read from the kept counts.
    counted = aggregates.kept_months(MID_MONTH)[: aggregates.MONTHS_PER_PASS]
    assert aggregates.fresh_months(months, MID_MONTH) == [m for m in counted if m >= months[0]]
    assert assert_same(MID_MONTH) > 0


def test_the_command_counts_every_month(time_machine):
    generate(MID_MONTH - dt.timedelta(days=3), time_machine)
    time_machine.move_to(MID_MONTH, tick=False)
    out = StringIO()
    call_command("refresh_measures", "--all", stdout=out)
    assert f"Counted {aggregates.KEPT_MONTHS + 1} month(s)" in out.getvalue()
    assert MeasureMonth.objects.filter(stale=False).count() == aggregates.KEPT_MONTHS + 1


@pytest.mark.parametrize("size", [1, 6])
@pytest.mark.parametrize("csv", [False, True], ids=["page", "csv"])
def test_the_page_reads_kept_months_in_a_pinned_number_of_queries(
    client,
    manager,
    la_west,
    police,
    area_east,
    west_child,
    frozen,
    size,
    csv,
    django_assert_num_queries,
):
    from django.urls import reverse

    from .test_views import BASE, FORM, world

    world(size, la=la_west, police=police, west_child=west_child, host=area_east)
    for months_back in range(1, size + 1):
        episode(west_child(), last_seen=NOW - dt.timedelta(days=31 * months_back))
    aggregates.refresh(NOW, limit=None)
    assert MonthlyCount.objects.filter(viewer=la_west, month=aggregates.month_key(NOW)).exists()
    client.force_login(manager)
    url = reverse("oversight:measures") + ("?format=csv" if csv else "")
    client.get(url)
    reference = queries.measures(manager, Filters(), NOW, kept=False)
    # Every month kept: the counts kept from erased records, which months may be read,
    # and their counts. (The file has no header's agency nor filter form.)
    base = BASE - 1 if csv else BASE + FORM
    with django_assert_num_queries(base + 3):
        response = client.get(url)
    assert response.status_code == 200
    if not csv:
        assert comparable(response.context["data"]) == comparable(reference)
        assert response.context["counted"] == {"months": "November 2026", "at": "12:00"}
        assert "are as counted at 12:00" in response.text
    # The current month stale: counted from the records, as with no kept months, and the
    # closed months' counts.
    aggregates.mark_stale([aggregates.month_key(NOW)])
    with django_assert_num_queries(base + 9):
        response = client.get(url)
    assert response.status_code == 200
    if not csv:
        assert comparable(response.context["data"]) == comparable(reference)
        assert response.context["counted"] is None
        assert "counted at" not in response.text
    else:
        assert response.content.decode() == client.get(url).content.decode()


def test_a_time_corrected_into_another_month_counts_both_again(
    west_child, la_west, manager, frozen
):
    child = west_child()
    august = dt.datetime(2026, 8, 12, 9, 0, tzinfo=dt.UTC)
    moved = episode(child, last_seen=august, found=august + dt.timedelta(hours=5))
    aggregates.refresh(NOW, limit=None)
    before = queries.measures(manager, Filters(months=6), NOW)
    assert before.by_month[2]["episodes"] == 1
    # Ten minutes on, before the pass: the current month as counted at noon.
    assert before.counted_at == NOW
    # Corrected to July, ten minutes later.
    later = NOW + dt.timedelta(minutes=10)
    frozen.move_to(later)
    moved.last_seen_at -= dt.timedelta(days=31)
    moved.found_at -= dt.timedelta(days=31)
    moved.first_found_at = moved.found_at
    moved.save()
    # July and August, and the current month (counted again every few minutes).
    assert aggregates.refresh(later) == 3
    after = queries.measures(manager, Filters(months=6), later)
    assert [row["episodes"] for row in after.by_month[1:3]] == [1, 0]
    assert aggregates.fresh_months(after.months, later) == after.months
    assert after.counted_at == later
    assert comparable(after) == comparable(
        queries.measures(manager, Filters(months=6), later, kept=False)
    )


def test_only_the_months_a_change_can_move_are_counted_again(
    west_child, la_west, area_east, manager, frozen
):
    child = west_child()
    june, august = (dt.datetime(2026, m, 12, 9, 0, tzinfo=dt.UTC) for m in (6, 8))
    first = episode(child, last_seen=june, found=june + dt.timedelta(hours=5))
    episode(child, last_seen=august, found=august + dt.timedelta(hours=5))
    aggregates.refresh(NOW, limit=None)
    later = NOW + dt.timedelta(minutes=10)
    frozen.move_to(later)
    # June's episode moved into May: May, June, and August (whose child's previous
    # episode is now a month further back).
    first.last_seen_at -= dt.timedelta(days=31)
    first.save()
    # And the current month, counted again every few minutes.
    assert aggregates.refresh(later) == 4
    assert set(MeasureMonth.objects.filter(built_at=later).values_list("month", flat=True)) == {
        dt.date(2026, 5, 1),
        dt.date(2026, 6, 1),
        dt.date(2026, 8, 1),
        dt.date(2026, 11, 1),
    }
    # A name corrected moves nothing; a new council moves every month of the child.
    # (Each pass looks back five minutes before the last, so counts those again once.)
    assert aggregates.refresh(later + dt.timedelta(minutes=6)) == 4
    frozen.move_to(later + dt.timedelta(minutes=10))
    child.first_name = "Corrected"
    child.save()
    assert aggregates.refresh(later + dt.timedelta(minutes=10)) == 0
    frozen.move_to(later + dt.timedelta(minutes=20))
    child.responsible_area = area_east
    child.save()
    # May and June (last seen and found) and August; and the current month.
    assert aggregates.refresh(later + dt.timedelta(minutes=20)) == 4
    last = later + dt.timedelta(minutes=20)
    for months in (12, 24):
        assert comparable(queries.measures(manager, Filters(months=months), last)) == comparable(
            queries.measures(manager, Filters(months=months), last, kept=False)
        )


def test_an_open_month_is_read_as_counted_and_counted_again_as_time_passes(
    west_child, la_west, manager, frozen
):
    """An interview falls due with time alone: the page shows the current month as
    counted (and says when), and the next pass counts it again within minutes; a change
    to the records is counted at the first pass after it."""
    # Recorded an hour ago (a pass looks back a few minutes before the last).
    frozen.move_to(NOW - dt.timedelta(hours=1))
    due_soon = returned(
        west_child(), la_west, found=NOW + dt.timedelta(minutes=10) - policy.interview_due_after()
    )
    frozen.move_to(NOW)
    aggregates.refresh(NOW, limit=None)
    filters = Filters(months=1)

    def page(at: dt.datetime) -> queries.Measures:
        return queries.measures(manager, filters, at)

    # Before it falls due, and nothing due yet in a pass's time.
    assert aggregates.refresh(NOW + dt.timedelta(minutes=4)) == 0
    assert page(NOW).by_month[0]["interviews_due"] == 0
    # Due at 12:10: at 12:12 the page shows the month as counted at noon.
    at = NOW + dt.timedelta(minutes=12)
    frozen.move_to(at)
    shown = page(at)
    assert (shown.counted_at, shown.counted_months) == (NOW, [dt.date(2026, 11, 1)])
    assert comparable(shown) == comparable(queries.measures(manager, filters, NOW, kept=False))
    assert queries.measures(manager, filters, at, kept=False).by_month[0]["interviews_due"] == 1
    # Counted again five minutes after the last count: now due, not held.
    assert aggregates.refresh(at) == 1
    assert page(at).by_month[0]["interviews_due"] == 1
    assert comparable(page(at)) == comparable(queries.measures(manager, filters, at, kept=False))
    # Held a minute later (late): counted at the next pass, though counted two minutes ago.
    held = at + dt.timedelta(minutes=1)
    frozen.move_to(held)
    due_soon.outcome, due_soon.held_at = ReturnInterview.Outcome.HELD, held
    due_soon.save()
    after = held + dt.timedelta(minutes=1)
    assert aggregates.refresh(after) == 1
    assert page(after).counted_at == after
    # Once: the passes after look back five minutes for closed months only.
    assert aggregates.refresh(after + dt.timedelta(minutes=1)) == 0
    assert comparable(page(after)) == comparable(
        queries.measures(manager, filters, after, kept=False)
    )


def test_an_open_month_not_counted_stale_or_counted_long_ago_is_counted_from_the_records(
    client, manager, la_west, police, west_child, frozen
):
    from .test_views import world

    world(2, la=la_west, police=police, west_child=west_child)
    months = queries.month_starts(NOW, 3)
    filters = Filters(months=3)

    def check(at: dt.datetime, readable: list[dt.date]) -> None:
        data = queries.measures(manager, filters, at)
        assert aggregates.fresh_months(months, at) == readable
        assert data.counted_at is None
        assert comparable(data) == comparable(queries.measures(manager, filters, at, kept=False))

    # Never counted.
    check(NOW, [])
    aggregates.refresh(NOW, limit=None)
    assert aggregates.fresh_months(months, NOW) == months
    # Stale (a change not yet counted, or records erased).
    aggregates.mark_stale([months[-1]])
    check(NOW, months[:-1])
    # Counted, but longer ago than the page reads (the scheduler has stopped).
    aggregates.refresh(NOW, limit=None)
    check(NOW + aggregates.OPEN_READ_WITHIN + dt.timedelta(minutes=1), months[:-1])
    # A count made later than the page's time is not read either.
    check(NOW - dt.timedelta(minutes=1), months[:-1])


LATE_MARCH = dt.datetime(2026, 3, 31, 22, 50, tzinfo=dt.UTC)  # 23:50 BST, 31 March


@pytest.mark.parametrize(
    ("at", "opened", "readable", "counted"),
    [
        # The last minutes of March: March is the only open month, as counted at 23:39.
        (LATE_MARCH, [dt.date(2026, 3, 1)], 3, 1),
        # 00:10 BST on 1 April (23:10 UTC): April has begun, not yet counted; March is
        # open for a day.
        (LATE_MARCH + dt.timedelta(minutes=20), [dt.date(2026, 3, 1), dt.date(2026, 4, 1)], 2, 2),
        # 00:10 BST on 2 April: March closed at midnight, local time; counted at 23:59
        # (open), it is not read as closed until counted again.
        (LATE_MARCH + dt.timedelta(days=1, minutes=20), [dt.date(2026, 4, 1)], 1, 2),
    ],
    ids=["end-of-march", "first-of-april", "second-of-april"],
)
def test_months_open_and_close_at_local_midnight_in_summer_time(
    west_child, la_west, manager, time_machine, at, opened, readable, counted
):
    time_machine.move_to(LATE_MARCH - dt.timedelta(days=5), tick=False)
    # Last seen in March (23:30 BST), found in April (00:30 BST); last seen in April
    # (00:05 BST, 23:05 UTC on 31 March), found in the hour before 2 April (BST).
    returned(west_child(), la_west, found=dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC))
    episode(
        west_child(),
        last_seen=dt.datetime(2026, 3, 31, 23, 5, tzinfo=dt.UTC),
        found=dt.datetime(2026, 4, 1, 22, 30, tzinfo=dt.UTC),
    )
    returned(west_child(), la_west, found=dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC))
    assert aggregates.closes_at(dt.date(2026, 3, 1)) == dt.datetime(
        2026, 4, 1, 23, 0, tzinfo=dt.UTC
    )
    # Counted eleven minutes before (within what the page reads), then the pass at ``at``.
    before = at - dt.timedelta(minutes=11)
    time_machine.move_to(before, tick=False)
    aggregates.refresh(before, limit=None)
    time_machine.move_to(at, tick=False)
    assert aggregates.open_months(at) == opened
    months = queries.month_starts(at, 3)
    filters = Filters(months=3)
    assert aggregates.fresh_months(months, at) == months[:readable]
    if readable == len(months):
        assert comparable(queries.measures(manager, filters, at)) == comparable(
            queries.measures(manager, filters, before, kept=False)
        )
    assert aggregates.refresh(at) == counted
    assert aggregates.fresh_months(months, at) == months
    data = queries.measures(manager, filters, at)
    assert (data.counted_at, data.counted_months) == (at, opened)
    assert comparable(data) == comparable(queries.measures(manager, filters, at, kept=False))


def test_the_scheduler_pass_counts_the_open_months_and_is_cheap_when_nothing_changed(
    manager, la_west, police, west_child, frozen, django_assert_num_queries
):
    from notifications.management.commands.notifications_scheduler import PASS_STEPS

    from .test_views import world

    frozen.move_to(NOW - dt.timedelta(hours=1))
    world(2, la=la_west, police=police, west_child=west_child)
    frozen.move_to(NOW)
    (step,) = [step for step in PASS_STEPS if step.name == "measures"]
    # The current month, and the first few closed months (the rest at the next passes).
    assert step.run() == 1 + aggregates.MONTHS_PER_PASS
    current = MeasureMonth.objects.get(month=aggregates.month_key(NOW))
    assert (current.built_at, current.stale) == (NOW, False)
    aggregates.refresh(NOW, limit=None)
    # A minute on, nothing changed: which months are kept, the history rows since the
    # last pass (six tables, by their indexed date), the months marked checked and those
    # too old deleted, in a savepoint here: nothing counted.
    frozen.move_to(NOW + dt.timedelta(minutes=1))
    with django_assert_num_queries(IDLE_PASS_QUERIES):
        assert step.run() == 0
    # Five minutes after the last count: the current month, and only it.
    frozen.move_to(NOW + aggregates.OPEN_COUNTED_EVERY)
    assert step.run() == 1
    assert MeasureMonth.objects.get(month=current.month).built_at == NOW + (
        aggregates.OPEN_COUNTED_EVERY
    )


IDLE_PASS_QUERIES = 12
