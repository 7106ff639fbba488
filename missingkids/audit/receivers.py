"""Passwords accepted, failed sign-ins and sign-outs, from django.contrib.auth's signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from .log import Action, log_access


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def on_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # Django's login() is the password step; "Signed in" is logged when the second step
    # is passed (missingkids.accounts.views).
    log_access(request, Action.PASSWORD_ACCEPTED, user=user)


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def on_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already replaced the password with asterisks; only the address is kept,
    # as typed (lower-cased), so an admin can search for attempts on one account.
    typed = str(credentials.get("username") or credentials.get("email") or "")
    log_access(request, Action.SIGN_IN_FAILED, user=None, username=typed.strip().lower())


@receiver(user_logged_out, dispatch_uid="audit_sign_out")
def on_sign_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        log_access(request, Action.SIGN_OUT, user=user)
