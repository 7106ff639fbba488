"""Housekeeping: expired sessions (and the drafts in them), signed-in session records
whose session has gone, and spent lockout counters are cleared; nothing else is."""

from __future__ import annotations

import datetime as dt
import logging
from io import StringIO

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from incidents.views.children import DRAFTS_KEY
from missingkids.accounts.housekeeping import housekeeping_if_due, housekeeping_run
from missingkids.accounts.models import HousekeepingRun, UserSession
from missingkids.audit.models import AccessLogEntry

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def _attempt(username: str, at: dt.datetime) -> AccessAttempt:
    with time_machine.travel(at, tick=False):
        return AccessAttempt.objects.create(
            username=username,
            ip_address="192.0.2.1",
            user_agent="test",
            get_data="",
            post_data="",
            http_accept="",
            path_info="/sign-in/",
            failures_since_start=3,
        )


def test_expired_sessions_and_their_drafts_are_cleared(client, social_worker):
    with time_machine.travel(START, tick=False):
        client.force_login(social_worker)
        # An abandoned add-a-child journey: its answers are kept in the session.
        session = client.session
        session[DRAFTS_KEY] = {"draft-token-1": {"first_name": ["Abandoned"]}}
        session.save()
        key = session.session_key
        assert DRAFTS_KEY in SessionStore(key).load()
    assert Session.objects.filter(session_key=key).exists()

    # A session is kept no longer than a sign-in may last (10 hours).
    with time_machine.travel(START + dt.timedelta(hours=9), tick=False):
        still_live = Client()
        still_live.force_login(social_worker)
        live_key = still_live.session.session_key
    with time_machine.travel(START + dt.timedelta(hours=10, minutes=1), tick=False):
        counts = housekeeping_run()

    assert counts.sessions == 1
    assert counts.user_sessions == 1
    assert not Session.objects.filter(session_key=key).exists()
    assert not UserSession.objects.filter(session_key=key).exists()
    assert Session.objects.filter(session_key=live_key).exists()
    assert UserSession.objects.filter(session_key=live_key).exists()


def test_lockout_counters_past_the_lockout_period_go_and_current_ones_stay(settings):
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=30)
    spent = _attempt("spent@example.org", START - dt.timedelta(minutes=31))
    current = _attempt("current@example.org", START - dt.timedelta(minutes=29))

    with time_machine.travel(START, tick=False):
        counts = housekeeping_run()

    assert counts.lockout_attempts == 1
    assert not AccessAttempt.objects.filter(pk=spent.pk).exists()
    assert AccessAttempt.objects.filter(pk=current.pk).exists()


def test_the_access_log_is_never_cleared(officer):
    with time_machine.travel(START - dt.timedelta(days=400), tick=False):
        AccessLogEntry.objects.create(user=officer, action=AccessLogEntry.Action.SIGN_IN)
    with time_machine.travel(START, tick=False):
        housekeeping_run()
    assert AccessLogEntry.objects.count() == 1


def test_a_pass_is_due_hourly_and_records_itself(settings):
    settings.HOUSEKEEPING_INTERVAL = dt.timedelta(hours=1)
    with time_machine.travel(START, tick=False):
        assert housekeeping_if_due() is not None
    with time_machine.travel(START + dt.timedelta(minutes=59), tick=False):
        assert housekeeping_if_due() is None
    with time_machine.travel(START + dt.timedelta(hours=1), tick=False):
        assert housekeeping_if_due() is not None
    assert HousekeepingRun.objects.count() == 2


def test_an_idle_check_costs_one_query(django_assert_num_queries):
    with time_machine.travel(START, tick=False):
        housekeeping_run()
    with (
        time_machine.travel(START + dt.timedelta(minutes=5), tick=False),
        django_assert_num_queries(1),
    ):
        assert housekeeping_if_due() is None


def test_old_records_of_passes_are_removed(settings):
    settings.HOUSEKEEPING_RUNS_KEPT = dt.timedelta(days=90)
    HousekeepingRun.objects.create(ran_at=START - dt.timedelta(days=91))
    kept = HousekeepingRun.objects.create(ran_at=START - dt.timedelta(days=89))
    with time_machine.travel(START, tick=False):
        housekeeping_run()
    assert set(HousekeepingRun.objects.values_list("ran_at", flat=True)) == {kept.ran_at, START}


def test_the_command_and_the_log_give_counts_only(caplog, social_worker):
    _attempt(social_worker.email, timezone.now() - dt.timedelta(days=2))
    out = StringIO()
    with caplog.at_level(logging.INFO, logger="missingkids.housekeeping"):
        call_command("housekeeping", stdout=out)
    assert "1 lockout counter(s)" in out.getvalue()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "1 lockout counter(s)" in logged
    assert social_worker.email not in logged + out.getvalue()


def test_the_scheduler_runs_housekeeping_once_an_hour(settings):
    settings.HOUSEKEEPING_INTERVAL = dt.timedelta(hours=1)
    _attempt("spent@example.org", START - dt.timedelta(days=1))
    with time_machine.travel(START, tick=False):
        call_command("notifications_scheduler", "--once", stdout=StringIO())
        call_command("notifications_scheduler", "--once", stdout=StringIO())
    assert HousekeepingRun.objects.count() == 1
    assert not AccessAttempt.objects.exists()
