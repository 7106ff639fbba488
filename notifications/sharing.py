"""The safe and well check's sharing with the local authority: one record, on the check.

The responsible local authority's ``safe_and_well_done`` notification *is* the sharing
of the check, so whatever completes it is written on the check, through the incidents
action, in the same transaction:

- the worker delivering its e-mail: shared by e-mail, when the mail server took it, to
  the recipient it named (``record_checks_emailed``, for a batch's checks together);
- a person recording "I told them" on it: shared by the method, at the time and with
  whom they typed (``share_check_as_told``).

The other way round, a sharing recorded on the check marks these notifications told
(``notifications.engine.complete_shared_check``), so the two never disagree. Only the
first sharing counts: a later one leaves the check as it is.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from incidents.actions.interviews import (
    EmailedCheck,
    safe_and_well_record_emailed,
    safe_and_well_record_emailed_many,
    safe_and_well_share,
)
from incidents.models import SafeAndWellCheck
from missingkids.accounts.models import User

from .models import Notification, RecipientRole, Step

logger = logging.getLogger(__name__)

# The record-told form's fields for the incidents action's, so a refusal (a time before
# the check, say) shows by the box it is about.
TOLD_FORM_FIELDS = {"shared_at": "told_at", "method": "method", "shared_with": "told_whom"}


def is_check_sharing(notification: Notification) -> bool:
    return (
        notification.step == Step.SAFE_AND_WELL_DONE
        and notification.recipient_role == RecipientRole.RESPONSIBLE_LA
    )


def _check_of(notification: Notification) -> SafeAndWellCheck | None:
    return (
        SafeAndWellCheck.objects.select_related("episode", "episode__child", "agency")
        .filter(episode_id=notification.episode_id)
        .first()
    )


def sent_to(notification: Notification) -> str:
    """Whom the e-mail went to, as the check records it: the name and the agency."""
    agency = notification.recipient_agency.name if notification.recipient_agency else ""
    name = notification.recipient_name
    if name and agency and name != agency:
        return f"{name}, {agency}"
    return name or agency or notification.recipient_email


def record_check_emailed(notification: Notification, *, sent_at: dt.datetime) -> bool:
    """Record a delivered check e-mail as the check's sharing; True if this was the first.

    Called inside the transaction that records the delivery. A failure here must not
    lose the delivery record (the e-mail has gone: undoing "sent" would send it again),
    so it runs in a savepoint and is logged, by ids only.
    """
    if not is_check_sharing(notification):
        return False
    try:
        with transaction.atomic():
            check = _check_of(notification)
            if check is None:
                return False
            return safe_and_well_record_emailed(
                check=check,
                sent_at=sent_at,
                sent_to=sent_to(notification),
                teller=notification.responsible_agency,
            )
    except Exception:
        logger.exception(
            "Recording the e-mail of notification %s as the check's sharing failed",
            notification.pk,
        )
        return False


def record_checks_emailed(
    notifications: list[Notification], *, sent_at: dict[int, dt.datetime]
) -> None:
    """``record_check_emailed`` for the delivered e-mails of a batch (each sent at its
    ``sent_at``), in one call of the incidents action, which still writes each check's
    history and event. Should recording them together fail, each is then recorded on
    its own, so one check's trouble does not lose the others' sharing.
    """
    sharing = [n for n in notifications if is_check_sharing(n)]
    if not sharing:
        return
    try:
        with transaction.atomic():
            emailed: dict[int, EmailedCheck] = {}
            for notification, check_id in zip(sharing, _check_ids(sharing), strict=True):
                if check_id is not None and check_id not in emailed:  # the first counts
                    emailed[check_id] = EmailedCheck(
                        check_id=check_id,
                        sent_at=sent_at[notification.pk],
                        sent_to=sent_to(notification),
                        teller=notification.responsible_agency,
                    )
            safe_and_well_record_emailed_many(emailed=list(emailed.values()))
        return
    except Exception:
        logger.exception(
            "Recording the e-mails of %d checks as their sharing together failed; "
            "recording each on its own",
            len(sharing),
        )
    for notification in sharing:
        record_check_emailed(notification, sent_at=sent_at[notification.pk])


def _check_ids(notifications: list[Notification]) -> list[int | None]:
    """Each notification's check: read with the notification (``EMAIL_RELATED``), else
    read for all of them in one query."""
    known: dict[int, int | None] = {}
    for notification in notifications:
        if Notification.episode.is_cached(notification):
            check = getattr(notification.episode, "safe_and_well", None)
            known[notification.episode_id] = check.pk if check is not None else None
    missing = {n.episode_id for n in notifications} - set(known)
    if missing:
        known.update(
            SafeAndWellCheck.objects.filter(episode_id__in=missing).values_list("episode_id", "pk")
        )
    return [known.get(notification.episode_id) for notification in notifications]


def share_check_as_told(
    notification: Notification,
    *,
    acting_user: User,
    told_at: dt.datetime,
    method: str,
    told_whom: str,
) -> None:
    """Write a "told them" on the check's notification as the check's sharing.

    Raises ValidationError keyed by the record-told form's fields if the incidents
    action refuses it. A check already shared keeps its first sharing, silently: the
    person is recording this notification, which stands on its own.
    """
    if not is_check_sharing(notification):
        return
    check = _check_of(notification)
    if check is None or check.is_shared:
        return
    try:
        safe_and_well_share(
            acting_user=acting_user,
            check=check,
            shared_at=told_at,
            method=method,
            shared_with=told_whom,
            by_agency=notification.responsible_agency,
        )
    except PermissionDenied:
        # Only where an admin made someone other than the police the teller: that
        # person may record telling the council, but the check is the police's to share.
        return
    except ValidationError as error:
        check.refresh_from_db(fields=["shared_with_la_at"])
        if check.is_shared:
            return  # someone shared it a moment ago: theirs is the first, and counts
        raise ValidationError(
            {
                TOLD_FORM_FIELDS.get(field, field): errors
                for field, errors in error.message_dict.items()
            }
        ) from None
