"""Compare channels-redis' two layers on this app's traffic shape (quick, not the bench harness).

Two layer instances stand in for two daphne processes. Each holds ``--sockets`` channels in one
room group (half per "process") with a receive loop per channel, as a consumer has. We measure:

- join: ``new_channel`` + two ``group_add`` (room and user groups) per socket, like ``connect``;
- fan-out: one ``group_send`` of a ~200-byte ``message.new`` until every socket has it (latency),
  and ``--messages`` sends back to back until all are delivered (throughput);
- leave: ``group_discard`` of both groups and the receive loop cancelled, like ``disconnect``.

    REDIS_URL=redis://127.0.0.1:6379/15 python deploy/compare_layers.py --sockets 1000

``--sockets 2`` is this app's real shape: realtime/fanout.py puts one channel per server process
in a room group and fans out locally, so a room's group has as many members as processes.
Results and the choice they led to: docs/production.md.
"""

import argparse
import asyncio
import os
import statistics
import time

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

FRAME = '{"type": "message.new", "id": 1, "room": "lobby", "author": "bob", "body": "%s"}' % (
    "x" * 120
)


async def run(layer_cls, url: str, sockets: int, messages: int) -> dict:
    prefix = f"cmp{os.getpid()}"
    layers = [layer_cls(hosts=[url], prefix=prefix, capacity=5000) for _ in range(2)]
    if layer_cls is RedisPubSubChannelLayer:
        layers = [layer_cls(hosts=[url], prefix=prefix) for _ in range(2)]
    received = [0] * sockets
    done = asyncio.Event()
    target = 0

    async def pump(layer, name, index):
        nonlocal target
        while True:
            await layer.receive(name)
            received[index] += 1
            if received[index] >= target and all(r >= target for r in received):
                done.set()

    start = time.perf_counter()
    names, tasks = [], []
    for index in range(sockets):
        layer = layers[index % 2]
        name = await layer.new_channel()
        await layer.group_add("room.1", name)
        await layer.group_add(f"user.{index}", name)
        names.append((layer, name, index))
        tasks.append(asyncio.create_task(pump(layer, name, index)))
    join = time.perf_counter() - start
    await asyncio.sleep(0.2)

    latencies = []
    for _ in range(20):
        target += 1
        done.clear()
        t0 = time.perf_counter()
        await layers[0].group_send("room.1", {"type": "message.new", "text": FRAME})
        await asyncio.wait_for(done.wait(), 30)
        latencies.append(time.perf_counter() - t0)

    target += messages
    done.clear()
    t0 = time.perf_counter()
    for _ in range(messages):
        await layers[0].group_send("room.1", {"type": "message.new", "text": FRAME})
    await asyncio.wait_for(done.wait(), 120)
    burst = time.perf_counter() - t0

    t0 = time.perf_counter()
    for layer, name, index in names:
        await layer.group_discard("room.1", name)
        await layer.group_discard(f"user.{index}", name)
    leave = time.perf_counter() - t0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for layer in layers:
        await layer.flush()
    return {
        "join_s": join,
        "fanout_median_ms": statistics.median(latencies) * 1000,
        "burst_msgs_per_s": messages / burst,
        "deliveries_per_s": messages * sockets / burst,
        "leave_s": leave,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    for cls in (RedisChannelLayer, RedisPubSubChannelLayer):
        result = asyncio.run(run(cls, url, args.sockets, args.messages))
        print(cls.__name__, {k: round(v, 2) for k, v in result.items()}, flush=True)


if __name__ == "__main__":
    main()
