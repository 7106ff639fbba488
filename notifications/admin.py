"""Configuration pages for the protocol rules, and a read-only view of notifications.

Rules are saved through ``rule_save_with_version`` so every change is kept with who
made it and when; only partnership admins change them. Notifications are records of
what happened: admins can look, filter and find the problems (no recipient
configured), not edit, and see nothing about the child (an agency admin only their own
agency's).

The contact and agency pages get a flag for contacts without an e-mail address whose
agency kind an active e-mail rule writes to. The accounts app sits below notifications
and must not import it, so the flag is added here, by extending the accounts admin
classes, rather than there.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, Exists, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from missingkids.accounts import access
from missingkids.accounts.admin import AgencyAdmin, ContactAdmin
from missingkids.accounts.models import Agency, Contact
from missingkids.admin_search import SearchMixin

from .engine import ROLE_AGENCY_KINDS
from .models import DeliveryAttempt, EmailRequeue, Notification, Rule, RuleVersion
from .rules import rule_save_with_version
from .sending import requeue_email

# Rules ----------------------------------------------------------------------------------


class RuleVersionInline(admin.TabularInline):
    model = RuleVersion
    extra = 0
    can_delete = False
    fields = ["version", "changed_at", "changed_by", "data"]
    readonly_fields = fields
    ordering = ["-version"]
    verbose_name = "change"
    verbose_name_plural = "history of changes"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Rule)
class RuleAdmin(SearchMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "step",
        "condition",
        "teller",
        "recipient",
        "due_after_hours",
        "send_email",
        "active",
        "statutory",
        "version",
    ]
    list_filter = [
        "step",
        "condition",
        "teller",
        "recipient",
        "send_email",
        "active",
        "statutory",
    ]
    search_fields = ["name", "basis"]
    readonly_fields = [
        "statutory",
        "switched_off_at",
        "switched_off_by",
        "version",
        "updated_at",
        "updated_by",
    ]
    list_select_related = ["updated_by"]
    inlines = [RuleVersionInline]
    fieldsets = (
        (None, {"fields": ("name", "step", "statutory")}),
        (
            "Switched on or off",
            {
                "fields": ("active", "switched_off_reason", "switched_off_at", "switched_off_by"),
                "description": "A rule shipped by default (statutory) is switched off only "
                "with a reason: every manager sees it on their dashboard, and the managers "
                "of the agencies it concerns and the partnership admins are e-mailed.",
            },
        ),
        (
            "When it applies",
            {"fields": ("condition", "risk_at_least", "threshold_count", "threshold_days")},
        ),
        ("Who tells whom", {"fields": ("teller", "recipient", "use_out_of_hours_contact")}),
        (
            "By when and how",
            {"fields": ("due_after_hours", "due_after_hours_if_high_risk", "send_email")},
        ),
        ("What and why", {"fields": ("message", "basis")}),
        ("Version", {"fields": ("version", "updated_at", "updated_by")}),
    )

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        rule_save_with_version(rule=obj, acting_user=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Notifications point at their rule and version: untick "active" instead.
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        warn_about_problems(request)
        warn_about_failing_emails(request)
        return super().changelist_view(request, extra_context)


# Notifications --------------------------------------------------------------------------


class ProblemFilter(admin.SimpleListFilter):
    title = "problem"
    parameter_name = "problem"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "No recipient configured"), ("no", "No problem")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.exclude(problem="")
        if self.value() == "no":
            return queryset.filter(problem="")
        return queryset


def open_problems(request: HttpRequest) -> QuerySet[Notification]:
    """Notifications still due that found nobody to tell, that this admin may see."""
    return (
        Notification.objects.exclude(problem="")
        .filter(status=Notification.Status.DUE)
        .filter(access.agency_rows_filter(request.user, "recipient_agency", "responsible_agency"))
    )


def warn_about_problems(request: HttpRequest) -> None:
    count = open_problems(request).count()
    if count:
        url = reverse("admin:notifications_notification_changelist")
        messages.warning(
            request,
            format_html(
                '{} notification(s) have no recipient configured. <a href="{}">See them</a> '
                "and add the missing agency or contact.",
                count,
                f"{url}?problem=yes&status__exact=due",
            ),
        )


def failing_emails(user: Any) -> QuerySet[Notification]:
    """Notification e-mails that failed and are still due, that this admin may see."""
    return Notification.objects.filter(
        delivery=Notification.Delivery.FAILED, status=Notification.Status.DUE
    ).filter(access.agency_rows_filter(user, "recipient_agency", "responsible_agency"))


def failing_emails_url() -> str:
    url = reverse("admin:notifications_notification_changelist")
    return f"{url}?delivery__exact=failed&status__exact=due"


def warn_about_failing_emails(request: HttpRequest) -> None:
    count = failing_emails(request.user).count()
    if count:
        messages.warning(
            request,
            format_html(
                '{} notification e-mail(s) failed. <a href="{}">See them</a>, correct the '
                "contact's address and queue them again.",
                count,
                failing_emails_url(),
            ),
        )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["attempted_at", "succeeded", "error", "worker"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EmailRequeueInline(admin.TabularInline):
    model = EmailRequeue
    extra = 0
    can_delete = False
    fields = ["requeued_at", "requeued_by", "previous_error", "address_changed"]
    readonly_fields = fields
    verbose_name = "queued again"
    verbose_name_plural = "queued again after failing"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(SearchMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "step",
        "recipient_role",
        "recipient_agency",
        "responsible_agency",
        "due_at",
        "status",
        "delivery",
        "problem_text",
    ]
    list_filter = [
        "status",
        "delivery",
        "step",
        ProblemFilter,
        ("recipient_agency", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["recipient_agency", "responsible_agency"]
    date_hierarchy = "due_at"
    inlines = [DeliveryAttemptInline, EmailRequeueInline]
    actions = ["queue_again"]
    # What an admin needs to put a recipient right, and nothing about the child: not
    # the episode or child (whose names are the links' text), nor what was told to
    # whom, notes, reasons, late facts or who acknowledged, all typed about a case.
    fields = [
        "rule",
        "rule_version",
        "step",
        "recipient_role",
        "recipient_agency",
        "recipient_contact",
        "recipient_name",
        "recipient_email",
        "problem",
        "responsible_agency",
        "due_at",
        "status",
        "method",
        "told_at",
        "acknowledged_at",
        "delivery",
        "attempt_count",
        "next_attempt_at",
        "failing_since",
        "last_error",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        # An agency admin sees the notifications their agency must make or receive.
        return (
            super()
            .get_queryset(request)
            .filter(
                access.agency_rows_filter(request.user, "recipient_agency", "responsible_agency")
            )
        )

    @admin.display(description="Problem")
    def problem_text(self, obj: Notification) -> str | None:
        return obj.problem or None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        warn_about_problems(request)
        warn_about_failing_emails(request)
        return super().changelist_view(request, extra_context)

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return access.is_partnership_admin(request.user)

    @admin.action(
        description="Queue failed e-mails again, to the contacts' current addresses",
        permissions=["requeue"],
    )
    def queue_again(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        # The action is offered to partnership admins only; the check is repeated for a
        # forged post, and the queryset is the admin's own scope.
        if not access.is_partnership_admin(request.user):
            raise PermissionDenied("Only partnership admins can queue e-mails again.")
        queued = skipped = 0
        for notification in queryset.select_related("recipient_contact", "recipient_agency"):
            if requeue_email(notification, by=request.user):
                queued += 1
            else:
                skipped += 1
        if queued:
            messages.success(request, f"{queued} e-mail(s) queued again.")
        if skipped:
            messages.info(
                request, f"{skipped} not queued: they had not failed, or are no longer due."
            )


# Contacts an e-mail rule cannot reach ------------------------------------------------


def email_rule_kinds() -> set[str]:
    """Agency kinds that an active rule e-mails automatically."""
    roles = Rule.objects.filter(active=True, send_email=True).values_list("recipient", flat=True)
    return {ROLE_AGENCY_KINDS[role] for role in set(roles) if role in ROLE_AGENCY_KINDS}


def _email_rule_for_kind() -> Case:
    """True for rows whose agency kind an active e-mail rule writes to, in one query."""
    whens = []
    for kind in set(ROLE_AGENCY_KINDS.values()):
        roles = [role for role, k in ROLE_AGENCY_KINDS.items() if k == kind]
        rules = Rule.objects.filter(active=True, send_email=True, recipient__in=roles)
        whens.append(When(Q(agency__kind=kind) & Q(Exists(rules)), then=Value(True)))
    return Case(*whens, default=Value(False), output_field=BooleanField())


def _no_email_warning(contact_names: list[str], agency: Agency) -> str:
    fallback = (
        "automatic e-mails go to the agency's shared mailbox instead"
        if agency.email
        else "automatic e-mails cannot reach them"
    )
    return (
        f"No e-mail address for {', '.join(contact_names)}: a rule e-mails "
        f"{agency.get_kind_display().lower()} contacts, and {fallback}."
    )


class ContactWithEmailFlagAdmin(ContactAdmin):
    list_display = [*ContactAdmin.list_display, "email_flag"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return super().get_queryset(request).annotate(_email_rule=_email_rule_for_kind())

    @admin.display(description="E-mail rule")
    def email_flag(self, obj: Contact) -> str:
        if not obj.email and getattr(obj, "_email_rule", False):
            return "Needs an e-mail address"
        return ""

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # Through the admin's own (scoped) lookup: nothing about a contact the admin may
        # not manage, and a malformed id is simply not found.
        contact = self.get_object(request, object_id)
        if (
            request.method == "GET"
            and contact is not None
            and not contact.email
            and contact.agency.kind in email_rule_kinds()
        ):
            messages.warning(request, _no_email_warning([contact.name], contact.agency))
        return super().change_view(request, object_id, form_url, extra_context)


class AgencyWithEmailFlagAdmin(AgencyAdmin):
    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        agency = self.get_object(request, object_id)
        if request.method == "GET" and agency is not None and agency.kind in email_rule_kinds():
            names = list(
                agency.contacts.filter(email="", active=True).values_list("name", flat=True)
            )
            if names:
                messages.warning(request, _no_email_warning(names, agency))
        return super().change_view(request, object_id, form_url, extra_context)


admin.site.unregister(Contact)
admin.site.register(Contact, ContactWithEmailFlagAdmin)
admin.site.unregister(Agency)
admin.site.register(Agency, AgencyWithEmailFlagAdmin)
