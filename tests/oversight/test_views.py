"""The managers' pages: who may see them, fixed query counts, CSV exports and the log."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.urls import reverse

from incidents.models import LegalStatus, ReturnInterview
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from missingkids.audit.log import ACCESS_LOG_QUERIES
from missingkids.audit.models import AccessLogEntry
from oversight import queries
from oversight.filters import Filters
from oversight.views import LISTS
from tests.factories.accounts import UserFactory
from tests.factories.incidents import (
    AgreedActionFactory,
    LocationFactory,
    PlacementFactory,
    SafeAndWellCheckFactory,
)
from tests.factories.notifications import NotificationFactory

from .world import NOW, attempts, episode, returned

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)

PAGES = [
    reverse("oversight:dashboard"),
    reverse("oversight:measures"),
    *(reverse(page.url_name) for page in LISTS),
]
EXPORTS = [f"{reverse(page.url_name)}?format=csv" for page in LISTS] + [
    f"{reverse('oversight:measures')}?format=csv"
]


@pytest.mark.parametrize("url", PAGES + EXPORTS)
@pytest.mark.parametrize("who", ["social_worker", "officer", "provider_worker", "admin_user"])
def test_only_managers(request, client, url, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get(url)
    assert response.status_code == 403
    assert not AccessLogEntry.objects.filter(action=AccessLogEntry.Action.EXPORT).exists()


@pytest.mark.parametrize("url", PAGES)
def test_manager_pages_render_and_refuse_post(client, manager, url):
    client.force_login(manager)
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 405


def world(size: int, *, la, police, west_child, host=None) -> None:
    """``size`` of everything each list shows."""
    place = LocationFactory(description="Chester bus station")
    for n in range(size):
        if host is not None:
            cared = west_child(legal_status=LegalStatus.IN_CARE)
            PlacementFactory(child=cared, host_area=host)
            episode(cared, last_seen=NOW - 2 * H)
        child = west_child()
        overdue = returned(child, la, found=NOW - 80 * H - n * H, last_seen_location=place)
        # As many failed attempts as the not-engaging rule's 3: a stuck case.
        attempts(overdue, ["no_contact", "declined", "rearranged"])
        # An action agreed a month ago, due a week ago and still open.
        AgreedActionFactory(
            interview=overdue,
            owner_person=UserFactory(agency=overdue.owner),
            agreed_on=NOW.date() - 30 * D,
            due_date=NOW.date() - 7 * D,
        )
        soon = returned(west_child(), la, found=NOW - 60 * H)
        SafeAndWellCheckFactory(episode=soon.episode, conducted_at=soon.episode.found_at + H)
        NotificationFactory(
            episode=soon.episode, child=soon.episode.child, due_at=NOW - H,
            responsible_agency=police, problem="No contact",
        )  # fmt: skip
        # An e-mail the mail server refused, and one it has not taken yet.
        for delivery in ("failed", "retrying"):
            NotificationFactory(
                episode=soon.episode, child=soon.episode.child, due_at=NOW + H,
                responsible_agency=police, delivery=delivery, failing_since=NOW - H,
                last_error="SMTPRecipientsRefused: 550 5.1.1 [address] no such user",
            )  # fmt: skip
        for days in (40, 20):
            episode(child, last_seen=NOW - days * D, found=NOW - days * D + H)
        episode(west_child(), last_seen=NOW - n * H - H, last_seen_location=place)
        # Still missing after 24 hours with no strategy meeting: the discussion is overdue.
        episode(west_child(), last_seen=NOW - 30 * H - n * H)


@pytest.mark.parametrize("size", [1, 6])
@pytest.mark.parametrize("url", PAGES)
def test_query_count_does_not_grow(
    client,
    manager,
    la_west,
    police,
    area_east,
    west_child,
    frozen,
    size,
    url,
    django_assert_num_queries,
):
    world(size, la=la_west, police=police, west_child=west_child, host=area_east)
    client.force_login(manager)
    client.get(url)
    with django_assert_num_queries(EXPECTED_QUERIES[url]):
        response = client.get(url)
    assert response.status_code == 200


# Session, user, authenticator and the header's agency on every page, and its access log
# entry; the filter form's agency and local authority lists on lists and measures.
BASE = 3 + TWO_FACTOR_QUERIES + ACCESS_LOG_QUERIES
FORM = 2
EXPECTED_QUERIES: dict[str, int] = {
    # Every list's count in one query (the overdue lists' from the rows kept by
    # oversight.due, with whether they are filled), the active rules' numbers (read for
    # the repeat list), and the statutory rules switched off.
    reverse("oversight:dashboard"): BASE + 3,
    # Six measure queries, the counts kept from records erased at retention, and which
    # closed months' counts are kept (none here: see test_measure_aggregates).
    reverse("oversight:measures"): BASE + FORM + 8,
    # A count and a page (read by key: the same on every page, see below).
    **{reverse(page.url_name): BASE + FORM + 2 for page in LISTS},
    # The kept repeat missing, and the active rules' numbers, read once for the records'
    # counts in the window and the page's text.
    reverse("oversight:repeat_missing"): BASE + FORM + 4,
    # The lists kept as rows (oversight.due): the count with whether the rows are
    # filled, a page of rows and their records.
    **{
        reverse(f"oversight:{slug}"): BASE + FORM + 3
        for slug in (
            "interviews_overdue",
            "safe_and_well_outstanding",
            "strategy_discussions_overdue",
            "emails_failing",
            "notification_problems",
            "out_of_area",
        )
    },
    # Whether the rows are filled, the per-agency counts, a page of rows and their records.
    reverse("oversight:notifications_overdue"): BASE + FORM + 4,
    # The kept stuck cases, and the rules' number for the page's text.
    reverse("oversight:stuck_cases"): BASE + FORM + 4,
    # A page of places grouped in the database (counted by a window), and their sightings.
    reverse("oversight:hotspots"): BASE + FORM + 2,
}


def test_lists_show_rows_and_link_to_the_record(
    client, manager, la_west, police, west_child, frozen
):
    world(2, la=la_west, police=police, west_child=west_child)
    client.force_login(manager)
    response = client.get(reverse("oversight:interviews_overdue"))
    interview = ReturnInterview.objects.order_by("due_at").first()
    assert reverse("incidents:interview_detail", kwargs={"pk": interview.episode_id}) in (
        response.text
    )
    assert response.context["total"] == 2
    dashboard = client.get(reverse("oversight:dashboard"))
    counts = {item["page"].slug: item["count"] for item in dashboard.context["overdue"]}
    counts |= {item["page"].slug: item["count"] for item in dashboard.context["patterns"]}
    assert counts == {
        "interviews_overdue": 2,
        "interviews_due_soon": 2,
        # Per child: the overdue one (no check), the due-soon one (not shared), two old.
        "safe_and_well_outstanding": 8,
        "strategy_discussions_overdue": 2,
        "agreed_actions_overdue": 2,
        "notifications_overdue": 2,
        "emails_failing": 4,
        "open_episodes": 4,
        "notification_problems": 2,
        "repeat_missing": 2,
        "stuck_cases": 2,
        "hotspots": 1,
        "out_of_area": 0,
    }


def test_emails_failing_lists_failed_first_with_why(
    client, manager, la_west, police, west_child, frozen
):
    world(1, la=la_west, police=police, west_child=west_child)
    client.force_login(manager)
    rows = client.get(reverse("oversight:emails_failing")).context["rows"]
    assert [row[-1].text.split(":")[0].split(" ")[0] for row in rows] == ["Failed", "Trying"]
    assert rows[0][5].text == "SMTPRecipientsRefused: 550 5.1.1 [address] no such user"
    assert rows[1][-1].text == "Trying again from "


def test_a_busy_hotspot_shows_its_latest_sightings_and_how_many_more(
    client, manager, west_child, frozen
):
    place = LocationFactory(description="Chester bus station")
    shown = queries.HOTSPOT_SIGHTINGS_SHOWN
    for n in range(shown + 3):
        episode(
            west_child(first_name=f"C{n}"), last_seen=NOW - (n + 1) * H, last_seen_location=place
        )
    client.force_login(manager)
    response = client.get(reverse("oversight:hotspots"))
    (row,) = response.context["rows"]
    items = row[2].items
    assert len(items) == shown + 1
    assert items[-1] == ("and 3 earlier: see the download", "")
    assert all(href for _, href in items[:-1])
    assert "and 3 earlier: see the download</li>" in response.text
    # The download has every sighting.
    lines = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    client.get(reverse("oversight:hotspots"), {"format": "csv"}).streaming_content
                ).decode()
            )
        )
    )
    # A line a sighting, each with its place and a link to the episode.
    assert lines[0] == ["Place", "Children", "Latest", "Child", "Seen", "When", "Record"]
    assert len(lines) - 1 == shown + 3
    assert {line[4] for line in lines[1:]} == {"Last seen"}
    assert all("/episodes/" in line[6] for line in lines[1:])


def test_strategy_discussions_list_links_to_the_episode(client, manager, west_child, frozen):
    still = episode(west_child(first_name="Still"), last_seen=NOW - 30 * H)
    late = episode(west_child(first_name="Late"), last_seen=NOW - 50 * H, found=NOW - 20 * H)
    client.force_login(manager)
    response = client.get(reverse("oversight:strategy_discussions_overdue"))
    rows = response.context["rows"]
    assert [row[0].text.split()[0] for row in rows] == ["Late", "Still"]
    assert rows[0][0].href == reverse("incidents:episode_detail", args=[late.pk])
    assert rows[0][-1].text == "Missed: found 9 Nov 2026 16:00"
    assert rows[1][-1].text == "Still missing"
    assert rows[1][4].text == "6 h 0 min"  # overdue by
    assert reverse("incidents:episode_detail", args=[still.pk]) in response.text


def test_lists_paginate_25_a_page(client, manager, west_child, frozen):
    for n in range(27):
        episode(west_child(), last_seen=NOW - n * H - H)
    client.force_login(manager)
    url = reverse("oversight:open_episodes")
    first = client.get(url)
    assert len(first.context["rows"]) == 25
    assert first.context["total"] == 27
    second = client.get(url + first.context["next_href"])
    assert len(second.context["rows"]) == 2
    assert second.context["next_href"] == ""
    assert second.context["previous_href"] == "?"


def _names(response) -> list[str]:
    return [row[0].text for row in response.context["rows"]]


@pytest.mark.parametrize("slug", [page.slug for page in LISTS])
def test_pages_by_key_list_every_row_once_in_order(
    client, manager, la_west, police, area_east, west_child, frozen, slug, monkeypatch
):
    """Following "Next page" to the end gives the rows of the whole list, in its order,
    each once: ties on every sort column (same times, same risk) are broken by the id."""
    monkeypatch.setattr("oversight.views.PAGE_SIZE", 2)
    world(3, la=la_west, police=police, west_child=west_child, host=area_east)
    for _ in range(3):  # ties: the same last seen time and risk
        episode(west_child(), last_seen=NOW - 3 * H)
    client.force_login(manager)
    url = reverse(f"oversight:{slug}")
    page_spec = next(page for page in LISTS if page.slug == slug)
    expected = [
        page_spec.cells(row, NOW)[0].text for row in page_spec.query(manager, Filters(), NOW)
    ]
    seen: list[str] = []
    response = client.get(url)
    pages = 0
    while True:
        assert response.status_code == 200
        assert response.context["total"] == len(expected)
        seen += _names(response)
        pages += 1
        if not response.context["next_href"]:
            break
        response = client.get(url + response.context["next_href"])
    assert seen == expected
    assert pages == max(1, -(-len(expected) // 2))


@pytest.mark.parametrize("after", ["nonsense", "", "a:b:c", "%00"])
def test_a_bad_page_key_gives_the_first_page(client, manager, west_child, frozen, after):
    for n in range(3):
        episode(west_child(), last_seen=NOW - n * H - H)
    client.force_login(manager)
    url = reverse("oversight:open_episodes")
    response = client.get(url, {"after": after, "page": "x"})
    assert response.status_code == 200
    assert len(response.context["rows"]) == 3
    assert client.get(reverse("oversight:hotspots"), {"page": "999"}).status_code == 200


def test_csv_export_with_filters_is_logged(client, manager, west_child, frozen):
    episode(
        west_child(first_name="=HYPERLINK(1)", last_name="Smith"),
        last_seen=NOW - 2 * H,
        risk="high",
    )
    episode(west_child(first_name="Low", last_name="Jones"), last_seen=NOW - 3 * H, risk="low")
    client.force_login(manager)
    url = reverse("oversight:open_episodes")
    response = client.get(url, {"risk": "high", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["Child", "Category", "Risk"]
    assert len(rows) == 2
    # A name that a spreadsheet would run as a formula is written as text.
    assert rows[1][0] == "'=HYPERLINK(1) Smith"
    assert rows[1][2] == "High"
    assert rows[1][-1].startswith("http://testserver/episodes/")
    entry = AccessLogEntry.objects.get(action=AccessLogEntry.Action.EXPORT)
    assert entry.user == manager
    assert entry.detail == {
        "what": "open_episodes",
        "filters": {"risk": "high", "days": 90, "months": 12},
    }
    sent = AccessLogEntry.objects.get(action=AccessLogEntry.Action.EXPORT_SENT)
    assert sent.user == manager
    assert sent.detail == {"what": "open_episodes", "export": entry.pk, "rows": 1, "complete": True}


def test_measures_page_has_accessible_charts_and_tables(client, manager, west_child, frozen):
    episode(west_child(), last_seen=NOW - 2 * D, found=NOW - 2 * D + 5 * H)
    client.force_login(manager)
    response = client.get(reverse("oversight:measures"))
    text = response.text
    assert text.count('role="img"') == 8
    assert '<title id="chart-episodes-title">Missing episodes by month</title>' in text
    assert "Nov 2026: 1" in text  # the numbers in the description
    assert 'class="govuk-table app-chart__table"' in text
    export = client.get(reverse("oversight:measures"), {"format": "csv"})
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[-1][:3] == ["2026-11", "1", "1"]
    assert AccessLogEntry.objects.filter(detail__what="measures").count() == 1


def test_navigation_and_home_link_for_managers_only(client, manager, social_worker):
    client.force_login(manager)
    home = client.get(reverse("home"))
    assert reverse("oversight:dashboard") in home.text
    assert any(item["label"] == "Managers" for item in home.context["navigation"])
    client.force_login(social_worker)
    home = client.get(reverse("home"))
    assert reverse("oversight:dashboard") not in home.text


@pytest.mark.parametrize(
    ("url", "selected"),
    [("oversight:measures", "Last 12 months"), ("oversight:hotspots", "Last 90 days")],
)
def test_the_period_shown_is_the_period_applied(client, manager, url, selected):
    """Unfiltered, the Period select shows the default the figures are for, so pressing
    Filter without changing anything changes nothing."""
    client.force_login(manager)

    page = client.get(reverse(url)).content.decode()

    assert re.findall(r"<option [^>]*selected>(Last [^<]*)<", page) == [selected]
