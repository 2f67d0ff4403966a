"""Revocation and limits against a live daphne: a membership removed through REST, oversized
frames, the per-user and per-process caps, changes made in another process; nothing lost. (The
4008 flood close is tested where its rule lives: ``tests/consumers/test_limits.py``.)"""

import asyncio
import json
import secrets
import time

import httpx
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from chat.models import Message
from realtime.close_codes import CloseCode

from ..factories import PASSWORD
from ..live import next_frame, start_daphne, stop_daphne, wait_close
from ..tokens import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def url_for(server, user) -> str:
    return f"{server.ws}/ws/rooms/lobby/?token={access_token(user)}"


async def assert_nothing_lost(observed_ids: list[int], refused_bodies: set[str]) -> None:
    """Every broadcast message is stored exactly once; no refused message is stored."""
    stored = await sync_to_async(list)(Message.objects.values_list("id", "body"))
    stored_ids = [message_id for message_id, _ in stored]
    assert len(observed_ids) == len(set(observed_ids)), "a message was broadcast twice"
    assert sorted(observed_ids) == sorted(stored_ids)
    assert not refused_bodies & {body for _, body in stored}


async def test_membership_revoked_through_rest_closes_4003_within_a_second(
    live_daphne, lobby_users
):
    async with connect(url_for(live_daphne, lobby_users["bob"])) as bob:
        await next_frame(bob, "room.joined")
        started = time.monotonic()
        response = await asyncio.to_thread(
            httpx.delete,
            f"{live_daphne.http}/api/rooms/lobby/members/bob/",
            headers={"Authorization": f"Bearer {access_token(lobby_users['alice'])}"},
        )
        assert response.status_code == 204
        code, closed_at = await wait_close(bob)
    assert code == CloseCode.FORBIDDEN
    assert closed_at - started < 1.0


async def test_oversized_frame_closes_1009_and_others_are_unaffected(live_daphne, lobby_users):
    async with (
        connect(url_for(live_daphne, lobby_users["alice"]), max_size=None) as alice,
        connect(url_for(live_daphne, lobby_users["bob"])) as bob,
    ):
        await next_frame(alice, "room.joined")
        await next_frame(bob, "room.joined")
        await alice.send(json.dumps({"type": "message.send", "body": "x" * 70_000}))
        code, _ = await wait_close(alice)
        assert code == CloseCode.MESSAGE_TOO_BIG
        await bob.send(json.dumps({"type": "message.send", "body": "bob fine"}))
        frame = await next_frame(bob)
        assert frame["body"] == "bob fine"
    await assert_nothing_lost([frame["id"]], {"x" * 70_000})


async def test_eleventh_socket_of_a_user_closes_4029(live_daphne, lobby_users):
    url = url_for(live_daphne, lobby_users["bob"])
    sockets = [await connect(url) for _ in range(10)]
    try:
        for ws in sockets:
            await next_frame(ws, "room.joined")
        async with connect(url) as eleventh:
            code, _ = await wait_close(eleventh)
        assert code == CloseCode.TOO_MANY_CONNECTIONS
    finally:
        for ws in sockets:
            await ws.close()


# Changes made in another process reach the socket through Redis -------------------------------


@pytest.fixture
def redis_daphne(django_db_setup, redis_server, tmp_path, settings):
    from channels.layers import channel_layers

    redis_url = redis_server.url(db=2)
    prefix = f"rules{secrets.token_hex(4)}"  # this test's own: the server and this process agree
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",  # as base.py
            "CONFIG": {"hosts": [redis_url], "prefix": prefix},
        }
    }
    channel_layers.backends.clear()
    server = start_daphne(
        tmp_path, extra_env={"REDIS_URL": redis_url, "CHANNEL_LAYER_PREFIX": prefix}
    )
    yield server
    stop_daphne(server)
    channel_layers.backends.clear()


async def test_user_deactivated_in_another_process_closes_4001_within_a_second(
    redis_daphne, lobby_users
):
    bob = lobby_users["bob"]
    async with connect(url_for(redis_daphne, bob)) as ws:
        await next_frame(ws, "room.joined")
        started = time.monotonic()
        bob.is_active = False
        await sync_to_async(bob.save)()
        frame = await next_frame(ws, "error")
        code, closed_at = await wait_close(ws)
    assert frame["detail"] == "user_inactive"
    assert code == CloseCode.UNAUTHENTICATED
    assert closed_at - started < 1.0


async def test_login_join_and_broadcast_over_the_redis_layer(redis_daphne, lobby_users):
    response = await asyncio.to_thread(
        httpx.post,
        f"{redis_daphne.http}/api/auth/token/",
        json={"username": "bob", "password": PASSWORD},
    )
    token = response.json()["access"]
    async with (
        connect(f"{redis_daphne.ws}/ws/rooms/lobby/?token={token}") as bob,
        connect(url_for(redis_daphne, lobby_users["dave"])) as dave,
    ):
        assert (await next_frame(bob, "room.joined"))["online"] == ["bob"]
        assert (await next_frame(dave, "room.joined"))["online"] == ["bob", "dave"]
        await bob.send(json.dumps({"type": "message.send", "body": "via redis"}))
        for ws in (bob, dave):
            assert (await next_frame(ws))["body"] == "via redis"


@pytest.fixture
def two_socket_daphne(django_db_setup, tmp_path):
    server = start_daphne(tmp_path, extra_env={"CHAT_MAX_SOCKETS_PER_PROCESS": "2"})
    yield server
    stop_daphne(server)


async def test_process_at_capacity_closes_1013_on_the_wire(two_socket_daphne, lobby_users):
    """Also proves config.server_shims: autobahn alone would refuse to send 1013."""
    first = await connect(url_for(two_socket_daphne, lobby_users["alice"]))
    second = await connect(url_for(two_socket_daphne, lobby_users["bob"]))
    try:
        async with connect(url_for(two_socket_daphne, lobby_users["dave"])) as third:
            code, _ = await wait_close(third)
        assert code == CloseCode.TRY_AGAIN_LATER
    finally:
        await first.close()
        await second.close()
