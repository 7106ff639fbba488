"""Configuration pages for admins: agencies, their contacts, areas and people.

What each kind of admin may do is decided in ``access``: every class here takes its
list, its form's choices and its save checks from there, so a forged POST meets the
same rule as the form.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.contrib.admin import widgets as admin_widgets
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, ForeignKey, QuerySet
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from missingkids.admin_search import SearchMixin
from missingkids.forms import RecordsChoiceField, could_be_id

from . import access, configuration, resets
from .forms import AdminUserChangeForm, AdminUserCreationForm, SecondFactorResetRequestForm
from .models import (
    Agency,
    ConfigurationChange,
    Contact,
    LocalAuthorityArea,
    SecondFactorReset,
    User,
)

Kind = ConfigurationChange.Kind


class AutocompleteSelect(admin_widgets.AutocompleteSelect):
    """Django's, drawing a forged or mistyped choice ("abc", a 20-digit number) as no
    choice, with the form's "Select a valid choice" message by it, instead of passing
    it to the database and failing."""

    def optgroups(self, name: str, value: Any, attr: Any = None) -> Any:
        return super().optgroups(name, [v for v in value if could_be_id(v)], attr)


class SafeAutocompleteMixin:
    """Autocomplete fields drawn with the AutocompleteSelect above, and several records
    chosen by id checked for ids no record can have before the database is asked."""

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs.setdefault("form_class", RecordsChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):  # type: ignore[attr-defined]
            kwargs["widget"] = AutocompleteSelect(
                db_field,
                self.admin_site,  # type: ignore[attr-defined]
                using=kwargs.get("using"),
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


def change_history_table(changes: list[ConfigurationChange]) -> SafeString | str:
    """A configuration change history as a small table: when, who, what changed."""
    if not changes:
        return "No changes recorded yet."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
        (
            (
                timezone.localtime(change.changed_at).strftime("%d/%m/%Y %H:%M"),
                change.changed_by.name if change.changed_by else "The service",
                change.get_action_display(),
                change.subject,
                format_html_join(
                    mark_safe("<br>"),
                    "{}: {} → {}",
                    (
                        (item["field"], item["before"] or "(none)", item["after"] or "(none)")
                        for item in change.changes
                    ),
                ),
            )
            for change in changes
        ),
    )
    return format_html(
        "<table><thead><tr><th>When</th><th>Who</th><th>What</th><th>Before → after</th>"
        "</tr></thead><tbody>{}</tbody></table>",
        rows,
    )


@admin.register(LocalAuthorityArea)
class LocalAuthorityAreaAdmin(SearchMixin, admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 1
    fields = [
        "name",
        "role_title",
        "email",
        "phone",
        "out_of_hours",
        "notification_role",
        "is_default",
        "active",
    ]


@admin.register(Agency)
class AgencyAdmin(SearchMixin, SafeAutocompleteMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "annex_a_code", "area_names", "contact_count", "active"]
    list_filter = ["kind", "active", "areas"]
    search_fields = ["name", "contacts__name", "contacts__email"]
    filter_horizontal = ["areas"]
    inlines = [ContactInline]
    fields = ["name", "kind", "areas", "address", "phone", "email", "active", "change_history"]
    readonly_fields = ["change_history"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agency]:
        agencies = super().get_queryset(request)
        if not access.is_partnership_admin(request.user):
            agencies = agencies.filter(pk__in=access.agencies_managed_by(request.user))
        return (
            agencies.prefetch_related("areas")
            .annotate(_contact_count=Count("contacts", distinct=True))
            # The annotation drops Meta.ordering; autocomplete needs a stable order.
            .order_by("name")
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if not access.is_partnership_admin(request.user):
            # An agency admin keeps their agency's contact details; what it is and which
            # areas it serves (and so which children its people see) are the partnership's.
            readonly += [
                field
                for field in self.fields
                if field not in access.AGENCY_FIELDS_FOR_AGENCY_ADMINS and field not in readonly
            ]
        return readonly

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        return fields if obj is not None else [f for f in fields if f != "change_history"]

    @admin.display(description="History of changes")
    def change_history(self, obj: Agency) -> SafeString | str:
        """The agency's and its contacts' changes, newest first."""
        changes = (
            ConfigurationChange.objects.filter(
                kind__in=[Kind.AGENCY, Kind.CONTACT], agencies=obj.pk
            ).select_related("changed_by")
            if obj.pk
            else []
        )
        return change_history_table(list(changes))

    def save_model(self, request: HttpRequest, obj: Agency, form: Any, change: bool) -> None:
        if not access.may_manage_agency(request.user, obj.pk):
            raise PermissionDenied
        # The agency, its areas and its contacts as they stand before anything is saved;
        # save_related (which saves the areas and the contacts after this) compares.
        request._configuration_before = (  # type: ignore[attr-defined]
            configuration.agency_snapshot_from_database(obj.pk),
            configuration.contact_snapshots_of_agency(obj.pk),
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        agency = form.instance
        before, contacts_before = getattr(request, "_configuration_before", (None, {}))
        configuration.configuration_change_record(
            kind=Kind.AGENCY,
            object_id=agency.pk,
            subject=agency.name,
            before=before,
            after=configuration.agency_snapshot(agency),
            agencies=[agency],
            acting_user=request.user,
        )
        contacts_after = configuration.contact_snapshots_of_agency(agency.pk)
        for contact_id in sorted(set(contacts_before) | set(contacts_after)):
            old = contacts_before.get(contact_id)
            new = contacts_after.get(contact_id)
            configuration.configuration_change_record(
                kind=Kind.CONTACT,
                object_id=contact_id,
                subject=configuration.contact_subject(new or old),
                before=old,
                after=new,
                agencies=[agency],
                acting_user=request.user,
            )

    @admin.display(description="Annex A code")
    def annex_a_code(self, obj: Agency) -> str:
        return obj.annex_a_code

    @admin.display(description="Areas served")
    def area_names(self, obj: Agency) -> str:
        return ", ".join(area.name for area in obj.areas.all())

    @admin.display(description="Contacts", ordering="_contact_count")
    def contact_count(self, obj: Agency) -> int:
        return obj._contact_count  # type: ignore[attr-defined]


@admin.register(Contact)
class ContactAdmin(SearchMixin, SafeAutocompleteMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "role_title",
        "agency",
        "email",
        "phone",
        "out_of_hours",
        "notification_role",
        "is_default",
        "active",
    ]
    list_filter = [
        "active",
        "out_of_hours",
        "notification_role",
        "is_default",
        "agency__kind",
        "agency",
    ]
    search_fields = ["name", "role_title", "email", "agency__name"]
    autocomplete_fields = ["agency"]
    list_select_related = ["agency"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        contacts = super().get_queryset(request)
        if access.is_partnership_admin(request.user):
            return contacts
        return contacts.filter(agency__in=access.agencies_managed_by(request.user))

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        if access.is_partnership_admin(request.user):
            return list(self.list_filter)
        return [f for f in self.list_filter if f not in ("agency", "agency__kind")]

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "agency":
            kwargs["queryset"] = access.agencies_managed_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    readonly_fields = ["change_history"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [f for f in super().get_fields(request, obj) if f != "change_history"]
        return [*fields, "change_history"] if obj is not None else fields

    @admin.display(description="History of changes")
    def change_history(self, obj: Contact) -> SafeString | str:
        return change_history_table(configuration.object_history(Kind.CONTACT, obj.pk))

    def save_model(self, request: HttpRequest, obj: Contact, form: Any, change: bool) -> None:
        # The form offers only the admin's own agencies; contact_save refuses a forged
        # one, and moving someone else's contact (the list already hides it), and records
        # the change as the service's own configuration pages do.
        from configuration.actions import contact_save

        contact_save(contact=obj, acting_user=request.user)

    def delete_model(self, request: HttpRequest, obj: Contact) -> None:
        self._record_removal(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        for contact in queryset.select_related("agency"):
            self._record_removal(request, contact)
        super().delete_queryset(request, queryset)

    def _record_removal(self, request: HttpRequest, contact: Contact) -> None:
        before = configuration.contact_snapshot(contact)
        configuration.configuration_change_record(
            kind=Kind.CONTACT,
            object_id=contact.pk,
            subject=configuration.contact_subject(before),
            before=before,
            after=None,
            agencies=[contact.agency_id],
            acting_user=request.user,
        )


@admin.register(User)
class UserAdmin(SearchMixin, SafeAutocompleteMixin, BaseUserAdmin):
    form = AdminUserChangeForm
    add_form = AdminUserCreationForm
    list_display = ["name", "email", "agency", "role", "is_active", "last_login"]
    list_filter = [
        "role",
        "is_active",
        "agency__kind",
        ("agency", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["name", "email", "agency__name"]
    ordering = ["name"]
    autocomplete_fields = ["agency"]
    list_select_related = ["agency"]
    readonly_fields = ["second_factor", "last_login", "date_joined", "change_history"]
    filter_horizontal = ()
    fieldsets = (
        (None, {"fields": ("email", "name", "job_title", "password")}),
        ("Agency and role", {"fields": ("agency", "role", "is_active")}),
        ("Signing in", {"fields": ("second_factor",)}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
        ("History of changes", {"fields": ("change_history",)}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "name",
                    "job_title",
                    "agency",
                    "role",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # The users connected systems act as are managed on the system's page (api).
        people = super().get_queryset(request).exclude(email__iendswith=access.SERVICE_USER_SUFFIX)
        if access.is_partnership_admin(request.user):
            return people
        return people.filter(pk__in=access.people_managed_by(request.user).values("pk"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk == request.user.pk:
            readonly += access.OWN_ACCOUNT_LOCKED_FIELDS
        return readonly

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        if not access.is_partnership_admin(request.user):
            initial.setdefault("agency", request.user.agency_id)
        return initial

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user  # for the address check (see AdminUserCreationForm)
        return form

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "agency":
            kwargs["queryset"] = access.agencies_managed_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "role":
            kwargs["choices"] = access.roles_assignable_by(request.user)
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        # The same checks and record as the service's own configuration pages.
        from configuration.actions import person_save

        person_save(person=obj, acting_user=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # People are deactivated, never deleted: the access log and the records they
        # made keep naming them.
        return False

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Django's page for setting a password (the person is found through
        get_queryset, so out of reach is a 404), then logged and told to the person."""
        response = super().user_change_password(request, id, form_url)
        expected = reverse("admin:accounts_user_change", args=[unquote(id)])
        if request.method == "POST" and getattr(response, "url", None) == expected:
            person = self.get_object(request, unquote(id))
            if person is not None:
                resets.password_set_record(person=person, acting_user=request.user, request=request)
        return response

    @admin.display(description="History of changes")
    def change_history(self, obj: User) -> SafeString | str:
        return change_history_table(configuration.object_history(Kind.PERSON, obj.pk))

    # Second factor ------------------------------------------------------------------

    @admin.display(description="Second factor")
    def second_factor(self, obj: User) -> SafeString | str:
        if obj.pk is None:
            return ""
        status = (
            "Authenticator app set up."
            if resets.has_second_factor(obj)
            else "Not set up yet: they set it up at their next sign-in."
        )
        pending = resets.pending_second_factor_reset(obj)
        if pending is not None:
            status += f" A reset asked for by {pending.requested_by.name} is waiting for approval."
        url = reverse("admin:accounts_user_second_factor", args=[obj.pk])
        return format_html('{} <a href="{}">Reset the second factor</a>', status, url)

    def get_urls(self) -> list[URLPattern]:
        page = path(
            "<path:object_id>/second-factor/",
            self.admin_site.admin_view(self.second_factor_view),
            name="accounts_user_second_factor",
        )
        return [page, *super().get_urls()]

    def second_factor_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Ask for a reset of someone's second factor, or approve or cancel one.

        The actions (missingkids.accounts.resets) check who may: a forged POST is a 403.
        """
        person = self.get_object(request, unquote(object_id))
        if person is None:
            raise Http404("No such person")
        if not self.has_view_or_change_permission(request, person):
            raise PermissionDenied
        pending = resets.pending_second_factor_reset(person)
        action = request.POST.get("action", "") if request.method == "POST" else ""
        form = SecondFactorResetRequestForm(request.POST if action == "request" else None)
        here = reverse("admin:accounts_user_second_factor", args=[person.pk])
        try:
            if action == "request" and form.is_valid():
                resets.second_factor_reset_request(
                    person=person,
                    acting_user=request.user,
                    reason=form.cleaned_data["reason"],
                    request=request,
                )
                messages.success(
                    request,
                    f"Reset asked for. A second admin must approve it; {person.name} and the "
                    "partnership admins have been e-mailed.",
                )
                return HttpResponseRedirect(here)
            if action in ("approve", "cancel"):
                if pending is None or str(pending.pk) != request.POST.get("reset"):
                    messages.error(request, "That reset is no longer waiting.")
                    return HttpResponseRedirect(here)
                if action == "approve":
                    resets.second_factor_reset_approve(
                        reset=pending, acting_user=request.user, request=request
                    )
                    messages.success(
                        request,
                        f"Second factor reset: {person.name} sets up a new one at their next "
                        "sign-in, and has been signed out everywhere.",
                    )
                else:
                    resets.second_factor_reset_cancel(
                        reset=pending, acting_user=request.user, request=request
                    )
                    messages.success(request, "Reset cancelled.")
                return HttpResponseRedirect(here)
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": person,
            "title": f"Second factor: {person.name}",
            "person": person,
            "has_second_factor": resets.has_second_factor(person),
            "pending": pending,
            "may_request": pending is None
            and access.may_request_second_factor_reset(request.user, person),
            "may_approve": pending is not None
            and access.may_approve_second_factor_reset(request.user, pending),
            "may_cancel": pending is not None
            and access.may_cancel_second_factor_reset(request.user, pending),
            "form": form,
            "history": person.second_factor_resets.select_related(
                "requested_by", "approved_by", "cancelled_by"
            )[:10],
        }
        return TemplateResponse(request, "admin/accounts/user/second_factor.html", context)


@admin.register(SecondFactorReset)
class SecondFactorResetAdmin(SearchMixin, admin.ModelAdmin):
    """Second-factor resets asked for, waiting, done or cancelled: a record, read-only.
    Asking, approving and cancelling are on the person's own second-factor page."""

    list_display = [
        "person_link",
        "person_agency",
        "requested_by",
        "requested_at",
        "status_text",
        "approved_by",
        "approved_at",
    ]
    list_select_related = ["person__agency", "requested_by", "approved_by"]
    search_fields = ["person__name", "person__email", "requested_by__name"]
    date_hierarchy = "requested_at"
    fields = [
        "person",
        "reason",
        "requested_by",
        "requested_at",
        "approved_by",
        "approved_at",
        "cancelled_by",
        "cancelled_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[SecondFactorReset]:
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=access.second_factor_resets_visible_to(request.user).values("pk"))
        )

    @admin.display(description="Person", ordering="person__name")
    def person_link(self, obj: SecondFactorReset) -> SafeString:
        url = reverse("admin:accounts_user_second_factor", args=[obj.person_id])
        return format_html('<a href="{}">{}</a>', url, obj.person.name)

    @admin.display(description="Agency")
    def person_agency(self, obj: SecondFactorReset) -> str:
        return obj.person.agency.name

    @admin.display(description="Status")
    def status_text(self, obj: SecondFactorReset) -> str:
        return obj.get_status_display()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AccessAttemptAdmin(SearchMixin, AxesAccessAttemptAdmin):
    """Lockouts (django-axes): an agency admin sees and clears those of their own people."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessAttempt]:
        attempts = super().get_queryset(request)
        if access.is_partnership_admin(request.user):
            return attempts
        return attempts.filter(username__in=access.usernames_managed_by(request.user))


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)
