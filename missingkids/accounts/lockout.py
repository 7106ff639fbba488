"""Sign-in lockout (django-axes): by account and address together, by account across
addresses, by address across accounts, and for the second step on its own terms.

Three limits, each over the lockout period (``AXES_COOLOFF_TIME``):

- ``AXES_FAILURE_LIMIT`` (5) for one e-mail address from one network address: someone
  guessing at one account;
- ``SIGN_IN_ACCOUNT_FAILURE_LIMIT`` (20) for one e-mail address from anywhere: the same
  guessing spread over many addresses;
- ``SIGN_IN_ADDRESS_FAILURE_LIMIT`` (50) from one network address for any accounts: one
  machine trying many accounts. Higher, as a council's staff may share one address.

Wrong security codes at the second step are counted as failures of their own key,
``second_step_key(email)``: against the code's limit from that address, and against
the address's limit, but never against the account across addresses. Someone who has
stolen a password can therefore not lock the person out by typing wrong codes from
elsewhere; they only lock out their own address. django-otp's own throttle, which would
slow the device down for everyone, is off (settings: ``OTP_*_THROTTLE_FACTOR``).

A successful sign-in clears only the failures of that account from that address, so
signing in to one account cannot wipe an address's failures on others.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_failure_limit, get_lockout_parameters
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

from .models import normalise_email

SECOND_STEP_SUFFIX = " (security code)"
# django-axes keeps the e-mail address in a column of this many characters.
USERNAME_MAX_LENGTH = 255


def username_from_request(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The e-mail address as the sign-in form reads it, so " Sam@X " and "sam@x" count
    as the same account for lockout, as they do for signing in."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials and credentials.get(field):
        return normalise_email(str(credentials[field]))[:USERNAME_MAX_LENGTH]
    data = getattr(request, "data", request.POST)
    return normalise_email(str(data.get(field, "") or ""))[:USERNAME_MAX_LENGTH]


def second_step_key(email: str) -> str:
    """What wrong security codes for ``email`` are counted under (and shown in the admin)."""
    room = USERNAME_MAX_LENGTH - len(SECOND_STEP_SUFFIX)
    return f"{normalise_email(email)[:room]}{SECOND_STEP_SUFFIX}"


def is_second_step_key(username: str | None) -> bool:
    return bool(username) and str(username).endswith(SECOND_STEP_SUFFIX)


def _parameter_key(parameter: str | list[str]) -> tuple[str, ...]:
    return (parameter,) if isinstance(parameter, str) else tuple(parameter)


def _limits() -> dict[tuple[str, ...], int]:
    return {
        ("username", "ip_address"): settings.AXES_FAILURE_LIMIT,
        ("username",): settings.SIGN_IN_ACCOUNT_FAILURE_LIMIT,
        ("ip_address",): settings.SIGN_IN_ADDRESS_FAILURE_LIMIT,
    }


class LockoutHandler(AxesDatabaseHandler):
    """django-axes' database handler with a limit of its own for each lockout parameter."""

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """The failures of the limit nearest to being reached, scaled to the base limit.

        django-axes compares one number with one limit (``AXES_FAILURE_LIMIT``); each
        parameter's failures are scaled so that reaching its own limit reaches that one.
        """
        base = get_failure_limit(request, credentials)
        username = get_client_username(request, credentials)
        limits = _limits()
        worst = 0
        for parameter, attempts in zip(
            get_lockout_parameters(request, credentials),
            self.get_user_attempts(request, credentials),
            strict=True,
        ):
            key = _parameter_key(parameter)
            if key == ("username",) and is_second_step_key(username):
                continue  # wrong codes never lock the account out everywhere
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            limit = limits.get(key, base)
            worst = max(worst, failures * base // max(limit, 1))
        return worst

    def user_login_failed(
        self, sender: Any, credentials: dict, request: HttpRequest | None = None, **kwargs: Any
    ) -> None:
        # What the browser sent is stored with the attempt; PostgreSQL text cannot hold a
        # NUL, and a forged User-Agent with one must not turn a failed sign-in into an error.
        if request is not None:
            for name in ("axes_user_agent", "axes_http_accept", "axes_path_info"):
                value = getattr(request, name, None)
                if isinstance(value, str):
                    setattr(request, name, value.replace("\x00", "\ufffd"))
        super().user_login_failed(sender, credentials, request, **kwargs)

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(
            username=username, ip_address=request.axes_ip_address
        ).delete()
        return count


# The second step --------------------------------------------------------------------


def second_step_allowed(*, request: HttpRequest, email: str) -> bool:
    return AxesProxyHandler.is_allowed(request, {"username": second_step_key(email)})


def second_step_failed(*, request: HttpRequest, email: str) -> bool:
    """Count a wrong code; True if this address is now locked out of the second step."""
    credentials = {"username": second_step_key(email)}
    AxesProxyHandler.user_login_failed(sender=__name__, credentials=credentials, request=request)
    locked = bool(getattr(request, "axes_locked_out", False))
    # The second step answers for itself; django-axes' middleware would otherwise turn
    # the response into the password page's lockout response.
    request.axes_locked_out = False
    return locked


def second_step_passed(*, request: HttpRequest, email: str) -> None:
    AxesProxyHandler.update_request(request)
    AccessAttempt.objects.filter(
        username=second_step_key(email), ip_address=request.axes_ip_address
    ).delete()
