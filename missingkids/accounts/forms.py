from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Submit
from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, UserChangeForm

from missingkids.forms import Form, PlainLimitsMixin
from missingkids.policy import EMAIL_MAX_LENGTH, PASSWORD_MAX_LENGTH

from .access import may_assign_address
from .models import Agency, User, normalise_email


class SignInForm(PlainLimitsMixin, AuthenticationForm):
    """E-mail and password. A failure says the same thing whatever was wrong."""

    error_messages = {
        "invalid_login": "Enter a correct e-mail address and password.",
        "inactive": "Enter a correct e-mail address and password.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Beyond these no account can match: a message by the field (PlainLimitsMixin),
        # and nothing reaches the lockout's records, whose columns are 255 characters.
        self.fields["username"].max_length = EMAIL_MAX_LENGTH
        self.fields["password"].max_length = PASSWORD_MAX_LENGTH
        self.fields["username"].label = "E-mail address"
        self.fields["username"].error_messages["required"] = "Enter your e-mail address"
        self.fields["password"].error_messages["required"] = "Enter your password"
        self.fields["username"].widget.attrs.update(
            {"autocomplete": "email", "spellcheck": "false"}
        )
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Field.text("username"),
            Field.text("password"),
            Submit("submit", "Sign in"),
        )

    def clean_username(self) -> str:
        return normalise_email(self.cleaned_data.get("username") or "")

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except forms.ValidationError:
            if getattr(self.request, "axes_locked_out", False):
                # django-axes refused (or has just started refusing) these attempts. The
                # lockout is by e-mail address and network address whether or not the
                # account exists, and the message says nothing about the account.
                raise forms.ValidationError(LOCKED_OUT_MESSAGE, code="locked_out") from None
            raise


LOCKED_OUT_MESSAGE = (
    "You have tried to sign in too many times. Wait before trying again, or ask your "
    "agency's administrator to unlock your account."
)


class TwoFactorCodeForm(Form):
    """One code: from the authenticator app, or (when signing in) a recovery code.

    ``check`` is given the code and returns an error message, or "" if it was right.
    """

    code = forms.CharField(max_length=40, strip=True)

    def __init__(
        self,
        *args: Any,
        check: Callable[[str], str],
        label: str,
        hint: str,
        button: str,
        numeric: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.check = check
        field = self.fields["code"]
        field.label = label
        field.help_text = hint
        field.error_messages["required"] = "Enter the code."
        field.widget.attrs.update(
            {"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "none"}
        )
        if numeric:
            field.widget.attrs["inputmode"] = "numeric"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(Field.text("code", field_width=10), Submit("submit", button))

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        error = self.check(code)
        if error:
            raise forms.ValidationError(error)
        return code


RESERVED_ADDRESS_MESSAGE = (
    "This address is named as a partnership admin's: only a partnership admin can give it "
    "to an account."
)


def _admin_email_check(form: forms.ModelForm, email: str) -> None:
    """The address is new, and not one that would make its holder a partnership admin
    unless a partnership admin gives it (``form.actor`` is set by the admin)."""
    others = User.objects.filter(email__iexact=email)
    if form.instance.pk is not None:
        others = others.exclude(pk=form.instance.pk)
    if others.exists():
        raise forms.ValidationError("A person with this e-mail address already exists.")
    actor = getattr(form, "actor", None)
    unchanged = form.instance.pk is not None and normalise_email(form.instance.email) == email
    if actor is not None and not unchanged and not may_assign_address(actor, email):
        raise forms.ValidationError(RESERVED_ADDRESS_MESSAGE)


class AdminUserCreationForm(forms.ModelForm):
    """Used by the admin to add a person: their details and a first password."""

    # The admin signed in, set by the ModelAdmin: what they may give depends on them.
    actor: User | None = None

    password1 = forms.CharField(
        label="Password",
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput,
    )
    password2 = forms.CharField(
        label="Password confirmation",
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput,
        help_text="Enter the same password again.",
    )

    class Meta:
        model = User
        fields = ("email", "name", "agency", "role", "job_title")

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        _admin_email_check(self, email)
        return email

    def clean_password2(self) -> str:
        password1 = self.cleaned_data.get("password1")
        password2 = self.cleaned_data.get("password2")
        if password1 and password2 and password1 != password2:
            raise forms.ValidationError("The two passwords do not match.")
        return password2 or ""

    def _post_clean(self) -> None:
        super()._post_clean()
        password = self.cleaned_data.get("password2")
        if password:
            try:
                password_validation.validate_password(password, self.instance)
            except forms.ValidationError as error:
                self.add_error("password2", error)

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        user.set_password(self.cleaned_data["password1"])
        if commit:
            user.save()
        return user


class AdminUserChangeForm(UserChangeForm):
    """The admin's change form; its password field links to the reset-password page."""

    actor: User | None = None

    class Meta:
        model = User
        fields = ("email", "name", "agency", "role", "job_title", "is_active", "password")

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        _admin_email_check(self, email)
        return email


class ConfigurationChangeFilterForm(Form):
    """The configuration changes page's filter (a GET form)."""

    agency = forms.ModelChoiceField(
        label="Agency affected",
        queryset=Agency.objects.none(),
        required=False,
        empty_label="Any agency",
    )

    def __init__(self, *args: Any, agencies: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agency"].queryset = agencies
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.form_method = "get"
        self.helper.layout = Layout(
            Field.select("agency"),
            Submit("filter", "Filter", css_class="govuk-button--secondary"),
        )

    def chosen_agency(self) -> Agency | None:
        """The chosen agency, or None (no choice, or one that is not offered)."""
        if self.is_bound and self.is_valid():
            return self.cleaned_data["agency"]
        return None


class SecondFactorResetRequestForm(Form):
    """An admin asks to reset someone's second factor (the admin's own page)."""

    reason = forms.CharField(
        label="Why?",
        help_text="For example: lost their phone, and I have spoken to them by phone.",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give the reason for the reset."},
    )
