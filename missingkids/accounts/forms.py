from __future__ import annotations

from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Submit
from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, UserChangeForm

from .models import User, normalise_email


class SignInForm(AuthenticationForm):
    """E-mail and password. A failure says the same thing whatever was wrong."""

    error_messages = {
        "invalid_login": "Enter a correct e-mail address and password.",
        "inactive": "Enter a correct e-mail address and password.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "E-mail address"
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


class AdminUserCreationForm(forms.ModelForm):
    """Used by the admin to add a person: their details and a first password."""

    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(
        label="Password confirmation",
        strip=False,
        widget=forms.PasswordInput,
        help_text="Enter the same password again.",
    )

    class Meta:
        model = User
        fields = ("email", "name", "agency", "role", "job_title")

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A person with this e-mail address already exists.")
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

    class Meta:
        model = User
        fields = ("email", "name", "agency", "role", "job_title", "is_active", "password")

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("A person with this e-mail address already exists.")
        return email
