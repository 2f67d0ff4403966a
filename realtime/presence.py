"""Who is online in each room, and how many sockets each user holds, shared by every process.

With Redis (``REDIS_URL``, or a Sentinel master: ``config.redis_clients``) the counts live there,
beside the channel layer, so a user connected to two daphne processes is online once and capped
across both. Without it they live in
this process's memory, matching the in-memory channel layer's one-process scope.

Crash safety (Redis): every entry belongs to the process that holds the socket. Each process
renews a lease (``CHAT_PRESENCE_LEASE_SECONDS``, 15 s by default) every third of it; an entry of a
process whose lease ran out no longer counts (the per-user cap and the online list skip it from
that moment), and a surviving process reaps it within one more renewal period, telling the rooms
who went offline. A process that was only slow, not dead, finds itself reaped at its next renewal
and writes its live sockets back. Nothing scans all keys: each operation reads one room's or one
user's hash, and a reap reads the dead process's own index.

Every change of a user's status in a room gets a version, from one counter (per process without
Redis, per deployment with it) taken in the same atomic step as the change:
``realtime.presence_feed`` uses it to put presence frames from different processes in order.
"""

import asyncio
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import LAYER_ERRORS

LUA = Path(__file__).resolve().parent / "lua"

# Garbage collection only: a key untouched for a day (every process gone) disappears.
KEY_TTL_SECONDS = 24 * 60 * 60

logger = logging.getLogger("chat.presence")


@dataclass(frozen=True, slots=True)
class LocalSocket:
    """What this process writes back for one of its sockets after it was reaped by mistake."""

    room_id: int
    username: str
    user_id: int
    channel: str
    opened_at: float = 0.0  # monotonic: the newest go first when a user is over the cap


# Closes this process's sockets on these channels: their user holds more than the cap.
OverCap = Callable[[list[str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """What one socket's arrival or departure did to its room's online list."""

    version: int  # > 0: the user's status in the room changed; its order among all changes
    online: list[str]  # usernames online in the room, sorted

    @property
    def changed(self) -> bool:
        """The user's first socket in the room opened, or their last one closed."""
        return self.version > 0


class PresenceStore(Protocol):
    """What the runtime asks of a presence store; ``MemoryPresence`` and ``RedisPresence`` are
    the two, chosen once from the settings (``realtime.runtime``)."""

    async def connect(
        self, *, room_id: int, username: str, user_id: int, channel: str, max_sockets: int
    ) -> PresenceChange | None: ...

    async def disconnect(
        self, *, room_id: int, username: str, user_id: int, channel: str
    ) -> PresenceChange: ...

    async def release_socket(self, *, user_id: int, channel: str) -> None: ...

    def depart_later(self, **socket) -> None: ...


class MemoryPresence:
    """One process's view; the zero-setup default."""

    def __init__(self) -> None:
        self.rooms: dict[int, Counter] = defaultdict(Counter)
        self.user_sockets: dict[int, set[str]] = defaultdict(set)
        self.version = 0

    async def connect(
        self, *, room_id: int, username: str, user_id: int, channel: str, max_sockets: int
    ) -> PresenceChange | None:
        """Claim one of the user's ``max_sockets`` and go online in the room; None (and nothing
        written) when the user already holds ``max_sockets``."""
        sockets = self.user_sockets[user_id]
        sockets.add(channel)
        if len({held.partition("#")[0] for held in sockets}) > max_sockets:
            self._release(user_id, channel)
            return None
        room = self.rooms[room_id]
        room[username] += 1
        return PresenceChange(self._next_version() if room[username] == 1 else 0, sorted(room))

    async def disconnect(
        self, *, room_id: int, username: str, user_id: int, channel: str
    ) -> PresenceChange:
        self._release(user_id, channel)
        room = self.rooms[room_id]
        room[username] -= 1
        last = room[username] <= 0
        if last:
            del room[username]
        online = sorted(room)
        if not room:
            self.rooms.pop(room_id, None)
        return PresenceChange(self._next_version() if last else 0, online)

    async def release_socket(self, *, user_id: int, channel: str) -> None:
        """Undo a claim after a connect that failed half-way (idempotent)."""
        self._release(user_id, channel)

    def depart_later(self, **socket) -> None:
        """Never needed here: this store cannot fail (the interface ``RedisPresence`` has)."""

    def _release(self, user_id: int, channel: str) -> None:
        sockets = self.user_sockets[user_id]
        sockets.discard(channel)
        if not sockets:
            self.user_sockets.pop(user_id, None)

    def _next_version(self) -> int:
        self.version += 1
        return self.version


def _script(*parts: str) -> str:
    """A presence script: the Lua sources in ``realtime/lua/``, joined in order."""
    return "\n".join((LUA / f"presence_{part}.lua").read_text() for part in parts)


_CONNECT = _script("prelude", "release_socket", "connect")
_DISCONNECT = _script("prelude", "release_socket", "disconnect")
_RELEASE = _script("release_socket") + "\nrelease_socket()\nreturn 0\n"
_RENEW = _script("prelude", "renew")
_REAP = _script("prelude", "reap")


# Announces a change nobody's socket made: (room id, usernames, online or not, version). The
# reaper tells rooms who went offline with a dead process; a write-back, who is back.
Announcer = Callable[[int, list[str], bool, int], Awaitable[None]]


class RedisPresence:
    """Shared by every process; a socket's arrival is one script call (one round trip), and so
    is its departure.

    Its client's connection pool belongs to one event loop: ``realtime.runtime`` keeps one store per
    loop, and this store's lease is that loop's (so a test loop is "a process" too).
    """

    REAP_BATCH = 20
    UNLIMITED = 2**31

    def __init__(
        self,
        client,
        *,
        prefix: str,
        lease_seconds: float,
        announce: Announcer,
        local_sockets: Callable[[], Iterable[LocalSocket]],
        max_sockets_per_user: int | None = None,
        over_cap: OverCap | None = None,
    ) -> None:
        self.client, self.prefix, self.lease_seconds = client, prefix, lease_seconds
        self.announce, self.local_sockets = announce, local_sockets
        self.max_sockets_per_user, self.over_cap = max_sockets_per_user, over_cap
        self.process = uuid.uuid4().hex  # 32 characters: the room-field prefix
        self.leases_key = f"{prefix}:procs"
        self.keeper: asyncio.Task | None = None
        self.departures: list[dict] = []  # closed sockets whose disconnect is still owed
        self.scripts = {
            name: client.register_script(source)
            for name, source in {
                "connect": _CONNECT,
                "disconnect": _DISCONNECT,
                "release": _RELEASE,
                "renew": _RENEW,
                "reap": _REAP,
            }.items()
        }

    # Sockets ---------------------------------------------------------------------------------

    async def connect(
        self, *, room_id: int, username: str, user_id: int, channel: str, max_sockets: int
    ) -> PresenceChange | None:
        """Claim one of the user's ``max_sockets`` (across every process) and go online in the
        room, atomically; None (and nothing written) when the user already holds them all."""
        await self._ensure_lease()
        sockets, version, online = await self._socket_script(
            "connect", room_id, username, user_id, channel, max_sockets
        )
        if int(sockets) < 0:
            return None
        return PresenceChange(int(version), sorted(online))

    async def disconnect(
        self, *, room_id: int, username: str, user_id: int, channel: str
    ) -> PresenceChange:
        version, online = await self._socket_script(
            "disconnect", room_id, username, user_id, channel
        )
        return PresenceChange(int(version), sorted(online))

    async def release_socket(self, *, user_id: int, channel: str) -> None:
        """Undo a claim after a connect that failed half-way (idempotent)."""
        await self._socket_script("release", 0, "", user_id, channel)

    def depart_later(self, **socket) -> None:
        """A closing socket's ``disconnect`` failed (Redis down or stalled): retried after the
        next lease renewal that works, so the user is neither left online nor holding a slot."""
        self.departures.append(socket)

    async def _retry_departures(self) -> None:
        while self.departures:
            socket = self.departures[0]
            change = await self.disconnect(**socket)
            self.departures.pop(0)
            if change.changed:
                await self.announce(socket["room_id"], [socket["username"]], False, change.version)

    def _socket_script(self, name: str, room_id, username, user_id, channel, max_sockets=0):
        keys = [
            f"{self.prefix}:room:{room_id}",
            self.leases_key,
            self._index("rooms"),
            f"{self.prefix}:user:{user_id}",
            self._index("users"),
            f"{self.prefix}:version",
        ]
        args = [self.process, username, room_id, KEY_TTL_SECONDS, channel, user_id, max_sockets]
        return self.scripts[name](keys=keys, args=args)

    def _index(self, kind: str) -> str:
        return f"{self.prefix}:proc:{self.process}:{kind}"

    # The lease -------------------------------------------------------------------------------

    async def _ensure_lease(self) -> None:
        """The first socket of this loop takes the lease and starts renewing it."""
        if self.keeper is None:
            self.keeper = asyncio.get_running_loop().create_task(self._keep_lease())
            await self.renew(first=True)

    async def renew(self, *, first: bool = False) -> None:
        reaped = await self.scripts["renew"](
            keys=["", self.leases_key], args=[self.prefix, self.process, self.lease_seconds]
        )
        if int(reaped) and not first:
            await self._write_back()

    async def reap(self) -> None:
        """Remove the entries of processes whose lease ran out; tell their rooms."""
        changes = await self.scripts["reap"](
            keys=["", self.leases_key], args=[self.prefix, self.REAP_BATCH]
        )
        for room_id, offline, version in changes:
            await self.announce(int(room_id), list(offline), False, int(version))

    async def _keep_lease(self) -> None:
        interval = self.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew()
                await self.reap()
                await self._retry_departures()
            except LAYER_ERRORS as error:
                logger.warning("presence lease not renewed: %s", type(error).__name__)

    async def _write_back(self) -> None:
        """This process was reaped while alive (stalled past its lease) or Redis lost its state
        (a restart): restore its sockets, tell their rooms who is back, and hold the per-user
        cap again."""
        sockets = list(self.local_sockets())
        logger.warning("presence lease had lapsed; writing back %s sockets", len(sockets))
        held: dict[int, int] = {}
        for socket in sockets:
            count, version, _ = await self._socket_script(
                "connect",
                socket.room_id,
                socket.username,
                socket.user_id,
                socket.channel,
                self.UNLIMITED,
            )
            held[socket.user_id] = int(count)  # the last write sees all the user's sockets
            if int(version):
                await self.announce(socket.room_id, [socket.username], True, int(version))
        await self._close_over_cap(sockets, held)

    async def _close_over_cap(self, sockets: list[LocalSocket], held: dict[int, int]) -> None:
        """While Redis had lost the counts, sockets were admitted past the per-user cap; once
        every process has written its sockets back, the last one to do so sees the whole count
        and closes its newest sockets of that user until the cap holds again."""
        cap, close = self.max_sockets_per_user, self.over_cap
        if cap is None or close is None:
            return
        closing: list[str] = []
        for user_id, count in held.items():
            if count > cap:
                own = [socket for socket in sockets if socket.user_id == user_id]
                own.sort(key=lambda socket: socket.opened_at, reverse=True)
                closing += [socket.channel for socket in own[: count - cap]]
        if closing:
            logger.warning("closing %s sockets over the per-user cap", len(closing))
            await close(closing)
