"""Who may record that a notification was made, cancel one, or queue a failed e-mail again.

The teller is the agency the rule makes responsible; managers of the child's
responsible local authority may also record or cancel, since they answer for the
whole episode. Seeing the notification at all goes through incidents.access (the
episode must be in the person's scope).
"""

from __future__ import annotations

from incidents.access import has_case_role
from incidents.models import Episode
from incidents.rights import Relation, relation_to
from missingkids.accounts.models import User

from .models import Notification


def is_responsible_la_manager(user: User, episode: Episode) -> bool:
    """A manager of the child's responsible council (incidents.rights decides the
    relation). One query at most, so the episode checklist asks it once, not per row."""
    if not (has_case_role(user) and user.is_manager):
        return False
    return relation_to(user, episode.child) == Relation.RESPONSIBLE_COUNCIL


def can_record_told(user: User, notification: Notification, *, la_manager: bool) -> bool:
    if not has_case_role(user):
        return False
    return la_manager or (
        notification.responsible_agency_id is not None
        and notification.responsible_agency_id == user.agency_id
    )


def can_cancel(user: User, notification: Notification, *, la_manager: bool) -> bool:
    return user.is_manager and can_record_told(user, notification, la_manager=la_manager)


def can_requeue(user: User, notification: Notification, *, la_manager: bool) -> bool:
    """Managers of the agency that must tell, or of the child's council, may queue a
    failed e-mail again once the address is put right (partnership admins do it on the
    configuration pages)."""
    return user.is_manager and can_record_told(user, notification, la_manager=la_manager)
