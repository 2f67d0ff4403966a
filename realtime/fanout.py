"""Process-local fan-out: a room event crosses the channel layer once per server process, not
once per socket.

Channels' usual pattern puts every socket's channel in the room group, so a broadcast to N
sockets costs N layer deliveries, N deep copies, N wake-ups of N dispatch loops and N JSON
encodings. Here each process has one channel in each room group it has sockets for; its single
receive loop hands the already-serialized frame to the local sockets of that room directly.
Control events for the room (its deletion) travel the same way. Each event reaches a socket's
``deliver()``, which dispatches it by type like any other event the socket handles. Per-user
events (role changes, revocation) use the user's own group (``realtime.bus``). Room stream events
(those with a ``seq``) go through ``realtime.streams.RoomStreams`` first, which passes them on in
position order and fills what the layer lost.

One ``RoomFanout`` per event loop, kept by ``realtime.runtime``.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from channels.layers import get_channel_layer

from .bus import room_group
from .layer_health import layer_failed
from .metrics import record_broadcast_delivered
from .streams import RoomStreams

logger = logging.getLogger("chat.fanout")

RETRY_SECONDS = 1.0


class RoomSocket(Protocol):
    async def deliver(self, event: dict) -> None: ...


class RoomFanout:
    """``admit``: sees each arriving event first, and may rewrite it or drop it (None); the
    runtime puts presence in order there (``realtime.presence_feed.PresenceOrder``). ``streams``:
    makes the ``RoomStreams`` that orders stream events, given the function that hands an event
    to a room's local sockets; without it they are handed on as they arrive."""

    def __init__(
        self,
        admit: Callable[[dict], dict | None] = lambda event: event,
        streams: Callable[[Callable[[dict], Awaitable[None]]], RoomStreams] | None = None,
    ) -> None:
        self.admit = admit
        self.streams = streams(self._to_sockets) if streams is not None else None
        self.layer = get_channel_layer()
        self.rooms: dict[int, set[RoomSocket]] = {}
        self.lock = asyncio.Lock()
        self.channel: str | None = None
        self.receiver: asyncio.Task | None = None
        self.presence_to_sockets = True

    async def join(self, room_id: int, socket: RoomSocket) -> None:
        """Add a socket; the first one of a room subscribes this process to the room group."""
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
            sockets = self.rooms.get(room_id)
            if sockets is None:
                await self.layer.group_add(room_group(room_id), self.channel)
                sockets = self.rooms[room_id] = set()
                if self.streams is not None:
                    self.streams.open(room_id)
            sockets.add(socket)
            if self.receiver is None or self.receiver.done():
                self.receiver = asyncio.get_running_loop().create_task(self._receive_forever())

    async def leave(self, room_id: int, socket: RoomSocket) -> None:
        """Remove a socket; the last one of a room unsubscribes the process (no stale members).

        The socket leaves the room's set at once, before any wait on the lock or the layer: a
        socket that closed is never delivered to, re-checked or written back as online, even
        while the layer is stalled."""
        sockets = self.rooms.get(room_id)
        if sockets is None:
            return
        sockets.discard(socket)
        if sockets:
            return
        async with self.lock:
            if self.rooms.get(room_id) is sockets and not sockets:
                del self.rooms[room_id]
                if self.streams is not None:
                    self.streams.close(room_id)
                await self.layer.group_discard(room_group(room_id), self.channel)

    async def _receive_forever(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # layer down: keep the open sockets, retry until it is back
                logger.warning("fan-out receive failed; retrying", exc_info=True)
                layer_failed()
                await asyncio.sleep(RETRY_SECONDS)
                continue
            await self._deliver(event)

    async def _deliver(self, event: dict) -> None:
        if "at" in event:
            record_broadcast_delivered(event["at"])
        try:
            event = self.admit(event)
        except Exception:  # a bug there must not stop this process's fan-out
            logger.exception("admitting an event failed; delivering it as sent")
        if event is None:
            return
        if self.streams is not None and "seq" in event:
            await self.streams.admit(event)
            return
        await self._to_sockets(event)

    def stop_presence(self) -> None:
        """The process drains: each of its sockets is about to hear 1012 and gets the whole online
        list again when it joins elsewhere, so diffs about users leaving are frames for nothing
        (during a spread drain they were most of the draining process's work)."""
        self.presence_to_sockets = False

    async def _to_sockets(self, event: dict) -> None:
        if not self.presence_to_sockets and event.get("type") == "presence.changed":
            return
        for socket in tuple(self.rooms.get(event.get("room_id"), ())):
            try:
                await socket.deliver(event)
            except Exception:  # one broken socket never stops the others' delivery
                logger.exception("delivery to one socket failed")
