"""The e-mail a recipient gets, and the signed link that acknowledges it.

One helper renders every message from three templates (subject, plain text, HTML) so
the words live in templates, not code. E-mail leaves our systems, so it carries as
little about the child as lets the recipient find the right record in their own
systems (first name and initial, date of birth, the council's child id) and act: what
they are asked to do and by when, from ``notifications.asks``. Everything else is on
the service, behind sign-in.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.template.loader import render_to_string
from django.urls import reverse

from .asks import recipient_ask, uk_time
from .models import Notification, Step

ACKNOWLEDGE_SALT = "notifications.acknowledge"
# Long enough to cover a fortnight's leave; after that the recipient asks for a new one.
ACKNOWLEDGE_MAX_AGE_DAYS = 14

TEMPLATE_PREFIX = "notifications/email/notification"


def acknowledge_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=ACKNOWLEDGE_SALT)


def acknowledge_token(notification: Notification) -> str:
    return acknowledge_signer().sign(str(notification.pk))


def acknowledge_url(notification: Notification) -> str:
    """An absolute URL: the worker that sends it has no request to take the host from."""
    path = reverse("notifications:acknowledge", kwargs={"token": acknowledge_token(notification)})
    return f"{settings.SITE_URL}{path}"


def child_short_name(notification: Notification) -> str:
    child = notification.child
    initial = f" {child.last_name[:1].upper()}." if child.last_name else ""
    return f"{child.first_name}{initial}"


def record_url(notification: Notification) -> str:
    if notification.step == Step.PROFILE_SHARED:
        path = reverse("incidents:profile_snapshot", args=[notification.episode_id])
        return f"{settings.SITE_URL}{path}"
    return ""


def email_context(notification: Notification) -> dict[str, object]:
    child = notification.child
    rule = notification.rule
    ask = recipient_ask(notification)
    return {
        "notification": notification,
        "child_name": child_short_name(notification),
        "date_of_birth": child.date_of_birth,
        "la_child_id": child.la_child_id or "",
        "step": notification.get_step_display(),
        # What the recipient must do and by when: their own deadline, not the teller's.
        "asked": ask.action,
        "by": uk_time(ask.by) if ask.by else "",
        "by_has_passed": ask.by_has_passed(),
        "facts": ask.facts,
        "recipient_name": notification.recipient_name
        or (notification.recipient_agency.name if notification.recipient_agency else ""),
        "teller_role": rule.get_teller_display(),
        "responsible_agency": (
            notification.responsible_agency.name if notification.responsible_agency else ""
        ),
        "acknowledge_url": acknowledge_url(notification),
        # A link, behind sign-in, to what the step is about, where it has its own page:
        # the address names no child, only the episode's number.
        "record_url": record_url(notification),
        "service_name": settings.SERVICE_NAME,
        "site_url": settings.SITE_URL,
    }


def message_id(notification: Notification) -> str:
    """The one Message-ID of a notification's e-mail, however often it is sent.

    Worked out from the row (its id, and when it was made, so a database restored
    elsewhere does not reuse another's), never random: a second copy sent after a
    crash carries the same Message-ID, so mail systems and people see it is the same
    message.
    """
    made = notification.created_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
    return f"<notification.{notification.pk}.{made}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"


def render_notification_email(notification: Notification) -> tuple[str, str, str]:
    """Subject, plain-text body and HTML body for one notification."""
    context = email_context(notification)
    subject = render_to_string(f"{TEMPLATE_PREFIX}_subject.txt", context)
    # A header cannot hold a line break; templates end with one.
    subject = " ".join(subject.split())
    text = render_to_string(f"{TEMPLATE_PREFIX}.txt", context)
    html = render_to_string(f"{TEMPLATE_PREFIX}.html", context)
    return subject, text, html
