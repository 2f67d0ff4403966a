"""The session engine: database rows behind a cache, remembering each session's expiry date.

A cookie socket must close when its session expires (``AuthFailure.SESSION_EXPIRED``), so the
store keeps the row's ``expire_date`` (``expires_at``), which the stock stores read and drop.

Reads come from the cache (``CACHES["default"]``: Redis when one is configured, shared by every
process; this process's memory otherwise), so a cookie handshake loads its session without a
query; the cache entry holds the data and the expiry date and lives exactly as long as the row.
Writes go to the row, then the cache (Django's ``cached_db``). A row deleted by any path (logout,
``clearsessions``, the admin, a key cycled away) leaves the cache too: through the store's own
``delete`` or, for queryset deletes, ``accounts.signals.end_deleted_session``. The row stays the
source of truth: a cache miss (or an unreachable cache) reads it. Selected by ``SESSION_ENGINE``.

Without Redis the cache is per process: a row deleted by *another* process (a shell) is
forgotten by the server's cache only when it expires. Production requires Redis.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDatabaseStore
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.core.cache import caches
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from .credentials import AuthFailure

logger = logging.getLogger("django.contrib.sessions")

# Not cached_db's prefix: these entries are (data, expiry date), not the data alone.
KEY_PREFIX = "accounts.sessions:"


class SessionStore(CachedDatabaseStore):
    cache_key_prefix = KEY_PREFIX
    expires_at: datetime | None = None

    def load(self):
        cached = self._cached()
        if cached is not None:
            data, self.expires_at = cached
            return data
        row = self._get_session_from_db()
        if row is None:
            return {}
        data = self.decode(row.session_data)
        self._cache_entry(data)
        return data

    def _cached(self) -> tuple[dict, datetime] | None:
        try:
            entry = self._cache.get(self.cache_key)
        except Exception:  # as cached_db: an unreachable cache (or a key it refuses) reads the row
            return None
        if not (isinstance(entry, tuple) and len(entry) == 2) or entry[1] <= timezone.now():
            return None  # not ours, or expired: the row read decides
        return entry

    def _get_session_from_db(self):
        row = super()._get_session_from_db()
        self.expires_at = row.expire_date if row is not None else None
        return row

    def create_model_instance(self, data):
        row = super().create_model_instance(data)
        self.expires_at = row.expire_date  # what save() writes
        return row

    def save(self, must_create=False):
        DatabaseStore.save(self, must_create)  # the row first; cached_db's own cache write skipped
        self._cache_entry(self._session)

    def _cache_entry(self, data: dict) -> None:
        """Cache ``data`` with the row's expiry date, until that date (whole seconds, rounded
        down: the entry never outlives the row)."""
        if self.expires_at is None:
            return
        timeout = self.get_expiry_age(expiry=self.expires_at)
        if timeout <= 0:
            return
        try:
            self._cache.set(self.cache_key, (data, self.expires_at), timeout)
        except Exception:
            logger.exception("Error saving to cache (%s)", self._cache)

    # Async callers get the same behaviour (Django's cache backends run their async methods
    # in a thread anyway).
    async def aload(self):
        return await sync_to_async(self.load)()

    async def asave(self, must_create=False):
        return await sync_to_async(self.save)(must_create)


def forget_cached_session(session_key: str) -> None:
    """Drop a session's cache entry: its row was deleted without the store (a queryset delete)."""
    try:
        caches[settings.SESSION_CACHE_ALIAS].delete(KEY_PREFIX + session_key)
    except Exception:  # the row is gone; an entry left behind ends with the row's expiry date
        logger.exception("Error deleting a session from the cache")


# Checking that a socket's session still stands (tickets at redemption, accounts.revalidation). --


@dataclass(frozen=True, slots=True)
class SessionState:
    """A session as a socket's re-check needs it: its data and when it expires (None: unknown)."""

    data: dict
    expires_at: datetime | None


def session_failure(session_key: str | None, *, user_id: int, session_hash: str | None):
    """Why the session ``session_key`` no longer stands for ``user_id`` with ``session_hash``
    (its auth hash when the socket or ticket was made), or None. Reads the session cache (the
    row on a miss)."""
    if not session_key:
        return AuthFailure.SESSION_ENDED
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()
    return state_failure(
        SessionState(data, getattr(store, "expires_at", None)) if data else None,
        user_id=user_id,
        session_hash=session_hash,
    )


def state_failure(state: SessionState | None, *, user_id: int, session_hash: str | None):
    """The rule, without I/O: the session exists, has not expired, is still logged in as
    ``user_id``, and carries the auth hash the socket was made with (a password change, in this
    session or another, moves the user's hash; ``accounts.tokens.UserCheck`` compares it with
    the user row)."""
    if state is None:
        return AuthFailure.SESSION_ENDED
    if state.expires_at is not None and state.expires_at <= timezone.now():
        return AuthFailure.SESSION_EXPIRED
    if str(state.data.get(SESSION_KEY)) != str(user_id):
        return AuthFailure.SESSION_ENDED
    if session_hash is None or not constant_time_compare(
        state.data.get(HASH_SESSION_KEY) or "", session_hash
    ):
        return AuthFailure.PASSWORD_CHANGED
    return None


def session_states(session_keys: list[str]) -> dict[str, SessionState]:
    """The sessions behind ``session_keys`` that exist: one query per 500 keys with a database
    engine (this project's), the store's own load per key otherwise."""
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    states: dict[str, SessionState] = {}
    if issubclass(store_class, DatabaseStore):
        model, decoder = store_class.get_model_class(), store_class()
        for start in range(0, len(session_keys), 500):
            rows = model.objects.filter(session_key__in=session_keys[start : start + 500])
            for row in rows.only("session_key", "session_data", "expire_date"):
                states[row.session_key] = SessionState(
                    decoder.decode(row.session_data), row.expire_date
                )
        return states
    for key in session_keys:
        store = store_class(key)
        data = store.load()
        if data:
            states[key] = SessionState(data, getattr(store, "expires_at", None))
    return states
