"""Resume after a cut and idempotent sends on the wire, against a live daphne."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from chat.models import Message

from ..live import next_frame, start_daphne, stop_daphne
from ..tokens import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def frames_of(ws, types: set[str]) -> dict[str, dict]:
    """The next frame of each type, in whatever order they come."""
    seen: dict[str, dict] = {}
    async with asyncio.timeout(5):
        while set(seen) != types:
            frame = json.loads(await ws.recv())
            if frame["type"] in types:
                seen.setdefault(frame["type"], frame)
    return seen


# Resume and idempotent sends ---------------------------------------------------------------


async def test_resume_replays_what_was_missed_then_goes_live(live_daphne, lobby_users):
    token = access_token(lobby_users["bob"])
    url = f"{live_daphne.ws}/ws/rooms/lobby/?token={token}"
    async with connect(url) as alice_ws:
        await next_frame(alice_ws, "room.joined")
        async with connect(url) as bob_ws:
            await next_frame(bob_ws, "room.joined")
            await bob_ws.send(json.dumps({"type": "message.send", "body": "seen"}))
            last_seen = (await next_frame(bob_ws))["id"]
        # bob is away: two messages and one delete of a message he had
        for body in ("missed 1", "missed 2"):
            await alice_ws.send(json.dumps({"type": "message.send", "body": body}))
            await next_frame(alice_ws)
        await alice_ws.send(json.dumps({"type": "message.delete", "id": last_seen}))
        await next_frame(alice_ws, "message.deleted")
    async with connect(f"{url}&after={last_seen}") as bob_ws:
        joined = json.loads(await bob_ws.recv())
        assert (joined["type"], joined["recovered"]) == ("room.joined", True)
        replay = [json.loads(await bob_ws.recv()) for _ in range(3)]
        assert [(f["type"], f.get("body")) for f in replay] == [
            ("message.new", "missed 1"),
            ("message.new", "missed 2"),
            ("message.deleted", None),
        ]
        assert replay[2]["id"] == last_seen


async def test_resume_past_the_limit_says_not_recovered(tmp_path, lobby_users):
    server = start_daphne(tmp_path, extra_env={"CHAT_RESUME_MAX_MESSAGES": "2"})
    try:
        url = f"{server.ws}/ws/rooms/lobby/?token={access_token(lobby_users['bob'])}"
        async with connect(url) as ws:
            await next_frame(ws, "room.joined")
            ids = []
            for index in range(4):
                await ws.send(json.dumps({"type": "message.send", "body": f"m{index}"}))
                ids.append((await next_frame(ws))["id"])
        first = ids[0]
        async with connect(f"{url}&after={first}") as ws:
            joined = await next_frame(ws, "room.joined")
            assert joined["recovered"] is False
            await ws.send(json.dumps({"type": "message.send", "body": "live"}))
            assert (await next_frame(ws))["body"] == "live"  # nothing replayed before it
    finally:
        stop_daphne(server)


async def test_resend_with_the_same_client_id_is_stored_once(live_daphne, lobby_users):
    url = f"{live_daphne.ws}/ws/rooms/lobby/?token={access_token(lobby_users['bob'])}"
    send = json.dumps({"type": "message.send", "body": "once", "client_id": "c-123"})
    async with connect(url) as first:
        await next_frame(first, "room.joined")
        await first.send(send)
        seen = await frames_of(first, {"message.ack", "message.new"})
        ack = seen["message.ack"]
        assert seen["message.new"]["client_id"] == "c-123"
        assert seen["message.new"]["id"] == ack["id"]
    async with connect(url) as second:  # the client did not see the ack: it resends
        await next_frame(second, "room.joined")
        await second.send(send)
        assert await next_frame(second, "message.ack") == ack
        await second.send(json.dumps({"type": "message.send", "body": "next"}))
        assert (await next_frame(second))["body"] == "next"  # no second "once" before it
    stored = await sync_to_async(list)(Message.objects.filter(client_id="c-123"))
    assert [message.pk for message in stored] == [ack["id"]]
