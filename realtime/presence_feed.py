"""Presence on the wire: one frame per room per short window, saying what changed.

Announcing every join and leave with the room's whole online list costs n frames of size n to
each of n sockets when n members reconnect at once: O(n^2) frames and O(n^3) bytes per storm.
Instead each process collects the changes of its own sockets for ``CHAT_PRESENCE_WINDOW_SECONDS``
(100 ms) and sends one ``presence`` frame per room with ``joined`` and ``left`` lists; the whole
list goes only in ``room.joined``.

Exact across processes: each change carries the version the presence store gave it. Frames
from two processes may arrive in either order, so each process's fan-out passes on, per room and
user, only entries newer than the newest it already passed on (``PresenceOrder``). Whatever the
order of arrival, the last entry a socket gets about a user is the user's latest status, and a
socket that joined got every change after its ``room.joined`` snapshot (it subscribes first).
"""

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from . import protocol
from .errors import LAYER_ERRORS
from .metrics import event_timestamp

logger = logging.getLogger("chat.presence")

# Rooms whose newest versions a process remembers (least recently used go first): enough for
# every room it serves; a room it forgot starts afresh, which a late frame could only make
# briefly stale for sockets that joined after the frame was sent.
MAX_REMEMBERED_ROOMS = 10_000

RoomSender = Callable[[int, dict], Awaitable[None]]


def presence_changed(
    *, room_id: int, joined: list[str], left: list[str], versions: dict[str, int]
) -> dict:
    """The room event of who came online and who went offline (batched here); ``versions``
    order the entries across processes and never reach a client."""
    return {
        "type": "presence.changed",
        "room_id": room_id,
        "text": protocol.presence_frame(joined=joined, left=left),
        "at": event_timestamp(),
        "joined": joined,
        "left": left,
        "versions": versions,
    }


class PresenceBatcher:
    """Collects this process's presence changes and sends them, per room, once per window."""

    def __init__(self, send: RoomSender, window_seconds: float) -> None:
        self.send, self.window = send, window_seconds
        self.pending: dict[int, dict[str, tuple[bool, int]]] = {}
        self.sent: asyncio.Future | None = None  # resolves when the pending window is out
        self.flushing: asyncio.Task | None = None  # referenced: the loop holds tasks weakly

    def note(self, room_id: int, username: str, online: bool, version: int) -> asyncio.Future:
        """Record a change; returns a future done when the frame carrying it has been sent."""
        room = self.pending.setdefault(room_id, {})
        known = room.get(username)
        if known is None or known[1] < version:
            room[username] = (online, version)
        if self.sent is None:
            loop = asyncio.get_running_loop()
            self.sent = loop.create_future()
            loop.call_later(self.window, self._start_flush)
        return self.sent

    def _start_flush(self) -> None:
        self.flushing = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        pending, self.pending = self.pending, {}
        sent, self.sent = self.sent, None
        try:
            for room_id, changes in pending.items():
                try:
                    await self.send(room_id, _event(room_id, changes))
                except LAYER_ERRORS as error:
                    # Counted by realtime.bus. The store holds the truth: sockets joining
                    # later read it in room.joined.
                    logger.warning("presence not announced: %s", type(error).__name__)
        finally:
            if sent is not None and not sent.done():
                sent.set_result(None)


def _event(room_id: int, changes: dict[str, tuple[bool, int]]) -> dict:
    joined = sorted(name for name, (online, _) in changes.items() if online)
    left = sorted(name for name, (online, _) in changes.items() if not online)
    versions = {name: version for name, (_, version) in changes.items()}
    return presence_changed(room_id=room_id, joined=joined, left=left, versions=versions)


class PresenceOrder:
    """Per room, the newest version this process passed on for each user; older entries are
    dropped from arriving presence events (a frame with nothing new is dropped whole)."""

    def __init__(self, max_rooms: int = MAX_REMEMBERED_ROOMS) -> None:
        self.rooms: OrderedDict[int, dict[str, int]] = OrderedDict()
        self.max_rooms = max_rooms

    def admit(self, event: dict) -> dict | None:
        versions = event.get("versions")
        if event.get("type") != "presence.changed" or not versions:
            return event
        room_id = event["room_id"]
        newest = self.rooms.get(room_id)
        if newest is None:
            newest = self.rooms[room_id] = {}
            if len(self.rooms) > self.max_rooms:
                self.rooms.popitem(last=False)
        else:
            self.rooms.move_to_end(room_id)
        fresh = {name: v for name, v in versions.items() if v > newest.get(name, 0)}
        newest.update(fresh)
        if len(fresh) == len(versions):
            return event  # the common case: its frame, serialized once at the source, as is
        if not fresh:
            return None
        return presence_changed(
            room_id=room_id,
            joined=[name for name in event["joined"] if name in fresh],
            left=[name for name in event["left"] if name in fresh],
            versions=fresh,
        )


def newer_than(event: dict, version: int) -> dict | None:
    """``event`` without the entries of version ``version`` or older, for a socket whose
    ``room.joined`` list already reflected every change up to ``version``; None when nothing is
    left. The common case (all newer) returns the event itself, its frame serialized once."""
    versions = event.get("versions") or {}
    if not version or all(v > version for v in versions.values()):
        return event
    fresh = {name: v for name, v in versions.items() if v > version}
    if not fresh:
        return None
    return presence_changed(
        room_id=event["room_id"],
        joined=[name for name in event["joined"] if name in fresh],
        left=[name for name in event["left"] if name in fresh],
        versions=fresh,
    )
