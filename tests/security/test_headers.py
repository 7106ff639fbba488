"""Security headers on a page showing case data, in development and production settings."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from tests.test_settings import production_env, run  # noqa: F401  (fixture)


@pytest.fixture
def child_page(client, case, social_worker):
    client.force_login(social_worker)
    response = client.get(reverse("incidents:child_detail", args=[case.child.pk]))
    assert response.status_code == 200
    return response


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_csp_nonce_matches_the_page_scripts(child_page):
    policy = _directives(child_page["Content-Security-Policy"])
    nonce = re.search(r"'nonce-([^']+)'", " ".join(policy["script-src"]))
    assert nonce, policy
    html = child_page.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts
    for tag in scripts:
        assert f'nonce="{nonce[1]}"' in tag, tag
    assert f"'nonce-{nonce[1]}'" in policy["style-src"]


def test_csp_directives(child_page):
    policy = _directives(child_page["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert "'unsafe-inline'" not in child_page["Content-Security-Policy"]


def test_each_response_has_its_own_nonce(client, case, social_worker):
    client.force_login(social_worker)
    url = reverse("incidents:child_detail", args=[case.child.pk])
    first = client.get(url)["Content-Security-Policy"]
    second = client.get(url)["Content-Security-Policy"]
    assert first != second


def test_no_inline_script_or_style_without_nonce(child_page):
    html = child_page.content.decode()
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bnonce=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers


def test_frames_referrer_and_caching(child_page):
    assert child_page["X-Frame-Options"] == "DENY"
    assert child_page["Referrer-Policy"] == "same-origin"
    assert child_page["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in child_page["Cache-Control"]


def test_sign_in_page_is_not_cached_either(client):
    assert "no-store" in client.get(reverse("login"))["Cache-Control"]


HEADERS_IN_PRODUCTION = """
import json, django
from django.conf import settings
# The manifest storage needs collectstatic; the headers do not depend on it.
settings.STORAGES = {**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
response = Client().get("/sign-in/", HTTP_HOST="missingkids.example.org",
                        HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({"status": response.status_code, **dict(response.headers)}))
"""


def test_production_sends_hsts_and_the_rest(production_env):  # noqa: F811
    result = run(production_env, "-c", HEADERS_IN_PRODUCTION)
    assert result.returncode == 0, result.stderr
    headers = json.loads(result.stdout.strip().splitlines()[-1])
    assert headers["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "'nonce-" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "no-store" in headers["Cache-Control"]
