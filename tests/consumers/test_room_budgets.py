"""Protocol 3's budgets: joining, leaving and reading rooms spend the room-command budget, never
the frames a user sends messages with; past it a join is refused about its room and the socket
stays."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import Role, Room
from realtime.close_codes import CloseCode, ErrorCode
from realtime.metrics import RateLimitKind

from ..factories import MembershipFactory, RoomFactory
from ..unit.test_metrics import value
from .conftest import join

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def many_rooms(room_with_roles):
    """bob in lobby, staff and five more rooms."""
    _, users = room_with_roles

    def make():
        rooms = [Room.objects.get(slug="staff")]
        rooms += [RoomFactory(slug=f"room-{i}", name=f"Room {i}") for i in range(5)]
        for room in rooms:
            MembershipFactory(room=room, user=users["bob"], role=Role.MEMBER)
        return ["lobby"] + [room.slug for room in rooms]

    return await sync_to_async(make)(), users


async def test_joining_more_rooms_than_the_message_budget_leaves_it_whole(
    open_socket, many_rooms, settings
):
    slugs, users = many_rooms
    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_SECONDS = 600
    settings.CHAT_MAX_HANDSHAKES_PER_USER = 2  # this socket's handshake and one more
    bob, _ = await open_socket(users["bob"])
    for slug in slugs:
        assert (await join(bob, slug, ref=slug))["type"] == "room.joined"
    await bob.send({"type": "room.read", "room": "lobby", "seq": 0})
    assert (await bob.receive())["type"] == "room.read"
    for body in ("one", "two"):  # the whole message budget is still there
        await bob.send({"type": "message.send", "room": "lobby", "body": body})
        assert (await bob.receive())["body"] == body
    await bob.send({"type": "message.send", "room": "lobby", "body": "three"})
    assert (await bob.receive())["code"] == ErrorCode.RATE_LIMITED
    _, second = await open_socket(users["bob"])  # joins spent no handshakes either
    assert second["type"] == "hello"


async def test_past_the_room_budget_a_join_is_refused_and_the_socket_stays(
    open_socket, many_rooms, settings
):
    slugs, users = many_rooms
    settings.CHAT_RATE_LIMIT_ROOM_COMMANDS = 3
    settings.CHAT_RATE_LIMIT_ROOM_SECONDS = 600
    settings.CHAT_FLOOD_CLOSE_AFTER = 2
    refused_before = value("chat_rate_limited_total", kind=RateLimitKind.ROOM_COMMANDS)
    bob, _ = await open_socket(users["bob"])
    for slug in slugs[:2]:
        assert (await join(bob, slug))["type"] == "room.joined"
    await bob.send({"type": "room.read", "room": "lobby", "seq": 0})
    assert (await bob.receive())["type"] == "room.read"  # the third command
    assert await join(bob, slugs[2], ref="x") == {
        "type": "room.refused",
        "room": slugs[2],
        "ref": "x",
        "code": CloseCode.TRY_AGAIN_LATER,
        "reason": "too_many_joins",
    }
    await bob.send({"type": "room.read", "room": "lobby", "seq": 0})
    assert (await bob.receive())["code"] == ErrorCode.RATE_LIMITED
    refused = value("chat_rate_limited_total", kind=RateLimitKind.ROOM_COMMANDS)
    assert refused - refused_before == 2
    await bob.send({"type": "message.send", "room": "lobby", "body": "still here"})
    assert (await bob.receive())["body"] == "still here"  # messages have their own budget


async def test_room_commands_past_the_budget_close_4008_like_any_flood(
    open_socket, many_rooms, settings
):
    _slugs, users = many_rooms
    settings.CHAT_RATE_LIMIT_ROOM_COMMANDS = 1
    settings.CHAT_RATE_LIMIT_ROOM_SECONDS = 600
    settings.CHAT_FLOOD_CLOSE_AFTER = 2
    bob, _ = await open_socket(users["bob"])
    await join(bob, "lobby")
    for _ in range(2):
        await bob.send({"type": "room.leave", "room": "lobby"})
        assert (await bob.receive())["code"] == ErrorCode.RATE_LIMITED
    await bob.send({"type": "room.leave", "room": "lobby"})
    assert await bob.close_code() == CloseCode.RATE_LIMITED
