"""Every page that shows a child's personal data is in the access log.

Walks every URL of the project (the walker of test_url_access.py, so a new page is
covered as soon as it is added) as each person in scope, and checks that each page
that answers with the child's name, date of birth or an identifier wrote a log entry
for that request, naming the child where the URL names a record. Every page of the case
URLs that answers 200 is logged whether or not it shows the case's child (a list may
simply not include them today), and every refusal is logged too. The search is walked
the way the page does it, by posting the words.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from missingkids.audit.middleware import CASE_NAMESPACES
from missingkids.audit.models import AccessLogEntry
from oversight.returns import latest_year as returns_latest_year
from tests.security.test_url_access import OPEN_BY_DESIGN, ROUTES, url_for

A = AccessLogEntry.Action
IN_SCOPE = ["social_worker", "officer", "provider_worker", "manager"]
# Case pages that show no one's record, so write no entry: the search box before a
# search, and the form for adding a new child.
SHOW_NO_RECORD = {"incidents:child_search", "incidents:child_add"}
# Pages outside the case URLs that may show a child: the home page's "What your agency
# must do". Signing in and out, and "Your account", show nobody.
OTHER_PAGES_WITH_CHILDREN = {"home"}
# Case pages whose id names a council's statutory returns, not a child: each lists many
# children, and is logged as a list (or an export) naming none.
COUNCIL_RETURNS = {"oversight:return_request", "oversight:return_download"}


def child_data(case) -> list[str]:
    child = case.child
    return [
        child.full_name,
        child.last_name,
        f"{child.date_of_birth:%-d %B %Y}",
        f"{child.date_of_birth:%-d %b %Y}",
        *(value for value in (child.nhs_number, child.la_child_id) if value),
    ]


def shows_child(response, case) -> bool:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    return any(marker in text for marker in child_data(case))


def new_entries(since: int, path: str) -> list[AccessLogEntry]:
    return list(AccessLogEntry.objects.filter(pk__gt=since, path=path).order_by("id"))


def last_id() -> int:
    return AccessLogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


WALKED = [r for r in ROUTES if r.view_name not in OPEN_BY_DESIGN]


@pytest.mark.parametrize("role", IN_SCOPE)
def test_every_page_showing_the_child_is_logged(client, case, request, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    shown, unlogged, unnamed = [], [], []
    for route in WALKED:
        url = url_for(route, case)
        before = last_id()
        response = client.get(url)
        entries = new_entries(before, url)
        case_page = route.namespace in CASE_NAMESPACES
        if route.view_name in SHOW_NO_RECORD:
            assert not shows_child(response, case) and not entries, route.view_name
        elif response.status_code == 200 and (case_page or shows_child(response, case)):
            if shows_child(response, case):
                shown.append(route.view_name)
            if not entries:
                unlogged.append(route.view_name)
            elif (
                route.kwargs
                and route.view_name not in COUNCIL_RETURNS
                and not any(e.child_id == case.child.pk for e in entries)
            ):
                unnamed.append(route.view_name)
            assert all(e.user == user and e.ip_address == "127.0.0.1" for e in entries)
        elif response.status_code in (403, 404) and case_page:
            assert [e.action for e in entries] == [A.REFUSED], route.view_name
        if shows_child(response, case) and not case_page:
            assert route.view_name in OTHER_PAGES_WITH_CHILDREN, (
                f"{route.view_name} shows the child: log it, and list it here"
            )
    assert not unlogged, f"pages showing case data with no log entry: {unlogged}"
    assert not unnamed, f"pages about the child logged without the child's id: {unnamed}"
    assert "incidents:child_detail" in shown and "incidents:episode_detail" in shown


def test_record_pages_are_logged_with_the_child_and_episode(client, case, social_worker):
    client.force_login(social_worker)
    for name, kwargs, episode in [
        ("incidents:child_edit", {"pk": case.child.pk}, None),
        ("incidents:episode_edit", {"pk": case.episode.pk}, case.episode.pk),
        ("incidents:interview_attempt_add", {"pk": case.episode.pk}, case.episode.pk),
        ("notifications:record_told", {"pk": case.notification.pk}, case.episode.pk),
    ]:
        url = reverse(name, kwargs=kwargs)
        assert client.get(url).status_code == 200, name
        entry = AccessLogEntry.objects.filter(path=url).get()
        assert (entry.action, entry.child_id, entry.episode_id) == (
            A.VIEW_PAGE,
            case.child.pk,
            episode,
        ), name
        assert entry.detail["url_name"] == name


def test_manager_pages_and_meeting_and_note_pages_are_logged(client, case, manager):
    client.force_login(manager)
    for name, action in [
        ("oversight:dashboard", A.VIEW_LIST),
        ("oversight:open_episodes", A.VIEW_LIST),
        ("oversight:measures", A.VIEW_LIST),
        ("oversight:returns", A.VIEW_LIST),
        ("incidents:strategy_meeting_add", A.VIEW_PAGE),
        ("incidents:supervision_note_add", A.VIEW_PAGE),
    ]:
        kwargs = {"child_pk": case.child.pk} if action == A.VIEW_PAGE else {}
        url = reverse(name, kwargs=kwargs)
        assert client.get(url).status_code == 200
        [entry] = AccessLogEntry.objects.filter(path=url)
        assert entry.action == action, name
        assert entry.child_id == (case.child.pk if kwargs else None)


def test_a_form_shown_again_with_errors_is_logged(client, case, social_worker):
    client.force_login(social_worker)
    url = reverse("incidents:child_edit", args=[case.child.pk])
    response = client.post(url, {"first_name": ""})
    assert response.status_code == 200
    [entry] = AccessLogEntry.objects.filter(path=url)
    assert (entry.action, entry.child_id, entry.detail["method"]) == (
        A.VIEW_PAGE,
        case.child.pk,
        "POST",
    )


def test_the_search_is_logged_as_a_search(client, case, social_worker):
    client.force_login(social_worker)
    response = client.post(
        reverse("incidents:child_search"), {"q": case.child.full_name}, follow=True
    )
    assert case.child.full_name in response.text
    [entry] = AccessLogEntry.objects.filter(action=A.SEARCH)
    assert entry.detail == {"results": 1, "page": 1}
    assert not AccessLogEntry.objects.filter(action__in=[A.VIEW_LIST, A.VIEW_PAGE]).exists()


def test_the_home_page_is_logged_when_it_names_children(client, case, social_worker, officer):
    client.force_login(social_worker)
    home = client.get(reverse("home"))
    assert case.child.last_name in home.text  # the council's notification to make
    [entry] = AccessLogEntry.objects.filter(path=reverse("home"))
    assert entry.action == A.VIEW_LIST
    assert entry.detail["rows"] >= 1

    other = Client()
    other.force_login(officer)  # nothing for the police to do here
    assert case.child.last_name not in other.get(reverse("home")).text
    assert not AccessLogEntry.objects.filter(path=reverse("home"), user=officer).exists()


def test_the_acknowledgement_page_is_logged_with_no_one_signed_in(client, case):
    from notifications.emails import acknowledge_token

    url = reverse("notifications:acknowledge", args=[acknowledge_token(case.notification)])
    assert client.get(url).status_code == 200
    [entry] = AccessLogEntry.objects.filter(path=url)
    assert (entry.user, entry.action, entry.child_id, entry.episode_id) == (
        None,
        A.VIEW_PAGE,
        case.child.pk,
        case.episode.pk,
    )


def test_exports_are_logged_once(client, case, manager):
    client.force_login(manager)
    url = reverse("oversight:open_episodes")
    response = client.get(url, {"format": "csv"})
    assert response.status_code == 200
    b"".join(response.streaming_content)
    # The export before the first byte, and the rows sent once the file has gone.
    assert [e.action for e in AccessLogEntry.objects.filter(path=url).order_by("id")] == [
        A.EXPORT,
        A.EXPORT_SENT,
    ]


def test_a_statutory_return_is_logged_once_as_an_export_with_its_rows(client, case, manager):
    """The page with the year's checks is a list; a download is an export, and only that."""
    from oversight.return_requests import build_queued_returns

    case.child.la_child_id = "CW900001"
    case.child.save(update_fields=["la_child_id"])
    client.force_login(manager)
    query = {"area": case.child.responsible_area_id, "year": returns_latest_year()}
    asked = client.post(reverse("oversight:returns"), query)
    assert asked.status_code == 302
    build_queued_returns(worker="test")
    url = asked.url
    assert client.get(url).status_code == 200
    download = f"{url}missing.csv"
    response = client.get(download)
    body = b"".join(response.streaming_content)
    assert b"CW900001" in body
    entries = list(AccessLogEntry.objects.filter(path__in=[url, download]).order_by("id"))
    assert [entry.action for entry in entries] == [A.VIEW_LIST, A.EXPORT]
    assert entries[1].detail["what"] == "ssda903_missing"
    assert entries[1].detail["rows"] == 1
