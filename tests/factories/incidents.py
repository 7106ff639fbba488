"""Factories for the incidents app. They build rows directly (for test set-up); tests of
behaviour go through the action functions in incidents.actions."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from incidents.models import (
    AgreedAction,
    CaseEvent,
    Child,
    Episode,
    Involvement,
    LegalStatus,
    Location,
    Placement,
    ReturnInterview,
    RiskGrade,
    RiskGrading,
    SafeAndWellCheck,
)
from missingkids import policy

from .accounts import AgencyFactory, LocalAuthorityAreaFactory, UserFactory


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    description = factory.Sequence(lambda n: f"Place {n}")
    address = "1 High Street, Chester"
    postcode = "CH1 1SF"


class ChildFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Child

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=14 * 365))
    gender = "female"
    legal_status = LegalStatus.NONE
    responsible_area = factory.SubFactory(LocalAuthorityAreaFactory)
    created_by = factory.SubFactory(UserFactory)


class PlacementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Placement

    child = factory.SubFactory(ChildFactory, legal_status=LegalStatus.IN_CARE)
    start = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=200))
    type = Placement.Type.FOSTER
    address = "2 Park Road"
    postcode = "CW1 2AB"
    host_area = factory.SelfAttribute("child.responsible_area")


class InvolvementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Involvement

    child = factory.SubFactory(ChildFactory)
    agency = factory.SubFactory(AgencyFactory)
    role = Involvement.Role.OTHER
    start = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=100))


class EpisodeFactory(factory.django.DjangoModelFactory):
    """An open 'missing' episode, last seen three hours ago, graded medium."""

    class Meta:
        model = Episode

    child = factory.SubFactory(ChildFactory)
    category = Episode.Category.MISSING
    last_seen_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=3))
    reported_at = factory.LazyAttribute(lambda o: o.last_seen_at + dt.timedelta(hours=1))
    reported_by_name = "Carer"
    last_seen_location = factory.SubFactory(LocationFactory)
    circumstances = "Did not come home from school."
    risk = RiskGrade.MEDIUM
    risk_rank = 3
    created_by = factory.SelfAttribute("child.created_by")


class RiskGradingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RiskGrading

    episode = factory.SubFactory(EpisodeFactory)
    grade = factory.SelfAttribute("episode.risk")
    graded_at = factory.SelfAttribute("episode.reported_at")
    graded_by = factory.SelfAttribute("episode.created_by")
    rationale = "Initial grading"


class ReturnInterviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReturnInterview

    episode = factory.SubFactory(
        EpisodeFactory,
        found_at=factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1)),
    )
    owner = factory.SubFactory(AgencyFactory, kind="la")
    due_at = factory.LazyAttribute(lambda o: o.episode.found_at + policy.interview_due_after())


class SafeAndWellCheckFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SafeAndWellCheck

    episode = factory.SubFactory(
        EpisodeFactory,
        found_at=factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=2)),
    )
    officer_name = "PC Test"
    agency = factory.SubFactory(AgencyFactory, kind="police")
    conducted_at = factory.LazyAttribute(lambda o: o.episode.found_at + dt.timedelta(minutes=30))
    face_to_face = True
    outcome = "Safe and well."
    recorded_by = factory.SelfAttribute("episode.created_by")


class CaseEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseEvent

    child = factory.SubFactory(ChildFactory)
    kind = CaseEvent.Kind.CHILD_EDITED
    occurred_at = factory.LazyFunction(timezone.now)
    actor = factory.SelfAttribute("child.created_by")
    actor_agency = factory.SelfAttribute("actor.agency")
    summary = "Details changed"


class AgreedActionFactory(factory.django.DjangoModelFactory):
    """An action agreed at a held return interview (pass ``interview``), owned by the
    interview's owner unless ``owner_agency`` is given."""

    class Meta:
        model = AgreedAction

    interview = factory.SubFactory(ReturnInterviewFactory)
    child = factory.LazyAttribute(lambda o: o.interview.episode.child)
    source = AgreedAction.Source.INTERVIEW
    description = "Weekly check-in"
    owner_agency = factory.LazyAttribute(lambda o: o.interview.owner)
    agreed_on = factory.LazyFunction(timezone.localdate)
    due_date = factory.LazyAttribute(lambda o: o.agreed_on + dt.timedelta(days=14))
