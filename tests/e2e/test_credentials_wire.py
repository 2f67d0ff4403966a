"""A socket's credentials on the wire, against a live daphne: one-time tickets, the
Sec-WebSocket-Protocol bearer, refresh over the open socket; every failure class as a client
sees it."""

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from accounts.credentials import AuthFailure
from realtime.close_codes import CloseCode

from ..live import next_frame, refused_with, start_daphne, stop_daphne, wait_close
from ..tokens import access_token, refresh_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def ticket_for(server, user, **body) -> str:
    response = httpx.post(
        f"{server.http}/api/auth/ws-ticket/",
        json=body,
        headers={"Authorization": f"Bearer {access_token(user)}"},
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"ticket", "expires_in"}
    return response.json()["ticket"]


# Tickets -----------------------------------------------------------------------------------


async def test_ticket_opens_one_socket_and_is_refused_after(live_daphne, lobby_users):
    ticket = ticket_for(live_daphne, lobby_users["bob"])
    url = f"{live_daphne.ws}/ws/rooms/lobby/?ticket={ticket}"
    async with connect(url) as ws:
        joined = await next_frame(ws, "room.joined")
        assert (joined["role"], joined["protocol"]) == ("member", 2)
        assert await refused_with(url) == AuthFailure.TICKET_REUSED


async def test_ticket_bound_to_a_room_is_refused_elsewhere(live_daphne, lobby_users):
    ticket = ticket_for(live_daphne, lobby_users["alice"], room="staff")
    url = f"{live_daphne.ws}/ws/rooms/lobby/?ticket={ticket}"
    assert await refused_with(url) == AuthFailure.TICKET_WRONG_ROOM


async def test_unknown_ticket_is_refused(live_daphne, lobby_users):
    url = f"{live_daphne.ws}/ws/rooms/lobby/?ticket=never-issued-anywhere"
    assert await refused_with(url) == AuthFailure.TICKET_INVALID


async def test_late_ticket_is_refused_as_expired(tmp_path, lobby_users):
    server = start_daphne(tmp_path, extra_env={"WS_TICKET_SECONDS": "1"})
    try:
        ticket = ticket_for(server, lobby_users["bob"])
        await asyncio.sleep(1.5)
        url = f"{server.ws}/ws/rooms/lobby/?ticket={ticket}"
        assert await refused_with(url) == AuthFailure.TICKET_EXPIRED
    finally:
        stop_daphne(server)


async def test_ticket_never_reaches_the_access_log_usable(live_daphne, lobby_users):
    ticket = ticket_for(live_daphne, lobby_users["bob"])
    async with connect(f"{live_daphne.ws}/ws/rooms/lobby/?ticket={ticket}") as ws:
        await next_frame(ws, "room.joined")
    assert ticket not in live_daphne.logs()


# The Sec-WebSocket-Protocol bearer -----------------------------------------------------------


async def test_bearer_subprotocol_connects_and_chat_v2_is_selected(live_daphne, lobby_users):
    token = access_token(lobby_users["bob"])
    url = f"{live_daphne.ws}/ws/rooms/lobby/"
    async with connect(url, subprotocols=["chat.v2", f"bearer.{token}"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert (await next_frame(ws, "room.joined"))["role"] == "member"
    assert token not in live_daphne.logs()


async def test_bad_bearer_is_refused_with_its_class(live_daphne, lobby_users):
    url = f"{live_daphne.ws}/ws/rooms/lobby/"
    bearer = f"bearer.{await sync_to_async(refresh_token)(lobby_users['bob'])}"
    failure = await refused_with(url, subprotocols=["chat.v2", bearer])
    assert failure == AuthFailure.TOKEN_WRONG_TYPE


# Refresh over the open socket --------------------------------------------------------------


async def short_lived_socket(server, user, seconds: int = 4):
    token = access_token(user, lifetime=timedelta(seconds=seconds))
    ws = await connect(f"{server.ws}/ws/rooms/lobby/", subprotocols=["chat.v2", f"bearer.{token}"])
    await next_frame(ws, "room.joined")
    return ws


async def test_refresh_moves_the_deadline_and_the_socket_lives_on(live_daphne, lobby_users):
    ws = await short_lived_socket(live_daphne, lobby_users["bob"], seconds=3)
    async with ws:
        warning = await next_frame(ws, "auth.expiring", wait=3)
        assert warning["expires_at"]
        await ws.send(
            json.dumps({"type": "auth.refresh", "token": access_token(lobby_users["bob"])})
        )
        refreshed = await next_frame(ws, "auth.refreshed")
        assert refreshed["expires_at"] > warning["expires_at"]
        await asyncio.sleep(3)  # past the first token's exp
        await ws.send(json.dumps({"type": "message.send", "body": "still here"}))
        assert (await next_frame(ws))["body"] == "still here"


@pytest.mark.parametrize(
    ("offered", "failure"),
    [
        ("other_user", AuthFailure.TOKEN_WRONG_USER),
        ("refresh_token", AuthFailure.TOKEN_WRONG_TYPE),
        ("revoked", AuthFailure.TOKEN_REVOKED),
        ("garbage", AuthFailure.TOKEN_MALFORMED),
    ],
)
async def test_bad_refresh_closes_4001_with_its_class(live_daphne, lobby_users, offered, failure):
    bob = lobby_users["bob"]
    ws = await short_lived_socket(live_daphne, bob, seconds=30)
    async with ws:
        if offered == "revoked":
            token = access_token(bob)

            def change_password():
                bob.set_password("a-brand-new-password-7")
                bob.save()

            # Changed from this test process: its revocation event stays in this process's
            # in-memory layer (tests/e2e/test_multiprocess.py covers it across processes), so the
            # socket is still open to offer a token issued before the change.
            await sync_to_async(change_password)()
            await ws.send(json.dumps({"type": "auth.refresh", "token": token}))
        else:
            token = {
                "other_user": access_token(lobby_users["alice"]),
                "refresh_token": await sync_to_async(refresh_token)(bob),
                "garbage": "not-a-jwt",
            }[offered]
            await ws.send(json.dumps({"type": "auth.refresh", "token": token}))
        frame = await next_frame(ws, "error")
        code, _ = await wait_close(ws)
        await ws.close()
    assert (frame["detail"], code) == (failure, CloseCode.UNAUTHENTICATED)


async def test_unrefreshed_socket_closes_at_its_deadline(live_daphne, lobby_users):
    ws = await short_lived_socket(live_daphne, lobby_users["bob"], seconds=2)
    async with ws:
        await next_frame(ws, "auth.expiring", wait=3)
        assert (await next_frame(ws, "error", wait=3))["detail"] == AuthFailure.TOKEN_EXPIRED
        code, _ = await wait_close(ws)
    assert code == CloseCode.UNAUTHENTICATED
