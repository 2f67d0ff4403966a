"""Protocol 3 on the wire, against the live daphne: one ``/ws/`` socket, two rooms, a refusal
and a removal that leave the socket (and its other room) open."""

import asyncio
import json

import httpx
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from chat.models import Membership, Role, Room
from realtime.close_codes import CloseCode

from ..live import handshake_status, next_frame, session_headers, wait_close, wait_for_log
from ..tokens import access_token
from .test_credentials_wire import ticket_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def command(ws, frame: dict, answer: str) -> dict:
    await ws.send(json.dumps(frame))
    return await next_frame(ws, answer)


async def test_one_socket_two_rooms_a_refusal_and_a_removal(live_daphne, lobby_users):
    bob, alice = lobby_users["bob"], lobby_users["alice"]
    await sync_to_async(Membership.objects.create)(
        room=await sync_to_async(Room.objects.get)(slug="staff"), user=bob, role=Role.MEMBER
    )
    token = await sync_to_async(access_token)(bob)
    async with connect(f"{live_daphne.ws}/ws/", subprotocols=["chat.v3", f"bearer.{token}"]) as ws:
        assert ws.subprotocol == "chat.v3"
        hello = json.loads(await ws.recv())
        assert (hello["type"], hello["protocol"], hello["user"]) == ("hello", 3, "bob")
        assert [room["room"] for room in hello["rooms"]] == ["lobby", "staff"]

        for ref, room in enumerate(("lobby", "staff")):
            join = {"type": "room.join", "room": room, "ref": str(ref)}
            joined = await command(ws, join, "room.joined")
            assert (joined["room"], joined["ref"]) == (room, str(ref))

        join = {"type": "room.join", "room": "nowhere", "ref": "x"}
        refused = await command(ws, join, "room.refused")
        assert (refused["room"], refused["ref"], refused["code"]) == (
            "nowhere",
            "x",
            CloseCode.ROOM_NOT_FOUND,
        )

        async with httpx.AsyncClient() as http:
            response = await http.delete(
                f"{live_daphne.http}/api/rooms/lobby/members/bob/",
                headers={"Authorization": f"Bearer {access_token(alice)}"},
            )
        assert response.status_code == 204, response.text
        left = await next_frame(ws, "room.left")
        assert (left["room"], left["code"], left["reason"]) == (
            "lobby",
            CloseCode.FORBIDDEN,
            "membership_removed",
        )

        sent = {"type": "message.send", "room": "staff", "body": "still here", "client_id": "c1"}
        ack = await command(ws, sent, "message.ack")
        assert ack["room"] == "staff"
        assert ws.close_code is None


async def test_cookie_from_the_site_and_a_roomless_ticket_open_ws(live_daphne, lobby_users):
    headers = await sync_to_async(session_headers)(live_daphne, "alice")
    async with connect(f"{live_daphne.ws}/ws/", additional_headers=headers) as ws:
        assert (await next_frame(ws, "hello"))["user"] == "alice"
    foreign = headers | {"Origin": "https://evil.example"}
    assert await handshake_status(f"{live_daphne.ws}/ws/", additional_headers=foreign) == 403

    ticket = await sync_to_async(ticket_for)(live_daphne, lobby_users["bob"])
    async with connect(f"{live_daphne.ws}/ws/?ticket={ticket}") as ws:
        assert (await next_frame(ws, "hello"))["user"] == "bob"
        joined = await command(ws, {"type": "room.join", "room": "lobby"}, "room.joined")
        assert joined["protocol"] == 3
    bound = await sync_to_async(ticket_for)(live_daphne, lobby_users["bob"], room="lobby")
    async with connect(f"{live_daphne.ws}/ws/?ticket={bound}") as ws:
        assert (await next_frame(ws, "error"))["detail"] == "ticket_wrong_room"
        assert (await wait_close(ws))[0] == CloseCode.UNAUTHENTICATED


async def test_a_query_token_opens_ws_and_never_reaches_the_access_log(live_daphne, lobby_users):
    token = await sync_to_async(access_token)(lobby_users["erin"])
    async with connect(f"{live_daphne.ws}/ws/?token={token}") as ws:
        assert (await next_frame(ws, "hello"))["user"] == "erin"
        joined = await command(
            ws, {"type": "room.join", "room": "lobby", "ref": "a"}, "room.joined"
        )
        assert joined["ref"] == "a"
    logs = await asyncio.to_thread(wait_for_log, live_daphne, '"WSDISCONNECT /ws/"')
    assert token not in logs
