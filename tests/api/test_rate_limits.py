"""Rate limits, counted in the database so that every process shares them; time moved
with time-machine, never slept."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from api.models import RateLimitCounter
from missingkids.audit.models import AccessLogEntry

from .conftest import Caller

pytestmark = pytest.mark.django_db

FIND = "/api/v1/episodes/?police_reference=X"
START = dt.datetime(2026, 11, 30, 12, 0, 0, 250_000, tzinfo=dt.UTC)


def test_a_thousand_calls_in_a_second_are_limited_with_when_to_try_again(
    force, area_west, settings
):
    settings.API_RATE_LIMIT = "1000/second"
    with time_machine.travel(START, tick=False) as traveller:
        answers = [force.get(FIND).status_code for _ in range(1001)]
        assert answers.count(200) == 1000
        assert answers[-1] == 429
        refused = force.get(FIND)
        assert refused.status_code == 429
        assert refused["Content-Type"] == "application/problem+json"
        assert refused.json()["status"] == 429
        assert refused["Retry-After"] == "1"
        # The next second is a new window.
        traveller.shift(dt.timedelta(seconds=1))
        assert force.get(FIND).status_code == 200


def test_retry_after_is_the_rest_of_the_window(force, area_west, settings):
    settings.API_RATE_LIMIT = "2/minute"
    with time_machine.travel(START, tick=False) as traveller:
        assert [force.get(FIND).status_code for _ in range(3)] == [200, 200, 429]
        traveller.shift(dt.timedelta(seconds=20))
        refused = force.get(FIND)
        assert refused.status_code == 429
        assert refused["Retry-After"] == "40"
        traveller.shift(dt.timedelta(seconds=40))
        assert force.get(FIND).status_code == 200
    assert AccessLogEntry.objects.filter(action="refused", status_code=429).count() == 2


def test_the_count_is_shared_by_every_process(force, area_west, settings):
    """A process's own cache plays no part: clearing it (as another gunicorn worker,
    with its own memory, would start) does not reset the count."""
    settings.API_RATE_LIMIT = "3/hour"
    with time_machine.travel(START, tick=False):
        for _ in range(3):
            assert force.get(FIND).status_code == 200
            cache.clear()
        assert force.get(FIND).status_code == 429
    (row,) = RateLimitCounter.objects.all()
    assert row.calls == 4


def test_each_system_has_its_own_count(client, force, area_west, la_west, admin_user, settings):
    from .conftest import register

    settings.API_RATE_LIMIT = "1/minute"
    _, other_token = register(la_west, admin_user, operations=[])
    other = Caller(client, other_token)
    with time_machine.travel(START, tick=False):
        assert force.get(FIND).status_code == 200
        assert force.get(FIND).status_code == 429
        assert other.get("/api/v1/events/").status_code == 200


def test_calls_without_a_valid_token_are_limited_by_address(client, area_west, settings):
    settings.API_ANONYMOUS_RATE_LIMIT = "2/minute"
    caller = Caller(client, "mk_nothing_here")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert [caller.get(FIND).status_code for _ in range(3)] == [401, 401, 429]
        traveller.shift(dt.timedelta(minutes=1))
        assert caller.get(FIND).status_code == 401
