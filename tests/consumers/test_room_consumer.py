import json

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message
from realtime.close_codes import CloseCode, ErrorCode

pytestmark = pytest.mark.django_db(transaction=True)

count_messages = sync_to_async(lambda **filters: Message.objects.filter(**filters).count())


async def test_anonymous_is_accepted_then_closed_4001(make_client, room_with_roles):
    client = await make_client("lobby")
    assert await client.connect()
    assert (await client.receive())["code"] == ErrorCode.AUTH_FAILED
    assert await client.close_code() == CloseCode.UNAUTHENTICATED


async def test_unknown_room_closes_4004(make_client, room_with_roles):
    _, users = room_with_roles
    client = await make_client("no-such-room", users["alice"])
    assert await client.connect()
    assert await client.close_code() == CloseCode.ROOM_NOT_FOUND


async def test_non_member_closes_4004_like_a_missing_room(make_client, room_with_roles):
    """Outsiders cannot tell a room they may not see from no room (REST answers 404 alike)."""
    _, users = room_with_roles
    client = await make_client("lobby", users["carol"])
    assert await client.connect()
    assert await client.close_code() == CloseCode.ROOM_NOT_FOUND


async def test_message_is_saved_and_broadcast_to_every_member(make_client, room_with_roles):
    room, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    bob = await make_client("lobby", users["bob"])
    await alice.join()
    await bob.join()
    await alice.send({"type": "message.send", "body": "hello <b>bob</b>"})
    for client in (alice, bob):
        frame = await client.receive()
        assert frame["type"] == "message.new"
        assert frame["room"] == "lobby"
        assert frame["author"] == "alice"
        assert frame["body"] == "hello <b>bob</b>"
        assert frame["created_at"].endswith("+00:00")
    stored = await sync_to_async(Message.objects.get)(pk=frame["id"])
    assert stored.body == "hello <b>bob</b>"
    assert stored.room_id == room.pk


async def test_reader_cannot_send(make_client, room_with_roles):
    _, users = room_with_roles
    dave = await make_client("lobby", users["dave"])
    bob = await make_client("lobby", users["bob"])
    await dave.join()
    await bob.join()
    await dave.send({"type": "message.send", "body": "let me in"})
    assert (await dave.receive())["code"] == ErrorCode.FORBIDDEN
    assert await bob.nothing_received()
    assert await count_messages() == 0


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", ErrorCode.INVALID_JSON),
        ("[1]", ErrorCode.INVALID_MESSAGE),
        ({"type": "message.dance"}, ErrorCode.UNKNOWN_TYPE),
        ({"type": "message.send"}, ErrorCode.INVALID_BODY),
        ({"type": "message.send", "body": ""}, ErrorCode.INVALID_BODY),
        ({"type": "message.send", "body": 7}, ErrorCode.INVALID_BODY),
        ({"type": "message.send", "body": "x" * 4001}, ErrorCode.MESSAGE_TOO_LONG),
    ],
)
async def test_malformed_input_gets_error_frame_and_socket_stays_open(
    make_client, room_with_roles, frame, code
):
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    bob = await make_client("lobby", users["bob"])
    await alice.join()
    await bob.join()
    await alice.send(frame)
    error = await alice.receive()
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["detail"]
    assert await bob.nothing_received()
    assert await count_messages() == 0
    # still open and working
    await alice.send({"type": "message.send", "body": "after the error"})
    assert (await alice.receive())["body"] == "after the error"


async def test_binary_frame_is_refused_with_error(make_client, room_with_roles):
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    await alice.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await alice.receive())["code"] == ErrorCode.UNSUPPORTED_FRAME


async def test_oversized_frame_closes_1009(make_client, room_with_roles, settings):
    settings.CHAT_MAX_FRAME_BYTES = 1024
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    await alice.send(json.dumps({"type": "message.send", "body": "é" * 600}))  # 1,200+ bytes
    assert await alice.close_code() == CloseCode.MESSAGE_TOO_BIG
    assert await count_messages() == 0


async def test_unknown_socket_path_closes_4004(room_with_roles):
    from .conftest import Client

    client = Client("/ws/elsewhere/", room_with_roles[1]["alice"])
    assert await client.connect()
    assert await client.close_code() == CloseCode.ROOM_NOT_FOUND
