"""Test factories, one module per app; import them from here."""

from .accounts import (
    DEFAULT_PASSWORD,
    AgencyFactory,
    ContactFactory,
    LocalAuthorityAreaFactory,
    UserFactory,
)

__all__ = [
    "DEFAULT_PASSWORD",
    "AgencyFactory",
    "ContactFactory",
    "LocalAuthorityAreaFactory",
    "UserFactory",
]
