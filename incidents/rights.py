"""Who may record what about a child: each right held by the agency that owns it.

Seeing a child is decided in ``incidents.access`` (scope). Inside scope, what a person
may *record* depends on two things only:

- the **relation** of their agency to the child: the responsible council (a local
  authority serving the child's responsible area), the host council (a local
  authority serving the area of the child's current placement, when that is another
  council), the police, the return-interview provider (of the episode's interview;
  for the child, a provider involved with them or serving their council), the
  placement provider (an agency recorded as involved as the child's carer or home),
  an agency recorded as involved, or another agency serving the area;
- their **role**: practitioner or manager. Admins hold no case role and no right.

``MATRIX`` below is the whole policy, one line per right; README's table ("Rights
inside a child's record", under Security) is written from it, and
tests/incidents/test_rights_matrix.py checks that table and drives every cell through
the action functions. The action functions refuse through ``require``
and the pages show or hide each button through ``standing(...).can``, so no page
offers what the action would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils import timezone

from missingkids.accounts.models import Agency, User

from . import access
from .access import has_case_role
from .models import Child, ChildVisibility, Episode, Involvement
from .visibility import involvement_current

if TYPE_CHECKING:
    from .models import AgreedAction, ReturnInterview


class Relation(models.TextChoices):
    # In this order of precedence: an agency that is several of these is the first.
    RESPONSIBLE_COUNCIL = "responsible_council", "Responsible council"
    HOST_COUNCIL = "host_council", "Host council"
    POLICE = "police", "Police"
    INTERVIEW_PROVIDER = "interview_provider", "Return-interview provider"
    PLACEMENT_PROVIDER = "placement_provider", "Placement provider"
    INVOLVED = "involved", "Involved agency"
    OTHER = "other", "Other agency in the area"


class Right(models.TextChoices):
    EDIT_IDENTITY = "edit_identity", "Correct identity and profile"
    MANAGE_CARE_DETAILS = (
        "manage_care_details",
        "Legal status, placements, involved agencies, responsible council; accept or "
        "decline requests to record an agency",
    )
    REQUEST_INVOLVEMENT = (
        "request_involvement",
        "Ask the responsible council to record an involved agency",
    )
    REPORT_EPISODE = "report_episode", "Report an episode; change its details"
    RECORD_RETURN = "record_return", "Record the return"
    CORRECT_RETURN_TIME = (
        "correct_return_time",
        "Correct the return time afterwards, with a reason",
    )
    GRADE_RISK = "grade_risk", "Grade risk (the police grade)"
    RECORD_SAFE_AND_WELL = "record_safe_and_well", "Record the safe and well check; change it"
    RECORD_SAFE_AND_WELL_SHARED = (
        "record_safe_and_well_shared",
        "Record that the safe and well check was shared",
    )
    RECORD_INTERVIEW = (
        "record_interview",
        "Record return interview attempts, the interview held or declined; change them",
    )
    CLOSE_EPISODE = "close_episode", "Close an episode early, with a reason"
    RECORD_STRATEGY_MEETING = "record_strategy_meeting", "Record a strategy meeting; change it"
    SUPERVISION_NOTES = "supervision_notes", "Read, write and change supervision notes"
    RAISE_CHALLENGE = "raise_challenge", "Record a challenge and its outcome; change them"
    EDIT_PROFILE = (
        "edit_profile",
        "Keep the missing person profile of a child in care (change it, mark it reviewed)",
    )
    SEE_PROFILE = "see_profile", "See the missing person profile and its photo"
    SUBJECT_ACCESS = (
        "subject_access",
        "Export the child's whole record (to answer a subject access request)",
    )
    SEE_ASSOCIATES = (
        "see_associates",
        "See the child's associates (police intelligence), on the child's story and when searching",
    )
    RECORD_ASSOCIATES = "record_associates", "Record the child's associates; correct them"


PRACTITIONER, MANAGER = User.Role.PRACTITIONER, User.Role.MANAGER
BOTH: frozenset[str] = frozenset({PRACTITIONER, MANAGER})
MANAGERS: frozenset[str] = frozenset({MANAGER})
NOBODY: frozenset[str] = frozenset()


def _only(**roles: frozenset[str]) -> dict[Relation, frozenset[str]]:
    """The roles of each relation that hold a right; every relation not named, none."""
    return {relation: roles.get(relation.name.lower(), NOBODY) for relation in Relation}


EVERYONE = _only(**{relation.name.lower(): BOTH for relation in Relation})

# The policy: right -> relation -> roles that hold it.
MATRIX: dict[Right, dict[Relation, frozenset[str]]] = {
    # Anyone working with the child can correct a name or add to the profile that helps
    # find them; the responsible council is the only one that can move them to
    # another council (part of MANAGE_CARE_DETAILS).
    Right.EDIT_IDENTITY: EVERYONE,
    Right.MANAGE_CARE_DETAILS: _only(responsible_council=BOTH),
    # The host council learns things locally (a school, a GP) but does not decide who
    # works with the child: it asks, and the responsible council accepts or declines.
    Right.REQUEST_INVOLVEMENT: _only(host_council=BOTH),
    Right.REPORT_EPISODE: EVERYONE,
    Right.RECORD_RETURN: EVERYONE,
    # The interview provider is measured against a deadline counted from the return:
    # only the police and the responsible council correct the time afterwards, and the
    # deadline first set is kept whatever the correction.
    Right.CORRECT_RETURN_TIME: _only(responsible_council=BOTH, police=BOTH),
    # Anyone else reporting gives a reporter's concern, never the police grade.
    Right.GRADE_RISK: _only(police=BOTH),
    Right.RECORD_SAFE_AND_WELL: _only(police=BOTH),
    # A manager of the responsible council may record that the police told them.
    Right.RECORD_SAFE_AND_WELL_SHARED: _only(police=BOTH, responsible_council=MANAGERS),
    Right.RECORD_INTERVIEW: _only(responsible_council=BOTH, interview_provider=BOTH),
    Right.CLOSE_EPISODE: _only(responsible_council=MANAGERS),
    Right.RECORD_STRATEGY_MEETING: _only(responsible_council=MANAGERS),
    Right.SUPERVISION_NOTES: _only(responsible_council=MANAGERS),
    Right.RAISE_CHALLENGE: EVERYONE,
    # The Philomena Protocol: those who know the child day to day keep the profile ready,
    # and the police read it when the child goes missing. Nobody else sees it.
    Right.EDIT_PROFILE: _only(responsible_council=BOTH, placement_provider=BOTH),
    Right.SEE_PROFILE: _only(responsible_council=BOTH, placement_provider=BOTH, police=BOTH),
    # The responsible council answers the child's (or their representative's) request
    # for their data: the export holds every agency's entries, supervision notes too.
    Right.SUBJECT_ACCESS: _only(responsible_council=MANAGERS),
    # Who the child goes missing with is police intelligence: the police and the
    # councils that search for and look after the child see it, and the interview's
    # provider, who asks the child about them; schools, GPs and others in the area do
    # not. The police and the responsible council record it.
    Right.SEE_ASSOCIATES: _only(
        responsible_council=BOTH, host_council=BOTH, police=BOTH, interview_provider=BOTH
    ),
    Right.RECORD_ASSOCIATES: _only(responsible_council=BOTH, police=BOTH),
}

# What a refused person is told (the 403 page and a crafted POST alike).
REFUSALS: dict[Right, str] = {
    Right.EDIT_IDENTITY: "You cannot change this child's details.",
    Right.MANAGE_CARE_DETAILS: (
        "Only the child's responsible council keeps legal status, placements, involved "
        "agencies and the responsible council."
    ),
    Right.REQUEST_INVOLVEMENT: (
        "Only the council where the child is placed asks the responsible council to "
        "record an agency."
    ),
    Right.REPORT_EPISODE: "You cannot report or change an episode for this child.",
    Right.RECORD_RETURN: "You cannot record a return for this child.",
    Right.CORRECT_RETURN_TIME: (
        "Only the police and the child's responsible council can correct the return time."
    ),
    Right.GRADE_RISK: "Only police can grade risk.",
    Right.RECORD_SAFE_AND_WELL: "Only police officers record safe and well checks.",
    Right.RECORD_SAFE_AND_WELL_SHARED: (
        "Only police officers, or managers of the child's responsible council, record "
        "that a safe and well check was shared."
    ),
    Right.RECORD_INTERVIEW: (
        "Only the child's responsible council and the interview's provider record the "
        "return interview."
    ),
    Right.CLOSE_EPISODE: "Only a manager of the child's responsible council can close an episode.",
    Right.RECORD_STRATEGY_MEETING: (
        "Only a manager of the child's responsible council can record a strategy meeting."
    ),
    Right.SUPERVISION_NOTES: (
        "Only managers of the child's responsible council read and write supervision notes."
    ),
    Right.RAISE_CHALLENGE: "Only practitioners and managers record challenges.",
    Right.EDIT_PROFILE: (
        "Only the child's responsible council and placement provider keep the missing "
        "person profile."
    ),
    Right.SEE_PROFILE: (
        "Only the child's responsible council, placement provider and the police see the "
        "missing person profile."
    ),
    Right.SUBJECT_ACCESS: (
        "Only managers of the child's responsible council export the child's whole record."
    ),
    Right.SEE_ASSOCIATES: (
        "Only the police, the child's councils and the return-interview provider see the "
        "child's associates."
    ),
    Right.RECORD_ASSOCIATES: (
        "Only the police and the child's responsible council record the child's associates."
    ),
}


def permits(relation: Relation | None, role: str, right: Right) -> bool:
    """The matrix itself, without the database: whether this relation and role hold it."""
    return relation is not None and role in MATRIX[right][relation]


def _places_child(child_id: object, agency_id: int | None) -> models.Exists:
    """The placement provider: an agency recorded as currently involved in that role."""
    return models.Exists(
        Involvement.objects.filter(
            involvement_current(timezone.localdate()),
            child_id=child_id,
            agency_id=agency_id,
            role=Involvement.Role.PLACEMENT_PROVIDER,
        )
    )


def relation_to(
    user: User, child: Child, *, interview: ReturnInterview | None = None
) -> Relation | None:
    """The relation of the person's agency to the child; None outside their scope.

    One query, whatever the relation. ``interview`` narrows "return-interview provider"
    to that interview's provider.
    """
    if not has_case_role(user):
        return None
    # The reasons the visibility table holds for this agency and child (none: out of
    # scope), so that a relation is found for every child in scope and none outside it.
    facts = (
        ChildVisibility.objects.filter(agency_id=user.agency_id, child_id=child.pk)
        .annotate(places_child=_places_child(child.pk, user.agency_id))
        .values("responsible", "host", "involved", "places_child")
        .first()
    )
    if facts is None:
        return None
    return _relation(user.agency.kind, facts, user=user, interview=interview)


def _relation(
    kind: str,
    facts: dict[str, bool],
    *,
    user: User,
    interview: ReturnInterview | None = None,
) -> Relation | None:
    """The relation, from the agency's kind and the visibility row's reasons."""
    if not any(facts.values()):
        return None
    if kind == Agency.Kind.LOCAL_AUTHORITY and facts["responsible"]:
        return Relation.RESPONSIBLE_COUNCIL
    if kind == Agency.Kind.LOCAL_AUTHORITY and facts["host"]:
        return Relation.HOST_COUNCIL
    if kind == Agency.Kind.POLICE:
        return Relation.POLICE
    if kind == Agency.Kind.PROVIDER:
        if interview is not None:
            if interview.provider_id == user.agency_id:
                return Relation.INTERVIEW_PROVIDER
        elif facts["involved"] or facts["responsible"]:
            return Relation.INTERVIEW_PROVIDER
    if facts["places_child"]:
        return Relation.PLACEMENT_PROVIDER
    if facts["involved"]:
        return Relation.INVOLVED
    return Relation.OTHER


@dataclass(frozen=True)
class Standing:
    """A person's standing towards one child: their agency's relation and their role."""

    relation: Relation | None
    role: str
    can: dict[str, bool] = field(default_factory=dict)

    def may(self, right: Right) -> bool:
        return permits(self.relation, self.role, right)


def standing(user: User, child: Child, *, interview: ReturnInterview | None = None) -> Standing:
    """Everything the person may record about the child, from one query: pages use
    ``.can`` (keyed by right) to show or hide each button."""
    relation = relation_to(user, child, interview=interview)
    role = user.role if user.is_authenticated else ""
    return Standing(
        relation=relation,
        role=role,
        can={right.value: permits(relation, role, right) for right in Right},
    )


# The reasons of the person's visibility row, read with the child by child_and_standing.
_FACTS = ("responsible", "host", "involved")


def child_and_standing(
    user: User, pk: int, **annotations: models.Expression
) -> tuple[Child, Standing]:
    """The child, from ``access.get_child_for_user`` (404 outside the person's scope),
    and the person's standing towards them, from the same one query: the visibility row's
    reasons come as subqueries of the child's own row (and the agency's kind from the
    person's agency, which every page's header reads anyway). The child's pages start
    here; ``annotations`` adds what a page needs of the child's other rows to the same
    query."""
    agency_id = getattr(user, "agency_id", None)  # none for someone signed out: a 404
    child = access.get_child_for_user(user, pk, **_facts_of(agency_id, "pk"), **annotations)
    return child, _standing_from(user, child)


def _facts_of(agency_id: int | None, child_ref: str) -> dict[str, models.Expression]:
    """The person's visibility row's reasons and whether their agency places the child,
    as subqueries of a row whose ``child_ref`` is the child (read by ``_standing_from``)."""
    mine = ChildVisibility.objects.filter(agency_id=agency_id, child_id=models.OuterRef(child_ref))
    return {
        **{f"_sees_{name}": models.Subquery(mine.values(name)[:1]) for name in _FACTS},
        "_places_child": _places_child(models.OuterRef(child_ref), agency_id),
    }


def _standing_from(user: User, row: models.Model) -> Standing:
    facts = {name: bool(getattr(row, f"_sees_{name}")) for name in _FACTS}
    facts["places_child"] = bool(row._places_child)  # type: ignore[attr-defined]
    # The person's agency: read once a request (every page's header names it).
    relation = _relation(user.agency.kind, facts, user=user)
    return Standing(
        relation=relation,
        role=user.role,
        can={right.value: permits(relation, user.role, right) for right in Right},
    )


def episode_and_standing(
    user: User, pk: int, *, queryset: models.QuerySet[Episode] | None = None
) -> tuple[Episode, Standing]:
    """The episode, from ``access.get_episode_for_user`` (404 outside the person's scope),
    and the person's standing towards its child, from the same one query (as
    ``child_and_standing``). ``queryset`` (of episodes): what the page shows of it."""
    agency_id = getattr(user, "agency_id", None)
    episodes = Episode.objects.all() if queryset is None else queryset
    episode = access.get_episode_for_user(
        user, pk, queryset=episodes.annotate(**_facts_of(agency_id, "child_id"))
    )
    return episode, _standing_from(user, episode)


def allowed(
    user: User, right: Right, child: Child, *, interview: ReturnInterview | None = None
) -> bool:
    return permits(relation_to(user, child, interview=interview), user.role, right)


def require(
    user: User, right: Right, child: Child, *, interview: ReturnInterview | None = None
) -> None:
    """Refuse (403, "You do not have permission") unless the person holds the right."""
    if not allowed(user, right, child, interview=interview):
        raise PermissionDenied(REFUSALS[right])


def require_standing(current: Standing, right: Right) -> None:
    """The same refusal, from a standing already worked out for the page."""
    if not current.may(right):
        raise PermissionDenied(REFUSALS[right])


# Agreed actions ---------------------------------------------------------------------
# Agreeing an action (and correcting it) is part of recording its source: the interview,
# the strategy meeting or the supervision note. Marking it done or no longer needed
# belongs to its owner agency alone, whatever its relation to the child.

SOURCE_RIGHTS: dict[str, Right] = {
    "interview": Right.RECORD_INTERVIEW,
    "strategy_meeting": Right.RECORD_STRATEGY_MEETING,
    "supervision_note": Right.SUPERVISION_NOTES,
}


def may_follow_up(user: User, action: AgreedAction) -> bool:
    """Whether this person may mark the action done, no longer needed, or reopen it: a
    practitioner or manager of the agency that owns it (the caller has checked they see
    the child). Admins never: they hold no case role."""
    return has_case_role(user) and user.agency_id == action.owner_agency_id


def follow_up_refusal(action: AgreedAction) -> str:
    return f"Only someone at {action.owner_agency.name} can mark this done."


def require_follow_up(user: User, action: AgreedAction) -> None:
    if not may_follow_up(user, action):
        raise PermissionDenied(follow_up_refusal(action))
