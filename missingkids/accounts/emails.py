"""E-mails to the people who run the service: configuration changes, password and
second-factor notices.

Each message is a subject, a plain-text body and an HTML body, from the three templates
``<name>_subject.txt``, ``<name>.txt`` and ``<name>.html`` under
``templates/accounts/email/``. They are sent after the change commits (never for a
change that was rolled back), one message per recipient so nobody sees who else was
told. These notices carry no case data. A mail server that refuses is logged (without
the addresses) and does not undo the change: the change itself stays on record, on the
configuration changes page or in the access log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

TEMPLATE_DIR = "accounts/email"


def render_email(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, plain-text body and HTML body of one message."""
    context = {"service_name": settings.SERVICE_NAME, "site_url": settings.SITE_URL, **context}
    subject = render_to_string(f"{TEMPLATE_DIR}/{name}_subject.txt", context)
    # A header cannot hold a line break; templates end with one.
    subject = " ".join(subject.split())
    text = render_to_string(f"{TEMPLATE_DIR}/{name}.txt", context)
    html = render_to_string(f"{TEMPLATE_DIR}/{name}.html", context)
    return subject, text, html


def send_after_commit(*, to: Iterable[str], name: str, context: dict[str, Any]) -> list[str]:
    """Send ``name`` to each address once the current transaction commits.

    Returns the addresses it will go to (each once, in order).
    """
    recipients = sorted({address.strip().lower() for address in to if address and address.strip()})
    if not recipients:
        return []
    subject, text, html = render_email(name, context)

    def send() -> None:
        for address in recipients:
            message = EmailMultiAlternatives(subject=subject, body=text, to=[address])
            message.attach_alternative(html, "text/html")
            try:
                message.send()
            except Exception as error:
                logger.warning("Notice e-mail %s not delivered: %s", name, type(error).__name__)

    transaction.on_commit(send)
    return recipients
