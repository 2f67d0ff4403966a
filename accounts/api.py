"""JWT endpoints for API and mobile clients (simplejwt), behind the same login lockout as the
HTML login form and the admin (django-axes), plus a per-address request rate."""

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from .addresses import request_client_address
from .credentials import AuthMethod
from .lockout import lockout_for
from .logins import LoginTokenBlacklistSerializer, LoginTokenObtainSerializer, login_id_of
from .tickets import Issuer, issue_ticket


class LoginRateThrottle(AnonRateThrottle):
    """Requests per client address, whatever their outcome; rate from ``LOGIN_THROTTLE_RATE``.

    A flood cap in front of the lockout, not the lockout itself: failed passwords are counted
    by django-axes (``LOGIN_FAILURE_LIMIT``, ``LOGIN_COOLOFF_SECONDS``) for every login door.
    """

    scope = "login"

    def get_ident(self, request: Request) -> str:
        # The one reading of the address (TRUSTED_PROXY_COUNT), not DRF's own.
        return request_client_address(request) or "unknown"


class LoginLockedOut(Throttled):
    default_detail = "Too many failed logins; try again later."
    default_code = "locked_out"


class TokenObtainView(TokenObtainPairView):
    """Username and password for an access/refresh pair.

    The password check goes through ``django.contrib.auth.authenticate`` with the request, so
    axes counts the failure and ``AxesStandaloneBackend`` refuses a locked-out (username,
    address) pair, or an address past its own limit, before the password is even checked. axes
    marks the (DRF) request it saw; this view turns that mark into 429 ``locked_out`` with
    ``Retry-After`` (the seconds until the lockout ends), as the form and the admin answer.
    """

    throttle_classes = [LoginRateThrottle]
    serializer_class = LoginTokenObtainSerializer

    def handle_exception(self, exc: Exception):
        if getattr(self.request, "axes_locked_out", False):
            data = self.request.data
            username = data.get("username") if isinstance(data, dict) else None
            lockout = lockout_for(self.request, username if isinstance(username, str) else None)
            wait = lockout.seconds_left() if lockout else settings.LOGIN_COOLOFF_SECONDS
            exc = LoginLockedOut(wait=wait)
        return super().handle_exception(exc)


class TokenRefreshThrottledView(TokenRefreshView):
    throttle_classes = [LoginRateThrottle]


class TokenLogoutView(TokenBlacklistView):
    """The API client's logout: blacklists the refresh token and ends its login, so the access
    tokens already out and every socket they opened end too (``accounts.logins``)."""

    serializer_class = LoginTokenBlacklistSerializer


class WebSocketTicketSerializer(serializers.Serializer):
    room = serializers.SlugField(
        required=False, max_length=50, help_text="Bind the ticket to this room only."
    )


class WebSocketTicketView(APIView):
    """A one-time ticket for one WebSocket handshake (``/ws/rooms/<slug>/?ticket=...``).

    Single use, valid ``WS_TICKET_SECONDS``, bound to the caller (and to ``room`` if given).
    The socket it opens follows the caller's credential and ends whenever that one would: a
    session's at its logout, expiry or a password change; an access token's at its ``exp``
    (unless refreshed in-band with ``auth.refresh``) or a password change.
    """

    throttle_classes = [ScopedRateThrottle]  # per user
    throttle_scope = "ws_ticket"

    @extend_schema(
        request=WebSocketTicketSerializer,
        responses={
            200: inline_serializer(
                "WebSocketTicketAnswer",
                {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()},
            )
        },
    )
    def post(self, request: Request) -> Response:
        serializer = WebSocketTicketSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket, lifetime = issue_ticket(
            user=request.user,
            room=serializer.validated_data.get("room"),
            issuer=_issuer(request),
        )
        return Response({"ticket": ticket, "expires_in": lifetime})


def _issuer(request: Request) -> Issuer:
    """The credential this request came with: the ticket's socket will follow it."""
    if request.auth is not None and "exp" in request.auth:
        return Issuer(
            method=AuthMethod.JWT,
            expires_at=datetime.fromtimestamp(request.auth["exp"], tz=UTC),
            revoke_claim=request.auth.get(jwt_settings.REVOKE_TOKEN_CLAIM),
            login_id=login_id_of(request.auth),
        )
    session = request.session
    return Issuer(
        method=AuthMethod.SESSION,
        expires_at=session.get_expiry_date(),
        session_key=session.session_key,
        session_hash=session.get(HASH_SESSION_KEY),
    )
