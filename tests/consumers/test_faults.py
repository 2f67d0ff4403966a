"""Faults: a connect that goes wrong part-way leaves nothing behind, and counts against the
process cap from its first step; a channel layer down at connect is 1013; a database or a Redis
that cannot answer never turns a client's frame into a 1011; a handler's bug closes only its
own socket."""

import asyncio
import threading

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from chat import selectors
from realtime.budgets import RedisBudget
from realtime.close_codes import CloseCode, ErrorCode
from realtime.runtime import runtime

from ..tokens import access_token
from .conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)


async def test_concurrent_handshakes_never_overshoot_the_process_cap(
    make_client, room_with_roles, settings, monkeypatch
):
    """Five handshakes at once, each to wait on the database: two places, three 1013s, before
    any of them went live."""
    settings.CHAT_MAX_SOCKETS_PER_PROCESS = 2
    _, users = room_with_roles
    real = selectors.connect_access
    arrived, release = threading.Semaphore(0), threading.Event()

    def slow(**kwargs):
        arrived.release()
        release.wait(5)
        return real(**kwargs)

    monkeypatch.setattr(selectors, "connect_access", slow)
    clients = [
        await make_client("lobby", query=f"?token={access_token(users[name])}")
        for name in ("alice", "bob", "erin", "dave", "alice")
    ]
    connects = [asyncio.ensure_future(client.connect()) for client in clients]
    # The first is at the database (one thread: the others with a place queue behind it).
    assert await asyncio.to_thread(arrived.acquire, timeout=5)
    await asyncio.sleep(0.2)  # the three without a place were answered meanwhile
    release.set()
    await asyncio.gather(*connects)
    outcomes = []
    for client in clients:
        frame = await client.communicator.receive_output(timeout=2)
        if frame["type"] == "websocket.send":
            outcomes.append("joined")
        else:
            outcomes.append(frame["code"])
    assert sorted(outcomes, key=str) == sorted(
        ["joined", "joined", *[CloseCode.TRY_AGAIN_LATER] * 3], key=str
    )
    assert (runtime().open_sockets, runtime().connecting) == (2, 0)


async def test_a_connect_cancelled_on_the_database_leaves_no_presence_slot_or_fanout(
    make_client, room_with_roles, settings, monkeypatch
):
    """A resume read stuck on a lock; the client leaves and the connect is cancelled: bob is
    not online, holds no socket slot, and the room's fan-out does not hold the dead socket."""
    settings.CHAT_MAX_SOCKETS_PER_USER = 1
    _, users = room_with_roles
    stuck, release = threading.Event(), threading.Event()
    real = selectors.replay_after

    def locked(**kwargs):
        stuck.set()
        release.wait(5)
        return real(**kwargs)

    monkeypatch.setattr(selectors, "replay_after", locked)
    bob = Client(f"/ws/rooms/lobby/?token={access_token(users['bob'])}&after=0")
    connecting = asyncio.ensure_future(bob.connect())
    assert await asyncio.to_thread(stuck.wait, 5)
    bob.communicator.future.cancel()  # what daphne does to an instance that will not finish
    with pytest.raises((asyncio.CancelledError, Exception)):
        await connecting
    release.set()
    await asyncio.sleep(0.2)  # the shielded undo runs to its end
    assert runtime().fanout.rooms == {}
    assert runtime().connecting == 0
    monkeypatch.setattr(selectors, "replay_after", real)
    again = await make_client("lobby", query=f"?token={access_token(users['bob'])}")
    joined = await again.join()  # his one socket slot is free again
    assert joined["online"] == ["bob"]
    erin = await make_client("lobby", query=f"?token={access_token(users['erin'])}")
    assert sorted((await erin.join())["online"]) == ["bob", "erin"]


class UnreachableRedis:
    def register_script(self, source):
        async def run(**kwargs):
            raise RedisConnectionError("Connection refused")

        return run


async def test_a_redis_budget_meters_per_process_while_redis_is_down():
    budget = RedisBudget(UnreachableRedis(), prefix="b", capacity=3, per_seconds=60)
    answers = [await budget.allow("user:1") for _ in range(5)]
    assert answers == [True, True, True, False, False]  # a flood is still stopped
    assert await budget.allow("user:2")


async def test_frames_while_redis_is_down_are_answered_not_closed(
    make_client, room_with_roles, monkeypatch
):
    _, users = room_with_roles
    bob = await make_client("lobby", query=f"?token={access_token(users['bob'])}")
    await bob.join()
    monkeypatch.setattr(
        runtime(),
        "message_budget",
        RedisBudget(UnreachableRedis(), prefix="m", capacity=10, per_seconds=10),
    )
    await bob.send({"type": "message.send", "body": "still here", "client_id": "k1"})
    assert (await bob.receive())["type"] in {"message.new", "message.ack"}
    await bob.send("not json")
    assert (await bob.receive(skip=("presence", "message.new", "message.ack")))["code"] == (
        ErrorCode.INVALID_JSON
    )


async def test_channel_layer_down_at_connect_closes_1013(make_client, room_with_roles, monkeypatch):
    from channels.layers import InMemoryChannelLayer

    async def refuse(*args, **kwargs):
        raise ConnectionError("layer down")

    monkeypatch.setattr(InMemoryChannelLayer, "group_add", refuse)
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    assert await alice.connect()
    assert await alice.close_code() == CloseCode.TRY_AGAIN_LATER


async def test_database_error_on_send_gets_unavailable_and_nothing_is_sent(
    make_client, room_with_roles, monkeypatch
):
    from django.db import OperationalError

    from chat import services

    def locked(**kwargs):
        raise OperationalError("database is locked")

    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    bob = await make_client("lobby", users["bob"])
    await alice.join()
    await bob.join()
    monkeypatch.setattr(services, "message_create", locked)
    await alice.send({"type": "message.send", "body": "lost?"})
    assert (await alice.receive())["code"] == ErrorCode.UNAVAILABLE
    assert await bob.nothing_received()
    monkeypatch.undo()
    await alice.send({"type": "message.send", "body": "back"})
    assert (await bob.receive())["body"] == "back"


async def test_handler_bug_closes_only_that_socket_1011(
    make_client, room_with_roles, monkeypatch, caplog
):
    from chat.channel import RoomChannel

    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    bob = await make_client("lobby", users["bob"])
    await alice.join()
    await bob.join()
    original = RoomChannel._handle_send

    async def buggy(self, command):
        if command.body == "boom":
            raise RuntimeError("bug")
        await original(self, command)

    monkeypatch.setattr(RoomChannel, "_handle_send", buggy)
    await alice.send({"type": "message.send", "body": "boom"})
    assert await alice.close_code() == CloseCode.INTERNAL_ERROR
    tracebacks = [r for r in caplog.records if r.exc_info and "closing 1011" in r.getMessage()]
    assert len(tracebacks) == 1
    await bob.send({"type": "message.send", "body": "fine"})
    assert (await bob.receive())["body"] == "fine"


@pytest.mark.parametrize(
    "failure",
    [RedisConnectionError("Redis gone"), AttributeError("'NoneType' has no 'writelines'")],
    ids=["connection-error", "redis-py-race"],
)
async def test_a_layer_failing_at_close_still_frees_the_socket_and_its_presence(
    make_client, room_with_roles, monkeypatch, caplog, failure
):
    """The layer cannot discard the closing socket's groups (Redis gone mid-command; redis-py's
    writer already torn down): the close still leaves the room's presence, the process's count
    and the audit line, and nobody else notices."""
    from channels.layers import InMemoryChannelLayer

    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    bob = await make_client("lobby", users["bob"])
    await alice.join()
    await bob.join()
    assert runtime().open_sockets == 2

    async def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(InMemoryChannelLayer, "group_discard", broken)
    await bob.disconnect()
    assert await alice.receive(skip=()) == {"type": "presence", "joined": [], "left": ["bob"]}
    assert runtime().open_sockets == 1
    assert "socket close" in caplog.text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
