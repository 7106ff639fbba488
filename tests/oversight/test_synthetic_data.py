"""The synthetic data generator: right counts, and the rules the actions keep hold."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q
from django.utils import timezone

from incidents.models import (
    CaseEvent,
    Child,
    Episode,
    InterviewAttempt,
    Placement,
    ReturnInterview,
    SafeAndWellCheck,
)
from missingkids import policy
from missingkids.accounts.models import User
from notifications.engine import (
    StepBases,
    fire_timed_steps,
    next_timed_step_time,
    process_pending_events,
    steps_to_come,
)
from notifications.models import Notification, ProcessedEvent, TimedStepFired

pytestmark = pytest.mark.django_db


def generate(children: int = 20, episodes: int = 60, seed: int = 7) -> str:
    out = StringIO()
    call_command(
        "generate_synthetic_data",
        children=children,
        episodes=episodes,
        seed=seed,
        batch_size=100,
        stdout=out,
    )
    return out.getvalue()


def test_counts_and_constraints() -> None:
    output = generate()
    assert "Generated 20 children and 60 episodes" in output
    assert Child.objects.count() == 20
    assert Episode.objects.count() == 60
    # Everyone went missing at least once, since there are more episodes than children,
    # and a few children account for most of them.
    per_child = sorted(
        Child.objects.annotate(n=Count("episodes")).values_list("n", flat=True), reverse=True
    )
    assert min(per_child) >= 1
    assert sum(per_child[:5]) > 30  # a quarter of the children, over half the episodes

    open_episodes = Episode.objects.filter(found_at__isnull=True)
    assert open_episodes.exists()
    assert open_episodes.values("child").annotate(n=Count("id")).filter(n__gt=1).count() == 0
    assert not Episode.objects.filter(found_at__lt=F("last_seen_at")).exists()
    assert not Episode.objects.filter(reported_at__lt=F("last_seen_at")).exists()
    assert not Episode.objects.filter(closed_at__isnull=False, found_at__isnull=True).exists()
    now = timezone.now()
    assert not Episode.objects.filter(
        Q(last_seen_at__gt=now) | Q(found_at__gt=now) | Q(reported_at__gt=now)
    ).exists()
    assert not Episode.objects.filter(last_seen_at__lt=now - dt.timedelta(days=560)).exists()

    # Every returned episode has its interview, due exactly 72 hours after the return.
    returned = Episode.objects.filter(found_at__isnull=False)
    assert ReturnInterview.objects.count() == returned.count()
    for interview in ReturnInterview.objects.select_related("episode"):
        assert interview.due_at == interview.episode.found_at + policy.interview_due_after()
        if interview.held_at:
            assert interview.held_at >= interview.episode.found_at
        assert interview.owner.kind == "la"
    assert not SafeAndWellCheck.objects.filter(conducted_at__lt=F("episode__found_at")).exists()
    assert not InterviewAttempt.objects.filter(
        attempted_at__lt=F("interview__episode__found_at")
    ).exists()
    assert not SafeAndWellCheck.objects.filter(episode__found_at__isnull=True).exists()


def test_no_child_has_overlapping_episodes() -> None:
    generate(children=5, episodes=60)
    for child in Child.objects.all():
        episodes = list(child.episodes.order_by("last_seen_at"))
        for earlier, later in pairwise(episodes):
            assert earlier.found_at is not None
            assert earlier.found_at < later.last_seen_at


def test_a_protocol_event_for_each_step() -> None:
    generate()
    assert CaseEvent.objects.filter(kind="reported").count() == 60
    assert (
        CaseEvent.objects.filter(kind="returned").count()
        == Episode.objects.filter(found_at__isnull=False).count()
    )
    assert (
        CaseEvent.objects.filter(kind="safe_and_well_done").count()
        == SafeAndWellCheck.objects.count()
    )
    assert CaseEvent.objects.filter(kind="interview_attempt").count() == (
        InterviewAttempt.objects.count()
    )
    assert CaseEvent.objects.filter(kind="interview_held").count() == (
        ReturnInterview.objects.filter(outcome="held").count()
    )
    assert (
        CaseEvent.objects.filter(kind="closed").count()
        == Episode.objects.filter(closed_at__isnull=False).count()
    )
    reported = CaseEvent.objects.filter(kind="reported").first()
    assert {"risk", "category", "child_in_care", "placed_out_of_area"} <= set(reported.data)


def test_care_details_and_people_are_synthetic() -> None:
    generate(children=40, episodes=80)
    in_care = Child.objects.filter(legal_status="in_care")
    assert 0 < in_care.count() < 40
    assert Placement.objects.filter(child__in=in_care).count() == in_care.count()
    assert all(c.la_child_id.startswith("SY") for c in Child.objects.all())
    actors = User.objects.filter(email__endswith="@synthetic.invalid")
    assert actors.exists()
    assert not actors.filter(is_active=True).exists()


def test_notifications_and_nothing_left_for_the_engine() -> None:
    generate()
    assert Notification.objects.exists()
    assert (
        Notification.objects.filter(status="due").exists()
        or Notification.objects.filter(told_at__gt=F("due_at")).exists()
    )
    # Nothing is queued for e-mail: invented history must never reach anyone.
    assert not Notification.objects.filter(delivery__in=["queued", "retrying", "sending"]).exists()
    protocol = CaseEvent.objects.filter(is_protocol=True)
    assert ProcessedEvent.objects.count() == protocol.count()
    assert TimedStepFired.objects.exists()
    assert process_pending_events() == 0
    # Each episode stores when its next timed step falls due, as the engine works it out
    # (the rows were copied in bulk, without the model's save).
    for episode in Episode.objects.select_related("interview"):
        interview = getattr(episode, "interview", None)
        bases = StepBases.of(episode, interview.due_at if interview else None)
        expected = (
            None if episode.closed_at else next_timed_step_time(bases, steps_to_come(episode.pk))
        )
        assert episode.next_timed_step_at == expected, episode.pk
    before = Notification.objects.count()
    fire_timed_steps()
    # Only open episodes whose step falls due later than the data was made can fire.
    assert Notification.objects.count() >= before


def test_same_seed_same_data_and_runs_add_up() -> None:
    generate(children=10, episodes=20, seed=3)
    first = list(Episode.objects.order_by("pk").values_list("risk", "category"))
    generate(children=10, episodes=20, seed=3)
    assert Child.objects.count() == 20
    assert Child.objects.values("la_child_id").distinct().count() == 20
    second = list(Episode.objects.order_by("pk").values_list("risk", "category"))[20:]
    assert first == second


def test_refuses_impossible_numbers() -> None:
    with pytest.raises(CommandError):
        call_command("generate_synthetic_data", children=1, episodes=1000)


# Run as the command runs (no caller's transaction): each chunk is written by the writer
# thread on its own connection, foreign key triggers off when connected as a superuser.
REFERENCES = (
    ("incidents_episode", "child_id", "incidents_child"),
    ("incidents_caseevent", "episode_id", "incidents_episode"),
    ("incidents_caseevent", "child_id", "incidents_child"),
    ("incidents_riskgrading", "episode_id", "incidents_episode"),
    ("incidents_safeandwellcheck", "episode_id", "incidents_episode"),
    ("incidents_returninterview", "episode_id", "incidents_episode"),
    ("incidents_interviewattempt", "interview_id", "incidents_returninterview"),
    ("incidents_placement", "child_id", "incidents_child"),
    ("incidents_involvement", "child_id", "incidents_child"),
    ("notifications_notification", "episode_id", "incidents_episode"),
    ("notifications_notification", "event_id", "incidents_caseevent"),
    ("notifications_processedevent", "event_id", "incidents_caseevent"),
)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_written_by_the_writer_thread_in_chunks_every_reference_holds() -> None:
    from django.db import connection

    output = generate(children=60, episodes=240)
    assert "Generated 60 children and 240 episodes" in output
    assert Child.objects.count() == 60
    assert Episode.objects.count() == 240
    with connection.cursor() as cursor:
        for table, column, parent in REFERENCES:
            cursor.execute(
                f"SELECT count(*) FROM {table} t LEFT JOIN {parent} p "  # noqa: S608
                f"ON p.id = t.{column} WHERE t.{column} IS NOT NULL AND p.id IS NULL"
            )
            assert cursor.fetchone()[0] == 0, f"{table}.{column} points at a missing row"
    assert ProcessedEvent.objects.count() == CaseEvent.objects.filter(is_protocol=True).count()
    assert process_pending_events() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_write_stops_the_command_with_the_reason(monkeypatch) -> None:
    from oversight.management.commands import generate_synthetic_data as command

    def refuse(batches, *, trusted):
        raise RuntimeError("disk full")

    monkeypatch.setattr(command.CopyWriter, "_write", staticmethod(refuse))
    with pytest.raises(CommandError, match="Writing the rows failed: disk full"):
        generate(children=60, episodes=240)
    assert not Episode.objects.exists()


def test_the_measures_kept_months_are_counted() -> None:
    """Bulk rows write no history to mark the kept months stale: the command counts them
    all, so the measures page reads kept counts, not a year of raw rows."""
    from oversight.models import MeasureMonth

    output = generate()
    assert "months of measures kept" in output
    assert MeasureMonth.objects.exists()
    assert not MeasureMonth.objects.filter(stale=True).exists()
