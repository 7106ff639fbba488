"""Configuration pages for admins: agencies, their contacts, areas and people.

What each kind of admin may do is decided in ``access``: every class here takes its
list, its form's choices and its save checks from there, so a forged POST meets the
same rule as the form.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, ForeignKey, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from . import access, configuration
from .forms import AdminUserChangeForm, AdminUserCreationForm
from .models import Agency, ConfigurationChange, Contact, LocalAuthorityArea, User

Kind = ConfigurationChange.Kind

admin.site.site_header = "Missing children: configuration"
admin.site.site_title = "Missing children configuration"
admin.site.index_title = "Agencies, people and protocol rules"


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
class LocalAuthorityAreaAdmin(admin.ModelAdmin):
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
class AgencyAdmin(admin.ModelAdmin):
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
class ContactAdmin(admin.ModelAdmin):
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
        # The form offers only the admin's own agencies; this refuses a forged one, and
        # moving someone else's contact (the list already hides it).
        stored = Contact.objects.select_related("agency").filter(pk=obj.pk).first()
        before_agency = stored.agency_id if stored else None
        for agency_id in {obj.agency_id, before_agency} - {None}:
            if not access.may_manage_agency(request.user, agency_id):
                raise PermissionDenied
        before = configuration.contact_snapshot(stored) if stored else None
        super().save_model(request, obj, form, change)
        after = configuration.contact_snapshot(obj)
        configuration.configuration_change_record(
            kind=Kind.CONTACT,
            object_id=obj.pk,
            subject=configuration.contact_subject(after),
            before=before,
            after=after,
            agencies={obj.agency_id, before_agency} - {None},
            acting_user=request.user,
        )

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
class UserAdmin(BaseUserAdmin):
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
    readonly_fields = ["last_login", "date_joined"]
    filter_horizontal = ()
    fieldsets = (
        (None, {"fields": ("email", "name", "job_title", "password")}),
        ("Agency and role", {"fields": ("agency", "role", "is_active")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
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
        people = super().get_queryset(request)
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
        access.person_save_check(actor=request.user, person=obj)
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # People are deactivated, never deleted: the access log and the records they
        # made keep naming them.
        return False


class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """Lockouts (django-axes): an agency admin sees and clears those of their own people."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessAttempt]:
        attempts = super().get_queryset(request)
        if access.is_partnership_admin(request.user):
            return attempts
        return attempts.filter(username__in=access.usernames_managed_by(request.user))


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)
