"""Every input has a bound, and beyond it a message by the field, never a server error:
date parts of any size, dates before 2000 or before the child was born, text over its
limit, sign-in details over any real one's length, codes that are not codes, and
choices no record can have in the admin."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents.actions import episodes as episode_actions
from incidents.actions.oversight import strategy_meeting_record
from incidents.forms.fields import UKDateField, UKDateTimeField
from missingkids.accounts.models import Agency, User
from missingkids.policy import EARLIEST_DATE, EMAIL_MAX_LENGTH, FREE_TEXT_MAX_LENGTH
from tests.factories.incidents import ChildFactory
from tests.incidents.test_episodes_actions import report
from tests.security.signing_in import authenticator, password_step

pytestmark = pytest.mark.django_db
HUGE = "99999999999999999999"


def answering(client: Client) -> Client:
    client.raise_request_exception = False
    return client


def messages_for(parts: list[str]) -> list[str]:
    field = UKDateField(label="Start date")
    with pytest.raises(ValidationError) as caught:
        field.clean(parts)
    timed = UKDateTimeField(label="When")
    with pytest.raises(ValidationError) as timed_caught:
        timed.clean([*parts, "12:00"])
    assert timed_caught.value.messages == caught.value.messages
    return caught.value.messages


# Dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([HUGE, "1", "2020"], "Day must be a real day, from 1 to 31"),
        (["32", "1", "2020"], "Day must be a real day, from 1 to 31"),
        (["0", "1", "2020"], "Day must be a real day, from 1 to 31"),
        (["1", HUGE, "2020"], "Month must be a real month, from 1 to 12"),
        (["1", "13", "2020"], "Month must be a real month, from 1 to 12"),
        (["1", "1", HUGE], "Year must include 4 numbers"),
        (["1", "1", "20"], "Year must include 4 numbers"),
        (["1" * 5000, "1", "2020"], "Day must be a real day, from 1 to 31"),
        (["30", "2", "2020"], "The date must be a real date"),
        (["1", "1", "0001"], "The date must be on or after 1 January 2000"),
        (["31", "12", "1999"], "The date must be on or after 1 January 2000"),
    ],
)
def test_each_wrong_part_of_a_date_has_its_message(parts, message):
    assert message in messages_for(parts)


def test_the_earliest_date_is_accepted():
    day = EARLIEST_DATE
    assert UKDateField(label="Start").clean([day.day, day.month, day.year]) == day
    assert UKDateField(label="Start").clean(["01", "01", "2000"]) == day


def test_nothing_about_a_child_is_dated_before_they_were_born(officer, area_west, social_worker):
    born = timezone.localdate() - dt.timedelta(days=400)
    child = ChildFactory(responsible_area=area_west, date_of_birth=born, created_by=social_worker)
    before = timezone.make_aware(dt.datetime.combine(born - dt.timedelta(days=2), dt.time(12)))
    with pytest.raises(ValidationError) as caught:
        report(officer, child, last_seen_at=before, reported_at=before + dt.timedelta(hours=1))
    assert "the child's date of birth" in caught.value.message_dict["last_seen_at"][0]
    assert "the child's date of birth" in caught.value.message_dict["reported_at"][0]


def test_a_strategy_meeting_before_the_child_was_born_is_refused(manager, area_west):
    child = ChildFactory(
        responsible_area=area_west, date_of_birth=timezone.localdate() - dt.timedelta(days=30)
    )
    with pytest.raises(ValidationError) as caught:
        strategy_meeting_record(
            acting_user=manager,
            child=child,
            held_on=timezone.localdate() - dt.timedelta(days=40),
            attendee_agencies=[manager.agency],
            decisions="Safety plan",
        )
    assert "the child's date of birth" in caught.value.message_dict["held_on"][0]


def test_the_report_page_says_last_seen_before_birth_by_the_field(client, officer, area_west):
    born = timezone.localdate() - dt.timedelta(days=400)
    child = ChildFactory(responsible_area=area_west, date_of_birth=born)
    client.force_login(officer)
    seen = born - dt.timedelta(days=3)
    response = client.post(
        reverse("incidents:episode_report", kwargs={"child_pk": child.pk}),
        {
            "category": "missing",
            **{f"last_seen_at_{i}": v for i, v in enumerate([seen.day, seen.month, seen.year])},
            "last_seen_at_3": "12:00",
            **{f"reported_at_{i}": v for i, v in enumerate([seen.day, seen.month, seen.year])},
            "reported_at_3": "13:00",
        },
    )
    assert response.status_code == 200
    assert "the child&#x27;s date of birth" in response.content.decode()
    assert not episode_actions.Episode.objects.filter(child=child).exists()


def test_thousands_of_digits_as_a_chosen_agency_is_a_message(client, case, manager):
    client.force_login(manager)
    response = client.post(
        reverse("incidents:strategy_meeting_add", kwargs={"child_pk": case.child.pk}),
        {"attendee_agencies": ["9" * 5000, "²"], "decisions": "Safety plan"},
    )
    assert response.status_code == 200
    assert "govuk-error-summary" in response.content.decode()


# Free text ---------------------------------------------------------------------------------


def test_notes_of_a_notification_told_by_phone_are_limited(client, case, manager):
    if case.notification is None:
        pytest.fail("the case has no notification")
    client.force_login(manager)
    when = timezone.localtime() - dt.timedelta(minutes=30)
    response = client.post(
        reverse("notifications:record_told", args=[case.notification.pk]),
        {
            "method": "phone",
            "told_at_0": when.day,
            "told_at_1": when.month,
            "told_at_2": when.year,
            "told_at_3": when.strftime("%H:%M"),
            "told_whom": "Sam Patel",
            "notes": "x" * 25_000,
        },
    )
    assert response.status_code == 200
    assert f"Enter {FREE_TEXT_MAX_LENGTH:,} characters or fewer (you entered 25,000)" in (
        response.content.decode()
    )
    case.notification.refresh_from_db()
    assert case.notification.notes == ""


def test_a_limited_box_does_not_cut_pasted_text_short_in_the_browser(client, case, manager):
    client.force_login(manager)
    html = client.get(reverse("incidents:child_edit", args=[case.child.pk])).content.decode()
    assert 'name="physical_description"' in html
    # No box carries the browser's limit; the character count's data-maxlength is read
    # by its script, which counts and never stops the typing.
    assert not re.search(r"\smaxlength=", html)
    assert 'data-maxlength="20000"' in html


# Signing in --------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [EMAIL_MAX_LENGTH + 1, 256, 300, 5000])
def test_an_overlong_e_mail_address_is_a_message(officer, length):
    browser = answering(Client())
    email = "a" * (length - len("@example.org")) + "@example.org"
    response = password_step(browser, email, "p" * 2000)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Enter {EMAIL_MAX_LENGTH} characters or fewer" in html
    assert "Enter 1,000 characters or fewer" in html
    assert all(len(a.username) <= 255 for a in AccessAttempt.objects.all())


def test_the_longest_e_mail_address_still_counts_towards_lockout(officer):
    browser = answering(Client())
    email = "a" * (EMAIL_MAX_LENGTH - len("@example.org")) + "@example.org"
    response = password_step(browser, email, "Wrong-password-1")
    assert response.status_code == 200
    assert "Enter a correct e-mail address and password" in response.content.decode()
    assert AccessAttempt.objects.filter(username=email).exists()


@pytest.mark.parametrize("code", ["abcdef", "12 34 5x", "\x00", "9" * 5000, "١٢٣٤٥٦", "x" * 41])
def test_a_code_that_is_not_a_code_is_a_message(social_worker, code):
    browser = answering(Client())
    authenticator(social_worker)
    password_step(browser, social_worker.email)
    response = browser.post(reverse("two_factor"), {"code": code})
    assert response.status_code == 200
    assert "govuk-error-summary" in response.content.decode()


# The admin's choices -----------------------------------------------------------------------


@pytest.mark.parametrize("agency", ["abc", HUGE, "-1", "1.5", "\x00"])
def test_a_forged_agency_in_the_admin_is_a_message(client, admin_user, agency):
    answering(client).force_login(admin_user)
    people = User.objects.count()
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "new.person@example.org",
            "name": "New Person",
            "agency": agency,
            "role": "practitioner",
            "password1": "A-long-enough-password-1",
            "password2": "A-long-enough-password-1",
        },
    )
    assert response.status_code == 200
    assert "errornote" in response.content.decode()
    assert User.objects.count() == people
    contact = client.post(reverse("admin:accounts_contact_add"), {"agency": agency, "name": "X"})
    assert contact.status_code == 200


def test_a_forged_area_in_the_admin_is_a_message(client, admin_user, la_west):
    answering(client).force_login(admin_user)
    response = client.post(
        reverse("admin:accounts_agency_change", args=[la_west.pk]),
        {
            "name": la_west.name,
            "kind": la_west.kind,
            "areas": [HUGE, "abc", "9" * 5000],
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert list(Agency.objects.get(pk=la_west.pk).areas.all()) == list(la_west.areas.all())


@pytest.mark.parametrize(
    "query",
    [
        {"app_label": "accounts", "model_name": "user", "field_name": "agency", "term": "\x00"},
        {"app_label": "accounts", "model_name": "user", "field_name": "agency", "page": HUGE},
        {"app_label": "\x00", "model_name": HUGE, "field_name": "agency"},
        {"app_label": "accounts", "model_name": "contact", "field_name": "abc", "term": "x"},
    ],
)
def test_the_admin_agency_search_takes_hostile_queries(client, admin_user, query):
    answering(client).force_login(admin_user)
    assert client.get(reverse("admin:autocomplete"), query).status_code < 500


@pytest.mark.parametrize("term", ["\x00", "a\x00b", HUGE, "9" * 5000, "²", "-1"])
def test_the_admin_search_box_takes_hostile_words(client, admin_user, term):
    answering(client).force_login(admin_user)
    for name in ("user", "agency", "contact", "localauthorityarea", "secondfactorreset"):
        url = reverse(f"admin:accounts_{name}_changelist")
        assert client.get(url, {"q": term}).status_code < 500, (name, term)
    for url in (
        reverse("admin:notifications_rule_changelist"),
        reverse("admin:notifications_notification_changelist"),
        reverse("admin:axes_accessattempt_changelist"),
        reverse("admin:audit_accesslogentry_changelist"),
    ):
        assert client.get(url, {"q": term}).status_code < 500, (url, term)
