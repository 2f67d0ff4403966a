"""This process's live state, in one object per event loop: the composition root of the machinery.

daphne (and uvicorn) run one event loop per process, so in production there is one ``Runtime``
per process; pytest-asyncio gives each test a loop of its own, and ``reset_runtimes()`` forgets
them all between tests. Everything a socket shares with its neighbours lives here: the typed
settings, the open-socket count, the presence store and its batched announcements, the room
fan-out with its ordered room streams, the revocation sweep, and the budgets (messages and
handshakes per user, failed handshakes per client address). With Redis (``settings.REDIS``: one
server, or the master Sentinel names) the presence store and the budgets live there, shared by
every process; without it, in this process's memory (the single-process default, like the
in-memory channel layer). A closed loop's runtime goes with it (the registry holds loops weakly).

The machinery knows no models: the domain installs what reads the database (``install``, called
by ``chat.apps``).
"""

import asyncio
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.redis_clients import async_client

from . import bus, metrics
from .budgets import MemoryBudget, RedisBudget
from .close_codes import CloseCode
from .conf import RealtimeSettings
from .fanout import RoomFanout
from .layer_health import on_layer_failure
from .presence import LocalSocket, MemoryPresence, PresenceStore, RedisPresence
from .presence_feed import PresenceBatcher, PresenceOrder
from .revalidation import Judge, Revalidator
from .streams import ReadEvents, ReadHeads, RoomStreams


@dataclass(frozen=True, slots=True)
class Domain:
    """What the machinery asks of the database: a gap's fill, the position check, and the
    periodic re-check's verdicts."""

    read_events: ReadEvents
    read_heads: ReadHeads
    judge: Judge


_domain: Domain | None = None


def install(domain: Domain) -> None:
    """Once, at startup (an ``AppConfig.ready``): every runtime made afterwards uses it."""
    global _domain
    _domain = domain


class Runtime:
    """Made from the settings in force when the loop first needs it."""

    def __init__(self) -> None:
        if _domain is None:
            raise ImproperlyConfigured("realtime.runtime.install() was never called.")
        self.settings = conf = RealtimeSettings.from_django()
        self.open_sockets = 0
        self.many_topic_sockets: set = set()  # /ws/ sockets: re-checked for their credential
        self.connecting = 0  # handshakes between the capacity check and go-live
        self.presence_order = PresenceOrder()
        self.fanout = RoomFanout(
            admit=self.presence_order.admit,
            streams=lambda deliver: RoomStreams(
                deliver,
                gap_seconds=conf.stream_gap_seconds,
                check_seconds=conf.stream_check_seconds,
                give_up_seconds=conf.stream_give_up_seconds,
                max_fill=conf.resume_max_messages,
                read_events=_domain.read_events,
                read_heads=_domain.read_heads,
            ),
        )
        self.presence_batcher = PresenceBatcher(
            bus.to_room, window_seconds=conf.presence_window_seconds
        )
        self.revalidator = Revalidator(
            self._open_sockets, conf.revalidate_seconds, judge=_domain.judge
        )
        """Re-checks every open socket's authority on a period: no lost event leaves one open."""
        on_layer_failure(self.revalidator.soon)
        limits = {
            "messages": (conf.rate_limit_messages, conf.rate_limit_seconds),
            "room_commands": (conf.rate_limit_room_commands, conf.rate_limit_room_seconds),
            "handshakes": (conf.max_handshakes_per_user, conf.handshake_window_seconds),
            "failed_auth": (conf.max_failed_auth_per_address, conf.failed_auth_window_seconds),
        }
        self.presence: PresenceStore
        if settings.REDIS:
            client = async_client(
                settings.REDIS,
                settings.REDIS_CONNECTION_OPTIONS,
                max_connections=conf.presence_max_connections,
                wait_seconds=conf.layer_timeout,
            )
            # Same prefix as the channel layer: deployments sharing a Redis never mix.
            prefix = settings.CHANNEL_LAYER_PREFIX
            self.presence = RedisPresence(
                client,
                prefix=f"{prefix}:presence",
                lease_seconds=conf.presence_lease_seconds,
                announce=self._announce,
                local_sockets=self._local_sockets,
                max_sockets_per_user=conf.max_sockets_per_user,
                over_cap=self._close_over_cap,
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
        self.room_command_budget = budgets["room_commands"]
        """``room.join``, ``room.leave``, ``room.read`` per user (protocol 3): joining many rooms
        costs no message frames, and join/leave churn cannot amplify presence broadcasts."""
        self.handshake_budget = budgets["handshakes"]
        """Accepted handshakes per user: a reconnect loop cannot amplify presence broadcasts."""
        self.failed_auth_budget = budgets["failed_auth"]
        """Handshakes without a valid credential per client address."""

    def reserve_connect(self) -> bool:
        """A handshake's place, counted from its first step, not at go-live: concurrent
        handshakes on a cold process cannot overshoot ``CHAT_MAX_SOCKETS_PER_PROCESS`` while
        each waits on the database. False when the process is full; ``connecting -= 1`` ends it."""
        if self.open_sockets + self.connecting >= self.settings.max_sockets_per_process:
            return False
        self.connecting += 1
        return True

    async def _announce(self, room_id: int, usernames: list[str], online: bool, version: int):
        """A change no socket of this process made: the sockets of a process that died went
        offline (reaped), or this stalled process's sockets are back (written back)."""
        for username in usernames:
            self.presence_batcher.note(room_id, username, online, version)

    def _open_sockets(self) -> Iterator:
        for sockets in list(self.fanout.rooms.values()):
            yield from list(sockets)
        yield from list(self.many_topic_sockets)

    def _local_sockets(self) -> Iterator[LocalSocket]:
        for room_id, sockets in self.fanout.rooms.items():
            for socket in sockets:
                yield LocalSocket(
                    room_id=room_id,
                    username=socket.user.get_username(),
                    user_id=socket.user.pk,
                    channel=socket.channel_name,
                    opened_at=socket.opened_at,
                )

    async def _close_over_cap(self, channels: list[str]) -> None:
        """The presence store found these sockets' users over the per-user cap (after Redis
        lost its counts): 4029, as the handshake would have answered."""
        wanted = set(channels)
        for socket in list(self._open_sockets()):
            if socket.channel_name in wanted:
                await socket.end(
                    CloseCode.TOO_MANY_CONNECTIONS, "too_many_sockets", event="over_cap"
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


def stop_presence_to_local_sockets() -> None:
    """Called as the server starts draining (``config.drain``): see ``RoomFanout.stop_presence``."""
    for each in list(_runtimes.values()):
        each.fanout.stop_presence()


def reset_runtimes() -> None:
    """Forget every loop's state (tests change settings between runs)."""
    _runtimes.clear()


metrics.OPEN_SOCKETS.set_function(open_sockets_in_process)
