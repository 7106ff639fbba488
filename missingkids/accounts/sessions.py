"""How long a sign-in lasts, and ending someone's sessions.

A session ends when its holder has done nothing for ``SESSION_IDLE_TIMEOUT`` or has been
signed in for ``SESSION_ABSOLUTE_LIFETIME``, whichever comes first (see
``SessionLifetimeMiddleware``). Deactivating a person, or their "Sign out everywhere",
ends every session they hold, on any device.

Sessions are found through ``UserSession`` rather than by decoding every row of the
session table, and are deleted through the configured session engine, so this works the
same on SQLite and PostgreSQL and with any session backend.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from .models import User, UserSession

# Unix times, in the session itself, so that checking them costs no query.
STARTED_AT_KEY = "_signed_in_at"
LAST_SEEN_AT_KEY = "_last_seen_at"
# Last-seen is written back at most this often: writing it on every request would save
# the session (a database write) on every page. An idle timeout of 30 minutes measured
# to within a minute is plenty.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def _session_store(session_key: str | None = None) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    return engine.SessionStore(session_key)


def _now_timestamp() -> int:
    return int(timezone.now().timestamp())


def session_started(*, request: HttpRequest, user: User) -> None:
    """Note a new sign-in: when it began, and that this session is the user's."""
    now = _now_timestamp()
    request.session[STARTED_AT_KEY] = now
    request.session[LAST_SEEN_AT_KEY] = now
    session_key = request.session.session_key
    if session_key is None:
        # Django's login() has just cycled the key, which saves the session with the
        # database and cache engines; other engines need the save to get a key.
        request.session.save()
        session_key = request.session.session_key
    if session_key is None:
        return
    with transaction.atomic():
        UserSession.objects.update_or_create(session_key=session_key, defaults={"user": user})
        # Rows whose session has expired on its own are dropped here, so the table holds
        # about as many rows per person as they have live sessions.
        store = _session_store()
        stale = [
            key
            for key in UserSession.objects.filter(user=user)
            .exclude(session_key=session_key)
            .values_list("session_key", flat=True)
            if not store.exists(key)
        ]
        if stale:
            UserSession.objects.filter(session_key__in=stale).delete()


def session_key_renew(*, request: HttpRequest, user: User) -> None:
    """Give the session a new key, keeping what it holds, and note it as the user's.

    Done when the second step is passed: a key someone learnt before (fixed in the
    browser before sign-in, or seen in the half-signed-in session) is then worthless.
    """
    old_key = request.session.session_key
    request.session.cycle_key()
    new_key = request.session.session_key
    with transaction.atomic():
        if old_key:
            UserSession.objects.filter(session_key=old_key).delete()
        if new_key:
            UserSession.objects.update_or_create(session_key=new_key, defaults={"user": user})


def session_ended(*, request: HttpRequest) -> None:
    """Forget the mapping of a session that is being signed out of."""
    session_key = request.session.session_key
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def user_sessions_end(*, user: User) -> int:
    """End every session of ``user``, wherever they are signed in. Returns how many."""
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        _session_store(key).delete()
    UserSession.objects.filter(user=user).delete()
    return len(keys)


class SessionExpiry:
    IDLE = "idle"
    ABSOLUTE = "absolute"


def session_expiry(*, session: SessionBase) -> str | None:
    """Why this signed-in session has run out, or None if it is still good.

    Refreshes the last-seen time when the session is still good.
    """
    now = _now_timestamp()
    started = session.get(STARTED_AT_KEY)
    last_seen = session.get(LAST_SEEN_AT_KEY)
    if started is None or last_seen is None:
        # Signed in before these were recorded: count from now rather than sign out
        # everyone at once on the day this is deployed.
        session[STARTED_AT_KEY] = session.get(STARTED_AT_KEY, now)
        session[LAST_SEEN_AT_KEY] = now
        return None
    if now - started >= settings.SESSION_ABSOLUTE_LIFETIME.total_seconds():
        return SessionExpiry.ABSOLUTE
    if now - last_seen >= settings.SESSION_IDLE_TIMEOUT.total_seconds():
        return SessionExpiry.IDLE
    if now - last_seen >= LAST_SEEN_RESOLUTION.total_seconds():
        session[LAST_SEEN_AT_KEY] = now
    return None


def expiry_message(reason: str) -> str:
    if reason == SessionExpiry.ABSOLUTE:
        hours = _describe(settings.SESSION_ABSOLUTE_LIFETIME)
        return f"You have been signed out because you had been signed in for {hours}."
    minutes = _describe(settings.SESSION_IDLE_TIMEOUT)
    return f"You have been signed out because you had not used the service for {minutes}."


def _describe(period: timedelta) -> str:
    minutes = int(period.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


# Signal receivers, connected in AccountsConfig.ready() ------------------------------


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        session_started(request=request, user=user)


def on_user_logged_out(
    sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any
) -> None:
    if request is not None and hasattr(request, "session"):
        session_ended(request=request)


def on_user_saved(sender: Any, instance: User, **kwargs: Any) -> None:
    # Deactivating someone must take effect now, not when their session would expire.
    # (Django already treats an inactive user as signed out; deleting the sessions
    # makes sure nothing of them is left to revive.)
    if not instance.is_active:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "is_active" in update_fields:
            user_sessions_end(user=instance)
