"""daphne restarted under 200 connected clients that follow the protocol (reconnect, resume by
position with ``?since=&epoch=``, resend what was not acknowledged with its ``client_id``): each
client's transcript equals the database's messages for its room, each exactly once.

Protection guarded: resume by position from the database plus the broadcast-after-store rule.
Without the resume every message sent while clients were reconnecting is missing from their
transcripts and the test fails.
"""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message, Role

from ..chatter import Chatter
from ..factories import MembershipFactory, RoomFactory, UserFactory
from ..live import start_daphne, stop_daphne
from .ledger import LEDGER

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]

ROOMS, USERS_PER_ROOM, SOCKETS_PER_USER = 4, 10, 5  # 200 clients
MESSAGES_PER_ROOM = 12


@pytest.fixture
def crowd_rooms(transactional_db):
    rooms = {}
    for r in range(ROOMS):
        room = RoomFactory(slug=f"restart-{r}")
        users = [UserFactory(username=f"r{r}u{u}") for u in range(USERS_PER_ROOM)]
        for user in users:
            MembershipFactory(room=room, user=user, role=Role.MEMBER)
        rooms[room.slug] = users
    return rooms


async def speak(speaker: Chatter, bodies: list[str]) -> None:
    """One speaker per room, a message every 0.15 s across the restart; a send cut by it is
    resent with its ``client_id`` when the speaker is back in."""
    for body in bodies:
        speaker.say(body)
        await asyncio.sleep(0.15)


async def test_restart_under_200_clients_loses_nothing(django_db_setup, tmp_path, crowd_rooms):
    server = start_daphne(tmp_path)
    clients = [
        Chatter(user, server.ws, room=room)
        for room, users in crowd_rooms.items()
        for user in users
        for _ in range(SOCKETS_PER_USER)
    ]
    speakers = [Chatter(users[0], server.ws, room=room) for room, users in crowd_rooms.items()]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(chatter.run(stop)) for chatter in clients + speakers]
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(*(chatter.joined.wait() for chatter in clients + speakers))
        LEDGER.case("restart clients", len(clients))
        speaking = [
            asyncio.create_task(
                speak(speaker, [f"{speaker.room} m{i}" for i in range(MESSAGES_PER_ROOM)])
            )
            for speaker in speakers
        ]
        await asyncio.sleep(1.0)  # some messages before the restart
        restarted = time.monotonic()
        stop_daphne(server)
        server = start_daphne(tmp_path, port=server.port)
        await asyncio.gather(*speaking)
        async with asyncio.timeout(30):
            await asyncio.gather(*(chatter.joined.wait() for chatter in clients))
        rejoined_after = time.monotonic() - restarted
        for _ in range(300):  # up to 30 s for every send to be confirmed
            if not any(speaker.pending for speaker in speakers):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the last broadcasts land
    finally:
        stop.set()
        for chatter in clients + speakers:
            chatter.cut()
        await asyncio.gather(*tasks, return_exceptions=True)
        stop_daphne(server)
    # A body counts as sent once the server confirmed it (its ack or its own broadcast).
    sent = [
        body for s in speakers for client_id, body in s.sent.items() if client_id not in s.pending
    ]
    stored = await sync_to_async(list)(Message.objects.values_list("id", "room__slug", "body"))
    by_room: dict[str, list[int]] = {}
    for message_id, slug, _ in sorted(stored):
        by_room.setdefault(slug, []).append(message_id)
    missing = sum(len(set(by_room.get(client.room, [])) - client.seen) for client in clients)
    extra = sum(len(client.seen - set(by_room.get(client.room, []))) for client in clients)
    LEDGER.messages_broadcast += len(stored)
    LEDGER.messages_lost += missing + extra
    LEDGER.figures["restart_clients"] = len(clients)
    LEDGER.figures["restart_messages"] = len(stored)
    LEDGER.figures["restart_all_rejoined_seconds"] = round(rejoined_after, 2)
    bodies = [body for _, _, body in stored]
    LEDGER.figures["restart_resent_duplicates"] = len(bodies) - len(set(bodies))
    assert len(sent) == ROOMS * MESSAGES_PER_ROOM
    assert set(bodies) == set(sent)
    assert all(client.connects >= 2 for client in clients)  # every client did reconnect
    assert missing == 0
    assert extra == 0
