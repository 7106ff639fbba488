"""Configuration pages for admins: agencies, their contacts, areas and people."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from .forms import AdminUserChangeForm, AdminUserCreationForm
from .models import Agency, Contact, LocalAuthorityArea, User

admin.site.site_header = "Missing children: configuration"
admin.site.site_title = "Missing children configuration"
admin.site.index_title = "Agencies, people and protocol rules"


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
    fields = ["name", "kind", "areas", "address", "phone", "email", "active"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agency]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related("areas")
            .annotate(_contact_count=Count("contacts", distinct=True))
            # The annotation drops Meta.ordering; autocomplete needs a stable order.
            .order_by("name")
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


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = AdminUserChangeForm
    add_form = AdminUserCreationForm
    list_display = ["name", "email", "agency", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active", "agency__kind", "agency"]
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
