"""Access-token validation shared by every transport (WebSocket middleware today, others later).

Each refusal carries an ``AuthFailure``: the class of the failure, safe to show a client and to
log. The token itself is never part of a failure, a log line or an exception message.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists
from django.utils.crypto import constant_time_compare
from rest_framework_simplejwt.exceptions import AuthenticationFailed, ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, UntypedToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from .credentials import AuthFailure, AuthMethod
from .logins import LoginJWTAuthentication, login_id_of
from .models import EndedLogin

# A real access token is ~300 bytes; anything far longer is garbage or an attack.
MAX_TOKEN_LENGTH = 2048
# The latest ``exp`` a datetime can hold (9999-12-31T23:59:59Z); past it fromtimestamp() raises.
_MAX_TIMESTAMP = 253_402_300_799
# A user id as simplejwt writes it (``str(user.pk)``): ASCII digits that fit a bigint.
_USER_ID = re.compile(r"[0-9]{1,18}")
# What a library may raise on a claim of the wrong type or size instead of its own error class:
# PyJWT's ``int(payload["exp"])`` on a list (TypeError) or on infinity (OverflowError),
# simplejwt's ``datetime.fromtimestamp`` on a string or on year 10000 (TypeError, ValueError),
# or on a value past the platform's ``time_t`` (OSError, EOVERFLOW).
_MALFORMED_CLAIM_ERRORS = (TypeError, ValueError, OverflowError, OSError, KeyError)
# The annotation a user row read for a ``UserCheck`` with a ``login_id`` carries.
LOGIN_ENDED = "login_ended"


class TokenRejected(Exception):
    def __init__(self, failure: AuthFailure) -> None:
        super().__init__(failure.value)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    expires_at: datetime
    token: UntypedToken
    login_id: str | None = None  # the API login (``sid``) it belongs to: accounts.logins


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
    except (TokenError, *_MALFORMED_CLAIM_ERRORS) as exc:
        raise TokenRejected(AuthFailure.TOKEN_INVALID) from exc
    if token.get(api_settings.TOKEN_TYPE_CLAIM) != AccessToken.token_type:
        raise TokenRejected(AuthFailure.TOKEN_WRONG_TYPE)
    return AccessClaims(
        user_id=_valid_user_id(token.get(api_settings.USER_ID_CLAIM)),
        expires_at=datetime.fromtimestamp(_valid_timestamp(token.get("exp")), tz=UTC),
        token=token,
        login_id=login_id_of(token),
    )


def _valid_user_id(value: object) -> str:
    """The user id claim as simplejwt writes it, or an int in bigint range; else invalid.

    Checked here, before any query: a list, a float (``1.5`` would be read as user 1) or a
    20-digit number must never reach the ORM.
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return str(value)
    if isinstance(value, str) and _USER_ID.fullmatch(value):
        return value
    raise TokenRejected(AuthFailure.TOKEN_INVALID)


def _valid_timestamp(value: object) -> int:
    """A NumericDate as we issue them: a whole number of seconds a datetime can hold."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_TIMESTAMP:
        return value
    raise TokenRejected(AuthFailure.TOKEN_INVALID)


_USER_FAILURES = {
    "user_not_found": AuthFailure.USER_INACTIVE,
    "user_inactive": AuthFailure.USER_INACTIVE,
    "password_changed": AuthFailure.TOKEN_REVOKED,
    "login_ended": AuthFailure.TOKEN_LOGGED_OUT,
}


def user_for_access_token(claims: AccessClaims) -> AbstractBaseUser:
    """Load the active user behind verified claims; simplejwt's own rules apply, and the
    token's login must not have logged out (``accounts.logins``).

    Synchronous: async callers go through ``database_sync_to_async``.
    """
    try:
        return LoginJWTAuthentication().get_user(claims.token)
    except _MALFORMED_CLAIM_ERRORS as exc:
        # decode_access_token already refuses such claims; this keeps a hand-built
        # AccessClaims from turning into a 500 (the ORM raises ValueError on "abc" as an id).
        raise TokenRejected(AuthFailure.TOKEN_INVALID) from exc
    except AuthenticationFailed as exc:
        code = exc.detail.get("code") if isinstance(exc.detail, dict) else None
        raise TokenRejected(_USER_FAILURES.get(str(code), AuthFailure.TOKEN_INVALID)) from exc


@dataclass(frozen=True, slots=True)
class UserCheck:
    """The user row a verified access token or ticket names, and the rules that row must pass.

    The middleware checks everything else without the database; whoever reads the row applies
    ``failure``: ``chat.selectors.connect_access`` reads it together with the room (one query),
    ``read`` reads it alone, ``accounts.revalidation`` reads every open socket's in one batch.
    ``field``/``value`` find the row (simplejwt's ``USER_ID_FIELD`` for tokens, ``pk`` for
    tickets and re-checks).
    """

    field: str
    value: str | int
    session: bool = False  # follows a session: active, and the session's auth hash still stands
    revoke_claim: object = None  # access tokens: the token's REVOKE_TOKEN_CLAIM, whatever it holds
    session_hash: str | None = None
    login_id: str | None = None  # follows an API login: it must not have ended (accounts.logins)

    @classmethod
    def for_access_token(cls, claims: AccessClaims) -> "UserCheck":
        return cls(
            field=api_settings.USER_ID_FIELD,
            value=claims.user_id,
            revoke_claim=claims.token.get(api_settings.REVOKE_TOKEN_CLAIM),
            login_id=claims.login_id,
        )

    @classmethod
    def for_follower(
        cls,
        user_id: int,
        *,
        follows: AuthMethod,
        revoke_claim: object = None,
        session_hash: str | None = None,
        login_id: str | None = None,
    ) -> "UserCheck":
        """The row of a socket (or ticket) that follows a JWT or a session, found by pk."""
        if follows == AuthMethod.JWT:
            return cls(field="pk", value=user_id, revoke_claim=revoke_claim, login_id=login_id)
        return cls(field="pk", value=user_id, session=True, session_hash=session_hash)

    def failure(self, user: AbstractBaseUser | None) -> AuthFailure | None:
        """Why the row read (None: no such row) refuses the credential, or None; no database.

        Access tokens: exactly what simplejwt 5.5's ``JWTAuthentication.get_user`` checks once it
        has the row, mapped as ``user_for_access_token`` maps it (``_USER_FAILURES``): no row is
        ``user_not_found``; an inactive user ``user_inactive`` when ``CHECK_USER_IS_ACTIVE``; with
        ``CHECK_REVOKE_TOKEN``, a ``REVOKE_TOKEN_CLAIM`` other than the MD5 of the row's password
        hash (or none at all) is ``password_changed``; a ``login_id`` whose login ended (the row
        as read for this check carries ``login_ended``: ``read`` and
        ``chat.selectors.connect_access`` annotate it) is ``login_ended``. Session followers: an
        active user, whatever simplejwt's settings say, whose session auth hash (HMAC of the
        password hash, as ``django.contrib.auth.get_user`` checks it) is still the one the
        session carried.
        """
        if user is None:
            return _USER_FAILURES["user_not_found"]
        if self.session:
            if not user.is_active:
                return AuthFailure.USER_INACTIVE
            return (
                None
                if session_hash_matches(user, self.session_hash)
                else (AuthFailure.PASSWORD_CHANGED)
            )
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            return _USER_FAILURES["user_inactive"]
        if api_settings.CHECK_REVOKE_TOKEN and self.revoke_claim != get_md5_hash_password(
            user.password
        ):
            return _USER_FAILURES["password_changed"]
        if self.login_id is not None and getattr(user, LOGIN_ENDED, True):
            # No annotation is read as ended: a reader that forgot it must not let a
            # logged-out token in.
            return _USER_FAILURES["login_ended"]
        return None

    def read(self) -> AbstractBaseUser | None:
        """The row alone (one query), as simplejwt finds it; the rules are ``failure``'s.

        Synchronous: async callers go through ``database_sync_to_async``.
        """
        rows = get_user_model().objects.filter(**{self.field: self.value})
        if self.login_id is not None:
            ended = EndedLogin.objects.filter(sid=self.login_id)
            rows = rows.annotate(**{LOGIN_ENDED: Exists(ended)})
        return rows.first()


def session_hash_matches(user: AbstractBaseUser, session_hash: str | None) -> bool:
    """Django's own test of a session's auth hash (``django.contrib.auth.get_user``), fallback
    secret keys included."""
    if not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )
