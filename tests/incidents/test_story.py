"""The child's story (incidents.story), associates, "Other (say what)" factors, the
"Last times found" panel and a place's page.

The story is checked against one child whose numbers are worked out by hand below, at
a fixed time: 15 June 2026, 13:00 UK time (BST).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from incidents.actions.associates import associate_add, associate_correct
from incidents.actions.base import StaleEdit
from incidents.actions.interviews import interview_record_held
from incidents.models import (
    AgreedAction,
    Associate,
    CaseEvent,
    Child,
    Episode,
    Location,
    ReturnInterview,
)
from incidents.story import (
    LAST_FOUND_QUERIES,
    STORY_ASSOCIATE_QUERIES,
    STORY_QUERIES,
    build_story,
    last_times_found,
)
from incidents.views.story import PLACE_QUERIES
from missingkids import policy
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from missingkids.audit.log import ACCESS_LOG_QUERIES
from missingkids.audit.models import AccessLogEntry
from tests.factories.incidents import (
    ChildFactory,
    EpisodeFactory,
    LocationFactory,
    ReturnInterviewFactory,
)

LONDON = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 6, 15, 13, 0, tzinfo=LONDON)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=LONDON)


@pytest.fixture
def places(db) -> dict[str, Location]:
    return {
        "bus": LocationFactory(description="Chester bus interchange", postcode="CH1 3AE"),
        "park": LocationFactory(description="Grosvenor Park", postcode="CH1 1QL"),
        "flat": LocationFactory(description="Flat in Blacon", postcode="CH1 5BB"),
    }


def _episode(child: Child, seen: dt.datetime, where: Location, found: dt.datetime, **kw: Any):
    return EpisodeFactory(
        child=child,
        last_seen_at=seen,
        reported_at=seen + dt.timedelta(minutes=30),
        last_seen_location=where,
        found_at=found,
        **kw,
    )


def _held(episode: Episode, owner: Any, **values: Any) -> ReturnInterview:
    return ReturnInterviewFactory(
        episode=episode,
        owner=owner,
        due_at=episode.found_at + dt.timedelta(hours=72),
        outcome=ReturnInterview.Outcome.HELD,
        held_at=episode.found_at + dt.timedelta(hours=20),
        held_by="Aisha Begum",
        child_voice="I wanted to get away.",
        **values,
    )


@pytest.fixture
def story_child(area_west, la_west, social_worker, places) -> Child:
    """Five episodes, four in the last twelve months, at times chosen to test the UK clock.

    | Episode | Last seen (UK)        | Day      | Band      | Where last seen | Found at        |
    | E1      | Sat 10 Jan 2026 21:30 | Saturday | Evening   | bus             | flat            |
    | E2      | Fri 6 Mar 2026 22:15  | Friday   | Evening   | bus             | flat            |
    | E3      | Fri 17 Apr 2026 19:00 | Friday   | Evening   | park            | bus             |
    | E4      | Mon 1 Jun 2026 00:30  | Monday   | Night     | bus             | flat            |
    | E5      | Fri 28 Feb 2025 15:00 | Friday   | Afternoon | park            | (none)          |

    E4 is 31 May in UTC (a Sunday): counted in June, on a Monday, at night.
    """
    child = ChildFactory(responsible_area=area_west, first_name="Jade", created_by=social_worker)
    bus, park, flat = places["bus"], places["park"], places["flat"]
    e5 = _episode(child, local(2025, 2, 28, 15), park, local(2025, 2, 28, 20))
    e1 = _episode(
        child, local(2026, 1, 10, 21, 30), bus, local(2026, 1, 11, 10), found_location=flat
    )
    e2 = _episode(child, local(2026, 3, 6, 22, 15), bus, local(2026, 3, 7, 9), found_location=flat)
    e3 = _episode(
        child, local(2026, 4, 17, 19), park, local(2026, 4, 17, 23, 30), found_location=bus
    )
    e4 = _episode(
        child,
        local(2026, 6, 1, 0, 30),
        bus,
        local(2026, 6, 1, 8),
        found_location=flat,
        found_with="Two older boys in a black Golf",
    )
    i1 = _held(
        e1,
        la_west,
        push_factors=["conflict_home", "rules_boundaries"],
        pull_factors=["friends"],
    )
    _held(
        e2,
        la_west,
        push_factors=["conflict_home"],
        pull_factors=["friends", "other"],
        pull_other="Football in Liverpool",
        what_would_help="More time with friends",
    )
    i3 = _held(
        e3,
        la_west,
        push_factors=["other"],
        push_other="Missing her sister",
        pull_factors=["friends"],
        what_would_help="A phone to call her sister",
    )
    AgreedAction.objects.create(
        child=child,
        interview=i1,
        description="Weekly check-in",
        owner_name="Mr Patel",
        owner_agency=la_west,
        agreed_on=dt.date(2026, 3, 1),
        state=AgreedAction.State.DONE,
        done_at=NOW,
        what_happened="Held every week since.",
    )
    AgreedAction.objects.create(
        child=child,
        interview=i3,
        description="Arrange contact with her sister",
        owner_name="Sam Jones",
        owner_agency=la_west,
        agreed_on=dt.date(2026, 4, 20),
        due_date=dt.date(2026, 5, 1),
    )
    child.e5, child.e4 = e5, e4
    return child


# The story, worked out by hand ------------------------------------------------------


def test_the_story_of_a_fixed_child(story_child, places):
    with time_machine.travel(NOW, tick=False):
        story = build_story(
            story_child, user=story_child.created_by, may_see_associates=True, recent_days=90
        )

    assert (story.total, story.recent) == (5, 2)  # E3 and E4 in the last 90 days
    months = dict(story.months)
    assert len(story.months) == 12
    assert story.months[0][0] == dt.date(2025, 7, 1)
    assert story.months[-1][0] == dt.date(2026, 6, 1)
    assert {m: n for m, n in months.items() if n} == {
        dt.date(2026, 1, 1): 1,
        dt.date(2026, 3, 1): 1,
        dt.date(2026, 4, 1): 1,
        dt.date(2026, 6, 1): 1,  # E4: 31 May in UTC, June in the UK
    }
    assert story.interviews_held == 3
    assert story.push == [
        ("Conflict at home or in placement", 2),
        ("Other: Missing her sister", 1),
        ("Rules or boundaries", 1),
    ]
    assert story.pull == [("Wanting to be with friends", 3), ("Other: Football in Liverpool", 1)]
    assert [(p.description, p.count) for p in story.last_seen_places] == [
        ("Chester bus interchange", 3),
        ("Grosvenor Park", 2),
    ]
    assert [(p.description, p.count) for p in story.found_places] == [
        ("Flat in Blacon", 3),
        ("Chester bus interchange", 1),
    ]
    assert story.usual_band == ("Evening (6pm to midnight)", 3)
    assert dict(story.time_bands)["Night (midnight to 6am)"] == 1
    assert dict(story.time_bands)["Afternoon (noon to 6pm)"] == 1
    assert story.usual_day == ("Friday", 3)
    assert dict(story.days)["Monday"] == 1
    assert dict(story.days)["Sunday"] == 0
    assert [w["what_would_help"] for w in story.would_help] == [
        "A phone to call her sister",
        "More time with friends",
    ]
    assert (story.actions_total, story.actions_done) == (2, 1)
    assert story.actions[0]["description"] == "Arrange contact with her sister"


def test_the_story_on_the_childs_page(client, social_worker, story_child, places):
    client.force_login(social_worker)
    with time_machine.travel(NOW, tick=True):
        page = client.get(reverse("incidents:child_story", args=[story_child.pk])).text
    assert 'data-testid="story"' in page
    assert "<strong>5</strong> episodes in all, <strong>2</strong> in the last 90 days" in page
    assert "Other: Missing her sister" in page
    assert reverse("incidents:place_detail", args=[story_child.pk, places["bus"].pk]) in page
    assert "Friday: 3 of 5 episodes" in page
    assert "Evening (6pm to midnight): 3 of 5 episodes" in page
    assert "A phone to call her sister" in page
    assert "Overdue since 1 May 2026" in page
    assert 'data-testid="chart-story-episodes"' in page


# Other children at the child's places ----------------------------------------------


def test_other_children_at_the_places_are_those_the_person_may_see(
    client, social_worker, story_child, places, area_west, area_other
):
    bus, park, flat = places["bus"], places["park"], places["flat"]
    # Seen and found at the bus interchange, many times: one child.
    often = ChildFactory(responsible_area=area_west)
    for day in range(1, 6):
        seen = local(2024, 1, day, 10)
        _episode(often, seen, bus, seen + dt.timedelta(hours=2), found_location=bus)
    # Found at the flat; goes to the park.
    found = ChildFactory(responsible_area=area_west)
    _episode(found, local(2024, 2, 1, 10), park, local(2024, 2, 1, 12), found_location=flat)
    goes = ChildFactory(responsible_area=area_west)
    goes.frequented_locations.add(park)
    # A child the social worker may not see: never counted.
    hidden = ChildFactory(responsible_area=area_other)
    _episode(hidden, local(2024, 3, 1, 10), bus, local(2024, 3, 1, 12), found_location=flat)
    with time_machine.travel(NOW, tick=False):
        story = build_story(story_child, user=social_worker, may_see_associates=False)
    assert {(p.description, p.other_children) for p in story.last_seen_places} == {
        ("Chester bus interchange", 1),
        ("Grosvenor Park", 2),
    }
    assert {(p.description, p.other_children) for p in story.found_places} == {
        ("Flat in Blacon", 1),
        ("Chester bus interchange", 1),
    }
    assert {(p.description, tuple(p.how), p.other_children) for p in story.places} == {
        ("Chester bus interchange", ("Last seen", "Found"), 1),
        ("Grosvenor Park", ("Last seen",), 2),
        ("Flat in Blacon", ("Found",), 1),
    }
    client.force_login(social_worker)
    page = client.get(reverse("incidents:child_story", args=[story_child.pk])).text
    table = page[page.index('data-testid="locations"') :]
    assert "2 other children" in table and "1 other child<" in table


def test_other_children_are_counted_up_to_a_cap(
    client, social_worker, story_child, places, area_west, monkeypatch
):
    monkeypatch.setattr(policy, "PLACE_OTHER_CHILDREN_COUNTED", 3)
    for n in range(5):
        other = ChildFactory(responsible_area=area_west)
        _episode(other, local(2024, 1, n + 1, 10), places["bus"], local(2024, 1, n + 1, 12))
    with time_machine.travel(NOW, tick=False):
        story = build_story(story_child, user=social_worker, may_see_associates=False)
    bus = next(p for p in story.places if p.description == "Chester bus interchange")
    assert (bus.other_children, bus.other_children_at_least) == (3, True)
    client.force_login(social_worker)
    page = client.get(reverse("incidents:child_story", args=[story_child.pk])).text
    assert "3 or more other children" in page


def test_the_count_of_other_children_agrees_with_reading_every_episode(
    social_worker, story_child, places, area_west, area_other
):
    """The index walk gives the answer a plain count of every episode gives."""
    import random

    from incidents import access
    from incidents.story import _other_children

    rng = random.Random(7)
    spots = [*places.values(), *(LocationFactory() for _ in range(3))]
    for n in range(12):
        other = ChildFactory(responsible_area=area_west if n % 3 else area_other)
        for k in range(rng.randint(0, 3)):
            seen = local(2023, 1 + n, 1 + 3 * k, 10)
            _episode(
                other,
                seen,
                rng.choice(spots),
                seen + dt.timedelta(hours=1),
                found_location=rng.choice([None, *spots]),
            )
        if rng.random() < 0.5:
            other.frequented_locations.add(rng.choice(spots))
    visible = set(access.children_visible_to(social_worker).values_list("pk", flat=True))
    expected = {}
    for spot in spots:
        linked = set(
            Episode.objects.filter(last_seen_location=spot).values_list("child_id", flat=True)
        )
        linked |= set(
            Episode.objects.filter(found_location=spot).values_list("child_id", flat=True)
        )
        linked |= set(spot.frequented_by.values_list("pk", flat=True))
        expected[spot.pk] = len((linked & visible) - {story_child.pk})
    counted = _other_children(social_worker, story_child, [spot.pk for spot in spots])
    assert {pk: counted.get(pk, 0) for pk in expected} == expected


def test_a_child_with_no_episodes_has_a_short_story(client, social_worker, area_west):
    child = ChildFactory(responsible_area=area_west, created_by=social_worker)
    client.force_login(social_worker)
    page = client.get(reverse("incidents:child_story", args=[child.pk])).text
    assert "No episodes recorded yet." in page
    assert "No places recorded." in page


def _many_episodes(child: Child, count: int, places: dict[str, Location]) -> None:
    """``count`` returned episodes, one a day back from yesterday, never overlapping."""
    start = timezone.now() - dt.timedelta(days=count + 1)
    rows = []
    for n in range(count):
        # Varied hours, each episode over (3 hours) before the next day's begins.
        seen = start + dt.timedelta(days=n, hours=n % 12)
        rows.append(
            Episode(
                child=child,
                category=Episode.Category.MISSING,
                reported_at=seen + dt.timedelta(minutes=30),
                reported_by_name="Carer",
                last_seen_at=seen,
                earliest_last_seen_at=seen,
                last_seen_location=places["bus" if n % 2 else "park"],
                circumstances="Did not come home.",
                found_at=seen + dt.timedelta(hours=3),
                first_found_at=seen + dt.timedelta(hours=3),
                found_location=places["flat"],
                created_by=child.created_by,
            )
        )
    episodes = Episode.objects.bulk_create(rows)
    owner = child.created_by.agency
    ReturnInterview.objects.bulk_create(
        ReturnInterview(
            episode=e,
            owner=owner,
            due_at=e.found_at + dt.timedelta(hours=72),
            outcome=ReturnInterview.Outcome.HELD,
            held_at=e.found_at + dt.timedelta(hours=5),
            push_factors=["conflict_home"],
            pull_factors=["friends", "other"],
            pull_other="Parties",
            what_would_help="Someone to talk to",
        )
        for e in episodes
    )
    for interview in ReturnInterview.objects.filter(episode__child=child)[:20]:
        AgreedAction.objects.create(
            child=child,
            interview=interview,
            description="Talk",
            owner_name="Jo",
            owner_agency=owner,
            agreed_on=timezone.localdate(interview.held_at),
        )


@pytest.mark.parametrize("count", [1, 300])
def test_the_story_takes_the_same_queries_for_1_or_300_episodes(
    count, area_west, social_worker, places, django_assert_num_queries
):
    child = ChildFactory(responsible_area=area_west, created_by=social_worker)
    _many_episodes(child, count, places)
    Associate.objects.create(
        child=child, name="Jay", relationship="friend", recorded_by=social_worker
    )
    with django_assert_num_queries(STORY_QUERIES + STORY_ASSOCIATE_QUERIES):
        story = build_story(child, user=social_worker, may_see_associates=True)
    assert story.total == count
    assert dict(story.pull)["Other: Parties"] == count
    with django_assert_num_queries(STORY_QUERIES):
        build_story(child, user=social_worker, may_see_associates=False)
    with django_assert_num_queries(LAST_FOUND_QUERIES + 1):
        found = last_times_found(child, may_see_associates=True)
    assert len(found) == min(count, 3)


# Associates -------------------------------------------------------------------------


def test_the_police_record_an_associate_and_the_timeline_does_not_name_them(officer, story_child):
    associate = associate_add(
        acting_user=officer,
        child=story_child,
        episode=story_child.e4,
        name="Jay",
        relationship=Associate.Relationship.OLDER_ADULT,
        concern="Drives her to Liverpool",
    )
    assert associate.recorded_by == officer
    assert associate.history.count() == 1
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.ASSOCIATE_ADDED)
    assert "Jay" not in event.summary
    assert event.episode == story_child.e4


def test_an_associate_is_corrected_with_history_and_stale_edits_refused(
    officer, social_worker, story_child
):
    associate = associate_add(
        acting_user=officer, child=story_child, name="Jay", relationship="friend"
    )
    corrected = associate_correct(
        acting_user=social_worker,
        associate=associate,
        expected_version=1,
        name="Jay Smith",
        relationship=Associate.Relationship.OTHER,
        relationship_other="Her cousin's friend",
        reason="Full name from the school",
    )
    assert (corrected.name, corrected.relationship_text, corrected.version) == (
        "Jay Smith",
        "Her cousin's friend",
        2,
    )
    latest = associate.history.order_by("-history_id").first()
    assert latest.history_change_reason == "Full name from the school"
    assert associate.history.count() == 2
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.ASSOCIATE_CORRECTED)
    assert "Jay" not in event.summary
    with pytest.raises(StaleEdit):
        associate_correct(
            acting_user=officer,
            associate=associate,
            expected_version=1,
            name="Someone",
            relationship="friend",
        )


def test_other_relationship_needs_words(officer, story_child):
    with pytest.raises(Exception) as refused:
        associate_add(acting_user=officer, child=story_child, name="Jay", relationship="other")
    assert refused.value.message_dict == {"relationship_other": ["Say how they know the child"]}


def test_who_may_record_associates(provider_worker, gp_manager, host_worker, story_child):
    for user in (provider_worker, gp_manager, host_worker):
        with pytest.raises(PermissionDenied):
            associate_add(acting_user=user, child=story_child, name="Jay", relationship="friend")
    assert not Associate.objects.exists()


def test_who_may_see_associates_on_the_childs_page(
    client, officer, social_worker, provider_worker, gp_manager, story_child
):
    associate_add(acting_user=officer, child=story_child, name="Jay Nolan", relationship="friend")
    page = reverse("incidents:child_story", args=[story_child.pk])
    for user, sees in (
        (officer, True),
        (social_worker, True),
        (provider_worker, True),
        (gp_manager, False),
    ):
        client.force_login(user)
        text = client.get(page).text
        assert ("Jay Nolan" in text) == sees, user.agency
    # Only those who record them are offered the change.
    client.force_login(provider_worker)
    change = reverse(
        "incidents:associate_change", args=[story_child.pk, Associate.objects.get().pk]
    )
    assert change not in client.get(page).text
    assert client.get(change).status_code == 403


def test_record_an_associate_from_the_episode_page(client, officer, gp_manager, story_child):
    episode_page = reverse("incidents:episode_detail", args=[story_child.e4.pk])
    add = reverse("incidents:associate_add", args=[story_child.e4.pk])
    client.force_login(officer)
    assert add in client.get(episode_page).text
    refused = client.post(add, {"name": "Jay", "relationship": "other"})
    assert refused.status_code == 200
    assert "Say how they know the child" in refused.text
    assert "govuk-error-summary" in refused.text
    saved = client.post(
        add, {"name": "Jay", "relationship": "other", "relationship_other": "Her dealer"}
    )
    assert saved.status_code == 302
    associate = Associate.objects.get()
    assert (associate.episode, associate.relationship_text) == (story_child.e4, "Her dealer")
    assert "Jay" in client.get(episode_page).text

    client.force_login(gp_manager)
    assert "Jay" not in client.get(episode_page).text
    assert client.get(add).status_code == 403


def test_change_an_associate_page_shows_the_history(client, officer, story_child):
    associate = associate_add(
        acting_user=officer, child=story_child, name="Jay", relationship="friend"
    )
    url = reverse("incidents:associate_change", args=[story_child.pk, associate.pk])
    client.force_login(officer)
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "version": "1",
            "name": "Jay Smith",
            "relationship": "friend",
            "concern": "",
            "reason": "Surname found",
        },
    )
    assert response.status_code == 302
    assert "Surname found" in client.get(url).text
    other_child = ChildFactory(responsible_area=story_child.responsible_area)
    wrong = reverse("incidents:associate_change", args=[other_child.pk, associate.pk])
    assert client.get(wrong).status_code == 404


# "Other (say what)" -----------------------------------------------------------------


def _interview(story_child: Child, la_west: Any) -> ReturnInterview:
    return ReturnInterviewFactory(
        episode=story_child.e4, owner=la_west, due_at=story_child.e4.found_at + dt.timedelta(days=3)
    )


def _when(name: str, moment: dt.datetime) -> dict[str, str]:
    moment = timezone.localtime(moment)
    return {
        f"{name}_0": str(moment.day),
        f"{name}_1": str(moment.month),
        f"{name}_2": str(moment.year),
        f"{name}_3": moment.strftime("%H:%M"),
    }


def test_other_ticked_without_words_is_a_field_error(client, social_worker, story_child, la_west):
    interview = _interview(story_child, la_west)
    client.force_login(social_worker)
    url = reverse("incidents:interview_held", args=[story_child.e4.pk])
    page = client.get(url).text
    assert 'data-aria-controls="conditional-push_factors-other"' in page
    assert 'name="push_other"' in page
    data = {
        "version": str(interview.version),
        "child_voice": "I went to see my sister.",
        **_when("held_at", story_child.e4.found_at + dt.timedelta(hours=5)),
        "held_by": "Aisha Begum",
        "push_factors": ["other"],
        "pull_factors": ["other"],
        "pull_other": "Parties",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Say what the other push factor was" in response.text
    assert 'href="#id_push_other"' in response.text  # in the error summary
    assert "Say what the other pull factor was" not in response.text


def test_other_said_in_words_is_kept_and_shown(
    provider_worker, social_worker, story_child, la_west
):
    interview = _interview(story_child, la_west)
    held = interview_record_held(
        acting_user=social_worker,
        interview=ReturnInterview.objects.select_related("episode__child").get(pk=interview.pk),
        expected_version=interview.version,
        held_at=story_child.e4.found_at + dt.timedelta(hours=5),
        held_by="Aisha Begum",
        child_voice="I went to see my sister.",
        push_factors=["other", "bullying"],
        push_other="  Missing her sister ",
        pull_factors=["friends"],
        pull_other="typed, then Other unticked",
    )
    held.refresh_from_db()
    assert (held.push_other, held.pull_other) == ("Missing her sister", "")
    assert held.push_factor_labels() == ["Other: Missing her sister", "Bullying"]


# Last times found -------------------------------------------------------------------


def test_the_report_form_shows_the_last_times_found(
    client, officer, gp_manager, story_child, places
):
    associate_add(
        acting_user=officer,
        child=story_child,
        episode=story_child.e4,
        name="Jay Nolan",
        relationship="older_adult",
    )
    url = reverse("incidents:episode_report", args=[story_child.pk])
    client.force_login(officer)
    page = client.get(url).text
    assert 'data-testid="last-times-found"' in page
    assert "Two older boys in a black Golf" in page
    assert reverse("incidents:place_detail", args=[story_child.pk, places["flat"].pk]) in page
    assert "Jay Nolan" in page
    # Latest first, three of them.
    assert page.count("Found at:") == 3
    assert page.index("1 Jun 2026") < page.index("17 Apr 2026")

    client.force_login(gp_manager)
    page = client.get(url).text
    assert "Two older boys in a black Golf" in page
    assert "Jay Nolan" not in page


def test_the_open_episode_page_shows_the_last_times_found(client, social_worker, story_child):
    missing = EpisodeFactory(child=story_child, found_at=None)
    client.force_login(social_worker)
    page = client.get(reverse("incidents:episode_detail", args=[missing.pk])).text
    assert "Last times found" in page
    assert "Two older boys in a black Golf" in page
    returned = client.get(reverse("incidents:episode_detail", args=[story_child.e4.pk])).text
    assert "Last times found" not in returned


# A place ----------------------------------------------------------------------------


def test_a_place_lists_the_children_the_person_may_see(
    client, social_worker, outsider, story_child, places, area_other
):
    elsewhere = ChildFactory(responsible_area=area_other, first_name="Unseen")
    EpisodeFactory(child=elsewhere, last_seen_location=places["bus"])
    url = reverse("incidents:place_detail", args=[story_child.pk, places["bus"].pk])
    client.force_login(social_worker)
    page = client.get(url).text
    assert story_child.full_name in page
    assert "Unseen" not in page
    entry = AccessLogEntry.objects.filter(path=url).latest("id")
    assert entry.child_id == story_child.pk
    assert entry.detail["children_shown"] == [story_child.pk]
    never = LocationFactory(description="Nowhere she went")
    nowhere = reverse("incidents:place_detail", args=[story_child.pk, never.pk])
    assert client.get(nowhere).status_code == 404
    missing = reverse("incidents:place_detail", args=[story_child.pk, 10**9])
    assert client.get(missing).status_code == 404
    # Someone who cannot see the child: not found, as for any record of theirs.
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_a_place_page_has_a_fixed_query_count(
    client, social_worker, story_child, places, django_assert_num_queries
):
    client.force_login(social_worker)
    url = reverse("incidents:place_detail", args=[story_child.pk, places["bus"].pk])
    client.get(url)
    # The child, the place and its children, + the session, the person and their agency.
    with django_assert_num_queries(
        PLACE_QUERIES + 3 + ACCESS_LOG_QUERIES + TWO_FACTOR_QUERIES
    ) as first:
        client.get(url)
    for n in range(5):
        EpisodeFactory(
            child=ChildFactory(responsible_area=story_child.responsible_area),
            last_seen_location=places["bus"],
            last_seen_at=timezone.now() - dt.timedelta(hours=3 + n),
        )
    with django_assert_num_queries(len(first.captured_queries)):
        client.get(url)
