"""API logins (token families) and their logout.

Every refresh token issued at ``POST /api/auth/token/`` carries a ``sid`` claim (the login's id,
OpenID's name for it): its own ``jti``. Rotation keeps the claim, and simplejwt copies it into
every access token the family mints, so each token of one login names that login.

``POST /api/auth/token/blacklist/`` (the API client's logout) blacklists the refresh token, as
simplejwt does, and records the login as ended (``EndedLogin``). From then on every access token
of that login is refused: on REST requests (``LoginJWTAuthentication``), at a socket's handshake,
on an in-band ``auth.refresh``, on a ticket's socket the login asked for, and on open sockets
(``credentials_revoked`` at once, ``accounts.revalidation`` as the second path if that event is
lost). Access tokens without the claim (minted by hand with a plain ``RefreshToken``) belong to
no login and end only at their ``exp``.
"""

from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import (
    TokenBlacklistSerializer,
    TokenObtainPairSerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token

from .credentials import AuthFailure, AuthMethod
from .models import EndedLogin
from .signals import revoke_credentials

LOGIN_CLAIM = "sid"
CHUNK = 500  # sids per IN (...) list


class LoginRefreshToken(RefreshToken):
    """A refresh token that opens a login: its ``jti`` becomes the family's ``sid``."""

    @classmethod
    def for_user(cls, user) -> "LoginRefreshToken":
        token = super().for_user(user)
        token[LOGIN_CLAIM] = token[api_settings.JTI_CLAIM]
        return token


class LoginTokenObtainSerializer(TokenObtainPairSerializer):
    token_class = LoginRefreshToken


class LoginTokenBlacklistSerializer(TokenBlacklistSerializer):
    """simplejwt's logout (blacklist the refresh token), then the login ends everywhere."""

    def validate(self, attrs: dict) -> dict:
        refresh = self.token_class(attrs["refresh"])  # verified: signature, exp, not blacklisted
        with transaction.atomic():
            refresh.blacklist()
            login_end(refresh=refresh)
        return {}


def login_id_of(token: Token | dict) -> str | None:
    """The ``sid`` claim of a token (or a verified payload), if it is one we could have issued."""
    value = token.get(LOGIN_CLAIM)
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def login_end(*, refresh: Token) -> None:
    """Record the login of ``refresh`` as ended and close its sockets after commit.

    A refresh token without a ``sid`` (issued by hand) is its own login. The row lives as long
    as an access token of the login can: ``ACCESS_TOKEN_LIFETIME`` (plus the leeway) from now.
    """
    sid = login_id_of(refresh) or str(refresh[api_settings.JTI_CLAIM])
    user_pk = (
        get_user_model()
        .objects.filter(**{api_settings.USER_ID_FIELD: refresh[api_settings.USER_ID_CLAIM]})
        .values_list("pk", flat=True)
        .first()
    )
    if user_pk is None:
        return  # the user is gone, and every credential with them
    now = timezone.now()
    EndedLogin.objects.filter(expires_at__lt=now).delete()
    lifetime = api_settings.ACCESS_TOKEN_LIFETIME + _leeway()
    EndedLogin.objects.get_or_create(
        sid=sid, defaults={"user_id": user_pk, "expires_at": now + lifetime}
    )
    revoke_credentials(
        user_pk, AuthFailure.TOKEN_LOGGED_OUT, method=AuthMethod.JWT, login_ids=[sid]
    )


def ended_login_ids(login_ids: Iterable[str | None]) -> set[str]:
    """Which of ``login_ids`` ended (one query per CHUNK ids)."""
    wanted = sorted({login_id for login_id in login_ids if login_id})
    ended: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        ended.update(EndedLogin.objects.filter(sid__in=chunk).values_list("sid", flat=True))
    return ended


class LoginJWTAuthentication(JWTAuthentication):
    """simplejwt's header authentication, and the token's login must not have ended.

    Used by the REST API and by the socket's in-band ``auth.refresh`` (``accounts.tokens``).
    """

    def get_user(self, validated_token: Token):
        user = super().get_user(validated_token)
        login_id = login_id_of(validated_token)
        if login_id is not None and EndedLogin.objects.filter(sid=login_id).exists():
            raise AuthenticationFailed("This login has logged out.", code="login_ended")
        return user


def _leeway() -> timedelta:
    leeway = api_settings.LEEWAY
    return leeway if isinstance(leeway, timedelta) else timedelta(seconds=leeway or 0)


class LoginJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of ``LoginJWTAuthentication``: simplejwt's bearer scheme."""

    target_class = LoginJWTAuthentication
