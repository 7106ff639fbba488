"""Every API view needs a registered system; each write also needs its operation."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from missingkids.accounts.models import Agency

from .models import ApiClient


class IsApiClient(BasePermission):
    message = "Give a system's token: 'Authorization: Bearer <token>'."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiClient)


class OperationAllowed(BasePermission):
    """The view's ``operation`` is one the system was given, and the system is of the
    view's ``agency_kind`` (a police force's, unless the view says otherwise)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        client = request.auth
        operation = getattr(view, "operation", None)
        if not isinstance(client, ApiClient) or operation is None:
            return False
        kind = getattr(view, "agency_kind", Agency.Kind.POLICE)
        if client.agency.kind != kind:
            self.message = (
                "Only a police force's system may do this."
                if kind == Agency.Kind.POLICE
                else "Only a council's children's services system may do this."
            )
            return False
        if not client.may(operation):
            self.message = "This system has not been allowed to do this. Ask a partnership admin."
            return False
        return True
