"""Deleting messages over a socket: who may delete what, and the room hears it, whatever path
deleted."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import Membership, Message, Role
from realtime.close_codes import ErrorCode

from ..factories import MessageFactory, RoomFactory

pytestmark = pytest.mark.django_db(transaction=True)

count_messages = sync_to_async(lambda **filters: Message.objects.filter(**filters).count())
make_message = sync_to_async(MessageFactory)


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
