"""Factories for the notifications app, and the contacts a partnership needs so that
every default rule finds somebody to tell."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from missingkids.accounts.models import Agency, Contact
from notifications.defaults import DEFAULT_RULES, rule_snapshot
from notifications.models import (
    Condition,
    Notification,
    RecipientRole,
    Rule,
    RuleVersion,
    Step,
    TellerKind,
)

from .accounts import ContactFactory
from .incidents import EpisodeFactory


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    name = factory.Sequence(lambda n: f"Test rule {n}")
    step = Step.REPORTED
    condition = Condition.ANY
    teller = TellerKind.POLICE
    recipient = RecipientRole.RESPONSIBLE_LA
    due_after_hours = Decimal(24)
    send_email = True
    basis = "Test basis"


class RuleVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RuleVersion

    rule = factory.SubFactory(RuleFactory)
    version = factory.SelfAttribute("rule.version")
    data = factory.LazyAttribute(lambda o: {"name": o.rule.name})


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    episode = factory.SubFactory(EpisodeFactory)
    child = factory.SelfAttribute("episode.child")
    rule = factory.SubFactory(RuleFactory)
    rule_version = factory.SelfAttribute("rule.version")
    step = factory.SelfAttribute("rule.step")
    recipient_role = factory.SelfAttribute("rule.recipient")
    recipient_agency = factory.SubFactory("tests.factories.accounts.AgencyFactory")
    recipient_key = factory.LazyAttribute(lambda o: f"agency:{o.recipient_agency.pk}")
    recipient_name = "Duty desk"
    recipient_email = factory.Sequence(lambda n: f"recipient{n}@example.org")
    due_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=24))


def default_contact(agency: Agency, **fields: object) -> Contact:
    return ContactFactory(
        agency=agency,
        is_default=True,
        name=fields.pop("name", f"{agency.name} duty desk"),
        **fields,
    )


def partnership_contacts(
    *, la: Agency, others: list[Agency], la_managers: bool = True
) -> dict[str, Contact]:
    """Contacts for a local authority (front door, out-of-hours team and, if asked, the
    three managers) and a default contact for each other agency."""
    contacts = {
        "front_door": default_contact(la, name="Front door", email="front.door@la.example.org"),
        "out_of_hours": ContactFactory(
            agency=la, name="Emergency Duty Team", email="edt@la.example.org", out_of_hours=True
        ),
    }
    if la_managers:
        for role, email in (
            (Contact.NotificationRole.TEAM_MANAGER, "team.manager@la.example.org"),
            (Contact.NotificationRole.HEAD_OF_SERVICE, "head.of.service@la.example.org"),
            (Contact.NotificationRole.DIRECTOR, "director@la.example.org"),
        ):
            contacts[role] = ContactFactory(
                agency=la, name=role.label, email=email, notification_role=role
            )
    for agency in others:
        contacts[agency.name] = default_contact(agency)
    return contacts


def ensure_default_rules() -> None:
    """The default rules, as the data migration loads them.

    A transactional test (``transaction=True``) empties every table when it ends,
    including rows a data migration loaded; tests that rely on the default rules call
    this so they hold whatever ran before them.
    """
    if Rule.objects.filter(name__in=[r["name"] for r in DEFAULT_RULES]).exists():
        return
    for values in DEFAULT_RULES:
        rule = Rule.objects.create(version=1, **values)
        RuleVersion.objects.create(rule=rule, version=1, data=rule_snapshot(rule))
