"""JWT endpoints for API and mobile clients (simplejwt), with login throttling."""

from rest_framework.throttling import AnonRateThrottle
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)


class LoginRateThrottle(AnonRateThrottle):
    """Per client address; rate from ``LOGIN_THROTTLE_RATE`` (default 10/min)."""

    scope = "login"


class TokenObtainView(TokenObtainPairView):
    throttle_classes = [LoginRateThrottle]


class TokenRefreshThrottledView(TokenRefreshView):
    throttle_classes = [LoginRateThrottle]


class TokenLogoutView(TokenBlacklistView):
    """Blacklists the refresh token: the API client's logout."""
