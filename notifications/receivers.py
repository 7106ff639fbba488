"""Work out who must be told once a protocol event is committed, never before.

The receiver only schedules the work for after the commit: a rolled-back change leaves
no notification behind, and a failure here is logged, not raised into the request (the
scheduler processes any event that has no receipt yet).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from incidents.models import CaseEvent

from .engine import process_event_safely


@receiver(post_save, sender=CaseEvent, dispatch_uid="notifications_case_event_saved")
def case_event_saved(
    sender: type[CaseEvent], instance: CaseEvent, created: bool, **kwargs: Any
) -> None:
    if created and instance.is_protocol:
        transaction.on_commit(partial(process_event_safely, instance.pk))
