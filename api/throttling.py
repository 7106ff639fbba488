"""Rate limits: API_RATE_LIMIT per registered system, API_ANONYMOUS_RATE_LIMIT per
address for calls with no valid token (see the settings; read at each call)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from missingkids.audit.log import client_ip

from .models import ApiClient


class ApiClientRateThrottle(SimpleRateThrottle):
    scope = "api_client"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiClient):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class AnonymousRateThrottle(SimpleRateThrottle):
    scope = "api_anonymous"

    def get_rate(self) -> str:
        return settings.API_ANONYMOUS_RATE_LIMIT

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(getattr(request, "_auth", None), ApiClient):
            return None
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request._request)}
