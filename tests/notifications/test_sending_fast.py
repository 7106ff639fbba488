"""How the worker keeps each message cheap without changing what is sent: the e-mail's
bytes built directly (and read back as the message any mail system sees), sent as built
by the SMTP backend over one connection, a batch worked through a slice at a time, and
every message taken by the mail server recorded even when the batch stops or fails."""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
import socketserver
import threading
from collections import Counter

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.locmem import EmailBackend

from notifications import sending
from notifications.emails import NotificationEmail, message_id, render_notification_email
from notifications.models import DeliveryAttempt, Notification, RecipientRole, Step
from notifications.sending import Outcome, send_batch
from tests.factories.incidents import ChildFactory, EpisodeFactory

from .factories_delivery import DeliveryNotificationFactory, DeliveryRuleFactory

pytestmark = pytest.mark.django_db
D = Notification.Delivery
S = Notification.Status


def read_back(message: EmailMultiAlternatives) -> email.message.EmailMessage:
    return message.message(policy=email.policy.default)  # type: ignore[return-value]


def parts(parsed: email.message.EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies, as the recipient's mail program shows them."""
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text.replace("\r\n", "\n"), html.replace("\r\n", "\n")


def unsigned(bodies: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(re.sub(r"/acknowledge/[^/]+/", "/acknowledge/TOKEN/", body) for body in bodies)


def django_built(message: EmailMultiAlternatives) -> email.message.EmailMessage:
    """The same e-mail built as Django builds any other."""
    plain = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=message.from_email,
        to=message.to,
        headers=message.extra_headers,
    )
    for alternative in message.alternatives:
        plain.attach_alternative(alternative.content, alternative.mimetype)
    return email.message_from_bytes(
        plain.message(policy=email.policy.SMTP).as_bytes(), policy=email.policy.default
    )  # type: ignore[return-value]


def assert_same_email(ours: EmailMultiAlternatives) -> None:
    mine, theirs = read_back(ours), django_built(ours)
    for header in ("Subject", "From", "To", "Message-ID", "MIME-Version"):
        assert str(mine[header]) == str(theirs[header]), header
    assert mine.get_content_type() == theirs.get_content_type() == "multipart/alternative"
    assert parts(mine) == parts(theirs)
    assert mine["Date"].datetime is not None


def test_a_batch_with_a_mix_of_steps_sends_each_as_it_renders_alone(settings):
    settings.SITE_URL = "https://missingkids.example.org"
    rows = []
    for step, role, message in [
        (Step.REPORTED, RecipientRole.RESPONSIBLE_LA, ""),
        (Step.RETURNED, RecipientRole.PROVIDER, ""),
        (Step.SAFE_AND_WELL_DONE, RecipientRole.RESPONSIBLE_LA, ""),
        (Step.STILL_MISSING_24H, RecipientRole.TEAM_MANAGER, "Ring the duty manager — now."),
        (Step.REPORTED, RecipientRole.GP, ""),
    ]:
        rule = DeliveryRuleFactory(step=step, recipient=role, message=message)
        child = ChildFactory(first_name="Zoë", last_name="Ó Briain")
        rows.append(DeliveryNotificationFactory(rule=rule, episode=EpisodeFactory(child=child)))

    assert send_batch(worker="w1") == [Outcome.DELIVERED] * 5

    sent = {message.extra_headers["Message-ID"]: message for message in mail.outbox}
    assert len(sent) == 5
    for row in rows:
        message = sent[message_id(row)]
        subject, text, html = render_notification_email(row)
        parsed = read_back(message)
        assert (str(parsed["Subject"]), str(parsed["To"])) == (subject, row.recipient_email)
        # The same, but for the acknowledgement link's signing time.
        assert unsigned(parts(parsed)) == unsigned((text, html))
        assert_same_email(message)
    assert "Zoë Ó." in str(read_back(sent[message_id(rows[0])])["Subject"])
    assert Notification.objects.filter(delivery=D.DELIVERED, status=S.SENT).count() == 5


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Reported missing: Amelia J.", "Plain text.\n\nA second paragraph.\n"),
        ("Signalé: Zoë Ó., action by 1 Jul 2026 13:30", "Zoë said \u201cI\u2019m fine\u201d.\n"),
        ("A long subject " * 12, "x" * 1200 + "\n. a line starting with a dot\n= sign  \n"),
        ("Tabs\tand = signs", "ends without a line break"),
    ],
)
def test_the_bytes_read_back_as_the_message_django_would_build(subject, body, settings):
    settings.DEFAULT_FROM_EMAIL = "Missing children <missingkids@example.org>"
    message = NotificationEmail(
        subject=subject,
        body=body,
        to=["duty@la.example.org"],
        headers={"Message-ID": "<notification.1.20260101000000@example.org>"},
    )
    message.attach_alternative(f"<p>{body}</p>", "text/html")
    raw = message.wire_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert_same_email(message)


def test_an_address_that_needs_more_than_plain_ascii_is_built_by_django():
    message = NotificationEmail(
        subject="Hello", body="Hi", to=["duty@bücher.example"], headers={"Message-ID": "<1@x.org>"}
    )
    message.attach_alternative("<p>Hi</p>", "text/html")
    assert message._build() is None
    assert b"xn--bcher-kva.example" in message.wire_bytes()
    assert_same_email(message)


def test_a_header_with_a_line_break_is_refused():
    message = NotificationEmail(subject="Hello\nBcc: x@example.org", body="Hi", to=["a@b.org"])
    message.attach_alternative("<p>Hi</p>", "text/html")
    with pytest.raises(ValueError, match="newlines"):
        message.wire_bytes()


# Over SMTP ------------------------------------------------------------------------------


class Sink(socketserver.StreamRequestHandler):
    """A mail server that takes everything and keeps what it took."""

    connections = 0
    taken: list[bytes] = []

    def handle(self) -> None:
        Sink.connections += 1
        self.wfile.write(b"220 sink\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                Sink.taken.append(data)
                self.wfile.write(b"250 taken\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_sink(settings):
    Sink.connections, Sink.taken = 0, []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Sink)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "missingkids.mail.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": server.server_address[1], "timeout": 10},
        }
    }
    yield Sink
    server.shutdown()
    server.server_close()


def test_the_smtp_backend_sends_a_batch_as_built_over_one_connection(smtp_sink):
    rows = DeliveryNotificationFactory.create_batch(3, episode=EpisodeFactory())
    assert send_batch(worker="w1") == [Outcome.DELIVERED] * 3
    # The connection is closed (QUIT answered) before send_batch returns.
    assert smtp_sink.connections == 1
    received = [email.message_from_bytes(data, policy=email.policy.default) for data in Sink.taken]
    assert sorted(m["Message-ID"] for m in received) == sorted(message_id(r) for r in rows)
    for message, row in zip(received, rows, strict=True):
        subject, text, html = render_notification_email(row)
        assert (message["Subject"], message["To"]) == (subject, row.recipient_email)
        assert unsigned(parts(message)) == unsigned((text, html))


def test_the_smtp_backend_builds_any_other_message_as_django_does(smtp_sink):
    mail.send_mail("Password reset", "Follow the link.", None, ["someone@example.org"])
    assert smtp_sink.connections == 1
    received = email.message_from_bytes(Sink.taken[0], policy=email.policy.default)
    assert received["Subject"] == "Password reset"
    assert received.get_content().strip() == "Follow the link."


# Failures and stops in the middle of a batch ----------------------------------------------


class RefuseSome(EmailBackend):
    """The test outbox, refusing the recipients named in ``refused`` (code, reply)."""

    refused: dict[str, tuple[int, bytes]] = {}

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        for message in messages:
            if message.to[0] in RefuseSome.refused:
                raise smtplib.SMTPRecipientsRefused(
                    {message.to[0]: RefuseSome.refused[message.to[0]]}
                )
        return super().send_messages(messages)


@pytest.fixture
def refuse_some(settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.notifications.test_sending_fast.RefuseSome"}}
    RefuseSome.refused = {}
    yield RefuseSome
    RefuseSome.refused = {}


def test_a_failure_mid_batch_still_records_the_ones_sent(refuse_some):
    rows = DeliveryNotificationFactory.create_batch(5, episode=EpisodeFactory())
    refuse_some.refused = {
        rows[1].recipient_email: (550, b"5.1.1 no such user"),
        rows[3].recipient_email: (451, b"4.3.0 try later"),
    }
    outcomes = send_batch(worker="w1")
    assert outcomes == [
        Outcome.DELIVERED, Outcome.FAILED, Outcome.DELIVERED, Outcome.RETRYING, Outcome.DELIVERED,
    ]  # fmt: skip
    deliveries = dict(Notification.objects.values_list("pk", "delivery"))
    assert [deliveries[row.pk] for row in rows] == [
        D.DELIVERED, D.FAILED, D.DELIVERED, D.RETRYING, D.DELIVERED,
    ]  # fmt: skip
    attempts = Counter(DeliveryAttempt.objects.values_list("succeeded", flat=True))
    assert attempts == {True: 3, False: 2}


def test_an_error_mid_batch_still_records_the_ones_the_mail_server_took(monkeypatch):
    rows = DeliveryNotificationFactory.create_batch(4, episode=EpisodeFactory())
    original = sending._send
    sends = Counter()

    def send(notification, **kwargs):  # type: ignore[no-untyped-def]
        sends["n"] += 1
        if sends["n"] == 3:
            raise KeyboardInterrupt  # not a mail failure: the worker is interrupted
        original(notification, **kwargs)

    monkeypatch.setattr(sending, "_send", send)
    with pytest.raises(KeyboardInterrupt):
        send_batch(worker="w1")
    deliveries = dict(Notification.objects.values_list("pk", "delivery"))
    # The two sent are recorded; the rest wait for the lease to run out, as before.
    assert [deliveries[row.pk] for row in rows] == [D.DELIVERED, D.DELIVERED, D.SENDING, D.SENDING]
    assert DeliveryAttempt.objects.filter(succeeded=True).count() == 2


def test_a_batch_is_read_and_recorded_a_slice_at_a_time(monkeypatch):
    monkeypatch.setattr(sending, "SLICE", 2)
    rows = DeliveryNotificationFactory.create_batch(5, episode=EpisodeFactory())
    read, recorded = [], []
    original_read, original_record = sending._read_claimed, sending._record_successes

    def read_claimed(claims, **kwargs):  # type: ignore[no-untyped-def]
        read.append(len(claims))
        return original_read(claims, **kwargs)

    def record(notifications, **kwargs):  # type: ignore[no-untyped-def]
        recorded.append(len(notifications))
        return original_record(notifications, **kwargs)

    monkeypatch.setattr(sending, "_read_claimed", read_claimed)
    monkeypatch.setattr(sending, "_record_successes", record)
    assert send_batch(worker="w1") == [Outcome.DELIVERED] * 5
    # No more than a slice of the batch's rows held at once, and recorded as it goes.
    assert read == [2, 2, 1] and recorded == [2, 2, 1]
    assert Notification.objects.filter(delivery=D.DELIVERED).count() == len(rows)
    assert len({m.extra_headers["Message-ID"] for m in mail.outbox}) == 5


def test_a_stop_gives_back_the_slice_in_hand_and_the_slices_not_yet_read(monkeypatch):
    monkeypatch.setattr(sending, "SLICE", 2)
    rows = DeliveryNotificationFactory.create_batch(6, episode=EpisodeFactory())
    # The second had failed before: it goes back due a retry, the others queued.
    Notification.objects.filter(pk=rows[4].pk).update(delivery=D.RETRYING, attempt_count=1)
    asked = Counter()

    def stop() -> bool:
        asked["n"] += 1
        return asked["n"] > 3

    assert send_batch(worker="w1", stop=stop) == [Outcome.DELIVERED] * 3
    deliveries = dict(Notification.objects.values_list("pk", "delivery"))
    assert [deliveries[row.pk] for row in rows] == [
        D.DELIVERED, D.DELIVERED, D.DELIVERED, D.QUEUED, D.RETRYING, D.QUEUED,
    ]  # fmt: skip
    assert not Notification.objects.filter(claimed_by="w1").exists()
    assert DeliveryAttempt.objects.count() == 3
