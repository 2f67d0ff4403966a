"""The REST API's answer when a shared service it needs is down.

The cache (Redis when ``REDIS_URL`` is set) holds the API throttles, the socket tickets and the
cached sessions, so ``POST /api/auth/token/``, ``POST /api/auth/ws-ticket/`` and any throttled
view reach it before they do anything else. While Redis is down or stalled those calls raise
redis-py's ``ConnectionError`` or ``TimeoutError``: that is 503 with ``Retry-After`` and
``{"detail": ..., "code": "service_unavailable"}``, never a 500. Failing closed is the safe
answer: a login without its throttle, or a ticket nobody can redeem, would be worse.
"""

import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("config.api_errors")

RETRY_AFTER_SECONDS = 5
SERVICE_ERRORS = (RedisConnectionError, RedisTimeoutError)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus 503 for a shared service that does not answer."""
    if isinstance(exc, SERVICE_ERRORS):
        view = context.get("view")
        logger.warning(
            "503 for %s: the cache (Redis) did not answer (%s)",
            type(view).__name__ if view is not None else "a view",
            type(exc).__name__,
        )
        return Response(
            {
                "detail": "Temporarily unavailable; try again shortly.",
                "code": "service_unavailable",
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return drf_exception_handler(exc, context)
