"""The channel layer over two Redis servers (``CHANNEL_LAYER_SHARDS``): channels-redis puts each
channel and group on one shard by a hash of its name, so both servers carry part of the
traffic, and messages, presence and revocations still cross between processes."""

import json
import secrets

import pytest
import redis
from websockets.asyncio.client import connect

from ..live import next_frame, start_daphne, stop_daphne
from ..redis_servers import redis_server_binary, start_redis
from .test_multiprocess import (
    room_url,
    seeded,
    server_env,
    service_database,
    service_unavailable,
)

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture
def two_shards(tmp_path):
    if redis_server_binary() is None:
        service_unavailable("redis-server is not installed")
    started = [start_redis(tmp_path) for _ in range(2)]
    yield [port for port, _ in started]
    for _, process in started:
        process.kill()
        process.wait()


async def test_messages_cross_processes_over_two_layer_shards(
    service_database,
    seeded,
    two_shards,
    tmp_path,
):
    first, second = (f"redis://127.0.0.1:{port}/0" for port in two_shards)
    prefix = f"shard{secrets.token_hex(4)}"
    env = {
        **server_env(service_database, first, prefix),
        "CHANNEL_LAYER_SHARDS": f"{first},{second}",
    }
    servers = [start_daphne(tmp_path, extra_env=env) for _ in range(2)]
    try:
        a, b = servers
        rooms = ["lobby", "outage"]  # two room groups: each lands on a shard of its own hash
        async with (
            connect(room_url(a, seeded["alice"], rooms[0])) as alice,
            connect(room_url(a, seeded["carol"], rooms[1])) as carol,
            connect(room_url(b, seeded["bob"], rooms[0])) as bob,
            connect(room_url(b, seeded["erin"], rooms[1])) as erin,
        ):
            for ws in (alice, carol, bob, erin):
                await next_frame(ws, "room.joined")
            for sender, reader, body in ((bob, alice, "lobby"), (erin, carol, "outage")):
                for n in range(5):
                    await sender.send(json.dumps({"type": "message.send", "body": f"{body} {n}"}))
                    assert (await next_frame(reader))["body"] == f"{body} {n}"
            # Both servers carry some of the layer's pub/sub channels.
            counts = []
            for port in two_shards:
                client = redis.Redis(port=port)
                counts.append(len(client.pubsub_channels(f"{prefix}*")))
                client.close()
            assert all(counts), f"a shard carries no channel: {counts}"
    finally:
        for server in servers:
            stop_daphne(server)
