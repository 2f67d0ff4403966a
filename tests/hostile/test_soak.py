"""Soak (opt in: ``-m soak``): N authenticated sockets across rooms, mixed traffic with joins,
leaves, REST revocations and floods, against one daphne. Size and length from the environment:

    SOAK_SOCKETS (200)  SOAK_SECONDS (20)  SOAK_ROOMS (20)      full: 1000 / 300 / 20

At the end: no ERROR and no Traceback in daphne's log; every stored message was broadcast, and
delivered exactly once, gap-free, to every socket connected to its room while it was sent; no
refused (rate-limited) message stored; open sockets back to 0 (GET /ops/sockets/ as staff);
daphne's RSS at the end within 10 % of its value halfway through the traffic.
"""

import asyncio
import json
import os
import random
import time

import httpx
import psutil
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat.models import Membership, Message, Role, Room

from ..factories import PASSWORD, UserFactory
from ..live import login_session, start_daphne, stop_daphne
from ..tokens import access_token
from .conftest import count_crashes
from .ledger import LEDGER

pytestmark = [pytest.mark.soak, pytest.mark.hostile, pytest.mark.e2e]

SOCKETS = int(os.environ.get("SOAK_SOCKETS", "200"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))
ROOMS = int(os.environ.get("SOAK_ROOMS", "20"))
PER_USER = 8  # under CHAT_MAX_SOCKETS_PER_USER (10)


@pytest.fixture
def soak_world(transactional_db):
    users = [UserFactory(username=f"soak{u}") for u in range(-(-SOCKETS // PER_USER) + 1)]
    owner = UserFactory(username="soakops", is_staff=True)
    rooms = [
        Room.objects.create(slug=f"soak-{r}", name=f"Soak {r}", created_by=owner)
        for r in range(ROOMS)
    ]
    Membership.objects.bulk_create(
        [Membership(room=room, user=owner, role=Role.OWNER) for room in rooms]
        + [Membership(room=room, user=user, role=Role.MEMBER) for room in rooms for user in users]
    )
    return users, owner


class Socket:
    """One member socket: what it received and when it was connected."""

    def __init__(self, index: int, user, room: str, server) -> None:
        self.index, self.user, self.room, self.server = index, user, room, server
        self.received: list[int] = []
        self.sessions: list[list[int]] = []  # ids received per connection
        self.closes: list[int | None] = []
        self.flood_bodies: list[str] = []
        self.revoked = False

    async def connect_once(self, token: str, deadline: float, flood: bool) -> None:
        url = f"{self.server.ws}/ws/rooms/{self.room}/?token={token}"
        session: list[int] = []
        self.sessions.append(session)
        try:
            async with connect(url, open_timeout=10, max_queue=None) as ws:
                reader = asyncio.create_task(self._read(ws, session))
                stay = random.uniform(2, 8)
                end = min(deadline, time.monotonic() + stay)
                n = 0
                while time.monotonic() < end and not reader.done():
                    if flood:
                        body = f"flood {self.index}-{n}"
                        self.flood_bodies.append(body)
                        await ws.send(json.dumps({"type": "message.send", "body": body}))
                        await asyncio.sleep(0.02)
                    else:
                        await ws.send(
                            json.dumps({"type": "message.send", "body": f"s{self.index}-{n}"})
                        )
                        await asyncio.sleep(random.uniform(1.5, 4))
                    n += 1
                await ws.close()
                await asyncio.wait_for(reader, 10)
                self.closes.append(ws.close_code)
        except (ConnectionClosed, OSError, InvalidStatus, TimeoutError):
            self.closes.append(None)

    async def _read(self, ws, session: list[int]) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "message.new":
                    session.append(frame["id"])
                    self.received.append(frame["id"])
        except ConnectionClosed:
            pass
        # Revoked while connected (4003), or revoked between two connections and refused at the
        # next handshake like any non-member (4004): either way the removal took effect.
        if ws.close_code in (4003, 4004):
            self.revoked = True

    async def run(self, deadline: float) -> None:
        token = await asyncio.to_thread(access_token, self.user)
        while time.monotonic() < deadline and not self.revoked:
            await self.connect_once(token, deadline, flood=random.random() < 0.03)
            await asyncio.sleep(random.uniform(0, 1))  # leave, then join again


async def test_soak_mixed_traffic_loses_nothing_and_returns_to_zero(
    django_db_setup, tmp_path, soak_world
):
    users, owner = soak_world
    server = start_daphne(tmp_path)
    daphne = psutil.Process(server.process.pid)
    try:
        ops = await asyncio.to_thread(login_session, server, "soakops", PASSWORD)
        # Warm-up wave: every socket once, so the baseline includes a loaded interpreter.
        sockets = [
            Socket(i, users[i // PER_USER], f"soak-{i % ROOMS}", server) for i in range(SOCKETS)
        ]
        warm = time.monotonic() + 3
        await asyncio.gather(*(s.connect_once(access_token(s.user), warm, False) for s in sockets))
        await asyncio.sleep(1)
        deadline = time.monotonic() + SECONDS
        runs = [asyncio.create_task(s.run(deadline)) for s in sockets]
        revoked_users = users[:2]
        await asyncio.sleep(SECONDS / 2)
        # The baseline under the same load the run ends with (the interpreter's and allocator's
        # high-water mark of mixed traffic is reached in its first seconds, not by a warm-up).
        rss_start = daphne.memory_info().rss
        async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
            for user in revoked_users:  # REST revocation mid-run
                response = await http.delete(
                    f"/api/rooms/soak-0/members/{user.username}/",
                    headers={"Authorization": f"Bearer {access_token(owner)}"},
                )
                assert response.status_code == 204
        async with asyncio.timeout(SECONDS + 60):
            await asyncio.gather(*runs)
        await asyncio.sleep(2)
        open_sockets = (await asyncio.to_thread(ops.get, "/ops/sockets/")).json()["open_sockets"]
        rss_end = daphne.memory_info().rss
    finally:
        stop_daphne(server)
    stored = await sync_to_async(list)(Message.objects.values_list("id", "room__slug", "body"))
    room_ids: dict[str, list[int]] = {}
    for message_id, slug, _ in sorted(stored):
        room_ids.setdefault(slug, []).append(message_id)
    received = {i for s in sockets for i in s.received}
    stored_ids = {message_id for message_id, _, _ in stored}
    duplicates = sum(len(s.received) - len(set(s.received)) for s in sockets)
    gaps = 0
    for s in sockets:
        for session in s.sessions:
            if session:
                expected = {i for i in room_ids.get(s.room, []) if session[0] <= i <= session[-1]}
                gaps += len(expected - set(session))
    refused = {body for s in sockets for body in s.flood_bodies} - {body for _, _, body in stored}
    flood_stored_unseen = len(stored_ids - received)
    log = server.app_log.read_text()
    crashes = count_crashes(log) + log.count("Traceback")
    LEDGER.case("soak sockets", SOCKETS)
    LEDGER.crashes += crashes
    LEDGER.messages_broadcast += len(stored_ids)
    LEDGER.messages_lost += gaps + len(received - stored_ids) + flood_stored_unseen
    LEDGER.messages_duplicated += duplicates
    LEDGER.figures.update(
        soak_sockets=SOCKETS,
        soak_seconds=SECONDS,
        soak_messages=len(stored_ids),
        soak_connections=sum(len(s.sessions) for s in sockets),
        soak_refused_flood_frames=len(refused),
        soak_open_sockets_at_end=open_sockets,
        soak_rss_start=rss_start,
        soak_rss_end=rss_end,
    )
    assert crashes == 0
    assert duplicates == 0
    assert gaps == 0
    assert received == stored_ids  # every broadcast stored; every stored broadcast
    assert open_sockets == 0
    assert any(s.revoked for s in sockets if s.user in revoked_users and s.room == "soak-0")
    assert abs(rss_end - rss_start) <= rss_start * 0.10
