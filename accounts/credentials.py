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
    JWT = "jwt"


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
    USER_INACTIVE = "user_inactive"
    """The user was deactivated or deleted."""
    PASSWORD_CHANGED = "password_changed"
    """The user's password changed (in any session): every cookie socket of the user closes."""
    SESSION_ENDED = "session_ended"
    """The browser session behind a cookie socket logged out or was deleted."""
    SESSION_EXPIRED = "session_expired"
    """The browser session behind a cookie socket reached its expiry time."""
    NOT_AUTHENTICATED = "not_authenticated"
    """No credential at all."""


EXPIRY_FAILURES = {
    AuthMethod.JWT: AuthFailure.TOKEN_EXPIRED,
    AuthMethod.SESSION: AuthFailure.SESSION_EXPIRED,
}


@dataclass(frozen=True, slots=True)
class Credential:
    """What the socket authenticated with; ``failure`` set means the socket must be refused.

    ``expires_at``: when the credential ends by itself (token ``exp``, session expiry date).
    """

    method: AuthMethod
    failure: AuthFailure | None = None
    expires_at: datetime | None = None
    session_key: str | None = None

    @property
    def expiry_failure(self) -> AuthFailure:
        return EXPIRY_FAILURES.get(self.method, AuthFailure.TOKEN_EXPIRED)
