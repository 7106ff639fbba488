"""Resetting someone's sign-in: a second factor (with a second admin's approval), and a
password an admin sets.

A reset second factor lets whoever next signs in with the password enrol a new phone,
so it is an account takeover if misused. It therefore takes two admins: one asks, with
a reason (``second_factor_reset_request``); a second one, who also manages the person,
approves (``second_factor_reset_approve``), and only then are the person's
authenticator and recovery codes removed and all their sessions ended, so the new
phone is enrolled after the password at a fresh sign-in. At each step the person and
the partnership admins are e-mailed (so someone who did not ask knows at once), and
the access log records it.

An admin setting someone's password (the admin's own page for it) is logged and the
person is told by e-mail in the same way (``password_set_record``).

Each function takes the acting admin, checks they may (``access``), and raises
PermissionDenied if not, so the admin views only parse and call.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from missingkids.audit.log import Action, log_access

from . import access
from .emails import send_after_commit
from .models import SecondFactorReset, User
from .sessions import user_sessions_end


def _page_url(person: User) -> str:
    return f"{settings.SITE_URL}{reverse('configuration:person_second_factor', args=[person.pk])}"


def _who(user: User) -> str:
    return f"{user.name}, {user.agency.name} ({user.email})"


def _log(request: HttpRequest | None, action: str, *, actor: User, person: User, **detail: Any):
    log_access(
        request,
        action,
        user=actor,
        detail={"person_id": person.pk, "person": person.email, **detail},
    )


def _other_admins_of(person: User, *, besides: list[int]) -> list[str]:
    """The admins of the person's agency who could approve (agency admins manage the
    people of their own agency), to tell them a reset is waiting."""
    admins = User.objects.filter(
        agency_id=person.agency_id, role=User.Role.ADMIN, is_active=True
    ).exclude(pk__in=besides)
    return [admin.email for admin in admins if access.may_manage_person(admin, person)]


def has_second_factor(person: User) -> bool:
    return (
        TOTPDevice.objects.filter(user=person).exists()
        or StaticDevice.objects.filter(user=person).exists()
    )


def pending_second_factor_reset(person: User) -> SecondFactorReset | None:
    return (
        SecondFactorReset.objects.filter(
            person=person, approved_at__isnull=True, cancelled_at__isnull=True
        )
        .select_related("requested_by__agency")
        .first()
    )


def second_factor_reset_request(
    *, person: User, acting_user: User, reason: str, request: HttpRequest | None = None
) -> SecondFactorReset:
    if not access.may_request_second_factor_reset(acting_user, person):
        raise PermissionDenied("You may not reset this person's second factor.")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason, for example 'lost their phone'."})
    if not has_second_factor(person):
        raise ValidationError(
            f"{person.name} has no second factor to reset: they set one up at their next sign-in."
        )
    with transaction.atomic():
        if pending_second_factor_reset(person) is not None:
            raise ValidationError("A reset of this person's second factor is already waiting.")
        try:
            with transaction.atomic():
                reset = SecondFactorReset.objects.create(
                    person=person,
                    reason=reason,
                    requested_by=acting_user,
                    requested_at=timezone.now(),
                )
        except IntegrityError:
            # Another admin asked at the same moment (one_pending_second_factor_reset).
            raise ValidationError(
                "A reset of this person's second factor is already waiting."
            ) from None
        _log(
            request,
            Action.SECOND_FACTOR_RESET_REQUESTED,
            actor=acting_user,
            person=person,
            reset_id=reset.pk,
        )
        context = {
            "reset": reset,
            "person": person,
            "requested_by": _who(acting_user),
            "when": timezone.localtime(reset.requested_at),
            "page_url": _page_url(person),
            "partnership_admins": settings.PARTNERSHIP_ADMINS,
        }
        send_after_commit(to=[person.email], name="second_factor_reset_requested", context=context)
        send_after_commit(
            to=[
                *settings.PARTNERSHIP_ADMINS,
                *_other_admins_of(person, besides=[acting_user.pk, person.pk]),
            ],
            name="second_factor_reset_to_approve",
            context=context,
        )
    return reset


def second_factor_reset_approve(
    *, reset: SecondFactorReset, acting_user: User, request: HttpRequest | None = None
) -> SecondFactorReset:
    """The second admin's approval: remove the person's devices and end their sessions."""
    with transaction.atomic():
        # Locked, so two admins approving at once reset once and the second is refused.
        reset = (
            SecondFactorReset.objects.select_for_update()
            .select_related("person__agency", "requested_by__agency")
            .get(pk=reset.pk)
        )
        if not access.may_approve_second_factor_reset(acting_user, reset):
            raise PermissionDenied("You may not approve this reset.")
        person = reset.person
        reset.approved_by = acting_user
        reset.approved_at = timezone.now()
        reset.save(update_fields=["approved_by", "approved_at"])
        TOTPDevice.objects.filter(user=person).delete()
        StaticDevice.objects.filter(user=person).delete()
        ended = user_sessions_end(user=person)
        _log(
            request,
            Action.SECOND_FACTOR_RESET,
            actor=acting_user,
            person=person,
            reset_id=reset.pk,
            requested_by=reset.requested_by.email,
            sessions_ended=ended,
        )
        context = {
            "reset": reset,
            "person": person,
            "requested_by": _who(reset.requested_by),
            "approved_by": _who(acting_user),
            "when": timezone.localtime(reset.approved_at),
            "page_url": _page_url(person),
            "partnership_admins": settings.PARTNERSHIP_ADMINS,
        }
        send_after_commit(to=[person.email], name="second_factor_reset_done", context=context)
        send_after_commit(
            to=[*settings.PARTNERSHIP_ADMINS, reset.requested_by.email],
            name="second_factor_reset_done_admins",
            context=context,
        )
    return reset


def second_factor_reset_cancel(
    *, reset: SecondFactorReset, acting_user: User, request: HttpRequest | None = None
) -> SecondFactorReset:
    with transaction.atomic():
        reset = (
            SecondFactorReset.objects.select_for_update()
            .select_related("person__agency", "requested_by__agency")
            .get(pk=reset.pk)
        )
        if not access.may_cancel_second_factor_reset(acting_user, reset):
            raise PermissionDenied("You may not cancel this reset.")
        reset.cancelled_by = acting_user
        reset.cancelled_at = timezone.now()
        reset.save(update_fields=["cancelled_by", "cancelled_at"])
        _log(
            request,
            Action.SECOND_FACTOR_RESET_CANCELLED,
            actor=acting_user,
            person=reset.person,
            reset_id=reset.pk,
        )
    return reset


def password_set_record(*, person: User, acting_user: User, request: HttpRequest | None) -> None:
    """After an admin has set ``person``'s password: log it and tell the person."""
    _log(request, Action.PASSWORD_SET, actor=acting_user, person=person)
    if person.pk == acting_user.pk:
        return
    send_after_commit(
        to=[person.email],
        name="password_set",
        context={
            "person": person,
            "set_by": _who(acting_user),
            "when": timezone.localtime(),
            "partnership_admins": settings.PARTNERSHIP_ADMINS,
        },
    )
