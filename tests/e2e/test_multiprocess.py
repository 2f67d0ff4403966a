"""Beyond one process: two daphne processes sharing one Redis and one PostgreSQL database.

The servers get a PostgreSQL database of their own (created here, migrated in a subprocess,
dropped at the end) and the suite's own ``redis-server`` with a channel-layer prefix of their own
(``tests/services.py``). Without PostgreSQL or redis-server these tests skip locally and fail
when ``CI=true``.
"""

import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime.close_codes import CloseCode

from ..factories import PASSWORD
from ..live import ROOT, next_frame, start_daphne, stop_daphne
from ..services import postgres_database

pytestmark = [pytest.mark.services, pytest.mark.e2e]

CROWD_USERS, SOCKETS_PER_USER = 20, 50  # 1,000 sockets; the servers allow 50 a user
SECRET_KEY = "multiprocess-test-secret-key-long-enough-for-hs256-signing"
CHAT_LAYER_TIMEOUT = 3.0  # settings.CHAT_LAYER_TIMEOUT's default: the longest a join may wait

SEED = """
import json
from django.contrib.auth.hashers import make_password
from accounts.models import User
from chat.models import Membership, Role, Room
from tests.tokens import access_token

password = make_password({password!r})
names = ["alice", "bob", "carol", "dave", "erin"] + [f"crowd{{i}}" for i in range({crowd})]
users = User.objects.bulk_create([User(username=name, password=password) for name in names])
alice = users[0]
for slug in ("lobby", "outage"):
    room = Room.objects.create(slug=slug, name=slug.title(), created_by=alice)
    Membership.objects.bulk_create(
        [
            Membership(room=room, user=user, role=Role.OWNER if user == alice else Role.MEMBER)
            for user in users
        ]
    )
print("TOKENS=" + json.dumps({{user.username: access_token(user) for user in users}}))
"""


def manage(*args: str, env: dict, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def service_database():
    """A PostgreSQL database of these tests alone, migrated; dropped afterwards."""
    with postgres_database("chat_mp") as url:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": url}
        env.pop("REDIS_URL", None)
        manage("migrate", "--noinput", "-v0", env=env)
        yield url


@pytest.fixture(scope="module")
def shared_redis(redis_server):
    """The suite's Redis, with a channel-layer prefix of this module alone."""
    # Pub/sub channel names ignore the database number, so the prefix keeps users apart there.
    prefix = f"mp{secrets.token_hex(4)}"
    client = redis_server.client(db=1)
    yield redis_server.url(db=1), prefix, client
    client.close()


@pytest.fixture(scope="module")
def seeded(service_database):
    """Users, two rooms every user belongs to, and an access token per user."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": service_database,
        "DJANGO_SECRET_KEY": SECRET_KEY,
    }
    env.pop("REDIS_URL", None)  # nobody listens yet; the in-memory layer drops the signals
    script = SEED.format(password=PASSWORD, crowd=CROWD_USERS)
    out = manage("shell", "-c", script, env=env)
    return json.loads(out.split("TOKENS=", 1)[1])


def server_env(database_url: str, redis_url: str, prefix: str) -> dict:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER_PREFIX": prefix,
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "CHAT_RATE_LIMIT_MESSAGES": "100000",  # the latency probes send many messages
        "CHAT_MAX_SOCKETS_PER_USER": str(SOCKETS_PER_USER),
        "CONN_MAX_AGE": "60",
    }


@pytest.fixture(scope="module")
def servers(service_database, shared_redis, seeded, tmp_path_factory):
    url, prefix, _ = shared_redis
    tmp = tmp_path_factory.mktemp("multiprocess")
    started = []
    try:
        for _ in range(2):
            started.append(start_daphne(tmp, extra_env=server_env(service_database, url, prefix)))
        yield started
    finally:
        for server in started:
            stop_daphne(server)


def room_url(server, token: str, room: str = "lobby") -> str:
    return f"{server.ws}/ws/rooms/{room}/?token={token}"


async def wait_close(ws, wait: float = 5) -> tuple[int, float]:
    try:
        async with asyncio.timeout(wait):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None, time.monotonic()


def server_errors(server) -> list[str]:
    return [
        line
        for line in server.app_log.read_text().splitlines()
        if " ERROR " in line or "Traceback" in line or "CRITICAL" in line
    ]


async def presence_of(ws, user: str) -> str:
    """``online`` or ``offline``: what the next presence frame naming ``user`` says of them (a
    socket also hears its own arrival)."""
    while True:
        frame = await next_frame(ws, "presence")
        if user in frame["joined"]:
            return "online"
        if user in frame["left"]:
            return "offline"


# Across processes -------------------------------------------------------------------------------


async def test_message_sent_through_b_reaches_member_on_a(servers, seeded):
    a, b = servers
    async with (
        connect(room_url(a, seeded["alice"])) as on_a,
        connect(room_url(b, seeded["bob"])) as on_b,
    ):
        await next_frame(on_a, "room.joined")
        await next_frame(on_b, "room.joined")
        await on_b.send(json.dumps({"type": "message.send", "body": "from B"}))
        got = await next_frame(on_a)
        assert (got["author"], got["body"]) == ("bob", "from B")
        assert (await next_frame(on_b))["id"] == got["id"]


async def test_presence_shows_users_of_both_processes(servers, seeded):
    a, b = servers
    async with connect(room_url(a, seeded["carol"])) as on_a:
        assert (await next_frame(on_a, "room.joined"))["online"] == ["carol"]
        async with connect(room_url(b, seeded["erin"])) as on_b:
            joined = await next_frame(on_b, "room.joined")
            assert joined["online"] == ["carol", "erin"]
            assert await presence_of(on_a, "erin") == "online"
        assert await presence_of(on_a, "erin") == "offline"


async def test_membership_revoked_through_rest_on_a_closes_socket_on_b_4003(servers, seeded):
    a, b = servers
    async with httpx.AsyncClient(base_url=a.http) as api:
        response = await api.post(
            "/api/auth/token/", json={"username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        bearer = {"Authorization": f"Bearer {response.json()['access']}"}
        async with connect(room_url(b, seeded["dave"])) as on_b:
            await next_frame(on_b, "room.joined")
            started = time.monotonic()
            deleted = await api.delete("/api/rooms/lobby/members/dave/", headers=bearer)
            assert deleted.status_code == 204, deleted.text
            code, closed_at = await wait_close(on_b)
    assert code == CloseCode.FORBIDDEN
    assert closed_at - started < 1.0


# Room streams across processes ------------------------------------------------------------------

SENDERS, SENT_EACH = 20, 10


def stored_ids_after(database_url: str, slug: str, seq: int) -> list[int]:
    """The room's message ids after position ``seq``, in stream order, read from the database."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT m.id FROM chat_message m JOIN chat_room r ON r.id = m.room_id "
            "WHERE r.slug = %s AND m.seq > %s ORDER BY m.seq",
            (slug, seq),
        ).fetchall()
    return [row[0] for row in rows]


class StreamReader:
    """One socket's stream frames, read until it closes: (seq, id) in arrival order."""

    def __init__(self, ws) -> None:
        self.ws, self.frames, self.joined = ws, [], None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self.ws:
                frame = json.loads(text)
                if frame["type"] == "room.joined":
                    self.joined = frame
                elif frame["type"] in {"message.new", "message.deleted"}:
                    self.frames.append((frame["seq"], frame["id"]))


async def test_twenty_senders_through_both_processes_give_every_receiver_one_stream(
    servers, seeded, service_database
):
    """20 members send at once, half through each process; every receiver, on either process,
    gets positions start+1, start+2, ... without a hole or a repeat, and its transcript equals
    the database's in stream order."""
    a, b = servers
    users = [f"crowd{i}" for i in range(SENDERS)]
    sockets = [
        await connect(room_url((a, b)[index % 2], seeded[user])) for index, user in enumerate(users)
    ]
    watchers = [
        await connect(room_url(a, seeded["alice"])),
        await connect(room_url(b, seeded["bob"])),
    ]
    readers = [StreamReader(ws) for ws in sockets + watchers]
    deadline = time.monotonic() + 10
    while any(reader.joined is None for reader in readers):
        assert time.monotonic() < deadline, "not every socket joined"
        await asyncio.sleep(0.05)
    start = min(reader.joined["seq"] for reader in readers)

    async def send_all(ws, user: str) -> None:
        for n in range(SENT_EACH):
            await ws.send(json.dumps({"type": "message.send", "body": f"{user} {n}"}))

    await asyncio.gather(*(send_all(ws, user) for ws, user in zip(sockets, users, strict=True)))
    total = SENDERS * SENT_EACH
    deadline = time.monotonic() + 30
    while any(len(reader.frames) < total for reader in readers):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    stored = stored_ids_after(service_database, "lobby", start)
    assert len(stored) == total
    for reader in readers:
        seqs = [seq for seq, _ in reader.frames]
        assert seqs == list(range(reader.joined["seq"] + 1, reader.joined["seq"] + total + 1))
        assert [message_id for _, message_id in reader.frames] == stored
    for ws in sockets + watchers:
        await ws.close()
    for reader in readers:
        await reader.reader
    assert server_errors(a) == []
    assert server_errors(b) == []


# A crowd on one process -------------------------------------------------------------------------


async def broadcast_latency(sender, watcher, count: int = 15) -> float:
    """Median seconds from a send on one process to its arrival on the other."""
    samples = []
    for n in range(count):
        started = time.monotonic()
        await sender.send(json.dumps({"type": "message.send", "body": f"probe {n}"}))
        while (await next_frame(watcher))["body"] != f"probe {n}":
            pass
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


def layer_channels(client, prefix: str) -> int:
    """Pub/sub channels of this run's layer: one per socket, plus one per group in use."""
    return len(client.pubsub_channels(f"{prefix}*"))


def presence_keys(client, prefix: str) -> dict[str, int]:
    """Presence and per-user socket entries in Redis (the other shared per-socket state)."""
    sizes = {}
    for key in client.scan_iter(f"{prefix}:presence:*"):
        kind = client.type(key).decode()
        size = {"hash": client.hlen, "set": client.scard, "zset": client.zcard}.get(kind)
        if size is not None:  # "none": deleted since the scan saw it
            sizes[key.decode()] = size(key)
    return {key: size for key, size in sizes.items() if size}


async def steady(read, quiet: float = 1.0, limit: float = 15.0):
    """``read()`` once it returned the same value for ``quiet`` seconds (at most ``limit``)."""
    deadline = time.monotonic() + limit
    value, since = read(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
    return value


async def open_crowd(server, seeded, semaphore) -> list:
    async def one(token):
        async with semaphore:
            ws = await connect(room_url(server, token), open_timeout=30)
            await next_frame(ws, "room.joined", wait=30)
            return ws

    tokens = [seeded[f"crowd{i}"] for i in range(CROWD_USERS) for _ in range(SOCKETS_PER_USER)]
    return await asyncio.gather(*(one(token) for token in tokens))


async def test_crowd_of_1000_leaves_no_stale_state_and_broadcasts_stay_cheap(
    servers, seeded, shared_redis, capsys
):
    a, b = servers
    _, prefix, client = shared_redis

    def report(line: str) -> None:
        with capsys.disabled():
            print(f"\n[crowd] {line}", end="")

    # No client keepalive: this process is busy with the crowd, not a dead peer.
    async with (
        connect(room_url(a, seeded["alice"]), ping_interval=None) as watcher,
        connect(room_url(b, seeded["bob"]), ping_interval=None) as sender,
    ):
        await next_frame(watcher, "room.joined")
        await next_frame(sender, "room.joined")
        # Sockets of earlier tests may still be finishing their close (a departure waits for
        # its presence frame, up to 100 ms): count once nothing changes any more.
        channels_before, presence_before = await steady(
            lambda: (layer_channels(client, prefix), presence_keys(client, prefix))
        )
        before = await broadcast_latency(sender, watcher)

        started = time.monotonic()
        crowd = await open_crowd(a, seeded, asyncio.Semaphore(50))
        opened = time.monotonic() - started
        report(f"1000 sockets opened in {opened:.2f}s")
        assert layer_channels(client, prefix) >= channels_before + len(crowd)

        started = time.monotonic()
        await sender.send(json.dumps({"type": "message.send", "body": "to the crowd"}))
        await asyncio.gather(*(next_frame(ws, wait=30) for ws in crowd))
        to_crowd = time.monotonic() - started
        report(f"one broadcast reached all 1000 in {to_crowd:.3f}s")

        started = time.monotonic()
        await asyncio.gather(*(ws.close() for ws in crowd))
        for _ in range(300):  # up to 30 s for every disconnect to finish its cleanup
            if (layer_channels(client, prefix), presence_keys(client, prefix)) == (
                channels_before,
                presence_before,
            ):
                break
            await asyncio.sleep(0.1)
        cleaned = time.monotonic() - started
        report(
            f"after the close: {layer_channels(client, prefix)} layer channels (before the crowd"
            f" {channels_before}), presence {presence_keys(client, prefix)}"
            f" (before {presence_before})"
        )
        assert layer_channels(client, prefix) == channels_before
        assert presence_keys(client, prefix) == presence_before

        after = await broadcast_latency(sender, watcher)
    report(
        f"Redis clean {cleaned:.2f}s after the close; broadcast median before "
        f"{before * 1000:.1f} ms, after {after * 1000:.1f} ms"
    )
    assert after < before * 2 + 0.010
    assert server_errors(a) == []
    assert server_errors(b) == []


# Redis dies mid-run -----------------------------------------------------------------------------


@pytest.fixture
def outage_servers(service_database, seeded, own_redis, tmp_path):
    with two_daphnes(tmp_path, server_env(service_database, own_redis.url(), "outage")) as pair:
        yield pair


@contextlib.contextmanager
def two_daphnes(tmp_path, env: dict):
    """Two server processes with the same settings; both stopped afterwards."""
    started = []
    try:
        for _ in range(2):
            started.append(start_daphne(tmp_path, extra_env=env))
        yield started
    finally:
        for server in started:
            stop_daphne(server)


async def join_outcome(url: str, wait: float = 10) -> str:
    """How a new join ends: 'joined', 'closed <code>', 'http <status>' or 'hung'."""
    try:
        async with asyncio.timeout(wait):
            async with connect(url) as ws:
                try:
                    await next_frame(ws, "room.joined", wait=wait)
                    return "joined"
                except ConnectionClosed as closed:
                    return f"closed {closed.rcvd.code if closed.rcvd else None}"
    except InvalidStatus as refused:
        return f"http {refused.response.status_code}"
    except TimeoutError:
        return "hung"


async def test_redis_outage_keeps_open_sockets_refuses_joins_and_recovers(
    outage_servers, own_redis, seeded
):
    a, b = outage_servers
    async with (
        connect(room_url(a, seeded["alice"], "outage")) as on_a,
        connect(room_url(b, seeded["bob"], "outage")) as on_b,
    ):
        await next_frame(on_a, "room.joined")
        await next_frame(on_b, "room.joined")

        own_redis.stop()
        await asyncio.sleep(2)  # long enough for every process to notice the dead connections
        for ws in (on_a, on_b):
            pong = await ws.ping()
            await asyncio.wait_for(pong, 2)  # still open: daphne answers, no close frame came
        started = time.monotonic()
        outcome = await join_outcome(room_url(a, seeded["carol"], "outage"))
        refused_in = time.monotonic() - started
        assert outcome in {
            f"closed {CloseCode.INTERNAL_ERROR}",
            f"closed {CloseCode.TRY_AGAIN_LATER}",
        }, f"a join during the outage ended with {outcome!r}"
        assert refused_in < CHAT_LAYER_TIMEOUT + 2

        own_redis.start()
        deadline, outcome = time.monotonic() + 15, None
        while time.monotonic() < deadline and outcome != "joined":
            outcome = await join_outcome(room_url(b, seeded["erin"], "outage"), wait=5)
        assert outcome == "joined", "joins did not recover once Redis was back"
        # The sockets that lived through the outage hear the other process again.
        await asyncio.sleep(1)
        await on_b.send(json.dumps({"type": "message.send", "body": "after the outage"}))
        assert (await next_frame(on_a, wait=10))["body"] == "after the outage"


async def test_the_first_broadcast_after_redis_returns_reaches_everyone(
    outage_servers, own_redis, seeded
):
    """A pooled publish connection is dead after a Redis restart: the first send must still
    reach the other process (one retry on a fresh connection)."""
    a, b = outage_servers
    client = own_redis.client()
    async with (
        connect(room_url(a, seeded["alice"], "outage")) as on_a,
        connect(room_url(b, seeded["bob"], "outage")) as on_b,
    ):
        await next_frame(on_a, "room.joined")
        await next_frame(on_b, "room.joined")

        def subscriptions(client) -> int:
            channels = client.pubsub_channels()
            return sum(count for _, count in client.pubsub_numsub(*channels)) if channels else 0

        subscribed = subscriptions(client)
        own_redis.stop()
        await asyncio.sleep(2)  # both processes notice: their subscriptions drop
        own_redis.start()
        client = own_redis.client()
        deadline = time.monotonic() + 10
        while subscriptions(client) < subscribed and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # until both processes have subscribed again
        assert subscriptions(client) == subscribed
        await on_b.send(json.dumps({"type": "message.send", "body": "first", "client_id": "f1"}))
        assert (await next_frame(on_b, "message.ack"))["client_id"] == "f1"
        assert (await next_frame(on_a, wait=5))["body"] == "first"


async def test_a_stalled_redis_gets_handshakes_a_1013_and_keeps_open_sockets(
    outage_servers, own_redis, seeded
):
    """SIGSTOP: connections open and silent. A new handshake is answered 1013 within the
    Redis timeout (not left hanging), an open socket's send is stored and acknowledged (no
    1011), and everything works again once Redis resumes."""
    a, _ = outage_servers
    async with connect(room_url(a, seeded["alice"], "outage")) as alice:
        await next_frame(alice, "room.joined")
        own_redis.pause()
        try:
            started = time.monotonic()
            outcome = await join_outcome(room_url(a, seeded["carol"], "outage"), wait=20)
            answered_in = time.monotonic() - started
            await alice.send(
                json.dumps({"type": "message.send", "body": "during", "client_id": "s1"})
            )
            ack = await next_frame(alice, "message.ack", wait=20)
        finally:
            own_redis.resume()
        print(f"\n[stall] handshake answered {outcome!r} in {answered_in:.2f}s")
        assert outcome == f"closed {CloseCode.TRY_AGAIN_LATER}"
        assert answered_in < 4.5  # inside daphne's 5-s handshake timeout: a few 1-s Redis waits
        assert ack["client_id"] == "s1"
        deadline, outcome = time.monotonic() + 15, None
        while time.monotonic() < deadline and outcome != "joined":
            outcome = await join_outcome(room_url(a, seeded["erin"], "outage"), wait=5)
        assert outcome == "joined"
        pong = await alice.ping()
        await asyncio.wait_for(pong, 2)


# A revocation whose event is lost -------------------------------------------------------------

REVALIDATE = 2.0  # CHAT_REVALIDATE_SECONDS for these two servers (default 15)


@pytest.fixture
def revalidating_servers(service_database, seeded, own_redis, tmp_path):
    env = {
        **server_env(service_database, own_redis.url(), "revoke"),
        "CHAT_REVALIDATE_SECONDS": str(REVALIDATE),
    }
    with two_daphnes(tmp_path, env) as pair:
        yield pair


async def test_a_removal_made_while_redis_is_down_still_closes_every_socket(
    revalidating_servers, own_redis, seeded
):
    """Bob is removed through REST while Redis is down: the after-commit event is lost, and his
    sockets on both processes close 4003 all the same, within the re-check period of Redis'
    return (the in-band refresh cannot keep them either)."""
    a, b = revalidating_servers
    async with (
        connect(room_url(a, seeded["bob"], "outage")) as bob_on_a,
        connect(room_url(b, seeded["bob"], "outage")) as bob_on_b,
        connect(room_url(b, seeded["erin"], "outage")) as erin_on_b,
    ):
        for ws in (bob_on_a, bob_on_b, erin_on_b):
            await next_frame(ws, "room.joined")
        own_redis.stop()
        async with httpx.AsyncClient() as api:
            removed = await api.delete(
                f"{a.http}/api/rooms/outage/members/bob/",
                headers={"Authorization": f"Bearer {seeded['alice']}"},
                timeout=10,
            )
        assert removed.status_code == 204, removed.text
        removed_at = time.monotonic()
        own_redis.start()
        closes = await asyncio.gather(
            wait_close(bob_on_a, wait=REVALIDATE + 8), wait_close(bob_on_b, wait=REVALIDATE + 8)
        )
        assert [code for code, _ in closes] == [CloseCode.FORBIDDEN, CloseCode.FORBIDDEN]
        worst = max(at for _, at in closes) - removed_at
        print(f"\n[revoke] both sockets closed {worst:.2f}s after the lost removal")
        assert worst < REVALIDATE + 3
        pong = await erin_on_b.ping()
        await asyncio.wait_for(pong, 2)  # erin, still a member, stays
    for server in revalidating_servers:
        # channels_redis logs its subscriber's lost connection at ERROR itself; nothing else may.
        errors = [line for line in server_errors(server) if " ERROR " in line]
        assert [line for line in errors if "channels_redis.pubsub" not in line] == []


STORE_FROM_SHELL = """
from accounts.models import User
from chat.models import Message, Room
room = Room.objects.get(slug="outage")
carol = User.objects.get(username="carol")
message = Message.objects.create(room=room, author=carol, body={body!r})
print("SEQ=%d" % message.seq)
"""


async def test_a_broadcast_lost_while_redis_is_down_still_reaches_the_other_process(
    outage_servers, own_redis, seeded, service_database
):
    """A message stored from the shell while Redis is down: its broadcast is lost in the layer
    (logged, gone). Both sockets still get it, from the database, in order, without
    reconnecting; and the next message, stored once Redis is back, follows it."""
    a, b = outage_servers
    async with (
        # Members no other test of this module removes from the room.
        connect(room_url(a, seeded["crowd0"], "outage")) as on_a,
        connect(room_url(b, seeded["crowd1"], "outage")) as on_b,
    ):
        await next_frame(on_a, "room.joined")
        joined = await next_frame(on_b, "room.joined")
        own_redis.stop()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            **server_env(service_database, own_redis.url(), "outage"),
        }
        out = await asyncio.to_thread(
            manage, "shell", "-c", STORE_FROM_SHELL.format(body="while redis was down"), env=env
        )
        stored_at = int(out.split("SEQ=", 1)[1])
        assert stored_at == joined["seq"] + 1
        got = await next_frame(on_b, wait=10)  # CHAT_STREAM_CHECK_SECONDS (2 s) + the fill
        assert (got["body"], got["seq"]) == ("while redis was down", stored_at)
        own_redis.start()
        out = await asyncio.to_thread(
            manage, "shell", "-c", STORE_FROM_SHELL.format(body="after the outage"), env=env
        )
        got = await next_frame(on_b, wait=10)
        assert (got["body"], got["seq"]) == ("after the outage", stored_at + 1)
        assert (await next_frame(on_a, wait=10))["seq"] == stored_at  # A's socket, the same


# A process that dies hard --------------------------------------------------------------------

LEASE = 3.0  # CHAT_PRESENCE_LEASE_SECONDS for these two servers (default 15)
CAP = 3  # CHAT_MAX_SOCKETS_PER_USER for these two servers


async def test_a_killed_process_frees_its_users_within_the_presence_lease(
    service_database, shared_redis, seeded, tmp_path
):
    """SIGKILL a process holding bob's whole cap: the room hears bob go offline and bob can
    connect his whole cap on the survivor within the lease bound, not a day later."""
    url, _, _ = shared_redis
    env = {
        **server_env(service_database, url, f"kill{secrets.token_hex(4)}"),
        "CHAT_PRESENCE_LEASE_SECONDS": str(LEASE),
        "CHAT_MAX_SOCKETS_PER_USER": str(CAP),
    }
    doomed = start_daphne(tmp_path, extra_env=env)
    survivor = start_daphne(tmp_path, extra_env=env)
    held = []
    try:
        async with connect(room_url(survivor, seeded["alice"])) as alice:
            await next_frame(alice, "room.joined")
            for _ in range(CAP):
                held.append(await connect(room_url(doomed, seeded["bob"])))
                await next_frame(held[-1], "room.joined")
            assert await presence_of(alice, "bob") == "online"  # from the doomed process
            async with connect(room_url(survivor, seeded["bob"])) as one_more:
                code, _ = await wait_close(one_more)
            assert code == CloseCode.TOO_MANY_CONNECTIONS  # the cap holds across processes

            doomed.process.kill()  # no cleanup, no close frames
            killed_at = time.monotonic()
            # Lease plus one renewal period, plus slack for a busy machine: not a day later.
            gone = await asyncio.wait_for(presence_of(alice, "bob"), LEASE * 4 / 3 + 10)
            offline_after = time.monotonic() - killed_at
            assert gone == "offline"

            again = [await connect(room_url(survivor, seeded["bob"])) for _ in range(CAP)]
            for ws in again:
                assert (await next_frame(ws, "room.joined"))["online"][0] == "alice"
            free_after = time.monotonic() - killed_at
            for ws in again:
                await ws.close()
        print(
            f"\n[kill] lease {LEASE:.0f} s: bob offline after {offline_after:.1f} s, "
            f"his {CAP} sockets back on the survivor after {free_after:.1f} s"
        )
        assert offline_after <= LEASE * 4 / 3 + 10
    finally:
        for ws in held:
            ws.transport.abort()
        stop_daphne(survivor)
        doomed.process.wait(timeout=5)


class PresenceView:
    """One socket's idea of who is online: room.joined's list with every presence frame applied
    (what room.js does), read until the socket closes."""

    def __init__(self, ws) -> None:
        self.ws, self.online, self.last_frame_at = ws, set(), time.monotonic()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self.ws:
                frame = json.loads(text)
                if frame["type"] == "room.joined":
                    self.online = set(frame["online"])
                elif frame["type"] == "presence":
                    self.online = (self.online | set(frame["joined"])) - set(frame["left"])
                    self.last_frame_at = time.monotonic()


async def converged(views: list[PresenceView], expected: set[str], limit: float = 20.0) -> None:
    """Until every view equals ``expected`` (at most ``limit`` seconds), then one quiet second
    in which nothing changes it again."""
    deadline = time.monotonic() + limit
    # Polling views that reader tasks update, bounded by the deadline.
    while time.monotonic() < deadline and any(view.online != expected for view in views):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)


async def test_presence_stays_exact_through_churn_across_both_processes(servers, seeded):
    """Every crowd user opens a tab on each process at once; odd users then close both, even
    users close the first: joins and leaves of one user race across processes. Each watcher's
    view, built from presence diffs alone, ends exact, and so does a fresh socket's list."""
    a, b = servers
    users = [f"crowd{i}" for i in range(CROWD_USERS)]
    async with (
        connect(room_url(a, seeded["alice"])) as alice_ws,
        connect(room_url(b, seeded["bob"])) as bob_ws,
    ):
        views = [PresenceView(alice_ws), PresenceView(bob_ws)]

        async def churn(index: int, user: str) -> None:
            first, second = (a, b) if index % 2 else (b, a)
            tabs = await asyncio.gather(
                connect(room_url(first, seeded[user])), connect(room_url(second, seeded[user]))
            )
            for tab in tabs:
                await next_frame(tab, "room.joined")
            await tabs[0].close()
            if index % 2:
                await tabs[1].close()
            return None if index % 2 else tabs[1]

        kept = [ws for ws in await asyncio.gather(*map(churn, range(CROWD_USERS), users)) if ws]
        expected = {"alice", "bob"} | {user for i, user in enumerate(users) if i % 2 == 0}
        await converged(views, expected)
        for view in views:
            assert view.online == expected
        async with connect(room_url(b, seeded["carol"])) as fresh:
            assert set((await next_frame(fresh, "room.joined"))["online"]) == expected | {"carol"}

        await asyncio.gather(*(ws.close() for ws in kept), bob_ws.close())
        await converged(views[:1], {"alice"})
        assert views[0].online == {"alice"}
    for view in views:
        await view.reader
