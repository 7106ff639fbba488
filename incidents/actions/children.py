"""Children: adding and correcting a child, and the care details the council keeps.

Identity and profile may be kept by anyone working the case; legal status, placements,
involved agencies and the responsible council are the responsible council's
(``rights.Right.MANAGE_CARE_DETAILS``).
Each function validates, writes, and adds one CaseEvent to the child's timeline.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from missingkids.accounts.models import Agency, LocalAuthorityArea, User
from missingkids.policy import EARLIEST_DATE

from .. import access, notices, rights, visibility
from ..models import (
    CareLegalStatus,
    CaseEvent,
    Child,
    Ethnicity,
    Gender,
    Involvement,
    InvolvementRequest,
    LegalStatus,
    LegalStatusPeriod,
    Location,
    Placement,
    ReturnSex,
)
from ..rights import Right
from ..validators import (
    normalise_nhs_number,
    normalise_postcode,
    normalise_upn,
    validate_nhs_number,
    validate_uk_postcode,
    validate_upn,
)
from .base import (
    EARLIEST_DATE_MESSAGE,
    check_dates_for_child,
    event_record,
    history_write,
    raise_if_errors,
    refuse,
    update_versioned,
)

# The service is for children: anyone 18 or over is an adult and is not recorded here.
ADULT_AGE = 18

# The role an agency takes when it is recorded against a child for its own access.
ROLE_FOR_AGENCY_KIND: dict[str, str] = {
    Agency.Kind.POLICE: Involvement.Role.OTHER,
    Agency.Kind.LOCAL_AUTHORITY: Involvement.Role.SOCIAL_WORKER,
    Agency.Kind.IRO: Involvement.Role.IRO,
    Agency.Kind.GP_PRACTICE: Involvement.Role.GP_PRACTICE,
    Agency.Kind.SCHOOL_NURSE: Involvement.Role.SCHOOL_NURSE,
    Agency.Kind.SCHOOL: Involvement.Role.SCHOOL,
    Agency.Kind.PROVIDER: Involvement.Role.PROVIDER,
    Agency.Kind.OTHER: Involvement.Role.OTHER,
}

IDENTITY_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "known_as",
    "date_of_birth",
    "gender",
    "sex",
    "ethnicity",
    "upn",
    "la_child_id",
    "nhs_number",
    "police_person_reference",
)
PROFILE_FIELDS: tuple[str, ...] = (
    "physical_description",
    "places_they_go",
    "people_they_may_be_with",
)
# Editable through child_update; the responsible council only by the local authority,
# because it decides who can see the child.
UPDATABLE_FIELDS: frozenset[str] = frozenset(
    (*IDENTITY_FIELDS, *PROFILE_FIELDS, "responsible_area", "frequented_locations")
)


def _fmt(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _check_not_future(errors: dict[str, list[str]], field: str, day: dt.date | None) -> None:
    """Today or in the past, and not before the service's earliest date."""
    if day is not None and day > timezone.localdate():
        _add(errors, field, "The date must be today or in the past")
    elif day is not None and day < EARLIEST_DATE:
        _add(errors, field, EARLIEST_DATE_MESSAGE)


def _check_end(
    errors: dict[str, list[str]], start: dt.date | None, end: dt.date | None, field: str = "end"
) -> None:
    if end is None:
        return
    _check_not_future(errors, field, end)
    if start is not None and end < start:
        _add(errors, field, f"The end date must be on or after the start date, {_fmt(start)}")


def _check_care_legal_status(
    errors: dict[str, list[str]], field: str, status: str, code: str
) -> None:
    if code and code not in CareLegalStatus.values:
        _add(errors, field, "Select the SSDA903 legal status from the list")
    elif code and status != LegalStatus.IN_CARE:
        _add(errors, field, "An SSDA903 legal status is given only for a child in care")


def agency_serves_area(agency: Agency, area: LocalAuthorityArea) -> bool:
    return agency.areas.filter(pk=area.pk).exists()


# A council child identifier or NHS number is unique across the partnership, but whether
# some child holds it is not for everyone to learn (an uninvolved GP must not find out
# that a patient is on the missing children record). Someone who cannot see the child
# holding it is told only to contact the child's responsible local authority; the error
# carries this code and the child's id (never shown), so the view can log the attempt.
IDENTIFIER_ELSEWHERE = "identifier_recorded_elsewhere"


def _identifier_taken(
    errors: dict[str, list[Any]],
    field: str,
    existing: Child,
    acting_user: User | None,
    *,
    seen: str,
    unseen: str,
) -> None:
    if acting_user is not None and access.child_in_scope(acting_user, existing):
        _add(errors, field, seen)
        return
    errors.setdefault(field, []).append(
        ValidationError(unseen, code=IDENTIFIER_ELSEWHERE, params={"child_id": existing.pk})
    )


def _clean_identity(
    values: dict[str, Any],
    errors: dict[str, list[Any]],
    *,
    child: Child | None = None,
    acting_user: User | None = None,
) -> dict[str, Any]:
    """Normalise and check identity fields present in ``values``; returns the cleaned ones."""
    cleaned: dict[str, Any] = {}
    for name in ("first_name", "last_name", "known_as", "police_person_reference"):
        if name in values:
            cleaned[name] = (values[name] or "").strip()
    for name, label in (("first_name", "first name"), ("last_name", "last name")):
        if name in cleaned and not cleaned[name]:
            _add(errors, name, f"Enter the child's {label}")

    if "gender" in values:
        cleaned["gender"] = values["gender"]
        if values["gender"] not in Gender.values:
            _add(errors, "gender", "Select the child's gender, or 'Not known'")

    if "sex" in values:
        cleaned["sex"] = values["sex"] or ""
        if cleaned["sex"] not in ("", *ReturnSex.values):
            _add(errors, "sex", "Select male or female, or leave it blank")
    if "ethnicity" in values:
        cleaned["ethnicity"] = values["ethnicity"] or ""
        if cleaned["ethnicity"] not in ("", *Ethnicity.values):
            _add(errors, "ethnicity", "Select the child's ethnicity from the list")
    if "upn" in values:
        cleaned["upn"] = normalise_upn(values["upn"] or "")
        try:
            validate_upn(cleaned["upn"])
        except ValidationError as error:
            errors.setdefault("upn", []).extend(error.messages)

    if "date_of_birth" in values:
        dob = values["date_of_birth"]
        cleaned["date_of_birth"] = dob
        today = timezone.localdate()
        if dob is None:
            _add(errors, "date_of_birth", "Enter the child's date of birth")
        elif dob > today:
            _add(errors, "date_of_birth", "The date of birth must be today or in the past")
        elif Child(date_of_birth=dob).age_on(today) >= ADULT_AGE:
            _add(
                errors,
                "date_of_birth",
                "This date of birth makes the person 18 or over. This service is for "
                "children under 18: check the date, or refer an adult to adult services",
            )

    others = Child.objects.exclude(pk=child.pk) if child else Child.objects.all()
    if "la_child_id" in values:
        la_id = (values["la_child_id"] or "").strip() or None
        cleaned["la_child_id"] = la_id
        if la_id and len(la_id) > 10:
            _add(
                errors,
                "la_child_id",
                "The local authority child identifier must be 10 characters or fewer",
            )
        elif la_id and (existing := others.filter(la_child_id=la_id).first()) is not None:
            _identifier_taken(
                errors,
                "la_child_id",
                existing,
                acting_user,
                seen="This local authority child identifier is already used for another "
                "child. Search for the child: they may already be recorded",
                unseen="You cannot use this local authority child identifier. Contact the "
                "child's responsible local authority before adding or changing the child",
            )
    if "nhs_number" in values:
        nhs = normalise_nhs_number(values["nhs_number"] or "") or None
        cleaned["nhs_number"] = nhs
        if nhs:
            try:
                validate_nhs_number(nhs)
            except ValidationError as error:
                errors.setdefault("nhs_number", []).extend(error.messages)
            else:
                existing = others.filter(nhs_number=nhs).first()
                if existing is not None:
                    _identifier_taken(
                        errors,
                        "nhs_number",
                        existing,
                        acting_user,
                        seen="This NHS number is already recorded for another child. Search "
                        "for the child: they may already be recorded",
                        unseen="You cannot use this NHS number. Contact the child's "
                        "responsible local authority before adding or changing the child",
                    )
    for name in PROFILE_FIELDS:
        if name in values:
            cleaned[name] = (values[name] or "").strip()
    return cleaned


@transaction.atomic
def child_create(
    *,
    acting_user: User,
    first_name: str,
    last_name: str,
    known_as: str = "",
    date_of_birth: dt.date,
    gender: str,
    sex: str = "",
    ethnicity: str = "",
    upn: str = "",
    la_child_id: str | None = None,
    nhs_number: str | None = None,
    police_person_reference: str = "",
    legal_status: str = LegalStatus.NONE,
    legal_status_start: dt.date | None = None,
    care_legal_status: str = "",
    responsible_area: LocalAuthorityArea,
    physical_description: str = "",
    places_they_go: str = "",
    people_they_may_be_with: str = "",
    to_be_matched_by_council: bool = False,
) -> Child:
    """Add a child. If the person's agency does not serve the responsible area, their
    agency is recorded as involved so that they can still see the child they added.

    ``to_be_matched_by_council``: added from a police system's report that matched no
    recorded child, for the council to check against the children it already has."""
    if not access.can_add_child(acting_user):
        refuse("Only practitioners and managers can add a child.")
    errors: dict[str, list[str]] = {}
    values = _clean_identity(
        {
            "first_name": first_name,
            "last_name": last_name,
            "known_as": known_as,
            "date_of_birth": date_of_birth,
            "gender": gender,
            "sex": sex,
            "ethnicity": ethnicity,
            "upn": upn,
            "la_child_id": la_child_id,
            "nhs_number": nhs_number,
            "police_person_reference": police_person_reference,
            "physical_description": physical_description,
            "places_they_go": places_they_go,
            "people_they_may_be_with": people_they_may_be_with,
        },
        errors,
        acting_user=acting_user,
    )
    if responsible_area is None:
        _add(errors, "responsible_area", "Select the responsible local authority")
    if legal_status not in LegalStatus.values:
        _add(errors, "legal_status", "Select the child's legal status")
    elif legal_status != LegalStatus.NONE:
        if legal_status_start is None:
            _add(errors, "legal_status_start", "Enter the date the legal status started")
        else:
            _check_not_future(errors, "legal_status_start", legal_status_start)
            if date_of_birth and legal_status_start < date_of_birth:
                _add(
                    errors,
                    "legal_status_start",
                    "The legal status cannot start before the child's date of birth",
                )
    care_legal_status = care_legal_status or ""
    _check_care_legal_status(errors, "care_legal_status", legal_status, care_legal_status)
    raise_if_errors(errors)

    child = Child.objects.create(
        **values,
        legal_status=legal_status,
        responsible_area=responsible_area,
        to_be_matched_by_council=to_be_matched_by_council,
        created_by=acting_user,
    )
    if legal_status != LegalStatus.NONE:
        LegalStatusPeriod.objects.create(
            child=child,
            status=legal_status,
            start=legal_status_start,
            care_legal_status=care_legal_status,
        )

    agency = acting_user.agency
    involved = not agency_serves_area(agency, responsible_area)
    if involved:
        Involvement.objects.create(
            child=child,
            agency=agency,
            role=ROLE_FOR_AGENCY_KIND.get(agency.kind, Involvement.Role.OTHER),
            professional_name=acting_user.name,
            professional_email=acting_user.email,
            start=timezone.localdate(),
        )
    event_record(
        child=child,
        kind=CaseEvent.Kind.CHILD_CREATED,
        actor=acting_user,
        summary=(
            f"{child.full_name} added, responsible local authority {responsible_area.name}"
            + (
                "; to be matched by the council (added from a police report)"
                if to_be_matched_by_council
                else ""
            )
        ),
        data={
            "legal_status": legal_status,
            "in_care": child.is_in_care,
            "responsible_area_id": responsible_area.pk,
            "creator_agency_involved": involved,
            "to_be_matched_by_council": to_be_matched_by_council,
        },
    )
    return child


@transaction.atomic
def child_update(*, acting_user: User, child: Child, expected_version: int, **fields: Any) -> Child:
    """Correct or add to identity and profile; refused if someone saved in between."""
    rights.require(acting_user, Right.EDIT_IDENTITY, child)
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"child_update cannot change {', '.join(sorted(unknown))}")
    area_changes = (
        "responsible_area" in fields and fields["responsible_area"] != child.responsible_area
    )
    if area_changes:
        rights.require(acting_user, Right.MANAGE_CARE_DETAILS, child)

    errors: dict[str, list[str]] = {}
    values = _clean_identity(fields, errors, child=child, acting_user=acting_user)
    if "responsible_area" in fields:
        if fields["responsible_area"] is None:
            _add(errors, "responsible_area", "Select the responsible local authority")
        values["responsible_area"] = fields["responsible_area"]
    raise_if_errors(errors)

    changes = update_versioned(
        child,
        expected_version=expected_version,
        values=values,
        what="child",
        acting_user=acting_user,
    )
    if "responsible_area" in changes:
        # Changed with QuerySet.update(), which sends no signal: who sees the child now.
        visibility.refresh_children([child.pk])
    if "frequented_locations" in fields:
        new_places: list[Location] = list(fields["frequented_locations"] or [])
        old_places = list(child.frequented_locations.all())
        if {p.pk for p in old_places} != {p.pk for p in new_places}:
            child.frequented_locations.set(new_places)
            changes["frequented_locations"] = [
                sorted(str(p) for p in old_places),
                sorted(str(p) for p in new_places),
            ]
    if changes:
        labels = ", ".join(
            str(Child._meta.get_field(name).verbose_name) for name in sorted(changes)
        )
        event_record(
            child=child,
            kind=CaseEvent.Kind.CHILD_EDITED,
            actor=acting_user,
            summary=f"Changed: {labels}",
            data={"changes": changes},
        )
    return child


def legal_status_problems(
    child: Child,
    *,
    status: str | None,
    start: dt.date | None,
    care_legal_status: str = "",
    errors: dict[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """Every problem with changing the child's legal status, all at once: the action's
    checks, also run by the question page on answers the form could not read (``errors``
    holds the form's own messages, so a question already wrong is not asked again)."""
    errors = {} if errors is None else errors
    if status not in LegalStatus.values:
        _add(errors, "status", "Select the child's legal status")
    else:
        _check_care_legal_status(errors, "care_legal_status", status, care_legal_status or "")
    if start is None:
        _add(errors, "start", "Enter the date the legal status started")
    else:
        _check_not_future(errors, "start", start)
        if start < child.date_of_birth:
            _add(errors, "start", "The legal status cannot start before the child's date of birth")
        current = LegalStatusPeriod.objects.filter(child=child, end__isnull=True).first()
        if current is not None and start <= current.start:
            _add(
                errors,
                "start",
                f"The new legal status must start after {_fmt(current.start)}, when the "
                f"current one ({current.get_status_display()}) began",
            )
    if status in LegalStatus.values and status == child.legal_status:
        _add(
            errors,
            "status",
            f"The child's legal status is already {child.get_legal_status_display()}",
        )
    if (
        status in LegalStatus.values
        and child.legal_status == LegalStatus.IN_CARE
        and status != LegalStatus.IN_CARE
        and child.placements.filter(end__isnull=True).exists()
    ):
        _add(
            errors,
            "status",
            "The child has a current placement: end the placement before they leave care",
        )
    return errors


@transaction.atomic
def child_set_legal_status(
    *,
    acting_user: User,
    child: Child,
    status: str,
    start: dt.date,
    care_legal_status: str = "",
) -> LegalStatusPeriod:
    """Close the current legal status the day before ``start`` and open the new one.

    A period "in care" is a period of care in the SSDA903 return; ``care_legal_status`` is
    its legal status in the return's terms (C2, V2 ...), optional."""
    rights.require(acting_user, Right.MANAGE_CARE_DETAILS, child)
    care_legal_status = care_legal_status or ""
    # Locked so two changes at once cannot both close the same current period.
    locked = Child.objects.select_for_update().get(pk=child.pk)
    raise_if_errors(
        legal_status_problems(
            locked, status=status, start=start, care_legal_status=care_legal_status
        )
    )
    current = LegalStatusPeriod.objects.filter(child=child, end__isnull=True).first()

    old_status = locked.legal_status
    if current is not None:
        current.end = start - dt.timedelta(days=1)
        current.save(update_fields=["end"])
    period = LegalStatusPeriod.objects.create(
        child=child, status=status, start=start, care_legal_status=care_legal_status
    )
    # Not a versioned edit: the edit form does not carry legal status, so an identity
    # edit in progress is not made stale by it.
    Child.objects.filter(pk=child.pk).update(legal_status=status)
    history_write(Child, child.pk, user=acting_user)
    child.legal_status = status
    event_record(
        child=child,
        kind=CaseEvent.Kind.LEGAL_STATUS_CHANGED,
        actor=acting_user,
        occurred_at=min(
            timezone.now(), timezone.make_aware(dt.datetime.combine(start, dt.time(9)))
        ),
        summary=f"Legal status now {period.get_status_display()} from {_fmt(start)}",
        data={
            "changes": {"legal_status": [old_status, status]},
            "in_care": status == LegalStatus.IN_CARE,
            "start": _fmt(start),
        },
    )
    return period


def _overlapping(child: Child, start: dt.date, end: dt.date | None) -> Placement | None:
    others = child.placements.all()
    clash = others.filter(end__isnull=True) | others.filter(end__gte=start)
    if end is not None:
        clash = clash.filter(start__lte=end)
    return clash.order_by("start").first()


def placement_problems(
    child: Child,
    *,
    start: dt.date | None,
    end: dt.date | None = None,
    type: str | None,
    address: str | None,
    postcode: str | None,
    host_area: LocalAuthorityArea | None,
    errors: dict[str, list[str]] | None = None,
    **_others: Any,
) -> dict[str, list[str]]:
    """Every problem with a new placement, all at once: the action's checks (the child
    in care, the dates, an overlap with another placement, the address and area), also
    run by the question page on answers the form could not read (``errors`` holds the
    form's own messages: a date it could not read is not checked for an overlap)."""
    errors = {} if errors is None else errors
    if child.legal_status != LegalStatus.IN_CARE:
        _add(
            errors,
            "__all__",
            "Only a child in care can have a placement. Change the child's legal status to "
            "child in care first",
        )
    if type not in Placement.Type.values:
        _add(errors, "type", "Select the type of placement")
    if not (address or "").strip():
        _add(errors, "address", "Enter the address of the placement")
    postcode = normalise_postcode(postcode or "")
    if not postcode:
        _add(errors, "postcode", "Enter the postcode of the placement")
    else:
        try:
            validate_uk_postcode(postcode)
        except ValidationError as error:
            errors.setdefault("postcode", []).extend(error.messages)
    if host_area is None:
        _add(errors, "host_area", "Select the local authority the placement is in")
    if start is None:
        _add(errors, "start", "Enter the date the placement started")
    else:
        _check_not_future(errors, "start", start)
        if start < child.date_of_birth:
            _add(errors, "start", "The placement cannot start before the child's date of birth")
        _check_end(errors, start, end)
        if "end" not in errors:
            clash = _overlapping(child, start, end)
            if clash is not None:
                until = f"to {_fmt(clash.end)}" if clash.end else "and is still current"
                _add(
                    errors,
                    "start",
                    f"This placement overlaps another placement of this child, which started "
                    f"on {_fmt(clash.start)} {until}. End that placement first or change the dates",
                )
    return errors


@transaction.atomic
def placement_add(
    *,
    acting_user: User,
    child: Child,
    start: dt.date,
    end: dt.date | None = None,
    type: str,
    carer_name: str = "",
    address: str,
    postcode: str,
    host_area: LocalAuthorityArea,
) -> Placement:
    rights.require(acting_user, Right.MANAGE_CARE_DETAILS, child)
    # Locked so that two overlapping placements added at once cannot both pass the check.
    locked = Child.objects.select_for_update().get(pk=child.pk)
    raise_if_errors(
        placement_problems(
            locked,
            start=start,
            end=end,
            type=type,
            address=address,
            postcode=postcode,
            host_area=host_area,
        )
    )
    address = address.strip()
    postcode = normalise_postcode(postcode)

    placement = Placement.objects.create(
        child=child,
        start=start,
        end=end,
        type=type,
        carer_name=(carer_name or "").strip(),
        address=address,
        postcode=postcode,
        host_area=host_area,
    )
    out_of_area = placement.placed_out_of_area
    event_record(
        child=child,
        kind=CaseEvent.Kind.PLACEMENT_ADDED,
        actor=acting_user,
        summary=(
            f"{placement.get_type_display()} from {_fmt(start)} in {host_area.name}"
            + (" (placed out of area)" if out_of_area else "")
        ),
        data={
            "placement_id": placement.pk,
            "placed_out_of_area": out_of_area,
            "host_area_id": host_area.pk,
            "in_care": True,
            "type": type,
            "start": _fmt(start),
        },
    )
    return placement


@transaction.atomic
def placement_end(*, acting_user: User, placement: Placement, end: dt.date) -> Placement:
    rights.require(acting_user, Right.MANAGE_CARE_DETAILS, placement.child)
    errors: dict[str, list[str]] = {}
    if placement.end is not None:
        _add(errors, "end", f"This placement already ended on {_fmt(placement.end)}")
    elif end is None:
        _add(errors, "end", "Enter the date the placement ended")
    else:
        _check_end(errors, placement.start, end)
    raise_if_errors(errors)

    placement.end = end
    placement.save(update_fields=["end"])
    event_record(
        child=placement.child,
        kind=CaseEvent.Kind.PLACEMENT_ENDED,
        actor=acting_user,
        summary=f"{placement.get_type_display()} in {placement.host_area.name} ended {_fmt(end)}",
        data={
            "placement_id": placement.pk,
            "placed_out_of_area": placement.placed_out_of_area,
            "end": _fmt(end),
        },
    )
    return placement


def _check_involvement(
    errors: dict[str, list[str]],
    *,
    child: Child,
    agency: Agency | None,
    role: str,
    professional_email: str,
    start: dt.date | None,
    end: dt.date | None = None,
) -> str:
    """The rules for an involvement, recorded or asked for; returns the e-mail cleaned."""
    if agency is None:
        _add(errors, "agency", "Select the agency")
    elif not agency.active:
        _add(errors, "agency", "This agency is no longer active: select another")
    if role not in Involvement.Role.values:
        _add(errors, "role", "Select the role the agency has with the child")
    professional_email = (professional_email or "").strip()
    if professional_email:
        try:
            validate_email(professional_email)
        except ValidationError:
            _add(errors, "professional_email", "Enter an e-mail address like name@example.org")
    if start is None:
        _add(errors, "start", "Enter the date the involvement started")
    else:
        _check_not_future(errors, "start", start)
        check_dates_for_child(errors, child, start=start)
        _check_end(errors, start, end)
    if (
        agency is not None
        and role
        and end is None
        and child.involvements.filter(agency=agency, role=role, end__isnull=True).exists()
    ):
        _add(errors, "agency", "This agency is already recorded as involved in this role")
    return professional_email


def involvement_problems(
    child: Child,
    *,
    agency: Agency | None,
    role: str | None,
    professional_email: str | None = "",
    start: dt.date | None,
    end: dt.date | None = None,
    errors: dict[str, list[str]] | None = None,
    **_others: Any,
) -> dict[str, list[str]]:
    """Every problem with recording an agency as involved, all at once (see
    ``placement_problems``)."""
    errors = {} if errors is None else errors
    _check_involvement(
        errors,
        child=child,
        agency=agency,
        role=role or "",
        professional_email=professional_email or "",
        start=start,
        end=end,
    )
    return errors


@transaction.atomic
def involvement_add(
    *,
    acting_user: User,
    child: Child,
    agency: Agency,
    role: str,
    professional_name: str = "",
    professional_email: str = "",
    professional_phone: str = "",
    start: dt.date,
    end: dt.date | None = None,
) -> Involvement:
    rights.require(acting_user, Right.MANAGE_CARE_DETAILS, child)
    errors: dict[str, list[str]] = {}
    professional_email = _check_involvement(
        errors,
        child=child,
        agency=agency,
        role=role,
        professional_email=professional_email,
        start=start,
        end=end,
    )
    raise_if_errors(errors)

    involvement = Involvement.objects.create(
        child=child,
        agency=agency,
        role=role,
        professional_name=(professional_name or "").strip(),
        professional_email=professional_email,
        professional_phone=(professional_phone or "").strip(),
        start=start,
        end=end,
    )
    event_record(
        child=child,
        kind=CaseEvent.Kind.INVOLVEMENT_ADDED,
        actor=acting_user,
        summary=f"{involvement.get_role_display()}: {agency.name} involved from {_fmt(start)}",
        data={
            "involvement_id": involvement.pk,
            "agency_id": agency.pk,
            "agency_kind": agency.kind,
            "role": role,
        },
    )
    return involvement


@transaction.atomic
def involvement_end(*, acting_user: User, involvement: Involvement, end: dt.date) -> Involvement:
    rights.require(acting_user, Right.MANAGE_CARE_DETAILS, involvement.child)
    errors: dict[str, list[str]] = {}
    if involvement.end is not None:
        _add(errors, "end", f"This involvement already ended on {_fmt(involvement.end)}")
    elif end is None:
        _add(errors, "end", "Enter the date the involvement ended")
    else:
        _check_end(errors, involvement.start, end)
    raise_if_errors(errors)

    involvement.end = end
    involvement.save(update_fields=["end"])
    event_record(
        child=involvement.child,
        kind=CaseEvent.Kind.INVOLVEMENT_ENDED,
        actor=acting_user,
        summary=(
            f"{involvement.get_role_display()}: {involvement.agency.name} "
            f"involvement ended {_fmt(end)}"
        ),
        data={
            "involvement_id": involvement.pk,
            "agency_id": involvement.agency_id,
            "role": involvement.role,
        },
    )
    return involvement


@transaction.atomic
def involvement_request_add(
    *,
    acting_user: User,
    child: Child,
    agency: Agency,
    role: str,
    professional_name: str = "",
    professional_email: str = "",
    professional_phone: str = "",
    start: dt.date,
    note: str = "",
) -> InvolvementRequest:
    """The host council asks the responsible council to record an agency as involved.

    Nothing changes who sees or is told about the child until the responsible council
    accepts (involvement_request_answer); the request is on the child's page meanwhile.
    """
    rights.require(acting_user, Right.REQUEST_INVOLVEMENT, child)
    errors: dict[str, list[str]] = {}
    professional_email = _check_involvement(
        errors,
        child=child,
        agency=agency,
        role=role,
        professional_email=professional_email,
        start=start,
    )
    if (
        "agency" not in errors
        and agency is not None
        and child.involvement_requests.filter(
            agency=agency, role=role, status=InvolvementRequest.Status.PENDING
        ).exists()
    ):
        _add(
            errors,
            "agency",
            "The responsible council has already been asked to record this agency in this "
            "role: the request is waiting for their answer",
        )
    raise_if_errors(errors)

    request = InvolvementRequest.objects.create(
        child=child,
        agency=agency,
        role=role,
        professional_name=(professional_name or "").strip(),
        professional_email=professional_email,
        professional_phone=(professional_phone or "").strip(),
        start=start,
        note=(note or "").strip(),
        requested_by=acting_user,
        requested_by_agency_id=acting_user.agency_id,
    )
    event_record(
        child=child,
        kind=CaseEvent.Kind.INVOLVEMENT_REQUESTED,
        actor=acting_user,
        summary=(
            f"Asked the responsible council to record {request.get_role_display()}: "
            f"{agency.name}, from {_fmt(start)}"
        ),
        data={"involvement_request_id": request.pk, "agency_id": agency.pk, "role": role},
    )
    notices.involvement_requested(request)
    return request


DECLINE_REASON_MISSING = "Enter why you are declining the request"


@transaction.atomic
def involvement_request_answer(
    *, acting_user: User, request: InvolvementRequest, accept: bool, reason: str = ""
) -> InvolvementRequest:
    """The responsible council accepts (recording the involvement through involvement_add,
    with its rules and its notifications) or declines, with a reason. Answered once."""
    child = request.child
    rights.require(acting_user, Right.MANAGE_CARE_DETAILS, child)
    reason = (reason or "").strip()
    if not accept and not reason:
        raise_if_errors({"reason": [DECLINE_REASON_MISSING]})
    status = InvolvementRequest.Status.ACCEPTED if accept else InvolvementRequest.Status.DECLINED
    now = timezone.now()
    # Conditional update: of two answers at once, one wins; the other is told.
    claimed = InvolvementRequest.objects.filter(
        pk=request.pk, status=InvolvementRequest.Status.PENDING
    ).update(status=status, decided_by=acting_user, decided_at=now, decision_reason=reason)
    if claimed != 1:
        raise_if_errors({"__all__": ["This request has already been answered"]})
    if accept:
        # Its own rules (already involved, an agency no longer active) refuse here, and
        # the transaction leaves the request waiting.
        involvement = involvement_add(
            acting_user=acting_user,
            child=child,
            agency=request.agency,
            role=request.role,
            professional_name=request.professional_name,
            professional_email=request.professional_email,
            professional_phone=request.professional_phone,
            start=request.start,
        )
        InvolvementRequest.objects.filter(pk=request.pk).update(involvement=involvement)
        request.involvement = involvement
    request.status, request.decided_by, request.decided_at = status, acting_user, now
    request.decision_reason = reason
    answer = "accepted" if accept else "declined"
    event_record(
        child=child,
        kind=CaseEvent.Kind.INVOLVEMENT_REQUEST_ANSWERED,
        actor=acting_user,
        summary=(
            f"Request from {request.requested_by_agency.name} to record "
            f"{request.get_role_display()}: {request.agency.name} {answer}"
            + (f": {reason}" if reason else "")
        )[:500],
        data={"involvement_request_id": request.pk, "status": status},
    )
    return request


def location_find_or_create(
    *,
    description: str,
    postcode: str = "",
    latitude: Decimal | float | None = None,
    longitude: Decimal | float | None = None,
) -> Location:
    """One place is one record: the same description and postcode finds the existing row.

    A place is shared by every child seen there, so it takes no address: an address typed
    with an episode is kept on that episode (``last_seen_address``, ``found_address``).
    """
    errors: dict[str, list[str]] = {}
    description = " ".join((description or "").split())
    if not description:
        _add(errors, "description", "Describe the place, for example 'Chester bus station'")
    postcode = normalise_postcode(postcode or "")
    try:
        validate_uk_postcode(postcode)
    except ValidationError as error:
        errors.setdefault("postcode", []).extend(error.messages)
    if (latitude is None) != (longitude is None):
        _add(errors, "latitude", "Give both latitude and longitude, or neither")
    elif (
        latitude is not None
        and longitude is not None
        and not (-90 <= float(latitude) <= 90 and -180 <= float(longitude) <= 180)
    ):
        _add(errors, "latitude", "Enter a real latitude and longitude")
    raise_if_errors(errors)

    with transaction.atomic():
        existing = (
            Location.objects.filter(description__iexact=description, postcode=postcode)
            .order_by("pk")
            .first()
        )
        if existing is not None:
            return existing
        return Location.objects.create(
            description=description,
            postcode=postcode,
            latitude=latitude,
            longitude=longitude,
        )
