"""The children pages: find, add (with check your answers), the child's page, edit,
and the care details kept by the local authority."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents.actions.profiles import PROFILE_QUERIES
from incidents.models import (
    CaseEvent,
    Child,
    Involvement,
    LegalStatus,
    LegalStatusPeriod,
    Placement,
    ReturnInterview,
)
from incidents.story import STORY_ASSOCIATE_QUERIES
from incidents.views.children import (
    CHILD_CARE_QUERIES,
    CHILD_HISTORY_PAGE_QUERIES,
    CHILD_PAGE_QUERIES,
    CHILD_STORY_QUERIES,
)
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from missingkids.audit.log import ACCESS_LOG_QUERIES
from tests.factories import UserFactory
from tests.factories.incidents import (
    AgreedActionFactory,
    CaseEventFactory,
    ChildFactory,
    EpisodeFactory,
    InvolvementFactory,
    LocationFactory,
    PlacementFactory,
    ReturnInterviewFactory,
)

pytestmark = pytest.mark.django_db


def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def child(area_west, social_worker) -> Child:
    return ChildFactory(
        first_name="Kayla",
        last_name="Jones",
        known_as="KJ",
        date_of_birth=dt.date(2011, 3, 4),
        responsible_area=area_west,
        la_child_id="W123",
        nhs_number="4857773457",
        police_person_reference="CH/2024/999",
        created_by=social_worker,
    )


@pytest.fixture
def child_in_care(child) -> Child:
    child.legal_status = LegalStatus.IN_CARE
    child.save()
    LegalStatusPeriod.objects.create(child=child, status="in_care", start=dt.date(2024, 1, 1))
    return child


def detail(client: Client, user: Any, child: Child) -> str:
    response = signed_in(client, user).get(reverse("incidents:child_detail", args=[child.pk]))
    assert response.status_code == 200
    return response.content.decode()


def date_post(name: str, day: dt.date) -> dict[str, str]:
    return {f"{name}_0": str(day.day), f"{name}_1": str(day.month), f"{name}_2": str(day.year)}


# Find a child ------------------------------------------------------------------------


def search(client: Client, q: str) -> str:
    """Search as the page does: the words posted, the results by the token redirected to."""
    response = client.post(reverse("incidents:child_search"), {"q": q}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    "q",
    [
        "Kayla",
        "jones",
        "kayla JONES",
        "KJ",
        "04/03/2011",
        "4/3/2011",
        "W123",
        "w123",
        "4857773457",
        "485 777 3457",
        "CH/2024/999",
    ],
)
def test_search_finds_child_by_each_identifier(client, social_worker, child, q) -> None:
    ChildFactory(first_name="Other", last_name="Person", responsible_area=child.responsible_area)
    body = search(signed_in(client, social_worker), q)
    assert "Kayla Jones" in body
    assert "Other Person" not in body


def test_search_shows_status_tags(client, social_worker, child_in_care, area_east) -> None:
    PlacementFactory(child=child_in_care, host_area=area_east)
    EpisodeFactory(child=child_in_care)
    body = search(signed_in(client, social_worker), "Kayla")
    assert "Missing now" in body
    assert "In care" in body
    assert "Placed out of area" in body
    assert "Cheshire West and Chester" in body


def test_search_only_children_visible(client, outsider, child) -> None:
    body = search(signed_in(client, outsider), "Kayla")
    assert "Kayla Jones" not in body
    assert "No children match" in body
    assert reverse("incidents:child_add") in body


def test_search_no_match_offers_add(client, social_worker, child) -> None:
    body = search(signed_in(client, social_worker), "Zebedee")
    assert "No children match" in body
    assert "Add a new child" in body


def test_search_impossible_date_matches_nothing(client, social_worker, child) -> None:
    assert "No children match" in search(signed_in(client, social_worker), "31/02/2011")


def test_search_empty_asks_for_something_to_search_for(client, social_worker, child) -> None:
    body = search(signed_in(client, social_worker), "  ")
    assert "Kayla Jones" not in body
    assert "No children match" not in body
    assert "Enter a name, date of birth or an identifier" in body
    assert "govuk-error-summary" in body


def test_search_page_alone_shows_only_the_box(client, social_worker, child) -> None:
    body = signed_in(client, social_worker).get(reverse("incidents:child_search")).text
    assert "Kayla Jones" not in body
    assert "No children match" not in body


@pytest.mark.parametrize("q", ["Kayla Jones", "04/03/2011", "4857773457"])
def test_search_words_never_go_in_a_url(client, social_worker, child, q) -> None:
    """Names, dates of birth and NHS numbers stay out of URLs, so out of server logs."""
    signed_in(client, social_worker)
    response = client.post(reverse("incidents:child_search"), {"q": q})

    assert response.status_code == 302
    assert q not in response.url and q.split()[0] not in response.url
    results = client.get(response.url)
    assert "Kayla Jones" in results.text
    assert f'value="{q}"' in results.text  # the box keeps what was typed
    hrefs = re.findall(r'(?:href|action)="([^"]*)"', results.text)
    assert not [h for h in hrefs if q in h or "q=" in h]


def test_search_pages_name_only_the_search(client, social_worker, area_west) -> None:
    for n in range(30):
        ChildFactory(first_name="Sam", last_name=f"Smith{n:02d}", responsible_area=area_west)
    signed_in(client, social_worker)
    results = client.post(reverse("incidents:child_search"), {"q": "Smith"}, follow=True)
    [next_link] = re.findall(r'href="([^"]*)" rel="next"', results.text)

    assert "Smith" not in next_link
    assert (
        "Smith29"
        in client.get(reverse("incidents:child_search") + next_link.replace("&amp;", "&")).text
    )


def test_search_words_in_a_link_are_ignored(client, social_worker, child) -> None:
    response = signed_in(client, social_worker).get(
        reverse("incidents:child_search"), {"q": "Kayla"}
    )
    assert response.status_code == 200
    assert "Kayla Jones" not in response.text


def test_a_search_is_logged_without_the_words(client, social_worker, child) -> None:
    from missingkids.audit.models import AccessLogEntry

    search(signed_in(client, social_worker), "Kayla")

    [entry] = AccessLogEntry.objects.filter(action=AccessLogEntry.Action.SEARCH)
    assert (entry.user, entry.detail) == (social_worker, {"results": 1, "page": 1})
    assert "Kayla" not in entry.path
    assert not AccessLogEntry.objects.filter(detail__icontains="Kayla").exists()


def test_another_sessions_search_is_not_found(client, social_worker, child) -> None:
    signed_in(client, social_worker)
    url = client.post(reverse("incidents:child_search"), {"q": "Kayla"}).url
    other = Client()
    other.force_login(social_worker)

    assert "Kayla Jones" not in other.get(url).text


def test_search_query_count_fixed_and_paginated(
    client, social_worker, area_west, area_east, django_assert_num_queries
) -> None:
    for n in range(30):
        found = ChildFactory(
            first_name="Sam", last_name=f"Smith{n:02d}", responsible_area=area_west
        )
        if n % 3 == 0:
            EpisodeFactory(child=found)
        if n % 4 == 0:
            found.legal_status = "in_care"
            found.save()
            PlacementFactory(child=found, host_area=area_east)
    signed_in(client, social_worker)
    url = client.post(reverse("incidents:child_search"), {"q": "sam"}).url
    # Session, user, agency (header), a look for an identifier, the closest ids (up to a
    # bound: the count and the page's ids at once), the page's children; the search
    # logged.
    with django_assert_num_queries(6 + ACCESS_LOG_QUERIES + TWO_FACTOR_QUERIES):
        response = client.get(url)
    body = response.content.decode()
    assert "30 children match" in body
    assert body.count('href="/children/') >= 25
    assert "Page 1 of 2" in body
    page_two = client.get(f"{url}&page=2")
    assert "Smith29" in page_two.content.decode()
    # The pages together are every match once, in the order of the results.
    first = [child.last_name for child in response.context["page"]]
    second = [child.last_name for child in page_two.context["page"]]
    assert first + second == [f"Smith{n:02d}" for n in range(30)]


def results(client: Client, q: str) -> list[str]:
    response = client.post(reverse("incidents:child_search"), {"q": q}, follow=True)
    page = response.context["page"]
    return [child.full_name for child in page] if page is not None else []


def test_search_ranks_whole_words_then_beginnings_then_the_rest(
    client, social_worker, area_west
) -> None:
    """The same on SQLite and PostgreSQL (trigram word distance there)."""
    for first, last in [
        ("Rosamund", "Allen"),
        ("Samantha", "Young"),
        ("Sam", "Young"),
        ("Samantha", "Brown"),
        ("Sam", "Brown"),
        ("Kayla", "Jones"),
    ]:
        ChildFactory(first_name=first, last_name=last, responsible_area=area_west)
    signed_in(client, social_worker)
    assert results(client, "sam") == [
        "Sam Brown",
        "Sam Young",
        "Samantha Brown",
        "Samantha Young",
        "Rosamund Allen",
    ]
    assert results(client, "sam young")[:1] == ["Sam Young"]
    assert results(client, "BROWN sam")[:1] == ["Sam Brown"]


def test_search_by_known_as_and_part_of_a_name(client, social_worker, area_west) -> None:
    ChildFactory(
        first_name="Alexander", last_name="Hughes", known_as="Lex", responsible_area=area_west
    )
    ChildFactory(first_name="Alexa", last_name="Hughes", responsible_area=area_west)
    signed_in(client, social_worker)
    assert results(client, "lex") == ["Alexander Hughes", "Alexa Hughes"]
    # Only parts of names: both found, in an order the two databases may differ on.
    assert sorted(results(client, "ughe lexa")) == ["Alexa Hughes", "Alexander Hughes"]
    assert results(client, "lex smith") == []


def test_search_identifier_finds_its_child_alone(client, social_worker, area_west) -> None:
    ChildFactory(first_name="Ab", last_name="One", la_child_id="AB12", responsible_area=area_west)
    ChildFactory(first_name="Xab12", last_name="Two", responsible_area=area_west)
    signed_in(client, social_worker)
    assert results(client, "ab12") == ["Ab One"]
    assert results(client, "xab12") == ["Xab12 Two"]


def test_search_counts_up_to_a_bound(client, social_worker, area_west, monkeypatch) -> None:
    from missingkids import keyset

    monkeypatch.setattr(keyset, "COUNTED_AT_MOST", 3)
    for n in range(5):
        ChildFactory(first_name="Sam", last_name=f"Smith{n}", responsible_area=area_west)
    signed_in(client, social_worker)
    body = search(client, "smith")
    assert "More than 3 children match" in body
    assert "The closest 3 are listed" in body


# Add a child, check answers, confirm ---------------------------------------------------


def add_post(area, **overrides: str) -> dict[str, str]:
    data = {
        "first_name": "Mia",
        "last_name": "Roberts",
        "known_as": "",
        **date_post("date_of_birth", dt.date(2012, 7, 9)),
        "gender": "female",
        "la_child_id": "W900",
        "nhs_number": "943 476 5919",
        "police_person_reference": "",
        "legal_status": "in_care",
        **date_post("legal_status_start", dt.date(2023, 5, 1)),
        "responsible_area": str(area.pk),
        "physical_description": "Short, dark hair",
        "places_they_go": "",
        "people_they_may_be_with": "",
    }
    data.update(overrides)
    return data


def test_add_child_get(client, social_worker, area_west) -> None:
    response = signed_in(client, social_worker).get(reverse("incidents:child_add"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Add a child" in body
    assert 'name="draft"' in body


def test_add_child_refused_for_admin(client, admin_user) -> None:
    response = signed_in(client, admin_user).get(reverse("incidents:child_add"))
    assert response.status_code == 403


def test_add_child_wrong_method(client, social_worker) -> None:
    response = signed_in(client, social_worker).put(reverse("incidents:child_add"))
    assert response.status_code == 405


def test_add_child_check_answers_then_confirm(client, social_worker, area_west) -> None:
    signed_in(client, social_worker)
    url = reverse("incidents:child_add")
    response = client.post(url, {**add_post(area_west), "draft": "tab-one-token"})
    assert response.status_code == 302
    assert response.url == f"{url}?draft=tab-one-token&check=1"
    assert not Child.objects.exists()

    check = client.get(response.url)
    body = check.content.decode()
    assert "Check your answers" in body
    assert "Mia" in body and "9 July 2012" in body and "Child in care" in body
    assert f"{url}?draft=tab-one-token#id_first_name" in body
    # Radios and dates: the first option, the day.
    assert f"{url}?draft=tab-one-token#id_gender_1" in body
    assert f"{url}?draft=tab-one-token#id_date_of_birth_0" in body

    # A Change link shows the form again with the answers in it.
    change = client.get(f"{url}?draft=tab-one-token").content.decode()
    assert 'value="Roberts"' in change

    done = client.post(url, {"draft": "tab-one-token", "confirm": "1"})
    created = Child.objects.get()
    assert done.status_code == 302
    assert done.url == reverse("incidents:child_detail", args=[created.pk])
    assert created.nhs_number == "9434765919"
    assert created.legal_statuses.get().start == dt.date(2023, 5, 1)
    assert CaseEvent.objects.get(child=created).kind == CaseEvent.Kind.CHILD_CREATED
    assert "tab-one-token" not in client.session.get("child_add_drafts", {})


def test_add_child_two_tabs_keep_separate_answers(client, social_worker, area_west) -> None:
    signed_in(client, social_worker)
    url = reverse("incidents:child_add")
    client.post(url, {**add_post(area_west), "draft": "tab-one-token"})
    client.post(
        url,
        {
            **add_post(area_west, first_name="Leo", la_child_id="W901", nhs_number=""),
            "draft": "tab-two-token",
        },
    )
    assert "Mia" in client.get(f"{url}?draft=tab-one-token&check=1").content.decode()
    client.post(url, {"draft": "tab-two-token", "confirm": "1"})
    client.post(url, {"draft": "tab-one-token", "confirm": "1"})
    assert sorted(Child.objects.values_list("first_name", flat=True)) == ["Leo", "Mia"]


def test_add_child_invalid_keeps_input_and_shows_errors(client, social_worker, area_west):
    signed_in(client, social_worker)
    response = client.post(
        reverse("incidents:child_add"),
        add_post(area_west, nhs_number="485 777 3458", last_name="Robertsonova"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>Error: " in body
    assert "There is a problem" in body
    assert "check digit" in body
    assert 'value="Robertsonova"' in body
    assert not Child.objects.exists()


def test_add_child_adult_refused_on_confirm(client, social_worker, area_west) -> None:
    """The age rule is the action's: it is shown by the field on the question page."""
    signed_in(client, social_worker)
    url = reverse("incidents:child_add")
    adult = add_post(area_west, **date_post("date_of_birth", dt.date(2000, 1, 1)))
    client.post(url, {**adult, "draft": "tab-adult-1"})
    response = client.post(url, {"draft": "tab-adult-1", "confirm": "1"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "18 or over" in body
    assert 'value="Mia"' in body
    assert not Child.objects.exists()


def test_add_child_confirm_without_draft_starts_again(client, social_worker) -> None:
    signed_in(client, social_worker)
    response = client.post(reverse("incidents:child_add"), {"draft": "unknown-1", "confirm": "1"})
    assert response.status_code == 302
    assert response.url == reverse("incidents:child_add")


def test_add_child_outside_area_message(client, officer, area_other) -> None:
    signed_in(client, officer)
    url = reverse("incidents:child_add")
    client.post(url, {**add_post(area_other, legal_status="none"), "draft": "tab-police-1"})
    response = client.post(url, {"draft": "tab-police-1", "confirm": "1"}, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "recorded as involved" in body
    assert Child.objects.get().involvements.get().agency == officer.agency


# The child's page --------------------------------------------------------------------


def test_child_page_in_scope(client, social_worker, child) -> None:
    response = signed_in(client, social_worker).get(
        reverse("incidents:child_detail", args=[child.pk])
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Kayla Jones" in body
    assert "No open episode" in body
    assert "485 777 3457" in body


def test_child_page_outsider_404(client, outsider, child) -> None:
    response = signed_in(client, outsider).get(reverse("incidents:child_detail", args=[child.pk]))
    assert response.status_code == 404


def test_child_page_post_405(client, social_worker, child) -> None:
    response = signed_in(client, social_worker).post(
        reverse("incidents:child_detail", args=[child.pk])
    )
    assert response.status_code == 405


def test_child_page_open_episode_first(client, officer, child) -> None:
    EpisodeFactory(
        child=child,
        last_seen_at=timezone.now() - dt.timedelta(days=40),
        found_at=timezone.now() - dt.timedelta(days=39),
        closed_at=timezone.now() - dt.timedelta(days=30),
    )
    open_episode = EpisodeFactory(
        child=child, risk="high", risk_rank=4, last_seen_at=timezone.now() - dt.timedelta(hours=5)
    )
    body = (
        signed_in(client, officer)
        .get(reverse("incidents:child_detail", args=[child.pk]))
        .content.decode()
    )
    status = body[body.index('data-testid="status"') : body.index('data-testid="child-voice"')]
    assert "Missing now" in status
    assert "High" in status
    assert "5 hours" in status
    assert "Report missing" not in status
    assert str(open_episode) in status
    assert reverse("incidents:episode_detail", args=[open_episode.pk]) in status
    assert reverse("incidents:episode_return", args=[open_episode.pk]) in status
    assert "Record found or returned" in status
    assert "2 episodes in the last 90 days" in body


def test_child_page_report_missing_when_none_open(client, officer, child) -> None:
    body = (
        signed_in(client, officer)
        .get(reverse("incidents:child_detail", args=[child.pk]))
        .content.decode()
    )
    assert "No open episode" in body
    assert reverse("incidents:episode_report", args=[child.pk]) in body


def test_child_page_awaiting_interview(client, social_worker, child) -> None:
    ReturnInterviewFactory(episode=EpisodeFactory(child=child, found_at=timezone.now()))
    body = (
        signed_in(client, social_worker)
        .get(reverse("incidents:child_detail", args=[child.pk]))
        .content.decode()
    )
    assert "Returned, awaiting interview" in body


def test_child_page_shows_the_childs_voice(client, social_worker, child) -> None:
    found = timezone.now() - dt.timedelta(days=2)
    episode = EpisodeFactory(
        child=child, last_seen_at=found - dt.timedelta(hours=5), found_at=found
    )
    ReturnInterviewFactory(
        episode=episode,
        outcome=ReturnInterview.Outcome.HELD,
        held_at=found + dt.timedelta(hours=20),
        held_by="Aisha Begum",
        child_voice="I went because <home> was loud",
    )
    body = (
        signed_in(client, social_worker)
        .get(reverse("incidents:child_detail", args=[child.pk]))
        .content.decode()
    )
    assert 'class="app-voice' in body
    assert "I went because &lt;home&gt; was loud" in body


def test_child_page_care_details_and_places(client, social_worker, child_in_care, area_east):
    PlacementFactory(child=child_in_care, host_area=area_east, carer_name="The Browns")
    InvolvementFactory(
        child=child_in_care, agency=social_worker.agency, role="gp", professional_name="Dr Rao"
    )
    place = LocationFactory(description="Crewe bus station", postcode="CW1 2DB")
    EpisodeFactory(child=child_in_care, last_seen_location=place)
    other = ChildFactory(responsible_area=child_in_care.responsible_area)
    EpisodeFactory(child=other, last_seen_location=place)
    hidden = ChildFactory()  # in an area the social worker does not serve
    EpisodeFactory(child=hidden, last_seen_location=place)
    signed_in(client, social_worker)
    overview = client.get(reverse("incidents:child_detail", args=[child_in_care.pk]))
    assert "Placed out of area" in overview.text  # in the header of every page
    assert reverse("incidents:child_story", args=[child_in_care.pk]) + "#places" in overview.text
    care = client.get(reverse("incidents:child_care", args=[child_in_care.pk])).text
    assert "The Browns" in care
    assert "Placed out of area" in care
    assert "Dr Rao" in care
    assert reverse("incidents:placement_add", args=[child_in_care.pk]) in care
    story = client.get(reverse("incidents:child_story", args=[child_in_care.pk])).text
    places = story[story.index('data-testid="locations"') :]
    assert "Crewe bus station" in places
    assert "1 other child" in places


def test_the_childs_pages_are_reached_from_each_other(client, social_worker, child) -> None:
    signed_in(client, social_worker)
    pages = ["child_detail", "child_care", "child_story", "child_history"]
    for name in pages:
        response = client.get(reverse(f"incidents:{name}", args=[child.pk]))
        assert response.status_code == 200
        nav = response.text[response.text.index('data-testid="child-sections"') :]
        nav = nav[: nav.index("</nav>")]
        for other in pages:
            assert f'href="{reverse(f"incidents:{other}", args=[child.pk])}"' in nav
        # The page itself is marked as the current one, and only it.
        assert nav.count('aria-current="page"') == 1
        current = nav[: nav.index('aria-current="page"')]
        assert current.endswith(f'href="{reverse(f"incidents:{name}", args=[child.pk])}" ')


@pytest.mark.parametrize("name", ["child_detail", "child_care", "child_story", "child_history"])
def test_each_of_the_childs_pages_is_refused_outside_scope_and_logged(
    client, social_worker, outsider, child, name
) -> None:
    from missingkids.audit.models import AccessLogEntry

    url = reverse(f"incidents:{name}", args=[child.pk])
    assert signed_in(client, outsider).get(url).status_code == 404
    assert signed_in(client, social_worker).get(url).status_code == 200
    assert (
        AccessLogEntry.objects.filter(child_id=child.pk, path=url, user=social_worker).count() == 1
    )
    assert signed_in(client, social_worker).post(url).status_code == 405


def test_child_page_hides_care_links_from_police(client, officer, child_in_care) -> None:
    signed_in(client, officer)
    body = client.get(reverse("incidents:child_care", args=[child_in_care.pk])).text
    assert reverse("incidents:placement_add", args=[child_in_care.pk]) not in body
    assert reverse("incidents:child_legal_status", args=[child_in_care.pk]) not in body
    body = client.get(reverse("incidents:child_detail", args=[child_in_care.pk])).text
    assert reverse("incidents:child_edit", args=[child_in_care.pk]) in body


def test_child_page_timeline(client, social_worker, officer, child) -> None:
    CaseEventFactory(
        child=child,
        actor=officer,
        summary="Changed: known as",
        data={"changes": {"known_as": ["", "KJ"]}},
        occurred_at=timezone.now() - dt.timedelta(hours=1),
    )
    CaseEventFactory(child=child, actor=social_worker, kind="placement_added", summary="Newest")
    body = (
        signed_in(client, social_worker)
        .get(reverse("incidents:child_history", args=[child.pk]))
        .content.decode()
    )
    timeline = body[body.index('data-testid="timeline"') :]
    assert timeline.index("Newest") < timeline.index("Changed: known as")
    assert "PC Sam Okafor (Cheshire Constabulary)" in timeline
    assert "Known as: (blank) to \N{LEFT SINGLE QUOTATION MARK}KJ" in timeline


def test_child_page_timeline_paginated(client, social_worker, child) -> None:
    for n in range(30):
        CaseEventFactory(child=child, actor=social_worker, summary=f"Event number {n:02d}")
    signed_in(client, social_worker)
    url = reverse("incidents:child_history", args=[child.pk])
    first = client.get(url).content.decode()
    assert "Event number 29" in first and "Event number 00" not in first
    assert "?timeline=2" in first
    second = client.get(url, {"timeline": 2}).content.decode()
    assert "Event number 00" in second


def _fill(child: Child, user: Any, episodes: int, events: int) -> None:
    for n in range(episodes):
        seen = timezone.now() - dt.timedelta(days=10 * n + 1)
        episode = EpisodeFactory(
            child=child,
            last_seen_at=seen,
            found_at=seen + dt.timedelta(hours=3),
            found_location=LocationFactory(),
        )
        interview = ReturnInterviewFactory(episode=episode, child_voice=f"Words {n}")
        AgreedActionFactory(interview=interview, due_date=dt.date(2020, 1, 1))
        AgreedActionFactory(
            interview=interview,
            state="done",
            done_at=timezone.now(),
            done_by=user,
            what_happened="Done",
        )
    for n in range(events):
        CaseEventFactory(child=child, actor=user, summary=f"e{n}", data={"changes": {"x": [1, 2]}})
    PlacementFactory(child=child, start=dt.date(2024, 1, 1), end=None)
    InvolvementFactory(child=child)


# However much is recorded, no page of a child's record reads the database more often.
MOST_QUERIES = 15


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # The manager sees the missing person profile and reads the supervision notes.
        ("child_detail", CHILD_PAGE_QUERIES + PROFILE_QUERIES + 1),
        ("child_care", CHILD_CARE_QUERIES),
        # With the associates, which the manager may see.
        ("child_story", CHILD_STORY_QUERIES + STORY_ASSOCIATE_QUERIES),
        ("child_history", CHILD_HISTORY_PAGE_QUERIES),
    ],
)
def test_child_page_query_count_does_not_grow(
    client, manager, area_west, django_assert_num_queries, name, expected
) -> None:
    """The same queries for a child with 1 episode as for one with 300, and never more
    than MOST_QUERIES in all (the session, the person, their second factor and the
    access log included): the counts come from window aggregates and subqueries, the
    episodes and timeline a page at a time."""
    small = ChildFactory(responsible_area=area_west, legal_status="in_care")
    large = ChildFactory(responsible_area=area_west, legal_status="in_care")
    _fill(small, manager, episodes=1, events=1)
    _fill(large, manager, episodes=300, events=40)
    for extra in range(3):
        PlacementFactory(
            child=large,
            start=dt.date(2000 + extra, 1, 1),
            end=dt.date(2000 + extra, 6, 1),
        )
        InvolvementFactory(child=large, role="school")
    signed_in(client, manager)
    client.get(reverse("incidents:child_detail", args=[small.pk]))  # warm the session
    assert expected <= MOST_QUERIES
    with django_assert_num_queries(expected):
        assert client.get(reverse(f"incidents:{name}", args=[small.pk])).status_code == 200
    with django_assert_num_queries(expected):
        response = client.get(reverse(f"incidents:{name}", args=[large.pk]))
    assert response.status_code == 200
    if name == "child_detail":
        assert "Episodes 1 to 20 of 300, latest first." in response.text
        assert "?episodes=2#episodes" in response.text
        assert response.text.count("Words ") == 3  # the child's words: the latest three
    if name == "child_story":
        assert "<strong>300</strong> episodes in all" in response.text
    if name == "child_history":
        assert "?timeline=2#timeline" in response.text


def test_child_page_older_episodes_a_page_at_a_time(client, social_worker, area_west) -> None:
    child = ChildFactory(responsible_area=area_west, legal_status="in_care")
    _fill(child, social_worker, episodes=23, events=30)
    signed_in(client, social_worker)
    url = reverse("incidents:child_detail", args=[child.pk])
    second = client.get(url, {"episodes": 2}).text
    assert "Episodes 21 to 23 of 23, latest first." in second
    assert "?episodes=1#episodes" in second

    # The status still reads the latest episode, which is on the first page.
    def status(body: str) -> str:
        card = body[body.index('data-testid="status"') :]
        return card[: card.index('data-testid="child-voice"')]

    first = client.get(url).text
    assert "Returned, awaiting interview" in status(first)
    assert status(second) == status(first)
    # Not a number, or beyond the last page: the first or the last page, never an error.
    assert "Episodes 1 to 20 of 23" in client.get(url, {"episodes": "x"}).text
    assert "Episodes 21 to 23 of 23" in client.get(url, {"episodes": "9"}).text
    assert "Episodes 21 to 23 of 23" in client.get(url, {"episodes": "9" * 30}).text
    assert "Episodes 21 to 23 of 23" in client.get(url, {"episodes": "9" * 5000}).text
    assert "Episodes 1 to 20 of 23" in client.get(url, {"episodes": "\N{SUPERSCRIPT TWO}"}).text
    assert "Episodes 1 to 20 of 23" in client.get(url, {"episodes": "0"}).text


def test_an_open_episode_shows_on_every_page_of_episodes(client, social_worker, area_west) -> None:
    child = ChildFactory(responsible_area=area_west)
    _fill(child, social_worker, episodes=21, events=0)
    EpisodeFactory(child=child, last_seen_at=timezone.now() - dt.timedelta(hours=2))
    signed_in(client, social_worker)
    url = reverse("incidents:child_detail", args=[child.pk])
    for page in ("1", "2"):
        body = client.get(url, {"episodes": page}).text
        assert "Missing now" in body
    assert "Episodes 21 to 22 of 22" in client.get(url, {"episodes": "2"}).text


# Edit --------------------------------------------------------------------------------


def edit_post(child: Child, **overrides: Any) -> dict[str, str]:
    data = {
        "version": str(child.version),
        "first_name": child.first_name,
        "last_name": child.last_name,
        "known_as": child.known_as,
        **date_post("date_of_birth", child.date_of_birth),
        "gender": child.gender,
        "la_child_id": child.la_child_id or "",
        "nhs_number": child.nhs_number or "",
        "police_person_reference": child.police_person_reference,
        "physical_description": "",
        "places_they_go": "",
        "people_they_may_be_with": "",
        # Only local authority staff are offered the field; others' forms ignore it.
        "responsible_area": str(child.responsible_area_id),
    }
    data.update(overrides)
    return data


def test_edit_get_in_scope(client, officer, child) -> None:
    response = signed_in(client, officer).get(reverse("incidents:child_edit", args=[child.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="version"' in body
    assert 'value="Kayla"' in body
    assert 'name="responsible_area"' not in body  # police do not move a child's council


def test_edit_outsider_404_and_wrong_method(client, outsider, social_worker, child) -> None:
    url = reverse("incidents:child_edit", args=[child.pk])
    assert signed_in(client, outsider).get(url).status_code == 404
    assert signed_in(client, social_worker).delete(url).status_code == 405


def test_edit_refused_for_admin_without_case_role(client, admin_user, child) -> None:
    # An admin sees no case records, so the record is not found rather than forbidden.
    response = signed_in(client, admin_user).get(reverse("incidents:child_edit", args=[child.pk]))
    assert response.status_code == 404


def test_edit_saves_and_redirects(client, officer, child) -> None:
    response = signed_in(client, officer).post(
        reverse("incidents:child_edit", args=[child.pk]),
        edit_post(child, physical_description="Red coat"),
    )
    assert response.status_code == 302
    child.refresh_from_db()
    assert child.physical_description == "Red coat"
    assert child.version == 2
    assert CaseEvent.objects.get(kind="child_edited").actor == officer


def test_edit_invalid_keeps_input(client, officer, child) -> None:
    response = signed_in(client, officer).post(
        reverse("incidents:child_edit", args=[child.pk]),
        edit_post(child, nhs_number="123", physical_description="Green hat"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "10 digits" in body
    assert "Green hat" in body
    child.refresh_from_db()
    assert child.physical_description == ""


def test_edit_stale_shows_conflict_and_keeps_both(client, officer, social_worker, child):
    url = reverse("incidents:child_edit", args=[child.pk])
    stale_form = edit_post(child, physical_description="Officer's words")
    first = signed_in(client, social_worker).post(
        url, edit_post(child, physical_description="Saved first")
    )
    assert first.status_code == 302
    response = signed_in(client, officer).post(url, stale_form)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="edit-conflict"' in body
    assert "Someone else changed this child" in body
    assert "Officer&#x27;s words" in body  # the officer's input is kept
    assert "Saved first" in body  # the saved value is shown to compare
    assert 'name="version" value="2"' in body
    child.refresh_from_db()
    assert child.physical_description == "Saved first"
    # Having compared, the officer can save deliberately.
    again = client.post(url, {**stale_form, "version": "2"})
    assert again.status_code == 302
    child.refresh_from_db()
    assert child.physical_description == "Officer's words"


def test_edit_la_can_move_responsible_area(client, social_worker, child, area_east) -> None:
    response = signed_in(client, social_worker).post(
        reverse("incidents:child_edit", args=[child.pk]),
        edit_post(child, responsible_area=str(area_east.pk)),
    )
    assert response.status_code == 302
    child.refresh_from_db()
    assert child.responsible_area == area_east


# Care details ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["child_legal_status", "placement_add", "involvement_add"])
def test_care_pages_access(client, social_worker, officer, outsider, child_in_care, name):
    url = reverse(f"incidents:{name}", args=[child_in_care.pk])
    assert signed_in(client, social_worker).get(url).status_code == 200
    assert client.patch(url).status_code == 405
    assert signed_in(client, officer).get(url).status_code == 403
    assert signed_in(client, outsider).get(url).status_code == 404


def test_legal_status_post(client, social_worker, child_in_care) -> None:
    url = reverse("incidents:child_legal_status", args=[child_in_care.pk])
    today = timezone.localdate()
    response = signed_in(client, social_worker).post(
        url, {"status": "cin", **date_post("start", today)}
    )
    assert response.status_code == 302
    child_in_care.refresh_from_db()
    assert child_in_care.legal_status == "cin"
    assert child_in_care.legal_statuses.get(status="in_care").end == today - dt.timedelta(days=1)


def test_legal_status_post_invalid(client, social_worker, child_in_care) -> None:
    url = reverse("incidents:child_legal_status", args=[child_in_care.pk])
    response = signed_in(client, social_worker).post(
        url, {"status": "cin", **date_post("start", dt.date(2023, 1, 1))}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "must start after 01/01/2024" in body
    assert 'value="2023"' in body


def placement_post(area, **overrides: Any) -> dict[str, str]:
    data = {
        "type": "foster",
        "carer_name": "The Browns",
        "address": "2 Park Road, Crewe",
        "postcode": "cw12ab",
        "host_area": str(area.pk),
        **date_post("start", dt.date(2025, 1, 1)),
    }
    data.update(overrides)
    return data


def test_placement_add_post(client, social_worker, child_in_care, area_east) -> None:
    response = signed_in(client, social_worker).post(
        reverse("incidents:placement_add", args=[child_in_care.pk]),
        placement_post(area_east),
        follow=True,
    )
    placement = Placement.objects.get()
    assert placement.postcode == "CW1 2AB"
    assert "placed out of area" in response.content.decode()


def test_placement_add_overlap_shown_by_start(client, social_worker, child_in_care, area_west):
    PlacementFactory(child=child_in_care, start=dt.date(2024, 6, 1))
    response = signed_in(client, social_worker).post(
        reverse("incidents:placement_add", args=[child_in_care.pk]),
        placement_post(area_west, postcode="not a postcode"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Enter a real UK postcode" in body
    assert "The Browns" in body
    assert Placement.objects.count() == 1
    response = client.post(
        reverse("incidents:placement_add", args=[child_in_care.pk]), placement_post(area_west)
    )
    assert "overlaps another placement" in response.content.decode()
    assert re.search(r'href="#id_start', response.content.decode())


def test_placement_end_views(client, social_worker, officer, outsider, child_in_care) -> None:
    placement = PlacementFactory(child=child_in_care, start=dt.date(2025, 1, 1))
    url = reverse("incidents:placement_end", args=[child_in_care.pk, placement.pk])
    assert signed_in(client, outsider).get(url).status_code == 404
    assert signed_in(client, officer).get(url).status_code == 403
    signed_in(client, social_worker)
    assert client.get(url).status_code == 200
    assert client.put(url).status_code == 405
    bad = client.post(url, date_post("end", dt.date(2024, 1, 1)))
    assert bad.status_code == 200 and "on or after the start date" in bad.content.decode()
    good = client.post(url, date_post("end", timezone.localdate()))
    assert good.status_code == 302
    placement.refresh_from_db()
    assert placement.end == timezone.localdate()
    other_child = PlacementFactory()
    wrong = reverse("incidents:placement_end", args=[child_in_care.pk, other_child.pk])
    assert client.get(wrong).status_code == 404


def test_involvement_add_post(client, social_worker, child, gp_practice) -> None:
    url = reverse("incidents:involvement_add", args=[child.pk])
    data = {
        "agency": str(gp_practice.pk),
        "role": "gp",
        "professional_name": "Dr Rao",
        "professional_email": "rao@example.org",
        "professional_phone": "01244 000000",
        **date_post("start", dt.date(2025, 1, 1)),
    }
    response = signed_in(client, social_worker).post(url, data)
    assert response.status_code == 302
    involvement = Involvement.objects.get()
    assert involvement.professional_name == "Dr Rao"
    duplicate = client.post(url, data)
    assert duplicate.status_code == 200
    assert "already recorded as involved" in duplicate.content.decode()
    invalid = client.post(url, {**data, "professional_email": "nope"})
    assert "Enter an e-mail address" in invalid.content.decode()


def test_involvement_end_views(client, social_worker, officer, outsider, child, gp_practice):
    involvement = InvolvementFactory(child=child, agency=gp_practice, start=dt.date(2025, 1, 1))
    url = reverse("incidents:involvement_end", args=[child.pk, involvement.pk])
    assert signed_in(client, outsider).get(url).status_code == 404
    assert signed_in(client, officer).get(url).status_code == 403
    signed_in(client, social_worker)
    assert client.get(url).status_code == 200
    assert client.put(url).status_code == 405
    assert client.post(url, {}).status_code == 200
    response = client.post(url, date_post("end", timezone.localdate()))
    assert response.status_code == 302
    involvement.refresh_from_db()
    assert involvement.end == timezone.localdate()


def test_school_adding_child_elsewhere_can_then_see_it(client, school, area_east) -> None:
    teacher = UserFactory(agency=school)
    signed_in(client, teacher)
    url = reverse("incidents:child_add")
    client.post(url, {**add_post(area_east, legal_status="none"), "draft": "school-tab-1"})
    response = client.post(url, {"draft": "school-tab-1", "confirm": "1"})
    assert response.status_code == 302
    assert client.get(response.url).status_code == 200
