"""The e-mail a recipient gets, and the signed link that acknowledges it.

One helper renders every message from three templates (subject, plain text, HTML) so
the words live in templates, not code. E-mail leaves our systems, so it carries as
little about the child as lets the recipient find the right record in their own
systems (first name and initial, date of birth, the council's child id) and act: what
they are asked to do and by when, from ``notifications.asks``. Everything else is on
the service, behind sign-in.

The worker sends many e-mails a second, so the per-message work is kept small: an
``EmailRenderer`` compiles the templates and works out what every e-mail of a batch
shares once, and ``NotificationEmail`` builds the bytes for the mail server directly
(headers of plain ASCII addresses written as they are, bodies as 7-bit text or
quoted-printable UTF-8) rather than through the e-mail package's header objects, which
cost several milliseconds a message.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email.policy
import functools
import re
import secrets
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template import Context
from django.template.loader import get_template
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


def email_context(notification: Notification, *, ack_url: str = "") -> dict[str, object]:
    """What the templates show; ``ack_url`` is the acknowledgement link if already made."""
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
        "acknowledge_url": ack_url or acknowledge_url(notification),
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


class EmailRenderer:
    """Renders notification e-mails: the three templates compiled once (not looked up
    for each message), and the acknowledgement link's fixed parts worked out once. One
    per batch of the worker; each message is rendered only when it is about to go."""

    def __init__(self) -> None:
        self.subject, self.text, self.html = (
            get_template(f"{TEMPLATE_PREFIX}{suffix}").template  # type: ignore[attr-defined]
            for suffix in ("_subject.txt", ".txt", ".html")
        )
        placeholder = "TOKEN"
        path = reverse("notifications:acknowledge", kwargs={"token": placeholder})
        self.ack_before, self.ack_after = f"{settings.SITE_URL}{path}".split(placeholder)
        self.signer = acknowledge_signer()

    def acknowledge_url(self, notification: Notification) -> str:
        """The same link as ``acknowledge_url``, without reversing the URL each time."""
        return f"{self.ack_before}{self.signer.sign(str(notification.pk))}{self.ack_after}"

    def render(self, notification: Notification) -> tuple[str, str, str]:
        """Subject, plain-text body and HTML body for one notification."""
        context = Context(email_context(notification, ack_url=self.acknowledge_url(notification)))
        # A header cannot hold a line break; templates end with one.
        subject = " ".join(self.subject.render(context).split())
        return subject, self.text.render(context), self.html.render(context)

    def email(self, notification: Notification) -> NotificationEmail:
        """The e-mail for one notification, with its one Message-ID."""
        subject, text, html = self.render(notification)
        message = NotificationEmail(
            subject=subject,
            body=text,
            to=[notification.recipient_email],
            headers={"Message-ID": message_id(notification)},
        )
        message.attach_alternative(html, "text/html")
        return message


def render_notification_email(notification: Notification) -> tuple[str, str, str]:
    """Subject, plain-text body and HTML body for one notification."""
    return EmailRenderer().render(notification)


# The bytes for the mail server --------------------------------------------------------------

CRLF = "\r\n"
# An address written into a header as it is: ASCII, no display name, nothing to quote.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
# Lines of 7-bit text: no control characters but tab, none longer than SMTP allows.
_NOT_7BIT = re.compile(r"[^\t\x20-\x7e]")
_MAX_LINE = 998


class NotificationEmail(EmailMultiAlternatives):
    """A notification's e-mail (a plain-text body and an HTML alternative) that builds
    its own bytes for the mail server (``wire_bytes``), in a fraction of the time the
    e-mail package's header objects take. The SMTP backend (``missingkids.mail``) sends
    these bytes as they are; ``message()`` is the same bytes read back, so what any
    other backend (the test outbox) sees is what goes over the wire.

    Headers that need more than plain ASCII addresses (a non-ASCII domain, a display
    name in an address) are left to Django's own building, so nothing unusual is
    written by hand."""

    _wire: bytes | None = None

    def wire_bytes(self) -> bytes:
        """The message as sent (CRLF line ends), built once: its Date is when it was built."""
        if self._wire is None:
            self._wire = self._build() or super().message(policy=email.policy.SMTP).as_bytes()
        return self._wire

    def message(self, *, policy: email.policy.Policy = email.policy.default) -> EmailMessage:
        from email import message_from_bytes

        return message_from_bytes(self.wire_bytes(), policy=policy)  # type: ignore[return-value]

    def _build(self) -> bytes | None:
        """The bytes, or None where Django's building is needed (see the class)."""
        sender = _plain_sender(str(self.from_email))
        if (
            sender is None
            or self.cc
            or self.reply_to
            or self.attachments
            or not self.to
            or not all(_PLAIN_ADDRESS.fullmatch(address) for address in self.to)
            or [alternative.mimetype for alternative in self.alternatives] != ["text/html"]
            or not isinstance(self.alternatives[0].content, str)
            or {name.lower() for name in self.extra_headers} - {"message-id"}
        ):
            return None
        text, html = self.body, str(self.alternatives[0].content)
        boundary = _boundary(text, html)
        headers = [
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
            "MIME-Version: 1.0",
            _subject_header(str(self.subject)),
            f"From: {sender}",
            f"To: {', '.join(self.to)}",
            f"Date: {format_datetime(dt.datetime.now(dt.UTC))}",
        ]
        for name, value in self.extra_headers.items():
            headers.append(f"{name}: {_one_line(str(value))}")
        parts = [
            CRLF.join(headers).encode("ascii"),
            b"",
            f"--{boundary}".encode("ascii"),
            *_text_part(text, "plain"),
            f"--{boundary}".encode("ascii"),
            *_text_part(html, "html"),
            f"--{boundary}--".encode("ascii"),
            b"",
        ]
        return b"\r\n".join(parts)


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("Header values can't contain newlines")
    return value


@functools.lru_cache(maxsize=16)
def _plain_sender(sender: str) -> str | None:
    """The From header's value, if ASCII (a display name may be encoded)."""
    _one_line(sender)
    name, address = parseaddr(sender)
    if not _PLAIN_ADDRESS.fullmatch(address):
        return None
    return formataddr((name, address), charset="utf-8") if name else address


def _subject_header(subject: str) -> str:
    _one_line(subject)
    charset = "us-ascii" if subject.isascii() else "utf-8"
    return f"Subject: {Header(subject, charset, header_name='Subject').encode(linesep=CRLF)}"


def _boundary(*bodies: str) -> str:
    while True:
        boundary = f"==============={secrets.token_hex(10)}=="
        if not any(boundary in body for body in bodies):
            return boundary


def _text_part(content: str, subtype: str) -> list[bytes]:
    """A text part's headers, blank line and body: 7-bit text as it is, anything else
    quoted-printable UTF-8 (safe through any mail server, and still readable); the body
    ends with a line break."""
    lines = content.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1]:
        lines.append("")  # ending with a line break, as the e-mail package's bodies do
    if not _NOT_7BIT.search(content.replace("\r", "").replace("\n", "")) and all(
        len(line) <= _MAX_LINE for line in lines
    ):
        encoding, body = "7bit", CRLF.join(lines).encode("ascii")
    else:
        quoted = binascii.b2a_qp("\n".join(lines).encode("utf-8"), istext=True)
        encoding, body = "quoted-printable", quoted.replace(b"\n", b"\r\n")
    head = f'Content-Type: text/{subtype}; charset="utf-8"'
    transfer = f"Content-Transfer-Encoding: {encoding}"
    return [head.encode("ascii"), transfer.encode("ascii"), b"", body]
