"""Forging tokens of every class for the tests, and changing their user after issue."""

import time
from datetime import timedelta

import jwt
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.credentials import AuthFailure


def access_token(user, *, lifetime: timedelta | None = None) -> str:
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def ticket_for_token(user, *, room: str | None = None, lifetime=timedelta(minutes=5)) -> str:
    """A socket ticket as ``POST /api/auth/ws-ticket/`` issues it to a caller with an access
    token of ``user`` (synchronous: it writes the cache)."""
    from accounts.credentials import AuthMethod
    from accounts.tickets import Issuer, issue_ticket

    token = AccessToken.for_user(user)
    token.set_exp(lifetime=lifetime)
    issuer = Issuer(
        method=AuthMethod.JWT,
        expires_at=token["exp"] and _utc(token["exp"]),
        revoke_claim=token.get(api_settings.REVOKE_TOKEN_CLAIM),
    )
    return issue_ticket(user=user, room=room, issuer=issuer)[0]


def _utc(timestamp: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)


def expired_token(user) -> str:
    return access_token(user, lifetime=-timedelta(seconds=5))


def refresh_token(user) -> str:
    return str(RefreshToken.for_user(user))


def unsigned_token(user) -> str:
    """``alg: none`` with a valid-looking payload."""
    payload = AccessToken.for_user(user).payload
    return jwt.encode(payload, key=None, algorithm="none")


def foreign_key_token(user) -> str:
    payload = AccessToken.for_user(user).payload
    return jwt.encode(
        payload, key="some-other-key-that-is-long-enough-for-hs256", algorithm="HS256"
    )


def bad_tokens(user) -> dict[str, str]:
    """Each bad-token class, keyed by the AuthFailure the server must answer with."""
    return {
        "token_expired": expired_token(user),
        "token_wrong_type": refresh_token(user),
        "token_invalid": foreign_key_token(user),
        "token_malformed": "not-a-jwt",
    }


# Genuine tokens whose user changed after issue, and the failure class each must be refused with.
USER_CHANGES = {
    "user_deleted_after_issue": AuthFailure.USER_INACTIVE,
    "user_deactivated_after_issue": AuthFailure.USER_INACTIVE,
    "password_changed_after_issue": AuthFailure.TOKEN_REVOKED,
}


def change_user(user, change: str) -> None:
    """Apply one of ``USER_CHANGES`` to ``user`` (synchronous: the ORM)."""
    if change == "user_deleted_after_issue":
        user.delete()
    elif change == "user_deactivated_after_issue":
        user.is_active = False
        user.save()
    else:
        time.sleep(1.1)  # simplejwt compares whole seconds: issued-at vs the password change
        user.set_password("a-brand-new-password")
        user.save()
