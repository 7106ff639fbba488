"""A child of Cheshire West and Chester with one of everything recorded about them.

``case`` holds real objects for every kind of id a case URL can carry, in the scope of
the cast's West users (social worker, officer, provider worker, manager) and out of the
scope of ``outsider``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from incidents.models import (
    AgreedAction,
    Associate,
    Challenge,
    Child,
    Episode,
    InterviewAttempt,
    Involvement,
    InvolvementRequest,
    LegalStatus,
    LegalStatusPeriod,
    Placement,
    ReturnInterview,
    StrategyMeeting,
    SupervisionNote,
)
from tests.factories.incidents import (
    AgreedActionFactory,
    ChildFactory,
    EpisodeFactory,
    InvolvementFactory,
    PlacementFactory,
    ReturnInterviewFactory,
    RiskGradingFactory,
    SafeAndWellCheckFactory,
)


@dataclass
class Case:
    child: Child
    episode: Episode
    placement: Placement
    involvement: Involvement
    challenge: Challenge
    interview: ReturnInterview
    notification: object | None
    involvement_request: InvolvementRequest | None = None
    attempt: InterviewAttempt | None = None
    supervision_note: SupervisionNote | None = None
    strategy_meeting: StrategyMeeting | None = None
    agreed_action: AgreedAction | None = None
    associate: Associate | None = None
    # The council's statutory returns, asked for by its manager and built.
    return_request: object | None = None


@pytest.fixture
def case(area_west, social_worker, officer, la_west, police, provider, manager) -> Case:
    now = timezone.now()
    child = ChildFactory(
        first_name="Kayla",
        last_name="Morris",
        responsible_area=area_west,
        legal_status=LegalStatus.IN_CARE,
        created_by=social_worker,
    )
    LegalStatusPeriod.objects.create(
        child=child, status=LegalStatus.IN_CARE, start=timezone.localdate() - dt.timedelta(days=300)
    )
    placement = PlacementFactory(child=child, host_area=area_west)
    involvement = InvolvementFactory(child=child, agency=provider, role=Involvement.Role.PROVIDER)
    episode = EpisodeFactory(
        child=child,
        created_by=officer,
        last_seen_at=now - dt.timedelta(hours=10),
        found_at=now - dt.timedelta(hours=2),
    )
    RiskGradingFactory(episode=episode, graded_by=officer)
    interview = ReturnInterviewFactory(episode=episode, owner=la_west, provider=provider)
    SafeAndWellCheckFactory(episode=episode, agency=police, recorded_by=officer)
    challenge = Challenge.objects.create(
        child=child,
        episode=episode,
        challenged_agency=police,
        decision="Risk graded low",
        reason="Known to be exploited",
        raised_at=now - dt.timedelta(hours=1),
        raised_by=social_worker,
    )
    notification = None
    try:
        from tests.factories.notifications import NotificationFactory
    except ImportError:  # the notifications app not yet there
        pass
    else:
        notification = NotificationFactory(episode=episode, responsible_agency=la_west)
    # A request to record an agency, waiting for the responsible council's answer.
    involvement_request = InvolvementRequest.objects.create(
        child=child,
        agency=provider,
        role=Involvement.Role.OTHER,
        start=timezone.localdate(),
        requested_by=officer,
        requested_by_agency=police,
    )
    attempt = InterviewAttempt.objects.create(
        interview=interview,
        attempted_at=now - dt.timedelta(hours=1),
        method=InterviewAttempt.Method.PHONE,
        outcome=InterviewAttempt.Outcome.NO_CONTACT,
        recorded_by=social_worker,
    )
    supervision_note = SupervisionNote.objects.create(
        child=child, note="Weekly visits agreed", written_by=manager
    )
    strategy_meeting = StrategyMeeting.objects.create(
        child=child, held_on=timezone.localdate(), decisions="Weekly visits", recorded_by=manager
    )
    strategy_meeting.attendees.create(agency=la_west)
    # An action agreed at an interview still to be recorded: made as an import would.
    agreed_action = AgreedActionFactory(
        interview=interview, description="Weekly check-in", owner_name="Mr Patel"
    )
    # Someone the child goes missing with, recorded by the police during the episode.
    associate = Associate.objects.create(
        child=child, episode=episode, name="Jay", relationship="friend", recorded_by=officer
    )
    from oversight.return_requests import build_queued_returns, return_request

    asked = return_request(
        acting_user=manager,
        area=area_west,
        year=timezone.localdate().year,
        as_at=timezone.localdate(),
    )
    build_queued_returns(worker="test")
    return Case(
        child,
        episode,
        placement,
        involvement,
        challenge,
        interview,
        notification,
        involvement_request,
        attempt,
        supervision_note,
        strategy_meeting,
        agreed_action,
        associate,
        asked,
    )
