import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
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


@pytest.mark.parametrize("slug", ["Bad Slug", "", "x" * 60, "caf\u00e9", "\u0661"])
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


def test_history_since_pages_forward_by_stream_position(lobby):
    room, users = lobby
    messages = [MessageFactory(room=room, author=users["bob"], body=f"m{i}") for i in range(60)]
    messages[7].delete()  # a deletion takes a position too (61), and m7 leaves the history
    MessageFactory(room=room, author=users["bob"], body="m60")  # 62
    dave = client_for(users["dave"])
    page = dave.get(f"/api/rooms/lobby/messages/?since={messages[4].seq}")
    assert page.status_code == 200
    expected = [f"m{i}" for i in range(5, 61) if i != 7]
    assert [m["body"] for m in page.data["results"]] == expected[:50]
    assert [m["seq"] for m in page.data["results"]][:3] == [6, 7, 9]
    rest = dave.get(page.data["next"])
    assert [m["body"] for m in rest.data["results"]] == expected[50:]
    assert rest.data["results"][-1]["seq"] == 62
    assert dave.get("/api/rooms/lobby/messages/?since=62").data["results"] == []


@pytest.mark.parametrize("since", ["-1", "abc", "\u00b2", "9" * 19, ""])
def test_history_since_must_be_a_position(lobby, since):
    _, users = lobby
    response = client_for(users["dave"]).get("/api/rooms/lobby/messages/", {"since": since})
    assert response.status_code == 400
    assert "since" in response.data


def test_history_takes_since_or_after_not_both(lobby):
    _, users = lobby
    response = client_for(users["dave"]).get(
        "/api/rooms/lobby/messages/", {"since": "0", "after": "0"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("after", ["-1", "abc", "1.5", "9" * 30, ""])
def test_history_after_must_be_an_id(lobby, after):
    _, users = lobby
    assert (
        client_for(users["dave"]).get(f"/api/rooms/lobby/messages/?after={after}").status_code
        == 400
    )


@pytest.mark.parametrize("slug", ["lobby", "staff"])
def test_slug_in_use_is_409_whether_or_not_the_caller_sees_the_room(lobby, slug):
    """carol is in neither room: the answer is the same as alice's (owner of lobby) would be."""
    _, users = lobby
    for name in ("carol", "alice"):
        response = client_for(users[name]).post("/api/rooms/", {"slug": slug, "name": "n"})
        assert response.status_code == 409
        assert response.data["detail"].code == "slug_unavailable"


def test_history_page_size_comes_from_the_setting(lobby, settings):
    room, users = lobby
    settings.CHAT_HISTORY_PAGE_SIZE = 7
    for i in range(10):
        MessageFactory(room=room, author=users["bob"], body=f"m{i}")
    page = client_for(users["dave"]).get("/api/rooms/lobby/messages/")
    assert len(page.data["results"]) == 7
    after = client_for(users["dave"]).get(f"/api/rooms/lobby/messages/?after={0}")
    assert len(after.data["results"]) == 7


@pytest.mark.parametrize(
    "after",
    [
        "\u00b2",  # superscript two: str.isdigit() says yes, int() says no (was a 500)
        "\u0663",  # Arabic-Indic three: int() accepts it; still not an id we wrote
        "\uff11",  # fullwidth one
        "1\x00",
        " 1",
        "+1",
        "0x1",
        "1_000",
        "9" * 19,
    ],
)
def test_history_after_must_be_ascii_digits(lobby, after):
    _, users = lobby
    response = client_for(users["dave"]).get("/api/rooms/lobby/messages/", {"after": after})
    assert response.status_code == 400


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


FORGED_CURSORS = {
    "not_base64": "%%%",
    "non_ascii": "\u00e9t\u00e9",
    "binary": base64.b64encode(b"\xff\xfe").decode(),
    "position_not_a_date": _cursor("p=abc"),
    "position_naive_date": _cursor("p=2024-01-01 00:00:00"),
    "position_year_10000": _cursor("p=9999-12-31 23:59:59-14:00"),
    "position_nul": _cursor("p=2024-01-01\x00"),
    "offset_unicode_digit": _cursor("o=\u0663"),
    "offset_huge": _cursor("o=99999999"),
    "reverse_unicode_digit": _cursor("r=\u0661"),
    "too_many_fields": _cursor("o=1&r=0&p=1&x=1"),
    "very_long": "A" * 5000,
}


@pytest.mark.parametrize("after", [None, "1"])
@pytest.mark.parametrize("name", list(FORGED_CURSORS))
def test_forged_cursor_is_400(lobby, name, after):
    room, users = lobby
    MessageFactory(room=room, author=users["bob"])
    params = {"cursor": FORGED_CURSORS[name]}
    if after is not None:
        params["after"] = after
    response = client_for(users["dave"]).get("/api/rooms/lobby/messages/", params)
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("position", ["abc", "1.5", "\u0663", "9" * 30])
def test_forged_catch_up_position_is_400(lobby, position):
    _, users = lobby
    params = {"after": "0", "cursor": _cursor(f"p={position}")}
    response = client_for(users["dave"]).get("/api/rooms/lobby/messages/", params)
    assert response.status_code == 400


def test_cursors_the_server_wrote_still_work(lobby):
    room, users = lobby
    for i in range(120):
        MessageFactory(room=room, author=users["bob"], body=f"m{i}")
    dave = client_for(users["dave"])
    seen, url = [], "/api/rooms/lobby/messages/"
    while url:
        page = dave.get(url)
        assert page.status_code == 200
        seen += [m["body"] for m in page.data["results"]]
        if page.data["previous"]:
            assert dave.get(page.data["previous"]).status_code == 200
        url = page.data["next"]
    assert seen == [f"m{i}" for i in range(119, -1, -1)]


@given(value=st.text(max_size=30))
@hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_after_or_cursor_is_answered_without_a_500(lobby, value):
    _, users = lobby
    dave = client_for(users["dave"])
    for params in ({"after": value}, {"cursor": value}, {"cursor": _cursor(f"p={value}")}):
        assert dave.get("/api/rooms/lobby/messages/", params).status_code in (200, 400)


# Members: nothing tells an outsider to management what exists -----------------------------


@pytest.mark.parametrize("username", ["carol", "ghost"])
def test_plain_member_gets_403_whether_or_not_the_user_exists(lobby, username):
    _, users = lobby
    bob = client_for(users["bob"])
    added = bob.post("/api/rooms/lobby/members/", {"username": username}, format="json")
    assert added.status_code == 403
    assert bob.delete(f"/api/rooms/lobby/members/{username}/").status_code == 403


@pytest.mark.parametrize("username", ["ghost", "carol", "x" * 200, "a b", "\u00e9\u0000"])
def test_removing_a_non_member_is_404(lobby, username):
    _, users = lobby
    response = client_for(users["alice"]).delete(f"/api/rooms/lobby/members/{quote(username)}/")
    assert response.status_code == 404


@pytest.mark.parametrize("username", ["x" * 200, "a\x00b", "\ud800"])
def test_absurd_username_in_a_body_is_400(lobby, username):
    _, users = lobby
    body = json.dumps({"username": username})
    response = client_for(users["alice"]).post(
        "/api/rooms/lobby/members/", body, content_type="application/json"
    )
    assert response.status_code == 400


# A room keeps an owner -------------------------------------------------------------------


def test_the_only_owner_cannot_remove_or_demote_themself(lobby):
    room, users = lobby
    alice = client_for(users["alice"])
    removed = alice.delete("/api/rooms/lobby/members/alice/")
    assert removed.status_code == 409
    assert removed.data["detail"].code == "last_owner"
    demoted = alice.post("/api/rooms/lobby/members/", {"username": "alice", "role": "member"})
    assert demoted.status_code == 409
    assert Membership.objects.get(room=room, user=users["alice"]).role == Role.OWNER


def test_an_owner_steps_down_after_transferring_ownership(lobby):
    room, users = lobby
    alice = client_for(users["alice"])
    assert (
        alice.post("/api/rooms/lobby/members/", {"username": "bob", "role": "owner"}).status_code
        == 200
    )
    assert (
        alice.post("/api/rooms/lobby/members/", {"username": "alice", "role": "admin"}).status_code
        == 200
    )
    assert client_for(users["bob"]).delete("/api/rooms/lobby/members/alice/").status_code == 204
    assert list(
        Membership.objects.filter(room=room, role=Role.OWNER).values_list(
            "user__username", flat=True
        )
    ) == ["bob"]


# DELETE /api/rooms/<slug>/ --------------------------------------------------------------------


def test_an_owner_deletes_a_room_with_its_history(lobby):
    room, users = lobby
    MessageFactory(room=room, author=users["bob"])
    assert client_for(users["alice"]).delete("/api/rooms/lobby/").status_code == 204
    assert not Membership.objects.filter(room_id=room.pk).exists()
    assert client_for(users["alice"]).get("/api/rooms/lobby/messages/").status_code == 404


@pytest.mark.parametrize(("username", "status"), [("bob", 403), ("dave", 403), ("carol", 404)])
def test_only_owners_delete_rooms_and_outsiders_learn_nothing(lobby, username, status):
    _, users = lobby
    assert client_for(users[username]).delete("/api/rooms/lobby/").status_code == status
    assert client_for(users["alice"]).get("/api/rooms/lobby/messages/").status_code == 200


def test_deleting_a_missing_room_is_404(lobby):
    _, users = lobby
    assert client_for(users["alice"]).delete("/api/rooms/nope/").status_code == 404
