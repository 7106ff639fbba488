"""Helpers for django-axes, named in settings (AXES_USERNAME_CALLABLE)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from .models import normalise_email


def username_from_request(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The e-mail address as the sign-in form reads it, so " Sam@X " and "sam@x" count
    as the same account for lockout, as they do for signing in."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials and credentials.get(field):
        return normalise_email(str(credentials[field]))
    data = getattr(request, "data", request.POST)
    return normalise_email(str(data.get(field, "") or ""))
