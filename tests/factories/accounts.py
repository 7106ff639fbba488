"""Factories for agencies, their contacts and the people who sign in.

Every user gets ``DEFAULT_PASSWORD`` unless a test passes ``password=...``, so a test
can sign in through the real form without knowing how the factory hashed it.
"""

from __future__ import annotations

from typing import Any

import factory
from factory.django import DjangoModelFactory

from missingkids.accounts.models import Agency, Contact, LocalAuthorityArea, User

DEFAULT_PASSWORD = "Correct-Horse-Battery-9"


class LocalAuthorityAreaFactory(DjangoModelFactory):
    class Meta:
        model = LocalAuthorityArea
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Test Area {n}")
    # ONS-shaped codes (E + 8 digits) well away from the real ones used in the cast.
    code = factory.Sequence(lambda n: f"E99{n:06d}")


class AgencyFactory(DjangoModelFactory):
    """An agency; ``areas=[...]`` sets the areas it serves (none by default)."""

    class Meta:
        model = Agency
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Test Agency {n}")
    kind = Agency.Kind.LOCAL_AUTHORITY
    email = factory.Sequence(lambda n: f"agency{n}@example.org")

    @factory.post_generation
    def areas(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            self.areas.set(extracted)


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    agency = factory.SubFactory(AgencyFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    role_title = "Duty desk"
    email = factory.Sequence(lambda n: f"contact{n}@example.org")
    phone = ""
    out_of_hours = False


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    name = factory.Sequence(lambda n: f"Person {n}")
    agency = factory.SubFactory(AgencyFactory)
    role = User.Role.PRACTITIONER
    job_title = ""
    is_active = True

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        # set_password (not a stored hash) so the configured hasher and validators'
        # view of the password are exactly what a real sign-in will meet.
        self.set_password(extracted or DEFAULT_PASSWORD)
        if create:
            self.save(update_fields=["password"])
