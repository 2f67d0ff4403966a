"""realtime.presence on a real Redis, two stores standing for two server processes: a process that
dies without cleaning up stops counting once its lease runs out, and is reaped with an event."""

import asyncio
import secrets

import pytest
import redis.asyncio as redis

from realtime.presence import LocalSocket, MemoryPresence, RedisPresence

pytestmark = pytest.mark.services

LEASE = 0.6


@pytest.fixture
async def client(redis_server):
    connection = redis.Redis.from_url(redis_server.url(db=4), decode_responses=True)
    prefix = f"presence-test-{secrets.token_hex(4)}"
    yield connection, prefix
    keys = [key async for key in connection.scan_iter(f"{prefix}*")]
    if keys:
        await connection.delete(*keys)
    await connection.aclose()


@pytest.fixture
async def make_process(client):
    made = []

    def make():
        made.append(Process(*client))
        return made[-1]

    yield make
    for process in made:
        if process.store.keeper is not None:
            process.store.keeper.cancel()


class Process:
    """One server process's presence store, with what it announced and the sockets it holds."""

    def __init__(self, client, prefix: str) -> None:
        self.announced: list[tuple[int, list[str], bool]] = []
        self.versions: list[int] = []
        self.sockets: list[LocalSocket] = []
        self.store = RedisPresence(
            client, prefix=prefix, lease_seconds=LEASE,
            announce=self.announce, local_sockets=lambda: self.sockets,
        )  # fmt: skip

    async def announce(self, room_id, usernames, online, version) -> None:
        self.announced.append((room_id, usernames, online))
        self.versions.append(version)

    async def connect(self, room_id: int, username: str, user_id: int, most: int = 100):
        """A socket in the room: its PresenceChange, or None over the per-user cap ``most``."""
        channel = f"{self.store.process}!{len(self.sockets)}"
        change = await self.store.connect(
            room_id=room_id, username=username, user_id=user_id, channel=channel, max_sockets=most
        )
        if change is not None:
            self.sockets.append(LocalSocket(room_id, username, user_id, channel))
        return change

    async def disconnect(self, socket: LocalSocket):
        self.sockets.remove(socket)
        return await self.store.disconnect(
            room_id=socket.room_id,
            username=socket.username,
            user_id=socket.user_id,
            channel=socket.channel,
        )

    def crash(self) -> None:
        """SIGKILL: the lease is no longer renewed, nothing is cleaned up."""
        self.store.keeper.cancel()


async def test_a_crashed_processes_sockets_stop_counting_after_its_lease(client, make_process):
    dying, survivor = make_process(), make_process()
    for _ in range(3):
        await dying.connect(room_id=1, username="bob", user_id=2, most=3)
    assert await dying.connect(room_id=1, username="bob", user_id=2, most=3) is None
    await survivor.connect(room_id=1, username="alice", user_id=1)
    dying.crash()
    await asyncio.sleep(LEASE + 0.2)
    # The cap counts only live processes' sockets: bob can connect again at once, up to it.
    for _ in range(3):
        assert await survivor.connect(room_id=1, username="bob", user_id=2, most=3) is not None
    assert await survivor.connect(room_id=1, username="bob", user_id=2, most=3) is None
    change = await survivor.connect(room_id=1, username="carol", user_id=3)
    assert change.online == ["alice", "bob", "carol"]  # bob: his new sockets, not the dead ones


async def test_a_crashed_process_is_reaped_and_its_rooms_told(client, make_process):
    dying, survivor = make_process(), make_process()
    await dying.connect(room_id=1, username="bob", user_id=2)
    await dying.connect(room_id=2, username="bob", user_id=2)
    await survivor.connect(room_id=1, username="alice", user_id=1)
    dying.crash()
    await asyncio.sleep(LEASE + LEASE / 3 + 0.3)  # the lease, then the survivor's next renewal
    assert sorted(survivor.announced) == [(1, ["bob"], False), (2, ["bob"], False)]
    connection, prefix = client
    assert not await connection.exists(f"{prefix}:proc:{dying.store.process}:rooms")
    assert await connection.zscore(f"{prefix}:procs", dying.store.process) is None


async def test_a_user_online_elsewhere_is_not_announced_offline(client, make_process):
    dying, survivor = make_process(), make_process()
    await dying.connect(room_id=1, username="bob", user_id=2)
    await survivor.connect(room_id=1, username="bob", user_id=2)
    dying.crash()
    await asyncio.sleep(LEASE + LEASE / 3 + 0.3)
    assert survivor.announced == []
    assert (await survivor.connect(room_id=1, username="alice", user_id=1)).online == [
        "alice",
        "bob",
    ]


async def test_a_stalled_process_writes_its_sockets_back_after_a_reap(client, make_process):
    stalled, other = make_process(), make_process()
    await stalled.connect(room_id=1, username="bob", user_id=2)
    stalled.crash()  # stalls past its lease
    await asyncio.sleep(LEASE + 0.1)
    await other.store.reap()
    assert other.announced == [(1, ["bob"], False)]
    await stalled.store.renew()  # it wakes up, finds itself reaped, writes back, says so
    assert stalled.announced == [(1, ["bob"], True)]
    assert stalled.versions[0] > other.versions[0]  # the comeback orders after the reap
    assert (await other.connect(room_id=1, username="alice", user_id=1)).online == ["alice", "bob"]
    # bob's written-back socket counts against his cap again.
    assert await other.connect(room_id=1, username="bob", user_id=2, most=1) is None


async def test_versions_order_every_status_change_across_processes(client, make_process):
    a, b = make_process(), make_process()
    first = await a.connect(room_id=1, username="bob", user_id=2)
    second_tab = await b.connect(room_id=1, username="bob", user_id=2)
    assert first.changed  # online once, whatever the process
    assert not second_tab.changed
    assert not (await a.disconnect(a.sockets[0])).changed  # still online through b
    gone = await b.disconnect(b.sockets[0])
    assert gone.changed
    assert gone.version > first.version
    assert gone.online == []
    back = await a.connect(room_id=2, username="bob", user_id=2)
    assert back.version > gone.version  # one counter for every room: versions never repeat


async def test_a_refused_connect_writes_nothing(client, make_process):
    process = make_process()
    await process.connect(room_id=1, username="bob", user_id=2, most=1)
    assert await process.connect(room_id=1, username="bob", user_id=2, most=1) is None
    await process.disconnect(process.sockets[0])
    connection, prefix = client
    assert await connection.hlen(f"{prefix}:room:1") == 0
    assert await connection.hlen(f"{prefix}:user:2") == 0
    assert not await connection.exists(f"{prefix}:proc:{process.store.process}:users")


async def test_a_departure_retried_after_it_ran_changes_nothing(client, make_process):
    """A disconnect whose answer was lost (a stall) may run twice: the second run must not take
    bob's other socket offline nor free its slot."""
    store = make_process().store

    async def connect(channel: str):
        return await store.connect(
            room_id=1, username="bob", user_id=2, channel=channel, max_sockets=2
        )

    assert await connect("tab-1") is not None
    assert await connect("tab-2") is not None
    for _ in range(2):
        change = await store.disconnect(room_id=1, username="bob", user_id=2, channel="tab-1")
    assert (change.changed, change.online) == (False, ["bob"])
    assert await connect("tab-3") is not None  # tab-1's slot is free, tab-2's is not
    assert await connect("tab-4") is None


async def test_a_departure_that_failed_is_made_at_the_next_renewal(client, make_process):
    """Redis could not answer the close: bob would stay online and hold his slot for ever."""
    process = make_process()
    await process.connect(room_id=1, username="alice", user_id=1)
    await process.connect(room_id=1, username="bob", user_id=2, most=1)
    gone = process.sockets.pop()  # the socket closed; its disconnect never reached Redis
    process.store.depart_later(room_id=1, username="bob", user_id=2, channel=gone.channel)
    await asyncio.sleep(LEASE / 3 + 0.3)  # the keeper's next round
    assert process.announced[-1] == (1, ["bob"], False)
    assert process.store.departures == []
    assert await process.connect(room_id=1, username="bob", user_id=2, most=1) is not None


@pytest.mark.parametrize("store", ["redis", "memory"])
async def test_the_per_user_cap_counts_a_many_room_socket_once(client, store):
    """A ``/ws/`` socket holds one field per room (``<channel>#<room>``): one socket for the cap,
    and leaving one room leaves the others counted."""
    presence = MemoryPresence() if store == "memory" else Process(*client).store

    async def connect(room_id: int, channel: str):
        return await presence.connect(
            room_id=room_id, username="bob", user_id=2, channel=channel, max_sockets=1
        )

    try:
        assert await connect(1, "sock!a#lobby") is not None
        assert await connect(2, "sock!a#staff") is not None  # the same socket, its second room
        assert await connect(1, "sock!b") is None  # a second socket: over the cap
        left = await presence.disconnect(
            room_id=1, username="bob", user_id=2, channel="sock!a#lobby"
        )
        assert left.changed
        assert await connect(3, "sock!b") is None  # still one socket, in staff
    finally:
        if store == "redis" and presence.keeper is not None:
            presence.keeper.cancel()


async def test_sockets_admitted_while_redis_had_lost_its_counts_are_brought_back_under_the_cap(
    client, make_process
):
    # Redis restarted (no persistence): every count is gone. Sockets admitted before the old
    # ones are written back can exceed the cap; once written back, the newest go (4029).
    old, new = make_process(), make_process()
    closed: list[str] = []

    async def close(channels: list[str]) -> None:
        closed.extend(channels)
        for process in (old, new):
            for socket in [s for s in process.sockets if s.channel in channels]:
                await process.disconnect(socket)  # what the socket's own close does

    for process in (old, new):
        process.store.max_sockets_per_user, process.store.over_cap = 3, close
    for _ in range(3):
        await old.connect(room_id=1, username="bob", user_id=2, most=3)
    connection, prefix = client
    await connection.delete(*[key async for key in connection.scan_iter(f"{prefix}*")])
    for _ in range(3):  # nothing left to count against: admitted
        assert await new.connect(room_id=1, username="bob", user_id=2, most=3) is not None
    await old.store.renew()  # each finds its lease gone and writes its sockets back
    await new.store.renew()
    assert len(closed) == 3
    assert len(old.sockets) + len(new.sockets) == 3
    assert await new.connect(room_id=1, username="bob", user_id=2, most=3) is None
    assert await new.connect(room_id=1, username="bob", user_id=2, most=4) is not None


async def test_the_newest_sockets_go_first_when_a_user_is_over_the_cap(client, make_process):
    process = make_process()
    closed: list[str] = []

    async def close(channels: list[str]) -> None:
        closed.extend(channels)

    process.store.max_sockets_per_user, process.store.over_cap = 2, close
    for _ in range(4):
        await process.connect(room_id=1, username="bob", user_id=2)
    process.sockets = [
        LocalSocket(s.room_id, s.username, s.user_id, s.channel, opened_at=float(n))
        for n, s in enumerate(process.sockets)
    ]
    connection, prefix = client
    await connection.delete(*[key async for key in connection.scan_iter(f"{prefix}*")])
    await process.store.renew()
    assert closed == [process.sockets[3].channel, process.sockets[2].channel]
