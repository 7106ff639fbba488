"""Who may see which child, and who may record what. Every view goes through here.

Seeing a record: a person sees a child whose responsible local authority, or whose
current placement's host authority, is an area their agency serves, or with whom their
agency is currently recorded as involved. Anything else is a 404, the same answer as for
a record that does not exist, so ids cannot be probed.

Recording: police grade risk and record safe and well checks and their sharing with the
local authority (a manager of the child's council may also record that the police told
the council); return-interview
providers and local authority staff record interviews; any practitioner or manager may
report an episode and record a return; managers close episodes. Admins configure the
service and see no case records unless they also hold a case role.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from missingkids.accounts.models import Agency, LocalAuthorityArea, User

from .models import Child, Episode, Involvement, Placement

CASE_ROLES = frozenset({User.Role.PRACTITIONER, User.Role.MANAGER})


def has_case_role(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role in CASE_ROLES)


def _agency_area_ids(user: User) -> QuerySet:
    return LocalAuthorityArea.agencies.through.objects.filter(agency_id=user.agency_id).values(
        "localauthorityarea_id"
    )


def children_visible_to(user: User) -> QuerySet[Child]:
    """All children this person may see, as one query with no joins that duplicate rows."""
    if not has_case_role(user):
        return Child.objects.none()
    today = timezone.localdate()
    areas = _agency_area_ids(user)
    current = Q(end__isnull=True) | Q(end__gte=today)
    hosted = Placement.objects.filter(current, child=OuterRef("pk"), host_area_id__in=areas)
    involved = Involvement.objects.filter(current, child=OuterRef("pk"), agency_id=user.agency_id)
    return Child.objects.filter(
        Q(responsible_area_id__in=areas) | Q(Exists(hosted)) | Q(Exists(involved))
    )


def get_child_for_user(user: User, pk: int) -> Child:
    child = children_visible_to(user).select_related("responsible_area").filter(pk=pk).first()
    if child is None:
        raise Http404("No such child")
    return child


def episodes_visible_to(user: User) -> QuerySet[Episode]:
    return Episode.objects.filter(child__in=children_visible_to(user))


def get_episode_for_user(user: User, pk: int) -> Episode:
    episode = (
        episodes_visible_to(user)
        .select_related("child", "child__responsible_area")
        .filter(pk=pk)
        .first()
    )
    if episode is None:
        raise Http404("No such episode")
    return episode


def child_in_scope(user: User, child: Child) -> bool:
    return children_visible_to(user).filter(pk=child.pk).exists()


# What each person may record. The action functions call these too, so a crafted POST
# is refused even if a page forgot to hide a button.


def can_report_episode(user: User) -> bool:
    return has_case_role(user)


def can_record_return(user: User) -> bool:
    return has_case_role(user)


def can_grade_risk(user: User) -> bool:
    return has_case_role(user) and user.agency.kind == Agency.Kind.POLICE


def can_record_safe_and_well(user: User) -> bool:
    return has_case_role(user) and user.agency.kind == Agency.Kind.POLICE


def can_record_safe_and_well_shared(user: User, child: Child) -> bool:
    """The police share their check; a manager of the child's council may also record
    that the police told the council (for example by phone), so the record shows it.
    One query at most."""
    if can_record_safe_and_well(user):
        return True
    if not (has_case_role(user) and user.role == User.Role.MANAGER):
        return False
    if user.agency.kind != Agency.Kind.LOCAL_AUTHORITY:
        return False
    return user.agency.areas.filter(pk=child.responsible_area_id).exists()


def can_record_interview(user: User) -> bool:
    return has_case_role(user) and user.agency.kind in (
        Agency.Kind.PROVIDER,
        Agency.Kind.LOCAL_AUTHORITY,
    )


def can_close_episode(user: User) -> bool:
    return has_case_role(user) and user.role == User.Role.MANAGER


def can_record_strategy_meeting(user: User) -> bool:
    return has_case_role(user) and user.role == User.Role.MANAGER


def can_add_supervision_note(user: User) -> bool:
    """Supervision notes are written and read by managers only."""
    return has_case_role(user) and user.role == User.Role.MANAGER


def can_add_child(user: User) -> bool:
    return has_case_role(user)


def can_edit_child(user: User) -> bool:
    """Identity and profile: anyone working the case can correct or add to them."""
    return has_case_role(user)


def can_manage_care_details(user: User) -> bool:
    """Legal status, placements and involved agencies are the local authority's to keep."""
    return has_case_role(user) and user.agency.kind == Agency.Kind.LOCAL_AUTHORITY


def can_raise_challenge(user: User) -> bool:
    return has_case_role(user)


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)
