"""Shared set-up for the engine tests: the cast's partnership with its contacts, and a
child of Cheshire West and Chester. Test modules import the fixtures they use
(``child_fixture`` provides ``child``; the names differ so the import is not shadowed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from incidents.models import CaseEvent, Child, Episode, LegalStatus
from missingkids.accounts.models import Contact, User
from notifications.engine import process_event
from notifications.models import Notification
from tests.factories.incidents import CaseEventFactory, ChildFactory, EpisodeFactory
from tests.factories.notifications import ensure_default_rules, partnership_contacts

UTC = dt.UTC
LONG_AGO = dt.date(2020, 1, 1)


@pytest.fixture(name="contacts")
def contacts_fixture(
    police, la_west, la_east, iro_service, provider, gp_practice, school, school_nurse
) -> dict[str, Contact]:
    ensure_default_rules()
    return partnership_contacts(
        la=la_west,
        others=[police, la_east, iro_service, provider, gp_practice, school, school_nurse],
    )


@pytest.fixture(name="child")
def child_fixture(contacts, officer, area_west) -> Child:
    return ChildFactory(
        responsible_area=area_west, legal_status=LegalStatus.NONE, created_by=officer
    )


def make_episode(child: Child, user: User, *, last_seen: dt.datetime, **fields: Any) -> Episode:
    fields.setdefault("reported_at", last_seen + dt.timedelta(minutes=30))
    return EpisodeFactory(child=child, last_seen_at=last_seen, created_by=user, **fields)


def make_event(episode: Episode, user: User, kind: str, at: dt.datetime, **data: Any) -> CaseEvent:
    return CaseEventFactory(
        child=episode.child,
        episode=episode,
        kind=kind,
        is_protocol=True,
        occurred_at=at,
        actor=user,
        data=data,
    )


def notify(
    episode: Episode, user: User, kind: str, at: dt.datetime, **data: Any
) -> list[Notification]:
    event = make_event(episode, user, kind, at, **data)
    process_event(event.pk)
    return list(Notification.objects.filter(event=event).select_related("rule"))


def by_rule(notifications: list[Notification], name: str) -> Notification:
    (found,) = [n for n in notifications if n.rule.name == name]
    return found


REPORTED_LA = "Reported: police tell the responsible local authority"
RETURNED_PROVIDER = "Returned: responsible local authority tells the return-interview provider"
RETURNED_IRO = "Returned: local authority tells the IRO of a child in care"
