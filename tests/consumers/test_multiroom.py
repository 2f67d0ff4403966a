"""Protocol 3 at ``/ws/``: one socket, many rooms. Refusals and removals are frames about one
room; the socket and its other rooms carry on."""

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from chat import services
from chat.models import Membership, Message
from realtime import bus
from realtime.close_codes import CloseCode, ErrorCode
from realtime.runtime import reset_runtimes, runtime

from ..factories import MessageFactory
from ..tokens import access_token, ticket_for_token
from ..unit.test_metrics import value
from .conftest import Client, join

pytestmark = pytest.mark.django_db(transaction=True)

count_messages = sync_to_async(lambda **filters: Message.objects.filter(**filters).count())
make_message = sync_to_async(MessageFactory)


async def test_hello_lists_memberships_with_positions_and_unread(open_socket, two_rooms):
    lobby, _staff, users = two_rooms
    await make_message(room=lobby, author=users["alice"])
    await make_message(room=lobby, author=users["bob"])  # bob's own: not unread for him
    _, hello = await open_socket(users["bob"], subprotocols=["chat.v3"])
    assert hello["subprotocol"] == "chat.v3"
    assert hello["protocol"] == 3
    assert hello["user"] == "bob"
    assert hello["more"] is False
    assert hello["rooms"] == [
        {"room": "lobby", "name": "Lobby", "role": "member", "seq": 2, "read_seq": 0, "unread": 1},
        {"room": "staff", "name": "Staff", "role": "member", "seq": 0, "read_seq": 0, "unread": 0},
    ]


async def test_two_rooms_on_one_socket_each_frame_names_its_room(open_socket, two_rooms):
    _lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    joined = await join(bob, "lobby", ref="1")
    assert joined["type"] == "room.joined"
    assert joined["room"] == "lobby"
    assert joined["ref"] == "1"
    assert joined["protocol"] == 3
    assert joined["role"] == "member"
    assert (await join(bob, "staff", ref="2"))["room"] == "staff"
    await bob.send(
        {"type": "message.send", "room": "staff", "body": "hi", "client_id": "c1", "ref": "s"}
    )
    new = await bob.receive()
    assert (new["type"], new["room"], new["body"]) == ("message.new", "staff", "hi")
    ack = await bob.receive()
    assert (ack["type"], ack["room"], ack["ref"], ack["client_id"]) == (
        "message.ack",
        "staff",
        "s",
        "c1",
    )
    assert await bob.nothing_received()


async def test_refusals_keep_the_socket_and_say_4004_alike(open_socket, two_rooms):
    _lobby, _staff, users = two_rooms
    dave, _ = await open_socket(users["dave"])  # a reader in lobby, nothing in staff
    for room in ("staff", "no-such-room"):
        refused = await join(dave, room, ref=room)
        assert refused == {
            "type": "room.refused",
            "room": room,
            "ref": room,
            "code": CloseCode.ROOM_NOT_FOUND,
            "reason": "room_not_found",
        }
    assert (await join(dave, "lobby"))["type"] == "room.joined"


async def test_send_to_a_room_not_joined_is_an_error_and_stores_nothing(open_socket, two_rooms):
    _lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    await bob.send({"type": "message.send", "room": "lobby", "body": "hi", "ref": "x"})
    error = await bob.receive()
    assert (error["type"], error["code"], error["room"], error["ref"]) == (
        "error",
        ErrorCode.NOT_JOINED,
        "lobby",
        "x",
    )
    assert await count_messages() == 0


async def test_double_join_changes_nothing(open_socket, two_rooms):
    lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    await join(bob, "lobby")
    again = await join(bob, "lobby", ref="again")
    assert (again["type"], again["code"], again["ref"]) == (
        "error",
        ErrorCode.ALREADY_JOINED,
        "again",
    )
    await make_message(room=lobby, author=users["alice"])
    assert (await bob.receive())["type"] == "message.new"
    assert await bob.nothing_received()  # one delivery, not two
    assert runtime().presence.rooms[lobby.pk]["bob"] == 1


async def test_leave_then_no_more_deliveries_and_presence_gone(open_socket, two_rooms):
    lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    alice, _ = await open_socket(users["alice"])
    await join(alice, "lobby")
    await join(bob, "lobby")
    assert (await alice.receive(skip=()))["joined"] == ["bob"]
    await bob.send({"type": "room.leave", "room": "lobby", "ref": "l"})
    assert await bob.receive() == {
        "type": "room.left",
        "room": "lobby",
        "ref": "l",
        "code": 1000,
        "reason": "left",
    }
    presence = await alice.receive(skip=())
    assert (presence["type"], presence["left"], presence["room"]) == ("presence", ["bob"], "lobby")
    await make_message(room=lobby, author=users["alice"])
    assert await bob.nothing_received()


async def test_removal_and_deletion_are_room_left_and_the_socket_stays(open_socket, two_rooms):
    lobby, staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    await join(bob, "lobby")
    await join(bob, "staff")
    await sync_to_async(services.membership_remove)(
        room_id=lobby.pk, actor=users["alice"], username="bob"
    )
    assert await bob.receive() == {
        "type": "room.left",
        "room": "lobby",
        "ref": None,
        "code": CloseCode.FORBIDDEN,
        "reason": "membership_removed",
    }
    assert await bob.receive() == {"type": "membership.changed", "room": "lobby", "role": None}
    await sync_to_async(services.room_delete)(room_id=staff.pk, actor=users["alice"])
    left = await bob.receive()
    assert (left["type"], left["room"], left["code"], left["reason"]) == (
        "room.left",
        "staff",
        CloseCode.ROOM_NOT_FOUND,
        "room_deleted",
    )
    await bob.send({"type": "room.join", "room": "lobby"})
    assert (await bob.receive())["code"] == CloseCode.ROOM_NOT_FOUND  # still open, refused


async def test_a_lost_removal_leaves_one_room_at_the_next_check(
    open_socket, two_rooms, monkeypatch
):
    _lobby, staff, users = two_rooms
    token = await sync_to_async(access_token)(users["bob"])
    bob, _ = await open_socket(query=f"?token={token}")
    await join(bob, "lobby")
    await join(bob, "staff")
    monkeypatch.setattr(bus, "_send_after_commit", lambda group, event: None)  # events lost
    await sync_to_async(Membership.objects.filter(room=staff, user=users["bob"]).delete)()
    assert await bob.nothing_received()
    assert await runtime().revalidator.sweep() == 1
    left = await bob.receive()
    assert (left["type"], left["room"], left["reason"]) == (
        "room.left",
        "staff",
        "membership_removed",
    )
    await bob.send({"type": "room.read", "room": "lobby", "seq": 0})
    assert (await bob.receive())["type"] == "room.read"  # the socket and lobby carry on


async def test_revocation_closes_the_socket_4001(open_socket, two_rooms):
    _lobby, _staff, users = two_rooms
    token = await sync_to_async(access_token)(users["bob"])
    bob, _ = await open_socket(query=f"?token={token}")
    await join(bob, "lobby")
    await join(bob, "staff")
    user = users["bob"]
    user.is_active = False
    await sync_to_async(user.save)()
    assert await bob.close_code() == CloseCode.UNAUTHENTICATED


async def test_a_ticket_for_one_room_does_not_open_ws(two_rooms):
    _lobby, _staff, users = two_rooms
    ticket = await sync_to_async(ticket_for_token)(users["bob"], room="lobby")
    client = Client(f"/ws/?ticket={ticket}")
    assert await client.connect()
    assert await client.close_code() == CloseCode.UNAUTHENTICATED


@override_settings(CHAT_MAX_ROOMS_PER_SOCKET=1)
async def test_too_many_rooms(open_socket, two_rooms):
    reset_runtimes()
    _lobby, _staff, users = two_rooms
    bob, hello = await open_socket(users["bob"])
    assert len(hello["rooms"]) == 1
    assert hello["more"] is True
    await join(bob, "lobby")
    refused = await join(bob, "staff", ref="2")
    assert (refused["type"], refused["code"], refused["reason"]) == (
        "room.refused",
        CloseCode.TOO_MANY_CONNECTIONS,
        "too_many_rooms",
    )


@override_settings(CHAT_MAX_SOCKETS_PER_USER=1)
async def test_the_per_user_cap_counts_sockets_not_rooms(open_socket, make_client, two_rooms):
    reset_runtimes()
    _lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    assert (await join(bob, "lobby"))["type"] == "room.joined"
    assert (await join(bob, "staff"))["type"] == "room.joined"
    other = await make_client("lobby", users["bob"])
    assert await other.connect()
    assert await other.close_code() == CloseCode.TOO_MANY_CONNECTIONS


async def test_read_position_moves_forward_only_and_other_tabs_hear(open_socket, two_rooms):
    lobby, _staff, users = two_rooms
    for _ in range(3):
        await make_message(room=lobby, author=users["alice"])
    tab1, _ = await open_socket(users["bob"])
    tab2, _ = await open_socket(users["bob"])
    await join(tab1, "lobby")
    await tab1.send({"type": "room.read", "room": "lobby", "seq": 2, "ref": "r"})
    assert await tab1.receive() == {"type": "room.read", "room": "lobby", "seq": 2, "ref": "r"}
    assert await tab2.receive() == {"type": "room.read", "room": "lobby", "seq": 2}
    await tab1.send({"type": "room.read", "room": "lobby", "seq": 1})
    assert (await tab1.receive())["seq"] == 2  # never back
    _, hello = await open_socket(users["bob"])
    assert hello["rooms"][0] | {} == {
        "room": "lobby",
        "name": "Lobby",
        "role": "member",
        "seq": 3,
        "read_seq": 2,
        "unread": 1,
    }


async def test_resume_per_room_replays_what_was_missed(open_socket, two_rooms):
    lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    joined = await join(bob, "lobby")
    await bob.disconnect()
    missed = await make_message(room=lobby, author=users["alice"])
    again, _ = await open_socket(users["bob"])
    rejoined = await join(again, "lobby", since={"seq": joined["seq"], "epoch": joined["epoch"]})
    assert rejoined["recovered"] is True
    replayed = await again.receive()
    assert (replayed["id"], replayed["room"]) == (missed.pk, "lobby")


async def test_the_room_socket_is_unchanged_beside_it(open_socket, make_client, two_rooms):
    _lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    await join(bob, "lobby")
    alice = await make_client("lobby", users["alice"])
    joined = await alice.join()
    assert joined["protocol"] == 2
    assert "ref" not in joined
    await alice.send({"type": "message.send", "body": "hello"})
    assert (await alice.receive())["type"] == "message.new"
    assert (await bob.receive())["room"] == "lobby"


async def test_in_band_refresh_and_frame_metrics(open_socket, two_rooms):
    _lobby, _staff, users = two_rooms
    token = await sync_to_async(access_token)(users["bob"])
    bob, _ = await open_socket(query=f"?token={token}")
    joins = value("chat_frames_received_total", type="room.join")
    await join(bob, "lobby")
    assert value("chat_frames_received_total", type="room.join") == joins + 1
    fresh = await sync_to_async(access_token)(users["bob"])
    await bob.send({"type": "auth.refresh", "token": fresh})
    assert (await bob.receive())["type"] == "auth.refreshed"


async def test_malformed_commands_are_errors_and_the_socket_stays(open_socket, two_rooms):
    _lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    for frame in (
        {"type": "room.join"},
        {"type": "room.join", "room": "lobby", "since": {"seq": 1}},
        {"type": "room.read", "room": "lobby", "seq": -1},
        {"type": "room.join", "room": "lobby", "ref": ""},
        {"type": "message.send", "body": "no room"},
    ):
        await bob.send(frame)
        assert (await bob.receive())["code"] == ErrorCode.INVALID_MESSAGE, frame
    assert (await join(bob, "lobby"))["type"] == "room.joined"


async def test_over_the_cap_after_a_redis_restart_closes_the_whole_socket(open_socket, two_rooms):
    lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    await join(bob, "lobby")
    await join(bob, "staff")
    (view,) = runtime().fanout.rooms[lobby.pk]
    await runtime()._close_over_cap([view.channel_name])
    assert await bob.close_code() == CloseCode.TOO_MANY_CONNECTIONS


async def test_a_lost_revocation_closes_a_socket_in_no_room_at_the_next_check(
    open_socket, two_rooms, monkeypatch
):
    _lobby, _staff, users = two_rooms
    token = await sync_to_async(access_token)(users["bob"])
    bob, _ = await open_socket(query=f"?token={token}")
    monkeypatch.setattr(bus, "_send_after_commit", lambda group, event: None)  # events lost
    user = users["bob"]
    user.is_active = False
    await sync_to_async(user.save)()
    assert await bob.nothing_received()
    assert await runtime().revalidator.sweep() == 1
    assert (await bob.receive())["code"] == ErrorCode.AUTH_FAILED
    assert await bob.close_code() == CloseCode.UNAUTHENTICATED
