"""Who is online in each room, and how many sockets each user holds, shared by every process.

With ``REDIS_URL`` the counts live in Redis (the same server as the channel layer), so a user
connected to two daphne processes is online once and capped across both. Without it they live in
this process's memory, matching the in-memory channel layer's one-process scope.

Keys expire a day after their last change, so a process that crashed without cleaning up leaves
stale presence for at most that long.
"""

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from redis.exceptions import RedisError

# What an unreachable channel layer or presence store raises (redis-py's errors are not
# subclasses of the builtin ConnectionError).
LAYER_ERRORS = (TimeoutError, OSError, ConnectionError, RedisError)

KEY_TTL_SECONDS = 24 * 60 * 60


@dataclass
class PresenceChange:
    changed: bool  # the user's first socket in the room opened, or their last one closed
    online: list[str]  # usernames online in the room, sorted


class MemoryPresence:
    """One process's view; the zero-setup default."""

    def __init__(self) -> None:
        self.rooms: dict[int, Counter] = defaultdict(Counter)
        self.user_sockets: dict[int, set[str]] = defaultdict(set)

    async def join(self, *, room_id: int, username: str) -> PresenceChange:
        room = self.rooms[room_id]
        room[username] += 1
        return PresenceChange(room[username] == 1, sorted(room))

    async def leave(self, *, room_id: int, username: str) -> PresenceChange:
        room = self.rooms[room_id]
        room[username] -= 1
        last = room[username] <= 0
        if last:
            del room[username]
        if not room:
            self.rooms.pop(room_id, None)
        return PresenceChange(last, sorted(room))

    async def add_user_socket(self, *, user_id: int, channel: str) -> int:
        self.user_sockets[user_id].add(channel)
        return len(self.user_sockets[user_id])

    async def remove_user_socket(self, *, user_id: int, channel: str) -> None:
        sockets = self.user_sockets[user_id]
        sockets.discard(channel)
        if not sockets:
            self.user_sockets.pop(user_id, None)


_LEAVE_SCRIPT = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return {n, redis.call('HKEYS', KEYS[1])}
"""


@dataclass
class RedisPresence:
    """Shared by every process; each operation is one pipelined round trip."""

    url: str
    prefix: str = "chat:presence"
    _clients: dict = field(default_factory=dict)

    def _client(self):
        # A redis.asyncio pool belongs to one event loop; daphne has one, tests have many.
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # Blocking: under a crowd of simultaneous closes, wait for a connection instead of
            # failing (a failed leave would leave stale presence behind).
            pool = redis.BlockingConnectionPool.from_url(
                self.url,
                decode_responses=True,
                max_connections=settings.CHAT_PRESENCE_MAX_CONNECTIONS,
                timeout=settings.CHAT_LAYER_TIMEOUT,
            )
            client = self._clients[loop] = redis.Redis(connection_pool=pool)
        return client

    def _room_key(self, room_id: int) -> str:
        return f"{self.prefix}:room:{room_id}"

    async def join(self, *, room_id: int, username: str) -> PresenceChange:
        key = self._room_key(room_id)
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.hincrby(key, username, 1)
            pipe.expire(key, KEY_TTL_SECONDS)
            pipe.hkeys(key)
            count, _, online = await pipe.execute()
        return PresenceChange(count == 1, sorted(online))

    async def leave(self, *, room_id: int, username: str) -> PresenceChange:
        # One script, so a join racing this leave can never be deleted by it.
        count, online = await self._client().eval(
            _LEAVE_SCRIPT, 1, self._room_key(room_id), username
        )
        return PresenceChange(int(count) <= 0, sorted(online))

    async def add_user_socket(self, *, user_id: int, channel: str) -> int:
        key = f"{self.prefix}:user:{user_id}"
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.sadd(key, channel)
            pipe.expire(key, KEY_TTL_SECONDS)
            pipe.scard(key)
            _, _, count = await pipe.execute()
        return count

    async def remove_user_socket(self, *, user_id: int, channel: str) -> None:
        await self._client().srem(f"{self.prefix}:user:{user_id}", channel)


_store: MemoryPresence | RedisPresence | None = None


def presence_store() -> MemoryPresence | RedisPresence:
    global _store
    if _store is None:
        _store = (
            # Same prefix as the channel layer: deployments sharing a Redis never mix presence.
            RedisPresence(settings.REDIS_URL, prefix=f"{settings.CHANNEL_LAYER_PREFIX}:presence")
            if settings.REDIS_URL
            else MemoryPresence()
        )
    return _store


def reset_presence_store() -> None:
    """Forget the store (tests switch settings between runs)."""
    global _store
    _store = None


class ProcessSockets:
    """Open sockets in this process, for the per-process cap and for operators."""

    open = 0
