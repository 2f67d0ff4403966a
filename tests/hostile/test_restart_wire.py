"""daphne restarted under 200 connected clients that follow the shipped client's protocol
(reconnect with backoff, then fetch ``?after=<last id>``): each client's transcript equals the
database's messages for its room, each exactly once.

Protection guarded: the catch-up endpoint (``GET /api/rooms/<slug>/messages/?after=``, oldest
first, paginated) plus the broadcast-after-store rule. Without the catch-up every message sent
while clients were reconnecting is missing from their transcripts and the test fails.
"""

import asyncio
import json
import time

import httpx
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from chat.models import Message, Role

from ..factories import MembershipFactory, RoomFactory, UserFactory
from ..live import start_daphne, stop_daphne
from ..tokens import access_token
from .clients import FollowingClient
from .ledger import LEDGER

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]

ROOMS, USERS_PER_ROOM, SOCKETS_PER_USER = 4, 10, 5  # 200 clients


@pytest.fixture
def crowd_rooms(transactional_db):
    rooms = {}
    for r in range(ROOMS):
        room = RoomFactory(slug=f"restart-{r}")
        users = [UserFactory(username=f"r{r}u{u}") for u in range(USERS_PER_ROOM)]
        for user in users:
            MembershipFactory(room=room, user=user, role=Role.MEMBER)
        rooms[room.slug] = [access_token(user) for user in users]
    return rooms


async def speak(server, room: str, token: str, bodies: list[str], sent: list[str]) -> None:
    """One speaker per room with its own retries: a body counts as sent once its broadcast came
    back. A send cut by the restart is resent, and the protocol has no client message id, so a
    send that was stored just before the cut is stored twice (counted, see docs/hostile.md)."""
    for body in bodies:
        for _ in range(40):  # bounded retries across the restart
            try:
                async with connect(f"{server.ws}/ws/rooms/{room}/?token={token}") as ws:
                    async with asyncio.timeout(3):
                        async for raw in ws:
                            frame = json.loads(raw)
                            if frame["type"] == "room.joined":
                                await ws.send(json.dumps({"type": "message.send", "body": body}))
                            elif frame["type"] == "message.new" and frame["body"] == body:
                                sent.append(body)
                                break
                break
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake):
                await asyncio.sleep(0.25)
        await asyncio.sleep(0.15)


async def test_restart_under_200_clients_loses_nothing(django_db_setup, tmp_path, crowd_rooms):
    server = start_daphne(tmp_path)
    clients: list[FollowingClient] = []
    try:
        async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
            for room, tokens in crowd_rooms.items():
                for token in tokens:
                    clients.extend(
                        FollowingClient(server, room, token, http) for _ in range(SOCKETS_PER_USER)
                    )
            tasks = [asyncio.create_task(client.run()) for client in clients]
            async with asyncio.timeout(30):
                await asyncio.gather(*(client.joined.wait() for client in clients))
            LEDGER.case("restart clients", len(clients))
            sent: list[str] = []
            speakers = [
                asyncio.create_task(
                    speak(server, room, tokens[0], [f"{room} m{i}" for i in range(12)], sent)
                )
                for room, tokens in crowd_rooms.items()
            ]
            await asyncio.sleep(1.0)  # some messages before the restart
            restarted = time.monotonic()
            stop_daphne(server)
            server = start_daphne(tmp_path, port=server.port)
            for client in clients:
                client.server = server
            await asyncio.gather(*speakers)
            async with asyncio.timeout(30):
                await asyncio.gather(*(client.joined.wait() for client in clients))
            rejoined_after = time.monotonic() - restarted
            await asyncio.sleep(1.0)  # the last broadcasts land
            for client in clients:
                await client.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        stop_daphne(server)
    stored = await sync_to_async(list)(Message.objects.values_list("id", "room__slug", "body"))
    by_room: dict[str, list[int]] = {}
    for message_id, slug, _ in sorted(stored):
        by_room.setdefault(slug, []).append(message_id)
    missing = sum(len(set(by_room.get(client.room, [])) - set(client.seen)) for client in clients)
    extra = sum(len(set(client.seen) - set(by_room.get(client.room, []))) for client in clients)
    LEDGER.messages_broadcast += len(stored)
    LEDGER.messages_lost += missing + extra
    LEDGER.figures["restart_clients"] = len(clients)
    LEDGER.figures["restart_messages"] = len(stored)
    LEDGER.figures["restart_all_rejoined_seconds"] = round(rejoined_after, 2)
    bodies = [body for _, _, body in stored]
    LEDGER.figures["restart_resent_duplicates"] = len(bodies) - len(set(bodies))
    assert len(sent) == ROOMS * 12
    assert set(bodies) == set(sent)
    assert all(client.joins >= 2 for client in clients)  # every client did reconnect
    assert missing == 0
    assert extra == 0
