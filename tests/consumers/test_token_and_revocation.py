"""Token sockets, and rules that hold for the whole life of a socket."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async

from accounts.credentials import AuthFailure, AuthMethod
from accounts.signals import revoke_credentials
from chat.models import Membership, Role, Room
from realtime.close_codes import CloseCode, ErrorCode

from ..tokens import access_token, bad_tokens
from ..unit.test_metrics import value

pytestmark = pytest.mark.django_db(transaction=True)


async def token_query(user, **kwargs) -> str:
    return "?token=" + await sync_to_async(access_token)(user, **kwargs)


async def test_token_user_joins_and_receives_session_users_broadcast(make_client, room_with_roles):
    _, users = room_with_roles
    bob = await make_client("lobby", query=await token_query(users["bob"]))
    alice = await make_client("lobby", users["alice"])
    await bob.join()
    await alice.join()
    await alice.send({"type": "message.send", "body": "hi token user"})
    assert (await bob.receive())["body"] == "hi token user"


async def test_each_bad_token_closes_4001_naming_the_class(make_client, room_with_roles):
    _, users = room_with_roles
    for failure, token in (await sync_to_async(bad_tokens)(users["bob"])).items():
        client = await make_client("lobby", query=f"?token={token}")
        assert await client.connect()
        frame = await client.receive()
        assert frame == {"type": "error", "code": ErrorCode.AUTH_FAILED, "detail": failure}
        assert token not in str(frame)
        assert await client.close_code() == CloseCode.UNAUTHENTICATED


async def test_token_closes_4001_when_it_expires_mid_connection(make_client, room_with_roles):
    _, users = room_with_roles
    # exp has whole-second resolution, so a 1-s token can be dead before the handshake ends on
    # a busy machine: 3 s leaves the join time and still expires mid-connection.
    bob = await make_client(
        "lobby", query=await token_query(users["bob"], lifetime=timedelta(seconds=3))
    )
    await bob.join()
    frame = await bob.receive(wait=6, skip=("presence", "auth.expiring"))
    assert frame["detail"] == AuthFailure.TOKEN_EXPIRED
    assert await bob.close_code() == CloseCode.UNAUTHENTICATED


async def test_membership_removed_closes_4003(make_client, room_with_roles):
    room, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    alice = await make_client("lobby", users["alice"])
    await bob.join()
    await alice.join()
    await sync_to_async(Membership.objects.filter(room=room, user=users["bob"]).delete)()
    assert await bob.close_code() == CloseCode.FORBIDDEN
    assert await alice.nothing_received()


async def test_role_lowered_to_reader_refuses_the_next_send(make_client, room_with_roles):
    room, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    await bob.join()
    membership = await sync_to_async(Membership.objects.get)(room=room, user=users["bob"])
    membership.role = Role.READER
    await sync_to_async(membership.save)()
    await asyncio.sleep(0.05)
    await bob.send({"type": "message.send", "body": "still here?"})
    assert (await bob.receive())["code"] == ErrorCode.FORBIDDEN


async def test_room_deleted_closes_4004(make_client, room_with_roles):
    _, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    await sync_to_async(Room.objects.filter(slug="lobby").delete)()
    assert await alice.close_code() == CloseCode.ROOM_NOT_FOUND


async def test_deactivated_user_closes_4001_everywhere(make_client, room_with_roles):
    _, users = room_with_roles
    bob_session = await make_client("lobby", users["bob"])
    bob_token = await make_client("lobby", query=await token_query(users["bob"]))
    await bob_session.join()
    await bob_token.join()
    users["bob"].is_active = False
    await sync_to_async(users["bob"].save)()
    for client in (bob_session, bob_token):
        assert (await client.receive())["detail"] == AuthFailure.USER_INACTIVE
        assert await client.close_code() == CloseCode.UNAUTHENTICATED


async def test_password_change_closes_token_and_cookie_sockets(make_client, room_with_roles):
    _, users = room_with_roles
    bob_session = await make_client("lobby", users["bob"])
    bob_token = await make_client("lobby", query=await token_query(users["bob"]))
    await bob_session.join()
    await bob_token.join()

    def change_password():
        users["bob"].set_password("a-whole-new-password")
        users["bob"].save()

    await sync_to_async(change_password)()
    assert (await bob_token.receive())["detail"] == AuthFailure.TOKEN_REVOKED
    assert await bob_token.close_code() == CloseCode.UNAUTHENTICATED
    assert (await bob_session.receive())["detail"] == AuthFailure.PASSWORD_CHANGED
    assert await bob_session.close_code() == CloseCode.UNAUTHENTICATED


async def test_logout_closes_only_that_sessions_sockets(make_client, room_with_roles):
    _, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    bob.communicator.scope["session"] = type("Session", (dict,), {"session_key": "abc"})()
    other_tab_elsewhere = await make_client("lobby", users["bob"])
    other_tab_elsewhere.communicator.scope["session"] = type(
        "Session", (dict,), {"session_key": "xyz"}
    )()
    await bob.join()
    await other_tab_elsewhere.join()
    await sync_to_async(revoke_credentials)(
        users["bob"].pk, AuthFailure.SESSION_ENDED, method=AuthMethod.SESSION, session_keys=["abc"]
    )
    assert (await bob.receive())["detail"] == AuthFailure.SESSION_ENDED
    assert await bob.close_code() == CloseCode.UNAUTHENTICATED
    assert await other_tab_elsewhere.nothing_received()


async def test_an_in_band_refresh_is_counted_as_auth_refresh(make_client, room_with_roles):
    _, users = room_with_roles
    bob = await make_client("lobby", query=await token_query(users["bob"]))
    await bob.join()
    before = value("chat_frames_received_total", type="auth.refresh")
    invalid = value("chat_frames_received_total", type="invalid")
    await bob.send({"type": "auth.refresh", "token": access_token(users["bob"])})
    assert (await bob.receive())["type"] == "auth.refreshed"
    assert value("chat_frames_received_total", type="auth.refresh") == before + 1
    assert value("chat_frames_received_total", type="invalid") == invalid
