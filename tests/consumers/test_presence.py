"""Who is online: room.joined's list and the presence frames after it."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message

from ..factories import MessageFactory

pytestmark = pytest.mark.django_db(transaction=True)

count_messages = sync_to_async(lambda **filters: Message.objects.filter(**filters).count())
make_message = sync_to_async(MessageFactory)


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
