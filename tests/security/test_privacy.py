"""No personal data in the admin for those without case access, in logs or error pages."""

from __future__ import annotations

import io
import logging

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import reverse

from missingkids.audit.models import AccessLogEntry


def test_no_case_record_is_registered_in_the_admin():
    registered = {model._meta.label for model in admin.site._registry}
    case_models = {label for label in registered if label.startswith("incidents.")}
    historical = {label for label in registered if ".Historical" in label}
    assert not case_models and not historical, registered


def test_admin_pages_show_no_child_names(client, case, admin_user, social_worker):
    client.force_login(social_worker)
    client.get(reverse("incidents:child_detail", args=[case.child.pk]))
    client.force_login(admin_user)
    name = case.child.last_name
    for url in (
        reverse("admin:index"),
        reverse("admin:audit_accesslogentry_changelist"),
        reverse("admin:audit_accesslogentry_changelist") + f"?q={case.child.pk}",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert name not in response.content.decode(), url
    entry = AccessLogEntry.objects.filter(child_id=case.child.pk).first()
    detail = client.get(reverse("admin:audit_accesslogentry_change", args=[entry.pk]))
    assert detail.status_code == 200 and name not in detail.content.decode()


def test_error_emails_are_off():
    assert not settings.ADMINS


@pytest.fixture
def console_log():
    """What the console handler writes, with the project's filters applied."""
    handler = next(
        h
        for h in logging.getLogger("django.request").handlers
        if isinstance(h, logging.StreamHandler)
    )
    buffer = io.StringIO()
    original = handler.setStream(buffer)
    yield buffer
    handler.setStream(original)


def test_a_server_error_leaks_nothing(client, case, social_worker, monkeypatch, console_log):
    from incidents import access

    secret = f"{case.child.first_name} {case.child.last_name} NHS 9434765919"

    def broken(user, pk, **annotations):
        raise RuntimeError(f"could not load {secret}")

    monkeypatch.setattr(access, "get_child_for_user", broken)
    client.raise_request_exception = False
    client.force_login(social_worker)
    response = client.get(reverse("incidents:child_detail", args=[case.child.pk]))

    assert response.status_code == 500
    page = response.content.decode()
    assert secret not in page and "Traceback" not in page
    logged = console_log.getvalue()
    assert "Internal Server Error: /children/" in logged
    assert "RuntimeError: (message withheld)" in logged
    assert secret not in logged
    assert "no-store" in response["Cache-Control"]


def test_request_logs_name_paths_not_people(client, case, outsider, console_log):
    client.force_login(outsider)
    client.get(reverse("incidents:child_detail", args=[case.child.pk]))
    assert case.child.last_name not in console_log.getvalue()
