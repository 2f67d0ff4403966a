"""Access-token validation shared by every transport (WebSocket middleware today, others later).

Each refusal carries an ``AuthFailure``: the class of the failure, safe to show a client and to
log. The token itself is never part of a failure, a log line or an exception message.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, UntypedToken

from .credentials import AuthFailure

# A real access token is ~300 bytes; anything far longer is garbage or an attack.
MAX_TOKEN_LENGTH = 2048


class TokenRejected(Exception):
    def __init__(self, failure: AuthFailure) -> None:
        super().__init__(failure.value)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    expires_at: datetime
    token: UntypedToken


def decode_access_token(raw: str) -> AccessClaims:
    """Verify signature, algorithm, expiry and type of ``raw``; no database access.

    Raises ``TokenRejected`` with the failure class.
    """
    if not raw or len(raw) > MAX_TOKEN_LENGTH or raw.count(".") != 2:
        raise TokenRejected(AuthFailure.TOKEN_MALFORMED)
    try:
        # Signature, algorithm (the configured one only, so never "none"), exp and jti; not type.
        token = UntypedToken(raw)
    except ExpiredTokenError as exc:
        raise TokenRejected(AuthFailure.TOKEN_EXPIRED) from exc
    except TokenError as exc:
        raise TokenRejected(AuthFailure.TOKEN_INVALID) from exc
    if token.get(api_settings.TOKEN_TYPE_CLAIM) != AccessToken.token_type:
        raise TokenRejected(AuthFailure.TOKEN_WRONG_TYPE)
    user_id = token.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        raise TokenRejected(AuthFailure.TOKEN_INVALID)
    return AccessClaims(
        user_id=str(user_id),
        expires_at=datetime.fromtimestamp(token["exp"], tz=UTC),
        token=token,
    )


_USER_FAILURES = {
    "user_not_found": AuthFailure.USER_INACTIVE,
    "user_inactive": AuthFailure.USER_INACTIVE,
    "password_changed": AuthFailure.TOKEN_REVOKED,
}


def user_for_access_token(claims: AccessClaims) -> AbstractBaseUser:
    """Load the active user behind verified claims (one query); simplejwt's own rules apply.

    Synchronous: async callers go through ``database_sync_to_async``.
    """
    try:
        return JWTAuthentication().get_user(claims.token)
    except AuthenticationFailed as exc:
        code = exc.detail.get("code") if isinstance(exc.detail, dict) else None
        raise TokenRejected(_USER_FAILURES.get(str(code), AuthFailure.TOKEN_INVALID)) from exc
