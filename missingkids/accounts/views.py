from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from missingkids.audit.log import Action, log_access

from . import access, lockout, two_factor
from .forms import ConfigurationChangeFilterForm, SignInForm, TwoFactorCodeForm
from .middleware import otp_not_required
from .sessions import user_sessions_end
from .signals import home_page_sections


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def sign_in_locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """django-axes' lockout response: the sign-in page with its (generic) error.

    The form has already said why (SignInForm.clean); this only sets the status.
    """
    if original_response is None or original_response.status_code != 200:
        original_response = SignInView.as_view()(request)
        if hasattr(original_response, "render"):
            original_response.render()
    original_response.status_code = 429
    return original_response


class SignOutView(auth_views.LogoutView):
    """Sign-out is a POST (a link could be forged by another site)."""


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    # Sections from the apps above this one (see .signals): "What your agency must do".
    sections = [
        html
        for _receiver, html in home_page_sections.send(
            sender=None, user=request.user, request=request
        )
        if html
    ]
    return render(request, "home.html", {"agency": request.user.agency, "sections": sections})


# Second factor ------------------------------------------------------------------------


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("home")


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


@otp_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """Second step of signing in: a code from the app, or a recovery code."""
    user = request.user
    next_url = _next_url(request)
    if user.is_verified():
        return HttpResponseRedirect(next_url)
    if two_factor.totp_device_confirmed(user) is None:
        return redirect(_with_next("two_factor_enrol", next_url))
    if not lockout.second_step_allowed(request=request, email=user.email):
        return _second_step_locked_out(request)
    verified: list[Any] = []

    def check(code: str) -> str:
        outcome = two_factor.code_check(user=user, code=code)
        verified.append(outcome.device)
        return outcome.error

    form = TwoFactorCodeForm(
        request.POST if request.method == "POST" else None,
        check=check,
        label="Code",
        hint="The 6-digit code your authenticator app shows now, or one of your recovery codes.",
        button="Continue",
    )
    if form.is_valid() and verified[-1] is not None:
        _second_step_passed(request, verified[-1])
        return HttpResponseRedirect(next_url)
    if verified:  # a code was typed, and it was wrong
        log_access(request, Action.SIGN_IN_FAILED, detail={"step": "security code"})
        if lockout.second_step_failed(request=request, email=user.email):
            return _second_step_locked_out(request)
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": next_url})


SECOND_STEP_LOCKED_OUT = (
    "You have entered too many wrong security codes. Wait before trying again, or ask your "
    "agency's administrator to unlock your account."
)


def _second_step_locked_out(request: HttpRequest) -> HttpResponse:
    """Too many wrong codes from here: back to the start, password and all."""
    logout(request)
    messages.error(request, SECOND_STEP_LOCKED_OUT)
    return redirect("login")


def _second_step_passed(request: HttpRequest, device: Any) -> None:
    """Signed in: the session gets a new key, and only now is "Signed in" logged."""
    two_factor.session_verify(request=request, device=device)
    lockout.second_step_passed(request=request, email=request.user.email)
    log_access(request, Action.SIGN_IN, detail={"step": "security code"})


@otp_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in: set up an authenticator app, prove it works, get recovery codes."""
    user = request.user
    next_url = _next_url(request)
    if user.is_verified():
        return HttpResponseRedirect(next_url)
    if two_factor.totp_device_confirmed(user) is not None:
        # Only someone with no authenticator may add one before the second step;
        # otherwise a stolen password would be enough to enrol a new phone.
        return redirect(_with_next("two_factor", next_url))
    device = two_factor.totp_device_for_enrolment(user)
    confirmed: list[Any] = []

    def check(code: str) -> str:
        outcome = two_factor.enrolment_check(device=device, code=code)
        confirmed.append(outcome.device)
        return outcome.error

    form = TwoFactorCodeForm(
        request.POST if request.method == "POST" else None,
        check=check,
        label="Code from your authenticator app",
        hint="For example, 123456",
        button="Continue",
        numeric=True,
    )
    if form.is_valid() and confirmed[-1] is not None:
        _second_step_passed(request, confirmed[-1])
        request.session[two_factor.RECOVERY_CODES_SESSION_KEY] = two_factor.recovery_codes_replace(
            user
        )
        return redirect(_with_next("two_factor_recovery_codes", next_url))
    if confirmed:
        # Logged, not counted towards the lockout: the secret is on the page to see.
        log_access(request, Action.SIGN_IN_FAILED, detail={"step": "setting up an authenticator"})
    return render(
        request,
        "accounts/two_factor_enrol.html",
        {
            "form": form,
            "next": next_url,
            "qr_svg": two_factor.totp_qr_svg(device),
            "secret": two_factor.totp_secret_grouped(device),
        },
    )


@never_cache
@require_GET
def two_factor_recovery_codes(request: HttpRequest) -> HttpResponse:
    """The recovery codes just made, shown this once."""
    codes = request.session.pop(two_factor.RECOVERY_CODES_SESSION_KEY, None)
    if not codes:
        return redirect("account")
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes, "next": _next_url(request)},
    )


# Your account -------------------------------------------------------------------------


@never_cache
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    device = two_factor.totp_device_confirmed(user)
    return render(
        request,
        "accounts/account.html",
        {
            "authenticator": device,
            "recovery_codes_left": two_factor.recovery_codes_left(user),
        },
    )


@require_POST
def account_recovery_codes_new(request: HttpRequest) -> HttpResponse:
    request.session[two_factor.RECOVERY_CODES_SESSION_KEY] = two_factor.recovery_codes_replace(
        request.user
    )
    return redirect(_with_next("two_factor_recovery_codes", reverse("account")))


@require_POST
def account_sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    """End every session of this person, this one included."""
    user = request.user
    logout(request)
    user_sessions_end(user=user)
    messages.success(request, "You have been signed out on every device.")
    return redirect("login")


# Configuration changes ----------------------------------------------------------------

CONFIGURATION_CHANGES_PAGE_SIZE = 25


@require_GET
def configuration_changes(request: HttpRequest) -> HttpResponse:
    """Changes to rules, agencies and contacts: who, when, before and after.

    Managers and agency admins see those that affect their own agency; partnership
    admins see all, and filter by agency.
    """
    user = request.user
    if not access.may_see_configuration_changes(user):
        raise PermissionDenied("Only managers and admins can see configuration changes.")
    form = ConfigurationChangeFilterForm(
        request.GET if "agency" in request.GET else None,
        agencies=access.configuration_change_agencies(user),
    )
    changes = access.configuration_changes_visible_to(user)
    chosen = form.chosen_agency()
    if chosen is not None:
        changes = changes.filter(agencies=chosen)
    changes = changes.select_related("changed_by__agency").prefetch_related("agencies")
    page = Paginator(changes, CONFIGURATION_CHANGES_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/configuration_changes.html",
        {
            "filters": form,
            "show_filter": access.is_partnership_admin(user),
            "page": page,
            "query": query.urlencode(),
            "chosen": chosen,
        },
    )
