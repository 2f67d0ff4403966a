"""The database session engine, remembering the loaded row's expiry date.

A cookie socket must close when its session expires (``AuthFailure.SESSION_EXPIRED``); the stock
store reads the row's ``expire_date`` and drops it. Selected by ``SESSION_ENGINE``.
"""

from datetime import datetime

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    expires_at: datetime | None = None

    def _get_session_from_db(self):
        row = super()._get_session_from_db()
        self.expires_at = row.expire_date if row is not None else None
        return row
