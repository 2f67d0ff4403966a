"""Chaos on the wire: 50 clients chat for 20 s while connections are cut mid-send (transport
aborted, no close frame) and 8-second tokens expire and are refreshed in-band; every reconnect
resumes by position (``?since=&epoch=``). Afterwards every client's transcript equals the
database in stream order, nothing missing and nothing twice, every position received exactly
once and in order, and each client_id is stored exactly once.

Duration and size: ``CHAOS_SECONDS`` (20: every token is refreshed at least twice),
``CHAOS_CLIENTS`` (50).
"""

import asyncio
import os
import random
import time

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message

from ..chatter import Chatter, crowd_in_lobby, room_head, stored_in_order
from ..live import start_daphne, stop_daphne

pytestmark = [pytest.mark.hostile, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECONDS = float(os.environ.get("CHAOS_SECONDS", "20"))
CLIENTS = int(os.environ.get("CHAOS_CLIENTS", "50"))
TOKEN_SECONDS = 8


@pytest.fixture
def chaos_daphne(tmp_path):
    server = start_daphne(
        tmp_path,
        extra_env={
            "CHAT_AUTH_EXPIRY_WARNING_SECONDS": "3",
            "CHAT_MAX_SOCKETS_PER_USER": "5",
        },
    )
    yield server
    stop_daphne(server)


async def test_cut_connections_and_expiring_tokens_lose_nothing_and_repeat_nothing(chaos_daphne):
    users = await sync_to_async(crowd_in_lobby)(CLIENTS, "chaos")
    chatters = [Chatter(user, chaos_daphne.ws, token_seconds=TOKEN_SECONDS) for user in users]
    stop = asyncio.Event()
    runners = [asyncio.create_task(chatter.run(stop)) for chatter in chatters]
    cuts = 0
    try:
        await asyncio.wait_for(asyncio.gather(*(chatter.joined.wait() for chatter in chatters)), 30)
        deadline = time.monotonic() + SECONDS
        sequence = 0
        while time.monotonic() < deadline:
            for chatter in random.sample(chatters, k=max(1, CLIENTS // 10)):
                sequence += 1
                chatter.say(f"{chatter.user.username} #{sequence}")
            victim = random.choice(chatters)
            if random.random() < 0.5:
                victim.say(f"{victim.user.username} #{sequence} (cut mid-send)")
            victim.cut()
            cuts += 1
            await asyncio.sleep(0.3)
        # Settle: every send acknowledged, every client caught up with the last stored message.
        settle_until = time.monotonic() + 60
        while time.monotonic() < settle_until:
            head = await sync_to_async(room_head)()
            if all(not c.pending and c.caught_up_to == head for c in chatters):
                break
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        for chatter in chatters:
            chatter.cut()
        await asyncio.gather(*runners, return_exceptions=True)

    stored = await sync_to_async(list)(Message.objects.values_list("pk", "client_id"))
    stored_ids = await sync_to_async(stored_in_order)()
    sent = set().union(*(chatter.sent for chatter in chatters))
    print(
        f"\n[chaos] {CLIENTS} clients, {SECONDS:.0f} s, {cuts} cuts, {len(stored_ids)} messages, "
        f"{sum(c.connects for c in chatters)} connects, {sum(c.refreshes for c in chatters)} "
        "in-band refreshes"
    )
    assert sum(chatter.refreshes for chatter in chatters) >= CLIENTS  # tokens did expire
    assert cuts > 0
    for chatter in chatters:
        assert chatter.duplicates == [], f"{chatter.user.username} saw a message twice"
        assert chatter.gaps == [], f"{chatter.user.username} saw a live position skipped"
        assert chatter.transcript == stored_ids, f"{chatter.user.username}'s transcript differs"
        # No deletes here: every position is a message, each received once, in order.
        assert chatter.positions == list(range(1, len(stored_ids) + 1))
        assert not chatter.pending, f"{chatter.user.username} has unacknowledged sends"
    assert sorted(client_id for _, client_id in stored) == sorted(sent)  # each exactly once
