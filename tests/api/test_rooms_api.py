import pytest
from rest_framework.test import APIClient

from chat.models import Membership, Role

from ..factories import MessageFactory
from ..tokens import access_token

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
    return client


def test_unauthenticated_is_401(lobby):
    assert APIClient().get("/api/rooms/").status_code == 401


def test_room_list_shows_my_rooms_with_role(lobby):
    _, users = lobby
    response = client_for(users["dave"]).get("/api/rooms/")
    assert response.status_code == 200
    assert [(r["slug"], r["role"]) for r in response.data] == [("lobby", "reader")]
    assert client_for(users["carol"]).get("/api/rooms/").data == []


def test_session_auth_works_too(lobby, client):
    _, users = lobby
    client.force_login(users["bob"])
    assert client.get("/api/rooms/").json()[0]["slug"] == "lobby"


def test_create_room_makes_caller_owner(lobby):
    _, users = lobby
    response = client_for(users["carol"]).post(
        "/api/rooms/", {"slug": "carols", "name": "Carol's"}, format="json"
    )
    assert response.status_code == 201
    assert response.data["role"] == "owner"
    assert Membership.objects.get(room__slug="carols").user == users["carol"]


@pytest.mark.parametrize("slug", ["lobby", "Bad Slug", "", "x" * 60])
def test_create_room_validation_is_400(lobby, slug):
    _, users = lobby
    response = client_for(users["carol"]).post("/api/rooms/", {"slug": slug, "name": "n"})
    assert response.status_code == 400


def test_history_newest_first_and_cursor_paginated(lobby):
    room, users = lobby
    for i in range(55):
        MessageFactory(room=room, author=users["bob"], body=f"m{i}")
    first = client_for(users["dave"]).get("/api/rooms/lobby/messages/")
    assert first.status_code == 200
    assert len(first.data["results"]) == 50
    assert first.data["results"][0]["body"] == "m54"
    second = client_for(users["dave"]).get(first.data["next"])
    assert [m["body"] for m in second.data["results"]] == [f"m{i}" for i in range(4, -1, -1)]


@pytest.mark.parametrize("path", ["messages/", "members/"])
def test_non_member_gets_404_for_existing_and_missing_rooms(lobby, path):
    _, users = lobby
    carol = client_for(users["carol"])
    assert carol.get(f"/api/rooms/lobby/{path}").status_code == 404
    assert carol.get(f"/api/rooms/nowhere/{path}").status_code == 404


def test_members_may_list_members(lobby):
    _, users = lobby
    response = client_for(users["dave"]).get("/api/rooms/lobby/members/")
    assert response.status_code == 200
    assert {m["username"]: m["role"] for m in response.data} == {
        "alice": "owner",
        "bob": "member",
        "dave": "reader",
        "erin": "member",
    }


def test_owner_adds_a_member(lobby):
    _, users = lobby
    response = client_for(users["alice"]).post(
        "/api/rooms/lobby/members/", {"username": "carol", "role": "admin"}, format="json"
    )
    assert response.status_code == 201
    assert Membership.objects.get(user=users["carol"]).role == Role.ADMIN


def test_member_cannot_add_members(lobby):
    _, users = lobby
    response = client_for(users["bob"]).post(
        "/api/rooms/lobby/members/", {"username": "carol"}, format="json"
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user=users["carol"]).exists()


def test_admin_cannot_touch_owner_or_grant_admin(lobby):
    room, users = lobby
    Membership.objects.filter(room=room, user=users["bob"]).update(role=Role.ADMIN)
    bob = client_for(users["bob"])
    assert bob.delete("/api/rooms/lobby/members/alice/").status_code == 403
    granted = bob.post("/api/rooms/lobby/members/", {"username": "carol", "role": "admin"})
    assert granted.status_code == 403
    assert bob.post("/api/rooms/lobby/members/", {"username": "carol"}).status_code == 201
    assert bob.delete("/api/rooms/lobby/members/dave/").status_code == 204


def test_unknown_user_or_role_is_400(lobby):
    _, users = lobby
    alice = client_for(users["alice"])
    assert alice.post("/api/rooms/lobby/members/", {"username": "ghost"}).status_code == 400
    bad_role = alice.post("/api/rooms/lobby/members/", {"username": "carol", "role": "god"})
    assert bad_role.status_code == 400


def test_owner_removes_a_member(lobby):
    _, users = lobby
    assert client_for(users["alice"]).delete("/api/rooms/lobby/members/bob/").status_code == 204
    assert not Membership.objects.filter(user=users["bob"]).exists()
    assert client_for(users["alice"]).delete("/api/rooms/lobby/members/bob/").status_code == 404


def test_openapi_schema_is_served(lobby):
    _, users = lobby
    response = client_for(users["bob"]).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/rooms/{slug}/messages/" in response.content


def test_inactive_users_token_is_401(lobby):
    _, users = lobby
    client = client_for(users["bob"])
    users["bob"].is_active = False
    users["bob"].save()
    assert client.get("/api/rooms/").status_code == 401


def test_history_after_id_replays_oldest_first(lobby):
    room, users = lobby
    messages = [MessageFactory(room=room, author=users["bob"], body=f"m{i}") for i in range(60)]
    dave = client_for(users["dave"])
    page = dave.get(f"/api/rooms/lobby/messages/?after={messages[4].pk}")
    assert page.status_code == 200
    assert [m["body"] for m in page.data["results"]] == [f"m{i}" for i in range(5, 55)]
    rest = dave.get(page.data["next"])
    assert [m["body"] for m in rest.data["results"]] == [f"m{i}" for i in range(55, 60)]
    assert rest.data["next"] is None


@pytest.mark.parametrize("after", ["-1", "abc", "1.5", "9" * 30, ""])
def test_history_after_must_be_an_id(lobby, after):
    _, users = lobby
    assert (
        client_for(users["dave"]).get(f"/api/rooms/lobby/messages/?after={after}").status_code
        == 400
    )
