"""Errors as RFC 9457 problem details (``application/problem+json``).

Every refusal the API gives has the same shape::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "No such episode.", "instance": "/api/v1/episodes/7/"}

and a refusal of what was sent names each field it concerns::

    {"type": "/api/v1/problems/validation-error", "title": "...", "status": 422,
     "detail": "...", "errors": [{"field": "found_at", "detail": "..."}]}

``type`` is ``about:blank`` when the HTTP status says it all; otherwise one of
``PROBLEM_TYPES`` (README "API", "Errors"). Nothing is saved when a problem is returned.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "/api/v1/problems/"

# type slug -> title.
PROBLEM_TYPES: dict[str, str] = {
    "malformed-request": "The request body is not valid JSON",
    "invalid-request": "The request does not match the API's description",
    "validation-error": "The record was not saved: check the fields named",
    "idempotency-key-reused": "This key was used before for a different request",
    "ambiguous-child": "More than one child matches",
}


class Problem(exceptions.APIException):
    """A refusal of a given type, status and detail, with field errors if any."""

    def __init__(
        self,
        kind: str,
        status: int,
        detail: str,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status_code = status
        self.errors = errors or []


def _field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested error dict as a flat list of {field, detail}, fields dotted."""
    out: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for name, inner in detail.items():
            name = str(name)
            field = "" if name in (NON_FIELD_ERRORS, "non_field_errors") else name
            out.extend(
                _field_errors(inner, f"{prefix}.{field}" if prefix and field else field or prefix)
            )
    elif isinstance(detail, list):
        for index, inner in enumerate(detail):
            if isinstance(inner, (dict, list)):
                out.extend(_field_errors(inner, f"{prefix}.{index}" if prefix else str(index)))
            else:
                out.append({"field": prefix, "detail": str(inner)})
    else:
        out.append({"field": prefix, "detail": str(detail)})
    return out


def from_validation_error(error: DjangoValidationError) -> Problem:
    """A refusal by an action function (messages keyed by field) as a 422 problem."""
    if hasattr(error, "error_dict"):
        errors = [
            {"field": "" if field == NON_FIELD_ERRORS else field, "detail": message}
            for field, messages in error.message_dict.items()
            for message in messages
        ]
    else:
        errors = [{"field": "", "detail": message} for message in error.messages]
    detail = "; ".join(e["detail"] for e in errors) or "The record was not saved."
    return Problem("validation-error", 422, detail, errors)


def body(
    *, status: int, detail: str, instance: str, kind: str = "", errors: list | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}{kind}" if kind else "about:blank",
        "title": PROBLEM_TYPES.get(kind) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        data["errors"] = errors
    return data


def response(request: HttpRequest, *, status: int, detail: str, **extra: Any) -> HttpResponse:
    """A problem response outside DRF (the body size limit in the middleware)."""
    return JsonResponse(
        body(status=status, detail=detail, instance=request.path, **extra),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, DjangoValidationError):
        exc = from_validation_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, exceptions.ParseError):
        exc = Problem("malformed-request", 400, f"The body is not valid JSON: {exc.detail}")
    elif isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        exc = Problem(
            "invalid-request",
            400,
            "; ".join(f"{e['field'] or 'request'}: {e['detail']}" for e in errors),
            errors,
        )
    result = drf_exception_handler(exc, context)
    if result is None:
        return None
    if isinstance(exc, Problem):
        data = body(
            status=exc.status_code,
            detail=str(exc.detail),
            instance=instance,
            kind=exc.kind,
            errors=exc.errors,
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        data = body(status=result.status_code, detail=str(detail), instance=instance)
    result.data = data
    result.content_type = PROBLEM_CONTENT_TYPE
    return result
