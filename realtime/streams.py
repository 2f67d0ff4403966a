"""Room streams: every socket hears its room's stored events in position order, without a hole,
whichever process stored them and whatever the channel layer lost or reordered.

Every stored room event (a message created, a message deleted) has the room's next ``seq``, taken
in commit order (``Room.objects.stream_advance``), and the database keeps it: the database is the
log. The channel layer is only the fast path. Two halves:

- ``RoomStreams`` (one per process, owned by ``realtime.fanout.RoomFanout``): per room with sockets
  here, the position passed on to the sockets so far. An event arriving with the next position
  goes on at once; one arriving early (overtaken in the layer, or after a lost one) is held, and
  if what is missing has not arrived within ``gap_seconds`` it is read from the database (the
  *fill*) and everything goes on in order. A periodic position check (every ``check_seconds``,
  one query for every room of the process) compares each room's newest stored position with
  the one passed on, so a lost *last* event is filled too. What cannot be filled (more than
  ``max_fill`` events, positions missing from the database, the database unreachable for
  ``give_up_seconds``, an epoch that changed, a counter that went back) ends with
  ``stream.broken`` to every socket of the room, which closes them 4009 ``STREAM_GAP``: the
  clients resume by position and are told ``recovered`` true or false.
- ``SocketPlace`` (one per socket): where that socket is in its room's stream, so it drops what
  its replay already sent and never passes a hole on.

The bounds (README "Wire protocol"): an event lost in the layer reaches the sockets at most
``gap_seconds`` after a later event of its room arrives, and at most ``check_seconds`` plus
``gap_seconds`` after it was stored when it was the last one; a gap that cannot be filled
within ``give_up_seconds`` closes the room's sockets 4009.
"""

import asyncio
import enum
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from django.db import DatabaseError

logger = logging.getLogger("chat.streams")


@dataclass(frozen=True, slots=True)
class StreamHead:
    """A room's newest position and the epoch naming its stream."""

    seq: int
    epoch: str


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One stored event of a room's stream, as the live path sends it."""

    seq: int
    event: dict


ReadEvents = Callable[[int, int, int], Awaitable[list[StreamEvent]]]
"""``(room_id, after, upto)``: the stored events at ``after < seq <= upto``, in order."""
ReadHeads = Callable[[list[int]], Awaitable[dict[int, StreamHead]]]
"""The newest position of each room (a room that is gone is absent)."""


def stream_broken(*, room_id: int, reason: str) -> dict:
    """Sent by this process to the sockets of one room whose stream it cannot continue."""
    return {"type": "stream.broken", "room_id": room_id, "reason": reason}


@dataclass
class RoomStream:
    """One room in this process: ``position`` (None until the first socket gives one), events
    held until every earlier one is in, and the pending fill."""

    room_id: int
    position: int | None = None
    epoch: str | None = None
    held: dict[int, dict] = field(default_factory=dict)
    gap_since: float | None = None  # monotonic: when the oldest unfilled gap opened
    fill_due: asyncio.TimerHandle | None = None
    filling: asyncio.Task | None = None  # kept: the event loop holds tasks only weakly
    fill_running: bool = False
    fill_upto: int = 0  # the check saw the room's head here: fill at least this far
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RoomStreams:
    """``deliver(event)``: hands one event to the room's local sockets (``RoomFanout``);
    ``read_events`` and ``read_heads``: the database, the log (``chat.streams`` reads it)."""

    def __init__(
        self,
        deliver: Callable[[dict], Awaitable[None]],
        *,
        gap_seconds: float,
        check_seconds: float,
        give_up_seconds: float,
        max_fill: int,
        read_events: ReadEvents,
        read_heads: ReadHeads,
    ) -> None:
        self.deliver = deliver
        self.gap_seconds, self.check_seconds = gap_seconds, check_seconds
        self.give_up_seconds, self.max_fill = give_up_seconds, max_fill
        self.read_events, self.read_heads = read_events, read_heads
        self.rooms: dict[int, RoomStream] = {}
        self.checker: asyncio.Task | None = None

    # Rooms come and go with their sockets (RoomFanout.join/leave) ------------------------------

    def open(self, room_id: int) -> None:
        if room_id not in self.rooms:
            self.rooms[room_id] = RoomStream(room_id)
        if self.checker is None or self.checker.done():
            self.checker = asyncio.get_running_loop().create_task(self._check_forever())

    def close(self, room_id: int) -> None:
        stream = self.rooms.pop(room_id, None)
        if stream is not None:
            self._cancel_fill(stream)
        if not self.rooms and self.checker is not None:
            self.checker.cancel()
            self.checker = None

    def position_for(self, room_id: int, *, head: StreamHead) -> StreamHead:
        """Where a socket that just subscribed starts: the position this process has passed on
        (every later event reaches the socket, in order). The room's first socket here starts
        the stream at ``head``, the room's newest position it read; events stored since are
        filled like any gap."""
        stream = self.rooms[room_id]
        if stream.position is None:
            stream.position, stream.epoch = head.seq, head.epoch
            stream.held = {seq: event for seq, event in stream.held.items() if seq > head.seq}
            if stream.held:  # what arrived before the start: passed on (or filled) in order
                stream.filling = asyncio.get_running_loop().create_task(self._release(stream))
        return StreamHead(seq=stream.position, epoch=stream.epoch)

    # Events --------------------------------------------------------------------------------

    async def admit(self, event: dict) -> None:
        """A room event with a ``seq`` from the channel layer."""
        stream = self.rooms.get(event.get("room_id"))
        if stream is None:
            return  # no socket of that room here any more
        seq = event["seq"]
        if stream.position is not None and seq <= stream.position:
            return  # a fill passed it on already
        stream.held[seq] = event
        if stream.position is None:
            if len(stream.held) > self.max_fill:  # nobody started it: a socket's start fills
                stream.held.clear()
            return
        await self._release(stream)

    async def _release(self, stream: RoomStream) -> None:
        """Pass on every held event that is next in line; a hole left open starts the clock."""
        async with stream.lock:
            while stream.position is not None and stream.position + 1 in stream.held:
                event = stream.held.pop(stream.position + 1)
                stream.position += 1
                await self.deliver(event)
            if stream.position is None:
                return
            if stream.held or stream.fill_upto > stream.position:
                self._gap_opened(stream)
            else:
                stream.gap_since = None
                self._cancel_fill(stream)

    def _gap_opened(self, stream: RoomStream) -> None:
        if stream.gap_since is None:
            stream.gap_since = time.monotonic()
        if stream.fill_due is None and not stream.fill_running:
            loop = asyncio.get_running_loop()
            stream.fill_due = loop.call_later(self.gap_seconds, self._start_fill, stream)

    def _start_fill(self, stream: RoomStream) -> None:
        stream.fill_due = None
        if self.rooms.get(stream.room_id) is stream:
            stream.fill_running = True
            stream.filling = asyncio.get_running_loop().create_task(self._fill(stream))

    def _cancel_fill(self, stream: RoomStream) -> None:
        if stream.fill_due is not None:
            stream.fill_due.cancel()
            stream.fill_due = None

    async def _fill(self, stream: RoomStream) -> None:
        """Read what is missing from the database, then pass everything on in order."""
        try:
            if stream.position is None:
                return
            after = stream.position
            upto = max([*stream.held, stream.fill_upto])
            if upto <= after:
                return
            if upto - after > self.max_fill:
                await self._broken(stream, "gap_too_large")
                return
            try:
                found = await self.read_events(stream.room_id, after, upto)
            except DatabaseError:
                logger.warning("stream fill failed for room %s", stream.room_id, exc_info=True)
                await self._give_up_if_late(stream)
                return  # the next position check tries again
        finally:
            stream.fill_running = False
        if stream.position is None or self.rooms.get(stream.room_id) is not stream:
            return  # broken or closed meanwhile
        for each in found:
            if each.seq > stream.position:  # live events may have passed some on meanwhile
                stream.held.setdefault(each.seq, each.event)
        await self._release(stream)
        if stream.position is not None and stream.position < upto:
            # Positions the database does not hold (rows removed by a cascade): nothing can
            # ever fill them; the clients resume, and a replay may skip positions.
            await self._broken(stream, "positions_missing")

    async def _give_up_if_late(self, stream: RoomStream) -> None:
        if stream.gap_since is not None and (
            time.monotonic() - stream.gap_since > self.give_up_seconds
        ):
            await self._broken(stream, "gap_unfilled")

    async def _broken(self, stream: RoomStream, reason: str) -> None:
        """This process cannot continue the room's stream: its sockets close 4009 and resume;
        the stream starts afresh with the next socket."""
        logger.warning("room %s stream broken (%s): its sockets resume", stream.room_id, reason)
        self._cancel_fill(stream)
        stream.position = stream.epoch = stream.gap_since = None
        stream.held.clear()
        stream.fill_upto = 0
        await self.deliver(stream_broken(room_id=stream.room_id, reason=reason))

    # The position check ----------------------------------------------------------------------

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end the checks of every later period
                logger.exception("stream position check failed")

    async def check(self) -> None:
        """Compare each room's newest stored position with the one passed on here."""
        started = [stream for stream in self.rooms.values() if stream.position is not None]
        if not started:
            return
        try:
            heads = await self.read_heads([stream.room_id for stream in started])
        except DatabaseError:
            logger.warning("stream position check: database unavailable", exc_info=True)
            for stream in started:
                await self._give_up_if_late(stream)
            return
        for stream in started:
            head = heads.get(stream.room_id)
            if head is None or stream.position is None:
                continue  # the room is gone (its deletion closes the sockets), or broken
            if self.rooms.get(stream.room_id) is not stream:
                continue  # its last socket left meanwhile
            if head.epoch != stream.epoch:
                await self._broken(stream, "epoch_changed")
            elif head.seq < stream.position:
                await self._broken(stream, "position_went_back")
            elif head.seq > stream.position:
                stream.fill_upto = max(stream.fill_upto, head.seq)
                await self._give_up_if_late(stream)
                if stream.position is not None:
                    self._gap_opened(stream)


class Place(enum.Enum):
    NEXT = "next"  # the next position: send it
    OLD = "old"  # at or before the socket's position (its replay sent it): drop it
    GAP = "gap"  # past the next position: never sent; the socket must resume


class SocketPlace:
    """One socket's position in its room's stream, from ``room.joined`` on."""

    __slots__ = ("position",)  # one per socket and topic for the socket's lifetime

    def __init__(self, position: int) -> None:
        self.position = position

    def take(self, seq: int) -> Place:
        if seq <= self.position:
            return Place.OLD
        if seq != self.position + 1:
            return Place.GAP
        self.position = seq
        return Place.NEXT


# Resume ------------------------------------------------------------------------------------

_POSITION = re.compile(r"[0-9]{1,18}")  # ASCII digits only (str.isdigit() takes "²"), < 2**63
_EPOCH = re.compile(r"[0-9a-z]{1,16}")


@dataclass(frozen=True, slots=True)
class Resume:
    """What a reconnecting socket asked for: ``since`` + ``epoch`` (a stream position), or
    ``after`` (a message id, protocol 2 before positions). ``valid`` False: a malformed query,
    answered ``recovered: false`` with nothing replayed."""

    since: int | None = None
    epoch: str | None = None
    after: int | None = None
    valid: bool = True


def resume_request(params: dict[str, list[str]]) -> Resume | None:
    """The resume in a socket's query string; None when it asks for none.

    ``since`` and ``epoch`` go together, each once; ``after`` stands alone, once; any other
    mix, a value given twice, a ``since`` or ``after`` that is not 1-18 ASCII digits or an
    ``epoch`` that is not 1-16 lowercase letters and digits is malformed."""
    asked = {name: params[name] for name in ("since", "epoch", "after") if name in params}
    if not asked:
        return None
    invalid = Resume(valid=False)
    if any(len(values) != 1 for values in asked.values()):
        return invalid
    values = {name: each[0] for name, each in asked.items()}
    if set(values) == {"since", "epoch"}:
        if _POSITION.fullmatch(values["since"]) and _EPOCH.fullmatch(values["epoch"]):
            return Resume(since=int(values["since"]), epoch=values["epoch"])
        return invalid
    if set(values) == {"after"} and _POSITION.fullmatch(values["after"]):
        return Resume(after=int(values["after"]))
    return invalid


@dataclass(frozen=True, slots=True)
class Replay:
    """A resume's answer. ``position``: where the socket's live stream continues (the
    ``seq`` of ``room.joined``); ``frames``: what it missed, oldest first, sent right after
    ``room.joined``; ``recovered`` False: nothing replayed, the client reloads history."""

    recovered: bool | None
    position: int
    frames: list[str] = field(default_factory=list)
