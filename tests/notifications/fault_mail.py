"""Mail backends that misbehave on purpose, for the fault tests (test_sending_faults).

In the test's own process, ``RefusingBackend`` refuses as told by its class attributes
(a 451 for as long as the mail server is "away", a 550, a 554 ...). In a worker run as
a separate process (settings ``tests.notifications.fault_settings``),
``SubprocessSinkBackend`` is the SMTP sink: it writes each message's Message-ID and
recipient to the file named by FAULT_SINK, and, as FAULT_MODE says, kills its own
process at once after taking the message (``kill``), or says on the pipe FAULT_STARTED_FD
that it has begun and waits for a line on FAULT_GO_FD before taking it (``slow``).
"""

from __future__ import annotations

import os
import signal
import smtplib
from collections.abc import Callable

from django.core.mail.backends.base import BaseEmailBackend


class RefusingBackend(BaseEmailBackend):
    """Raises ``error()`` for each message while it is set; else takes the message."""

    error: Callable[[], BaseException] | None = None
    taken: list[tuple[str, str]] = []

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        for message in email_messages:
            if RefusingBackend.error is not None:
                raise RefusingBackend.error()
            RefusingBackend.taken.append((message.message()["Message-ID"], message.to[0]))
        return len(email_messages)


def temporary_refusal() -> BaseException:
    return smtplib.SMTPRecipientsRefused({"x@example.org": (451, b"4.3.0 try again later")})


def permanent_refusal() -> BaseException:
    return smtplib.SMTPRecipientsRefused(
        {"duty@cwac.example.org": (550, b"5.1.1 <duty@cwac.example.org>: no such user")}
    )


class SubprocessSinkBackend(BaseEmailBackend):
    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        mode = os.environ["FAULT_MODE"]
        for message in email_messages:
            if mode == "slow":
                os.write(int(os.environ["FAULT_STARTED_FD"]), b"sending\n")
                _read_line(int(os.environ["FAULT_GO_FD"]))
            with open(os.environ["FAULT_SINK"], "a") as sink:
                sink.write(f"{message.message()['Message-ID']} {message.to[0]}\n")
                sink.flush()
                os.fsync(sink.fileno())
            if mode == "kill":
                # The mail server has the message; the worker dies before recording it.
                os.kill(os.getpid(), signal.SIGKILL)
        return len(email_messages)


def _read_line(fd: int) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        line += chunk
    return line
