"""Each list's download, read column by column (``ListPage.download``), writes the very
file the page's cells make: checked against the cells on a fixed data set with the
awkward cases (formula-like names, commas and quotes, blanks, summer and winter times),
and against the file as it is expected, text for text."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from incidents.models import LegalStatus, RiskGrade
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from missingkids.audit.models import AccessLogEntry
from notifications.models import Notification
from oversight.views import LISTS
from tests.factories.accounts import UserFactory
from tests.factories.incidents import (
    AgreedActionFactory,
    LocationFactory,
    PlacementFactory,
    SafeAndWellCheckFactory,
)
from tests.factories.notifications import NotificationFactory, RuleFactory

from .test_csv_streaming import built_whole, streamed
from .world import NOW, attempts, episode, returned

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
EXPECTED = Path(__file__).parent / "expected_csv"
# British Summer Time: the clocks went back on 25 October 2026.
SUMMER = dt.datetime(2026, 10, 20, 17, 45, tzinfo=dt.UTC)


def awkward_world(*, la, police, area_east, west_child) -> None:
    """One or two rows in every list, every value fixed (no generated names), with the
    cases a row's formatting can get wrong."""
    place = LocationFactory(description="Chester bus station", postcode="CH1 3AE")
    no_postcode = LocationFactory(description='=Park, "the" shelter', postcode="")
    formula = west_child(first_name='=HYPERLINK("x")', last_name="-Smith")
    comma = west_child(first_name="Ava", last_name="O'Neil, Jr")
    quiet = west_child(first_name="Ben", last_name="Tate")
    plus = west_child(first_name="+Dee", last_name="Reid")
    cared = west_child(first_name="Cara", last_name="Lowe", legal_status=LegalStatus.IN_CARE)
    PlacementFactory(child=cared, host_area=area_east)
    # Open: one in summer time at a place with no postcode reported by an agency, one
    # with no place, one high risk.
    episode(formula, last_seen=SUMMER, last_seen_location=no_postcode, reported_by_agency=police,
            reported_by_name="@Carer")  # fmt: skip
    episode(cared, last_seen=NOW - 2 * H, last_seen_location=None, reported_by_name="Foster carer")
    episode(quiet, last_seen=NOW - 30 * H, risk=RiskGrade.HIGH, last_seen_location=place,
            reported_by_name="School")  # fmt: skip
    # Returned, interview overdue (found in summer time, due in winter time), with a
    # provider, three failed attempts (stuck) and an overdue action owned by a person.
    owner = UserFactory(name="Sam Carter", agency=la)
    late = returned(comma, la, found=dt.datetime(2026, 10, 24, 22, 30, tzinfo=dt.UTC),
                    provider=police, last_seen_location=place)  # fmt: skip
    attempts(late, ["no_contact", "declined", "rearranged"])
    AgreedActionFactory(interview=late, owner_person=owner, agreed_on=NOW.date() - 30 * D,
                        due_date=NOW.date() - 7 * D, description="-Check in weekly")  # fmt: skip
    AgreedActionFactory(interview=late, owner_person=None, owner_agency=police,
                        owner_name="+44 typed owner", agreed_on=NOW.date() - 30 * D,
                        due_date=NOW.date() - D)  # fmt: skip
    for days in (40, 20):
        episode(comma, last_seen=NOW - days * D, found=NOW - days * D + H,
                last_seen_location=place)  # fmt: skip
    # Due soon, no provider; its safe and well check done and not shared.
    soon = returned(quiet, la, found=NOW - 60 * H, last_seen_location=place)
    SafeAndWellCheckFactory(episode=soon.episode, agency=police,
                            conducted_at=soon.episode.found_at + H)  # fmt: skip
    # Returned without a check, from a place several children were seen.
    returned(plus, la, found=NOW - 50 * H, last_seen_location=place)
    rules = iter(RuleFactory(name=name) for name in ("Tell the council", "-Tell the school",
                 "Tell the carer", "Tell the police"))  # fmt: skip
    NotificationFactory(episode=soon.episode, child=quiet, rule=next(rules), due_at=NOW - 3 * H,
                        responsible_agency=police, recipient_agency=la, recipient_name="",
                        problem="=No contact")  # fmt: skip
    NotificationFactory(episode=soon.episode, child=quiet, rule=next(rules), due_at=NOW - 26 * H,
                        responsible_agency=None, recipient_agency=None, recipient_key="none",
                        recipient_name="")  # fmt: skip
    for delivery, next_attempt in (("failed", None), ("retrying", SUMMER + 30 * D)):
        NotificationFactory(
            episode=soon.episode, child=quiet, rule=next(rules), due_at=NOW + H,
            responsible_agency=police, delivery=delivery, failing_since=NOW - H,
            next_attempt_at=next_attempt, recipient_agency=la, recipient_name="Duty desk",
            last_error="-550 5.1.1 no such user",
        )  # fmt: skip
    assert Notification.objects.count() == 4


def normalised(body: str) -> str:
    """The file with the records' ids (which the database chooses) taken out."""
    return re.sub(r"/\d+/", "/ID/", body)


@pytest.fixture
def awkward(la_west, police, area_east, west_child, frozen):
    awkward_world(la=la_west, police=police, area_east=area_east, west_child=west_child)


@pytest.mark.parametrize("page", LISTS, ids=lambda page: page.slug)
def test_each_download_writes_what_the_cells_write(client, manager, awkward, page):
    client.force_login(manager)
    body = streamed(client.get(reverse(page.url_name), {"format": "csv"}))
    assert body.count("\r\n") > 1, "the fixed data set has a row in every list"
    assert body == built_whole(page, manager)
    [entry] = AccessLogEntry.objects.filter(action=AccessLogEntry.Action.EXPORT)
    [sent] = AccessLogEntry.objects.filter(action=AccessLogEntry.Action.EXPORT_SENT)
    assert sent.detail["export"] == entry.pk
    assert sent.detail["rows"] == body.count("\r\n") - 1


@pytest.mark.parametrize("page", LISTS, ids=lambda page: page.slug)
def test_each_download_is_the_expected_text(client, manager, awkward, page):
    client.force_login(manager)
    body = streamed(client.get(reverse(page.url_name), {"format": "csv"}))
    expected = EXPECTED / f"{page.slug}.csv"
    assert normalised(body) == expected.read_text(encoding="utf-8", newline="")


# On PostgreSQL the rows' server-side cursor is read in a transaction of its own (not
# held over a commit, which stores the whole result before the first row): its begin and
# end (here, inside the test's transaction, a savepoint and its release).
READ = 2 if connection.vendor == "postgresql" else 0

# Session, user and authenticator; the export's log entry (the request's only one before
# the first byte), the rows themselves (one query, read in chunks through a server-side
# cursor on PostgreSQL) and the entry of the rows sent, once the stream stops.
EXPORT_QUERIES: dict[str, int] = {
    **{page.slug: 2 + TWO_FACTOR_QUERIES + 3 + READ for page in LISTS},
    # Read from the kept rows (``due.download_values``): whether they are filled, then
    # a chunk of them by key and their records by id (one chunk here).
    "out_of_area": 2 + TWO_FACTOR_QUERIES + 5,
    # The same, plus the active rules' numbers (the window shown).
    "repeat_missing": 2 + TWO_FACTOR_QUERIES + 6,
    # The same, plus the rules' numbers for the rows (the stuck threshold quoted).
    "stuck_cases": 2 + TWO_FACTOR_QUERIES + 6,
    # The places grouped in the database (counted by a window) and their sightings, read
    # whole (there are few), and the export's two log entries.
    "hotspots": 2 + TWO_FACTOR_QUERIES + 4 + READ,
}


@pytest.mark.parametrize("page", LISTS, ids=lambda page: page.slug)
def test_each_download_has_a_fixed_number_of_queries(
    client, manager, awkward, page, django_assert_num_queries
):
    client.force_login(manager)
    client.get(reverse(page.url_name))
    with django_assert_num_queries(EXPORT_QUERIES[page.slug]):
        streamed(client.get(reverse(page.url_name), {"format": "csv"}))
