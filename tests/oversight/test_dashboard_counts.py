"""The dashboard's counts, read in one query, equal the lists' rows counted one by one."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from io import StringIO

import pytest
from django.core.management import call_command

from incidents.models import ChildVisibility, Episode
from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from oversight import queries
from oversight.filters import Filters
from oversight.views import LISTS

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)


def managers() -> list[User]:
    """A manager at each agency that sees a child (unsaved: only agency and role count)."""
    ids = set(ChildVisibility.objects.values_list("agency_id", flat=True))
    return [
        User(agency=agency, role=User.Role.MANAGER, is_active=True)
        for agency in Agency.objects.filter(pk__in=ids)
    ]


def hotspots_by_hand(user: User, filters: Filters, now: dt.datetime) -> int:
    """Places where two or more children were last seen or found in the period, from
    every episode the manager may see."""
    since = now - dt.timedelta(days=filters.days)
    places: dict[int, set[int]] = defaultdict(set)
    for e in queries._scoped(Episode.objects.all(), user, filters, child="child", episode=""):
        if e.last_seen_location_id and since <= e.last_seen_at <= now:
            places[e.last_seen_location_id].add(e.child_id)
        if e.found_location_id and e.found_at and since <= e.found_at <= now:
            places[e.found_location_id].add(e.child_id)
    return sum(1 for children in places.values() if len(children) >= queries.HOTSPOT_CHILDREN)


def test_dashboard_counts_equal_the_rows_of_each_list(time_machine):
    time_machine.move_to(NOW, tick=False)
    call_command(
        "generate_synthetic_data",
        children=25,
        episodes=120,
        seed=5,
        batch_size=100,
        stdout=StringIO(),
    )
    compared = 0
    for user in managers():
        for filters in (
            Filters(),
            Filters(days=365),
            Filters(local_authority=LocalAuthorityArea.objects.first()),
            Filters(risk="high"),
        ):
            parts = {
                page.slug: (
                    page.count_query(user, filters, NOW)
                    if page.count_query
                    else page.query(user, filters, NOW)
                )
                for page in LISTS
            }
            counted = queries.counts(parts)
            raw = {page.slug: len(list(page.query(user, filters, NOW))) for page in LISTS}
            assert counted == raw, (user.agency, filters)
            assert counted["hotspots"] == hotspots_by_hand(user, filters, NOW)
            compared += sum(1 for n in raw.values() if n)
    # The synthetic data leaves something on most lists: the comparison is not of zeros.
    assert compared > 20
