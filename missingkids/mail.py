"""The mail server connection the site sends through (``MAILERS`` in settings).

Django's SMTP backend, with one addition: a message that builds its own bytes for the
mail server (``wire_bytes()``, as the notification e-mails do: see
``notifications.emails.NotificationEmail``) is sent as built, rather than rebuilt
through the e-mail package, which costs several milliseconds a message. The envelope's
addresses are checked exactly as Django checks them, each address once a connection
(a worker sends to the same few agency mailboxes again and again).
"""

from __future__ import annotations

import smtplib
from typing import Any

from django.core.mail.backends import smtp

# Addresses checked, kept for a connection: enough for every agency's mailboxes.
CHECKED_ADDRESSES = 1000


class EmailBackend(smtp.EmailBackend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checked: dict[str, str] = {}

    def close(self) -> None:
        self._checked.clear()
        super().close()

    def _send(self, email_message: Any) -> bool:
        wire_bytes = getattr(email_message, "wire_bytes", None)
        if wire_bytes is None:
            return super()._send(email_message)
        if not email_message.recipients():
            return False
        from_email = self._checked_address(email_message.from_email)
        recipients = [self._checked_address(address) for address in email_message.recipients()]
        try:
            self.connection.sendmail(from_email, recipients, wire_bytes())
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True

    def _checked_address(self, address: str) -> str:
        """``prep_address`` (which refuses an invalid address), once for each address."""
        checked = self._checked.get(address)
        if checked is None:
            checked = self.prep_address(address)
            if len(self._checked) >= CHECKED_ADDRESSES:
                self._checked.clear()
            self._checked[address] = checked
        return checked
