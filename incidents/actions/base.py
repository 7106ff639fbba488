"""What every action function shares: the event row, versioned updates, refusals.

An action function is the only way a case record changes. Each one takes the acting
user as a keyword, runs in one transaction, checks what the user may do, validates,
writes the change, and writes a CaseEvent describing it (with field changes), so that
the history and the notifications outbox can never disagree with the record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models.signals import post_save
from django.utils import timezone
from simple_history.utils import get_history_manager_for_model

from missingkids.accounts.models import Agency, User
from missingkids.policy import EARLIEST_DATE

from ..forms.fields import EARLIEST_DATE_MESSAGE
from ..models import CaseEvent, Child, Episode
from ..signals import records_updated


class StaleEdit(ValidationError):
    """Someone else saved the record after this edit was started."""

    def __init__(self, what: str = "record", changed: list[str] | None = None) -> None:
        named = f" ({', '.join(changed)})" if changed else ""
        super().__init__(
            f"Someone else changed this {what} while you were editing it{named}. Your "
            "changes have not been saved: check the current details below, then make your "
            "changes again.",
            code="stale",
        )


# Bookkeeping: never named as what someone else changed.
_NOT_NAMED = frozenset({"id", "version", "recorded_by", "recorded_at", "created_at"})


def stale_edit(instance: models.Model, expected_version: int, *, what: str) -> StaleEdit:
    """The refusal of a stale edit, naming the fields changed since ``expected_version``
    (read from the change history: the row as it was at that version, and as it is)."""
    model = type(instance)
    current = model._default_manager.filter(pk=instance.pk).first()  # type: ignore[attr-defined]
    history = getattr(model, "history", None)
    then = (
        history.filter(id=instance.pk, version=expected_version).order_by("-history_id").first()
        if history is not None and current is not None
        else None
    )
    if then is None:
        return StaleEdit(what)
    changed = [
        str(f.verbose_name)
        for f in model._meta.concrete_fields
        if f.name not in _NOT_NAMED
        and getattr(then, f.attname, None) != getattr(current, f.attname)
    ]
    return StaleEdit(what, changed)


def refuse(message: str) -> None:
    raise PermissionDenied(message)


def event_record(
    *,
    child: Child,
    kind: str,
    actor: User,
    summary: str,
    occurred_at: dt.datetime | None = None,
    episode: Episode | None = None,
    data: dict[str, Any] | None = None,
    actor_agency: Agency | None = None,
) -> CaseEvent:
    """Add one row to the child's timeline (and, for protocol kinds, the outbox).

    ``actor_agency`` defaults to the actor's own agency; it differs only when the row
    records what an agency did through the service rather than what the actor typed.
    """
    now = timezone.now()
    return CaseEvent.objects.create(
        child=child,
        episode=episode,
        kind=kind,
        is_protocol=kind in CaseEvent.OUTBOX_KINDS,
        occurred_at=occurred_at or now,
        recorded_at=now,
        actor=actor,
        actor_agency_id=actor_agency.pk if actor_agency is not None else actor.agency_id,
        summary=summary[:500],
        data=data or {},
    )


def events_record(events: list[CaseEvent]) -> list[CaseEvent]:
    """Add several rows to children's timelines at once (unsaved ``CaseEvent``s, as
    ``event_record`` would make them): one insert, and each row announced as saved
    (``post_save``, as ``event_record``'s ``create`` does), so whatever reacts to a new
    event reacts to each of these."""
    now = timezone.now()
    for event in events:
        event.is_protocol = event.kind in CaseEvent.OUTBOX_KINDS
        event.occurred_at = event.occurred_at or now
        event.recorded_at = now
        event.summary = event.summary[:500]
        event.data = event.data or {}
    created = CaseEvent.objects.bulk_create(events)
    for event in created:
        post_save.send(
            sender=CaseEvent, instance=event, created=True, update_fields=None, raw=False,
            using=event._state.db,
        )  # fmt: skip
    return created


def _plain(value: Any) -> Any:
    """A JSON-safe form of a field value for the change history."""
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def changes_between(instance: models.Model, new_values: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields whose value would change."""
    changed: dict[str, list[Any]] = {}
    for name, new in new_values.items():
        old = getattr(instance, name)
        if old != new:
            changed[name] = [_plain(old), _plain(new)]
    return changed


def update_versioned(
    instance: models.Model,
    *,
    expected_version: int,
    values: dict[str, Any],
    what: str = "record",
    acting_user: User | None = None,
    reason: str = "",
) -> dict[str, list[Any]]:
    """Save ``values`` only if nobody else saved the row since ``expected_version``.

    A conditional UPDATE (… WHERE id = %s AND version = %s) rather than a lock: the
    edit form carries the version it was drawn from, and a second, stale submission
    updates no row and is refused with its input kept. Returns the field changes.
    ``reason`` (why a saved record is being corrected) is kept on the history row.
    """
    changed = changes_between(instance, values)
    model = type(instance)
    with transaction.atomic():
        updated = model._default_manager.filter(  # type: ignore[attr-defined]
            pk=instance.pk, version=expected_version
        ).update(version=models.F("version") + 1, **values)
        if updated != 1:
            raise StaleEdit(what)
        history_write(model, instance.pk, user=acting_user, reason=reason)
    for name, value in values.items():
        setattr(instance, name, value)
    instance.version = expected_version + 1  # type: ignore[attr-defined]
    return changed


def history_write(
    model: type[models.Model], pk: Any, *, user: User | None = None, reason: str = ""
) -> None:
    """Add the change-history row for a change made with ``QuerySet.update()``.

    ``update()`` (used for conditional, race-free writes) sends no signals, so
    django-simple-history would not see the change. Call this in the same transaction,
    after the update: it reads the row as it now is and records it, by ``user`` or,
    failing that, whoever is signed in to the current request, with the ``reason`` for
    the change when one was given (shown with the change in the history).
    """
    records_updated.send(sender=model, model=model, pks=[pk])
    if not hasattr(model._meta, "simple_history_manager_attribute"):
        return
    current = model._default_manager.get(pk=pk)  # type: ignore[attr-defined]
    get_history_manager_for_model(model).bulk_history_create(
        [current], update=True, default_user=user, default_change_reason=reason
    )


def history_write_many(
    model: type[models.Model], pks: list[Any], *, user: User | None = None, reason: str = ""
) -> None:
    """``history_write`` for several rows changed by one ``update()``: one read, and one
    history row for each, written together."""
    if pks:
        records_updated.send(sender=model, model=model, pks=list(pks))
    if not pks or not hasattr(model._meta, "simple_history_manager_attribute"):
        return
    current = list(model._default_manager.filter(pk__in=pks).order_by("pk"))  # type: ignore[attr-defined]
    get_history_manager_for_model(model).bulk_history_create(
        current, update=True, default_user=user, default_change_reason=reason
    )


def check_dates_for_child(
    errors: dict[str, list[str]], child: Child, **values: dt.date | dt.datetime | None
) -> None:
    """No date before the service's earliest (missingkids.policy.EARLIEST_DATE), nor
    before the child was born: a message by each field that is.

    Times are compared by their UK date, so a child born on 27 March may be last seen
    at 00:30 that day.
    """
    born = child.date_of_birth
    for field, value in values.items():
        if value is None:
            continue
        day = timezone.localtime(value).date() if isinstance(value, dt.datetime) else value
        if day < EARLIEST_DATE:
            message = EARLIEST_DATE_MESSAGE
        elif born is not None and day < born:
            message = (
                f"The date must be on or after the child's date of birth, {born.day} {born:%B %Y}"
            )
        else:
            continue
        if message not in errors.get(field, []):
            errors.setdefault(field, []).append(message)


def raise_if_errors(errors: dict[str, list[str]]) -> None:
    """Raise a ValidationError keyed by field, so forms show each message by its field."""
    if errors:
        raise ValidationError(errors)
