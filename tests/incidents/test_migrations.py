"""Data migrations, run on rows as the earlier schema left them.

The migration functions are called with the project's models (their fields are the ones
the migration sees), rather than migrating the test database back and forth.
"""

from __future__ import annotations

import datetime as dt
import importlib

from django.apps import apps

from incidents.models import Episode, RiskGrading
from tests.factories.incidents import ChildFactory, EpisodeFactory, RiskGradingFactory

concerns = importlib.import_module("incidents.migrations.0006_reporters_concern_and_police_grade")
T0 = dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC)


def _episode(child, reporter, *gradings) -> int:
    """An episode as before: every grading a plain grading, the latest one its risk.
    Each a day after the child's last, as one child's episodes never overlap."""
    last = gradings[-1][1]
    start = T0 + dt.timedelta(days=Episode.objects.filter(child=child).count())
    episode = EpisodeFactory(
        child=child,
        created_by=reporter,
        last_seen_at=start,
        reported_at=start,
        found_at=start + dt.timedelta(hours=5),
        risk=last,
        risk_rank={"low": 2, "medium": 3, "high": 4}[last],
    )
    for n, (by, grade) in enumerate(gradings):
        RiskGradingFactory(
            episode=episode, grade=grade, graded_by=by, graded_at=start + dt.timedelta(minutes=n)
        )
    return episode.pk


def _risk(pk: int) -> tuple[str, int]:
    return tuple(Episode.objects.filter(pk=pk).values_list("risk", "risk_rank").get())


def test_gradings_by_anyone_but_police_become_reporters_concerns(officer, social_worker, area_west):
    child = ChildFactory(responsible_area=area_west, created_by=social_worker)
    by_council = _episode(child, social_worker, (social_worker, "high"))
    then_police = _episode(child, social_worker, (social_worker, "high"), (officer, "low"))
    police_then_council = _episode(child, officer, (officer, "medium"), (social_worker, "high"))
    # Imported with no grading history: nothing says who graded it, so it stays.
    later = T0 + dt.timedelta(days=10)
    imported = EpisodeFactory(
        child=child, last_seen_at=later, reported_at=later, found_at=later + dt.timedelta(hours=1)
    ).pk
    assert set(RiskGrading.objects.values_list("kind", flat=True)) == {"police"}

    concerns.police_grades_only(apps, None)

    assert _risk(by_council) == ("not_graded", 0)
    assert _risk(then_police) == ("low", 2)
    assert _risk(police_then_council) == ("medium", 3)
    assert _risk(imported) == ("medium", 3)
    kinds = dict(RiskGrading.objects.values_list("graded_by__agency__kind", "kind").distinct())
    assert kinds == {"la": "concern", "police": "police"}

    # And back: every grading counts again, the latest being the episode's risk.
    concerns.every_grading_counts(apps, None)
    assert _risk(by_council) == ("high", 4)
    assert _risk(police_then_council) == ("high", 4)
    assert _risk(then_police) == ("low", 2)
