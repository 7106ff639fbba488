"""Registering a system, and issuing, rotating and revoking its token.

A token is ``mk_<prefix>_<secret>``: the prefix (kept in clear, unique) finds the
system, and the SHA-256 digest of the whole token is compared in constant time. The
token itself is never stored: it is shown once, to the admin who issued it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from missingkids.accounts.access import SERVICE_USER_DOMAIN
from missingkids.accounts.configuration import configuration_change_record
from missingkids.accounts.models import Agency, ConfigurationChange, User

from .models import ApiClient, Operation

TOKEN_MARK = "mk_"  # noqa: S105 (the mark every token starts with, not a secret)
PREFIX_BYTES = 6  # 8 characters of URL-safe base64
SECRET_BYTES = 32


@dataclass(frozen=True)
class IssuedToken:
    prefix: str
    token: str
    digest: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> IssuedToken:
    while True:
        prefix = secrets.token_urlsafe(PREFIX_BYTES).replace("_", "x").replace("-", "y")
        if not ApiClient.objects.filter(token_prefix=prefix).exists():
            break
    token = f"{TOKEN_MARK}{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return IssuedToken(prefix=prefix, token=token, digest=digest(token))


def split(token: str) -> str | None:
    """The prefix of a token as given, or None if it is not shaped like one of ours."""
    if not token.startswith(TOKEN_MARK):
        return None
    prefix, sep, secret = token[len(TOKEN_MARK) :].partition("_")
    if not sep or not prefix or not secret or len(prefix) > 16:
        return None
    return prefix


def client_for_token(token: str) -> ApiClient | None:
    """The system the token belongs to, revoked or not; None for no such token."""
    prefix = split(token)
    if prefix is None:
        return None
    client = (
        ApiClient.objects.select_related("agency", "user", "user__agency")
        .filter(token_prefix=prefix)
        .first()
    )
    if client is None or not hmac.compare_digest(client.token_hash, digest(token)):
        return None
    return client


def _service_user(*, name: str, agency: Agency) -> User:
    user = User(
        email=f"system-{secrets.token_hex(8)}@{SERVICE_USER_DOMAIN}",
        name=f"{name} (connected system)"[:200],
        agency=agency,
        role=User.Role.PRACTITIONER,
        job_title="Connected system",
    )
    # No password can ever match: the system cannot sign in to the site.
    user.set_unusable_password()
    user.save()
    return user


def system_snapshot(client: ApiClient) -> dict[str, str]:
    """The system as its configuration change shows it: never the token, only its first
    characters and when it was issued or revoked."""
    labels = dict(Operation.choices)
    issued = timezone.localtime(client.token_issued_at).strftime("%d/%m/%Y %H:%M")
    revoked = (
        timezone.localtime(client.revoked_at).strftime("%d/%m/%Y %H:%M")
        if client.revoked_at
        else ""
    )
    return {
        "Name": client.name,
        "Agency": client.agency.name,
        "Allowed operations": ", ".join(labels.get(op, op) for op in client.operations or [])
        or "Read only",
        "Contact e-mail": client.contact_email,
        "Token": f"{TOKEN_MARK}{client.token_prefix}_... issued {issued}",
        "Token revoked": revoked,
    }


def system_change_record(
    client: ApiClient, *, before: dict[str, str] | None, by: User, old_agency_id: int | None = None
) -> None:
    """Record a change to a connected system and tell its agency's managers and the
    partnership admins, as for any other configuration change."""
    configuration_change_record(
        kind=ConfigurationChange.Kind.SYSTEM,
        object_id=client.pk,
        subject=f"{client.name} ({client.agency.name})",
        before=before,
        after=system_snapshot(client),
        agencies=[a for a in (client.agency_id, old_agency_id) if a],
        acting_user=by,
    )


@transaction.atomic
def register(client: ApiClient, *, by: User) -> str:
    """Save a new system (name, agency, operations and contact e-mail set) with its
    service user and first token; returns the token, to show once."""
    issued = new_token()
    client.operations = sorted(set(client.operations or []))
    client.user = _service_user(name=client.name, agency=client.agency)
    client.token_prefix, client.token_hash = issued.prefix, issued.digest
    client.token_issued_by = by
    client.save()
    system_change_record(client, before=None, by=by)
    return issued.token


def register_client(
    *, name: str, agency: Agency, operations: list[str], contact_email: str, by: User
) -> tuple[ApiClient, str]:
    """Register a system and issue its first token: (client, token to show once)."""
    client = ApiClient(name=name, agency=agency, operations=operations, contact_email=contact_email)
    return client, register(client, by=by)


@transaction.atomic
def rotate_token(*, client: ApiClient, by: User) -> str:
    """A new token for the system; the old one stops working at once. A revoked
    system is brought back into use by rotating its token."""
    before = system_snapshot(client)
    issued = new_token()
    ApiClient.objects.filter(pk=client.pk).update(
        token_prefix=issued.prefix,
        token_hash=issued.digest,
        token_issued_at=timezone.now(),
        token_issued_by=by,
        revoked_at=None,
        revoked_by=None,
    )
    User.objects.filter(pk=client.user_id).update(is_active=True)
    client.refresh_from_db()
    system_change_record(client, before=before, by=by)
    return issued.token


@transaction.atomic
def revoke_token(*, client: ApiClient, by: User) -> None:
    """The system's token stops working at once (rotate to issue a new one)."""
    before = system_snapshot(client)
    ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=by
    )
    # Its service user can do nothing either, by any route.
    User.objects.filter(pk=client.user_id).update(is_active=False)
    client.refresh_from_db()
    system_change_record(client, before=before, by=by)


def sync_service_user(client: ApiClient) -> None:
    """Keep the service user's agency and name with the system's (after an edit)."""
    User.objects.filter(pk=client.user_id).update(
        agency=client.agency, name=f"{client.name} (connected system)"[:200]
    )
