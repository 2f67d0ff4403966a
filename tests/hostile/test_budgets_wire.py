"""Limits that hold per user, not per socket: reconnecting never refills the message budget,
binary frames count against the size cap and the budget like text ones."""

import asyncio
import contextlib
import json
import time

import pytest
from websockets.asyncio.client import connect

from realtime.close_codes import CloseCode, ErrorCode

from ..live import next_frame
from .ledger import LEDGER
from .rawws import OP_BINARY, frame
from .test_frames_wire import closed_with, raw_member, send_json

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]

CAPACITY = 10  # CHAT_RATE_LIMIT_MESSAGES per CHAT_RATE_LIMIT_SECONDS (10 s): 1 token a second


async def test_reconnecting_does_not_refill_the_message_budget(wire):
    """The attack found: connect, send 10, close, 30 times in a second stored 300 messages."""
    stored, limited, started = 0, 0, time.monotonic()
    for attempt in range(30):
        async with connect(wire.url(wire.users["erin"])) as erin:
            await next_frame(erin, "room.joined")
            bodies = [f"r{attempt}-{i}" for i in range(CAPACITY)]
            for body in bodies:
                await erin.send(send_json(body))
            LEDGER.case("frames", CAPACITY)
            stored_bodies = set()
            for _ in bodies:  # each send gets exactly one answer: its message.new or an error
                reply = await next_reply(erin)
                if reply["type"] == "message.new":
                    stored_bodies.add(wire.observe(reply)["body"])
                else:
                    assert reply["code"] == ErrorCode.RATE_LIMITED
                    limited += 1
            stored += len(stored_bodies)
            wire.refused.update(set(bodies) - stored_bodies)
    elapsed = time.monotonic() - started
    # The burst plus what the bucket refilled meanwhile; nothing more, whatever the reconnects.
    assert stored <= CAPACITY + int(elapsed) + 1
    assert limited >= 300 - stored


async def next_reply(ws) -> dict:
    """The next message.new of this socket's own sends or error frame (presence skipped)."""
    async with asyncio.timeout(5):
        while True:
            reply = json.loads(await ws.recv())
            if reply["type"] in ("message.new", "error"):
                return reply


async def test_binary_frames_count_against_the_budget_and_close_4008(wire):
    raw = await raw_member(wire, wire.users["erin"])
    try:
        data = b"".join(frame(OP_BINARY, b"\x00" * 8) for _ in range(2000))
        LEDGER.case("frames", 2000)
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            await asyncio.to_thread(raw.send, data)
        code = await asyncio.to_thread(raw.close_code, 10)
    finally:
        raw.close()
    assert code == CloseCode.RATE_LIMITED


async def test_oversized_binary_frame_closes_1009(wire):
    async with connect(wire.url(wire.users["erin"]), max_size=None) as erin:
        await next_frame(erin, "room.joined")
        LEDGER.case("frames")
        await erin.send(b"\x00" * 500_000)
        assert await closed_with(erin) == CloseCode.MESSAGE_TOO_BIG
