"""Configuration changes made visible: who changed a rule, an agency or a contact, when,
from what and to what, shown to the affected agencies' managers and the partnership
admins (the "Configuration changes" page, and an e-mail).

Each save path takes a *snapshot* (field label -> the value as people read it) before
and after the change and calls ``configuration_change_record``, in the transaction of
the change. The snapshot is of everything that decides who is told and how: for a
contact all of it; for an agency its name, kind, areas, shared mailbox, phone, address
and whether it is active; for a rule every field (``notifications.rules``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from .emails import send_after_commit
from .models import Agency, ConfigurationChange, Contact, User

Snapshot = dict[str, str]

AGENCY_FIELDS = ("name", "kind", "email", "phone", "address", "active")
AGENCY_AREAS_LABEL = "Areas served"
CONTACT_FIELDS = (
    "agency",
    "name",
    "role_title",
    "email",
    "phone",
    "out_of_hours",
    "notification_role",
    "is_default",
    "active",
)


def display_value(instance: models.Model, field_name: str) -> str:
    """A field's value as a person reads it: labels for choices, Yes/No, names."""
    field = instance._meta.get_field(field_name)
    if getattr(field, "choices", None):
        return str(getattr(instance, f"get_{field_name}_display")())
    value = getattr(instance, field_name)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None:
        return ""
    if isinstance(value, Decimal):
        # 24, 24.0 and 24.00 hours are the same rule: no change to report.
        return format(value.normalize(), "f")
    return str(value)


def field_label(model: type[models.Model], field_name: str) -> str:
    label = str(model._meta.get_field(field_name).verbose_name)
    return label[:1].upper() + label[1:]


def snapshot_of(instance: models.Model, fields: Iterable[str]) -> Snapshot:
    return {field_label(type(instance), name): display_value(instance, name) for name in fields}


def agency_snapshot(agency: Agency, *, area_names: Iterable[str] | None = None) -> Snapshot:
    """The agency as it now stands in the database (areas read unless given)."""
    data = snapshot_of(agency, AGENCY_FIELDS)
    if area_names is None:
        area_names = agency.areas.values_list("name", flat=True)
    data[AGENCY_AREAS_LABEL] = ", ".join(sorted(area_names))
    return data


def contact_snapshot(contact: Contact) -> Snapshot:
    return snapshot_of(contact, CONTACT_FIELDS)


def contact_subject(snapshot: Snapshot | None) -> str:
    """ "Name (Agency)" from a contact's snapshot."""
    snapshot = snapshot or {}
    name = snapshot.get(field_label(Contact, "name"), "")
    agency = snapshot.get(field_label(Contact, "agency"), "")
    return f"{name} ({agency})" if agency else name


# Who a person is and what they may reach: a new manager, a move to another agency or a
# deactivated account is seen by the agencies' managers, as a changed contact is.
PERSON_FIELDS = ("email", "name", "agency", "role", "is_active")


def person_snapshot(person: User) -> Snapshot:
    return snapshot_of(person, PERSON_FIELDS)


def person_subject(snapshot: Snapshot | None) -> str:
    """ "Name (Agency)" from a person's snapshot."""
    return contact_subject(snapshot) if snapshot else ""


def agency_snapshot_from_database(agency_id: int | None) -> Snapshot | None:
    agency = Agency.objects.filter(pk=agency_id).first() if agency_id else None
    return agency_snapshot(agency) if agency is not None else None


def contact_snapshots_of_agency(agency_id: int | None) -> dict[int, Snapshot]:
    if not agency_id:
        return {}
    contacts = Contact.objects.filter(agency_id=agency_id).select_related("agency")
    return {contact.pk: contact_snapshot(contact) for contact in contacts}


def describe_changes(before: Snapshot | None, after: Snapshot | None) -> list[dict[str, str]]:
    """Each field whose value differs, in the order of the snapshot."""
    labels = list(after or before or {})
    changes = []
    for label in labels:
        old = (before or {}).get(label, "")
        new = (after or {}).get(label, "")
        if old != new:
            changes.append({"field": label, "before": old, "after": new})
    return changes


def configuration_change_record(
    *,
    kind: str,
    object_id: int,
    subject: str,
    before: Snapshot | None,
    after: Snapshot | None,
    agencies: Iterable[Agency | int],
    acting_user: User | None,
    reason: str = "",
) -> ConfigurationChange | None:
    """Keep one change and tell the affected agencies' managers and the partnership
    admins (by e-mail, after the transaction commits). Nothing is kept if nothing
    changed. Call it inside the transaction that makes the change."""
    changes = describe_changes(before, after)
    if not changes:
        return None
    if before is None:
        action = ConfigurationChange.Action.ADDED
    elif after is None:
        action = ConfigurationChange.Action.REMOVED
    else:
        action = ConfigurationChange.Action.CHANGED
    actor = acting_user if acting_user is not None and acting_user.is_authenticated else None
    change = ConfigurationChange.objects.create(
        changed_at=timezone.now(),
        changed_by=actor,
        kind=kind,
        action=action,
        object_id=object_id,
        subject=subject[:300],
        changes=changes,
        reason=reason,
    )
    agency_ids = sorted({a.pk if isinstance(a, Agency) else int(a) for a in agencies})
    change.agencies.set(agency_ids)
    configuration_change_notify(change, agency_ids=agency_ids)
    return change


def configuration_change_recipients(agency_ids: Iterable[int]) -> list[str]:
    """The active managers of the affected agencies, and the partnership admins."""
    managers = User.objects.filter(
        agency_id__in=list(agency_ids), role=User.Role.MANAGER, is_active=True
    ).values_list("email", flat=True)
    return sorted({*managers, *settings.PARTNERSHIP_ADMINS})


def configuration_change_notify(change: ConfigurationChange, *, agency_ids: list[int]) -> None:
    agency_names = list(
        Agency.objects.filter(pk__in=agency_ids).order_by("name").values_list("name", flat=True)
    )
    actor = change.changed_by
    context: dict[str, Any] = {
        "change": change,
        "who": f"{actor.name}, {actor.agency.name} ({actor.email})" if actor else "The service",
        "when": timezone.localtime(change.changed_at),
        "agency_names": agency_names,
        "page_url": f"{settings.SITE_URL}{reverse('configuration_changes')}",
    }
    send_after_commit(
        to=configuration_change_recipients(agency_ids),
        name="configuration_change",
        context=context,
    )


def object_history(kind: str, object_id: int | None) -> list[ConfigurationChange]:
    """The change history of one agency, contact or rule, newest first."""
    if object_id is None:
        return []
    return list(
        ConfigurationChange.objects.filter(kind=kind, object_id=object_id).select_related(
            "changed_by"
        )
    )
