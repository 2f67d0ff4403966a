"""The process-local fan-out under the consumer."""

import asyncio

from channels.layers import get_channel_layer

from realtime.bus import room_group
from realtime.fanout import RoomFanout


class FakeSocket:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[dict] = []
        self.fail = fail

    async def deliver(self, event: dict) -> None:
        if self.fail:
            raise RuntimeError("broken socket")
        self.events.append(event)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_layer_delivery_reaches_every_local_socket_of_the_room():
    fanout, layer = RoomFanout(), get_channel_layer()
    sockets = [FakeSocket() for _ in range(3)]
    elsewhere = FakeSocket()
    for socket in sockets:
        await fanout.join(1, socket)
    await fanout.join(2, elsewhere)
    assert len(layer.groups[room_group(1)]) == 1  # one process channel, not three
    await layer.group_send(room_group(1), {"type": "x", "room_id": 1, "text": "hi"})
    await settle()
    assert all(s.events == [{"type": "x", "room_id": 1, "text": "hi"}] for s in sockets)
    assert elsewhere.events == []
    fanout.receiver.cancel()


async def test_a_failing_socket_does_not_stop_the_others(caplog):
    fanout, layer = RoomFanout(), get_channel_layer()
    broken, healthy = FakeSocket(fail=True), FakeSocket()
    await fanout.join(1, broken)
    await fanout.join(1, healthy)
    await layer.group_send(room_group(1), {"type": "x", "room_id": 1, "text": "hi"})
    await settle()
    assert len(healthy.events) == 1
    assert "delivery to one socket failed" in caplog.text
    fanout.receiver.cancel()


async def test_last_socket_leaving_unsubscribes_the_process():
    fanout, layer = RoomFanout(), get_channel_layer()
    first, second = FakeSocket(), FakeSocket()
    await fanout.join(7, first)
    await fanout.join(7, second)
    await fanout.leave(7, first)
    assert fanout.channel in layer.groups.get(room_group(7), {})
    await fanout.leave(7, second)
    assert fanout.channel not in layer.groups.get(room_group(7), {})
    assert fanout.rooms == {}
    fanout.receiver.cancel()


async def test_a_draining_process_stops_presence_to_its_sockets_and_keeps_messages():
    fanout, layer = RoomFanout(), get_channel_layer()
    socket = FakeSocket()
    await fanout.join(1, socket)
    fanout.stop_presence()
    presence = {"type": "presence.changed", "room_id": 1, "text": "{}", "versions": {}}
    message = {"type": "message.new", "room_id": 1, "text": "hi"}
    await layer.group_send(room_group(1), presence)
    await layer.group_send(room_group(1), message)
    await settle()
    assert socket.events == [message]
    fanout.receiver.cancel()
