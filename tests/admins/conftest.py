"""The two kinds of admin, added to the fixed cast.

``admin_user`` (Morgan Ellis, of the West council) is the partnership admin: the
cast's conftest names her in ``PARTNERSHIP_ADMINS``. ``school_admin`` is an agency admin
of a school, the account the attacker of the security review held; ``council_admin`` an
agency admin of the West council; ``second_partnership_admin`` a second partnership
admin, at the police, for approvals that need two people.
"""

from __future__ import annotations

import pytest

from missingkids.accounts.models import User
from tests.factories import UserFactory


@pytest.fixture
def school_admin(school) -> User:
    return UserFactory(
        email="dylan.price@riverside-academy.example.org",
        name="Dylan Price",
        agency=school,
        role=User.Role.ADMIN,
        job_title="School business manager",
    )


@pytest.fixture
def school_teacher(school) -> User:
    return UserFactory(
        email="kim.lowe@riverside-academy.example.org",
        name="Kim Lowe",
        agency=school,
        job_title="Designated safeguarding lead",
    )


@pytest.fixture
def council_admin(la_west) -> User:
    return UserFactory(
        email="ravi.patel@cwac.example.org",
        name="Ravi Patel",
        agency=la_west,
        role=User.Role.ADMIN,
        job_title="Children's services systems officer",
    )


@pytest.fixture
def second_partnership_admin(police, settings) -> User:
    user = UserFactory(
        email="rachel.turner@police.example.org",
        name="Rachel Turner",
        agency=police,
        role=User.Role.ADMIN,
        job_title="Force systems administrator",
    )
    settings.PARTNERSHIP_ADMINS = [*settings.PARTNERSHIP_ADMINS, user.email]
    return user
