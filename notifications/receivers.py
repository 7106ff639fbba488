"""Work out who must be told once a protocol event or a changed fact is committed.

The receiver only schedules the work for after the commit: a rolled-back change leaves
no notification behind, and a failure here is logged, not raised into the request (the
scheduler processes any event that has no receipt yet). What it does in the change's
transaction is store when the episode's next timed step falls due, which the change
may have moved (``engine.schedule_next_timed_step``): it sends nothing.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from incidents.models import CaseEvent, Episode
from incidents.signals import steps_already_told
from missingkids.accounts.models import Agency, Contact

from .engine import (
    RECIPIENT_CONFIGURED,
    episodes_needing_recipients,
    process_event_safely,
    process_pending_reevaluations_safely,
    request_reevaluation,
    schedule_next_timed_step,
)
from .models import EVENT_STEPS, Notification


@receiver(post_save, sender=CaseEvent, dispatch_uid="notifications_case_event_saved")
def case_event_saved(
    sender: type[CaseEvent], instance: CaseEvent, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and instance.is_protocol and not raw:
        if instance.episode_id is not None:
            # In the change's own transaction (the event is written after the change):
            # when the episode's next timed step falls due, from the record as changed.
            schedule_next_timed_step(instance.episode_id)
        transaction.on_commit(partial(process_event_safely, instance.pk))


# A recipient may now exist for a notification that found nobody ------------------------


def _recipients_may_have_changed(**kwargs: Any) -> None:
    """Flag the open episodes with a notification that found nobody, and work them out
    again once this change is committed (the flags are in this change's transaction,
    so the scheduler retries whatever fails)."""
    episode_ids = list(episodes_needing_recipients().values_list("pk", flat=True))
    if episode_ids:
        request_reevaluation(episode_ids, RECIPIENT_CONFIGURED)
        transaction.on_commit(process_pending_reevaluations_safely)


@receiver(post_save, sender=Contact, dispatch_uid="notifications_contact_saved")
def contact_saved(
    sender: type[Contact], instance: Contact, raw: bool = False, **kwargs: Any
) -> None:
    if not raw:
        _recipients_may_have_changed()


@receiver(post_save, sender=Agency, dispatch_uid="notifications_agency_saved")
def agency_saved(sender: type[Agency], instance: Agency, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        _recipients_may_have_changed()


@receiver(m2m_changed, sender=Agency.areas.through, dispatch_uid="notifications_agency_areas")
def agency_areas_changed(sender: Any, action: str, **kwargs: Any) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        _recipients_may_have_changed()


# A correction asks whether anyone was already told of the record ---------------------


@receiver(steps_already_told, dispatch_uid="notifications_steps_already_told")
def told_of(sender: Any, episode: Episode, kinds: list[str], **kwargs: Any) -> bool:
    """Whether a notification of the record's steps was sent or recorded as told."""
    steps = [step for kind in kinds for step in EVENT_STEPS.get(kind, [])]
    return Notification.objects.filter(
        episode_id=episode.pk,
        step__in=steps,
        status__in=(
            Notification.Status.SENT,
            Notification.Status.TOLD,
            Notification.Status.ACKNOWLEDGED,
        ),
    ).exists()
