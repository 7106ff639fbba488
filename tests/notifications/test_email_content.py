"""What each recipient's e-mail asks of them and by when (their own deadline, not the
teller's), the facts it gives them, and what it never carries: an episode run end to end
through the actions and the engine, with the default rules, then every e-mail rendered."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.utils import timezone

from incidents.actions.children import location_find_or_create
from incidents.actions.episodes import episode_record_return, episode_report
from incidents.actions.interviews import (
    interview_record_attempt,
    interview_record_held,
    safe_and_well_record,
)
from incidents.models import (
    Child,
    Episode,
    InterviewAttempt,
    Involvement,
    LegalStatus,
    ReturnInterview,
)
from notifications.asks import recipient_ask
from notifications.emails import render_notification_email
from notifications.engine import fire_timed_steps
from notifications.models import Notification, RecipientRole, Rule, Step
from tests.factories.incidents import ChildFactory, InvolvementFactory, PlacementFactory

from .engine_world import contacts_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

R = RecipientRole
UTC = dt.UTC
# March: UK time is GMT, so these read the same in the e-mails.
LAST_SEEN = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
FOUND = dt.datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
CHECKED = dt.datetime(2026, 3, 11, 14, 0, tzinfo=UTC)
HELD = dt.datetime(2026, 3, 12, 10, 0, tzinfo=UTC)

# What the record holds that must never leave in an e-mail.
SECRETS = {
    "last name": "Brennan-Secret",
    "place last seen": "Gorse Stacks bus shelter",
    "circumstances": "Left after an argument about her phone",
    "check outcome": "Said she stayed with a man called Dean",
    "disclosure": "Dean gave her cannabis to carry to Crewe",
    "child's words": "I only went because I felt nobody listened",
    "interview harm": "Was pushed against a wall",
    "where they were": "A flat above the chip shop",
}


@pytest.fixture
def child(contacts, officer, area_west, gp_practice, school, school_nurse, provider) -> Child:
    child = ChildFactory(
        first_name="Ellie",
        last_name=SECRETS["last name"],
        responsible_area=area_west,
        legal_status=LegalStatus.IN_CARE,
        created_by=officer,
    )
    PlacementFactory(child=child, host_area=area_west)
    start = dt.date(2025, 1, 1)
    for agency, role in (
        (gp_practice, Involvement.Role.GP_PRACTICE),
        (school, Involvement.Role.SCHOOL),
        (school_nurse, Involvement.Role.SCHOOL_NURSE),
        (provider, Involvement.Role.PROVIDER),
    ):
        InvolvementFactory(child=child, agency=agency, role=role, start=start)
    return child


def _at(moment: dt.datetime):
    return time_machine.travel(moment + dt.timedelta(minutes=5), tick=False)


@pytest.fixture
def returned(child, officer, django_capture_on_commit_callbacks) -> Episode:
    """Reported, still missing at 24 hours, found, and checked (harm disclosed)."""
    with (
        _at(LAST_SEEN + dt.timedelta(minutes=30)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        episode = episode_report(
            acting_user=officer,
            child=child,
            category=Episode.Category.MISSING,
            reported_at=LAST_SEEN + dt.timedelta(minutes=30),
            reported_by_name="Foster carer",
            last_seen_at=LAST_SEEN,
            last_seen_location=location_find_or_create(
                description=SECRETS["place last seen"], postcode="CH1 3EQ"
            ),
            circumstances=SECRETS["circumstances"],
            risk="medium",
            risk_rationale="Has gone before.",
        )
    with _at(LAST_SEEN + dt.timedelta(hours=25)):
        fire_timed_steps()
    with _at(FOUND), django_capture_on_commit_callbacks(execute=True):
        episode_record_return(
            acting_user=officer,
            episode=episode,
            expected_version=episode.version,
            found_at=FOUND,
            how_returned="police",
        )
    with _at(CHECKED), django_capture_on_commit_callbacks(execute=True):
        safe_and_well_record(
            acting_user=officer,
            episode=episode,
            officer_name="PC Sam Okafor",
            conducted_at=CHECKED,
            face_to_face=True,
            outcome=SECRETS["check outcome"],
            harm_disclosed=True,
            disclosure_details=SECRETS["disclosure"],
        )
    return episode


@pytest.fixture
def episode(returned, provider_worker, django_capture_on_commit_callbacks) -> Episode:
    """The same, with the return interview held."""
    episode = returned
    interview = ReturnInterview.objects.get(episode=episode)
    with _at(HELD), django_capture_on_commit_callbacks(execute=True):
        interview_record_held(
            acting_user=provider_worker,
            interview=interview,
            expected_version=interview.version,
            held_at=HELD,
            held_by="Aisha Begum",
            child_voice=SECRETS["child's words"],
            where_they_were=SECRETS["where they were"],
            harm_disclosed=True,
            harm_details=SECRETS["interview harm"],
        )
    return episode


def email(episode: Episode, step: str, role: str) -> tuple[str, str, str]:
    notification = Notification.objects.get(episode=episode, step=step, recipient_role=role)
    with _at(HELD):
        return render_notification_email(notification)


def fact(text: str, label: str) -> str:
    found = re.search(rf"^{re.escape(label)}: (.*)$", text, re.MULTILINE)
    assert found, f"no {label!r} line in:\n{text}"
    return found[1]


def test_no_email_carries_the_childs_words_disclosures_or_places(episode):
    notifications = list(Notification.objects.filter(episode=episode))
    # Every step of the episode: report, 24 hours, return, check, interview.
    assert {n.step for n in notifications} >= {
        Step.REPORTED,
        Step.STILL_MISSING_24H,
        Step.RETURNED,
        Step.SAFE_AND_WELL_DONE,
        Step.INTERVIEW_DONE,
    }
    for notification in notifications:
        with _at(HELD):
            rendered = "\n".join(render_notification_email(notification))
        for what, secret in SECRETS.items():
            assert secret not in rendered, (notification, what)


def test_the_provider_is_asked_to_hold_the_interview_by_its_deadline(returned, provider):
    subject, text, html = email(returned, Step.RETURNED, R.PROVIDER)

    due = "14 Mar 2026 12:00"  # found + 72 hours
    assert subject == f"Found or returned: Ellie B., action by {due}"
    # The default rule words what is asked; the deadline is the interview's own.
    assert fact(text, "What we ask of you") == (
        "The return interview is due within 72 hours of the return."
    )
    assert f"By: {due} (UK time)" in text
    assert f"By {due} (UK time)" in html
    # Not the council's deadline for telling the provider (24 hours after the return).
    assert "12 Mar 2026 12:00" not in text
    assert fact(text, "From") == (
        "Responsible local authority, Cheshire West and Chester Council Children's Services"
    )


def test_without_the_rules_wording_the_provider_gets_the_standard_ask(returned):
    Rule.objects.filter(step=Step.RETURNED, recipient=R.PROVIDER).update(message="")
    _subject, text, _html = email(returned, Step.RETURNED, R.PROVIDER)
    assert fact(text, "What we ask of you").startswith("Offer the child a return interview")
    assert "By: 14 Mar 2026 12:00 (UK time)" in text


def test_the_team_manager_at_24_hours_is_asked_for_a_strategy_discussion(returned):
    subject, text, _html = email(returned, Step.STILL_MISSING_24H, R.TEAM_MANAGER)

    assert fact(text, "What we ask of you") == "A strategy discussion is due."
    # Due when the child had been missing 24 hours: already past, so it says so.
    assert fact(text, "By") == (
        "11 Mar 2026 10:00 (UK time): this time has passed, so please act as soon as you can"
    )
    assert subject.endswith("action by 11 Mar 2026 10:00")


def test_the_council_told_of_the_report_hears_when_a_strategy_discussion_falls_due(
    episode,
):
    _subject, text, _html = email(episode, Step.REPORTED, R.RESPONSIBLE_LA)
    assert "If the child is still missing at 11 Mar 2026 10:00, a strategy discussion is due" in (
        text
    )
    assert fact(text, "Last seen") == "10 Mar 2026 10:00"
    # Nothing asked of them by a deadline of their own.
    assert "\nBy: " not in text


def test_the_council_told_of_a_check_learns_harm_was_disclosed_not_what(returned):
    _subject, text, html = email(returned, Step.SAFE_AND_WELL_DONE, R.RESPONSIBLE_LA)

    assert fact(text, "Harm disclosed at the check") == "Yes"
    assert fact(text, "Crime disclosed at the check") == "No"
    assert fact(text, "What we ask of you") == (
        "Harm or a crime was disclosed at the check: read it on the service today and act "
        "under your safeguarding procedures."
    )
    assert '<th align="left">Harm disclosed at the check</th><td>Yes</td>' in html
    assert SECRETS["disclosure"] not in text + html


def test_a_check_with_nothing_disclosed_is_read_before_the_interview(returned):
    from incidents.models import SafeAndWellCheck

    SafeAndWellCheck.objects.filter(episode=returned).update(harm_disclosed=False)
    _subject, text, _html = email(returned, Step.SAFE_AND_WELL_DONE, R.RESPONSIBLE_LA)

    assert fact(text, "Harm disclosed at the check") == "No"
    assert fact(text, "What we ask of you").startswith("Read the check's outcome on the service")
    assert fact(text, "By").startswith("14 Mar 2026 12:00 (UK time)")


@pytest.mark.parametrize("role", [R.GP, R.SCHOOL_NURSE])
def test_health_gets_the_dates_and_who_holds_the_interview(returned, provider, la_west, role):
    _subject, text, html = email(returned, Step.RETURNED, role)

    assert fact(text, "Last seen") == "10 Mar 2026 10:00"
    assert fact(text, "Found") == "11 Mar 2026 12:00"
    assert fact(text, "Return interview due by") == "14 Mar 2026 12:00"
    assert fact(text, "Held by") == f"{provider.name}, for {la_west.name}"
    asked = fact(text, "What we ask of you")
    assert f"give {provider.name} anything relevant before the return interview" in asked
    # Their deadline: before the interview is due.
    assert fact(text, "By") == "14 Mar 2026 12:00 (UK time)"
    assert "Return interview due by</th><td>14 Mar 2026 12:00" in html


@pytest.mark.parametrize("role", [R.GP, R.SCHOOL_NURSE, R.SCHOOL])
def test_health_and_school_are_told_the_interview_was_held_and_whom_to_ask(episode, provider, role):
    _subject, text, _html = email(episode, Step.INTERVIEW_DONE, role)

    assert fact(text, "Return interview") == "Held 12 Mar 2026 10:00"
    assert fact(text, "What we ask of you").startswith(f"Ask {provider.name} about")
    # No account on the service: they are not sent to read it there.
    assert "read" not in fact(text, "What we ask of you").lower()


def test_the_iro_and_the_council_read_the_interview_on_the_service(episode):
    for role in (R.RESPONSIBLE_LA, R.IRO):
        _subject, text, _html = email(episode, Step.INTERVIEW_DONE, role)
        assert "on the service" in fact(text, "What we ask of you")


def test_the_school_is_asked_to_support_the_return(returned, provider):
    _subject, text, _html = email(returned, Step.RETURNED, R.SCHOOL)
    assert fact(text, "What we ask of you").startswith("Support the child's return to school")
    assert fact(text, "Held by").startswith(provider.name)


def test_the_repeat_threshold_gives_the_team_manager_five_days(episode):
    notification = Notification(
        episode=episode,
        child=episode.child,
        rule=Rule.objects.get(step=Step.REPEAT_THRESHOLD),
        step=Step.REPEAT_THRESHOLD,
        recipient_role=R.TEAM_MANAGER,
        due_at=LAST_SEEN + dt.timedelta(days=5, minutes=30),
    )
    ask = recipient_ask(notification)
    assert ask.by == notification.due_at
    assert ask.action == "Convene a strategy meeting or multi-agency review."


def test_not_engaging_counts_the_attempts_and_points_to_the_interview_deadline(
    returned, provider_worker, django_capture_on_commit_callbacks
):
    interview = ReturnInterview.objects.get(episode=returned)
    for n in range(1, 4):
        with (
            _at(FOUND + n * dt.timedelta(hours=1)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            interview_record_attempt(
                acting_user=provider_worker,
                interview=interview,
                attempted_at=FOUND + n * dt.timedelta(hours=1),
                method=InterviewAttempt.Method.PHONE,
                outcome=InterviewAttempt.Outcome.NO_CONTACT,
            )
    notification = Notification.objects.get(
        episode=returned, step=Step.NOT_ENGAGING, recipient_role=R.SOCIAL_WORKER
    )
    with _at(FOUND + dt.timedelta(hours=4)):
        _subject, text, _html = render_notification_email(notification)
    assert fact(text, "Failed attempts to hold the interview") == "3"
    assert fact(text, "Return interview due by") == "14 Mar 2026 12:00"
    assert fact(text, "By") == "14 Mar 2026 12:00 (UK time)"
    assert SECRETS["last name"] not in text


def test_times_are_uk_time_in_summer(returned):
    # 13:30 UTC in July is 14:30 in the UK.
    Episode.objects.filter(pk=returned.pk).update(
        last_seen_at=dt.datetime(2026, 6, 27, 13, 30, tzinfo=UTC),
        reported_at=dt.datetime(2026, 6, 27, 14, 0, tzinfo=UTC),
        found_at=dt.datetime(2026, 6, 28, 13, 30, tzinfo=UTC),
    )
    # The interview's deadline is stored when the return is recorded (and kept then).
    ReturnInterview.objects.filter(episode=returned).update(
        due_at=dt.datetime(2026, 7, 1, 13, 30, tzinfo=UTC)
    )
    notification = Notification.objects.get(
        episode=returned, step=Step.RETURNED, recipient_role=R.PROVIDER
    )
    with time_machine.travel(dt.datetime(2026, 6, 28, 14, 0, tzinfo=UTC), tick=False):
        subject, text, _html = render_notification_email(notification)
    assert subject.endswith("action by 1 Jul 2026 14:30")
    assert "By: 1 Jul 2026 14:30 (UK time)" in text
    assert fact(text, "Found") == "28 Jun 2026 14:30"
    assert "\n" not in subject
    assert timezone.is_aware(recipient_ask(notification).by)
