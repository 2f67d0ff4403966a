"""JWT endpoints for API and mobile clients (simplejwt), behind the same login lockout as the
HTML login form and the admin (django-axes), plus a per-address request rate."""

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from .addresses import request_client_address


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
    axes counts the failure and ``AxesStandaloneBackend`` refuses a locked-out account or
    address before the password is even checked. axes marks the (DRF) request it saw; this view
    turns that mark into 429 with ``Retry-After``, as the form and the admin answer.
    """

    throttle_classes = [LoginRateThrottle]

    def handle_exception(self, exc: Exception):
        if getattr(self.request, "axes_locked_out", False):
            exc = LoginLockedOut(wait=settings.LOGIN_COOLOFF_SECONDS)
        return super().handle_exception(exc)


class TokenRefreshThrottledView(TokenRefreshView):
    throttle_classes = [LoginRateThrottle]


class TokenLogoutView(TokenBlacklistView):
    """Blacklists the refresh token: the API client's logout."""
