"""The notifications and failed e-mails, for admins, on the configuration pages.

Only what an admin needs to put a recipient right: the rule and step, who tells and who
is told (agency, contact, address), the status, delivery and times, and the problem or
the mail server's error. Never the child or the episode, nor what was told to whom,
notes, reasons, late facts or who acknowledged: all typed about a case.

A partnership admin sees every agency's; an agency admin those their agency must make
or receive (``access.agency_rows_filter``), and another agency's is not found. Only a
partnership admin queues a failed e-mail again (``notifications.sending.requeue_email``,
which keeps who did it and when).
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from missingkids.accounts import access
from notifications.models import Notification
from notifications.sending import can_be_requeued, requeue_email

from .forms import NotificationFilterForm
from .views import _get, _page, admin_required

D = Notification.Delivery
S = Notification.Status

# The notification's own columns an admin may see: nothing typed about the child.
SHOWN = (
    "id",
    "rule_id",
    "rule_version",
    "step",
    "recipient_role",
    "recipient_agency_id",
    "recipient_contact_id",
    "recipient_name",
    "recipient_email",
    "problem",
    "responsible_agency_id",
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
)
RELATED = {
    "rule": ("rule__id", "rule__name"),
    "recipient_agency": ("recipient_agency__id", "recipient_agency__name"),
    "responsible_agency": ("responsible_agency__id", "responsible_agency__name"),
    "recipient_contact": ("recipient_contact__id", "recipient_contact__name"),
}


def visible_notifications(user: object) -> QuerySet[Notification]:
    """The notifications this admin may see, with only the columns they may see
    (``only``: the case fields are never read from the database)."""
    return (
        Notification.objects.filter(
            access.agency_rows_filter(user, "recipient_agency", "responsible_agency")
        )
        .select_related(*RELATED)
        .only(*SHOWN, *(name for names in RELATED.values() for name in names))
    )


def failed_emails(user: object) -> QuerySet[Notification]:
    """E-mails the mail server refused (failed) or has not taken yet (retrying), still
    due: failed ones first, longest failing first, as on the dashboard."""
    return (
        visible_notifications(user)
        .filter(status=S.DUE, delivery__in=[D.FAILED, D.RETRYING])
        .order_by("delivery", F("failing_since").asc(nulls_last=True), "pk")
    )


@require_GET
@admin_required
def notifications(request: HttpRequest) -> HttpResponse:
    user = request.user
    filters = NotificationFilterForm(request.GET or None, actor=user)
    rows = visible_notifications(user).order_by("-due_at", "-pk")
    if filters.is_bound and filters.is_valid():
        data = filters.cleaned_data
        if data.get("agency"):
            agency = data["agency"]
            rows = rows.filter(Q(recipient_agency=agency) | Q(responsible_agency=agency))
        if data["status"]:
            rows = rows.filter(status=data["status"])
        if data["step"]:
            rows = rows.filter(step=data["step"])
        if data["problem"] == "yes":
            rows = rows.exclude(problem="")
        elif data["problem"] == "no":
            rows = rows.filter(problem="")
        if data["period"]:
            since = timezone.now() - dt.timedelta(days=int(data["period"]))
            rows = rows.filter(due_at__gte=since, due_at__lte=timezone.now())
    page, query = _page(request, rows)
    return render(
        request,
        "configuration/notifications.html",
        {"filters": filters, "page": page, "query": query},
    )


@require_GET
@admin_required
def notification(request: HttpRequest, pk: str) -> HttpResponse:
    found = _get(visible_notifications(request.user), pk)
    return render(
        request,
        "configuration/notification.html",
        {
            "notification": found,
            "attempts": list(
                found.delivery_attempts.order_by("-attempted_at").only(
                    "attempted_at", "succeeded", "error", "worker", "notification_id"
                )[:20]
            ),
            "requeues": list(found.requeues.select_related("requeued_by").order_by("-requeued_at")),
            "may_requeue": access.is_partnership_admin(request.user) and can_be_requeued(found),
        },
    )


@require_GET
@admin_required
def failed(request: HttpRequest) -> HttpResponse:
    page, query = _page(request, failed_emails(request.user))
    return render(
        request,
        "configuration/failed_emails.html",
        {
            "page": page,
            "query": query,
            "may_requeue": access.is_partnership_admin(request.user),
        },
    )


@require_POST
@admin_required
def requeue(request: HttpRequest, pk: str) -> HttpResponse:
    """Queue a failed e-mail again, to the recipient's current address. Partnership
    admins only: a forged post by an agency admin is refused."""
    if not access.is_partnership_admin(request.user):
        raise PermissionDenied("Only partnership admins can queue e-mails again.")
    found = _get(
        Notification.objects.filter(
            access.agency_rows_filter(request.user, "recipient_agency", "responsible_agency")
        ).select_related("recipient_contact", "recipient_agency"),
        pk,
    )
    if requeue_email(found, by=request.user):
        messages.success(request, "E-mail queued again, to the recipient's current address.")
    else:
        messages.info(
            request, "Not queued: it had not failed, or it is no longer due (someone did it)."
        )
    if request.POST.get("next") == "notification":
        return redirect("configuration:notification", found.pk)
    return redirect("configuration:failed_emails")
