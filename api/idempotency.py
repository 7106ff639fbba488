"""Writes that happen once, however often they are sent.

A write names one or more keys: the ``Idempotency-Key`` header if given, and the key
its own content makes (the force's police reference for a report; the episode for a
return or a safe and well check, each recorded once). ``run_once`` inserts a row for
each key before doing anything; the unique constraint on (system, key) means a second
call with any of them waits for the first call's transaction and then gets its
answer back, unchanged, with ``Idempotent-Replayed: true``. If the first call was
refused, its rows went with its transaction, and the second is carried out afresh.
The same key with a different request is refused (422, idempotency-key-reused).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from .models import ApiClient, IdempotentRequest
from .problems import Problem

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool


def header_key(value: str | None) -> str | None:
    """The header's key, checked: printable ASCII, at most MAX_KEY_LENGTH characters."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_KEY_LENGTH or not value.isascii() or not value.isprintable():
        raise Problem(
            "invalid-request",
            400,
            f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            [{"field": HEADER, "detail": "Not a valid key."}],
        )
    return f"key:{value}"


def fingerprint(path: str, data: Any) -> str:
    canonical = json.dumps([path, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_once(
    *,
    client: ApiClient,
    keys: list[str],
    operation: str,
    fingerprint: str,
    perform: Callable[[], tuple[int, Any]],
) -> Outcome:
    """Do ``perform`` (returning status and body) once for these keys."""
    with transaction.atomic():
        rows = []
        for key in dict.fromkeys(keys):
            try:
                with transaction.atomic():
                    rows.append(
                        IdempotentRequest.objects.create(
                            client=client, key=key, operation=operation, fingerprint=fingerprint
                        )
                    )
            except IntegrityError:
                first = IdempotentRequest.objects.get(client=client, key=key)
                if first.operation != operation or first.fingerprint != fingerprint:
                    raise Problem(
                        "idempotency-key-reused",
                        422,
                        _reused_message(key),
                        [{"field": _key_field(key), "detail": "Already used for another request."}],
                    ) from None
                # Ours is the same request: nothing of it is kept, the first answer is.
                transaction.set_rollback(True)
                body = json.loads(first.response) if first.response else None
                return Outcome(first.status_code or 200, body, replayed=True)
        status, body = perform()
        for row in rows:
            row.status_code, row.response = status, json.dumps(body)
            row.save(update_fields=["status_code", "response"])
        return Outcome(status, body, replayed=False)


def _key_field(key: str) -> str:
    if key.startswith("key:"):
        return HEADER
    return "police_reference" if key.startswith("police_reference:") else ""


def _reused_message(key: str) -> str:
    if key.startswith("key:"):
        return f"This {HEADER} was used before for a different request. Use a new key."
    if key.startswith("police_reference:"):
        return (
            "This police reference was reported before with different details. The first "
            "report stands: to find it, GET /api/v1/episodes/?police_reference=..."
        )
    return "This was recorded before with different details. The first record stands."
