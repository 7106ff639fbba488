"""A forgotten password, reset by the person themselves: a link by e-mail.

- **Asking** (``/password-reset/``): anyone may ask, for an e-mail address. The answer
  is the same whether or not an active account has that address (no one learns who has
  an account). An active account gets a link, at most one every
  ``PASSWORD_RESET_EMAIL_INTERVAL`` (so the page cannot be used to flood someone's
  inbox); each asking is in the access log, for the account if there is one.
- **The link** is Django's password-reset token: it works once (it is tied to the
  current password), for ``PASSWORD_RESET_TIMEOUT`` seconds (one hour). Opening it moves
  the token into the session and out of the address bar (Django's view does this), so it
  does not leak through the Referer header or the browser's history.
- **Setting the new password** checks it against the password rules, ends every session
  of the person (whoever had the old password is signed out), is logged, and the person
  is e-mailed that it changed. The second factor is untouched: signing in still asks
  for the code, so a reset link alone does not open the account.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Submit
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.tokens import default_token_generator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_http_methods

from missingkids.audit.log import Action, log_access
from missingkids.audit.models import AccessLogEntry
from missingkids.forms import Form
from missingkids.policy import EMAIL_MAX_LENGTH

from .emails import send_after_commit
from .models import User, normalise_email
from .sessions import user_sessions_end

# At most one link per account in this time, however often it is asked for.
PASSWORD_RESET_EMAIL_INTERVAL = dt.timedelta(minutes=15)


class PasswordResetRequestForm(Form):
    email = forms.CharField(
        label="E-mail address",
        max_length=EMAIL_MAX_LENGTH,
        error_messages={"required": "Enter your e-mail address"},
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.layout = Layout(Field.text("email"), Submit("submit", "Send the link"))

    def clean_email(self) -> str:
        return normalise_email(self.cleaned_data.get("email") or "")


class NewPasswordForm(SetPasswordForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].label = "New password"
        self.fields["new_password1"].error_messages["required"] = "Enter a new password"
        self.fields["new_password2"].label = "Type the new password again"
        self.fields["new_password2"].error_messages["required"] = "Type the new password again"
        self.fields[
            "new_password1"
        ].help_text = "At least 12 characters, not a common password and not all numbers."
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Field.text("new_password1"),
            Field.text("new_password2"),
            Submit("submit", "Set the new password"),
        )


def _recently_sent(person: User) -> bool:
    return AccessLogEntry.objects.filter(
        user=person,
        action=Action.PASSWORD_RESET_REQUESTED,
        at__gte=timezone.now() - PASSWORD_RESET_EMAIL_INTERVAL,
        detail__sent=True,
    ).exists()


def password_reset_request(email: str, *, request: HttpRequest | None) -> bool:
    """Send ``email``'s active account a reset link, unless one went recently.

    Returns whether a link was sent; the caller must not tell the person (no oracle).
    """
    person = User.objects.filter(email__iexact=email, is_active=True).first()
    if person is None:
        log_access(request, Action.PASSWORD_RESET_REQUESTED, detail={"sent": False})
        return False
    sent = not _recently_sent(person)
    log_access(request, Action.PASSWORD_RESET_REQUESTED, user=person, detail={"sent": sent})
    if sent:
        uid = urlsafe_base64_encode(force_bytes(person.pk))
        token = default_token_generator.make_token(person)
        link = reverse("password_reset_confirm", args=[uid, token])
        send_after_commit(
            to=[person.email],
            name="password_reset",
            context={
                "person": person,
                "link": f"{settings.SITE_URL}{link}",
                "hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
            },
        )
    return sent


@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password_reset_request(form.cleaned_data["email"], request=request)
        request.session["password_reset_asked"] = form.cleaned_data["email"]
        return redirect("password_reset_sent")
    return render(request, "registration/password_reset.html", {"form": form})


@require_http_methods(["GET"])
def password_reset_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "registration/password_reset_sent.html",
        {
            "email": request.session.get("password_reset_asked", ""),
            "hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
        },
    )


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view (the token checked, moved out of the URL), in the service's style;
    a successful reset ends the person's sessions, is logged and told to them."""

    form_class = NewPasswordForm
    template_name = "registration/password_reset_confirm.html"
    post_reset_login = False

    def form_valid(self, form: NewPasswordForm) -> HttpResponse:
        person = form.user
        response = super().form_valid(form)
        ended = user_sessions_end(user=person)
        log_access(
            self.request, Action.PASSWORD_RESET, user=person, detail={"sessions_ended": ended}
        )
        send_after_commit(
            to=[person.email],
            name="password_reset_done",
            context={
                "person": person,
                "when": timezone.localtime(),
                "partnership_admins": settings.PARTNERSHIP_ADMINS,
            },
        )
        messages.success(
            self.request, "Your password has been changed. Sign in with the new password."
        )
        return response

    def get_success_url(self) -> str:
        return reverse("login")
