"""Deployment checks (``manage.py check --deploy``) for how the service is administered."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def partnership_admins_named(**kwargs: Any) -> list[Warning]:
    """A partnership admin's lost phone needs another partnership admin to approve the
    reset (only they manage partnership admins), so one alone can be locked out for good."""
    if len(settings.PARTNERSHIP_ADMINS) >= 2:
        return []
    return [
        Warning(
            f"PARTNERSHIP_ADMINS names {len(settings.PARTNERSHIP_ADMINS)} address(es).",
            hint=(
                "Name at least two partnership admins: resetting a partnership admin's "
                "second factor needs another one to approve it."
            ),
            id="accounts.W001",
        )
    ]
