"""The configuration pages' forms. Each offers only what the admin may choose (the
agencies, roles and fields ``missingkids.accounts.access`` allows them); the actions in
``configuration.actions`` refuse a forged form that asks for more."""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Fieldset, Layout, Size, Submit
from django import forms

from missingkids.accounts import access
from missingkids.accounts.forms import RESERVED_ADDRESS_MESSAGE
from missingkids.accounts.models import Agency, Contact, LocalAuthorityArea, User, normalise_email
from missingkids.forms import Form, PlainLimitsMixin, RecordsChoiceField
from notifications.defaults import VERSIONED_FIELDS
from notifications.models import Notification, Rule, Step


def _helper(*fields: Any, submit: str) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    helper.layout = Layout(*fields, Submit("submit", submit))
    return helper


def _filter_helper(*fields: Any) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    helper.disable_csrf = True
    helper.form_method = "get"
    helper.layout = Layout(*fields, Submit("filter", "Filter", css_class="govuk-button--secondary"))
    return helper


class ModelForm(PlainLimitsMixin, forms.ModelForm):
    """The service's model form: plain length limits, GOV.UK layout."""


# People ------------------------------------------------------------------------------

ACTIVE_CHOICES = [("", "Active or not"), ("yes", "Active"), ("no", "Not active")]


class PeopleFilterForm(Form):
    q = forms.CharField(label="Name or e-mail address", max_length=200, required=False)
    agency = forms.ModelChoiceField(
        label="Agency", queryset=Agency.objects.none(), required=False, empty_label="Any agency"
    )
    role = forms.ChoiceField(
        label="Role", choices=[("", "Any role"), *User.Role.choices], required=False
    )
    active = forms.ChoiceField(label="Active", choices=ACTIVE_CHOICES, required=False)

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agency"].queryset = access.agencies_managed_by(actor).order_by("name")
        self.helper = _filter_helper(
            Field.text("q"), Field.select("agency"), Field.select("role"), Field.select("active")
        )


class PersonForm(ModelForm):
    """A person's name, e-mail address, agency, role and whether they may sign in.

    No password: a new person sets theirs with "Forgotten your password?". Nobody
    changes their own agency, role or whether they are active."""

    class Meta:
        model = User
        fields = ("name", "email", "job_title", "agency", "role", "is_active")
        labels = {"is_active": "Active: they may sign in"}
        error_messages = {
            "name": {"required": "Enter the person's name"},
            "email": {"required": "Enter the person's e-mail address"},
            "agency": {"required": "Choose the person's agency"},
        }

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["agency"].queryset = access.agencies_managed_by(actor).order_by("name")
        self.fields["agency"].empty_label = None if not actor.is_partnership_admin else ""
        self.fields["role"].choices = access.roles_assignable_by(actor)
        self.fields["is_active"].help_text = "Untick to stop them signing in (nobody is deleted)."
        own = self.instance.pk is not None and self.instance.pk == actor.pk
        for name in access.OWN_ACCOUNT_LOCKED_FIELDS if own else ():
            del self.fields[name]
        if self.instance.pk is None:
            del self.fields["is_active"]
        layout = [Field.text("name"), Field.text("email", field_width=20), Field.text("job_title")]
        if "agency" in self.fields:
            layout += [Field.select("agency"), Field.radios("role", legend_size=Size.SMALL)]
        if "is_active" in self.fields:
            layout.append(Field.checkbox("is_active"))
        self.helper = _helper(*layout, submit="Save")

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        others = User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("A person with this e-mail address already exists.")
        unchanged = self.instance.pk is not None and normalise_email(self.instance.email) == email
        if not unchanged and not access.may_assign_address(self.actor, email):
            raise forms.ValidationError(RESERVED_ADDRESS_MESSAGE)
        return email


class SecondFactorResetForm(Form):
    reason = forms.CharField(
        label="Why should their second factor be reset?",
        help_text="For example: lost their phone, and I have spoken to them by phone.",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give the reason for the reset"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(Field.textarea("reason", rows=3), submit="Ask for a reset")


# Agencies and contacts -------------------------------------------------------------------


class AgencyFilterForm(Form):
    q = forms.CharField(label="Name", max_length=200, required=False)
    kind = forms.ChoiceField(
        label="Kind", choices=[("", "Any kind"), *Agency.Kind.choices], required=False
    )
    area = forms.ModelChoiceField(
        label="Area served",
        queryset=LocalAuthorityArea.objects.all(),
        required=False,
        empty_label="Any area",
    )
    active = forms.ChoiceField(label="Active", choices=ACTIVE_CHOICES, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _filter_helper(
            Field.text("q"), Field.select("kind"), Field.select("area"), Field.select("active")
        )


class AgencyForm(ModelForm):
    """All of an agency for a partnership admin; its address, phone and shared mailbox
    for its own agency admin."""

    areas = RecordsChoiceField(
        label="Areas served",
        queryset=LocalAuthorityArea.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one area the agency serves"},
    )

    class Meta:
        model = Agency
        fields = ("name", "kind", "areas", "address", "phone", "email", "active")
        labels = {"email": "Shared mailbox", "active": "Active"}
        error_messages = {
            "name": {"required": "Enter the agency's name"},
            "kind": {"required": "Choose the kind of agency"},
        }

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        partnership = access.is_partnership_admin(actor)
        if not partnership:
            for name in list(self.fields):
                if name not in access.AGENCY_FIELDS_FOR_AGENCY_ADMINS:
                    del self.fields[name]
        if self.instance.pk is None and "active" in self.fields:
            del self.fields["active"]
        layout: list[Any] = []
        if partnership:
            layout += [
                Field.text("name"),
                Field.select("kind"),
                Field.checkboxes("areas", legend_size=Size.SMALL),
            ]
        layout += [
            Field.textarea("address", rows=3),
            Field.text("phone", field_width=20),
            Field.text("email", field_width=20),
        ]
        if "active" in self.fields:
            layout.append(Field.checkbox("active"))
        self.helper = _helper(*layout, submit="Save")

    def area_ids(self) -> list[int] | None:
        if "areas" not in self.fields:
            return None
        return [area.pk for area in self.cleaned_data["areas"]]

    def _save_m2m(self) -> None:  # the areas are set by configuration.actions.agency_save
        return None


class ContactForm(ModelForm):
    class Meta:
        model = Contact
        fields = (
            "name",
            "role_title",
            "email",
            "phone",
            "out_of_hours",
            "notification_role",
            "is_default",
            "active",
        )
        labels = {"email": "E-mail address", "notification_role": "Role in the rules"}
        error_messages = {"name": {"required": "Enter the contact's name"}}

    def __init__(self, *args: Any, agency: Agency, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.agency = agency
        self.fields["notification_role"].choices = Contact.NotificationRole.choices
        self.helper = _helper(
            Field.text("name"),
            Field.text("role_title"),
            Field.text("email", field_width=20),
            Field.text("phone", field_width=20),
            Field.radios("notification_role", legend_size=Size.SMALL),
            Fieldset(
                Field.checkbox("is_default"),
                Field.checkbox("out_of_hours"),
                Field.checkbox("active"),
                legend="When they are told",
                legend_size=Size.SMALL,
            ),
            submit="Save the contact",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("email") and not data.get("phone") and "email" not in self.errors:
            self.add_error("email", "Give an e-mail address or a phone number")
        return data

    def validate_constraints(self) -> None:  # the check is clean()'s, by the field
        return None


# Areas ---------------------------------------------------------------------------------


class AreaForm(ModelForm):
    class Meta:
        model = LocalAuthorityArea
        fields = ("name", "code")
        error_messages = {
            "name": {
                "required": "Enter the area's name",
                "unique": "An area with this name already exists.",
            },
            "code": {
                "required": "Enter the area's ONS code",
                "unique": "An area with this ONS code already exists.",
            },
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(Field.text("name"), Field.text("code", field_width=10), submit="Save")


# Rules ---------------------------------------------------------------------------------

# Everything an admin can change on a rule (the fields its versions keep), and the reason
# a statutory rule was switched off.
RULE_FIELDS = (*VERSIONED_FIELDS, "switched_off_reason")


class RuleForm(ModelForm):
    """A rule's every setting; switching off a statutory rule needs a reason
    (``Rule.clean``)."""

    class Meta:
        model = Rule
        fields = RULE_FIELDS
        labels = {
            "due_after_hours": "Due after (hours)",
            "due_after_hours_if_high_risk": "Due after, if the child is high risk (hours)",
            "active": "Switched on",
        }
        error_messages = {
            "name": {"required": "Enter the rule's name"},
            "basis": {"required": "Say why this rule exists"},
            "due_after_hours": {"required": "Enter the number of hours, 0 for at once"},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("due_after_hours", "due_after_hours_if_high_risk"):
            self.fields[name].widget = forms.TextInput(attrs={"inputmode": "decimal"})
        for name in ("threshold_count", "threshold_days"):
            self.fields[name].widget = forms.TextInput(attrs={"inputmode": "numeric"})
        self.helper = _helper(
            Field.text("name"),
            Fieldset(
                Field.select("step"),
                Field.select("condition"),
                Field.select("risk_at_least"),
                Field.text("threshold_count", field_width=4),
                Field.text("threshold_days", field_width=4),
                legend="When it applies",
                legend_size=Size.SMALL,
            ),
            Fieldset(
                Field.select("teller"),
                Field.select("recipient"),
                Field.checkbox("use_out_of_hours_contact"),
                legend="Who tells whom",
                legend_size=Size.SMALL,
            ),
            Fieldset(
                Field.text("due_after_hours", field_width=5),
                Field.text("due_after_hours_if_high_risk", field_width=5),
                Field.checkbox("send_email"),
                legend="By when and how",
                legend_size=Size.SMALL,
            ),
            Field.text("message"),
            Field.textarea("basis", rows=3),
            Fieldset(
                Field.checkbox("active"),
                Field.textarea("switched_off_reason", rows=3),
                legend="Switched on or off",
                legend_size=Size.SMALL,
            ),
            submit="Continue",
        )


# Notifications and failed e-mails -------------------------------------------------------

PERIOD_CHOICES = [
    ("", "Any time"),
    ("7", "Due in the last 7 days"),
    ("30", "Due in the last 30 days"),
    ("90", "Due in the last 90 days"),
    ("365", "Due in the last year"),
]


class NotificationFilterForm(Form):
    """The notifications list's filter (a GET form). An agency admin sees only their
    own agency's notifications, so is offered no choice of agency."""

    agency = forms.ModelChoiceField(
        label="Agency (telling or told)",
        queryset=Agency.objects.none(),
        required=False,
        empty_label="Any agency",
    )
    status = forms.ChoiceField(label="Status", required=False)
    step = forms.ChoiceField(label="Step", required=False)
    problem = forms.ChoiceField(
        label="Problem",
        choices=[("", "With or without"), ("yes", "No recipient configured"), ("no", "No problem")],
        required=False,
    )
    period = forms.ChoiceField(label="Period", choices=PERIOD_CHOICES, required=False)

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *Notification.Status.choices]
        self.fields["step"].choices = [("", "Any step"), *Step.choices]
        fields = [Field.select("status"), Field.select("step"), Field.select("problem")]
        if access.is_partnership_admin(actor):
            self.fields["agency"].queryset = Agency.objects.order_by("name")
            fields.insert(0, Field.select("agency"))
        else:
            del self.fields["agency"]
        self.helper = _filter_helper(*fields, Field.select("period"))
