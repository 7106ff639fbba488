"""The client's network address: forwarded headers believed only from our own proxies.

The access log and the sign-in lockout both record the address a request came from
(``missingkids.audit.log.client_ip``). A forwarded header from anyone but a proxy named
in ``TRUSTED_PROXIES`` is ignored, so nobody can choose the address they are logged, or
locked out, under.
"""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from missingkids.audit.log import client_ip
from missingkids.audit.models import AccessLogEntry
from tests.security.signing_in import password_step

PROXY = "10.0.0.2"


def address(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


@pytest.fixture
def behind_proxy(settings) -> None:
    settings.TRUSTED_PROXIES = [PROXY]


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert address("198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_a_forged_header_from_an_untrusted_address_is_ignored(behind_proxy):
    assert address("198.51.100.7", "203.0.113.9") == "198.51.100.7"
    assert address("198.51.100.7", f"203.0.113.9, {PROXY}") == "198.51.100.7"


def test_from_the_proxy_the_client_is_the_address_it_added(behind_proxy):
    assert address(PROXY, "203.0.113.9") == "203.0.113.9"
    # What the client sent itself comes first; the proxy appended the real address.
    assert address(PROXY, "8.8.8.8, 192.168.1.20") == "192.168.1.20"


def test_a_chain_of_trusted_proxies_is_walked_past(settings):
    settings.TRUSTED_PROXIES = [PROXY, "172.16.0.0/12"]
    assert address(PROXY, "8.8.8.8, 203.0.113.9, 172.16.4.1") == "203.0.113.9"


def test_from_the_proxy_without_the_header_the_proxy_is_the_client(behind_proxy):
    assert address(PROXY) == PROXY
    assert address(PROXY, "not an address") == PROXY


def test_ipv6_and_ports_are_understood(settings):
    settings.TRUSTED_PROXIES = ["::1"]
    assert address("::1", "[2001:db8::7]:4711") == "2001:db8::7"
    assert address("2001:db8::9", "203.0.113.9") == "2001:db8::9"


def test_no_usable_address_is_none(behind_proxy):
    assert address("") is None
    assert address("not an address") is None
    assert client_ip(None) is None


def test_a_forged_header_does_not_change_the_logged_address(client, officer, behind_proxy):
    forger = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9")
    password_step(forger, officer.email, "Wrong-Horse-Battery-9")
    [entry] = AccessLogEntry.objects.filter(action=AccessLogEntry.Action.SIGN_IN_FAILED)
    assert entry.ip_address == "198.51.100.7"


def test_a_forged_header_cannot_dodge_the_lockout(officer, settings, behind_proxy):
    """Each try claims a new address; they all count against the real one."""
    limit = settings.AXES_FAILURE_LIMIT
    responses = [
        password_step(
            Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"),
            officer.email,
            "Wrong-Horse-Battery-9",
        )
        for n in range(limit)
    ]
    assert responses[-1].status_code == 429


def test_the_setting_must_name_addresses(tmp_path):
    from tests.test_settings import run

    env = {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    result = run({**env, "TRUSTED_PROXIES": "127.0.0.1,proxy.example.org"}, "manage.py", "check")
    assert result.returncode != 0
    assert "TRUSTED_PROXIES must list IP addresses or networks" in result.stderr
    good = run({**env, "TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8"}, "manage.py", "check")
    assert good.returncode == 0, good.stderr


def test_sign_in_page_works_from_the_proxy(client, behind_proxy):
    proxied = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.get(reverse("login")).status_code == 200


def test_production_behind_a_proxy_trusts_only_this_machine_by_default(tmp_path):
    from tests.test_settings import run

    env = {
        "DEBUG": "false",
        "SECRET_KEY": "x" * 64,
        "ALLOWED_HOSTS": "missingkids.example.org",
        "EMAIL_URL": "smtp+tls://user:pass@smtp.example.org:587",
        "DEFAULT_FROM_EMAIL": "missingkids@example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    show = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.TRUSTED_PROXIES)"
    )
    assert run(env, "-c", show).stdout.strip() == "['127.0.0.1', '::1']"
    assert run({**env, "BEHIND_PROXY": "false"}, "-c", show).stdout.strip() == "[]"
    named = run({**env, "TRUSTED_PROXIES": "10.1.2.3"}, "-c", show)
    assert named.stdout.strip() == "['10.1.2.3']"
