"""The sending half of the event bus: group names and the sends, after commit or from async code.

A topic's events go to its group: ``room.<id>`` reaches one channel per server process (spread to
that process's sockets by ``realtime.fanout``), ``user.<id>`` every socket of that user. What the
events say is the domain's (``chat.events`` builds them); how they travel is decided here, so a
broadcast never depends on which code path changed the data: writers send after their
transaction commits, never an event of a change that was rolled back.
"""

import asyncio
import concurrent.futures
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from . import layer_health, metrics
from .errors import LAYER_ERRORS

# The log operators filter lost events on (docs/operations.md).
logger = logging.getLogger("chat.events")


def room_group(room_id: int) -> str:
    """The group of a room's server processes; by id so a slug change cannot split it."""
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    """The group of every open socket of one user."""
    return f"user.{user_id}"


def to_room_after_commit(room_id: int, event: dict) -> None:
    _send_after_commit(room_group(room_id), event)


def to_user_after_commit(user_id: int, event: dict) -> None:
    _send_after_commit(user_group(user_id), event)


async def to_room(room_id: int, event: dict) -> None:
    """From async code that changed no database row (presence)."""
    await _group_send(room_group(room_id), event)


async def _group_send(group: str, event: dict) -> None:
    try:
        await get_channel_layer().group_send(group, event)
    except LAYER_ERRORS:
        metrics.record_channel_layer_error(metrics.LayerOperation.SEND)
        layer_health.layer_failed()  # this process's own sockets missed it too
        raise


def _send_after_commit(group: str, event: dict) -> None:
    def send() -> None:
        try:
            publish_from_thread(group, event)
        except (*LAYER_ERRORS, concurrent.futures.CancelledError) as error:
            # Handled, not a bug: the revocation sweep and the clients' resume cover it.
            logger.warning("%s event to %s lost: %s", event["type"], group, type(error).__name__)

    # robust: a channel layer outage must not turn a committed write into an error for the
    # writer (a REST 500, a failed admin save); it is logged, every process's revocation sweep
    # (realtime.revalidation) applies a lost revocation, and reconnecting clients catch up.
    transaction.on_commit(send, robust=True)


def publish_from_thread(group: str, event: dict) -> None:
    """Publish from synchronous code. In a server process the database thread hands the send to
    the serving loop and waits at most ``REDIS_TIMEOUT_SECONDS`` and a second: a loop that has
    stopped (SIGTERM while a send waited on the database) must not hold the thread, and with it
    the process's exit, for ever. Elsewhere (a shell, a command) ``async_to_sync`` runs it."""
    loop = layer_health.serving_loop()
    if loop is None:
        async_to_sync(_group_send)(group, event)
        return
    if not loop.is_running():
        raise TimeoutError("the serving event loop has stopped")
    future = asyncio.run_coroutine_threadsafe(_group_send(group, event), loop)
    try:
        future.result(timeout=settings.REDIS_TIMEOUT_SECONDS + 1)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError("the serving event loop did not send in time") from None
