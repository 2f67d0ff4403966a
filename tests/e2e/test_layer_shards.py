"""The channel layer over two Redis servers (``CHANNEL_LAYER_SHARDS``): channels-redis puts each
channel and group on one shard by a hash of its name, so both servers carry part of the
traffic, and messages, presence and revocations still cross between processes."""

import json
import secrets

import pytest
import redis
from websockets.asyncio.client import connect

from ..live import next_frame, start_daphne, stop_daphne
from ..services import start_redis_server
from .test_multiprocess import room_url, seeded, server_env, service_database

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture
def two_shards(tmp_path):
    started = []
    for name in ("shard1", "shard2"):
        (tmp_path / name).mkdir()
        started.append(start_redis_server(tmp_path / name))
    yield [server.port for server in started]
    for server in started:
        server.kill()


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
