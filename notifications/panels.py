"""The episode page's checklist of who must be told, by whom, by when.

Connected to ``incidents.signals.episode_page_panels`` when NotificationsConfig.ready()
imports this module:
the incidents app sends the signal and shows whatever comes back, never importing this
app. Three queries whatever the number of rows (the notifications with their agencies,
whether a change to the record is still being worked through, and, for managers,
whether they manage the child's council), so the page's query count stays fixed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef
from django.dispatch import receiver
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from incidents.models import CaseEvent, Episode
from incidents.signals import episode_page_panels
from missingkids.accounts.models import User

from . import access
from .models import Notification, PendingReevaluation, ProcessedEvent
from .sending import can_be_requeued

S = Notification.Status
D = Notification.Delivery


@dataclass(frozen=True)
class Tag:
    label: str
    css: str


DONE = Tag("Done", "govuk-tag--green")
OVERDUE = Tag("Overdue", "govuk-tag--red")
DUE = Tag("Due", "govuk-tag--blue")
PROBLEM = Tag("Problem", "govuk-tag--orange")
EMAIL_FAILED = Tag("E-mail failed", "govuk-tag--red")
CANCELLED = Tag("Cancelled", "govuk-tag--grey")


def status_tag(notification: Notification, now: dt.datetime) -> Tag:
    """The one place the checklist's status is derived from the stored deadline."""
    if notification.status == S.CANCELLED:
        return CANCELLED
    if notification.is_done:
        return DONE
    if notification.problem:
        return PROBLEM
    # Shown at once, not when the deadline passes: someone must act now.
    if notification.delivery == D.FAILED:
        return EMAIL_FAILED
    if notification.is_overdue(now):
        return OVERDUE
    return DUE


def delivery_note(notification: Notification) -> str:
    # A cancelled row needs nobody told; a done one has been: "tell them another way"
    # would send someone to repeat what the record already shows.
    if notification.status == S.CANCELLED:
        return ""
    reason = notification.last_error
    if notification.delivery == D.RETRYING:
        return f"E-mail not sent yet, trying again ({reason})" if reason else "E-mail queued"
    if notification.delivery == D.FAILED:
        if notification.is_done:
            return "E-mail failed"
        failed = f"E-mail failed ({reason})" if reason else "E-mail failed"
        return f"{failed}: tell them another way, or correct the address and queue it again"
    if notification.delivery in (D.QUEUED, D.SENDING):
        return "E-mail queued"
    return ""


def being_reworked(episode: Episode) -> bool:
    """Whether a change to the child's record has not been worked through yet (its
    outbox event has no receipt, or the episode is flagged): one query."""
    unprocessed = CaseEvent.objects.filter(child_id=episode.child_id, is_protocol=True).filter(
        ~Exists(ProcessedEvent.objects.filter(event_id=OuterRef("pk")))
    )
    flagged = PendingReevaluation.objects.filter(episode_id=episode.pk)
    return Episode.objects.filter(pk=episode.pk).annotate(
        unprocessed=Exists(unprocessed), flagged=Exists(flagged)
    ).values_list("unprocessed", "flagged").get() != (False, False)


@receiver(episode_page_panels, dispatch_uid="notifications_episode_checklist")
def episode_checklist(
    *, episode: Episode, user: User, request: HttpRequest | None = None, **kwargs: Any
) -> SafeString | str:
    notifications = list(
        Notification.objects.filter(episode=episode)
        .select_related("recipient_agency", "recipient_contact", "responsible_agency", "told_by")
        .order_by("due_at", "id")
    )
    la_manager = access.is_responsible_la_manager(user, episode)
    reworking = being_reworked(episode)
    now = timezone.now()
    rows = []
    for notification in notifications:
        # Only while nobody has been told: a row delivered by e-mail (sent) or recorded
        # as told is done, and offering to record it again invites a duplicate call.
        can_tell = not notification.is_done and access.can_record_told(
            user, notification, la_manager=la_manager
        )
        can_cancel = notification.status in (S.DUE, S.SENT) and access.can_cancel(
            user, notification, la_manager=la_manager
        )
        can_requeue = can_be_requeued(notification) and access.can_requeue(
            user, notification, la_manager=la_manager
        )
        rows.append(
            {
                "n": notification,
                "tag": status_tag(notification, now),
                "late": notification.is_done
                and notification.status != S.CANCELLED
                and notification.is_overdue(now),
                "delivery_note": delivery_note(notification),
                "told_url": reverse("notifications:record_told", kwargs={"pk": notification.pk})
                if can_tell
                else "",
                "cancel_url": reverse("notifications:cancel", kwargs={"pk": notification.pk})
                if can_cancel
                else "",
                "requeue_url": reverse("notifications:requeue", kwargs={"pk": notification.pk})
                if can_requeue
                else "",
            }
        )
    return render_to_string(
        "notifications/episode_checklist.html",
        {"rows": rows, "episode": episode, "reworking": reworking},
        request=request,
    )
