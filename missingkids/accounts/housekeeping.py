"""Housekeeping: clearing what the service no longer needs, so it can run for months.

One pass removes:

- **expired sessions**, through the configured session engine (for the database engine,
  the rows whose expiry has passed, as ``SessionStore.clear_expired()`` does, counted).
  The add-a-child journey keeps its unfinished answers (drafts) in the session, so an
  abandoned draft goes with its session: at most ``SESSION_ABSOLUTE_LIFETIME`` after it
  was last saved;
- **``UserSession`` rows whose session has gone** (expired and cleared, or ended by the
  browser): otherwise pruned only at the person's next sign-in;
- **CSV files checked but not imported** within ``IMPORT_CHECK_KEPT_FOR`` (24 hours):
  their text and rows (children's details) are cleared and the import marked expired
  (``api.imports.expire_unimported``); the record of the upload stays in the history;
- **lockout counters past the lockout period** (django-axes' ``AccessAttempt`` rows not
  updated for ``AXES_COOLOFF_TIME``): django-axes no longer counts them, so removing
  them changes no lockout.

It never touches the access log (append-only, and the record of every sign-in and
failed sign-in) nor any case record: what is kept, and for how long, there is the
retention rule's business (``oversight.retention``).

``housekeeping_if_due`` runs a pass when the last one is older than
``HOUSEKEEPING_INTERVAL`` (one query otherwise): the notification scheduler calls it on
every pass. ``manage.py housekeeping`` runs a pass at once, for cron. Each pass is
recorded (``HousekeepingRun``) and logged, with counts only.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib import import_module

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

from .models import HousekeepingRun, UserSession

logger = logging.getLogger("missingkids.housekeeping")


@dataclass(frozen=True)
class HousekeepingCounts:
    # None when the session engine cannot say how many it cleared.
    sessions: int | None
    user_sessions: int
    lockout_attempts: int
    import_files: int = 0

    def describe(self) -> str:
        sessions = "some" if self.sessions is None else str(self.sessions)
        return (
            f"Housekeeping: {sessions} expired session(s), {self.user_sessions} signed-in "
            f"session record(s), {self.lockout_attempts} lockout counter(s) and "
            f"{self.import_files} checked CSV file(s) cleared."
        )


def _session_store_class() -> type[SessionBase]:
    return import_module(settings.SESSION_ENGINE).SessionStore


def _clear_expired_sessions(now: datetime) -> int | None:
    store = _session_store_class()
    if issubclass(store, DatabaseSessionStore):
        # What clear_expired() deletes, deleted here so the number can be logged.
        deleted, _ = store.get_model_class().objects.filter(expire_date__lt=now).delete()
        return deleted
    store.clear_expired()
    return None


def _clear_orphaned_user_sessions() -> int:
    store = _session_store_class()
    if not issubclass(store, DatabaseSessionStore):
        # Other engines cannot be asked in one query; the next sign-in prunes them.
        return 0
    live = store.get_model_class().objects.values("session_key")
    deleted, _ = UserSession.objects.exclude(session_key__in=live).delete()
    return deleted


def _clear_spent_lockout_attempts(now: datetime) -> int:
    # django-axes updates attempt_time at each failure and counts only attempts newer than
    # the cool-off (LockoutHandler.get_failures), so older rows lock no one out.
    if settings.AXES_COOLOFF_TIME is None:
        return 0
    _, per_model = AccessAttempt.objects.filter(
        attempt_time__lt=now - settings.AXES_COOLOFF_TIME
    ).delete()
    return per_model.get(AccessAttempt._meta.label, 0)


def _clear_unimported_files(now: datetime) -> int:
    # The CSV import lives in the API app, which builds on this one: imported when used.
    from api.imports import expire_unimported

    return expire_unimported(now)


def housekeeping_run() -> HousekeepingCounts:
    """One pass, now: clears what has expired, records and logs the counts."""
    now = timezone.now()
    counts = HousekeepingCounts(
        sessions=_clear_expired_sessions(now),
        user_sessions=_clear_orphaned_user_sessions(),
        lockout_attempts=_clear_spent_lockout_attempts(now),
        import_files=_clear_unimported_files(now),
    )
    HousekeepingRun.objects.filter(ran_at__lt=now - settings.HOUSEKEEPING_RUNS_KEPT).delete()
    HousekeepingRun.objects.create(ran_at=now, **asdict(counts))
    logger.info(counts.describe())
    return counts


def housekeeping_if_due() -> HousekeepingCounts | None:
    """A pass if none has run for ``HOUSEKEEPING_INTERVAL``; otherwise nothing (one query).

    Two schedulers deciding at the same moment may both run a pass: each only deletes
    what has expired, so the second finds little left and nothing is lost.
    """
    last = HousekeepingRun.objects.order_by("-ran_at").values_list("ran_at", flat=True).first()
    if last is not None and timezone.now() - last < settings.HOUSEKEEPING_INTERVAL:
        return None
    return housekeeping_run()
