"""Every URL of the product, asked for as anonymous, as someone out of scope and as
people in scope, with ids of real records.

The URL patterns are walked from the project's resolver (through every include), so a
new page is covered as soon as it is added: a keyword argument this test does not know
how to fill, or a case URL missing from the expected answers below, fails the test
until someone says what the new page should answer. The admin is left out: it holds
configuration only (tests/security/test_privacy.py checks no case record is
registered there) and its own access is tested in tests/test_admin.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from missingkids.audit.models import AccessLogEntry

# Namespaces whose URLs name case records: out of scope, every one must be a 404.
CASE_NAMESPACES = {"incidents", "notifications"}
# The admin holds configuration only (see the module's docstring). The API (/api/) is
# not signed in to: each call carries a system's token, and its pages answer in JSON
# problem details, never the sign-in page; tests/api/test_routes.py walks its URLs the
# same way (no token, another agency's token, real and missing ids, the access log).
# The CSV import's pages (/imports/) name imports, not case records: an agency's managers
# see their own agency's; tests/api/test_imports.py checks that everyone else (another
# agency, a practitioner, an admin, a missing id) gets 404, and anonymous the sign-in.
# The configuration pages (/configuration/) hold configuration too, and are for admins:
# tests/admins/test_configuration_pages.py walks each as anonymous, each kind of admin,
# a manager and a practitioner, with records in and out of reach.
SKIPPED_NAMESPACES = {"admin", "api", "imports", "configuration"}
# Open by design: whoever holds the signed link in the e-mail acknowledges it (or sets a
# new password from it), signed in or not, in scope or not. The token, not the session,
# is the credential.
OPEN_BY_DESIGN = {"notifications:acknowledge", "password_reset_confirm"}


@dataclass(frozen=True)
class Route:
    view_name: str
    route: str
    kwargs: tuple[str, ...]

    @property
    def namespace(self) -> str:
        return self.view_name.split(":", 1)[0] if ":" in self.view_name else ""


def _walk(patterns: list, namespace: str = "", prefix: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or namespace
            if inner in SKIPPED_NAMESPACES:
                continue
            yield from _walk(entry.url_patterns, inner, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and entry.name:
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            route = prefix + str(entry.pattern)
            yield Route(name, route, tuple(entry.pattern.regex.groupindex))


ROUTES = sorted({r.view_name: r for r in _walk(get_resolver().url_patterns)}.values(), key=str)
# Pages whose ids name no case record: practice guidance (a page's address and version),
# read by everyone signed in; tests/guidance/ checks who may change it.
NOT_CASE_NAMESPACES = {"guidance"}
RECORD_ROUTES = [r for r in ROUTES if r.kwargs and r.namespace not in NOT_CASE_NAMESPACES]
PLAIN_ROUTES = [r for r in ROUTES if not r.kwargs]


def _fill(route: Route, kwarg: str, case) -> object:
    """The id of a real record for each keyword argument a case URL can carry."""
    path = route.route
    if kwarg == "pk" and route.namespace == "incidents":
        if path.startswith("children/"):
            return case.child.pk
        if path.startswith("episodes/"):
            return case.episode.pk
    if kwarg == "pk" and route.namespace == "notifications" and case.notification:
        return case.notification.pk
    if kwarg == "token" and route.view_name == "notifications:acknowledge":
        from notifications.emails import acknowledge_token

        return acknowledge_token(case.notification)
    if route.namespace == "guidance":
        return {"slug": "missing-protocol", "number": 1}[kwarg]
    if route.view_name == "password_reset_confirm":
        # Open by design too: the link e-mailed to the person is the credential.
        return {"uidb64": "MQ", "token": "a-b"}[kwarg]
    simple = {
        "child_pk": case.child.pk,
        "placement_pk": case.placement.pk,
        "involvement_pk": case.involvement.pk,
        "challenge_pk": case.challenge.pk,
        "request_pk": case.involvement_request.pk,
        "attempt_pk": case.attempt.pk,
        "note_pk": case.supervision_note.pk,
        "meeting_pk": case.strategy_meeting.pk,
        "action_pk": case.agreed_action.pk,
        "associate_pk": case.associate.pk,
        "return_pk": case.return_request.pk,
        # A statutory return's file: List 8 (made even when a child has no identifier).
        "kind": "list8",
        # The place where the case's child was last seen.
        "location_pk": case.episode.last_seen_location_id,
    }
    if kwarg in simple:
        return simple[kwarg]
    pytest.fail(
        f"{route.view_name} ({route.route}) has a keyword argument {kwarg!r} that "
        "tests/security/test_url_access.py cannot fill: teach _fill which record it names "
        "and add the page to EXPECTED."
    )


def url_for(route: Route, case) -> str:
    return reverse(route.view_name, kwargs={k: _fill(route, k, case) for k in route.kwargs})


# What each person in scope gets on GET for each page that names a record: 200 unless
# listed. 403 is a page their role or agency may not use; 302 a page that sends them on.
CARE_DETAILS = {
    "incidents:child_legal_status",
    "incidents:placement_add",
    "incidents:placement_end",
    "incidents:involvement_add",
    "incidents:involvement_end",
    "incidents:involvement_request_answer",
}
# Only a host council asks the responsible council to record an agency; the case's child
# lives in the area of their own council, so there is no host council to ask.
HOST_COUNCIL_ONLY = {"incidents:involvement_request_add"}
POLICE_ONLY = {
    "incidents:episode_regrade",
    "incidents:safe_and_well_record",
    "incidents:safe_and_well_check_answers",
    "incidents:safe_and_well_change",
    "incidents:safe_and_well_share",
}
INTERVIEWS = {
    "incidents:interview_attempt_add",
    "incidents:interview_held",
    "incidents:interview_held_check_answers",
    "incidents:interview_declined",
    "incidents:interview_change",
    "incidents:interview_attempt_change",
    "incidents:agreed_action_change",
    "incidents:agreed_action_edit",
}
# The police and the responsible council record and correct the child's associates.
ASSOCIATES = {"incidents:associate_add", "incidents:associate_change"}
# Only the agency that owns an agreed action (the case's: the responsible council)
# marks it done or no longer needed, or reopens it.
ACTION_OWNER_ONLY = {
    "incidents:agreed_action_done",
    "incidents:agreed_action_not_needed",
    "incidents:agreed_action_reopen",
}
# An action is agreed at a held interview, a strategy meeting or a supervision note: the
# case's interview is not yet held, so only the managers (who record meetings) may add one.
ACTION_ADD = {"incidents:agreed_action_add"}
# The police and the responsible council correct the return time; not the provider
# measured against the deadline it starts.
RETURN_TIME = {"incidents:episode_correct_return"}
# Nothing to check yet: back to the form. The interview is not yet held or declined, so
# there is nothing to change: back to its page.
REDIRECTS = {
    "incidents:episode_report_check",
    "incidents:safe_and_well_check_answers",
    "incidents:interview_held_check_answers",
    "incidents:interview_change",
    "notifications:requeue",  # the button posts; a GET goes back to the episode page
    "incidents:agreed_action_reopen",  # the case's action is open: back to the child
}
# Pages that send one role on: the case's check is already recorded (not yet shared), so
# the police are taken to it on the episode page rather than offered its form again.
ROLE_REDIRECTS: dict[str, set[str]] = {"officer": {"incidents:safe_and_well_record"}}
MANAGERS_ONLY = {
    "incidents:episode_close",
    "incidents:strategy_meeting_add",
    "incidents:supervision_note_add",
    "incidents:supervision_note_change",
    "incidents:strategy_meeting_change",
    # The whole record, for a subject access request: the responsible council's managers.
    "oversight:subject_access",
}
# A council's statutory returns: its own managers' (a 403 to the rest of the council, a
# 404 to other agencies, whose returns they are not).
RETURNS = {"oversight:return_request", "oversight:return_download"}
RETURNS_AGENCY = {"social_worker", "manager"}
# The missing person profile: its responsible council keeps it and the police see it
# (the case's provider is neither); the case keeps no photo, so its photos are not found.
PROFILE_KEEPERS_ONLY = {"incidents:profile_edit", "incidents:profile_review"}
PROFILE_READERS_ONLY = {"incidents:profile_sheet", "incidents:profile_snapshot"}
NO_PHOTO = {"incidents:profile_photo", "incidents:profile_snapshot_photo"}
EXPECTED_403: dict[str, set[str]] = {
    "social_worker": POLICE_ONLY
    | MANAGERS_ONLY
    | RETURNS
    | HOST_COUNCIL_ONLY
    | ACTION_ADD
    | {"notifications:cancel", "notifications:requeue"},
    "officer": CARE_DETAILS
    | HOST_COUNCIL_ONLY
    | INTERVIEWS
    | MANAGERS_ONLY
    | PROFILE_KEEPERS_ONLY
    | ACTION_OWNER_ONLY
    | ACTION_ADD
    | {"notifications:record_told", "notifications:cancel", "notifications:requeue"},
    "provider_worker": CARE_DETAILS
    | HOST_COUNCIL_ONLY
    | POLICE_ONLY
    | MANAGERS_ONLY
    | RETURN_TIME
    | PROFILE_KEEPERS_ONLY
    | PROFILE_READERS_ONLY
    | NO_PHOTO
    | ASSOCIATES
    | ACTION_OWNER_ONLY
    | ACTION_ADD
    | {"notifications:record_told", "notifications:cancel", "notifications:requeue"},
    # A manager of the child's responsible council may record that the police shared
    # their check with the council (incidents.rights), so that page is theirs too.
    "manager": (POLICE_ONLY - {"incidents:safe_and_well_share"}) | HOST_COUNCIL_ONLY,
}
KNOWN_RECORD_PAGES = {
    *RETURNS,
    *PROFILE_KEEPERS_ONLY,
    *PROFILE_READERS_ONLY,
    *NO_PHOTO,
    "incidents:child_detail",
    # The record's other pages: seen by everyone who sees the child, like its overview.
    "incidents:child_care",
    "incidents:child_story",
    "incidents:child_history",
    "incidents:child_edit",
    *CARE_DETAILS,
    *HOST_COUNCIL_ONLY,
    "incidents:episode_report",
    "incidents:episode_report_check",
    "incidents:episode_detail",
    "incidents:episode_edit",
    "incidents:episode_return",
    *RETURN_TIME,
    *MANAGERS_ONLY,
    *POLICE_ONLY,
    "incidents:interview_detail",
    *INTERVIEWS,
    *ACTION_OWNER_ONLY,
    *ACTION_ADD,
    "incidents:challenge_add",
    "incidents:challenge_outcome",
    "incidents:challenge_change",
    *ASSOCIATES,
    "incidents:place_detail",
    "notifications:acknowledge",
    "notifications:record_told",
    "notifications:cancel",
    "notifications:requeue",
    "password_reset_confirm",  # open by design: the e-mailed link is the credential
}


def test_walker_finds_the_case_pages():
    names = {r.view_name for r in ROUTES}
    assert {"incidents:child_detail", "incidents:episode_detail", "home", "login"} <= names


def test_every_page_naming_a_record_has_an_expected_answer():
    """A new page with an id in its URL must be added here, with who may use it."""
    unknown = {r.view_name for r in RECORD_ROUTES} - KNOWN_RECORD_PAGES
    assert not unknown, f"Say what these new pages answer to each role: {sorted(unknown)}"


def test_notifications_pages_are_covered():
    names = {r.view_name for r in RECORD_ROUTES}
    assert {"notifications:record_told", "notifications:acknowledge"} <= names


def _is_open(url: str) -> bool:
    return not getattr(resolve(url).func, "login_required", True)


@pytest.mark.parametrize("route", RECORD_ROUTES, ids=[r.view_name for r in RECORD_ROUTES])
def test_anonymous_is_sent_to_sign_in(client, case, route):
    url = url_for(route, case)
    if route.view_name in OPEN_BY_DESIGN:
        assert _is_open(url)
        assert client.get(url).status_code == 200
        return
    assert not _is_open(url), f"{route.view_name} is open to anyone"
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, route.view_name)
        assert urlsplit(response.url).path == reverse("login")


def _missing_url(route: Route, case) -> str:
    """The same page for records that do not exist."""
    return reverse(route.view_name, kwargs=dict.fromkeys(route.kwargs, 999999))


# A signed link is its own credential (see OPEN_BY_DESIGN): whoever holds it may use it.
SCOPED_ROUTES = [r for r in RECORD_ROUTES if r.view_name not in OPEN_BY_DESIGN]


@pytest.mark.parametrize("route", SCOPED_ROUTES, ids=[r.view_name for r in SCOPED_ROUTES])
def test_out_of_scope_gets_404_for_every_record(client, case, outsider, route):
    url = url_for(route, case)
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 404, (
        f"GET {url} ({route.view_name}) gave {response.status_code} to someone who may "
        "not know the record exists"
    )
    # Whatever the method, the answer is the one for a record that does not exist (a
    # page that takes only GET says 405 to a POST before looking anything up).
    for method in ("get", "post"):
        real = getattr(client, method)(url)
        missing = getattr(client, method)(_missing_url(route, case))
        assert real.status_code == missing.status_code, (method, route.view_name)
        assert real.status_code in (404, 405), (method, route.view_name)
    refused = AccessLogEntry.objects.filter(
        user=outsider, action=AccessLogEntry.Action.REFUSED, path=url
    )
    assert refused.count() >= 2  # at least the two GETs


@pytest.mark.parametrize("role", sorted(EXPECTED_403))
def test_in_scope_people_get_their_pages(client, case, request, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    answers = {}
    for route in RECORD_ROUTES:
        url = url_for(route, case)
        response = client.get(url)
        answers[route.view_name] = response.status_code
        if response.status_code == 302:
            assert urlsplit(response.url).path != reverse("login"), route.view_name
    redirects = REDIRECTS | ROLE_REDIRECTS.get(role, set())
    expected = {
        name: 403
        if name in EXPECTED_403[role]
        else 404
        if name in NO_PHOTO or (name in RETURNS and role not in RETURNS_AGENCY)
        else 302
        if name in redirects or name == "incidents:profile_review"
        else 200
        for name in answers
    }
    assert answers == expected


@pytest.mark.parametrize("route", PLAIN_ROUTES, ids=[r.view_name for r in PLAIN_ROUTES])
@pytest.mark.parametrize("role", ["outsider", "social_worker", "admin_user"])
def test_pages_without_ids_never_fail(client, case, request, role, route):
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse(route.view_name))
    assert response.status_code in (200, 302, 403, 405), (route.view_name, response.status_code)


def test_outsider_finds_nothing_in_lists(client, case, outsider):
    client.force_login(outsider)
    detail = reverse("incidents:child_detail", args=[case.child.pk])
    search = client.post(
        reverse("incidents:child_search"), {"q": case.child.last_name}, follow=True
    )
    assert search.status_code == 200
    assert detail not in search.content.decode()
    open_list = client.get(reverse("incidents:episode_list_open"))
    assert case.child.last_name not in open_list.content.decode()
    # The case's notification is the west council's to make: nothing of it for others.
    for url in (reverse("home"), reverse("agency_work:list")):
        assert case.child.last_name not in client.get(url).content.decode()


def test_admin_without_case_role_cannot_open_records(client, case, admin_user):
    """An admin configures the service; a case record is a 404 to them too."""
    client.force_login(admin_user)
    for route in RECORD_ROUTES:
        if route.view_name in OPEN_BY_DESIGN:
            continue
        assert client.get(url_for(route, case)).status_code == 404, route.view_name


# The statutory returns: a council's own children, for its managers only ----------------


def _ask_for_returns(client, area):
    from oversight.returns import latest_year

    return client.post(reverse("oversight:returns"), {"area": area.pk, "year": latest_year()})


def _return_rows(client, asked) -> tuple[int, bytes]:
    response = client.get(reverse("oversight:return_download", args=[asked.pk, "missing"]))
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body


def test_statutory_returns_are_the_councils_managers_own(
    client, case, manager, host_manager, social_worker, officer, admin_user, outsider
):
    from oversight.models import ReturnRequest
    from oversight.return_requests import build_queued_returns

    case.child.la_child_id = "CW900001"
    case.child.save(update_fields=["la_child_id"])
    area = case.child.responsible_area
    client.force_login(manager)
    asked_for = _ask_for_returns(client, area)
    assert asked_for.status_code == 302
    build_queued_returns(worker="test")
    asked = ReturnRequest.objects.get(pk=asked_for.url.rstrip("/").rsplit("/", 1)[1])
    status, body = _return_rows(client, asked)
    assert status == 200 and b"CW900001" in body
    # Another council's manager cannot choose this council, nor open its returns.
    client.force_login(host_manager)
    refused = _ask_for_returns(client, area)
    assert refused.status_code == 200 and b"Select one of your councils" in refused.content
    status, body = _return_rows(client, asked)
    assert status == 404 and b"CW900001" not in body
    for person in (social_worker, officer, admin_user, outsider):
        client.force_login(person)
        assert _ask_for_returns(client, area).status_code == 403, person.email
        status, body = _return_rows(client, asked)
        assert status in (403, 404) and b"CW900001" not in body, person.email
