"""This process's live state, in one object per event loop.

daphne (and uvicorn) run one event loop per process, so in production there is one ``Runtime``
per process; pytest-asyncio gives each test a loop of its own, and ``reset_runtimes()`` forgets
them all between tests. Everything a socket shares with its neighbours lives here: the open-socket
count, the presence store and its batched announcements, the room fan-out with its ordered room
streams (``chat.streams``), the revocation sweep, and the budgets (messages and handshakes per
user, failed handshakes per client address). With Redis (``settings.REDIS``: one server, or the
master Sentinel names) the presence store and the budgets live there, shared by every process;
without it, in this process's memory (the single-process default, like the in-memory channel
layer). A closed loop's runtime goes with it (the registry holds loops weakly).
"""

import asyncio
import weakref
from collections.abc import Iterator

from django.conf import settings

from config.redis_clients import async_client

from . import events
from .fanout import RoomFanout
from .layer_health import on_layer_failure
from .presence import LocalSocket, MemoryPresence, RedisPresence
from .presence_feed import PresenceBatcher, PresenceOrder
from .ratelimit import MemoryBudget, RedisBudget
from .revalidation import Revalidator
from .streams import RoomStreams


class Runtime:
    """Made from the settings in force when the loop first needs it."""

    def __init__(self) -> None:
        self.open_sockets = 0
        self.connecting = 0  # handshakes between the capacity check and go-live
        self.presence_order = PresenceOrder()
        self.fanout = RoomFanout(admit=self.presence_order.admit, streams=_room_streams)
        self.presence_batcher = PresenceBatcher(
            events.to_room, window_seconds=settings.CHAT_PRESENCE_WINDOW_SECONDS
        )
        self.revalidator = Revalidator(self._open_sockets, settings.CHAT_REVALIDATE_SECONDS)
        """Re-checks every open socket's authority on a period: no lost event leaves one open."""
        on_layer_failure(self.revalidator.soon)
        limits = {
            "messages": (settings.CHAT_RATE_LIMIT_MESSAGES, settings.CHAT_RATE_LIMIT_SECONDS),
            "handshakes": (
                settings.CHAT_MAX_HANDSHAKES_PER_USER,
                settings.CHAT_HANDSHAKE_WINDOW_SECONDS,
            ),
            "failed_auth": (
                settings.CHAT_MAX_FAILED_AUTH_PER_ADDRESS,
                settings.CHAT_FAILED_AUTH_WINDOW_SECONDS,
            ),
        }
        if settings.REDIS:
            client = async_client(
                settings.REDIS,
                settings.REDIS_CONNECTION_OPTIONS,
                max_connections=settings.CHAT_PRESENCE_MAX_CONNECTIONS,
                wait_seconds=settings.CHAT_LAYER_TIMEOUT,
            )
            # Same prefix as the channel layer: deployments sharing a Redis never mix.
            prefix = settings.CHANNEL_LAYER_PREFIX
            self.presence = RedisPresence(
                client,
                prefix=f"{prefix}:presence",
                lease_seconds=settings.CHAT_PRESENCE_LEASE_SECONDS,
                announce=self._announce,
                local_sockets=self._local_sockets,
            )
            budgets = {
                name: RedisBudget(
                    client, prefix=f"{prefix}:budget:{name}", capacity=count, per_seconds=window
                )
                for name, (count, window) in limits.items()
            }
        else:
            self.presence = MemoryPresence()
            budgets = {
                name: MemoryBudget(count, window) for name, (count, window) in limits.items()
            }
        self.message_budget = budgets["messages"]
        """Frames per user, across all their sockets (reconnecting never refills it)."""
        self.handshake_budget = budgets["handshakes"]
        """Accepted handshakes per user: a reconnect loop cannot amplify presence broadcasts."""
        self.failed_auth_budget = budgets["failed_auth"]
        """Handshakes without a valid credential per client address."""

    async def _announce(self, room_id: int, usernames: list[str], online: bool, version: int):
        """A change no socket of this process made: the sockets of a process that died went
        offline (reaped), or this stalled process's sockets are back (written back)."""
        for username in usernames:
            self.presence_batcher.note(room_id, username, online, version)

    def _open_sockets(self) -> Iterator:
        for sockets in list(self.fanout.rooms.values()):
            yield from list(sockets)

    def _local_sockets(self) -> Iterator[LocalSocket]:
        for room_id, sockets in self.fanout.rooms.items():
            for socket in sockets:
                yield LocalSocket(
                    room_id=room_id,
                    username=socket.user.get_username(),
                    user_id=socket.user.pk,
                    channel=socket.channel_name,
                )


def _room_streams(deliver) -> RoomStreams:
    return RoomStreams(
        deliver,
        gap_seconds=settings.CHAT_STREAM_GAP_SECONDS,
        check_seconds=settings.CHAT_STREAM_CHECK_SECONDS,
        give_up_seconds=settings.CHAT_STREAM_GIVE_UP_SECONDS,
        max_fill=settings.CHAT_RESUME_MAX_MESSAGES,
    )


_runtimes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime]" = (
    weakref.WeakKeyDictionary()
)


def runtime() -> Runtime:
    """The running event loop's runtime (call from async code)."""
    loop = asyncio.get_running_loop()
    current = _runtimes.get(loop)
    if current is None:
        current = _runtimes[loop] = Runtime()
    return current


def open_sockets_in_process() -> int:
    """For operators and metrics; callable from any thread."""
    return sum(each.open_sockets for each in list(_runtimes.values()))


def reset_runtimes() -> None:
    """Forget every loop's state (tests change settings between runs)."""
    _runtimes.clear()
