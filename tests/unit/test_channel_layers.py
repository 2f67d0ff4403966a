"""config.channel_layers: channels' in-memory layer with its expiry sweep throttled."""

import asyncio

from channels.layers import InMemoryChannelLayer as StockLayer

from config.channel_layers import InMemoryChannelLayer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_sweep_runs_once_per_interval_not_once_per_call(monkeypatch):
    sweeps = []
    monkeypatch.setattr(StockLayer, "_clean_expired", lambda self: sweeps.append(1))
    layer = InMemoryChannelLayer(clean_interval=1.0)
    layer.clock = Clock()
    channel = await layer.new_channel()
    await layer.group_add("room.1", channel)
    for _ in range(50):
        await layer.group_send("room.1", {"type": "x"})
        await layer.receive(channel)
    assert len(sweeps) == 1
    layer.clock.now += 1.0
    await layer.group_send("room.1", {"type": "x"})
    assert len(sweeps) == 2


async def test_expired_messages_still_go_and_take_their_channel_out_of_groups():
    layer = InMemoryChannelLayer(expiry=0, clean_interval=1.0)
    layer.clock = Clock()
    channel = await layer.new_channel()
    await layer.group_add("room.1", channel)
    await layer.send(channel, {"type": "never read"})
    await asyncio.sleep(0.01)  # past its expiry
    await layer.group_send("room.2", {"type": "x"})  # swept at the first call
    assert channel not in layer.channels
    assert channel not in layer.groups.get("room.1", {})
    await layer.send(channel, {"type": "also never read"})
    await asyncio.sleep(0.01)
    await layer.group_send("room.2", {"type": "x"})
    assert channel in layer.channels  # within the interval: not swept yet
    layer.clock.now += 1.0
    await layer.group_send("room.2", {"type": "x"})
    assert channel not in layer.channels
