"""The child's associates: people the child is known to go missing with or to.

Police intelligence: the police and the responsible council record and correct them
(``Right.RECORD_ASSOCIATES``); the police, the child's councils and the interview's
provider see them (``Right.SEE_ASSOCIATES``). The child's timeline, which everyone who
sees the child reads, says only that an associate was recorded or corrected, never who.
A correction keeps the earlier version in the change history, with the reason.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from missingkids.accounts.models import User
from missingkids.policy import FREE_TEXT_MAX_LENGTH

from .. import rights
from ..models import Associate, CaseEvent, Child, Episode
from ..rights import Right
from .base import event_record, raise_if_errors
from .corrections import _correct, _labels, _summary

NAME_MAX_LENGTH = 200


def associate_problems(
    *, name: str, relationship: str, relationship_other: str, concern: str
) -> dict[str, list[str]]:
    """What an associate must answer: the same when recorded and corrected."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Enter their name, nickname or a description"]
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = [f"The name must be {NAME_MAX_LENGTH} characters or fewer"]
    if relationship not in Associate.Relationship.values:
        errors["relationship"] = ["Select how they know the child"]
    elif relationship == Associate.Relationship.OTHER and not (relationship_other or "").strip():
        errors["relationship_other"] = ["Say how they know the child"]
    if len(relationship_other or "") > NAME_MAX_LENGTH:
        errors["relationship_other"] = [
            f"How they know the child must be {NAME_MAX_LENGTH} characters or fewer"
        ]
    if len(concern or "") > FREE_TEXT_MAX_LENGTH:
        errors["concern"] = [f"The concern must be {FREE_TEXT_MAX_LENGTH:,} characters or fewer"]
    return errors


def _values(name: str, relationship: str, relationship_other: str, concern: str) -> dict[str, str]:
    other = relationship == Associate.Relationship.OTHER
    return {
        "name": (name or "").strip(),
        "relationship": relationship,
        # Kept only for "Other": a relationship picked from the list needs no words.
        "relationship_other": (relationship_other or "").strip() if other else "",
        "concern": (concern or "").strip(),
    }


def associate_add(
    *,
    acting_user: User,
    child: Child,
    episode: Episode | None = None,
    name: str,
    relationship: str,
    relationship_other: str = "",
    concern: str = "",
) -> Associate:
    rights.require(acting_user, Right.RECORD_ASSOCIATES, child)
    if episode is not None and episode.child_id != child.pk:
        raise_if_errors({"episode": ["Select one of this child's episodes"]})
    raise_if_errors(
        associate_problems(
            name=name,
            relationship=relationship,
            relationship_other=relationship_other,
            concern=concern,
        )
    )
    with transaction.atomic():
        associate = Associate.objects.create(
            child=child,
            episode=episode,
            recorded_by=acting_user,
            recorded_at=timezone.now(),
            **_values(name, relationship, relationship_other, concern),
        )
        event_record(
            child=child,
            episode=episode,
            kind=CaseEvent.Kind.ASSOCIATE_ADDED,
            actor=acting_user,
            summary="An associate of the child was recorded",
            data={"associate_id": associate.pk},
        )
    return associate


def associate_correct(
    *,
    acting_user: User,
    associate: Associate,
    expected_version: int,
    name: str,
    relationship: str,
    relationship_other: str = "",
    concern: str = "",
    reason: str = "",
) -> Associate:
    """Correct an associate; the earlier version stays in its change history."""
    child = associate.child
    rights.require(acting_user, Right.RECORD_ASSOCIATES, child)
    reason = (reason or "").strip()
    errors = associate_problems(
        name=name, relationship=relationship, relationship_other=relationship_other, concern=concern
    )
    with transaction.atomic():
        corrected, changes = _correct(
            Associate,
            pk=associate.pk,
            expected_version=expected_version,
            values=_values(name, relationship, relationship_other, concern),
            errors=errors,
            reason=reason,
            reason_needed="",
            what="associate",
            acting_user=acting_user,
        )
        event_record(
            child=child,
            episode=associate.episode,
            kind=CaseEvent.Kind.ASSOCIATE_CORRECTED,
            actor=acting_user,
            # The fields changed and why, never what they say.
            summary=_summary("An associate", _labels(Associate, changes), reason),
            data={"associate_id": associate.pk, "fields": sorted(changes), "reason": reason},
        )
    corrected.child = child
    return corrected  # type: ignore[return-value]


def associates_seen_by(user: User, child: Child) -> QuerySet[Associate]:
    """The child's associates, for someone who may see them (refused otherwise)."""
    rights.require(user, Right.SEE_ASSOCIATES, child)
    return Associate.objects.filter(child=child).order_by("name", "id")
