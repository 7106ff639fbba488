"""The configuration pages' front page tells admins about failed notification e-mails."""

from __future__ import annotations

from typing import Any

from django import template

from notifications.admin import failing_emails, failing_emails_url

register = template.Library()


@register.inclusion_tag("admin/notifications/failing_emails_notice.html")
def failing_emails_notice(user: Any) -> dict[str, Any]:
    """How many e-mails this admin may see have failed (one query), with a link."""
    return {"count": failing_emails(user).count(), "url": failing_emails_url()}
