"""After-commit sends from a database thread never hang it: a stopped server loop (SIGTERM
while a send waited on the database) loses the event, logged, and lets the process exit."""

import asyncio
import logging
import threading
import time

import pytest

from realtime import bus, layer_health


@pytest.fixture
def stopped_serving_loop(monkeypatch):
    loop = asyncio.new_event_loop()  # never run again: daphne's loop after SIGTERM
    monkeypatch.setattr(layer_health, "_serving", lambda: loop)
    yield loop
    loop.close()


def test_an_after_commit_send_to_a_stopped_loop_gives_up_at_once(stopped_serving_loop, caplog):
    caplog.set_level(logging.WARNING, logger="chat.events")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        bus.publish_from_thread("room.1", {"type": "message.new"})
    assert time.monotonic() - started < 1


# asyncio's own: a cancelled run_coroutine_threadsafe never starts its coroutine.
@pytest.mark.filterwarnings("ignore:coroutine '_group_send' was never awaited")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_loop_that_never_gets_to_the_send_frees_the_thread(monkeypatch, settings):
    """Running but wedged (the send never scheduled in time): the thread waits a bounded time."""
    settings.REDIS_TIMEOUT_SECONDS = 0.2
    loop = asyncio.new_event_loop()
    wedged = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.call_soon(lambda: wedged.wait(5))  # blocks the loop, as a stuck callback would
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while not loop.is_running():
        time.sleep(0.01)
    monkeypatch.setattr(layer_health, "_serving", lambda: loop)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        bus.publish_from_thread("room.1", {"type": "message.new"})
    assert time.monotonic() - started < 2
    wedged.set()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
