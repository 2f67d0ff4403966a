"""chat.events: every write reaches the room once, whatever made it; one failure policy."""

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from chat.channel import RoomChannel
from chat.models import Membership, Message
from realtime.close_codes import CloseCode

from ..factories import MessageFactory, RoomFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def test_message_created_through_the_orm_is_broadcast_once(make_client, room_with_roles):
    room, users = room_with_roles
    dave = await make_client("lobby", users["dave"])
    await dave.join()
    message = await sync_to_async(Message.objects.create)(
        room=room, author=users["alice"], body="from the shell"
    )
    frame = await dave.receive()
    assert (frame["type"], frame["id"], frame["body"]) == (
        "message.new",
        message.pk,
        "from the shell",
    )
    assert (frame["author"], frame["room"]) == ("alice", "lobby")
    assert await dave.nothing_received()  # exactly once


async def test_message_sent_on_a_socket_is_broadcast_once(make_client, room_with_roles):
    _, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    dave = await make_client("lobby", users["dave"])
    await bob.join()
    await dave.join()
    await bob.send({"type": "message.send", "body": "once"})
    for client in (bob, dave):
        assert (await client.receive())["body"] == "once"
        assert await client.nothing_received()


async def test_rolled_back_message_is_never_broadcast(make_client, room_with_roles):
    room, users = room_with_roles
    dave = await make_client("lobby", users["dave"])
    await dave.join()

    def create_then_roll_back():
        with transaction.atomic():
            MessageFactory(room=room, author=users["alice"])
            transaction.set_rollback(True)

    await sync_to_async(create_then_roll_back)()
    assert await dave.nothing_received()


async def test_message_in_another_room_is_not_heard(make_client, room_with_roles):
    _, users = room_with_roles
    elsewhere = await sync_to_async(RoomFactory)(slug="elsewhere")
    dave = await make_client("lobby", users["dave"])
    await dave.join()
    await sync_to_async(MessageFactory)(room=elsewhere, author=users["alice"])
    assert await dave.nothing_received()


async def test_role_change_goes_to_the_member_not_the_room(
    make_client, room_with_roles, monkeypatch
):
    """membership.changed travels to the user's group: other members' sockets never see it."""
    room, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    bob = await make_client("lobby", users["bob"])
    await alice.join()
    await bob.join()
    heard_by = []
    original = RoomChannel.membership_changed

    async def spy(self, event):
        heard_by.append(self.user.username)
        await original(self, event)

    monkeypatch.setattr(RoomChannel, "membership_changed", spy)
    await sync_to_async(Membership.objects.filter(room=room, user=users["bob"]).delete)()
    assert await bob.close_code() == CloseCode.FORBIDDEN
    assert heard_by == ["bob"]
    assert await alice.nothing_received()


async def test_bug_in_a_room_event_handler_closes_only_that_socket_1011(
    make_client, room_with_roles, caplog, monkeypatch
):
    room, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    dave = await make_client("lobby", users["dave"])
    await bob.join()
    await dave.join()
    original = RoomChannel.message_new

    async def broken_for_bob(self, event):
        if self.user.username == "bob":
            raise RuntimeError("handler bug")
        await original(self, event)

    monkeypatch.setattr(RoomChannel, "message_new", broken_for_bob)
    await sync_to_async(MessageFactory)(room=room, author=users["alice"], body="hello")
    assert await bob.close_code() == CloseCode.INTERNAL_ERROR
    assert (await dave.receive())["body"] == "hello"
    tracebacks = [r for r in caplog.records if r.exc_info and "closing 1011" in r.getMessage()]
    assert len(tracebacks) == 1
