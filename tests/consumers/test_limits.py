"""Abuse limits on a socket: the message budget and the 4008 flood close, the per-user and
per-process socket caps, binary frames, the failed-handshake budget per address."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message
from realtime.close_codes import CloseCode, ErrorCode
from realtime.runtime import runtime

from ..factories import MessageFactory
from ..tokens import access_token

pytestmark = pytest.mark.django_db(transaction=True)

count_messages = sync_to_async(lambda **filters: Message.objects.filter(**filters).count())
make_message = sync_to_async(MessageFactory)


async def test_rate_limit_refuses_excess_then_flood_closes_4008(
    make_client, room_with_roles, settings
):
    settings.CHAT_RATE_LIMIT_MESSAGES = 3
    settings.CHAT_RATE_LIMIT_SECONDS = 60
    settings.CHAT_FLOOD_CLOSE_AFTER = 2
    _, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    alice = await make_client("lobby", users["alice"])
    await bob.join()
    await alice.join()
    for i in range(3):
        await bob.send({"type": "message.send", "body": f"ok {i}"})
        assert (await bob.receive())["body"] == f"ok {i}"
    for _ in range(2):
        await bob.send({"type": "message.send", "body": "too many"})
        assert (await bob.receive())["code"] == ErrorCode.RATE_LIMITED
    await bob.send({"type": "message.send", "body": "still flooding"})
    assert await bob.close_code() == CloseCode.RATE_LIMITED
    # others keep working; refused messages were neither stored nor broadcast
    assert [(await alice.receive())["body"] for _ in range(3)] == ["ok 0", "ok 1", "ok 2"]
    assert await alice.nothing_received()
    assert await count_messages() == 3
    assert await count_messages(body__in=["too many", "still flooding"]) == 0


async def test_rate_limit_refills_over_time(make_client, room_with_roles, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_SECONDS = 0.4
    _, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    await bob.join()
    for body in ("a", "b"):
        await bob.send({"type": "message.send", "body": body})
        assert (await bob.receive())["body"] == body
    await bob.send({"type": "message.send", "body": "c"})
    assert (await bob.receive())["code"] == ErrorCode.RATE_LIMITED
    await asyncio.sleep(0.25)
    await bob.send({"type": "message.send", "body": "d"})
    assert (await bob.receive())["body"] == "d"


async def test_per_user_socket_cap_closes_4029(make_client, room_with_roles, settings):
    settings.CHAT_MAX_SOCKETS_PER_USER = 2
    _, users = room_with_roles
    first, second, third = [await make_client("lobby", users["bob"]) for _ in range(3)]
    await first.join()
    await second.join()
    assert await third.connect()
    assert await third.close_code() == CloseCode.TOO_MANY_CONNECTIONS
    await first.disconnect()
    again = await make_client("lobby", users["bob"])
    await again.join()  # a freed slot can be used again


async def test_per_process_socket_cap_closes_1013(make_client, room_with_roles, settings):
    settings.CHAT_MAX_SOCKETS_PER_PROCESS = 1
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    assert runtime().open_sockets == 1
    bob = await make_client("lobby", users["bob"])
    assert await bob.connect()
    assert await bob.close_code() == CloseCode.TRY_AGAIN_LATER
    await alice.disconnect()
    assert runtime().open_sockets == 0


async def test_binary_frame_gets_unsupported_frame(make_client, room_with_roles):
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    await alice.communicator.send_to(bytes_data=b"\x00" * 10)
    assert (await alice.receive())["code"] == ErrorCode.UNSUPPORTED_FRAME


async def test_token_socket_counts_toward_the_user_cap(make_client, room_with_roles, settings):
    settings.CHAT_MAX_SOCKETS_PER_USER = 1
    _, users = room_with_roles
    session = await make_client("lobby", users["bob"])
    await session.join()
    token = await sync_to_async(access_token)(users["bob"])
    via_token = await make_client("lobby", query=f"?token={token}")
    assert await via_token.connect()
    assert await via_token.close_code() == CloseCode.TOO_MANY_CONNECTIONS


async def test_failed_auth_crowd_from_one_address_is_refused_before_accept(
    make_client, room_with_roles, settings
):
    settings.CHAT_MAX_FAILED_AUTH_PER_ADDRESS = 3
    _, users = room_with_roles
    for _ in range(3):  # within budget: accepted, then a readable 4001
        anonymous = await make_client("lobby")
        assert await anonymous.connect()
        assert await anonymous.close_code() == CloseCode.UNAUTHENTICATED
    crowd = await make_client("lobby", query="?token=garbage")
    connected, _ = await crowd.communicator.connect()
    assert not connected  # refused at the handshake: daphne answers HTTP 403
    alice = await make_client("lobby", users["alice"])
    await alice.join()  # a real user from the same address still gets in


async def test_sockets_the_presence_store_finds_over_the_cap_close_4029_newest_only(
    make_client, room_with_roles
):
    # After Redis lost its counts, the store names the sockets past the per-user cap
    # (tests/unit/test_presence_redis.py); the process closes exactly those, 4029.
    _, users = room_with_roles
    older = await make_client("lobby", users["bob"])
    newer = await make_client("lobby", users["bob"])
    await older.join()
    await newer.join()
    state = runtime()
    sockets = {s.opened_at: s for s in state._open_sockets() if s.user.pk == users["bob"].pk}
    newest = sockets[max(sockets)]
    await state._close_over_cap([newest.channel_name])
    assert await newer.close_code() == CloseCode.TOO_MANY_CONNECTIONS
    assert await older.nothing_received()
