"""Read positions over REST: the room list says where the caller is and what is unread; a POST
moves the position (never back, never past the room's head)."""

import pytest

from chat.models import Membership

from ..factories import MessageFactory
from .test_rooms_api import client_for

pytestmark = pytest.mark.django_db


def test_room_list_has_positions_and_unread_by_others(lobby):
    room, users = lobby
    MessageFactory(room=room, author=users["alice"])
    MessageFactory(room=room, author=users["bob"])
    MessageFactory(room=room, author=users["alice"])
    listed = client_for(users["bob"]).get("/api/rooms/").data
    assert [(r["slug"], r["seq"], r["read_seq"], r["unread"]) for r in listed] == [
        ("lobby", 3, 0, 2)
    ]


def test_post_moves_the_position_forward_only_and_caps_it(lobby):
    room, users = lobby
    for _ in range(3):
        MessageFactory(room=room, author=users["alice"])
    bob = client_for(users["bob"])
    assert bob.post("/api/rooms/lobby/read/", {"seq": 2}, format="json").data == {"seq": 2}
    assert bob.post("/api/rooms/lobby/read/", {"seq": 1}, format="json").data == {"seq": 2}
    assert bob.post("/api/rooms/lobby/read/", {"seq": 99}, format="json").data == {"seq": 3}
    assert Membership.objects.get(room=room, user=users["bob"]).read_seq == 3
    assert bob.get("/api/rooms/").data[0]["unread"] == 0


def test_post_refuses_non_members_and_bad_positions(lobby):
    _, users = lobby
    assert client_for(users["carol"]).post("/api/rooms/lobby/read/", {"seq": 1}).status_code == 404
    bob = client_for(users["bob"])
    for bad in (-1, "x", None, 2**63):
        response = bob.post("/api/rooms/lobby/read/", {"seq": bad}, format="json")
        assert response.status_code == 400, bad
