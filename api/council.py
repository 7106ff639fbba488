"""Council operations: a council's case-management system keeps its children in care
and their placements up to date here, by its own child identifier (the SSDA903 CHILD
id, ``la_child_id``), so the council does not type them twice either.

``PUT /api/v1/children/<la_child_id>/`` adds the child or brings the record up to date:
identity through ``child_update``, legal status through ``child_set_legal_status``,
placements through ``placement_add`` and ``placement_end``, as the council's pages do.
Sending the same thing again changes nothing (each action is called only for what
differs), so a retried call is harmless.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from incidents.access import children_visible_to
from incidents.actions.children import (
    agency_serves_area,
    child_create,
    child_set_legal_status,
    child_update,
    placement_add,
    placement_end,
)
from incidents.models import Child, Placement
from incidents.validators import normalise_nhs_number
from missingkids.accounts.models import Agency, LocalAuthorityArea, User

from . import serializers as s
from .models import Operation
from .permissions import IsApiClient, OperationAllowed
from .problems import PROBLEM_CONTENT_TYPE, Problem, from_validation_error
from .views import PROBLEMS, ApiView

IDENTITY = ("first_name", "last_name", "known_as", "date_of_birth", "gender")
MAX_LA_CHILD_ID = 10


def _refused(error: DjangoValidationError, prefix: str = "", rename: dict | None = None):
    rename = rename or {}
    fields = {}
    for field, messages in error.message_dict.items():
        name = rename.get(field, field)
        if field != "__all__" and prefix:
            name = f"{prefix}.{name}"
        fields.setdefault(name, []).extend(messages)
    return from_validation_error(DjangoValidationError(fields))


def _area(code: str, field: str) -> LocalAuthorityArea:
    area = LocalAuthorityArea.objects.filter(code=code.upper()).first()
    if area is None:
        raise _refused(
            DjangoValidationError({field: [f"There is no council with the ONS code {code}"]})
        )
    return area


def _child_result(user: User, pk: int) -> dict[str, Any]:
    child = (
        children_visible_to(user)
        .select_related("responsible_area")
        .prefetch_related(
            Prefetch(
                "placements",
                queryset=Placement.objects.select_related("host_area").order_by("start"),
            )
        )
        .get(pk=pk)
    )
    return s.CouncilChildResultSerializer(child).data


class Upserted(NamedTuple):
    created: bool
    child_id: int
    # Whether anything was recorded: False when the record already said all this.
    changed: bool


def upsert_child(user: User, la_child_id: str, data: dict[str, Any]) -> Upserted:
    """Add or bring up to date. Every change through the action functions; nothing is
    called for what the record already says, so sending the same again changes nothing
    (the CSV import counts such a row as unchanged)."""
    area = _area(data["responsible_area"], "responsible_area")
    if not agency_serves_area(user.agency, area):
        raise _refused(
            DjangoValidationError(
                {"responsible_area": [f"Your council does not serve {area.name}"]}
            )
        )
    placements = data.get("placements") or []
    host_areas = [
        _area(p["host_area"], f"placements.{i}.host_area") for i, p in enumerate(placements)
    ]
    nhs = normalise_nhs_number(data.get("nhs_number") or "") or None
    child = children_visible_to(user).filter(la_child_id=la_child_id).first()
    created = child is None
    changed = created
    if created:
        try:
            with transaction.atomic():
                child = child_create(
                    acting_user=user,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    known_as=data["known_as"],
                    date_of_birth=data["date_of_birth"],
                    gender=data["gender"],
                    la_child_id=la_child_id,
                    nhs_number=nhs,
                    legal_status=data["legal_status"],
                    legal_status_start=data["legal_status_start"],
                    responsible_area=area,
                )
        except DjangoValidationError as error:
            raise _refused(error) from None
        except IntegrityError:
            raise Problem(
                "validation-error",
                409,
                "Another call added this child at the same moment: send this one again.",
            ) from None
    else:
        changes: dict[str, Any] = {
            name: data[name] for name in IDENTITY if getattr(child, name) != data[name]
        }
        if child.nhs_number != nhs:
            changes["nhs_number"] = nhs
        if child.responsible_area_id != area.pk:
            changes["responsible_area"] = area
        if changes:
            changed = True
            try:
                child_update(
                    acting_user=user, child=child, expected_version=child.version, **changes
                )
            except DjangoValidationError as error:
                raise _refused(error) from None

    recorded = {p.start: p for p in child.placements.all()}
    # Ends first: a child leaves care only once their placement has ended.
    for i, given in enumerate(placements):
        current = recorded.get(given["start"])
        if current is not None and current.end is None and given["end"] is not None:
            changed = True
            try:
                placement_end(acting_user=user, placement=current, end=given["end"])
            except DjangoValidationError as error:
                raise _refused(error, f"placements.{i}") from None
    if not created and data["legal_status"] != child.legal_status:
        if data["legal_status_start"] is None:
            raise _refused(
                DjangoValidationError(
                    {"legal_status_start": ["Enter the date the new legal status started"]}
                )
            )
        changed = True
        try:
            child_set_legal_status(
                acting_user=user,
                child=child,
                status=data["legal_status"],
                start=data["legal_status_start"],
            )
        except DjangoValidationError as error:
            raise _refused(
                error, rename={"status": "legal_status", "start": "legal_status_start"}
            ) from None
    for i, (given, host_area) in enumerate(zip(placements, host_areas, strict=True)):
        if given["start"] in recorded:
            continue
        changed = True
        try:
            placement_add(
                acting_user=user,
                child=child,
                start=given["start"],
                end=given["end"],
                type=given["type"],
                carer_name=given["carer_name"],
                address=given["address"],
                postcode=given["postcode"],
                host_area=host_area,
            )
        except DjangoValidationError as error:
            raise _refused(error, f"placements.{i}") from None
    return Upserted(created, child.pk, changed)


@extend_schema(tags=["Children"])
class ChildView(ApiView):
    agency_kind = Agency.Kind.LOCAL_AUTHORITY
    permission_classes = [IsApiClient]

    def get_permissions(self) -> list[Any]:
        if self.request.method == "PUT":
            return [IsApiClient(), OperationAllowed()]
        return super().get_permissions()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "PUT":
            self.operation = Operation.UPSERT_CHILDREN
        super().initial(request, *args, **kwargs)

    def _visible(self, la_child_id: str) -> Child:
        child = (
            children_visible_to(self.client().user).filter(la_child_id=la_child_id).first()
            if len(la_child_id) <= MAX_LA_CHILD_ID
            else None
        )
        if child is None:
            raise exceptions.NotFound("No such child, or not one this system may see.")
        self.logged_child_id = child.pk
        return child

    @extend_schema(
        operation_id="child_retrieve",
        summary="A child, by the council's child identifier",
        description="With their placements (a child the system's agency may see, else 404).",
        responses={200: s.CouncilChildResultSerializer, **PROBLEMS},
    )
    def get(self, request: Request, la_child_id: str) -> Response:
        child = self._visible(la_child_id)
        return Response(_child_result(self.client().user, child.pk))

    @extend_schema(
        operation_id="child_upsert",
        summary="Add a child in the council's care, or bring their record up to date",
        description="For a council's children's services system with the upsert_children "
        "operation. Identity, legal status and placements are brought up to date through "
        "the same steps as the council's pages; sending the same thing again changes "
        "nothing. 201 when the child was added, 200 when updated.",
        request=s.CouncilChildSerializer,
        responses={
            201: s.CouncilChildResultSerializer,
            200: s.CouncilChildResultSerializer,
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                s.ProblemSerializer, description="Added by another call at the same moment"
            ),
            **PROBLEMS,
        },
    )
    def put(self, request: Request, la_child_id: str) -> Response:
        if len(la_child_id) > MAX_LA_CHILD_ID:
            raise Problem(
                "invalid-request",
                400,
                f"The council's child identifier is at most {MAX_LA_CHILD_ID} characters.",
                [{"field": "la_child_id", "detail": "Too long."}],
            )
        data = self.validated(s.CouncilChildSerializer, request)
        user = self.client().user
        with transaction.atomic():
            created, pk, _ = upsert_child(user, la_child_id, data)
            self.logged_child_id = pk
            result = _child_result(user, pk)
        return Response(result, status=201 if created else 200)
