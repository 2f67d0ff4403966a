"""The event contract between whatever changes chat data and the open sockets.

Every fact a socket must hear is built here and sent to a group named here. Facts about a room go
to the room's group (one delivery per server process, spread to its sockets by ``chat.fanout``);
facts about one user go to that user's group (each of their sockets, in every room). Writes from
any code path (a socket, the REST API, the admin, the shell, a worker) reach ``chat.signals``,
which call the ``*_after_commit`` senders: a socket never hears of a change that was rolled back,
and never hears of one twice.

A socket handles each event in the method channels names after its type (``message.new`` ->
``message_new``); ``chat.consumers.RoomConsumer`` has one per type below.
"""

import asyncio
import concurrent.futures
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from . import layer_health, metrics, protocol
from .presence import LAYER_ERRORS

logger = logging.getLogger("chat.events")


def room_group(room_id: int) -> str:
    """The group of a room's server processes; by id so a slug change cannot split it."""
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    """The group of every open socket of one user."""
    return f"user.{user_id}"


# Room events: serialized once at the source, sent as-is to every socket of the room. ----------


def message_new(message) -> dict:
    """A stored message; ``message.room`` and ``message.author`` are read, so pass them loaded.

    Room stream events (this one and ``message_deleted``) carry ``seq``: ``chat.streams`` puts
    them in order and fills what the layer lost before any socket sees them."""
    event = _room_event("message.new", message.room_id, message_new_text(message))
    event["seq"] = message.seq
    return event


def message_new_text(message) -> str:
    """The frame of a stored message: the same live, in a gap's fill and in a resume's replay."""
    return protocol.message_new_frame(
        message_id=message.pk,
        seq=message.seq,
        room=message.room.slug,
        author=message.author.get_username(),
        body=message.body,
        created_at=message.created_at,
        client_id=message.client_id or None,
    )


def message_deleted(tombstone, *, seq: int | None = None) -> dict:
    """A stored deletion (a ``DeletedMessage``), at its own position; a gap's fill passes the
    deleted message's creation position as ``seq`` when that ``message.new`` can no longer be
    sent (README "Wire protocol")."""
    seq = tombstone.seq if seq is None else seq
    text = protocol.message_deleted_frame(message_id=tombstone.message_id, seq=seq)
    event = _room_event("message.deleted", tombstone.room_id, text)
    event["seq"] = seq
    return event


def presence_changed(
    *, room_id: int, joined: list[str], left: list[str], versions: dict[str, int]
) -> dict:
    """Who came online and who went offline in a room (``chat.presence_feed`` batches them);
    ``versions`` order the entries across processes and never reach a client."""
    event = _room_event(
        "presence.changed", room_id, protocol.presence_frame(joined=joined, left=left)
    )
    event.update(joined=joined, left=left, versions=versions)
    return event


def room_deleted(*, room_id: int) -> dict:
    """Every socket of the room closes 4004."""
    return {"type": "room.deleted", "room_id": room_id, "at": metrics.event_timestamp()}


def _room_event(event_type: str, room_id: int, text: str) -> dict:
    # "at": when the fact happened, for the broadcast-latency metric at delivery.
    return {"type": event_type, "room_id": room_id, "text": text, "at": metrics.event_timestamp()}


# User events: one user's sockets decide for themselves. ---------------------------------------


def membership_changed(*, room_id: int, user_id: int, role: str | None) -> dict:
    """The user's role in one room changed (``None``: removed); their sockets there re-check."""
    return {"type": "membership.changed", "room_id": room_id, "user_id": user_id, "role": role}


def credentials_revoked(
    *,
    failure: str,
    method: str | None = None,
    session_keys: list[str] | None = None,
    login_ids: list[str] | None = None,
) -> dict:
    """The user's credentials ended; sockets of ``method`` (any when None) holding one of
    ``session_keys`` and one of ``login_ids`` (any when None) close 4001 with ``failure`` as
    the reason."""
    return {
        "type": "auth.revoked",
        "failure": failure,
        "method": method,
        "session_keys": session_keys,
        "login_ids": login_ids,
    }


# Sending. --------------------------------------------------------------------------------------


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
    # (chat.revalidation) applies a lost revocation, and reconnecting clients catch up.
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
