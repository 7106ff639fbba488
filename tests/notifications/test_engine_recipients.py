"""Who is told: the involved professional first, then the agency's default contact, else
a visible problem; and who must do the telling."""

from __future__ import annotations

import datetime as dt

import pytest

from incidents.models import CaseEvent, Involvement, LegalStatus
from notifications.models import Notification, Rule
from tests.factories.accounts import AgencyFactory, ContactFactory
from tests.factories.incidents import InvolvementFactory, PlacementFactory, ReturnInterviewFactory
from tests.factories.notifications import RuleFactory

from .engine_world import (
    LONG_AGO,
    REPORTED_LA,
    RETURNED_IRO,
    RETURNED_PROVIDER,
    UTC,
    by_rule,
    child_fixture,  # noqa: F401
    contacts_fixture,  # noqa: F401
    make_episode,
    notify,
)

pytestmark = pytest.mark.django_db

FOUND = dt.datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
RETURNED_GP = "Returned: local authority tells the involved GP practice"
INTERVIEW_LA = "Interview held or declined: provider tells the responsible local authority"


def _returned(child, officer):
    episode = make_episode(child, officer, last_seen=FOUND - dt.timedelta(hours=4), found_at=FOUND)
    return notify(episode, officer, CaseEvent.Kind.RETURNED, FOUND)


def test_the_involved_professional_is_told_first(child, officer, gp_practice):
    InvolvementFactory(
        child=child,
        agency=gp_practice,
        role=Involvement.Role.GP_PRACTICE,
        professional_name="Dr Ann Jones",
        professional_email="ann.jones@nhs.example.org",
        start=LONG_AGO,
    )

    told = by_rule(_returned(child, officer), RETURNED_GP)

    assert told.recipient_agency == gp_practice
    assert (told.recipient_name, told.recipient_email) == (
        "Dr Ann Jones",
        "ann.jones@nhs.example.org",
    )
    assert told.recipient_key == f"agency:{gp_practice.pk}"


def test_an_involved_agency_with_no_named_professional_gets_its_default_contact(
    child, officer, gp_practice
):
    InvolvementFactory(
        child=child, agency=gp_practice, role=Involvement.Role.GP_PRACTICE, start=LONG_AGO
    )

    told = by_rule(_returned(child, officer), RETURNED_GP)

    default = gp_practice.contacts.get(is_default=True)
    assert told.recipient_contact == default
    assert told.recipient_email == default.email


def test_no_involvement_means_no_notification_and_no_problem(child, officer, gp_practice):
    # A GP practice serves the area, but nobody recorded it against this child.
    made = _returned(child, officer)

    assert not [n for n in made if n.rule.name == RETURNED_GP]
    assert all(not n.problem for n in made)


def test_an_ended_involvement_is_not_told(child, officer, gp_practice):
    InvolvementFactory(
        child=child,
        agency=gp_practice,
        role=Involvement.Role.GP_PRACTICE,
        start=LONG_AGO,
        end=LONG_AGO + dt.timedelta(days=10),
    )

    assert not [n for n in _returned(child, officer) if n.rule.name == RETURNED_GP]


def test_the_provider_involved_with_the_child_before_the_area_provider(child, officer, provider):
    own = AgencyFactory(kind="provider", name="Own provider")
    ContactFactory(agency=own, is_default=True, email="own@provider.example.org")
    InvolvementFactory(child=child, agency=own, role=Involvement.Role.PROVIDER, start=LONG_AGO)

    assert by_rule(_returned(child, officer), RETURNED_PROVIDER).recipient_agency == own


def test_without_a_default_contact_the_agency_mailbox_is_used(child, officer, provider):
    provider.contacts.update(is_default=False)

    told = by_rule(_returned(child, officer), RETURNED_PROVIDER)

    assert told.recipient_contact is None
    assert told.recipient_email == provider.email


def test_no_agency_configured_is_a_visible_problem_not_a_silent_skip(child, officer, iro_service):
    child.legal_status = LegalStatus.IN_CARE
    child.save()
    iro_service.active = False
    iro_service.save()

    told = by_rule(_returned(child, officer), RETURNED_IRO)

    assert told.recipient_key == "none"
    assert told.recipient_agency is None
    assert told.problem == (
        "No independent reviewing officer configured for Cheshire West and Chester: "
        "ask an admin to add one"
    )
    assert told.status == Notification.Status.DUE
    assert told.delivery == Notification.Delivery.NOT_BY_EMAIL
    assert told.is_overdue(now=told.due_at + dt.timedelta(seconds=1))


def test_a_missing_manager_contact_is_a_problem_at_the_la(child, officer, la_west, contacts):
    contacts["team_manager"].delete()
    RuleFactory(
        name="Returned: team manager",
        step="returned",
        teller="responsible_la",
        recipient="team_manager",
    )

    told = by_rule(_returned(child, officer), "Returned: team manager")

    assert told.recipient_key == "none"
    assert told.recipient_agency == la_west
    assert "No team manager configured" in told.problem


def test_the_host_la_is_the_la_of_the_placement_area(child, officer, la_east, area_east):
    PlacementFactory(child=child, host_area=area_east, start=LONG_AGO)

    told = by_rule(
        _returned(child, officer),
        "Returned: responsible local authority tells the host local authority",
    )

    assert told.recipient_agency == la_east
    assert told.recipient_contact == la_east.contacts.get(is_default=True)


def test_e_mail_is_queued_only_for_rules_that_send_and_recipients_with_an_address(
    child, officer, provider
):
    Rule.objects.filter(name=RETURNED_PROVIDER).update(send_email=False)

    made = _returned(child, officer)

    not_sent = by_rule(made, RETURNED_PROVIDER)
    assert not_sent.delivery == Notification.Delivery.NOT_BY_EMAIL
    assert not_sent.next_attempt_at is None
    sent = by_rule(made, "Returned: police tell the responsible local authority")
    assert sent.delivery == Notification.Delivery.QUEUED
    assert sent.next_attempt_at is not None


# Who tells ---------------------------------------------------------------------------


def test_police_tell_as_the_reporting_police_force(child, officer, police):
    other_force = AgencyFactory(kind="police", name="Other force")
    episode = make_episode(
        child, officer, last_seen=FOUND, reported_by_agency=other_force, risk="medium"
    )

    made = notify(episode, officer, CaseEvent.Kind.REPORTED, FOUND + dt.timedelta(hours=1))

    assert by_rule(made, REPORTED_LA).responsible_agency == other_force


def test_police_tell_as_the_area_force_when_a_carer_reported(child, officer, police, la_west):
    episode = make_episode(child, officer, last_seen=FOUND, reported_by_agency=la_west)

    made = notify(episode, officer, CaseEvent.Kind.REPORTED, FOUND + dt.timedelta(hours=1))

    assert by_rule(made, REPORTED_LA).responsible_agency == police


def test_the_reporting_agency_tells_the_iro(child, officer, provider, la_west):
    child.legal_status = LegalStatus.IN_CARE
    child.save()
    episode = make_episode(child, officer, last_seen=FOUND, reported_by_agency=provider)

    made = notify(episode, officer, CaseEvent.Kind.REPORTED, FOUND + dt.timedelta(hours=1))

    assert by_rule(made, "Reported: tell the IRO of a child in care").responsible_agency == provider


def test_the_interview_provider_tells_of_the_interview(child, officer, la_west):
    own = AgencyFactory(kind="provider", name="Interview provider")
    episode = make_episode(child, officer, last_seen=FOUND - dt.timedelta(hours=3), found_at=FOUND)
    ReturnInterviewFactory(
        episode=episode, owner=la_west, provider=own, outcome="held", held_at=FOUND
    )

    made = notify(episode, officer, CaseEvent.Kind.INTERVIEW_HELD, FOUND + dt.timedelta(hours=5))

    told = by_rule(
        made, "Interview held or declined: provider tells the responsible local authority"
    )
    assert told.responsible_agency == own
