"""Rows for the delivery tests (sending, acknowledgement, the checklist, the admin),
built directly so these tests do not depend on the engine that computes them."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from notifications.models import (
    Condition,
    Notification,
    RecipientRole,
    Rule,
    Step,
    TellerKind,
)
from tests.factories.incidents import EpisodeFactory


class DeliveryRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    name = factory.Sequence(lambda n: f"Rule {n}")
    step = Step.REPORTED
    condition = Condition.ANY
    teller = TellerKind.POLICE
    recipient = RecipientRole.RESPONSIBLE_LA
    due_after_hours = 24
    send_email = True
    message = "Check the child's plan and tell the allocated social worker."
    basis = "Audit: police did not always notify the local authority."


class DeliveryNotificationFactory(factory.django.DjangoModelFactory):
    """A notification queued for e-mail, due in a day."""

    class Meta:
        model = Notification

    episode = factory.SubFactory(EpisodeFactory)
    child = factory.SelfAttribute("episode.child")
    rule = factory.SubFactory(DeliveryRuleFactory)
    rule_version = factory.SelfAttribute("rule.version")
    step = factory.SelfAttribute("rule.step")
    recipient_role = factory.SelfAttribute("rule.recipient")
    recipient_key = factory.Sequence(lambda n: f"agency:{n}")
    recipient_name = "Duty desk"
    recipient_email = factory.Sequence(lambda n: f"duty{n}@la.example.org")
    due_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=24))
    delivery = Notification.Delivery.QUEUED
    next_attempt_at = factory.LazyFunction(timezone.now)
