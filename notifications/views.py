"""Recording a notification made outside e-mail, cancelling one, queueing a failed
e-mail again, and the recipient's acknowledgement link.

The acknowledgement page is open without signing in: recipients at GP practices or
schools have no account. It shows only the child's initials, the step and the agency,
and a GET never changes anything, because mail scanners open every link in a message;
only the button (a POST) records the acknowledgement.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from incidents import access as incidents_access
from missingkids.audit.log import Action, log_access

from . import access
from .emails import ACKNOWLEDGE_MAX_AGE_DAYS, acknowledge_signer
from .forms import AcknowledgeForm, CancelForm, RecordToldForm
from .models import Notification
from .sending import requeue_email
from .sharing import share_check_as_told

S = Notification.Status
OPEN_STATUSES = (S.DUE, S.SENT)


def _notification_for_user(request: HttpRequest, pk: int) -> tuple[Notification, bool]:
    notification = get_object_or_404(
        Notification.objects.select_related(
            "rule", "recipient_agency", "recipient_contact", "responsible_agency"
        ),
        pk=pk,
    )
    # Out of the person's scope is the same 404 as not existing.
    episode = incidents_access.get_episode_for_user(request.user, notification.episode_id)
    notification.episode = episode
    notification.child = episode.child
    return notification, access.is_responsible_la_manager(request.user, episode)


def _posted(request: HttpRequest) -> QueryDict | None:
    # Not ``request.POST or None``: an empty POST must still be a bound form that errs.
    return request.POST if request.method == "POST" else None


def _episode_url(notification: Notification) -> str:
    return reverse("incidents:episode_detail", kwargs={"pk": notification.episode_id})


def _whom(notification: Notification) -> str:
    if notification.recipient_name:
        return notification.recipient_name
    if notification.recipient_agency:
        return notification.recipient_agency.name
    return notification.get_recipient_role_display()


@require_http_methods(["GET", "POST"])
def record_told(request: HttpRequest, pk: int) -> HttpResponse:
    notification, la_manager = _notification_for_user(request, pk)
    incidents_access.require(
        access.can_record_told(request.user, notification, la_manager=la_manager),
        "Only the agency that must tell them, or a manager of the child's council, "
        "can record this.",
    )
    if notification.status not in OPEN_STATUSES:
        messages.info(request, "This notification is already recorded as done or cancelled")
        return redirect(_episode_url(notification))
    form = RecordToldForm(_posted(request), not_before=notification.episode.last_seen_at)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                # Telling the council about the check is sharing the check: recorded on
                # it in the same transaction, or neither is saved.
                share_check_as_told(
                    notification,
                    acting_user=request.user,
                    told_at=data["told_at"],
                    method=data["method"],
                    told_whom=data["told_whom"],
                )
                # Conditional on the status we showed: a colleague recording the same
                # call a moment earlier is not overwritten.
                updated = Notification.objects.filter(pk=pk, status__in=OPEN_STATUSES).update(
                    status=S.TOLD,
                    method=data["method"],
                    told_at=data["told_at"],
                    told_by=request.user,
                    told_whom=data["told_whom"],
                    notes=data["notes"],
                )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if updated:
                messages.success(request, f"Recorded that you told {data['told_whom']}")
            else:
                messages.info(request, "Someone else recorded this notification a moment ago")
            return redirect(_episode_url(notification))
    return render(
        request,
        "notifications/form_page.html",
        {
            "form": form,
            "title": "Record that you told them",
            "caption": f"{notification.get_step_display()}: {_whom(notification)}",
            "notification": notification,
            "back_url": _episode_url(notification),
        },
    )


@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    notification, la_manager = _notification_for_user(request, pk)
    incidents_access.require(
        access.can_cancel(request.user, notification, la_manager=la_manager),
        "Only a manager can cancel a notification.",
    )
    if notification.status not in OPEN_STATUSES:
        messages.info(request, "This notification is already recorded as done or cancelled")
        return redirect(_episode_url(notification))
    form = CancelForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        updated = Notification.objects.filter(pk=pk, status__in=OPEN_STATUSES).update(
            status=S.CANCELLED,
            cancelled_reason=form.cleaned_data["reason"],
            told_by=request.user,
        )
        if updated:
            messages.success(request, "The notification has been cancelled")
        else:
            messages.info(request, "Someone else recorded this notification a moment ago")
        return redirect(_episode_url(notification))
    return render(
        request,
        "notifications/form_page.html",
        {
            "form": form,
            "title": "Cancel a notification",
            "caption": f"{notification.get_step_display()}: {_whom(notification)}",
            "notification": notification,
            "back_url": _episode_url(notification),
        },
    )


@require_http_methods(["GET", "POST"])
def requeue(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a failed e-mail again, to the recipient's address as it now stands: the
    button on the episode page posts here; a GET changes nothing and goes back there."""
    notification, la_manager = _notification_for_user(request, pk)
    incidents_access.require(
        access.can_requeue(request.user, notification, la_manager=la_manager),
        "Only a manager of the agency that must tell them, or of the child's council, "
        "can queue an e-mail again.",
    )
    if request.method != "POST":
        return redirect(f"{_episode_url(notification)}#notifications")
    if requeue_email(notification, by=request.user):
        messages.success(request, f"The e-mail to {_whom(notification)} is queued again")
    else:
        messages.info(
            request, "This e-mail is no longer failed: someone queued it or recorded it as done"
        )
    return redirect(f"{_episode_url(notification)}#notifications")


# Acknowledgement ------------------------------------------------------------------------


def _link_problem(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "notifications/acknowledge_problem.html",
        {"title": title, "message": message},
        status=status,
    )


@login_not_required
@require_http_methods(["GET", "POST"])
def acknowledge(request: HttpRequest, token: str) -> HttpResponse:
    try:
        pk = acknowledge_signer().unsign(token, max_age=dt.timedelta(days=ACKNOWLEDGE_MAX_AGE_DAYS))
    except signing.SignatureExpired:
        return _link_problem(
            request,
            title="This link has expired",
            message=(
                f"Acknowledgement links work for {ACKNOWLEDGE_MAX_AGE_DAYS} days. Nothing has "
                "been recorded. If you still need to confirm you were told, contact the "
                "agency that told you."
            ),
            status=410,
        )
    except signing.BadSignature:
        return _link_problem(
            request,
            title="This link is not valid",
            message=(
                "The link may have been copied incompletely. Nothing has been recorded. "
                "Open the link from the e-mail again, or contact the agency that told you."
            ),
            status=400,
        )
    notification = (
        Notification.objects.select_related("child", "recipient_agency", "responsible_agency")
        .filter(pk=int(pk))
        .first()
    )
    if notification is None:
        return _link_problem(
            request,
            title="This link is not valid",
            message="The notification it refers to no longer exists. Nothing has been recorded.",
            status=400,
        )
    child = notification.child
    # Whoever opens the link (a recipient, or their mail scanner) sees the child's
    # initials: logged like any page about a child, with no one signed in.
    log_access(
        request,
        Action.VIEW_PAGE,
        child_id=child.pk,
        episode_id=notification.episode_id,
        detail={"url_name": "notifications:acknowledge", "notification_id": notification.pk},
    )
    context = {
        "notification": notification,
        "child_initials": f"{child.first_name[:1]}{child.last_name[:1]}".upper(),
    }
    if notification.acknowledged_at is not None:
        return render(request, "notifications/acknowledge_done.html", context)
    if notification.status == S.CANCELLED:
        return _link_problem(
            request,
            title="This notification was cancelled",
            message="It no longer needs acknowledging. Nothing has been recorded.",
            status=200,
        )
    form = AcknowledgeForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        # Conditional: two clicks (or two recipients sharing a mailbox) record it once.
        Notification.objects.filter(pk=notification.pk, acknowledged_at__isnull=True).exclude(
            status=S.CANCELLED
        ).update(
            acknowledged_at=timezone.now(),
            acknowledged_by=form.cleaned_data["name"],
            status=S.ACKNOWLEDGED,
        )
        messages.success(request, "Thank you: your acknowledgement has been recorded")
        return redirect(request.path)
    return render(request, "notifications/acknowledge.html", {**context, "form": form})
