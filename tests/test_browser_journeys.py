"""The recording journeys end to end in a real browser, across three agencies.

A social worker finds no record of a child, adds one (question page, check answers,
confirm), records a placement out of area and the return-interview provider as
involved, and reports the child missing. A police officer grades the risk, records
the return and the safe and well check. The provider's worker records a failed attempt
and then the interview, with the child's own words. The child's page then shows the
whole story: status, the episode, the child's voice and one timeline with who recorded
each step.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import TYPE_CHECKING

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import CaseEvent, Child, Episode, ReturnInterview
from tests.browser import sign_in
from tests.factories import DEFAULT_PASSWORD
from tests.factories.incidents import ChildFactory, EpisodeFactory, RiskGradingFactory

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from missingkids.accounts.models import Agency, LocalAuthorityArea, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONDON = zoneinfo.ZoneInfo("Europe/London")
CHILD_VOICE = (
    "I didn't want to go back because the home is so far from my mum. I went to see my "
    "friends in Chester and stayed at Jade's."
)


# Typing dates as people in England do: day, month and year boxes, and a 24-hour time.


def fill_date(page: Page, field: str, day: dt.date) -> None:
    page.locator(f"#id_{field}_0").fill(str(day.day))
    page.locator(f"#id_{field}_1").fill(str(day.month))
    page.locator(f"#id_{field}_2").fill(str(day.year))


def fill_datetime(page: Page, field: str, when: dt.datetime) -> None:
    local = when.astimezone(LONDON)
    fill_date(page, field, local.date())
    page.locator(f"#id_{field}_3").fill(local.strftime("%H:%M"))


def hours_ago(now: dt.datetime, hours: int) -> dt.datetime:
    """A time that reads back as the same moment when typed in UK local time.

    In the hour the clocks go back, 01:30 happens twice and the form takes the first;
    a moment in the second one is moved an hour earlier so what is typed is what is meant.
    """
    when = now - dt.timedelta(hours=hours)
    local = when.astimezone(LONDON)
    # Compared in UTC: Python never finds an ambiguous local time equal across zones.
    typed = local.replace(tzinfo=None).replace(tzinfo=LONDON, fold=0)
    if typed.astimezone(dt.UTC) != when.astimezone(dt.UTC):
        when -= dt.timedelta(hours=1)
    return when


def shown(when: dt.datetime) -> str:
    """A time as the pages show it: '5 Mar 2026 14:30', in UK time."""
    local = when.astimezone(LONDON)
    return f"{local.day} {local:%b %Y %H:%M}"


def click_and_wait(page: Page, name: str, *, role: str = "button") -> None:
    """Press a button or link that submits or navigates, and wait for the next page."""
    with page.expect_navigation():
        page.get_by_role(role, name=name, exact=True).click()  # type: ignore[arg-type]


def expect_banner(page: Page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(text)


def sign_out(page: Page, live_server: LiveServer) -> None:
    with page.expect_navigation():
        page.get_by_test_id("signed-in-user").get_by_role("button", name="Sign out").click()
    assert page.url.startswith(live_server.url + reverse("login"))


def switch_user(page: Page, live_server: LiveServer, user: User) -> None:
    sign_out(page, live_server)
    sign_in(page, live_server, user, DEFAULT_PASSWORD)


# The journey ---------------------------------------------------------------------------


def test_a_child_goes_missing_and_three_agencies_record_what_follows(
    page: Page,
    live_server: LiveServer,
    social_worker: User,
    officer: User,
    provider_worker: User,
    la_east: Agency,
    provider: Agency,
) -> None:
    from playwright.sync_api import expect

    # Whole minutes, well in the past, in the order the protocol needs.
    now = timezone.now().replace(second=0, microsecond=0)
    last_seen = hours_ago(now, 30)
    found = hours_ago(now, 20)
    checked = hours_ago(now, 18)
    shared = hours_ago(now, 17)
    attempted = hours_ago(now, 8)
    held = hours_ago(now, 2)
    today = timezone.localdate()
    born = dt.date(today.year - 14, 2, 14)

    # 1. The social worker searches, finds nobody, and adds the child. ----------------
    sign_in(page, live_server, social_worker, DEFAULT_PASSWORD)
    page.goto(live_server.url + reverse("incidents:child_search"))
    page.get_by_label("Name, date of birth or an identifier").fill("Ellie Brennan")
    click_and_wait(page, "Search")
    no_match = re.compile(r"^No children match .Ellie Brennan.$")
    expect(page.locator("#results")).to_have_text(no_match)
    click_and_wait(page, "Add a new child")

    page.get_by_label("First name", exact=True).fill("Ellie")
    page.get_by_label("Last name", exact=True).fill("Brennan")
    fill_date(page, "date_of_birth", born)
    page.get_by_label("Female", exact=True).check()
    page.get_by_label("NHS number (optional)").fill("485 777 3457")
    page.get_by_label("Child in care", exact=True).check()
    fill_date(page, "legal_status_start", today - dt.timedelta(days=400))
    page.get_by_label("Responsible local authority").select_option(
        label="Cheshire West and Chester"
    )
    page.get_by_label("Places they go (optional)").fill("Chester bus interchange; her mum's.")
    click_and_wait(page, "Continue")

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Check your answers before adding the child"
    )
    answers = page.locator(".govuk-summary-list")
    expect(answers).to_contain_text("Ellie")
    expect(answers).to_contain_text("Brennan")
    expect(answers).to_contain_text(f"{born.day} {born:%B %Y}")
    expect(answers).to_contain_text("Child in care")
    click_and_wait(page, "Confirm and add child")

    expect_banner(page, "Ellie Brennan has been added.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ellie Brennan")
    child_url = page.url
    child = Child.objects.get(first_name="Ellie", last_name="Brennan")
    assert child_url == live_server.url + reverse("incidents:child_detail", args=[child.pk])
    expect(page.get_by_test_id("status")).to_contain_text("No open episode.")

    # She lives in a children's home in the neighbouring council's area: kept on the
    # record's care and agencies page.
    click_and_wait(page, "Care and agencies", role="link")
    click_and_wait(page, "Add a placement", role="link")
    page.get_by_label("Children's home", exact=True).check()
    page.get_by_label("Carer or home (optional)").fill("Oak Lodge")
    page.get_by_label("Address", exact=True).fill("3 Oak Lane, Crewe")
    page.get_by_label("Postcode", exact=True).fill("cw2 6pl")
    page.get_by_label("Local authority the placement is in").select_option(label="Cheshire East")
    fill_date(page, "start", today - dt.timedelta(days=100))
    click_and_wait(page, "Save placement")
    expect(page.locator("h1 + p")).to_contain_text("Placed out of area")
    expect(page.get_by_test_id("placements")).to_contain_text("CW2 6PL")

    # The return-interview provider works with her.
    click_and_wait(page, "Add an agency", role="link")
    page.get_by_label("Agency", exact=True).select_option(label=provider.name)
    page.get_by_label("Return-interview provider", exact=True).check()
    fill_date(page, "start", today - dt.timedelta(days=90))
    click_and_wait(page, "Save agency")
    expect(page.get_by_test_id("involvements")).to_contain_text(provider.name)

    # 2. She is reported missing: question page, check answers, confirm. --------------
    click_and_wait(page, "Overview", role="link")
    click_and_wait(page, "Report missing")
    page.get_by_label("Missing", exact=True).check()
    page.get_by_label("Who reported the child missing?").fill("Sarah Jones, residential worker")
    fill_datetime(page, "last_seen_at", last_seen)
    page.get_by_label("Name of the place").fill("Chester bus interchange")
    page.get_by_label("Postcode (optional)").fill("CH1 3EQ")
    page.get_by_label("Circumstances").fill("Did not come back to Oak Lodge after school.")
    page.get_by_label("Child sexual exploitation").check()
    # From the council, the grade is the reporter's concern: the police grade it.
    page.get_by_label("Medium", exact=True).check()
    page.get_by_label("What is your concern based on?").fill(
        "Missing before; seen with older males."
    )
    click_and_wait(page, "Continue")

    expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers before reporting")
    answers = page.locator(".govuk-summary-list")
    expect(answers).to_contain_text(shown(last_seen))
    expect(answers).to_contain_text("Chester bus interchange, CH1 3EQ")
    expect(answers).to_contain_text("Child sexual exploitation")
    expect(answers).to_contain_text("Not yet graded: the police grade it")
    click_and_wait(page, "Report missing")

    expect_banner(page, "Ellie Brennan has been reported missing")
    episode = Episode.objects.get(child=child)
    episode_url = live_server.url + reverse("incidents:episode_detail", args=[episode.pk])
    assert page.url == episode_url
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Missing from {shown(last_seen)}")
    expect(page.get_by_test_id("police-grade")).to_contain_text("Not yet graded")
    expect(page.get_by_test_id("reporters-concern")).to_contain_text("Medium")

    # She heads the open episodes list.
    page.goto(live_server.url + reverse("incidents:episode_list_open"))
    expect(page.get_by_test_id("missing").locator("tbody tr").first).to_contain_text(
        "Ellie Brennan"
    )

    # 3. The police officer grades the risk and records the return and check. ---------
    switch_user(page, live_server, officer)
    page.goto(episode_url)
    click_and_wait(page, "Grade risk", role="link")
    page.get_by_label("High", exact=True).check()
    page.get_by_label("What information does this grading rest on?").fill(
        "Seen getting into a car with two older males."
    )
    click_and_wait(page, "Save grading")
    expect(page.get_by_role("heading", name="Risk grading history")).to_be_visible()
    history = page.locator("#risk-history + table tbody tr")
    expect(history.first).to_contain_text("High")
    expect(history.first).to_contain_text("Police grade")
    expect(history.first).to_contain_text(officer.name)
    expect(page.get_by_test_id("police-grade")).to_contain_text("High")

    click_and_wait(page, "Record return", role="link")
    fill_datetime(page, "found_at", found)
    page.get_by_label("Name of the place").fill("Crewe retail park car park")
    page.get_by_label("Who were they with? (optional)").fill("Two older teenagers")
    page.get_by_label("Found by police", exact=True).check()
    click_and_wait(page, "Record return")
    expect_banner(page, "Ellie Brennan's return has been recorded.")
    steps = page.get_by_test_id("steps")
    expect(steps).to_contain_text("Found or returned")

    # The task list's step leads straight to the form.
    click_and_wait(page, "Safe and well check", role="link")
    expect(page.get_by_role("heading", level=1)).to_have_text("Record the safe and well check")
    expect(page.get_by_label("Officer's name")).to_have_value(officer.name)
    fill_datetime(page, "conducted_at", checked)
    page.get_by_label("Yes", exact=True).check()
    page.get_by_label("Outcome of the check").fill("Seen at Oak Lodge, tired, no injuries.")
    fill_datetime(page, "shared_with_la_at", shared)
    page.get_by_label("Phone", exact=True).check()
    page.get_by_label("Who was it shared with?").fill("Jo Whitfield, social worker")
    click_and_wait(page, "Save the safe and well check")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Check your answers before saving the safe and well check"
    )
    expect(page.get_by_test_id("check-answers")).to_contain_text("Seen at Oak Lodge")
    click_and_wait(page, "Confirm and save")
    expect_banner(page, "Safe and well check saved")
    check = page.get_by_test_id("safe-and-well")
    expect(check).to_contain_text(f"{shown(checked)} by {officer.name}")
    expect(page.get_by_test_id("safe-and-well-shared")).to_contain_text(
        f"{shown(shared)}, phone, with Jo Whitfield, social worker"
    )

    # 4. The provider's worker finds her, records a failed attempt, then the interview. -
    switch_user(page, live_server, provider_worker)
    page.goto(live_server.url + reverse("incidents:child_search"))
    page.get_by_label("Name, date of birth or an identifier").fill(born.strftime("%d/%m/%Y"))
    click_and_wait(page, "Search")
    click_and_wait(page, "Ellie Brennan", role="link")
    expect(page.get_by_test_id("status")).to_contain_text("Returned, awaiting interview")
    click_and_wait(page, "View the episode", role="link")
    click_and_wait(page, "Return interview", role="link")

    click_and_wait(page, "Record an attempt")
    fill_datetime(page, "attempted_at", attempted)
    page.get_by_label("Phone call", exact=True).check()
    page.get_by_label("No contact", exact=True).check()
    page.get_by_label("Notes").fill("No answer; left a voicemail.")
    click_and_wait(page, "Save the attempt")
    expect_banner(page, "Attempt saved")
    attempts = page.get_by_test_id("attempts")
    expect(attempts).to_contain_text("No contact")
    expect(attempts).to_contain_text(f"{provider_worker.name}, {provider.name}")

    click_and_wait(page, "Record the interview")
    page.get_by_label("What the child said, in their own words").fill(CHILD_VOICE)
    fill_datetime(page, "held_at", held)
    expect(page.get_by_label("Who held the interview")).to_have_value(provider_worker.name)
    page.get_by_label("Unhappy in placement", exact=True).check()
    page.get_by_label("Wanting to be with friends", exact=True).check()
    page.get_by_label("What would help, in the child's view").fill("Seeing my mum every week.")
    click_and_wait(page, "Save the interview")
    expect(page.get_by_test_id("check-answers")).to_contain_text(CHILD_VOICE)
    click_and_wait(page, "Confirm and save")
    expect_banner(page, "Return interview saved")
    expect(page.get_by_test_id("child-voice")).to_contain_text(CHILD_VOICE)

    # 5. The child's page tells the whole story. ----------------------------------------
    page.goto(child_url)
    expect(page.get_by_test_id("status")).to_contain_text("No open episode.")
    row = page.get_by_test_id("episodes").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Missing")
    expect(row).to_contain_text("Closed")
    expect(row).to_contain_text(shown(last_seen))
    expect(row).to_contain_text(shown(found))
    expect(row).to_contain_text("Held")
    expect(page.get_by_test_id("child-voice").locator("blockquote")).to_contain_text(CHILD_VOICE)
    # The record's other pages, from the links under the child's name.
    click_and_wait(page, "Story and places", role="link")
    expect(page.get_by_test_id("story-push")).to_contain_text("Unhappy in placement")
    expect(page.get_by_test_id("locations")).to_contain_text("Crewe retail park car park")
    click_and_wait(page, "History", role="link")

    timeline = page.get_by_test_id("timeline")
    sw = f"recorded by {social_worker.name} ({social_worker.agency.name})"
    police = f"recorded by {officer.name} ({officer.agency.name})"
    catch22 = f"recorded by {provider_worker.name} ({provider.name})"
    for kind, by in [
        ("Child added", sw),
        ("Placement added", sw),
        ("Agency involvement added", sw),
        ("Reported missing", sw),
        ("Risk re-graded", police),
        ("Found or returned", police),
        ("Safe and well check done", police),
        ("Return interview attempt", catch22),
        ("Return interview held", catch22),
        ("Episode closed", catch22),
    ]:
        entry = timeline.locator("li").filter(
            has=page.get_by_role("heading", name=kind, exact=True)
        )
        expect(entry.first).to_contain_text(by)

    # What the pages saved is what was typed, in UTC.
    episode.refresh_from_db()
    assert (episode.last_seen_at, episode.found_at) == (last_seen, found)
    assert episode.risk == "high"
    assert episode.closed_at is not None
    interview = ReturnInterview.objects.get(episode=episode)
    assert interview.provider == provider
    assert interview.held_at == held
    assert interview.child_voice == CHILD_VOICE
    assert interview.due_at == found + dt.timedelta(hours=72)
    agencies = set(CaseEvent.objects.filter(child=child).values_list("actor_agency", flat=True))
    assert agencies == {social_worker.agency_id, officer.agency_id, provider.pk}


# Bad input -----------------------------------------------------------------------------


def test_found_before_last_seen_is_shown_by_the_field_and_keeps_what_was_typed(
    page: Page,
    live_server: LiveServer,
    officer: User,
    social_worker: User,
    area_west: LocalAuthorityArea,
) -> None:
    from playwright.sync_api import expect

    now = timezone.now().replace(second=0, microsecond=0)
    child = ChildFactory(
        first_name="Noah", last_name="Price", responsible_area=area_west, created_by=social_worker
    )
    episode = EpisodeFactory(
        child=child, last_seen_at=now - dt.timedelta(hours=5), created_by=social_worker
    )
    RiskGradingFactory(episode=episode)
    too_early = hours_ago(now, 8)

    sign_in(page, live_server, officer, DEFAULT_PASSWORD)
    page.goto(live_server.url + reverse("incidents:episode_return", args=[episode.pk]))
    fill_datetime(page, "found_at", too_early)
    page.get_by_label("Name of the place").fill("Chester railway station")
    page.get_by_label("Who were they with? (optional)").fill("An older cousin")
    page.get_by_label("Returned of their own accord", exact=True).check()
    click_and_wait(page, "Record return")

    message = "The time found must be after the time last seen"
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text(message)
    # GOV.UK Frontend moves focus to the summary so screen readers announce it.
    expect(summary).to_be_focused()
    by_field = page.locator(".govuk-form-group--error").filter(has=page.locator("#id_found_at_0"))
    expect(by_field.locator(".govuk-error-message")).to_contain_text(message)

    # Everything typed is still there to correct.
    local = too_early.astimezone(LONDON)
    expect(page.locator("#id_found_at_0")).to_have_value(str(local.day))
    expect(page.locator("#id_found_at_1")).to_have_value(str(local.month))
    expect(page.locator("#id_found_at_2")).to_have_value(str(local.year))
    expect(page.locator("#id_found_at_3")).to_have_value(local.strftime("%H:%M"))
    expect(page.get_by_label("Name of the place")).to_have_value("Chester railway station")
    expect(page.get_by_label("Who were they with? (optional)")).to_have_value("An older cousin")
    expect(page.get_by_label("Returned of their own accord", exact=True)).to_be_checked()

    # The summary's link points at the date and time boxes.
    target = summary.get_by_role("link", name=message).get_attribute("href")
    assert target
    assert target.startswith("#")
    assert page.evaluate(
        "([target, box]) => document.querySelector(target).contains(document.getElementById(box))",
        [target, "id_found_at_0"],
    )

    episode.refresh_from_db()
    assert episode.found_at is None
    assert not CaseEvent.objects.filter(episode=episode, kind=CaseEvent.Kind.RETURNED).exists()
