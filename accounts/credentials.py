"""What a socket authenticated with, and why a credential is refused or ends.

Shared by the WebSocket middleware (which fills ``scope["credential"]``), the token checks, the
revocation signals and any consumer; nothing here knows about chat.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AuthMethod(StrEnum):
    NONE = "none"
    SESSION = "session"
    JWT = "jwt"  # ?token= or the Sec-WebSocket-Protocol bearer
    TICKET = "ticket"  # ?ticket= (one-time, from POST /api/auth/ws-ticket/)


class AuthFailure(StrEnum):
    """Why a credential was refused or ended; the 4001 close reason and the error frame's detail."""

    TOKEN_MALFORMED = "token_malformed"
    """Not a JWT at all, empty, several ``token`` parameters, or longer than MAX_TOKEN_LENGTH."""
    TOKEN_INVALID = "token_invalid"
    """Bad signature, another key or algorithm (``alg: none`` included), missing or malformed
    claims."""
    TOKEN_EXPIRED = "token_expired"
    """Its ``exp`` has passed: refresh it and reconnect."""
    TOKEN_WRONG_TYPE = "token_wrong_type"
    """A refresh token (or any non-access token) offered where an access token belongs."""
    TOKEN_REVOKED = "token_revoked"
    """Issued before the user's last password change."""
    TOKEN_LOGGED_OUT = "token_logged_out"
    """The API login this token belongs to logged out (``POST /api/auth/token/blacklist/``)."""
    USER_INACTIVE = "user_inactive"
    """The user was deactivated or deleted."""
    PASSWORD_CHANGED = "password_changed"
    """The user's password changed (in any session): every cookie socket of the user closes."""
    SESSION_ENDED = "session_ended"
    """The browser session behind a cookie socket logged out or was deleted."""
    SESSION_EXPIRED = "session_expired"
    """The browser session behind a cookie socket reached its expiry time."""
    TOKEN_WRONG_USER = "token_wrong_user"
    """``auth.refresh`` offered a valid access token of another user."""
    TICKET_INVALID = "ticket_invalid"
    """No such ticket (never issued, garbled, or so old it is forgotten), or several at once."""
    TICKET_EXPIRED = "ticket_expired"
    """The ticket's few seconds (``WS_TICKET_SECONDS``) passed before it was used."""
    TICKET_REUSED = "ticket_reused"
    """The ticket was already used: tickets open one socket each."""
    TICKET_WRONG_ROOM = "ticket_wrong_room"
    """The ticket is bound to another room."""
    NOT_AUTHENTICATED = "not_authenticated"
    """No credential at all."""


EXPIRY_FAILURES = {
    AuthMethod.JWT: AuthFailure.TOKEN_EXPIRED,
    AuthMethod.TICKET: AuthFailure.TOKEN_EXPIRED,
    AuthMethod.SESSION: AuthFailure.SESSION_EXPIRED,
}


@dataclass(frozen=True, slots=True)
class Credential:
    """What the socket authenticated with; ``failure`` set means the socket must be refused.

    ``expires_at``: when the credential ends by itself (token ``exp``, session expiry date, for
    a ticket the end of the credential that asked for it). ``room``: the one room a ticket is
    bound to, if any.

    A ticket stands for the credential that asked for it (``source``: a session or a JWT) and
    ends whenever that one would: it carries that credential's ``session_key`` and
    ``session_hash`` (the session's auth hash, which a password change moves) or its
    ``revoke_claim`` (the JWT's password-hash claim) and ``login_id`` (the API login it belongs
    to, ``accounts.logins``). Cookie and token sockets carry their own.
    ``accounts.revalidation`` re-checks all of them against the database.
    """

    method: AuthMethod
    failure: AuthFailure | None = None
    expires_at: datetime | None = None
    session_key: str | None = None
    room: str | None = None
    source: AuthMethod | None = None
    session_hash: str | None = None
    revoke_claim: str | None = None
    login_id: str | None = None

    @property
    def follows(self) -> AuthMethod:
        """The credential whose end ends this socket: the ticket's issuer's, or its own."""
        return self.source or self.method

    @property
    def refreshable(self) -> bool:
        """Sockets that follow a JWT move their deadline with ``auth.refresh``; sockets that
        follow a session (cookie, or a ticket a session asked for) live and end with it."""
        return self.follows == AuthMethod.JWT

    @property
    def expiry_failure(self) -> AuthFailure:
        return EXPIRY_FAILURES.get(self.follows, AuthFailure.TOKEN_EXPIRED)
