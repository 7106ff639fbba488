"""The episode pages: report (question, check answers, confirm), the episode page, edit,
re-grade, record return and close."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from incidents import history
from incidents.history import EPISODE_HISTORY_QUERIES
from incidents.models import (
    AgreedAction,
    Associate,
    CaseEvent,
    Episode,
    InterviewAttempt,
    LegalStatus,
    Location,
    ReturnInterview,
    ReturnTimeCorrection,
)
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from missingkids.audit.log import ACCESS_LOG_QUERIES
from tests.factories.incidents import (
    AgreedActionFactory,
    CaseEventFactory,
    ChildFactory,
    EpisodeFactory,
    ReturnInterviewFactory,
    RiskGradingFactory,
    SafeAndWellCheckFactory,
)
from tests.factories.notifications import NotificationFactory

# The change history and the access-log entry each episode page adds.
PAGE_AUDIT_QUERIES = EPISODE_HISTORY_QUERIES + ACCESS_LOG_QUERIES
# The verified device the two-factor middleware looks up on every signed-in page.
PAGE_SIGN_IN_QUERIES = TWO_FACTOR_QUERIES


@pytest.fixture
def child(area_west, social_worker, la_west, provider, police):
    return ChildFactory(
        first_name="Ella", last_name="Jones", responsible_area=area_west, created_by=social_worker
    )


@pytest.fixture
def episode(child, officer):
    episode = EpisodeFactory(child=child, created_by=officer)
    RiskGradingFactory(episode=episode, graded_by=officer)
    return episode


@pytest.fixture
def returned(child, social_worker):
    interview = ReturnInterviewFactory(episode__child=child, episode__created_by=social_worker)
    return interview.episode


def when(name: str, value: dt.datetime) -> dict[str, str]:
    local = timezone.localtime(value)
    return {
        f"{name}_0": str(local.day),
        f"{name}_1": str(local.month),
        f"{name}_2": str(local.year),
        f"{name}_3": local.strftime("%H:%M"),
    }


def report_data(**overrides: str) -> dict[str, str]:
    now = timezone.now()
    data = {
        "category": "missing",
        **when("reported_at", now - dt.timedelta(hours=1)),
        "reported_by_name": "Jane Carer",
        "reported_by_agency": "",
        **when("last_seen_at", now - dt.timedelta(hours=3)),
        "last_seen_description": "Chester bus station",
        "last_seen_address": "",
        "last_seen_postcode": "ch1 3aa",
        "circumstances": "Left after an argument",
        "police_reference": "CH/1",
        "flags": ["flag_cse", "flag_self_harm"],
        "flag_other": "",
        "risk": "high",
        "risk_rationale": "Known CSE risk",
    }
    data.update(overrides)
    return data


# Report ---------------------------------------------------------------------------------


def test_report_question_page(client, social_worker, child):
    client.force_login(social_worker)
    response = client.get(reverse("incidents:episode_report", args=[child.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Report Ella Jones missing" in content
    # Not in care: the away option is explained, not offered.
    assert 'value="away"' not in content
    assert "applies only to a child in care" in content
    # Who reported is not guessed to be from the officer's own agency.
    assert f'value="{social_worker.agency_id}" selected' not in content
    assert '<option value="" selected>Not from an agency' in content


def test_report_question_page_offers_away_for_child_in_care(client, social_worker, child):
    child.legal_status = LegalStatus.IN_CARE
    child.save()
    client.force_login(social_worker)
    response = client.get(reverse("incidents:episode_report", args=[child.pk]))
    assert 'value="away"' in response.content.decode()


def test_report_outsider_404_admin_403(client, outsider, admin_user, child):
    url = reverse("incidents:episode_report", args=[child.pk])
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(admin_user)
    # Admins see no case records at all.
    assert client.get(url).status_code == 404


def test_report_wrong_method(client, social_worker, child):
    client.force_login(social_worker)
    assert client.put(reverse("incidents:episode_report", args=[child.pk])).status_code == 405


def test_report_journey(client, social_worker, child, la_west):
    client.force_login(social_worker)
    url = reverse("incidents:episode_report", args=[child.pk])
    response = client.post(url, report_data(reported_by_agency=str(la_west.pk)))
    check_url = reverse("incidents:episode_report_check", args=[child.pk])
    assert response.status_code == 302
    assert response.url == check_url
    assert not Episode.objects.exists()

    response = client.get(check_url)
    content = response.content.decode()
    assert "Check your answers" in content
    assert "Chester bus station, CH1 3AA" in content
    assert "Child sexual exploitation, Self-harm" in content

    # "Change" lands on the question's first input, and brings back what was typed.
    for target in ("id_category_1", "id_reported_at_0", "id_flags_1", "id_risk_1"):
        assert f'{url}?change=1#{target}"' in content
    content = client.get(f"{url}?change=1").content.decode()
    assert 'value="Jane Carer"' in content
    for target in ("id_category_1", "id_reported_at_0", "id_flags_1", "id_risk_1"):
        assert f'id="{target}"' in content

    response = client.post(check_url)
    episode = Episode.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("incidents:episode_detail", args=[episode.pk])
    assert episode.flag_cse and episode.flag_self_harm
    assert episode.last_seen_location.postcode == "CH1 3AA"
    assert episode.reported_by_agency == la_west
    assert CaseEvent.objects.filter(kind="reported", episode=episode).exists()
    page = client.get(response.url).content.decode()
    assert "Ella Jones has been reported missing" in page
    assert str(child.pk) not in client.session.get("episode_report", "")


def test_a_council_report_asks_for_a_concern_and_shows_it_as_such(client, social_worker, child):
    client.force_login(social_worker)
    url = reverse("incidents:episode_report", args=[child.pk])
    question = client.get(url).content.decode()
    assert "Your concern about the risk to the child" in question
    assert "Police risk grade" not in question
    client.post(url, report_data(risk="high"))
    check = client.get(reverse("incidents:episode_report_check", args=[child.pk]))
    answers = check.content.decode()
    assert "Not yet graded: the police grade it" in answers
    assert "Your concern about the risk" in answers

    client.post(reverse("incidents:episode_report_check", args=[child.pk]))
    episode = Episode.objects.get()
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    grade = re.search(r'data-testid="police-grade">(.*?)</dd>', page, re.S).group(1)
    assert "Not yet graded" in grade
    concern = re.search(r'data-testid="reporters-concern">(.*?)</dd>', page, re.S).group(1)
    assert "High, given by Jo Whitfield" in concern
    assert "not the police grade" in concern
    assert "Reporter&#x27;s concern" in page  # its kind in the grading history


def test_a_police_report_is_the_police_grade(client, officer, child):
    client.force_login(officer)
    url = reverse("incidents:episode_report", args=[child.pk])
    assert "Police risk grade" in client.get(url).content.decode()
    client.post(url, report_data(risk="high"))
    client.post(reverse("incidents:episode_report_check", args=[child.pk]))
    episode = Episode.objects.get()
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    grade = re.search(r'data-testid="police-grade">(.*?)</dd>', page, re.S).group(1)
    assert "High" in grade
    assert 'data-testid="reporters-concern"' not in page


def test_report_invalid_keeps_input(client, social_worker, child):
    client.force_login(social_worker)
    now = timezone.now()
    data = report_data(**when("last_seen_at", now + dt.timedelta(days=1)), circumstances="Keep me")
    response = client.post(reverse("incidents:episode_report", args=[child.pk]), data)
    assert response.status_code == 200
    content = response.content.decode()
    assert "<title>Error:" in content
    assert "must not be in the future" in content
    assert "Keep me" in content


def test_report_checks_against_the_record_on_the_question_page(client, social_worker, child):
    """Every check is made where the question is asked, all at once: not "fine" on the
    check page and refused at confirm."""
    client.force_login(social_worker)
    seen = timezone.now() - dt.timedelta(hours=3)
    response = client.post(
        reverse("incidents:episode_report", args=[child.pk]),
        report_data(
            category="away",
            **when("last_seen_at", seen),
            **when("reported_at", seen - dt.timedelta(hours=1)),
        ),
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "Away from placement without authorisation is only for a child in care" in content
    assert "The time reported must be after the time last seen" in content
    assert 'href="#id_category_1"' in content and 'href="#id_reported_at_0"' in content
    assert "Left after an argument" in content
    check = client.get(reverse("incidents:episode_report_check", args=[child.pk]))
    assert check.status_code == 302  # nothing kept to confirm
    assert not Episode.objects.exists()


def test_report_for_a_child_already_missing_goes_to_the_open_episode(
    client, social_worker, child, episode
):
    client.force_login(social_worker)
    url = reverse("incidents:episode_report", args=[child.pk])
    for response in (client.get(url), client.post(url, report_data())):
        content = response.content.decode()
        assert response.status_code == 200
        assert "is already missing" in content
        assert reverse("incidents:episode_detail", args=[episode.pk]) in content
        assert "Circumstances" not in content  # no form to fill in
    assert Episode.objects.count() == 1


def test_a_report_raced_by_another_is_refused_at_confirm(client, social_worker, child, officer):
    """Reported by someone else between the check page and confirm: refused, nothing lost."""
    client.force_login(social_worker)
    client.post(reverse("incidents:episode_report", args=[child.pk]), report_data())
    EpisodeFactory(child=child, created_by=officer)
    response = client.post(reverse("incidents:episode_report_check", args=[child.pk]))
    assert response.status_code == 200
    assert "already has an open missing episode" in response.content.decode()
    assert Episode.objects.count() == 1


def test_an_unsent_report_is_offered_not_prefilled(client, social_worker, child):
    client.force_login(social_worker)
    url = reverse("incidents:episode_report", args=[child.pk])
    client.post(url, report_data())

    page = client.get(url).content.decode()
    assert "You started a report on" in page
    assert reverse("incidents:episode_report_check", args=[child.pk]) in page
    assert 'value="Jane Carer"' not in page

    client.post(url, {"start_again": "1"})
    page = client.get(url).content.decode()
    assert "You started a report" not in page and 'value="Jane Carer"' not in page


def test_an_unsent_report_expires(client, social_worker, child):
    client.force_login(social_worker)
    url = reverse("incidents:episode_report", args=[child.pk])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.post(url, report_data())
    with time_machine.travel(start + dt.timedelta(hours=13), tick=False):
        page = client.get(url).content.decode()
        check = client.get(reverse("incidents:episode_report_check", args=[child.pk]))
    assert "You started a report" not in page and 'value="Jane Carer"' not in page
    assert check.status_code == 302


def test_report_check_without_answers_goes_to_questions(client, social_worker, child):
    client.force_login(social_worker)
    response = client.get(reverse("incidents:episode_report_check", args=[child.pk]))
    assert response.status_code == 302
    assert response.url == reverse("incidents:episode_report", args=[child.pk])


# Episode page ---------------------------------------------------------------------------


def test_detail_missing_for_police(client, officer, episode, django_assert_max_num_queries):
    client.force_login(officer)
    url = reverse("incidents:episode_detail", args=[episode.pk])
    response = client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Protocol steps" in content
    assert reverse("incidents:episode_regrade", args=[episode.pk]) in content
    assert reverse("incidents:episode_return", args=[episode.pk]) in content
    assert reverse("incidents:episode_close", args=[episode.pk]) not in content
    assert "Initial grading" in content
    assert 'id="risk-history"' in content


# Everything a signed-in request for the episode page reads and writes: the session, the
# person, their verified device and agency; the active rules' repeat threshold; the
# episode with its child, places, check, interview, profile as shared and the child's
# episodes in the repeat window (with the access check); its risk gradings; the access
# log; what the person may record; the notifications checklist (its rows, and whether a
# change to the record is still being worked through); the child's associates; the last
# times found while missing, or the corrections of the return time once returned; the
# change history, all its tables in one query.
EPISODE_PAGE_QUERIES = 14
# The responsible council's managers: one more, whether they may record a call as told.
EPISODE_PAGE_MANAGER_QUERIES = 15


def _much_recorded(episode: Episode, user) -> None:
    """Many gradings, associates, notifications, case events and earlier returns with
    interviews, attempts and agreed actions, for the child of ``episode``."""
    child = episode.child
    location = Location.objects.create(description="Bus station")
    for n in range(6):
        RiskGradingFactory(episode=episode, graded_by=user, rationale=f"Re-graded {n}")
        Associate.objects.create(
            child=child,
            episode=episode,
            name=f"Friend {n}",
            relationship="friend",
            recorded_by=user,
        )
        NotificationFactory(episode=episode)
        CaseEventFactory(child=child, episode=episode, actor=user)
        found = timezone.now() - dt.timedelta(days=10 + n)
        earlier = ReturnInterviewFactory(
            episode__child=child,
            episode__last_seen_at=found - dt.timedelta(hours=5),
            episode__found_at=found,
            episode__found_location=location,
            episode__created_by=user,
        )
        for m in range(3):
            InterviewAttempt.objects.create(
                interview=earlier,
                attempted_at=found + dt.timedelta(hours=m + 1),
                method=InterviewAttempt.Method.PHONE,
                outcome=InterviewAttempt.Outcome.NO_CONTACT,
                recorded_by=user,
            )
        AgreedActionFactory(interview=earlier)
        Associate.objects.create(
            child=child,
            episode=earlier.episode,
            name=f"Older friend {n}",
            relationship="friend",
            recorded_by=user,
        )


def _returned_with_much_recorded(episode: Episode, user) -> None:
    found = episode.last_seen_at + dt.timedelta(hours=2)
    Episode.objects.filter(pk=episode.pk).update(found_at=found, first_found_at=found)
    episode.refresh_from_db()
    interview = ReturnInterviewFactory(episode=episode, due_at=found + dt.timedelta(hours=72))
    SafeAndWellCheckFactory(episode=episode, recorded_by=user)
    for m in range(8):
        InterviewAttempt.objects.create(
            interview=interview,
            attempted_at=found + dt.timedelta(hours=m + 1),
            method=InterviewAttempt.Method.VISIT,
            outcome=InterviewAttempt.Outcome.NO_CONTACT,
            recorded_by=user,
        )
        AgreedActionFactory(interview=interview, description=f"Action {m}")
        ReturnTimeCorrection.objects.create(
            episode=episode,
            previous_found_at=found,
            found_at=found,
            reason=f"Checked {m}",
            corrected_by=user,
        )


def test_detail_query_count_is_fixed(client, officer, episode, django_assert_num_queries):
    """The same queries for an episode with little recorded and one with a lot, missing
    or returned, all of them counted (the session and sign-in among them)."""
    client.force_login(officer)
    url = reverse("incidents:episode_detail", args=[episode.pk])
    client.get(url)
    with django_assert_num_queries(EPISODE_PAGE_QUERIES):
        page = client.get(url)
    assert "Last times found" in page.text
    _much_recorded(episode, officer)
    with django_assert_num_queries(EPISODE_PAGE_QUERIES):
        page = client.get(url)
    assert "Older friend 5" in page.text  # an associate of a last time found
    assert "Re-graded 5" in page.text
    _returned_with_much_recorded(episode, officer)
    with django_assert_num_queries(EPISODE_PAGE_QUERIES):
        page = client.get(url)
    assert "Last times found" not in page.text
    assert "Checked 7" in page.text  # a correction of the return time


def test_detail_query_count_for_a_manager_is_fixed(
    client, manager, episode, officer, django_assert_num_queries
):
    client.force_login(manager)
    url = reverse("incidents:episode_detail", args=[episode.pk])
    client.get(url)
    with django_assert_num_queries(EPISODE_PAGE_MANAGER_QUERIES):
        client.get(url)
    _much_recorded(episode, officer)
    _returned_with_much_recorded(episode, officer)
    with django_assert_num_queries(EPISODE_PAGE_MANAGER_QUERIES):
        client.get(url)


def test_the_history_in_one_query_reads_as_table_by_table(officer, episode, police):
    """Every kind of value (times, dates, yes/no, lists, places, agencies, people) and
    every table reads back the same from the one query as from one query a table."""
    _much_recorded(episode, officer)
    _returned_with_much_recorded(episode, officer)
    episode.refresh_from_db()
    episode.risk, episode.flag_cse = "high", True
    episode.found_location = Location.objects.create(description="Park", postcode="CH1 1AA")
    episode.closed_by, episode.version = officer, episode.version + 1
    episode.save()
    interview = episode.interview
    interview.push_factors, interview.owner = ["conflict"], police
    interview.harm_disclosed, interview.version = True, interview.version + 1
    interview.save()
    action = AgreedAction.objects.filter(interview=interview).first()
    action.due_date, action.version = action.due_date + dt.timedelta(days=3), action.version + 1
    action.save()
    for sources, pk in (
        (history.EPISODE_SOURCES, episode.pk),
        (history.INTERVIEW_SOURCES, episode.pk),
    ):
        expected = history._history(sources, pk)
        assert history._history_in_one_query(sources, pk) == expected
        assert any(change.changes for change in expected)
    labels = {c.label for e in history.episode_history(episode) for c in e.changes}
    assert {"Risk", "Found location", "Closed by"} <= labels


def test_detail_returned_for_manager(client, manager, returned):
    SafeAndWellCheckFactory(episode=returned)
    client.force_login(manager)
    content = client.get(reverse("incidents:episode_detail", args=[returned.pk])).content.decode()
    assert reverse("incidents:episode_close", args=[returned.pk]) in content
    assert reverse("incidents:episode_regrade", args=[returned.pk]) not in content
    assert reverse("incidents:episode_return", args=[returned.pk]) not in content
    assert "Due by" in content


# The safe and well check on the episode page ---------------------------------------------

READERS = ["officer", "social_worker", "provider_worker", "manager"]


def _check_with_disclosures(episode, officer, **fields):
    return SafeAndWellCheckFactory(
        episode=episode,
        officer_name="PC Sam Okafor",
        agency=officer.agency,
        recorded_by=officer,
        conducted_at=episode.found_at + dt.timedelta(minutes=30),
        outcome="Seen at home; says she stayed at a friend's flat in Crewe.",
        harm_disclosed=True,
        crime_disclosed=True,
        disclosure_details="Said an older man gave her cannabis to carry.",
        **fields,
    )


@pytest.mark.parametrize("who", READERS)
def test_the_checks_outcome_is_on_the_episode_page_for_everyone_who_sees_the_child(
    client, request, returned, officer, who
):
    _check_with_disclosures(returned, officer)
    client.force_login(request.getfixturevalue(who))
    content = client.get(reverse("incidents:episode_detail", args=[returned.pk])).content.decode()

    assert 'id="safe-and-well"' in content
    assert escape("says she stayed at a friend's flat in Crewe.") in content
    assert "What the child disclosed" in content
    assert "Said an older man gave her cannabis to carry." in content
    assert re.search(r"Harm disclosed</dt>\s*<dd[^>]*><strong[^>]*>Yes", content)
    assert re.search(r"Crime disclosed</dt>\s*<dd[^>]*><strong[^>]*>Yes", content)
    assert '<strong class="govuk-tag govuk-tag--red">Not shared</strong>' in content


def test_the_check_is_not_shown_to_an_outsider(client, outsider, returned, officer):
    _check_with_disclosures(returned, officer)
    client.force_login(outsider)
    assert client.get(reverse("incidents:episode_detail", args=[returned.pk])).status_code == 404


def _episode_links(content: str, episode) -> set[str]:
    prefix = reverse("incidents:episode_detail", args=[episode.pk])
    return {href for href in re.findall(r'href="([^"#]+)', content) if href.startswith(prefix)}


@pytest.mark.parametrize("recorded", [False, True], ids=["to do", "recorded"])
@pytest.mark.parametrize("who", READERS)
def test_no_link_on_the_episode_page_leads_a_reader_to_permission_denied(
    client, request, returned, officer, who, recorded
):
    if recorded:
        _check_with_disclosures(returned, officer)
    client.force_login(request.getfixturevalue(who))
    content = client.get(reverse("incidents:episode_detail", args=[returned.pk])).content.decode()

    links = _episode_links(content, returned)
    assert links, "the page links to the episode's own pages"
    for href in links:
        assert client.get(href).status_code == 200, href


def test_the_check_step_leads_each_reader_to_the_right_place(
    client, returned, officer, social_worker
):
    record = reverse("incidents:safe_and_well_record", args=[returned.pk])

    def step_url(user):
        client.force_login(user)
        response = client.get(reverse("incidents:episode_detail", args=[returned.pk]))
        (step,) = [s for s in response.context["steps"] if s["name"] == "Safe and well check"]
        return step["url"]

    # To do: the police go to the form, everyone else to where the check will be shown.
    assert step_url(officer) == record
    assert step_url(social_worker) == "#safe-and-well"
    _check_with_disclosures(returned, officer)
    assert step_url(officer) == "#safe-and-well"
    assert step_url(social_worker) == "#safe-and-well"


def test_the_sharing_shows_how_whom_and_who_recorded_it(
    client, returned, officer, social_worker, police
):
    check = _check_with_disclosures(
        returned,
        officer,
        shared_with_la_at=returned.found_at + dt.timedelta(hours=2),
        shared_method="phone",
        shared_with="Jo Whitfield, duty social worker",
        shared_by_agency=police,
        shared_recorded_by=officer,
    )
    client.force_login(social_worker)
    content = client.get(reverse("incidents:episode_detail", args=[returned.pk])).content.decode()

    shared = timezone.localtime(check.shared_with_la_at)
    assert f"{shared.day} {shared:%b %Y %H:%M}, phone, with Jo Whitfield, duty social worker" in (
        content
    )
    assert f"Recorded by {officer.name}, {escape(police.name)}" in content
    assert "Not shared" not in content


def test_a_check_the_service_emailed_says_so(client, returned, officer, social_worker, police):
    _check_with_disclosures(
        returned,
        officer,
        shared_with_la_at=returned.found_at + dt.timedelta(hours=2),
        shared_method="email",
        shared_with="Front door, Cheshire West and Chester Council",
        shared_by_agency=police,
    )
    client.force_login(social_worker)
    content = client.get(reverse("incidents:episode_detail", args=[returned.pk])).content.decode()

    assert "e-mail, with Front door, Cheshire West and Chester Council" in content
    assert f"Sent by the service for {police.name}" in content


def test_the_query_count_is_the_same_with_a_shared_check(
    client, returned, officer, police, django_assert_num_queries
):
    client.force_login(officer)
    url = reverse("incidents:episode_detail", args=[returned.pk])
    client.get(url)
    # The check and the people and agencies it names come with the episode's own query.
    _check_with_disclosures(
        returned,
        officer,
        shared_with_la_at=returned.found_at + dt.timedelta(hours=2),
        shared_method="phone",
        shared_with="Jo Whitfield",
        shared_by_agency=police,
        shared_recorded_by=officer,
    )
    with django_assert_num_queries(EPISODE_PAGE_QUERIES):
        client.get(url)


def test_detail_overdue_steps(client, social_worker, child):
    found = timezone.now() - dt.timedelta(hours=80)
    interview = ReturnInterviewFactory(
        episode__child=child,
        episode__last_seen_at=found - dt.timedelta(hours=5),
        episode__found_at=found,
    )
    client.force_login(social_worker)
    response = client.get(reverse("incidents:episode_detail", args=[interview.episode.pk]))
    steps = response.context["steps"]
    by_name = {step["name"]: step["status"]["text"] for step in steps}
    assert by_name["Safe and well check"] == "Overdue"
    assert by_name["Return interview"] == "Overdue"
    assert by_name["Found or returned"] == "Done"


def test_detail_outsider_404_and_method(client, outsider, social_worker, episode):
    url = reverse("incidents:episode_detail", args=[episode.pk])
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(social_worker)
    assert client.post(url).status_code == 405


# Re-grade -------------------------------------------------------------------------------


def test_regrade_by_officer(client, officer, episode):
    client.force_login(officer)
    url = reverse("incidents:episode_regrade", args=[episode.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"grade": "high", "rationale": "Seen with older men"})
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.risk == "high"
    assert CaseEvent.objects.filter(kind="risk_regraded", episode=episode).exists()


def test_regrade_forbidden_for_social_worker(client, social_worker, outsider, episode):
    url = reverse("incidents:episode_regrade", args=[episode.pk])
    client.force_login(social_worker)
    assert client.get(url).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_regrade_invalid_keeps_input(client, officer, episode):
    client.force_login(officer)
    url = reverse("incidents:episode_regrade", args=[episode.pk])
    response = client.post(url, {"grade": "", "rationale": "Keep this rationale"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "Select the risk grade" in content
    assert "Keep this rationale" in content
    assert client.delete(url).status_code == 405


def test_regrade_after_return_refused(client, officer, returned):
    client.force_login(officer)
    response = client.post(
        reverse("incidents:episode_regrade", args=[returned.pk]),
        {"grade": "high", "rationale": "Late"},
    )
    assert response.status_code == 200
    assert "still missing" in response.content.decode()


def test_choice_errors_link_to_the_first_option(client, officer, episode):
    client.force_login(officer)
    response = client.post(
        reverse("incidents:episode_regrade", args=[episode.pk]), {"grade": "", "rationale": "x"}
    )
    assert response.status_code == 200
    assert 'href="#id_grade_1"' in response.content.decode()


# Return ---------------------------------------------------------------------------------


def return_data(episode: Episode, **overrides: str) -> dict[str, str]:
    data = {
        **when("found_at", timezone.now() - dt.timedelta(minutes=10)),
        "found_description": "Friend's flat",
        "found_address": "",
        "found_postcode": "",
        "found_with": "A friend",
        "how_returned": "police",
        "return_notes": "",
        "version": str(episode.version),
    }
    data.update(overrides)
    return data


def test_record_return(client, provider_worker, episode):
    client.force_login(provider_worker)
    url = reverse("incidents:episode_return", args=[episode.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, return_data(episode))
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.found_location == Location.objects.get(description="Friend's flat")
    assert ReturnInterview.objects.filter(episode=episode).exists()


def test_record_return_found_before_last_seen(client, social_worker, episode):
    client.force_login(social_worker)
    data = return_data(episode, **when("found_at", episode.last_seen_at - dt.timedelta(hours=1)))
    data["found_with"] = "Keep this"
    response = client.post(reverse("incidents:episode_return", args=[episode.pk]), data)
    assert response.status_code == 200
    content = response.content.decode()
    assert "The time found must be after the time last seen" in content
    assert "Keep this" in content
    # The error summary links to the Day box, so following it puts the cursor there.
    assert 'href="#id_found_at_0">The time found must be after' in content


def test_record_return_stale_shows_conflict(client, social_worker, episode):
    client.force_login(social_worker)
    data = return_data(episode, version=str(episode.version - 1 or 99))
    response = client.post(reverse("incidents:episode_return", args=[episode.pk]), data)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Someone else changed this episode" in content
    assert "Friend&#x27;s flat" in content


def test_record_return_outsider_and_admin(client, outsider, admin_user, episode):
    url = reverse("incidents:episode_return", args=[episode.pk])
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(admin_user)
    assert client.get(url).status_code == 404


# Edit -----------------------------------------------------------------------------------


def edit_data(episode: Episode, **overrides: str) -> dict[str, str]:
    data = report_data()
    for name in ("risk", "risk_rationale"):
        data.pop(name)
    data.update(
        {
            **when("reported_at", episode.reported_at),
            **when("last_seen_at", episode.last_seen_at),
            "version": str(episode.version),
        }
    )
    data.update(overrides)
    return data


def test_edit(client, social_worker, episode):
    client.force_login(social_worker)
    url = reverse("incidents:episode_edit", args=[episode.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert "Did not come home from school." in response.content.decode()
    response = client.post(url, edit_data(episode, circumstances="Updated"))
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.circumstances == "Updated"
    assert CaseEvent.objects.filter(kind="episode_edited", episode=episode).exists()


def test_edit_stale_shows_conflict_and_keeps_input(client, social_worker, episode):
    client.force_login(social_worker)
    url = reverse("incidents:episode_edit", args=[episode.pk])
    stale = edit_data(episode, circumstances="My late change")
    assert client.post(url, edit_data(episode, circumstances="First")).status_code == 302
    response = client.post(url, stale)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Someone else changed this episode" in content
    assert "My late change" in content
    assert 'name="version" value="2"' in content
    episode.refresh_from_db()
    assert episode.circumstances == "First"


def test_edit_drawn_before_a_return_was_recorded_says_so(client, social_worker, episode):
    """A return recorded meanwhile adds questions the person's page did not have: they
    get the conflict, saying what changed, not messages about questions never asked."""
    client.force_login(social_worker)
    url = reverse("incidents:episode_edit", args=[episode.pk])
    stale = edit_data(episode, circumstances="My late change")
    returned = client.post(
        reverse("incidents:episode_return", args=[episode.pk]),
        return_data(episode, return_notes="Tired but well"),
    )
    assert returned.status_code == 302
    response = client.post(url, stale)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Someone else changed this episode" in content
    assert "Changed meanwhile: the child&#x27;s return was recorded" in content
    assert "Select how the child returned" not in content
    assert "My late change" in content
    assert "Tired but well" in content  # the return as recorded, not blanked
    episode.refresh_from_db()
    assert episode.circumstances != "My late change"
    # Saving again, having seen it, keeps the return as recorded.
    form = response.context["form"]
    again = {**stale, "version": str(episode.version)}
    for name in ("found_description", "found_with", "how_returned", "return_notes"):
        again[name] = form.data.get(name, "")
    assert client.post(url, again).status_code == 302
    episode.refresh_from_db()
    assert (episode.circumstances, episode.return_notes) == ("My late change", "Tired but well")


def test_edit_leaves_the_return_time_alone(client, social_worker, returned):
    """The edit page has no return time, and ignores one posted to it."""
    client.force_login(social_worker)
    url = reverse("incidents:episode_edit", args=[returned.pk])
    assert 'name="found_at_0"' not in client.get(url).content.decode()
    found, due = returned.found_at, returned.interview.due_at
    data = edit_data(
        returned,
        **when("found_at", found + dt.timedelta(days=3)),
        how_returned="self",
        found_description="",
        found_with="",
        found_address="",
        found_postcode="",
        return_notes="",
    )
    assert client.post(url, data).status_code == 302
    returned.refresh_from_db()
    assert returned.found_at == found
    assert ReturnInterview.objects.get(episode=returned).due_at == due


def test_correct_the_return_time_page(client, social_worker, returned):
    client.force_login(social_worker)
    detail = reverse("incidents:episode_detail", args=[returned.pk])
    url = reverse("incidents:episode_correct_return", args=[returned.pk])
    assert f'href="{url}"' in client.get(detail).content.decode()
    page = client.get(url).content.decode()
    assert "keeps the deadline set when the return was first recorded" in page

    too_early = returned.last_seen_at - dt.timedelta(hours=2)
    response = client.post(
        url, {**when("found_at", too_early), "reason": "", "version": returned.version}
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "<title>Error:" in content
    assert "Enter why the return time is being corrected" in content

    response = client.post(
        url,
        {**when("found_at", too_early), "reason": "Carer's log", "version": returned.version},
    )
    assert "The time found must be after the time last seen" in response.content.decode()
    assert "Carer&#x27;s log" in response.content.decode()  # what was typed is kept

    due = returned.interview.due_at
    corrected = (returned.found_at - dt.timedelta(minutes=30)).replace(second=0, microsecond=0)
    response = client.post(
        url,
        {**when("found_at", corrected), "reason": "Carer's log", "version": returned.version},
    )
    assert response.status_code == 302
    returned.refresh_from_db()
    assert returned.found_at == corrected
    assert ReturnInterview.objects.get(episode=returned).due_at == due
    page = client.get(detail).content.decode()
    correction = re.search(r'data-testid="return-time-correction">(.*?)</div>', page, re.S)
    assert "Carer&#x27;s log" in correction.group(1)
    assert "Jo Whitfield" in correction.group(1)
    assert "a correction does not move it" in page
    interview = client.get(reverse("incidents:interview_detail", args=[returned.pk]))
    assert "as first recorded: the return time was corrected later" in interview.content.decode()


def test_the_provider_is_not_offered_the_correction(client, provider_worker, returned):
    client.force_login(provider_worker)
    url = reverse("incidents:episode_correct_return", args=[returned.pk])
    detail = reverse("incidents:episode_detail", args=[returned.pk])
    assert url not in client.get(detail).content.decode()
    assert client.get(url).status_code == 403
    found = returned.found_at
    data = {**when("found_at", found + dt.timedelta(days=2)), "reason": "x", "version": 1}
    assert client.post(url, data).status_code == 403
    returned.refresh_from_db()
    assert returned.found_at == found


def test_edit_outsider_404(client, outsider, episode):
    client.force_login(outsider)
    assert client.get(reverse("incidents:episode_edit", args=[episode.pk])).status_code == 404


# Close ----------------------------------------------------------------------------------


def test_close_by_manager(client, manager, returned):
    client.force_login(manager)
    url = reverse("incidents:episode_close", args=[returned.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": "Family moved abroad"})
    assert response.status_code == 302
    returned.refresh_from_db()
    assert returned.closure_reason == "Family moved abroad"


def test_close_forbidden_for_practitioner(client, social_worker, returned):
    client.force_login(social_worker)
    url = reverse("incidents:episode_close", args=[returned.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "x"}).status_code == 403


def test_close_before_return_shows_message(client, manager, episode):
    client.force_login(manager)
    response = client.post(
        reverse("incidents:episode_close", args=[episode.pk]), {"reason": "Keep reason"}
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "only be closed after the child&#x27;s return" in content
    assert "Keep reason" in content


def test_close_requires_reason(client, manager, returned):
    client.force_login(manager)
    response = client.post(reverse("incidents:episode_close", args=[returned.pk]), {"reason": ""})
    assert "Enter the reason for closing the episode" in response.content.decode()


def test_empty_date_questions_name_the_date(client, social_worker, child):
    """GOV.UK wording: "Enter the date and time the child was last seen", never the
    question read as a name ("Enter the when was the child last seen?")."""
    client.force_login(social_worker)
    response = client.post(reverse("incidents:episode_report", args=[child.pk]), {})

    text = response.content.decode()
    assert "Enter the date and time the child was reported missing" in text
    assert "Enter the date and time the child was last seen" in text
    assert "Enter the when" not in text
