"""Who may see which child, and who may record what. Every view goes through here.

Seeing a record: a person sees a child whose responsible local authority, or whose
current placement's host authority, is an area their agency serves, or with whom their
agency is currently recorded as involved. A placement or an involvement is current from
its start day (one starting in the future grants nothing yet) to its end day. Anything
else is a 404, the same answer as for a record that does not exist, so ids cannot be
probed.

The rule is kept as rows (``ChildVisibility``, see ``incidents.visibility``, which also
holds the rule computed from the raw facts, ``children_visible_to_by_rules``): every
query here is one indexed ``EXISTS`` on that table.

Recording: what a person may record about a child they see is decided by
``incidents.rights``, from their agency's relation to the child (responsible council,
host council, police, interview provider, involved, other) and their role. Admins
configure the service and see no case records unless they also hold a case role.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from missingkids.accounts.models import Agency, User

from .models import Child, ChildVisibility, Episode

CASE_ROLES = frozenset({User.Role.PRACTITIONER, User.Role.MANAGER})


def has_case_role(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role in CASE_ROLES)


def visible_condition(user: User, child_field: str = "pk") -> Q:
    """The filter "this person may see the child at ``child_field``": one indexed
    ``EXISTS`` on the visibility table (``incidents.visibility`` keeps it equal to the
    rule above). Never true for someone without a case role."""
    if not has_case_role(user):
        return Q(pk__in=[])
    return Q(_visible(user, child_field))


def _visible(user: User, child_field: str) -> Exists:
    """One indexed probe of the visibility table for the person's agency and the child."""
    return Exists(
        ChildVisibility.objects.filter(agency_id=user.agency_id, child_id=OuterRef(child_field))
    )


def children_visible_to(user: User) -> QuerySet[Child]:
    """All children this person may see, as one query with no joins that duplicate rows."""
    if not has_case_role(user):
        return Child.objects.none()
    return Child.objects.filter(visible_condition(user))


def get_child_for_user(user: User, pk: int, **annotations: Any) -> Child:
    """The child, or a 404 outside the person's scope. ``annotations``: what a page needs
    of the child's other rows, read in the same query (``rights.child_and_standing``)."""
    child = (
        children_visible_to(user)
        .select_related("responsible_area")
        .annotate(**annotations)
        .filter(pk=pk)
        .first()
    )
    if child is None:
        raise Http404("No such child")
    return child


def episodes_visible_to(user: User) -> QuerySet[Episode]:
    if not has_case_role(user):
        return Episode.objects.none()
    return Episode.objects.filter(visible_condition(user, "child_id"))


def get_episode_for_user(
    user: User, pk: int, *, queryset: QuerySet[Episode] | None = None
) -> Episode:
    """The episode if the person may see its child, else 404. ``queryset`` (of episodes)
    lets a page read what it shows in the same query as the check."""
    if not has_case_role(user):
        raise Http404("No such episode")
    episodes = Episode.objects.all() if queryset is None else queryset
    # The check is read as a column of the episode's row (one indexed probe of the
    # visibility table), not as a condition joined into the query: PostgreSQL then plans
    # a page's query with many related rows in a fraction of the time, and the answer is
    # the same (a 404 outside the person's scope).
    episode = (
        episodes.annotate(_in_scope=_visible(user, "child_id"))
        .select_related("child", "child__responsible_area")
        .filter(pk=pk)
        .first()
    )
    if episode is None or not episode._in_scope:  # type: ignore[attr-defined]
        raise Http404("No such episode")
    return episode


def agencies_seeing(child: Child) -> QuerySet[Agency]:
    """The active agencies whose people may see this child (as ``children_visible_to``
    decides: the visibility table's rows for the child). One query, no duplicate rows."""
    return Agency.objects.filter(
        Exists(ChildVisibility.objects.filter(child_id=child.pk, agency_id=OuterRef("pk"))),
        active=True,
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
