"""Who may configure what: the two kinds of admin. Every admin page asks here.

- A **partnership admin** is an admin whose e-mail address is in the
  ``PARTNERSHIP_ADMINS`` setting (or a superuser, made from the shell). They manage
  areas, agencies, contacts, the notification rules and the people of every agency.
- An **agency admin** is every other admin. They manage their own agency's people and
  contacts, and its address, phone and shared mailbox; never its name, kind, areas or
  whether it is active, never another agency, and never a partnership admin's account.

No admin can change their own role, agency or whether they are active, give anyone an
agency they may not manage themselves, or give out an address that would make its
holder a partnership admin. No admin sees case data: the admin registers no case
record, and the notifications it shows leave out everything about the child.

The Django permissions (what kind of thing) are in ``models``; the querysets here (which
records) are used by the admin classes for their lists, their form choices and again
when saving, so a forged POST is refused as well as a form that offers nothing more.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from .models import (
    Agency,
    ConfigurationChange,
    Contact,
    SecondFactorReset,
    User,
    normalise_email,
)

# The agency fields an agency admin may change on their own agency: how to reach it.
AGENCY_FIELDS_FOR_AGENCY_ADMINS = ("address", "phone", "email")
# Fields of their own account no admin may change: a second admin does that.
OWN_ACCOUNT_LOCKED_FIELDS = ("agency", "role", "is_active")

# The addresses of the users connected systems act as (a reserved top-level domain, so
# nothing is ever sent there); no person may be given one.
SERVICE_USER_DOMAIN = "systems.invalid"
SERVICE_USER_SUFFIX = f"@{SERVICE_USER_DOMAIN}"

# Roles in order of what they may do; an admin grants none above their own.
ROLE_RANK = {User.Role.PRACTITIONER: 1, User.Role.MANAGER: 2, User.Role.ADMIN: 3}


def is_admin(user: User) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def is_partnership_admin(user: User) -> bool:
    return bool(user.is_authenticated and user.is_partnership_admin)


def may_edit_guidance(user: User) -> bool:
    """Practice guidance is the partnership's: its partnership admins write it. Everyone
    signed in reads it (it holds no case data)."""
    return is_partnership_admin(user)


def agencies_managed_by(user: User) -> QuerySet[Agency]:
    """Agencies whose people and contacts this admin manages."""
    if is_partnership_admin(user):
        return Agency.objects.all()
    if is_admin(user):
        return Agency.objects.filter(pk=user.agency_id)
    return Agency.objects.none()


def may_manage_agency(user: User, agency_id: int | None) -> bool:
    """Whether this admin manages the people and contacts of this agency (``None``: a
    new agency, which only a partnership admin may add)."""
    if is_partnership_admin(user):
        return True
    return agency_id is not None and is_admin(user) and agency_id == user.agency_id


def is_reserved_address(email: str) -> bool:
    """An address that would make an admin holding it a partnership admin."""
    return normalise_email(email) in settings.PARTNERSHIP_ADMINS


def may_assign_address(user: User, email: str) -> bool:
    if normalise_email(email).endswith(SERVICE_USER_SUFFIX):
        return False
    return is_partnership_admin(user) or not is_reserved_address(email)


def people_managed_by(user: User) -> QuerySet[User]:
    """People whose accounts this admin may see and change (themselves included); never
    the users connected systems act as (see ``is_service_user``).

    An agency admin's own agency, less anyone above them: superusers, and whoever holds
    an address named in PARTNERSHIP_ADMINS (whatever their role now, since giving them
    the admin role would make them a partnership admin).
    """
    if is_partnership_admin(user):
        return User.objects.exclude(email__iendswith=SERVICE_USER_SUFFIX)
    if not is_admin(user):
        return User.objects.none()
    return (
        User.objects.filter(agency_id=user.agency_id, is_superuser=False)
        .exclude(email__in=settings.PARTNERSHIP_ADMINS)
        .exclude(email__iendswith=SERVICE_USER_SUFFIX)
    )


def is_service_user(person: User) -> bool:
    """The user a connected system acts as (the api app gives each one an address at
    SERVICE_USER_DOMAIN): managed only through the system's own admin page, never as a
    person, so nobody can give it a password or a second factor."""
    return normalise_email(person.email or "").endswith(SERVICE_USER_SUFFIX)


def may_manage_person(user: User, person: User) -> bool:
    if is_service_user(person):
        return False
    if is_partnership_admin(user):
        return True
    return (
        is_admin(user)
        and person.agency_id == user.agency_id
        and not person.is_superuser
        and not is_reserved_address(person.email)
    )


def roles_assignable_by(user: User) -> list[tuple[str, str]]:
    """Roles this admin may give: none above their own."""
    own = ROLE_RANK.get(user.role, 0)
    return [(value, label) for value, label in User.Role.choices if ROLE_RANK[value] <= own]


def person_save_check(*, actor: User, person: User) -> None:
    """Refuse (PermissionDenied) to save ``person`` as it now stands, unless ``actor``
    may: the save-path twin of the admin's form choices, for a forged POST."""
    before = User.objects.filter(pk=person.pk).first() if person.pk else None
    refused = (
        (before is not None and not may_manage_person(actor, before))
        or not may_manage_agency(actor, person.agency_id)
        or ROLE_RANK.get(person.role, 99) > ROLE_RANK.get(actor.role, 0)
        or (person.is_superuser and not (before and before.is_superuser))
        or (
            not may_assign_address(actor, person.email)
            and (before is None or normalise_email(before.email) != normalise_email(person.email))
        )
        or (
            before is not None
            and before.pk == actor.pk
            and any(
                getattr(before, User._meta.get_field(name).attname)
                != getattr(person, User._meta.get_field(name).attname)
                for name in OWN_ACCOUNT_LOCKED_FIELDS
            )
        )
    )
    if refused:
        raise PermissionDenied("You may not make this change to this person's account.")


def contacts_managed_by(user: User) -> QuerySet[Contact]:
    return Contact.objects.filter(agency__in=agencies_managed_by(user))


def usernames_managed_by(user: User) -> QuerySet[User]:
    """The sign-in addresses of the people an admin manages (for lockouts)."""
    return people_managed_by(user).values("email")


def agency_rows_filter(user: User, *fields: str) -> Q:
    """Rows linked to the admin's own agency through any of ``fields`` (for lists of
    records that name agencies, such as notifications): everything for a partnership
    admin, nothing for someone who is not an admin."""
    if is_partnership_admin(user):
        return Q()
    if not is_admin(user):
        return Q(pk__in=[])
    condition = Q(pk__in=[])
    for field in fields:
        condition |= Q(**{field: user.agency_id})
    return condition


# Configuration changes -----------------------------------------------------------------


def may_see_configuration_changes(user: User) -> bool:
    """Managers and admins: the affected agency's managers are who must notice."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.role in (User.Role.MANAGER, User.Role.ADMIN) or user.is_superuser)
    )


def configuration_changes_visible_to(user: User) -> QuerySet[ConfigurationChange]:
    """Every change for a partnership admin; for a manager or an agency admin, the
    changes that affect their own agency (its contacts, its details, the rules it must
    follow or is told under)."""
    if not may_see_configuration_changes(user):
        return ConfigurationChange.objects.none()
    if is_partnership_admin(user):
        return ConfigurationChange.objects.all()
    return ConfigurationChange.objects.filter(agencies=user.agency_id)


def configuration_change_agencies(user: User) -> QuerySet[Agency]:
    """The agencies someone may filter the configuration changes by."""
    if not may_see_configuration_changes(user):
        return Agency.objects.none()
    if is_partnership_admin(user):
        return Agency.objects.order_by("name")
    return Agency.objects.filter(pk=user.agency_id)


# Second-factor resets ------------------------------------------------------------------


def may_request_second_factor_reset(user: User, person: User) -> bool:
    """Any admin who manages the person, for someone else: an admin who has lost their
    own phone cannot sign in to ask, and must not reset their own."""
    return is_admin(user) and user.pk != person.pk and may_manage_person(user, person)


def may_approve_second_factor_reset(user: User, reset: SecondFactorReset) -> bool:
    """A second admin: one who manages the person, and is neither the person nor the
    admin who asked."""
    return (
        reset.is_pending
        and is_admin(user)
        and user.pk not in (reset.person_id, reset.requested_by_id)
        and may_manage_person(user, reset.person)
    )


def may_cancel_second_factor_reset(user: User, reset: SecondFactorReset) -> bool:
    """The admin who asked, or anyone who could approve it."""
    return reset.is_pending and (
        (user.pk == reset.requested_by_id and is_admin(user))
        or may_approve_second_factor_reset(user, reset)
    )


def second_factor_resets_visible_to(user: User) -> QuerySet[SecondFactorReset]:
    if is_partnership_admin(user):
        return SecondFactorReset.objects.all()
    return SecondFactorReset.objects.filter(person__in=people_managed_by(user))
