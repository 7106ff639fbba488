"""The protocol's numbers, each read from one place.

- **Repeat missing**: N episodes in D days call for a strategy meeting. Taken from the
  active "repeat threshold" rule, else 3 in 90 days.
- **Stuck cases**: N failed attempts at a return interview, or the interview declined
  after each of the child's last N returns. N is taken from the active "not engaging"
  rule, else 3.
- **Deadlines after a return**: the return interview within 72 hours, the safe and well
  check within 24. These are the protocol's deadlines, not a rule's, so they are fixed
  here; the notifications app's timed steps (``interview_due``, ``safe_and_well_due``)
  fall due at the same times.
- **Strategy discussion**: due when a child is still missing 24 hours after last seen
  (the protocol's "still missing at 24 hours" step, which falls due at the same time).
- **Retention**: a child's record is kept until their 25th birthday, then erased on a
  partnership admin's confirmation (``oversight.retention``). A partnership may set
  another age with the ``RECORD_RETENTION_AGE`` setting; 25 is the default here.
- **Missing person profile**: a child in care's profile is due for review when it has
  not been reviewed for ``PROFILE_REVIEW_AFTER`` (3 months); its photo is a JPEG or PNG
  of at most ``PROFILE_PHOTO_MAX_BYTES`` (5 MB).
- **What may be typed**: no date before ``EARLIEST_DATE`` (nor before the child's date of
  birth, where the child is known); free text up to ``FREE_TEXT_MAX_LENGTH`` characters;
  at sign-in an e-mail address up to ``EMAIL_MAX_LENGTH`` and a password up to
  ``PASSWORD_MAX_LENGTH`` characters.
- **CSV import**: a file up to ``IMPORT_MAX_FILE_BYTES`` and ``IMPORT_MAX_ROWS`` rows.

The child's page, the episode and interview pages, the managers' lists and dashboard
and the notification engine all read these numbers from here (the engine by evaluating
the very rule the number comes from), so changing a rule changes every page at once.

Rules belong to the notifications app, which the incidents app must not import. So this
module sits below both: the notifications app registers the function that reads the
active rules (``register_rule_reader``, in its ``AppConfig.ready()``), and without one,
or without an active rule, the defaults below apply.

Reading the rules costs a query. ``remembered()`` keeps the answer for the length of a
block; ``PolicyMiddleware`` wraps each request in one, so a page reads the rules at
most once and the next request sees an admin's change at once. Outside a request (the
scheduler, management commands) every call reads the rules afresh.
"""

from __future__ import annotations

import calendar
import contextvars
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

# Clock time: 72 real hours after the return, whatever the clocks do in between.
INTERVIEW_DUE_AFTER = dt.timedelta(hours=72)
SAFE_AND_WELL_DUE_AFTER = dt.timedelta(hours=24)
STRATEGY_DISCUSSION_DUE_AFTER = dt.timedelta(hours=24)

# The missing person profile (the Philomena Protocol's grab sheet): reviewed at least
# every 3 months (calendar months, counted in UK dates), and a photo of at most 5 MB,
# which a phone's camera photo fits and a police briefing needs no more than.
PROFILE_REVIEW_MONTHS = 3
PROFILE_PHOTO_MAX_BYTES = 5 * 1024 * 1024
PROFILE_PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png"}

# Used when no active rule gives the number (the shipped rules say the same).
DEFAULT_REPEAT_COUNT = 3
DEFAULT_REPEAT_DAYS = 90
DEFAULT_STUCK_FAILED_ATTEMPTS = 3
# A child's record is kept until this birthday (unless RECORD_RETENTION_AGE says otherwise).
DEFAULT_RETENTION_AGE = 25

# The child's story (incidents.story): episodes by month over this many months, the most
# frequent places (last seen, found) shown, and the last returns shown to a searcher.
STORY_MONTHS = 12
STORY_TOP_PLACES = 5
STORY_LAST_FOUND = 3
# Of what the child said would help and the actions agreed, the latest shown.
STORY_LATEST_SHOWN = 3
# The places shown on the child's story page: where they go, then the most recent.
STORY_PLACES_SHOWN = 10
# Other children linked to a place are counted up to this many ("20 or more"): the
# count stops there, so a place linked to thousands of children costs no more to show.
PLACE_OTHER_CHILDREN_COUNTED = 20

# What may be typed. No record of this service (a child born, seen, found, placed, or a
# meeting held) is dated before this: an earlier date is a typing slip (a year of "1",
# "201" or "1926").
EARLIEST_DATE = dt.date(2000, 1, 1)
# The longest free text a box accepts (about 3,000 words): ample for any account, and it
# keeps a pasted or forged megabyte out of the record with a message saying why.
FREE_TEXT_MAX_LENGTH = 20_000
# The longest e-mail address there can be (RFC 5321: 254 characters), and a bound on a
# password typed at sign-in, far beyond any real one, so hashing is never asked to chew
# on a megabyte.
EMAIL_MAX_LENGTH = 254
PASSWORD_MAX_LENGTH = 1_000

# CSV import (api.imports): the largest file, and the most rows, one import takes. A
# council's children in care or a force's month of missing reports is a few hundred
# rows; each row is checked, then recorded, through the action functions, so the bound
# keeps one upload's check within a page's patience. A body up to
# IMPORT_UPLOAD_MAX_BYTES reaches the page, which says how large the file was; anything
# larger is refused before it is read (413).
IMPORT_MAX_FILE_BYTES = 2 * 1024 * 1024
IMPORT_MAX_ROWS = 5_000
IMPORT_UPLOAD_MAX_BYTES = 20 * 1024 * 1024
# A checked file not imported within this time is cleared by housekeeping (its text and
# its rows hold children's details): upload it again to import it.
IMPORT_CHECK_KEPT_FOR = dt.timedelta(hours=24)


@dataclass(frozen=True)
class RuleNumbers:
    """What the active rules say; None where no active rule says it."""

    repeat: tuple[int, int] | None = None  # (episodes, days)
    stuck_failed_attempts: int | None = None


RuleReader = Callable[[], RuleNumbers]

_reader: RuleReader | None = None
_memo: contextvars.ContextVar[dict[str, RuleNumbers] | None] = contextvars.ContextVar(
    "policy_memo", default=None
)


def register_rule_reader(reader: RuleReader | None) -> None:
    """Set the function that reads the active rules (one query)."""
    global _reader
    _reader = reader


def _rule_numbers() -> RuleNumbers:
    memo = _memo.get()
    if memo is not None and "numbers" in memo:
        return memo["numbers"]
    numbers = _reader() if _reader is not None else RuleNumbers()
    if memo is not None:
        memo["numbers"] = numbers
    return numbers


@contextmanager
def remembered() -> Iterator[None]:
    """Read the rules at most once inside the block (a request, a batch of work)."""
    if _memo.get() is not None:  # already inside one: keep the outer memo
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


@contextmanager
def fresh() -> Iterator[None]:
    """Read the rules afresh inside the block, whatever an outer block remembered (after
    a change to the rules, in the request that made it)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def repeat_threshold() -> tuple[int, int]:
    """(episodes, days): this many episodes last seen within this many days."""
    return _rule_numbers().repeat or (DEFAULT_REPEAT_COUNT, DEFAULT_REPEAT_DAYS)


def stuck_failed_attempts() -> int:
    """Failed interview attempts (or declined interviews in a row) that make a case stuck."""
    return _rule_numbers().stuck_failed_attempts or DEFAULT_STUCK_FAILED_ATTEMPTS


def interview_due_after() -> dt.timedelta:
    return INTERVIEW_DUE_AFTER


def safe_and_well_due_after() -> dt.timedelta:
    return SAFE_AND_WELL_DUE_AFTER


def strategy_discussion_due_after() -> dt.timedelta:
    """How long after last seen a child still missing needs a strategy discussion."""
    return STRATEGY_DISCUSSION_DUE_AFTER


def retention_age() -> int:
    """The birthday until which a child's record is kept."""
    from django.conf import settings

    return getattr(settings, "RECORD_RETENTION_AGE", None) or DEFAULT_RETENTION_AGE


def retention_cutoff(today: dt.date) -> dt.date:
    """The latest date of birth of a child who has reached the retention age by ``today``.

    Someone born on 29 February reaches an age on 1 March in a year that has no 29
    February: on 28 February of such a year the cutoff is 28 February, which leaves
    them out until the next day.
    """
    year = today.year - retention_age()
    try:
        return today.replace(year=year)
    except ValueError:  # today is 29 February; that year has none
        return dt.date(year, 2, 28)


def hours(delta: dt.timedelta) -> int:
    """A deadline in whole hours, for the words on pages ("within 72 hours")."""
    return int(delta.total_seconds() // 3600)


class PolicyMiddleware:
    """Reads the rules at most once per request (see ``remembered``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with remembered():
            return self.get_response(request)


# Practice guidance pages (guidance app): a page's Markdown is longer than a record's
# free text (a protocol runs to several thousand words), but bounded all the same.
GUIDANCE_MAX_LENGTH = 100_000


def profile_review_due_from(reviewed_at: dt.datetime) -> dt.datetime:
    """When a profile reviewed at ``reviewed_at`` falls due for review again: the same
    UK date and time PROFILE_REVIEW_MONTHS calendar months later (the last day of the
    month when that month is shorter)."""
    local = timezone.localtime(reviewed_at)
    month = local.month - 1 + PROFILE_REVIEW_MONTHS
    year, month = local.year + month // 12, month % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return local.replace(year=year, month=month, day=min(local.day, last_day))


# Statutory returns built in the background (oversight.return_requests). A build takes
# seconds at a council's size and about half a minute at a million episodes: a claim
# older than the lease is taken to be a builder that died, and the return is built again,
# up to RETURN_BUILD_MAX_ATTEMPTS times, then marked failed (a return that kills its
# builder each time must not take the scheduler down with it for ever). The scheduler
# builds returns for at most RETURN_BUILD_BUDGET of each pass (it starts none after
# that), so a queue of returns at the end of March delays the next pass's notification
# steps by that and the build in hand at most.
RETURN_BUILD_LEASE = dt.timedelta(minutes=30)
RETURN_BUILD_MAX_ATTEMPTS = 3
RETURN_BUILD_BUDGET = dt.timedelta(seconds=60)
# A built return's files hold children's identifiers and dates of birth: kept this long
# after they were built, then removed (the request, its counts and checks are kept).
RETURN_FILES_KEPT_FOR = dt.timedelta(days=30)
# The returns page lists this many of the agency's latest requests.
RETURN_REQUESTS_LISTED = 20
