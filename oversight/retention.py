"""Retention: a child's record is kept until their 25th birthday, then erased.

The age is ``missingkids.policy.retention_age()`` (``RECORD_RETENTION_AGE``, default 25).
``children_past_retention`` lists the records past it; ``records_erase`` erases them,
only on the confirmation of a partnership admin, in one transaction:

- the child and everything recorded about them: episodes, risk gradings, safe and well
  checks, return interviews with their attempts and agreed actions, return time
  corrections, legal statuses, placements, involved agencies and requests to record
  one, challenges, strategy meetings, supervision notes, the timeline (``CaseEvent``),
  notifications with their delivery attempts, and the change history of all of these;
- the missing person profile and the copies of it shared with the police, their photo
  files included (deleted from the "profile_photos" storage once the erasure commits);
- the places their episodes named, or that they were known to go to, unless another
  child's record names them too;

and keeps, per month and council (or agency), the anonymous counts the managers'
measures are made of (``ErasedCount``), so the measures of a past period do not drop,
and a record of the erasure itself (``Erasure``: who confirmed it, when, how many, and
the records' ids).

The access log is not touched: it is append-only, and it names children by id only (the
ids of erased records stay in ``Erasure.child_ids``, so an entry can still be read as
"a record since erased"). It holds the e-mail addresses of the staff who used the
service, not the child's name or details.

Lives in the oversight app, which may read both the case records and the notifications.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from incidents.models import (
    Child,
    Episode,
    EpisodeProfileSnapshot,
    Location,
    MissingPersonProfile,
    ReturnInterview,
    profile_photo_storage,
)
from missingkids import policy
from missingkids.accounts.access import is_partnership_admin
from missingkids.accounts.models import User
from notifications.models import Notification

from . import aggregates, return_requests
from .models import ErasedCount, Erasure

logger = logging.getLogger("missingkids.retention")

Measure = ErasedCount.Measure


def children_past_retention(today: dt.date | None = None) -> QuerySet[Child]:
    """Children who have reached the retention age by ``today`` (UK date)."""
    cutoff = policy.retention_cutoff(today or timezone.localdate())
    return Child.objects.filter(date_of_birth__lte=cutoff).order_by("date_of_birth", "pk")


def _month(value: dt.datetime) -> dt.date:
    local = timezone.localtime(value)
    return dt.date(local.year, local.month, 1)


@dataclass
class _Tally:
    count: int = 0
    on_time: int = 0
    children: set[int] | None = None


def _counts(child_ids: list[int], episode_ids: list[int]) -> list[ErasedCount]:
    """The measures' counts of these records, by month and council or agency."""
    tallies: dict[tuple[str, dt.date, int | None, int | None], _Tally] = defaultdict(_Tally)
    within = policy.safe_and_well_due_after()
    episodes = Episode.objects.filter(pk__in=episode_ids).values_list(
        "child_id",
        "child__responsible_area_id",
        "last_seen_at",
        "first_found_at",
        "safe_and_well__shared_with_la_at",
    )
    for child_id, area_id, last_seen_at, first_found_at, shared_at in episodes:
        tally = tallies[(Measure.EPISODES, _month(last_seen_at), area_id, None)]
        tally.count += 1
        tally.children = (tally.children or set()) | {child_id}
        if first_found_at is not None:
            tally = tallies[(Measure.RETURNS, _month(first_found_at), area_id, None)]
            tally.count += 1
            tally.on_time += bool(shared_at and shared_at <= first_found_at + within)
    interviews = ReturnInterview.objects.filter(episode_id__in=episode_ids).values_list(
        "episode__child__responsible_area_id", "owner_id", "due_at", "held_at"
    )
    for area_id, owner_id, due_at, held_at in interviews:
        tally = tallies[(Measure.INTERVIEWS, _month(due_at), area_id, owner_id)]
        tally.count += 1
        tally.on_time += bool(held_at and held_at <= due_at)
    notifications = (
        Notification.objects.filter(child_id__in=child_ids)
        .exclude(status=Notification.Status.CANCELLED)
        .values_list("child__responsible_area_id", "responsible_agency_id", "due_at", "told_at")
    )
    for area_id, agency_id, due_at, told_at in notifications:
        tally = tallies[(Measure.NOTIFICATIONS, _month(due_at), area_id, agency_id)]
        tally.count += 1
        tally.on_time += bool(told_at and told_at <= due_at)
    return [
        ErasedCount(
            measure=measure,
            month=month,
            area_id=area_id,
            agency_id=agency_id,
            count=tally.count,
            on_time=tally.on_time,
            children=len(tally.children or ()),
        )
        for (measure, month, area_id, agency_id), tally in sorted(
            tallies.items(), key=lambda item: (item[0][1], item[0][0], item[0][2] or 0)
        )
    ]


def _history_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_app_config("incidents").get_models()
        if model.__name__.startswith("Historical")
    ]


def _erase_history(child_ids: list[int], episode_ids: set[int]) -> int:
    """The change history of the records: every historical row about them."""
    history = {model.__name__: model for model in _history_models()}
    episode_ids = episode_ids | set(
        history["HistoricalEpisode"]
        .objects.filter(child_id__in=child_ids)
        .values_list("id", flat=True)
    )
    interview_ids = set(
        ReturnInterview.objects.filter(episode_id__in=episode_ids).values_list("id", flat=True)
    ) | set(
        history["HistoricalReturnInterview"]
        .objects.filter(episode_id__in=episode_ids)
        .values_list("id", flat=True)
    )
    deleted = 0
    for name, model in history.items():
        fields = {f.name for f in model._meta.fields}
        if name == "HistoricalChild":
            rows = model.objects.filter(id__in=child_ids)
        elif "child" in fields:
            rows = model.objects.filter(child_id__in=child_ids)
        elif "episode" in fields:
            rows = model.objects.filter(episode_id__in=episode_ids)
        elif "interview" in fields:
            rows = model.objects.filter(interview_id__in=interview_ids)
        else:  # a new kind of history: say how it reaches the child before erasing anything
            raise RuntimeError(f"{name}: no way to find a child's rows for erasure")
        deleted += rows.delete()[0]
    return deleted


def _profile_photos(child_ids: list[int], episode_ids: list[int]) -> set[str]:
    """Every stored photo of the records' missing person profiles and of the copies
    shared with the police (and any name an earlier version of a profile held)."""
    names = set(
        MissingPersonProfile.objects.filter(child_id__in=child_ids).values_list("photo", flat=True)
    )
    names |= set(
        MissingPersonProfile.history.filter(child_id__in=child_ids).values_list("photo", flat=True)
    )
    names |= set(
        EpisodeProfileSnapshot.objects.filter(episode_id__in=episode_ids).values_list(
            "photo", flat=True
        )
    )
    return {name for name in names if name}


def _delete_photos(names: set[str]) -> None:
    storage = profile_photo_storage()
    for name in sorted(names):
        try:
            storage.delete(name)
        except OSError:
            # Names only what the storage calls the file (a random name), never the child.
            logger.exception("Could not delete an erased record's photo %s", name)


def records_erase(*, confirmed_by: User, today: dt.date | None = None) -> Erasure | None:
    """Erase every record past retention; None if there is none.

    Only a partnership admin may confirm it. Everything happens in one transaction: the
    counts kept, the erasure recorded, the records and their history deleted.
    """
    if not is_partnership_admin(confirmed_by):
        raise PermissionDenied("Only a partnership admin can confirm erasing records.")
    today = today or timezone.localdate()
    with transaction.atomic():
        children = children_past_retention(today).select_for_update()
        child_ids = list(children.values_list("pk", flat=True))
        if not child_ids:
            return None
        episodes = Episode.objects.filter(child_id__in=child_ids)
        episode_ids = list(episodes.values_list("pk", flat=True))
        places = set(
            episodes.values_list("last_seen_location_id", flat=True).exclude(
                last_seen_location_id=None
            )
        )
        places |= set(
            episodes.values_list("found_location_id", flat=True).exclude(found_location_id=None)
        )
        places |= set(
            Child.frequented_locations.through.objects.filter(child_id__in=child_ids).values_list(
                "location_id", flat=True
            )
        )

        erasure = Erasure.objects.create(
            confirmed_by=confirmed_by,
            retention_age=policy.retention_age(),
            born_on_or_before=policy.retention_cutoff(today),
            children=len(child_ids),
            episodes=len(episode_ids),
            child_ids=child_ids,
        )
        counts = _counts(child_ids, episode_ids)
        for count in counts:
            count.erasure = erasure
        ErasedCount.objects.bulk_create(counts)

        # Profile photos are files, not rows: named now, deleted once the erasure commits
        # (a rollback keeps the records and so must keep their photos).
        photos = _profile_photos(child_ids, episode_ids)
        # Episodes first: they protect their child. Deleting them takes their checks,
        # interviews, gradings, timeline and notifications with them; the child then
        # takes the rest.
        Episode.objects.filter(pk__in=episode_ids).delete()
        Child.objects.filter(pk__in=child_ids).delete()
        # The measures' kept counts of closed months counted these records: counted
        # from the records (and the erased counts) until the scheduler counts them again.
        aggregates.mark_stale()
        # Built statutory returns may name the erased children: their files go too.
        return_requests.forget_erased_records()
        # After the deletions, which themselves write history rows ("deleted").
        history = _erase_history(child_ids, set(episode_ids))
        # Places named by no remaining record (the places are shared between children).
        orphaned = Location.objects.filter(
            pk__in=places, last_seen_episodes=None, found_episodes=None, frequented_by=None
        )
        place_count = orphaned.delete()[0]
        transaction.on_commit(lambda: _delete_photos(photos))
    logger.info(
        "Erased %s record(s) past retention, %s episode(s), %s history row(s) and %s "
        "place(s); %s count row(s) kept. Erasure %s.",
        len(child_ids),
        len(episode_ids),
        history,
        place_count,
        len(counts),
        erasure.pk,
    )
    return erasure
