"""Room rules on the wire: roles per message, deletes, presence, abuse limits, faults."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat.models import Membership, Message, Role
from realtime.close_codes import CloseCode, ErrorCode
from realtime.runtime import runtime

from ..factories import MessageFactory, RoomFactory
from ..tokens import access_token

pytestmark = pytest.mark.django_db(transaction=True)

count_messages = sync_to_async(lambda **filters: Message.objects.filter(**filters).count())
make_message = sync_to_async(MessageFactory)


# Deletes ----------------------------------------------------------------------------------


async def test_member_deletes_own_message_and_room_hears_it(make_client, room_with_roles):
    room, users = room_with_roles
    # Created before the sockets join: a message created anywhere is broadcast (chat.events).
    message = await make_message(room=room, author=users["bob"])
    bob = await make_client("lobby", users["bob"])
    dave = await make_client("lobby", users["dave"])
    await bob.join()
    await dave.join()
    await bob.send({"type": "message.delete", "id": message.pk})
    for client in (bob, dave):
        # The room's stream: the message was its first event (seq 1), the deletion its second.
        assert await client.receive() == {"type": "message.deleted", "id": message.pk, "seq": 2}
    assert await count_messages() == 0


async def test_member_cannot_delete_anothers_message(make_client, room_with_roles):
    room, users = room_with_roles
    # Created before the sockets join: a message created anywhere is broadcast (chat.events).
    message = await make_message(room=room, author=users["alice"])
    bob = await make_client("lobby", users["bob"])
    await bob.join()
    await bob.send({"type": "message.delete", "id": message.pk})
    assert (await bob.receive())["code"] == ErrorCode.FORBIDDEN
    assert await count_messages() == 1


async def test_reader_cannot_delete_even_own_message(make_client, room_with_roles):
    room, users = room_with_roles
    # Created before the sockets join: a message created anywhere is broadcast (chat.events).
    message = await make_message(room=room, author=users["dave"])
    dave = await make_client("lobby", users["dave"])
    await dave.join()
    await dave.send({"type": "message.delete", "id": message.pk})
    assert (await dave.receive())["code"] == ErrorCode.FORBIDDEN
    assert await count_messages() == 1


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
async def test_admin_and_owner_delete_any_message(make_client, room_with_roles, role):
    room, users = room_with_roles
    # Created before the sockets join: a message created anywhere is broadcast (chat.events).
    message = await make_message(room=room, author=users["bob"])
    await sync_to_async(Membership.objects.filter(user=users["alice"]).update)(role=role)
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    await alice.send({"type": "message.delete", "id": message.pk})
    assert (await alice.receive())["type"] == "message.deleted"
    assert await count_messages() == 0


async def test_deleting_another_rooms_message_is_not_found(make_client, room_with_roles):
    _, users = room_with_roles
    other_room = await sync_to_async(RoomFactory)(slug="elsewhere")
    message = await make_message(room=other_room, author=users["alice"])
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    for missing in (message.pk, 999_999):
        await alice.send({"type": "message.delete", "id": missing})
        assert (await alice.receive())["code"] == ErrorCode.NOT_FOUND
    assert await count_messages() == 1


@pytest.mark.parametrize("bad_id", [None, "1", 0, -3, 1.5, True, 2**70])
async def test_delete_with_bad_id_is_invalid(make_client, room_with_roles, bad_id):
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    await alice.send({"type": "message.delete", "id": bad_id})
    assert (await alice.receive())["code"] == ErrorCode.INVALID_MESSAGE


async def test_delete_from_admin_or_orm_reaches_the_room(make_client, room_with_roles):
    room, users = room_with_roles
    # Created before the sockets join: a message created anywhere is broadcast (chat.events).
    message = await make_message(room=room, author=users["bob"])
    dave = await make_client("lobby", users["dave"])
    await dave.join()
    await sync_to_async(Message.objects.filter(pk=message.pk).delete)()
    assert await dave.receive() == {"type": "message.deleted", "id": message.pk, "seq": 2}


# Presence ---------------------------------------------------------------------------------


async def test_join_frame_lists_role_and_who_is_online(make_client, room_with_roles):
    room, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    assert await alice.join() == {
        "type": "room.joined",
        "protocol": 2,
        "room": "lobby",
        "role": "owner",
        "online": ["alice"],
        "seq": 0,  # the room's stream holds no event yet
        "epoch": room.epoch,
    }
    dave = await make_client("lobby", users["dave"])
    joined = await dave.join()
    assert joined["role"] == "reader"
    assert joined["online"] == ["alice", "dave"]
    # Others hear what changed, not the whole list.
    assert await alice.receive(skip=()) == {"type": "presence", "joined": ["dave"], "left": []}


async def test_a_joining_socket_hears_no_presence_frame_about_its_own_arrival(
    make_client, room_with_roles
):
    """room.joined already listed the joiner; a presence frame saying so again is noise."""
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    assert (await alice.join())["online"] == ["alice"]
    assert await alice.nothing_received(skip=())
    dave = await make_client("lobby", users["dave"])
    assert (await dave.join())["online"] == ["alice", "dave"]
    assert await alice.receive(skip=()) == {"type": "presence", "joined": ["dave"], "left": []}
    assert await dave.nothing_received(skip=())
    # A change after the join still reaches the newcomer.
    await alice.disconnect()
    assert await dave.receive(skip=()) == {"type": "presence", "joined": [], "left": ["alice"]}


async def test_user_with_two_tabs_is_online_once(make_client, room_with_roles):
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    bob_tab1 = await make_client("lobby", users["bob"])
    bob_tab2 = await make_client("lobby", users["bob"])
    await bob_tab1.join()
    assert (await alice.receive(skip=()))["joined"] == ["bob"]
    assert (await bob_tab2.join())["online"] == ["alice", "bob"]
    assert await alice.nothing_received(skip=())  # second tab: no new presence event
    await bob_tab1.disconnect()
    assert await alice.nothing_received(skip=())  # one tab left: still online
    await bob_tab2.disconnect()
    assert await alice.receive(skip=()) == {"type": "presence", "joined": [], "left": ["bob"]}


async def test_changes_within_one_window_arrive_as_one_frame(
    make_client, room_with_roles, settings
):
    """A burst of arrivals and departures costs each socket one frame per window, and a user who
    came and went within it is reported by their latest status only."""
    settings.CHAT_PRESENCE_WINDOW_SECONDS = 0.5  # wide enough for three handshakes on a busy CI
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    bob, dave = await make_client("lobby", users["bob"]), await make_client("lobby", users["dave"])
    await bob.join()
    await dave.join()
    await bob.disconnect()
    assert await alice.receive(skip=()) == {"type": "presence", "joined": ["dave"], "left": ["bob"]}
    assert await alice.nothing_received(skip=())


# Abuse limits -----------------------------------------------------------------------------


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


# Faults -----------------------------------------------------------------------------------


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
