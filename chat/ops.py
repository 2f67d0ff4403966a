"""Endpoints for load balancers and operators: health, readiness, open sockets, metrics."""

import asyncio
import hmac
import os

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from realtime.errors import LAYER_ERRORS
from realtime.metrics import LayerOperation, record_channel_layer_error
from realtime.runtime import open_sockets_in_process

PROBE_TIMEOUT_SECONDS = 2.0


@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Never touches a dependency, so a database outage does not
    make the balancer kill every server."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


async def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            channel = await layer.new_channel()
            await layer.send(channel, {"type": "readyz.probe"})
            await layer.receive(channel)
            await _release_channel(layer, channel)
        return True
    except LAYER_ERRORS:
        record_channel_layer_error(LayerOperation.PROBE)
        return False


async def _release_channel(layer, channel: str) -> None:
    """End the probe's channel the way a consumer's ends: channel layers drop a channel (the
    Redis pub/sub layer unsubscribes it) when a ``receive`` waiting on it is cancelled. Without
    this each probe left one subscription behind for the life of the process."""
    waiter = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)  # let it start waiting on the channel
    waiter.cancel()
    # wait(), not await: the waiter's CancelledError is its own, never this task's.
    await asyncio.wait([waiter])


@require_GET
async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and the channel layer both answer; 503 otherwise."""
    checks = {
        "database": await database_sync_to_async(_database_ok)(),
        "channel_layer": await _channel_layer_ok(),
    }
    ready = all(checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


@require_GET
@staff_member_required
def open_sockets(request: HttpRequest) -> JsonResponse:
    """Open room sockets in the process that answers (staff only; one process per request)."""
    return JsonResponse({"pid": os.getpid(), "open_sockets": open_sockets_in_process()})


def _bearer_token_ok(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not token:
        return False
    # Constant time: the comparison must not tell a scraper how much of its guess was right.
    return hmac.compare_digest(token.strip().encode(), expected.encode())


@require_GET
async def metrics_view(request: HttpRequest) -> HttpResponse:
    """The default registry in Prometheus text format (``realtime.metrics`` records into it),
    for ``Authorization: Bearer <METRICS_TOKEN>`` or a staff session; 403 otherwise. One process
    per request."""
    if not _bearer_token_ok(request):
        user = await request.auser()
        if not (user.is_active and user.is_staff):
            return HttpResponseForbidden("Metrics need a staff session or the metrics token.\n")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
