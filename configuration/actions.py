"""Each change made on the configuration pages, through one function that checks the
actor may make it (``missingkids.accounts.access``), saves it and keeps it as a
configuration change (``missingkids.accounts.configuration``) in the same transaction.

The views parse a form and call one of these; the forms offer only what the actor may
choose, and these refuse (PermissionDenied) a forged form that asks for more.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction

from missingkids.accounts import access, configuration
from missingkids.accounts.models import (
    Agency,
    ConfigurationChange,
    Contact,
    LocalAuthorityArea,
    User,
)

Kind = ConfigurationChange.Kind


def person_save(*, person: User, acting_user: User) -> User:
    """Add or change a person (from these pages or the Django admin). A new person given
    no password here sets one through "Forgotten your password?" (the password reset by
    e-mail)."""
    access.person_save_check(actor=acting_user, person=person)
    with transaction.atomic():
        stored = User.objects.select_related("agency").filter(pk=person.pk).first()
        before = configuration.person_snapshot(stored) if stored else None
        if person.pk is None and not person.password:
            person.set_unusable_password()
        person.save()
        after = configuration.person_snapshot(person)
        configuration.configuration_change_record(
            kind=Kind.PERSON,
            object_id=person.pk,
            subject=configuration.person_subject(after),
            before=before,
            after=after,
            agencies={person.agency_id, stored.agency_id if stored else None} - {None},
            acting_user=acting_user,
        )
    return person


def agency_save(
    *, agency: Agency, acting_user: User, area_ids: Iterable[int] | None = None
) -> Agency:
    """Add or change an agency (``area_ids``: the areas it serves, if they are being set).

    A partnership admin changes anything; an agency admin only their own agency's
    address, phone and shared mailbox."""
    partnership = access.is_partnership_admin(acting_user)
    if not (partnership or access.may_manage_agency(acting_user, agency.pk)):
        raise PermissionDenied("You may not change this agency.")
    with transaction.atomic():
        stored = Agency.objects.filter(pk=agency.pk).first() if agency.pk else None
        if not partnership:
            locked = [
                name
                for name in configuration.AGENCY_FIELDS
                if name not in access.AGENCY_FIELDS_FOR_AGENCY_ADMINS
                and getattr(stored, name) != getattr(agency, name)
            ]
            if stored is None or locked or area_ids is not None:
                raise PermissionDenied("Only a partnership admin can change this.")
        before = configuration.agency_snapshot(stored) if stored else None
        agency.save()
        if area_ids is not None:
            agency.areas.set(list(area_ids))
        configuration.configuration_change_record(
            kind=Kind.AGENCY,
            object_id=agency.pk,
            subject=agency.name,
            before=before,
            after=configuration.agency_snapshot(agency),
            agencies=[agency],
            acting_user=acting_user,
        )
    return agency


def contact_save(*, contact: Contact, acting_user: User) -> Contact:
    """Add or change a contact of an agency the actor manages (never moved to another)."""
    with transaction.atomic():
        stored = Contact.objects.select_related("agency").filter(pk=contact.pk).first()
        agencies = {contact.agency_id, stored.agency_id if stored else None} - {None}
        if not agencies or not all(access.may_manage_agency(acting_user, a) for a in agencies):
            raise PermissionDenied("You may not change this agency's contacts.")
        before = configuration.contact_snapshot(stored) if stored else None
        contact.save()
        after = configuration.contact_snapshot(contact)
        configuration.configuration_change_record(
            kind=Kind.CONTACT,
            object_id=contact.pk,
            subject=configuration.contact_subject(after),
            before=before,
            after=after,
            agencies=agencies,
            acting_user=acting_user,
        )
    return contact


def contact_remove(*, contact: Contact, acting_user: User) -> None:
    if not access.may_manage_agency(acting_user, contact.agency_id):
        raise PermissionDenied("You may not change this agency's contacts.")
    with transaction.atomic():
        before = configuration.contact_snapshot(contact)
        configuration.configuration_change_record(
            kind=Kind.CONTACT,
            object_id=contact.pk,
            subject=configuration.contact_subject(before),
            before=before,
            after=None,
            agencies=[contact.agency_id],
            acting_user=acting_user,
        )
        contact.delete()


def area_save(*, area: LocalAuthorityArea, acting_user: User) -> LocalAuthorityArea:
    """Areas are the partnership's: only a partnership admin adds or changes one."""
    if not access.is_partnership_admin(acting_user):
        raise PermissionDenied("Only a partnership admin can change areas.")
    area.save()
    return area
