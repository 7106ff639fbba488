"""Who may see which child, and who may record what. Every view goes through here.

Seeing a record: a person sees a child whose responsible local authority, or whose
current placement's host authority, is an area their agency serves, or with whom their
agency is currently recorded as involved. Anything else is a 404, the same answer as for
a record that does not exist, so ids cannot be probed.

Recording: what a person may record about a child they see is decided by
``incidents.rights``, from their agency's relation to the child (responsible council,
host council, police, interview provider, involved, other) and their role. Admins
configure the service and see no case records unless they also hold a case role.
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


def agencies_seeing(child: Child) -> QuerySet[Agency]:
    """The active agencies whose people may see this child (as ``children_visible_to``
    decides): those serving the responsible area or a current placement's host area, and
    those currently involved. One query, no duplicate rows."""
    today = timezone.localdate()
    current = Q(end__isnull=True) | Q(end__gte=today)
    served = LocalAuthorityArea.agencies.through.objects.filter(agency_id=OuterRef("pk"))
    hosts = Placement.objects.filter(current, child=child).values("host_area_id")
    return Agency.objects.filter(active=True).filter(
        Q(Exists(served.filter(localauthorityarea_id=child.responsible_area_id)))
        | Q(Exists(served.filter(localauthorityarea_id__in=hosts)))
        | Q(Exists(Involvement.objects.filter(current, child=child, agency_id=OuterRef("pk"))))
    )


def child_in_scope(user: User, child: Child) -> bool:
    return children_visible_to(user).filter(pk=child.pk).exists()


# What each person may record about a child is incidents.rights (the relation of their
# agency to the child and their role). Adding a child names no child yet:


def can_add_child(user: User) -> bool:
    return has_case_role(user)


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)
