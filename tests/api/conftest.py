"""Registered systems and a way to call the API as them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from api.models import COUNCIL_OPERATIONS, POLICE_OPERATIONS, ApiClient
from api.tokens import register_client


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """The rate limits count in the cache: each test starts with none used."""
    cache.clear()


class Caller:
    """Calls the API with a token, as a system would."""

    def __init__(self, client: Client, token: str | None) -> None:
        self.client = client
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
        token: str | None = None,
        **headers: str,
    ):
        token = token if token is not None else self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs: dict[str, Any] = {"headers": headers}
        if data is not None and method.upper() != "GET":
            kwargs.update(data=data, content_type=content_type)
        return getattr(self.client, method.lower())(path, **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.call("POST", path, body, **kwargs)


def register(agency, by, *, operations=None, name=None) -> tuple[ApiClient, str]:
    return register_client(
        name=name or f"{agency.name} system",
        agency=agency,
        operations=sorted(
            (POLICE_OPERATIONS if agency.kind == "police" else COUNCIL_OPERATIONS)
            if operations is None
            else operations
        ),
        contact_email="systems@example.org",
        by=by,
    )


@pytest.fixture
def police_system(police, admin_user) -> tuple[ApiClient, str]:
    return register(police, admin_user, name="Cheshire Police records system")


@pytest.fixture
def force(client, police_system) -> Caller:
    return Caller(client, police_system[1])


@pytest.fixture
def council_system(la_west, admin_user) -> tuple[ApiClient, str]:
    return register(la_west, admin_user, operations=[], name="West council case system")


def iso(moment: dt.datetime) -> str:
    return timezone.localtime(moment).isoformat()


def report_body(**overrides: Any) -> dict[str, Any]:
    now = timezone.now()
    body: dict[str, Any] = {
        "child": {
            "police_person_reference": "PP-1001",
            "first_name": "Amelia",
            "last_name": "Jones",
            "date_of_birth": (timezone.localdate() - dt.timedelta(days=14 * 365)).isoformat(),
            "gender": "female",
            "responsible_area": "E06000050",
        },
        "police_reference": "CHE-2026-0001",
        "category": "missing",
        "reported_at": iso(now - dt.timedelta(minutes=30)),
        "reported_by_name": "Foster carer",
        "last_seen_at": iso(now - dt.timedelta(hours=2)),
        "circumstances": "Did not come home from school.",
        "flags": {"flag_cse": True},
        "risk": "medium",
        "risk_rationale": "No known risks beyond the exploitation concern.",
    }
    for name, value in overrides.items():
        if name.startswith("child__"):
            body["child"][name.removeprefix("child__")] = value
        elif value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body
