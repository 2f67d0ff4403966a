"""The wire, as a real client sees it: close codes, origins, tokens and logs against live daphne."""

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime.close_codes import CloseCode

from ..factories import PASSWORD
from ..live import close_code_of, handshake_status, next_frame, session_headers
from ..tokens import access_token, bad_tokens, unsigned_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_session_login_then_live_broadcast(live_daphne, lobby_users):
    alice = session_headers(live_daphne, "alice")
    bob = session_headers(live_daphne, "bob")
    url = f"{live_daphne.ws}/ws/rooms/lobby/"
    async with (
        connect(url, additional_headers=alice) as ws_a,
        connect(url, additional_headers=bob) as ws_b,
    ):
        await ws_b.send('{"type": "message.send", "body": "hello over the wire"}')
        for ws in (ws_a, ws_b):
            frame = await next_frame(ws)
            assert frame["body"] == "hello over the wire"
            assert frame["author"] == "bob"


async def test_no_cookie_closes_4001(live_daphne, lobby_users):
    code = await close_code_of(f"{live_daphne.ws}/ws/rooms/lobby/", origin=live_daphne.http)
    assert code == CloseCode.UNAUTHENTICATED


async def test_no_credential_and_no_origin_closes_4001_not_authenticated(live_daphne, lobby_users):
    """A bare client (no cookie, no token, no Origin) is told what the code table says, not a
    bare HTTP 403."""
    async with connect(f"{live_daphne.ws}/ws/rooms/lobby/", compression=None) as ws:
        frame = await next_frame(ws, "error")
        assert frame == {"type": "error", "code": "auth_failed", "detail": "not_authenticated"}
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=5)
    assert closed.value.rcvd.code == CloseCode.UNAUTHENTICATED


async def test_a_session_cookie_without_origin_is_still_refused_at_the_handshake(
    live_daphne, lobby_users
):
    headers = session_headers(live_daphne, "bob")
    headers.pop("Origin")
    url = f"{live_daphne.ws}/ws/rooms/lobby/"
    assert await handshake_status(url, additional_headers=headers) == 403
    # An empty or unrelated cookie is no credential: 4001 like no cookie at all.
    assert await close_code_of(url, additional_headers={"Cookie": "theme=dark"}) == (
        CloseCode.UNAUTHENTICATED
    )


async def test_non_member_closes_4004_like_a_missing_room(live_daphne, lobby_users):
    headers = session_headers(live_daphne, "carol")
    assert await close_code_of(f"{live_daphne.ws}/ws/rooms/lobby/", additional_headers=headers) == (
        CloseCode.ROOM_NOT_FOUND
    )


async def test_unknown_room_closes_4004(live_daphne, lobby_users):
    headers = session_headers(live_daphne, "alice")
    url = f"{live_daphne.ws}/ws/rooms/nowhere/"
    assert await close_code_of(url, additional_headers=headers) == CloseCode.ROOM_NOT_FOUND


# --- JWT clients ----------------------------------------------------------------------------


def api_token(server, username) -> str:
    response = httpx.post(
        f"{server.http}/api/auth/token/", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return response.json()["access"]


async def test_api_token_joins_and_receives_session_broadcast(live_daphne, lobby_users):
    token = await asyncio.to_thread(api_token, live_daphne, "bob")
    alice = session_headers(live_daphne, "alice")
    url = f"{live_daphne.ws}/ws/rooms/lobby/"
    async with (
        connect(f"{url}?token={token}") as ws_bob,
        connect(url, additional_headers=alice) as ws_a,
    ):
        await ws_a.send('{"type": "message.send", "body": "to the token user"}')
        assert (await next_frame(ws_bob))["body"] == "to the token user"
    assert token not in live_daphne.logs()


async def test_each_bad_token_closes_4001(live_daphne, lobby_users):
    tokens = await sync_to_async(bad_tokens)(lobby_users["bob"])
    tokens["alg_none"] = unsigned_token(lobby_users["bob"])
    for name, token in tokens.items():
        code = await close_code_of(f"{live_daphne.ws}/ws/rooms/lobby/?token={token}")
        assert code == CloseCode.UNAUTHENTICATED, name
    logs = live_daphne.logs()
    for token in tokens.values():
        assert token not in logs


async def test_token_closes_4001_within_a_second_of_expiry(live_daphne, lobby_users):
    token = access_token(lobby_users["bob"], lifetime=timedelta(seconds=2))
    url = f"{live_daphne.ws}/ws/rooms/lobby/?token={token}"
    started = time.monotonic()
    code = None
    async with connect(url) as ws:
        try:
            while time.monotonic() - started < 10:  # keeps sending while the token runs out
                await ws.send('{"type": "message.send", "body": "tick"}')
                await asyncio.sleep(0.2)
        except ConnectionClosed as closed:
            code = closed.rcvd.code
    elapsed = time.monotonic() - started
    assert code == CloseCode.UNAUTHENTICATED
    assert 1.0 <= elapsed <= 3.0 + 0.5  # exp has whole-second resolution
    assert token not in live_daphne.logs()
