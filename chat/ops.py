"""Endpoints for load balancers and operators."""

import asyncio
import os

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.admin.views.decorators import staff_member_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .metrics import LayerOperation, record_channel_layer_error
from .presence import LAYER_ERRORS
from .runtime import open_sockets_in_process

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
