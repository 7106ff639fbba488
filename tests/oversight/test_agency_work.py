"""What your agency must do: the home page's section and its full list.

Each kind of work (notifications to make, return interviews owned or provided, safe and
well checks for the police force, strategy discussions for the responsible council)
for the right agency and no other, soonest due first, overdue marked, links that open,
a fixed number of queries, and a clear message when there is nothing to do.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from incidents.access import children_visible_to
from incidents.models import CaseEvent, Involvement, ReturnInterview, StrategyMeeting
from missingkids.accounts.models import Agency, User
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from missingkids.audit.log import ACCESS_LOG_QUERIES
from missingkids.audit.models import AccessLogEntry
from notifications.engine import notifications_for_event
from notifications.models import Notification, TellerKind
from oversight import agency_work
from oversight.agency_views import HOME_ROWS
from oversight.models import DueState
from tests.factories import AgencyFactory, LocalAuthorityAreaFactory, UserFactory
from tests.factories.incidents import (
    CaseEventFactory,
    ChildFactory,
    InvolvementFactory,
    PlacementFactory,
    SafeAndWellCheckFactory,
)
from tests.factories.notifications import NotificationFactory, ensure_default_rules

from .world import NOW, episode, returned

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)
S = dt.timedelta(seconds=1)
K = Agency.Kind


def items(user: User, now: dt.datetime = NOW) -> list[agency_work.WorkItem]:
    return agency_work.work_items(user, agency_work.work_rows(user), now)


def summary(user: User, now: dt.datetime = NOW) -> list[tuple[str, str, str]]:
    """(kind, child's first name, status) for each row, in order."""
    return [(i.kind, i.child_name.split()[0], i.tag.label) for i in items(user, now)]


def kinds_for(user: User) -> set[tuple[str, str]]:
    return {(kind, name) for kind, name, _ in summary(user)}


@pytest.fixture
def work(frozen, la_west, police, provider, west_child):
    """One of each kind of work, on different children of the west council."""
    told = episode(west_child(first_name="Told"), last_seen=NOW - 5 * H, found=NOW - 3 * H)
    SafeAndWellCheckFactory(episode=told, agency=police, conducted_at=NOW - 2 * H)
    NotificationFactory(episode=told, responsible_agency=police, due_at=NOW + 20 * H)
    problem = episode(west_child(first_name="Nobody"), last_seen=NOW - 2 * H)
    NotificationFactory(
        episode=problem,
        responsible_agency=la_west,
        due_at=NOW + 10 * H,
        recipient_agency=None,
        recipient_key="none",
        recipient_name="",
        problem="No team manager configured for Cheshire West and Chester: ask an admin to add one",
    )
    interview = returned(west_child(first_name="Interview"), la_west, found=NOW - 2 * H)
    interview.provider = provider
    interview.save(update_fields=["provider"])
    SafeAndWellCheckFactory(episode=interview.episode, agency=police, conducted_at=NOW - H)
    episode(west_child(first_name="Check"), last_seen=NOW - 9 * H, found=NOW - 8 * H)
    episode(west_child(first_name="Strategy"), last_seen=NOW - 30 * H)
    return interview


# Each kind for the right agency ----------------------------------------------------------


def test_each_kind_of_work_goes_to_the_agency_that_must_do_it(
    work, officer, social_worker, manager, provider_worker, outsider
):
    assert kinds_for(officer) == {("notification", "Told"), ("safe_and_well", "Check")}
    council = {
        ("notification", "Nobody"),
        ("interview", "Interview"),
        ("strategy", "Strategy"),
        # Missing two hours: the discussion falls due if they are still missing at 24.
        ("strategy", "Nobody"),
    }
    assert kinds_for(social_worker) == council
    assert kinds_for(manager) == council  # the agency's work, whatever the role
    assert kinds_for(provider_worker) == {("interview", "Interview")}
    assert kinds_for(outsider) == set()


def test_soonest_due_first_whatever_the_kind_with_overdue_marked(work, social_worker):
    assert summary(social_worker) == [
        ("strategy", "Strategy", "Overdue"),  # due 6 hours ago
        ("notification", "Nobody", "Problem"),  # due in 10 hours, nobody to tell
        ("strategy", "Nobody", "Due"),  # due in 22 hours
        ("interview", "Interview", "Due"),  # due in 70 hours
    ]
    # 71 hours on, everything not done is late.
    later = [tag for _, _, tag in summary(social_worker, NOW + 71 * H)]
    assert later == ["Overdue", "Problem", "Overdue", "Overdue"]


def test_overdue_is_strictly_after_the_deadline(frozen, officer, west_child):
    returned_at = NOW - 24 * H
    episode(west_child(first_name="Now"), last_seen=returned_at - H, found=returned_at)
    assert summary(officer) == [("safe_and_well", "Now", "Due")]
    assert summary(officer, NOW + S) == [("safe_and_well", "Now", "Overdue")]


def test_problem_notifications_are_told_apart(work, social_worker):
    row = next(i for i in items(social_worker) if i.kind == "notification")
    assert row.tag.label == "Problem"
    assert "nobody is set up" in row.what
    assert "No team manager configured" in row.hint


def test_interviews_say_whether_the_agency_owns_or_provides(work, social_worker, provider_worker):
    owned = next(i for i in items(social_worker) if i.kind == "interview")
    provided = next(i for i in items(provider_worker) if i.kind == "interview")
    assert owned.hint.startswith("Your agency owns it; provided by Catch22")
    assert provided.hint.startswith("Your agency provides it; owned by Cheshire West")
    assert owned.href == reverse("incidents:interview_detail", args=[work.episode_id])


def test_done_or_closed_work_is_not_listed_but_notifications_still_due_are(
    frozen, manager, social_worker, officer, la_west, police, west_child
):
    held = returned(
        west_child(first_name="Held"),
        la_west,
        found=NOW - 5 * H,
        outcome=ReturnInterview.Outcome.HELD,
        held_at=NOW - H,
    )
    SafeAndWellCheckFactory(episode=held.episode, agency=police, conducted_at=NOW - 4 * H)
    closed = returned(west_child(first_name="Closed"), la_west, found=NOW - 40 * H)
    closed.episode.closed_at, closed.episode.closed_by = NOW - H, manager
    closed.episode.closure_reason = "Moved abroad with family"
    closed.episode.save()
    NotificationFactory(episode=closed.episode, responsible_agency=la_west, due_at=NOW - H)
    NotificationFactory(
        episode=held.episode,
        responsible_agency=la_west,
        due_at=NOW - H,
        status=Notification.Status.TOLD,
    )
    # Closed: no interview, check or discussion; the notification is still to make.
    assert summary(social_worker) == [("notification", "Closed", "Overdue")]
    assert summary(officer) == []


def test_only_children_the_person_may_see(frozen, police, officer, far_child):
    far = episode(far_child(first_name="Far"), last_seen=NOW - 9 * H, found=NOW - 8 * H)
    NotificationFactory(episode=far, responsible_agency=police, due_at=NOW + H)
    assert summary(officer) == []


# Safe and well checks: which police force ------------------------------------------------


@pytest.fixture
def merseyside(area_other):
    return AgencyFactory(name="Merseyside Police", kind=K.POLICE, areas=[area_other])


def test_the_police_force_that_must_record_the_check(
    frozen, officer, police, merseyside, la_west, area_west, area_other, west_child
):
    mersey_officer = UserFactory(agency=merseyside)
    # Reported by another force, which works with the child: that force's check.
    theirs = west_child(first_name="Theirs")
    InvolvementFactory(child=theirs, agency=merseyside, role=Involvement.Role.OTHER)
    episode(theirs, last_seen=NOW - 9 * H, found=NOW - 8 * H, reported_by_agency=merseyside)
    # Reported by the council: the force serving the child's area.
    episode(
        west_child(first_name="Ours"),
        last_seen=NOW - 9 * H,
        found=NOW - 7 * H,
        reported_by_agency=la_west,
    )
    # A council with no police force set up: the force where the child was placed.
    nowhere = LocalAuthorityAreaFactory(name="Nowhere Council")
    placed = ChildFactory(first_name="Placed", responsible_area=nowhere, created_by=officer)
    PlacementFactory(child=placed, host_area=area_west, start=NOW.date() - dt.timedelta(days=30))
    episode(placed, last_seen=NOW - 9 * H, found=NOW - 6 * H)

    assert kinds_for(officer) == {("safe_and_well", "Ours"), ("safe_and_well", "Placed")}
    assert kinds_for(mersey_officer) == {("safe_and_well", "Theirs")}


def test_the_force_agrees_with_the_notification_engine(
    frozen, officer, police, merseyside, la_west, area_west, west_child
):
    """The police force asked to record the check is the one the engine makes tell the
    local authority of the return (``TellerKind.POLICE``)."""
    ensure_default_rules()
    theirs = west_child(first_name="Theirs")
    InvolvementFactory(child=theirs, agency=merseyside, role=Involvement.Role.OTHER)
    cases = [
        episode(theirs, last_seen=NOW - 9 * H, found=NOW - 8 * H, reported_by_agency=merseyside),
        episode(
            west_child(first_name="Ours"),
            last_seen=NOW - 9 * H,
            found=NOW - 7 * H,
            reported_by_agency=la_west,
        ),
    ]
    for case in cases:
        event = CaseEventFactory(
            child=case.child,
            episode=case,
            kind=CaseEvent.Kind.RETURNED,
            is_protocol=True,
            occurred_at=case.found_at,
            actor=officer,
        )
        tellers = {
            n.responsible_agency
            for n in notifications_for_event(event)
            if n.rule.teller == TellerKind.POLICE
        }
        listed = {
            agency
            for agency in (police, merseyside)
            if agency_work.checks_for_police_force(agency).filter(pk=case.pk).exists()
        }
        assert tellers == listed, case.child.first_name
        assert len(listed) == 1


# Strategy discussions: the responsible council -------------------------------------------


def test_strategy_discussions_are_for_the_responsible_council_only(
    frozen, social_worker, la_east, area_east, west_child
):
    east_worker = UserFactory(agency=la_east)
    placed = west_child(first_name="Placed")
    PlacementFactory(child=placed, host_area=area_east)
    episode(placed, last_seen=NOW - 30 * H)
    # The east council sees the child (placed in its area) but the discussion is the
    # west council's, which owns the child's case.
    assert ("strategy", "Placed") in kinds_for(social_worker)
    assert placed in children_visible_to(east_worker)
    assert ("strategy", "Placed") not in kinds_for(east_worker)


def test_a_strategy_discussion_leaves_the_list_when_a_meeting_is_recorded(
    frozen, social_worker, manager, west_child, la_west
):
    child = west_child(first_name="Met")
    missing = episode(child, last_seen=NOW - 30 * H)
    assert ("strategy", "Met") in kinds_for(social_worker)
    meeting = StrategyMeeting.objects.create(
        child=child, held_on=NOW.date(), decisions="Search plan", recorded_by=manager
    )
    assert ("strategy", "Met") not in kinds_for(social_worker)
    # A meeting before the episode began does not count.
    meeting.held_on = (missing.last_seen_at - 2 * dt.timedelta(days=1)).date()
    meeting.save()
    assert ("strategy", "Met") in kinds_for(social_worker)


def test_a_missed_discussion_stays_until_the_episode_closes(
    frozen, social_worker, manager, west_child
):
    late = episode(west_child(first_name="Late"), last_seen=NOW - 50 * H, found=NOW - 20 * H)
    assert ("strategy", "Late", "Missed") in summary(social_worker)
    late.closed_at, late.closed_by, late.closure_reason = NOW, manager, "Done"
    late.save()
    assert ("strategy", "Late") not in kinds_for(social_worker)


def test_the_discussions_kept_for_the_managers_answer_as_the_episodes_do(
    frozen, social_worker, la_east, area_east, west_child, manager
):
    """Read from the managers' kept rows (filled) or from the open episodes (until the
    table is filled): the same rows, in the same order, for every council."""
    episode(west_child(first_name="Due"), last_seen=NOW - 10 * H)
    episode(west_child(first_name="Overdue"), last_seen=NOW - 30 * H)
    episode(west_child(first_name="Missed"), last_seen=NOW - 50 * H, found=NOW - 20 * H)
    episode(west_child(first_name="Intime"), last_seen=NOW - 50 * H, found=NOW - 40 * H)
    met = west_child(first_name="Met")
    episode(met, last_seen=NOW - 30 * H)
    StrategyMeeting.objects.create(
        child=met, held_on=NOW.date(), decisions="Search plan", recorded_by=manager
    )
    placed = west_child(first_name="Placed")
    PlacementFactory(child=placed, host_area=area_east)
    episode(placed, last_seen=NOW - 26 * H)
    east_worker = UserFactory(agency=la_east)
    kept = {user: list(agency_work.work_rows(user)) for user in (social_worker, east_worker)}
    DueState.objects.update_or_create(pk=1, defaults={"filled": False, "built_at": NOW})
    for user, rows in kept.items():
        assert list(agency_work.work_rows(user)) == rows
        assert agency_work.soonest(user, 3) == rows[:3]
    strategy = [(kind, name) for kind, name, _tag in summary(social_worker) if kind == "strategy"]
    assert strategy == [("strategy", n) for n in ("Missed", "Overdue", "Placed", "Due")]
    assert "strategy" not in {kind for kind, _name in kinds_for(east_worker)}


# The home page and the full list ---------------------------------------------------------


def section(response) -> str:
    html = response.text
    start = html.index('data-testid="agency-work"')
    return html[start : html.index("</section>", start)]


@pytest.mark.parametrize("who", ["officer", "social_worker", "provider_worker"])
def test_home_page_lists_the_work_with_links_that_open(request, client, work, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    html = section(client.get(reverse("home")))
    expected = items(user)
    assert expected
    assert html.count('<tr class="govuk-table__row" data-kind=') == len(expected)
    for item in expected:
        assert item.href in html
        assert client.get(item.href).status_code == 200, item


def test_home_page_marks_overdue_with_a_tag(client, work, social_worker):
    client.force_login(social_worker)
    html = section(client.get(reverse("home")))
    assert '<strong class="govuk-tag govuk-tag--red">Overdue</strong>' in html
    assert '<strong class="govuk-tag govuk-tag--orange">Problem</strong>' in html
    assert html.index("Strategy discussion") < html.index("Return interview")


def test_nothing_due_says_so(client, frozen, social_worker, outsider):
    for user in (social_worker, outsider):
        client.force_login(user)
        html = section(client.get(reverse("home")))
        assert 'data-testid="agency-work-nothing"' in html
        assert f"Nothing is due for {user.agency.name}".replace("'", "&#x27;") in html
        assert "<table" not in html


def test_no_section_for_admins_and_the_full_list_refuses_them(client, work, admin_user):
    client.force_login(admin_user)
    assert 'data-testid="agency-work"' not in client.get(reverse("home")).text
    url = reverse("agency_work:list")
    assert client.get(url).status_code == 403
    refused = AccessLogEntry.objects.get(user=admin_user, action=AccessLogEntry.Action.REFUSED)
    assert refused.path == url
    assert refused.detail == {"url_name": "agency_work:list", "method": "GET"}


def test_the_lists_are_logged_as_lists(client, work, social_worker):
    client.force_login(social_worker)
    client.get(reverse("home"))
    client.get(reverse("agency_work:list"))
    logged = AccessLogEntry.objects.exclude(action=AccessLogEntry.Action.PASSWORD_ACCEPTED)
    assert [(e.action, e.path, e.child_id) for e in logged.order_by("id")] == [
        (AccessLogEntry.Action.VIEW_LIST, reverse("home"), None),
        (AccessLogEntry.Action.VIEW_LIST, reverse("agency_work:list"), None),
    ]


def test_an_interview_owned_and_provided_is_listed_once(work, social_worker, la_west):
    work.provider = la_west
    work.save(update_fields=["provider"])
    interviews = [i for i in items(social_worker) if i.kind == "interview"]
    assert len(interviews) == 1
    assert interviews[0].hint.startswith("Your agency owns and provides it")


def many(n: int, *, la, police, west_child) -> None:
    """``n`` rows of each kind for the west council and for the police, their deadlines
    interleaved so that any page holds every kind."""
    minute = dt.timedelta(minutes=1)
    for i in range(n):
        due = NOW - i * H
        # Still missing 24 hours after last seen: a strategy discussion for the council.
        episode(west_child(), last_seen=due - 24 * H - 10 * minute)
        # Returned without an interview (the council's) or a check (the police's).
        interview = returned(west_child(), la, found=due - 72 * H - 20 * minute)
        NotificationFactory(
            episode=interview.episode, responsible_agency=la, due_at=due - 30 * minute
        )
        NotificationFactory(
            episode=interview.episode,
            responsible_agency=police,
            due_at=interview.episode.safe_and_well_due_at - minute,
        )


def test_a_bounded_number_on_home_and_the_rest_in_the_full_list(
    client, frozen, social_worker, la_west, police, west_child
):
    many(9, la=la_west, police=police, west_child=west_child)  # 27 for the council
    client.force_login(social_worker)
    html = section(client.get(reverse("home")))
    assert html.count('data-kind="') == HOME_ROWS
    assert "Showing the 10 soonest of 27" in html
    full = reverse("agency_work:list")
    assert full in html
    first = client.get(full)
    assert first.status_code == 200
    assert len(first.context["items"]) == 25
    assert first.context["page"].paginator.count == 27
    second = client.get(full, {"page": 2})
    assert len(second.context["items"]) == 2
    shown = [i.due_at for i in first.context["items"] + second.context["items"]]
    assert shown == sorted(shown)


def test_a_large_backlog_is_counted_up_to_a_bound(
    client, frozen, social_worker, la_west, police, west_child, monkeypatch
):
    from oversight import agency_views

    monkeypatch.setattr(agency_views, "COUNTED_AT_MOST", 20)
    many(9, la=la_west, police=police, west_child=west_child)  # 27 for the council
    client.force_login(social_worker)
    html = section(client.get(reverse("home")))
    assert "Showing the 10 soonest of more than 20" in html
    first = client.get(reverse("agency_work:list"))
    assert "More than 20" in first.text
    assert len(first.context["items"]) == 20  # the soonest, in the pages offered
    shown = [i.due_at for i in first.context["items"]]
    assert shown == sorted(shown)


@pytest.mark.parametrize("who", ["social_worker", "officer"])
@pytest.mark.parametrize("upto", [1, 5, 12, 100])
def test_rows_read_up_to_a_bound_are_the_first_of_all_rows(
    request, frozen, la_west, police, provider, west_child, who, upto
):
    many(6, la=la_west, police=police, west_child=west_child)
    provided = returned(west_child(), la_west, found=NOW - 75 * H)
    provided.provider = provider
    provided.save(update_fields=["provider"])
    user = request.getfixturevalue(who)
    everything = list(agency_work.work_rows(user))
    assert list(agency_work.work_rows(user, upto=upto)[:upto]) == everything[:upto]


@pytest.mark.parametrize("who", ["social_worker", "officer", "provider_worker"])
def test_the_soonest_rows_are_the_first_rows_whatever_changes(
    request, frozen, la_west, police, provider, west_child, who
):
    """``soonest`` (its SQL compiled once an agency on PostgreSQL) reads what
    ``work_rows`` does, before and after the records change."""
    many(4, la=la_west, police=police, west_child=west_child)
    user = request.getfixturevalue(who)

    def same(n: int) -> None:
        everything = list(agency_work.work_rows(user))
        assert agency_work.soonest(user, n) == everything[:n]

    for n in (1, 5, 100):
        same(n)
    provided = returned(west_child(), la_west, found=NOW - 75 * H)
    provided.provider = provider
    provided.save(update_fields=["provider"])
    NotificationFactory(episode=provided.episode, responsible_agency=police, due_at=NOW - 99 * H)
    NotificationFactory(episode=provided.episode, responsible_agency=la_west, due_at=NOW - 98 * H)
    episode(west_child(), last_seen=NOW - 80 * H)
    for n in (1, 5, 100):
        same(n)
    ReturnInterview.objects.filter(provider=provider).delete()
    Notification.objects.filter(status=Notification.Status.DUE).update(
        status=Notification.Status.SENT
    )
    for n in (1, 5, 100):
        same(n)


@pytest.mark.parametrize("who", ["social_worker", "officer"])
def test_the_kept_sql_is_what_compiling_it_again_gives(request, frozen, work, who):
    user = request.getfixturevalue(who)
    agency_work.soonest(user, 7)
    kept = agency_work._COMPILED.get(agency_work._compiled_key(user, 7))
    if kept is None:  # only PostgreSQL keeps it
        return
    assert kept == agency_work.work_rows(user, upto=7)[:7].query.sql_with_params()


def test_no_rows_without_a_case_role(admin_user):
    assert agency_work.soonest(admin_user, 10) == []


def test_no_link_to_the_full_list_when_everything_is_shown(client, work, social_worker):
    client.force_login(social_worker)
    html = section(client.get(reverse("home")))
    assert reverse("agency_work:list") not in html


def test_full_list_refuses_post(client, social_worker):
    client.force_login(social_worker)
    assert client.post(reverse("agency_work:list")).status_code == 405


# Session, user, authenticator, the header's agency and the areas the agency serves.
HOME_BASE = 4 + TWO_FACTOR_QUERIES
# The soonest (kind, id, due) up to the bound, both the count and the page shown; then
# one query per table shown:
# notifications, interviews, and episodes (checks and discussions together); the counts
# of the agency's agreed actions (none here: their rows are not read); and the access log
# entry for the children shown.
SECTION = 1 + 3 + 1 + ACCESS_LOG_QUERIES


@pytest.mark.parametrize("size", [1, 12])
@pytest.mark.parametrize("who", ["social_worker", "officer"])
def test_home_query_count_does_not_grow_with_rows(
    request, client, frozen, la_west, police, west_child, size, who, django_assert_num_queries
):
    many(size, la=la_west, police=police, west_child=west_child)
    user = request.getfixturevalue(who)
    # The police have notifications and checks (episodes) to show, not interviews.
    section = SECTION - (1 if who == "officer" else 0)
    client.force_login(user)
    client.get(reverse("home"))
    with django_assert_num_queries(HOME_BASE + section):
        response = client.get(reverse("home"))
    assert response.status_code == 200
    assert response.text.count('data-kind="') == min(
        HOME_ROWS, size * (2 if who == "officer" else 3)
    )
    # The full list: session, user, authenticator and the header's agency, then the same.
    with django_assert_num_queries(3 + TWO_FACTOR_QUERIES + section):
        assert client.get(reverse("agency_work:list")).status_code == 200


def test_a_host_councils_request_waits_on_the_responsible_councils_list(
    client, frozen, social_worker, host_worker, area_east, west_child, school
):
    from incidents.actions import children as child_actions

    placed = west_child(first_name="Placed", legal_status="in_care")
    PlacementFactory(child=placed, host_area=area_east)
    child_actions.involvement_request_add(
        acting_user=host_worker,
        child=placed,
        agency=school,
        role=Involvement.Role.SCHOOL,
        start=NOW.date(),
        note="She started at the local school this term.",
    )

    # The responsible council must answer it; the host council that asked has nothing to do.
    assert ("request", "Placed") in kinds_for(social_worker)
    assert ("request", "Placed") not in kinds_for(host_worker)
    (item,) = [i for i in items(social_worker) if i.kind == "request"]
    assert item.what == "Answer a request to record an agency"
    assert school.name in item.hint and host_worker.agency.name in item.hint
    client.force_login(social_worker)
    assert client.get(item.href.split("#")[0]).status_code == 200

    # Answered, it leaves the list.
    child_actions.involvement_request_answer(
        acting_user=social_worker,
        request=placed.involvement_requests.get(),
        accept=False,
        reason="The school is already recorded under its trust's name.",
    )
    assert ("request", "Placed") not in kinds_for(social_worker)
