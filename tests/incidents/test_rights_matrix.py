"""Every cell of the rights matrix (incidents.rights.MATRIX), driven through the action
functions, and the pages' buttons checked against the same matrix.

One child of Cheshire West and Chester, in care and placed in Cheshire East, stands in
a different relation to each agency of the cast:

- responsible council: West's children's services;
- host council: East's children's services;
- police: the constabulary;
- return-interview provider: the provider of the child's pending interview;
- placement provider: the children's home recorded as the child's placement provider;
- involved: a school recorded as involved with the child;
- other: a GP practice that serves West but is not involved.

For each right, relation and role, a person of that agency and role does everything the
right covers: where the matrix says yes, each action succeeds; where it says no, each
is refused (PermissionDenied) and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from incidents import access
from incidents.actions import associates as associate_actions
from incidents.actions import children as child_actions
from incidents.actions import episodes as episode_actions
from incidents.actions import interviews as interview_actions
from incidents.actions import oversight as oversight_actions
from incidents.actions import profiles as profile_actions
from incidents.models import (
    Associate,
    CaseEvent,
    Challenge,
    Child,
    Episode,
    Involvement,
    InvolvementRequest,
    LegalStatus,
    LegalStatusPeriod,
    MissingPersonProfile,
    Placement,
    ReturnInterview,
    RiskGrade,
    SafeAndWellCheck,
    SupervisionNote,
)
from incidents.rights import MATRIX, Relation, Right, permits, relation_to
from missingkids.accounts.models import Agency, User
from oversight import subject_access
from tests.factories import AgencyFactory, UserFactory
from tests.factories.incidents import (
    ChildFactory,
    EpisodeFactory,
    InvolvementFactory,
    PlacementFactory,
    ReturnInterviewFactory,
    SafeAndWellCheckFactory,
)

ROLES = (User.Role.PRACTITIONER, User.Role.MANAGER)


@dataclass
class World:
    child: Child
    episode: Episode
    placement: Placement
    school_involvement: Involvement
    challenge: Challenge
    involvement_request: InvolvementRequest
    agencies: dict[Relation, Agency]
    areas: dict[str, object]
    police: Agency

    def fresh_child(self) -> Child:
        return Child.objects.get(pk=self.child.pk)

    def fresh_episode(self, pk: int | None = None) -> Episode:
        return Episode.objects.select_related("child").get(pk=pk or self.episode.pk)

    def fresh_interview(self) -> ReturnInterview:
        return ReturnInterview.objects.select_related("episode__child").get(
            episode_id=self.episode.pk
        )

    def missing_episode(self) -> Episode:
        """An episode still missing, for the rights that need one (set-up only)."""
        open_one = Episode.objects.filter(child=self.child, found_at__isnull=True).first()
        if open_one is not None:
            return open_one
        now = timezone.now()
        # After the returned episode (found 2 hours ago): one child's episodes never
        # overlap, which PostgreSQL enforces.
        return EpisodeFactory(
            child=self.child,
            created_by=self.child.created_by,
            last_seen_at=now - dt.timedelta(hours=1, minutes=30),
            reported_at=now - dt.timedelta(hours=1),
        )


@pytest.fixture
def world(
    area_west,
    area_east,
    area_other,
    la_west,
    la_east,
    police,
    provider,
    school,
    gp_practice,
    school_nurse,
    social_worker,
) -> World:
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
    placement = PlacementFactory(child=child, host_area=area_east)
    InvolvementFactory(child=child, agency=provider, role=Involvement.Role.PROVIDER)
    school_involvement = InvolvementFactory(
        child=child, agency=school, role=Involvement.Role.SCHOOL
    )
    home = AgencyFactory(name="Oakwood Children's Home", kind=Agency.Kind.OTHER, areas=[area_east])
    InvolvementFactory(child=child, agency=home, role=Involvement.Role.PLACEMENT_PROVIDER)
    episode = EpisodeFactory(
        child=child,
        created_by=social_worker,
        last_seen_at=now - dt.timedelta(hours=30),
        reported_at=now - dt.timedelta(hours=29),
        found_at=now - dt.timedelta(hours=2),
    )
    ReturnInterviewFactory(episode=episode, owner=la_west, provider=provider)
    challenge = Challenge.objects.create(
        child=child,
        challenged_agency=police,
        decision="Risk graded low",
        reason="Known to be exploited",
        raised_at=now - dt.timedelta(hours=1),
        raised_by=social_worker,
    )
    # The host council asked for the school nurse to be recorded: waiting for an answer.
    involvement_request = InvolvementRequest.objects.create(
        child=child,
        agency=school_nurse,
        role=Involvement.Role.OTHER,
        start=timezone.localdate(),
        requested_by=UserFactory(agency=la_east),
        requested_by_agency=la_east,
    )
    return World(
        child=child,
        episode=episode,
        placement=placement,
        school_involvement=school_involvement,
        challenge=challenge,
        involvement_request=involvement_request,
        agencies={
            Relation.RESPONSIBLE_COUNCIL: la_west,
            Relation.HOST_COUNCIL: la_east,
            Relation.POLICE: police,
            Relation.INTERVIEW_PROVIDER: provider,
            Relation.PLACEMENT_PROVIDER: home,
            Relation.INVOLVED: school,
            Relation.OTHER: gp_practice,
        },
        areas={"west": area_west, "east": area_east, "other": area_other, "nurse": school_nurse},
        police=police,
    )


def person(world: World, relation: Relation, role: str) -> User:
    return UserFactory(agency=world.agencies[relation], role=role)


# What each right covers, as calls to the action functions ------------------------------

Step = Callable[[User, World], object]


def _edit_identity(user: User, world: World) -> None:
    child = world.fresh_child()
    child_actions.child_update(
        acting_user=user, child=child, expected_version=child.version, known_as="Kay"
    )


def _add_involvement(user: User, world: World) -> None:
    child_actions.involvement_add(
        acting_user=user,
        child=world.fresh_child(),
        agency=world.areas["nurse"],
        role=Involvement.Role.SCHOOL_NURSE,
        start=timezone.localdate(),
    )


def _answer_request(user: User, world: World) -> None:
    asked = InvolvementRequest.objects.select_related("child", "agency", "requested_by_agency").get(
        pk=world.involvement_request.pk
    )
    child_actions.involvement_request_answer(acting_user=user, request=asked, accept=True)


def _request_involvement(user: User, world: World) -> None:
    child_actions.involvement_request_add(
        acting_user=user,
        child=world.fresh_child(),
        agency=world.agencies[Relation.OTHER],
        role=Involvement.Role.GP_PRACTICE,
        start=timezone.localdate(),
        note="Registered there since she moved.",
    )


def _end_involvement(user: User, world: World) -> None:
    involvement = Involvement.objects.select_related("child", "agency").get(
        pk=world.school_involvement.pk
    )
    child_actions.involvement_end(
        acting_user=user, involvement=involvement, end=timezone.localdate()
    )


def _end_placement(user: User, world: World) -> None:
    placement = Placement.objects.select_related("child", "host_area").get(pk=world.placement.pk)
    child_actions.placement_end(
        acting_user=user, placement=placement, end=timezone.localdate() - dt.timedelta(days=10)
    )


def _add_placement(user: User, world: World) -> None:
    today = timezone.localdate()
    child_actions.placement_add(
        acting_user=user,
        child=world.fresh_child(),
        start=today - dt.timedelta(days=5),
        end=today - dt.timedelta(days=2),
        type=Placement.Type.FOSTER,
        address="3 Bridge Street, Chester",
        postcode="CH1 1NQ",
        host_area=world.areas["west"],
    )


def _change_legal_status(user: User, world: World) -> None:
    child_actions.child_set_legal_status(
        acting_user=user,
        child=world.fresh_child(),
        status=LegalStatus.CHILD_PROTECTION,
        start=timezone.localdate(),
    )


def _move_responsible_council(user: User, world: World) -> None:
    child = world.fresh_child()
    child_actions.child_update(
        acting_user=user,
        child=child,
        expected_version=child.version,
        responsible_area=world.areas["east"],
    )


def _edit_episode(user: User, world: World) -> None:
    episode = world.fresh_episode()
    episode_actions.episode_update(
        acting_user=user,
        episode=episode,
        expected_version=episode.version,
        circumstances="Left after an argument at home.",
    )


def _report(user: User, world: World) -> None:
    now = timezone.now()
    episode_actions.episode_report(
        acting_user=user,
        child=world.fresh_child(),
        category=Episode.Category.MISSING,
        reported_at=now - dt.timedelta(minutes=30),
        reported_by_name="Foster carer",
        last_seen_at=now - dt.timedelta(hours=1),
        circumstances="Did not come home.",
        risk=RiskGrade.MEDIUM,
        risk_rationale="Known to the police.",
    )


def _record_return(user: User, world: World) -> None:
    missing = world.missing_episode()
    episode_actions.episode_record_return(
        acting_user=user,
        episode=world.fresh_episode(missing.pk),
        expected_version=missing.version,
        found_at=timezone.now() - dt.timedelta(hours=1),
        how_returned=Episode.HowReturned.RETURNED_SELF,
    )


def _correct_return_time(user: User, world: World) -> None:
    episode = world.fresh_episode()
    episode_actions.episode_correct_return_time(
        acting_user=user,
        episode=episode,
        expected_version=episode.version,
        found_at=episode.found_at - dt.timedelta(minutes=20),
        reason="The custody record shows the earlier time.",
    )


def _grade_risk(user: User, world: World) -> None:
    missing = world.missing_episode()
    episode_actions.episode_regrade_risk(
        acting_user=user,
        episode=world.fresh_episode(missing.pk),
        grade=RiskGrade.HIGH,
        rationale="Seen with older men.",
    )


def _record_check(user: User, world: World) -> None:
    episode = world.fresh_episode()
    interview_actions.safe_and_well_record(
        acting_user=user,
        episode=episode,
        officer_name="PC Okafor",
        conducted_at=episode.found_at + dt.timedelta(minutes=30),
        face_to_face=True,
        outcome="Safe and well.",
    )


def _record_check_shared(user: User, world: World) -> None:
    check = SafeAndWellCheck.objects.filter(episode=world.episode).first()
    if check is None:  # set-up only: the check the sharing is of
        check = SafeAndWellCheckFactory(episode=world.episode, agency=world.police)
    check = SafeAndWellCheck.objects.select_related("episode__child").get(pk=check.pk)
    interview_actions.safe_and_well_share(
        acting_user=user,
        check=check,
        shared_at=timezone.now() - dt.timedelta(minutes=10),
        method="phone",
        shared_with="Jo Whitfield, West children's services",
    )


def _interview_attempt(user: User, world: World) -> None:
    interview_actions.interview_record_attempt(
        acting_user=user,
        interview=world.fresh_interview(),
        attempted_at=timezone.now() - dt.timedelta(minutes=30),
        method="phone",
        outcome="no_contact",
    )


def _interview_held(user: User, world: World) -> None:
    interview = world.fresh_interview()
    interview_actions.interview_record_held(
        acting_user=user,
        interview=interview,
        expected_version=interview.version,
        held_at=timezone.now() - dt.timedelta(minutes=10),
        held_by="Aisha Begum",
        child_voice="I went to my sister's.",
    )


def _interview_declined(user: User, world: World) -> None:
    interview = world.fresh_interview()
    interview_actions.interview_record_declined(
        acting_user=user,
        interview=interview,
        expected_version=interview.version,
        declined_at=timezone.now() - dt.timedelta(minutes=5),
        carers_information="Carer says she was with her sister.",
        decision_not_to_hold="The child said no three times.",
    )


def _close(user: User, world: World) -> None:
    episode_actions.episode_close(
        acting_user=user, episode=world.fresh_episode(), reason="Child back in placement."
    )


def _strategy_meeting(user: User, world: World) -> None:
    oversight_actions.strategy_meeting_record(
        acting_user=user,
        child=world.fresh_child(),
        held_on=timezone.localdate(),
        attendee_agencies=[world.police],
        decisions="Safety plan agreed.",
    )


def _supervision_note(user: User, world: World) -> None:
    oversight_actions.supervision_note_add(
        acting_user=user, child=world.fresh_child(), note="Review the placement."
    )


def _raise_challenge(user: User, world: World) -> None:
    interview_actions.challenge_raise(
        acting_user=user,
        child=world.fresh_child(),
        challenged_agency=world.police,
        decision="No search",
        reason="High risk",
        raised_at=timezone.now() - dt.timedelta(minutes=5),
    )


def _challenge_outcome(user: User, world: World) -> None:
    challenge = Challenge.objects.select_related("child", "challenged_agency").get(
        pk=world.challenge.pk
    )
    interview_actions.challenge_record_outcome(
        acting_user=user,
        challenge=challenge,
        expected_version=challenge.version,
        status=Challenge.Status.RESOLVED,
        outcome="Search agreed.",
    )


def _keep_profile(user: User, world: World) -> None:
    child = world.fresh_child()
    current = MissingPersonProfile.objects.filter(child=child).first()
    profile_actions.profile_save(
        acting_user=user,
        child=child,
        expected_version=current.version if current else None,
        physical_description="Slim, long dark hair",
    )


def _review_profile(user: User, world: World) -> None:
    profile = MissingPersonProfile.objects.filter(child=world.child).first()
    if profile is None:  # set-up only: the profile to review
        profile = MissingPersonProfile.objects.create(
            child=world.child,
            reviewed_at=timezone.now(),
            reviewed_by=world.child.created_by,
            updated_at=timezone.now(),
            updated_by=world.child.created_by,
        )
    profile = MissingPersonProfile.objects.select_related("child").get(pk=profile.pk)
    profile_actions.profile_mark_reviewed(
        acting_user=user, profile=profile, expected_version=profile.version
    )


def _see_profile(user: User, world: World) -> None:
    profile_actions.profile_for(user=user, child=world.child)


def _subject_access(user: User, world: World) -> None:
    subject_access.child_record(user=user, child=world.child)


def _see_associates(user: User, world: World) -> None:
    list(associate_actions.associates_seen_by(user, world.fresh_child()))


def _record_associate(user: User, world: World) -> None:
    associate_actions.associate_add(
        acting_user=user,
        child=world.fresh_child(),
        episode=world.fresh_episode(),
        name="Jay",
        relationship=Associate.Relationship.FRIEND,
    )


def _correct_associate(user: User, world: World) -> None:
    associate = Associate.objects.filter(child=world.child).first() or Associate.objects.create(
        child=world.child, name="Jay", relationship="friend", recorded_by=world.child.created_by
    )
    associate_actions.associate_correct(
        acting_user=user,
        associate=Associate.objects.select_related("child").get(pk=associate.pk),
        expected_version=associate.version,
        name=f"Jay {user.pk}",
        relationship=Associate.Relationship.OTHER,
        relationship_other="Cousin's friend",
        concern="Drives the child to Liverpool",
    )


# Each right: the actions it covers, in an order in which all of them can succeed.
COVERS: dict[Right, list[Step]] = {
    Right.EDIT_IDENTITY: [_edit_identity],
    Right.MANAGE_CARE_DETAILS: [
        _add_involvement,
        _answer_request,
        _end_involvement,
        _end_placement,
        _add_placement,
        _change_legal_status,
        _move_responsible_council,
    ],
    Right.REQUEST_INVOLVEMENT: [_request_involvement],
    Right.REPORT_EPISODE: [_edit_episode, _report],
    Right.RECORD_RETURN: [_record_return],
    Right.CORRECT_RETURN_TIME: [_correct_return_time],
    Right.GRADE_RISK: [_grade_risk],
    Right.RECORD_SAFE_AND_WELL: [_record_check],
    Right.RECORD_SAFE_AND_WELL_SHARED: [_record_check_shared],
    Right.RECORD_INTERVIEW: [_interview_attempt, _interview_held],
    Right.CLOSE_EPISODE: [_close],
    Right.RECORD_STRATEGY_MEETING: [_strategy_meeting],
    Right.SUPERVISION_NOTES: [_supervision_note],
    Right.RAISE_CHALLENGE: [_raise_challenge, _challenge_outcome],
    Right.EDIT_PROFILE: [_keep_profile, _review_profile],
    Right.SEE_PROFILE: [_see_profile],
    Right.SUBJECT_ACCESS: [_subject_access],
    Right.SEE_ASSOCIATES: [_see_associates],
    Right.RECORD_ASSOCIATES: [_record_associate, _correct_associate],
}
# Rights to read, not to record: nothing is added to the child's timeline.
READS_ONLY: frozenset[Right] = frozenset(
    {Right.SUBJECT_ACCESS, Right.SEE_PROFILE, Right.SEE_ASSOCIATES}
)
# Refused before anything else is looked at, so each can be tried on its own.
REFUSED_TOO: dict[Right, list[Step]] = {Right.RECORD_INTERVIEW: [_interview_declined]}

CELLS = [(right, relation, role) for right in Right for relation in Relation for role in ROLES]


def test_every_right_is_driven():
    assert set(COVERS) == set(Right) == set(MATRIX)
    for right in Right:
        assert set(MATRIX[right]) == set(Relation), right


def test_the_world_stands_in_every_relation(world):
    for relation in Relation:
        for role in ROLES:
            assert relation_to(person(world, relation, role), world.child) == relation


def test_a_relation_exactly_when_the_child_is_in_scope(world, outsider, area_other):
    """incidents.rights and incidents.access agree on who stands anywhere at all."""
    ended = UserFactory(agency=AgencyFactory(kind=Agency.Kind.SCHOOL, areas=[area_other]))
    InvolvementFactory(
        child=world.child,
        agency=ended.agency,
        end=timezone.localdate() - dt.timedelta(days=1),
    )
    people = [person(world, relation, role) for relation in Relation for role in ROLES]
    people += [outsider, ended, UserFactory(agency=world.police, role=User.Role.ADMIN)]
    for user in people:
        in_scope = access.child_in_scope(user, world.child)
        assert (relation_to(user, world.child) is not None) == in_scope, user.agency


@pytest.mark.parametrize(
    ("right", "relation", "role"),
    CELLS,
    ids=[f"{right.value}-{relation.value}-{role}" for right, relation, role in CELLS],
)
def test_matrix_cell(world, right, relation, role):
    user = person(world, relation, role)
    events = CaseEvent.objects.count()
    if permits(relation, role, right):
        for step in COVERS[right]:
            step(user, world)
        if right not in READS_ONLY:
            assert CaseEvent.objects.count() > events
            assert CaseEvent.objects.filter(actor=user).exists()
    else:
        for step in (*COVERS[right], *REFUSED_TOO.get(right, [])):
            with pytest.raises(PermissionDenied):
                step(user, world)
        assert not CaseEvent.objects.filter(actor=user).exists()


@pytest.mark.parametrize("right", list(Right), ids=[r.value for r in Right])
def test_admins_and_people_out_of_scope_hold_no_right(world, right, outsider):
    admin = UserFactory(agency=world.agencies[Relation.RESPONSIBLE_COUNCIL], role=User.Role.ADMIN)
    for user in (admin, outsider):
        assert relation_to(user, world.child) is None
        for step in COVERS[right]:
            with pytest.raises(PermissionDenied):
                step(user, world)


def test_another_provider_is_not_the_interview_provider(world, area_west):
    """A second provider serving the area sees the child but does not hold the interview."""
    rival = AgencyFactory(
        name="Another Return Service", kind=Agency.Kind.PROVIDER, areas=[area_west]
    )
    user = UserFactory(agency=rival)
    interview = world.fresh_interview()
    assert relation_to(user, world.child, interview=interview) == Relation.OTHER
    for step in (_interview_attempt, _interview_held, _interview_declined):
        with pytest.raises(PermissionDenied):
            step(user, world)


# The pages follow the same matrix ------------------------------------------------------


def _offered(client, page: str, link: str) -> bool:
    return f'href="{link}' in client.get(page).content.decode()


def _page_checks(world: World) -> list[tuple[Right, str, list[str]]]:
    child, episode = world.child.pk, world.episode.pk
    child_page = reverse("incidents:child_detail", args=[child])
    care_page = reverse("incidents:child_care", args=[child])
    episode_page = reverse("incidents:episode_detail", args=[episode])
    interview_page = reverse("incidents:interview_detail", args=[episode])
    return [
        (Right.EDIT_IDENTITY, child_page, [reverse("incidents:child_edit", args=[child])]),
        (
            Right.MANAGE_CARE_DETAILS,
            care_page,
            [
                reverse("incidents:child_legal_status", args=[child]),
                reverse("incidents:placement_add", args=[child]),
                reverse("incidents:placement_end", args=[child, world.placement.pk]),
                reverse("incidents:involvement_add", args=[child]),
                reverse("incidents:involvement_end", args=[child, world.school_involvement.pk]),
                reverse(
                    "incidents:involvement_request_answer",
                    args=[child, world.involvement_request.pk],
                ),
            ],
        ),
        (
            Right.REQUEST_INVOLVEMENT,
            care_page,
            [reverse("incidents:involvement_request_add", args=[child])],
        ),
        (Right.REPORT_EPISODE, child_page, [reverse("incidents:episode_report", args=[child])]),
        (
            Right.RECORD_STRATEGY_MEETING,
            child_page,
            [reverse("incidents:strategy_meeting_add", args=[child])],
        ),
        (
            Right.SUPERVISION_NOTES,
            child_page,
            [reverse("incidents:supervision_note_add", args=[child])],
        ),
        (Right.RAISE_CHALLENGE, child_page, [reverse("incidents:challenge_add", args=[child])]),
        (Right.EDIT_PROFILE, child_page, [reverse("incidents:profile_edit", args=[child])]),
        (
            Right.SUBJECT_ACCESS,
            child_page,
            [reverse("oversight:subject_access", args=[child])],
        ),
        (Right.REPORT_EPISODE, episode_page, [reverse("incidents:episode_edit", args=[episode])]),
        (Right.CLOSE_EPISODE, episode_page, [reverse("incidents:episode_close", args=[episode])]),
        (
            Right.RECORD_ASSOCIATES,
            episode_page,
            [reverse("incidents:associate_add", args=[episode])],
        ),
        (
            Right.CORRECT_RETURN_TIME,
            episode_page,
            [reverse("incidents:episode_correct_return", args=[episode])],
        ),
        (
            Right.RECORD_SAFE_AND_WELL,
            episode_page,
            [reverse("incidents:safe_and_well_record", args=[episode])],
        ),
        (
            Right.RECORD_INTERVIEW,
            interview_page,
            [
                reverse("incidents:interview_attempt_add", args=[episode]),
                reverse("incidents:interview_held", args=[episode]),
                reverse("incidents:interview_declined", args=[episode]),
            ],
        ),
    ]


PEOPLE = [(relation, role) for relation in Relation for role in ROLES]


@pytest.mark.parametrize(
    ("relation", "role"), PEOPLE, ids=[f"{rel.value}-{role}" for rel, role in PEOPLE]
)
def test_pages_offer_exactly_what_the_matrix_allows(client, world, relation, role):
    user = person(world, relation, role)
    client.force_login(user)
    for right, page, links in _page_checks(world):
        allowed = permits(relation, role, right)
        for link in links:
            assert _offered(client, page, link) == allowed, (right, page, link)
            assert client.get(link).status_code == (200 if allowed else 403), (right, link)

    # Once the check is recorded: recording its sharing.
    SafeAndWellCheckFactory(episode=world.episode, agency=world.police)
    episode_page = reverse("incidents:episode_detail", args=[world.episode.pk])
    share = reverse("incidents:safe_and_well_share", args=[world.episode.pk])
    allowed = permits(relation, role, Right.RECORD_SAFE_AND_WELL_SHARED)
    assert _offered(client, episode_page, share) == allowed
    assert client.get(share).status_code == (200 if allowed else 403)

    # While a child is missing: the police grade and the return.
    missing = world.missing_episode()
    missing_page = reverse("incidents:episode_detail", args=[missing.pk])
    for right, name in (
        (Right.GRADE_RISK, "episode_regrade"),
        (Right.RECORD_RETURN, "episode_return"),
    ):
        link = reverse(f"incidents:{name}", args=[missing.pk])
        allowed = permits(relation, role, right)
        assert _offered(client, missing_page, link) == allowed, right
        assert client.get(link).status_code == (200 if allowed else 403), right

    # Supervision notes are read only by those who write them.
    SupervisionNote.objects.create(
        child=world.child, note="A reflection on the placement", written_by=world.child.created_by
    )
    page = client.get(reverse("incidents:child_detail", args=[world.child.pk])).content.decode()
    shown = "A reflection on the placement" in page
    assert shown == permits(relation, role, Right.SUPERVISION_NOTES)


# The README's table is the matrix --------------------------------------------------------


def _roles_cell(roles: frozenset[str]) -> str:
    return {BOTH_CELL: "P, M", frozenset({User.Role.MANAGER}): "M"}.get(roles, "\N{EN DASH}")


BOTH_CELL = frozenset(ROLES)


def test_readme_table_is_the_matrix():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    rows = [
        "| May record | " + " | ".join(str(r.label) for r in Relation) + " |",
        "|---|" + "---|" * len(Relation),
        *(
            f"| {right.label} | "
            + " | ".join(_roles_cell(MATRIX[right][relation]) for relation in Relation)
            + " |"
            for right in Right
        ),
    ]
    assert "\n".join(rows) + "\n\n" in readme
