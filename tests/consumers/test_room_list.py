"""Protocol 3's live room list: every ``/ws/`` socket of a user hears ``membership.changed`` with
the room's ``hello`` entry when they are added or their role changes, and ``role: null`` when they
are removed, whether or not that socket has joined the room."""

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError

from chat import room_list, services
from chat.models import Membership, Role, Room

from ..factories import MembershipFactory, MessageFactory, RoomFactory
from .conftest import join

pytestmark = pytest.mark.django_db(transaction=True)


async def test_added_to_a_room_the_list_hears_its_entry_with_unread(open_socket, two_rooms):
    _lobby, _staff, users = two_rooms

    def make_garden():
        garden = RoomFactory(slug="garden", name="Garden")
        MessageFactory(room=garden, author=users["alice"])
        return garden

    garden = await sync_to_async(make_garden)()
    dave, _ = await open_socket(users["dave"])
    await sync_to_async(MembershipFactory)(room=garden, user=users["dave"], role=Role.MEMBER)
    assert await dave.receive() == {
        "type": "membership.changed",
        "room": "garden",
        "name": "Garden",
        "role": "member",
        "seq": 1,
        "read_seq": 0,
        "unread": 1,
    }
    assert (await join(dave, "garden"))["type"] == "room.joined"  # a join needs no new socket


async def test_a_role_change_in_a_joined_room_is_heard_and_applied(open_socket, two_rooms):
    lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    await join(bob, "lobby")
    await sync_to_async(services.membership_set)(
        room_id=lobby.pk, actor=users["alice"], username="bob", role=Role.READER
    )
    changed = await bob.receive()
    assert (changed["type"], changed["room"], changed["role"]) == (
        "membership.changed",
        "lobby",
        "reader",
    )
    await bob.send({"type": "message.send", "room": "lobby", "body": "hi", "client_id": "c1"})
    error = await bob.receive()
    assert (error["type"], error["room"], error["code"]) == ("error", "lobby", "forbidden")


async def test_every_socket_of_the_user_hears_a_removal_joined_or_not(open_socket, two_rooms):
    _lobby, staff, users = two_rooms
    joined_tab, _ = await open_socket(users["bob"])
    list_tab, _ = await open_socket(users["bob"])
    await join(joined_tab, "staff")
    await sync_to_async(Membership.objects.filter(room=staff, user=users["bob"]).delete)()
    left = await joined_tab.receive()
    assert (left["type"], left["room"], left["code"]) == ("room.left", "staff", 4003)
    removed = {"type": "membership.changed", "room": "staff", "role": None}
    assert await joined_tab.receive() == removed
    assert await list_tab.receive() == removed
    assert await list_tab.nothing_received()


async def test_a_deleted_room_says_room_left_only_to_sockets_in_it(open_socket, two_rooms):
    _lobby, staff, users = two_rooms
    in_room, _ = await open_socket(users["bob"])
    elsewhere, _ = await open_socket(users["bob"])
    await join(in_room, "staff")
    await sync_to_async(Room.objects.filter(pk=staff.pk).delete)()
    left = await in_room.receive()
    assert (left["type"], left["room"], left["code"]) == ("room.left", "staff", 4004)
    assert await in_room.nothing_received()
    # The list learns at its next join or hello: a join answers 4004, as for any missing room.
    assert (await join(elsewhere, "staff"))["code"] == 4004


async def test_a_database_fault_reading_the_change_keeps_the_socket(
    open_socket, two_rooms, monkeypatch
):
    lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    await join(bob, "lobby")

    def unreadable(**kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(room_list, "membership_entry", unreadable)
    await sync_to_async(services.membership_set)(
        room_id=lobby.pk, actor=users["alice"], username="bob", role=Role.MEMBER
    )
    assert await bob.nothing_received()
    await bob.send({"type": "room.read", "room": "lobby", "seq": 0})
    assert (await bob.receive())["type"] == "room.read"  # the socket carries on


async def test_another_users_change_is_not_heard(open_socket, two_rooms):
    lobby, _staff, users = two_rooms
    bob, _ = await open_socket(users["bob"])
    await sync_to_async(services.membership_set)(
        room_id=lobby.pk, actor=users["alice"], username="dave", role=Role.MEMBER
    )
    assert await bob.nothing_received()
