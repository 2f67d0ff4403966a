"""The socket's dispatch (``realtime.socket.GuardedConsumer.handle``): channels' own, minus the
connection cleanup before every handler, a thread-pool hop per frame and per event."""

import pytest
from channels import consumer as channels_consumer

from realtime.guard import GuardedConsumer


class Recorder(GuardedConsumer):
    def __init__(self) -> None:
        super().__init__()
        self.heard: list[dict] = []

    async def room_event(self, event: dict) -> None:
        self.heard.append(event)


@pytest.fixture
def cleanups(monkeypatch):
    calls = []

    async def counted():
        calls.append(1)

    monkeypatch.setattr(channels_consumer, "aclose_old_connections", counted)
    return calls


async def test_a_message_reaches_its_handler_without_a_connection_cleanup(cleanups):
    socket = Recorder()
    await socket.handle({"type": "room.event", "n": 1})
    assert socket.heard == [{"type": "room.event", "n": 1}]
    assert cleanups == []


async def test_channels_own_dispatch_still_cleans_up(cleanups):
    """What the override saves: if channels stops doing this, the override can go."""
    socket = Recorder()
    await channels_consumer.AsyncConsumer.dispatch(socket, {"type": "room.event"})
    assert cleanups == [1]


async def test_a_message_without_a_handler_is_an_error():
    with pytest.raises(ValueError, match=r"No handler for message type nothing\.here"):
        await Recorder().handle({"type": "nothing.here"})
