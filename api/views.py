"""The API's endpoints (``/api/v1/``): police operations on missing episodes.

Each write goes through the same action function as the page that does it
(``incidents.actions``), as the system's service user, so the access rules, rights,
change history and notifications are those of a person of the system's agency doing
the same. Every call is written to the access log under that user, naming the system.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Exists, OuterRef, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.access import children_visible_to, episodes_visible_to
from incidents.actions.children import child_create
from incidents.actions.episodes import (
    episode_record_return,
    episode_regrade_risk,
    episode_report,
)
from incidents.actions.interviews import safe_and_well_record
from incidents.models import Child, Episode, SafeAndWellCheck
from missingkids.accounts.models import LocalAuthorityArea, User
from missingkids.audit.log import MAX_RECORD_ID, Action, log_access

from . import serializers as s
from .idempotency import HEADER, Outcome, fingerprint, header_key, run_once
from .models import ApiClient, Operation
from .permissions import IsApiClient, OperationAllowed
from .problems import PROBLEM_CONTENT_TYPE, Problem, from_validation_error

# Episodes one lookup by police reference returns at most.
MAX_LOOKUP_RESULTS = 50

PROBLEMS: dict[Any, Any] = {
    (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(s.ProblemSerializer, description=description)
    for status, description in (
        (400, "Malformed JSON, an unknown field, a value of the wrong type"),
        (401, "No token, or a token that is not valid or has been revoked"),
        (403, "The system may not do this, or its agency may not for this child"),
        (404, "No such episode, or not one the system's agency may see"),
        (413, "The body is over the size limit"),
        (422, "Refused by the rules (named by field), or a key reused; nothing saved"),
        (429, "Too many calls: wait for the Retry-After seconds"),
    )
}
IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Any unique string (up to 200 characters), kept for this system: a call "
    "repeated with the same key returns the first answer and changes nothing.",
)


def episode_queryset(user: User) -> QuerySet[Episode]:
    return (
        episodes_visible_to(user)
        .select_related("child")
        .annotate(
            safe_and_well_recorded=Exists(SafeAndWellCheck.objects.filter(episode=OuterRef("pk")))
        )
        .order_by("-last_seen_at", "-id")
    )


class ApiView(APIView):
    """Logs every call; counts failed tokens against the address's rate limit."""

    operation: str | None = None
    logged_child_id: int | None = None
    logged_episode_id: int | None = None
    replayed = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            super().initial(request, *args, **kwargs)
        except (exceptions.AuthenticationFailed, exceptions.NotAuthenticated):
            self.check_throttles(request)
            raise

    def permission_denied(self, request: Request, message: Any = None, code: Any = None) -> None:
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated(
                "Give the system's token: 'Authorization: Bearer <token>'."
            )
        super().permission_denied(request, message, code)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        self._log(request, response)
        return response

    def _log(self, request: Request, response: Response) -> None:
        client = getattr(request, "_auth", None)
        if not isinstance(client, ApiClient):
            client = None
        seen = client or getattr(request, "api_client_seen", None)
        status = response.status_code
        refused = status in (401, 403, 404, 405, 429) or client is None
        detail: dict[str, Any] = {
            "api_client": seen.name if seen else "",
            "api_client_id": seen.pk if seen else None,
            "method": request.method,
            "operation": self.operation or "read",
        }
        if self.replayed:
            detail["replayed"] = True
        log_access(
            request._request,
            Action.REFUSED if refused else Action.API_CALL,
            user=client.user if client else None,
            username=seen.user.email if seen else "",
            child_id=self.logged_child_id,
            episode_id=self.logged_episode_id,
            status_code=status,
            detail=detail,
        )

    # Helpers for the endpoints ---------------------------------------------------------

    def client(self) -> ApiClient:
        return self.request.auth

    def episode(self, pk: int) -> Episode:
        self.logged_episode_id = pk
        found = (
            episode_queryset(self.client().user).filter(pk=pk).first()
            if pk <= MAX_RECORD_ID
            else None
        )
        if found is None:
            raise exceptions.NotFound("No such episode, or not one this system may see.")
        self.logged_child_id = found.child_id
        return found

    def refetch(self, pk: int) -> dict[str, Any]:
        return s.EpisodeSerializer(episode_queryset(self.client().user).get(pk=pk)).data

    def validated(self, serializer_class: type, request: Request) -> dict[str, Any]:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def once(self, *, keys: list[str | None], perform: Any) -> Response:
        header = header_key(self.request.headers.get(HEADER))
        outcome: Outcome = run_once(
            client=self.client(),
            keys=[k for k in (header, *keys) if k],
            operation=self.operation or "",
            fingerprint=fingerprint(self.request.path, self.request.data),
            perform=perform,
        )
        self.replayed = outcome.replayed
        if isinstance(outcome.body, dict) and isinstance(outcome.body.get("episode"), dict):
            self.logged_episode_id = outcome.body["episode"].get("id")
            self.logged_child_id = (outcome.body["episode"].get("child") or {}).get("id")
        response = Response(outcome.body, status=outcome.status)
        if outcome.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def _match_child(user: User, given: dict[str, Any]) -> tuple[Child, str]:
    """The child the report is about: by the force's person reference, else by name and
    date of birth among the children the force may see, else added (flagged for the
    council to match). Two or more matches are refused rather than guessed between."""
    visible = children_visible_to(user)
    reference = given.get("police_person_reference") or ""

    def only(queryset: QuerySet[Child], how: str) -> Child | None:
        found = list(queryset.order_by("pk")[:2])
        if len(found) > 1:
            raise Problem(
                "ambiguous-child",
                409,
                f"More than one child the force may see matches by {how}. Give the "
                "police_person_reference recorded for the child, or ask the council.",
                [{"field": "child", "detail": "More than one child matches."}],
            )
        return found[0] if found else None

    if reference:
        child = only(visible.filter(police_person_reference=reference), "person reference")
        if child is not None:
            return child, "police_person_reference"
    by_name = visible.filter(
        first_name__iexact=given["first_name"],
        last_name__iexact=given["last_name"],
        date_of_birth=given["date_of_birth"],
    )
    if reference:
        # A child recorded with another person reference is someone else.
        by_name = by_name.filter(police_person_reference__in=["", reference])
    child = only(by_name, "name and date of birth")
    if child is not None:
        return child, "name_and_date_of_birth"

    code = (given.get("responsible_area") or "").upper()
    area = LocalAuthorityArea.objects.filter(code=code).first() if code else None
    if area is None:
        raise from_validation_error(
            DjangoValidationError(
                {
                    "child.responsible_area": [
                        "No child the force may see matches: give the ONS code of the "
                        "council responsible for the child (for example E06000050) so the "
                        "child can be added"
                        if not code
                        else f"There is no council with the ONS code {code}"
                    ]
                }
            )
        )
    try:
        child = child_create(
            acting_user=user,
            first_name=given["first_name"],
            last_name=given["last_name"],
            date_of_birth=given["date_of_birth"],
            gender=given["gender"],
            police_person_reference=reference,
            responsible_area=area,
            to_be_matched_by_council=True,
        )
    except DjangoValidationError as error:
        raise from_validation_error(
            DjangoValidationError(
                {
                    f"child.{field}" if field != "__all__" else field: messages
                    for field, messages in error.message_dict.items()
                }
            )
        ) from None
    return child, "added"


def report_missing(user: User, data: dict[str, Any]) -> tuple[Episode, str]:
    """A report checked by ``ReportSerializer``: the child matched (or added), then the
    episode reported through ``episode_report``. Used by the API and the CSV import."""
    child, matched_by = _match_child(user, data["child"])
    flags = data.get("flags") or {}
    try:
        episode = episode_report(
            acting_user=user,
            child=child,
            category=data["category"],
            reported_at=data["reported_at"],
            reported_by_name=data["reported_by_name"],
            last_seen_at=data["last_seen_at"],
            last_seen_address=data["last_seen_address"],
            circumstances=data["circumstances"],
            police_reference=data["police_reference"],
            flags=dict(flags),
            risk=data["risk"],
            risk_rationale=data["risk_rationale"],
        )
    except DjangoValidationError as error:
        raise from_validation_error(error) from None
    return episode, matched_by


@extend_schema(tags=["Episodes"])
class EpisodeListView(ApiView):
    permission_classes = [IsApiClient]

    def get_permissions(self) -> list[Any]:
        if self.request.method == "POST":
            return [IsApiClient(), OperationAllowed()]
        return super().get_permissions()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "POST":
            self.operation = Operation.REPORT_MISSING
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="episodes_find",
        summary="Find episodes by the force's police reference",
        description="The episodes the system's agency may see with this police reference "
        f"(at most {MAX_LOOKUP_RESULTS}), newest first.",
        parameters=[
            OpenApiParameter(
                "police_reference", OpenApiTypes.STR, required=True, description="As reported."
            )
        ],
        responses={200: s.EpisodeSerializer(many=True), **PROBLEMS},
    )
    def get(self, request: Request) -> Response:
        reference = (request.query_params.get("police_reference") or "").strip()
        if not reference or len(reference) > 40:
            raise Problem(
                "invalid-request",
                400,
                "Give police_reference (up to 40 characters): the API does not list every episode.",
                [{"field": "police_reference", "detail": "Required, up to 40 characters."}],
            )
        episodes = list(
            episode_queryset(self.client().user).filter(police_reference=reference)[
                :MAX_LOOKUP_RESULTS
            ]
        )
        if len(episodes) == 1:
            self.logged_child_id, self.logged_episode_id = episodes[0].child_id, episodes[0].pk
        return Response(s.EpisodeSerializer(episodes, many=True).data)

    @extend_schema(
        operation_id="episodes_report",
        summary="Report a child missing",
        description="The child is matched by police_person_reference, else by name and "
        "date of birth among the children the force may see, else added and flagged to "
        "be matched by the council. A second call with the same police_reference (or "
        "Idempotency-Key) returns the first answer and makes no second episode.",
        parameters=[IDEMPOTENCY_KEY],
        request=s.ReportSerializer,
        responses={
            201: s.ReportResultSerializer,
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                s.ProblemSerializer, description="More than one recorded child matches"
            ),
            **PROBLEMS,
        },
    )
    def post(self, request: Request) -> Response:
        data = self.validated(s.ReportSerializer, request)
        user = self.client().user

        def perform() -> tuple[int, Any]:
            episode, matched_by = report_missing(user, data)
            return 201, {"episode": self.refetch(episode.pk), "child_matched_by": matched_by}

        return self.once(keys=[f"police_reference:{data['police_reference']}"], perform=perform)


@extend_schema(tags=["Episodes"])
class EpisodeDetailView(ApiView):
    @extend_schema(
        operation_id="episode_retrieve",
        summary="One episode",
        description="An episode the system's agency may see (else 404).",
        responses={200: s.EpisodeSerializer, **PROBLEMS},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.EpisodeSerializer(self.episode(pk)).data)


class _EpisodeWrite(ApiView):
    permission_classes = [IsApiClient, OperationAllowed]


@extend_schema(tags=["Episodes"])
class RiskGradingView(_EpisodeWrite):
    operation = Operation.REGRADE_RISK

    @extend_schema(
        operation_id="episode_regrade_risk",
        summary="Re-grade risk (the police grade)",
        description="While the child is still missing. A repeated call with the same "
        "graded_at (or Idempotency-Key) returns the first answer.",
        parameters=[IDEMPOTENCY_KEY],
        request=s.RegradeSerializer,
        responses={201: s.RiskGradingResultSerializer, **PROBLEMS},
    )
    def post(self, request: Request, pk: int) -> Response:
        episode = self.episode(pk)
        data = self.validated(s.RegradeSerializer, request)
        graded_at: dt.datetime | None = data.get("graded_at")
        if graded_at is None and not request.headers.get(HEADER):
            raise Problem(
                "invalid-request",
                400,
                f"Give graded_at or an {HEADER} header, so that a retried call is recognised.",
                [{"field": "graded_at", "detail": f"Required without an {HEADER} header."}],
            )
        user = self.client().user

        def perform() -> tuple[int, Any]:
            grading = episode_regrade_risk(
                acting_user=user,
                episode=episode,
                grade=data["grade"],
                rationale=data["rationale"],
                graded_at=graded_at,
            )
            result = s.RiskGradingResultSerializer(
                {
                    "episode": episode_queryset(user).get(pk=episode.pk),
                    "grade": grading.grade,
                    "graded_at": grading.graded_at,
                }
            )
            return 201, result.data

        natural = f"episode:{episode.pk}:graded_at:{graded_at.isoformat()}" if graded_at else None
        return self.once(keys=[natural], perform=perform)


@extend_schema(tags=["Episodes"])
class ReturnView(_EpisodeWrite):
    operation = Operation.RECORD_RETURN

    @extend_schema(
        operation_id="episode_record_return",
        summary="Record that the child was found or returned",
        description="Once per episode: a repeated call returns the first answer.",
        parameters=[IDEMPOTENCY_KEY],
        request=s.ReturnSerializer,
        responses={200: s.EpisodeSerializer, **PROBLEMS},
    )
    def post(self, request: Request, pk: int) -> Response:
        episode = self.episode(pk)
        data = self.validated(s.ReturnSerializer, request)
        user = self.client().user

        def perform() -> tuple[int, Any]:
            version = Episode.objects.filter(pk=episode.pk).values_list("version", flat=True).get()
            episode_record_return(
                acting_user=user,
                episode=episode,
                expected_version=version,
                found_at=data["found_at"],
                found_address=data["found_address"],
                found_with=data["found_with"],
                how_returned=data["how_returned"],
                return_notes=data["return_notes"],
            )
            return 200, self.refetch(episode.pk)

        return self.once(keys=[f"episode:{episode.pk}:return"], perform=perform)


@extend_schema(tags=["Episodes"])
class SafeAndWellView(_EpisodeWrite):
    operation = Operation.RECORD_SAFE_AND_WELL

    @extend_schema(
        operation_id="episode_record_safe_and_well",
        summary="Record the safe and well check",
        description="Once per episode, after the return: a repeated call returns the first "
        "answer. Give shared_with_la_at, shared_method and shared_with together if the "
        "outcome has already been shared with the council.",
        parameters=[IDEMPOTENCY_KEY],
        request=s.SafeAndWellSerializer,
        responses={201: s.EpisodeSerializer, **PROBLEMS},
    )
    def post(self, request: Request, pk: int) -> Response:
        episode = self.episode(pk)
        data = self.validated(s.SafeAndWellSerializer, request)
        user = self.client().user

        def perform() -> tuple[int, Any]:
            safe_and_well_record(acting_user=user, episode=episode, **data)
            return 201, self.refetch(episode.pk)

        return self.once(keys=[f"episode:{episode.pk}:safe_and_well"], perform=perform)


class NotFoundView(ApiView):
    """Any other address under /api/: a problem, not the site's HTML page."""

    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []
    throttle_classes: list[Any] = []

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise exceptions.NotFound("There is nothing at this address in the API.")

    post = put = patch = delete = get

    def _log(self, request: Request, response: Response) -> None:
        return None
