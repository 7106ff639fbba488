"""The measures' kept counts of closed months: the page's numbers equal the records'."""

from __future__ import annotations

import dataclasses
import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from incidents.models import ChildVisibility, ReturnInterview
from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from oversight import aggregates, queries
from oversight.filters import Filters
from oversight.models import MeasureMonth, MonthlyCount

from .world import NOW, episode

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
                assert dataclasses.asdict(kept) == dataclasses.asdict(raw), (user.agency, filters)
                used += bool(aggregates.fresh_months(kept.months, now))
    return used


@pytest.mark.parametrize("now", [MID_MONTH, NEW_MONTH], ids=["mid-month", "new-month"])
def test_kept_counts_equal_the_records(now, time_machine):
    generate(now - dt.timedelta(days=3), time_machine)
    time_machine.move_to(now, tick=False)
    assert aggregates.refresh(now, limit=None) == aggregates.KEPT_MONTHS
    assert MonthlyCount.objects.exists()
    assert assert_same(now) > 0
    # The month before is read from the records until its returns' checks are due.
    closed = aggregates.kept_months(now)
    before = queries.month_starts(now, 2)[0]
    assert (before in closed) == (now == MID_MONTH)


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
    assert aggregates.refresh(later) == 1
    assert MeasureMonth.objects.get(month=month).built_at == later
    assert assert_same(later) > 0


def test_a_stale_month_is_counted_from_the_records(time_machine):
    generate(MID_MONTH - dt.timedelta(days=3), time_machine)
    time_machine.move_to(MID_MONTH, tick=False)
    aggregates.refresh(MID_MONTH, limit=None)
    months = queries.month_starts(MID_MONTH, 12)
    assert aggregates.fresh_months(months, MID_MONTH) == months[:-1]
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
    # A few months a pass, the longest counted first, until all are counted again.
    later = MID_MONTH + dt.timedelta(hours=25)
    passes = 0
    while aggregates.refresh(later) == aggregates.MONTHS_PER_PASS:
        passes += 1
    assert passes == aggregates.KEPT_MONTHS // aggregates.MONTHS_PER_PASS
    assert not MeasureMonth.objects.filter(built_at__lt=later).exists()


def test_a_pass_counts_a_few_months_and_the_page_counts_the_rest(time_machine):
    generate(MID_MONTH - dt.timedelta(days=3), time_machine)
    time_machine.move_to(MID_MONTH, tick=False)
    assert aggregates.refresh(MID_MONTH) == aggregates.MONTHS_PER_PASS
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
    assert f"Counted {aggregates.KEPT_MONTHS} month(s)" in out.getvalue()
    assert MeasureMonth.objects.filter(stale=False).count() == aggregates.KEPT_MONTHS


@pytest.mark.parametrize("size", [1, 6])
def test_the_page_reads_kept_months_in_a_pinned_number_of_queries(
    client, manager, la_west, police, area_east, west_child, frozen, size, django_assert_num_queries
):
    from django.urls import reverse

    from .test_views import BASE, FORM, world

    world(size, la=la_west, police=police, west_child=west_child, host=area_east)
    for months_back in range(1, size + 1):
        episode(west_child(), last_seen=NOW - dt.timedelta(days=31 * months_back))
    aggregates.refresh(NOW, limit=None)
    assert MonthlyCount.objects.filter(viewer=la_west).exists()
    client.force_login(manager)
    url = reverse("oversight:measures")
    client.get(url)
    # As with no kept months, and the kept months' counts.
    with django_assert_num_queries(BASE + FORM + 9):
        response = client.get(url)
    assert response.status_code == 200
    filters = Filters()
    assert dataclasses.asdict(response.context["data"]) == dataclasses.asdict(
        queries.measures(manager, filters, NOW, kept=False)
    )


def test_a_time_corrected_into_another_month_counts_both_again(
    west_child, la_west, manager, frozen
):
    child = west_child()
    august = dt.datetime(2026, 8, 12, 9, 0, tzinfo=dt.UTC)
    moved = episode(child, last_seen=august, found=august + dt.timedelta(hours=5))
    aggregates.refresh(NOW, limit=None)
    before = queries.measures(manager, Filters(months=6), NOW)
    assert before.by_month[2]["episodes"] == 1
    # Corrected to July, ten minutes later.
    later = NOW + dt.timedelta(minutes=10)
    frozen.move_to(later)
    moved.last_seen_at -= dt.timedelta(days=31)
    moved.found_at -= dt.timedelta(days=31)
    moved.first_found_at = moved.found_at
    moved.save()
    assert aggregates.refresh(later) == 2
    after = queries.measures(manager, Filters(months=6), later)
    assert [row["episodes"] for row in after.by_month[1:3]] == [1, 0]
    assert aggregates.fresh_months(after.months, later) == after.months[:-1]
    assert dataclasses.asdict(after) == dataclasses.asdict(
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
    assert aggregates.refresh(later) == 3
    assert set(MeasureMonth.objects.filter(built_at=later).values_list("month", flat=True)) == {
        dt.date(2026, 5, 1),
        dt.date(2026, 6, 1),
        dt.date(2026, 8, 1),
    }
    # A name corrected moves nothing; a new council moves every month of the child.
    # (Each pass looks back five minutes before the last, so counts those again once.)
    assert aggregates.refresh(later + dt.timedelta(minutes=6)) == 3
    frozen.move_to(later + dt.timedelta(minutes=10))
    child.first_name = "Corrected"
    child.save()
    assert aggregates.refresh(later + dt.timedelta(minutes=10)) == 0
    frozen.move_to(later + dt.timedelta(minutes=20))
    child.responsible_area = area_east
    child.save()
    # May and June (last seen and found) and August.
    assert aggregates.refresh(later + dt.timedelta(minutes=20)) == 3
    last = later + dt.timedelta(minutes=20)
    for months in (12, 24):
        assert dataclasses.asdict(
            queries.measures(manager, Filters(months=months), last)
        ) == dataclasses.asdict(queries.measures(manager, Filters(months=months), last, kept=False))
