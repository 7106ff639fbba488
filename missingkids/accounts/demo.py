"""Demo partnership: the agencies, contacts and people of a realistic local partnership.

Loaded by ``manage.py load_demo_data``; safe to run any number of times.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import two_factor
from .models import Agency, Contact, LocalAuthorityArea, User

DEMO_PASSWORD = "Missing-Demo-2026!"  # noqa: S105 (printed for people trying the demo)

AREAS = [
    ("Cheshire West and Chester", "E06000050"),
    ("Cheshire East", "E06000049"),
]

K = Agency.Kind

# name, kind, areas served, contacts: (name, role, email, phone, out of hours). Each
# agency's first contact is its default contact for notifications (its front door or
# main mailbox), so every default rule finds someone to tell in the demo.
AGENCIES: list[tuple[str, str, list[str], list[tuple[str, str, str, str, bool]]]] = [
    (
        "Cheshire Constabulary",
        K.POLICE,
        ["E06000050", "E06000049"],
        [
            (
                "Missing from Home Coordinator",
                "Missing persons coordinator",
                "missing.coordinator@police.example.org",
                "01244 350000",
                False,
            ),
            (
                "Force Control Room",
                "Control room (24 hours)",
                "control.room@police.example.org",
                "01244 350001",
                True,
            ),
        ],
    ),
    (
        "Cheshire West and Chester Council Children's Services",
        K.LOCAL_AUTHORITY,
        ["E06000050"],
        [
            (
                "Integrated Front Door",
                "Children's services front door",
                "ifd@cwac.example.org",
                "0300 123 7047",
                False,
            ),
            (
                "Emergency Duty Team",
                "Out-of-hours social work",
                "edt@cwac.example.org",
                "01244 977277",
                True,
            ),
            (
                "Priya Shah",
                "Team manager, children in care",
                "priya.shah@cwac.example.org",
                "01244 972000",
                False,
            ),
            (
                "Gareth Lloyd",
                "Head of service, children in care",
                "gareth.lloyd@cwac.example.org",
                "01244 972001",
                False,
            ),
            (
                "Helen Marsh",
                "Director of children's services",
                "helen.marsh@cwac.example.org",
                "01244 972002",
                False,
            ),
        ],
    ),
    (
        "Cheshire East Council Children's Services",
        K.LOCAL_AUTHORITY,
        ["E06000049"],
        [
            (
                "ChECS front door",
                "Children's services front door",
                "checs@cheshireeast.example.org",
                "0300 123 5012",
                False,
            ),
            (
                "Emergency Duty Team",
                "Out-of-hours social work",
                "edt@cheshireeast.example.org",
                "0300 123 5022",
                True,
            ),
        ],
    ),
    (
        "Cheshire West and Chester IRO Service",
        K.IRO,
        ["E06000050"],
        [
            (
                "Anne Roberts",
                "Independent reviewing officer",
                "anne.roberts@cwac.example.org",
                "01244 973100",
                False,
            ),
        ],
    ),
    (
        "Catch22 Missing from Home Service",
        K.PROVIDER,
        ["E06000050", "E06000049"],
        [
            (
                "Return interview referrals",
                "Referrals mailbox",
                "missing.referrals@catch22.example.org",
                "01606 271000",
                False,
            ),
        ],
    ),
    (
        "Northgate Medical Centre",
        K.GP_PRACTICE,
        ["E06000050"],
        [
            (
                "Practice safeguarding lead",
                "Safeguarding lead GP",
                "safeguarding.northgate@nhs.example.org",
                "01244 390300",
                False,
            )
        ],
    ),
    (
        "Crewe Road Surgery",
        K.GP_PRACTICE,
        ["E06000049"],
        [
            (
                "Practice safeguarding lead",
                "Safeguarding lead GP",
                "safeguarding.creweroad@nhs.example.org",
                "01270 500600",
                False,
            )
        ],
    ),
    (
        "Cheshire and Wirral School Nursing Service",
        K.SCHOOL_NURSE,
        ["E06000050", "E06000049"],
        [
            (
                "School nursing duty desk",
                "Duty school nurse",
                "schoolnursing@cwp.example.org",
                "01244 397400",
                False,
            )
        ],
    ),
    (
        "Chester Riverside Academy",
        K.SCHOOL,
        ["E06000050"],
        [
            (
                "Designated safeguarding lead",
                "Designated safeguarding lead",
                "dsl@riverside-academy.example.org",
                "01244 310500",
                False,
            )
        ],
    ),
    (
        "Macclesfield Park High School",
        K.SCHOOL,
        ["E06000049"],
        [
            (
                "Designated safeguarding lead",
                "Designated safeguarding lead",
                "dsl@macclesfieldpark.example.org",
                "01625 420800",
                False,
            )
        ],
    ),
]


# The managers that escalation rules name (still missing at 24 h / 72 h / 7 days,
# repeat episodes, stuck cases), by agency and contact name.
NOTIFICATION_ROLES: dict[tuple[str, str], str] = {
    (
        "Cheshire West and Chester Council Children's Services",
        "Priya Shah",
    ): Contact.NotificationRole.TEAM_MANAGER,
    (
        "Cheshire West and Chester Council Children's Services",
        "Gareth Lloyd",
    ): Contact.NotificationRole.HEAD_OF_SERVICE,
    (
        "Cheshire West and Chester Council Children's Services",
        "Helen Marsh",
    ): Contact.NotificationRole.DIRECTOR,
}


PARTNERSHIP_ADMIN_EMAIL = "admin@demo.example.org"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    agency: str
    role: str
    job_title: str


USERS = [
    DemoUser(
        "officer@demo.example.org",
        "PC Sam Okafor",
        "Cheshire Constabulary",
        User.Role.PRACTITIONER,
        "Missing persons officer",
    ),
    DemoUser(
        "social.worker@demo.example.org",
        "Jo Whitfield",
        "Cheshire West and Chester Council Children's Services",
        User.Role.PRACTITIONER,
        "Social worker, children in care",
    ),
    DemoUser(
        "return.worker@demo.example.org",
        "Aisha Begum",
        "Catch22 Missing from Home Service",
        User.Role.PRACTITIONER,
        "Return interview worker",
    ),
    DemoUser(
        "manager@demo.example.org",
        "Priya Shah",
        "Cheshire West and Chester Council Children's Services",
        User.Role.MANAGER,
        "Team manager, children in care",
    ),
    # The partnership admin: development settings name this address in
    # PARTNERSHIP_ADMINS (see settings.py), which is what makes an admin one.
    DemoUser(
        PARTNERSHIP_ADMIN_EMAIL,
        "Morgan Ellis",
        "Cheshire West and Chester Council Children's Services",
        User.Role.ADMIN,
        "Partnership systems administrator",
    ),
    # An agency admin: the police force's own people and contacts, nothing else.
    DemoUser(
        "police.admin@demo.example.org",
        "Dan Kerr",
        "Cheshire Constabulary",
        User.Role.ADMIN,
        "Force systems administrator",
    ),
]


def load() -> list[str]:
    """Create or update the demo partnership. Returns lines describing the sign-ins."""
    areas = {}
    for name, code in AREAS:
        area, _ = LocalAuthorityArea.objects.update_or_create(code=code, defaults={"name": name})
        areas[code] = area

    agencies = {}
    for name, kind, area_codes, contacts in AGENCIES:
        agency, _ = Agency.objects.update_or_create(name=name, defaults={"kind": kind})
        agency.areas.set([areas[code] for code in area_codes])
        for position, (contact_name, role, email, phone, out_of_hours) in enumerate(contacts):
            Contact.objects.update_or_create(
                agency=agency,
                name=contact_name,
                defaults={
                    "role_title": role,
                    "email": email,
                    "phone": phone,
                    "out_of_hours": out_of_hours,
                    "notification_role": NOTIFICATION_ROLES.get(
                        (name, contact_name), Contact.NotificationRole.GENERAL
                    ),
                    "is_default": position == 0,
                    "active": True,
                },
            )
        agencies[name] = agency

    lines = []
    for demo in USERS:
        user, created = User.objects.update_or_create(
            email=demo.email,
            defaults={
                "name": demo.name,
                "agency": agencies[demo.agency],
                "role": demo.role,
                "job_title": demo.job_title,
                "is_active": True,
            },
        )
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        lines.append(f"  {role_label(user):<17} {demo.email:<34} {demo.name}, {demo.agency}")
        lines.extend(_demo_two_factor(user))
    if PARTNERSHIP_ADMIN_EMAIL not in settings.PARTNERSHIP_ADMINS:
        lines.append(
            f"  (Set PARTNERSHIP_ADMINS={PARTNERSHIP_ADMIN_EMAIL} to make Morgan Ellis the "
            "partnership admin; development settings do.)"
        )
    return lines


def role_label(user: User) -> str:
    """The role as the demo list prints it, saying which kind of admin."""
    if user.is_partnership_admin:
        return "Partnership admin"
    if user.is_agency_admin:
        return "Agency admin"
    return user.get_role_display()


DEMO_RECOVERY_CODE_COUNT = 3


def _demo_two_factor(user: User) -> list[str]:
    """Enrol a demo person in two-factor sign-in so a newcomer can sign in as them.

    The authenticator key stays the same from run to run (add it to an app once); the
    recovery codes are new on every run and the previous ones stop working.
    """
    device = two_factor.totp_device_confirmed(user)
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name=two_factor.AUTHENTICATOR_NAME, confirmed=True
        )
    codes = two_factor.recovery_codes_replace(user, count=DEMO_RECOVERY_CODE_COUNT)
    return [
        f"  {'':<17} authenticator key: {two_factor.totp_secret(device)}",
        f"  {'':<17} recovery codes:    {' '.join(codes)}",
    ]
