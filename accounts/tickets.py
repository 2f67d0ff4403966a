"""One-time socket tickets: no long-lived credential in a WebSocket URL.

An API client authenticated like the rest of the API (JWT or session) asks
``POST /api/auth/ws-ticket/`` for a ticket, then connects with ``?ticket=<ticket>`` within
``WS_TICKET_SECONDS``. A ticket opens one socket, for one user, optionally for one room; what
stays in a log or a proxy's URL is useless a few seconds later and after its one use.

A ticket stands for the credential that asked for it (the ``Issuer``): its socket ends whenever
that credential would. A session's ticket carries the session key and its auth hash (so logout,
the session's expiry or a password change end the socket, and a ticket redeemed after its session
ended is refused); a JWT's carries the token's password-hash claim, its ``exp`` and its API
login (so the login's logout ends the socket).

Tickets live in Django's cache (Redis when one is configured, so every server process can
redeem one; the per-process memory cache otherwise, matching the single-process default), under
the SHA-256 of the ticket, so a cache dump holds nothing usable.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache

from .credentials import AuthFailure, AuthMethod
from .sessions import session_failure
from .tokens import TokenRejected

# Past a ticket's lifetime its record stays this long, so a late or repeated use is told
# "expired" or "reused" rather than "invalid".
REMEMBER_SECONDS = 300
MAX_TICKET_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Issuer:
    """The credential that asks for a ticket; the ticket's socket follows it."""

    method: AuthMethod  # SESSION or JWT
    expires_at: datetime
    session_key: str | None = None
    session_hash: str | None = None
    revoke_claim: str | None = None
    login_id: str | None = None  # a JWT's API login (accounts.logins)


@dataclass(frozen=True, slots=True)
class TicketGrant:
    user_id: int
    room: str | None
    issuer: Issuer


def issue_ticket(*, user: AbstractBaseUser, room: str | None, issuer: Issuer):
    """A fresh ticket for ``user``; returns ``(ticket, lifetime in seconds)``."""
    ticket = secrets.token_urlsafe(32)
    lifetime = settings.WS_TICKET_SECONDS
    record = {
        "user_id": user.pk,
        "room": room,
        "valid_until": (datetime.now(UTC) + timedelta(seconds=lifetime)).timestamp(),
        "expires_at": issuer.expires_at.timestamp(),
        "source": issuer.method.value,
        "session_key": issuer.session_key,
        "session_hash": issuer.session_hash,
        "revoke_claim": issuer.revoke_claim,
        "login_id": issuer.login_id,
    }
    cache.set(_key(ticket), record, timeout=lifetime + REMEMBER_SECONDS)
    return ticket, lifetime


async def redeem_ticket(ticket: str) -> TicketGrant:
    """Use up ``ticket``; raises ``TokenRejected`` with the ticket failure class.

    The cache calls run in one thread hop: Django's cache backends (local memory, Redis) have
    no native async API, so each ``aget``/``adelete``/``aset`` would be a hop of its own. A
    session's ticket also reads its session there (from the session cache, the row on a miss).
    """
    if not ticket or len(ticket) > MAX_TICKET_LENGTH:
        raise TokenRejected(AuthFailure.TICKET_INVALID)
    return await sync_to_async(_redeem)(_key(ticket))


def _redeem(key: str) -> TicketGrant:
    record = cache.get(key)
    # Delete wins once: of two sockets racing with one ticket, one gets it, one is "reused".
    if record is None or not cache.delete(key):
        used = cache.get(_used_key(key))
        raise TokenRejected(AuthFailure.TICKET_REUSED if used else AuthFailure.TICKET_INVALID)
    cache.set(_used_key(key), True, timeout=REMEMBER_SECONDS)
    if datetime.now(UTC).timestamp() > record["valid_until"]:
        raise TokenRejected(AuthFailure.TICKET_EXPIRED)
    issuer = Issuer(
        method=AuthMethod(record["source"]),
        expires_at=datetime.fromtimestamp(record["expires_at"], tz=UTC),
        session_key=record["session_key"],
        session_hash=record["session_hash"],
        revoke_claim=record["revoke_claim"],
        login_id=record.get("login_id"),
    )
    if issuer.method == AuthMethod.SESSION:
        failure = session_failure(
            issuer.session_key, user_id=record["user_id"], session_hash=issuer.session_hash
        )
        if failure is not None:
            raise TokenRejected(failure)
    return TicketGrant(user_id=record["user_id"], room=record["room"], issuer=issuer)


def _key(ticket: str) -> str:
    return "wsticket:" + hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


def _used_key(key: str) -> str:
    return key + ":used"
