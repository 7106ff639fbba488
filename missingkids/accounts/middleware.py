"""Middleware that keeps sign-ins honest: session lifetimes and the second factor.

Both go after ``AuthenticationMiddleware``, django-otp's ``OTPMiddleware`` (which gives
``request.user.is_verified()``) and ``MessageMiddleware``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse

from .sessions import expiry_message, session_expiry

Handler = Callable[[HttpRequest], HttpResponse]


def otp_not_required(view: Any) -> Any:
    """Mark a view as reachable after the password step but before the second factor.

    For the second-factor pages themselves and signing out; views open to anonymous
    visitors (``@login_not_required``) are reachable too.
    """
    view.otp_required = False
    return view


class SessionLifetimeMiddleware:
    """Signs out a session that has been idle, or signed in, for too long."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            reason = session_expiry(session=request.session)
            if reason is not None:
                logout(request)
                messages.info(request, expiry_message(reason))
                return redirect_to_login(request.get_full_path())
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """Until the second factor is given, every page leads to the second-factor step.

    That includes the admin and pages that do not exist (a 404 would still show the
    signed-in header); only views marked ``@otp_not_required`` or open to anonymous
    visitors, and static files, are let through.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and not user.is_verified() and not _open(request):
            url = reverse("two_factor")
            if request.method == "GET":
                url = f"{url}?{urlencode({'next': request.get_full_path()})}"
            return HttpResponseRedirect(url)
        return self.get_response(request)


def _open(request: HttpRequest) -> bool:
    if settings.STATIC_URL and request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return True
    try:
        view = resolve(request.path_info).func
    except Resolver404:
        return False
    return not getattr(view, "login_required", True) or not getattr(view, "otp_required", True)
