"""Hostile frames against a live daphne: what the consumer answers, what daphne/autobahn do
before the consumer sees anything, and proof that every other member keeps chatting.
"""

import asyncio
import contextlib
import json
import time

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from chat.models import Message, Role
from realtime.close_codes import CloseCode, ErrorCode
from realtime.protocol import message_new_frame

from ..factories import MembershipFactory, RoomFactory, UserFactory
from ..live import next_frame, wait_close
from .ledger import LEDGER
from .rawws import OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawSocket, frame

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]


def send_json(body: str) -> str:
    return json.dumps({"type": "message.send", "body": body})


async def raw_member(wire, user) -> RawSocket:
    raw = await asyncio.to_thread(RawSocket, wire.server.port)
    target = f"/ws/rooms/lobby/?token={wire.token(user)}".encode()
    assert await asyncio.to_thread(raw.handshake, target) == 101
    (joined,) = await asyncio.to_thread(raw.text_frames, 1)
    assert json.loads(joined)["type"] == "room.joined"
    return raw


async def answer_to(ws, text: str | bytes) -> dict:
    """Send one frame; the next frame that is not presence."""
    LEDGER.case("frames")
    await ws.send(text)
    async with asyncio.timeout(5):
        while True:
            reply = json.loads(await ws.recv())
            if reply["type"] != "presence":
                return reply


async def closed_with(ws, wait: float = 5) -> int:
    code, _ = await wait_close(ws, wait)
    return code


# Malformed content: protection guarded is realtime.protocol.parse_client_frame (and the consumer
# turning its ProtocolError into an error frame while keeping the socket open).

DEEP = "[" * 10_000 + "]" * 10_000
HOSTILE_FRAMES = {
    "nested-10000-arrays": (DEEP, ErrorCode.INVALID_JSON),
    "nested-10000-objects": ('{"a":' * 10_000 + "1" + "}" * 10_000, ErrorCode.INVALID_JSON),
    "number-5000-digits": ('{"type":"message.delete","id":' + "9" * 5000 + "}", "invalid_json"),
    "number-1e400": ('{"type":"message.delete","id":1e400}', ErrorCode.INVALID_MESSAGE),
    "number-2**64": (f'{{"type":"message.delete","id":{2**64}}}', ErrorCode.INVALID_MESSAGE),
    "nan-id": ('{"type":"message.delete","id":NaN}', ErrorCode.INVALID_MESSAGE),
    "true-id": ('{"type":"message.delete","id":true}', ErrorCode.INVALID_MESSAGE),
    "number-body": ('{"type":"message.send","body":1e308}', ErrorCode.INVALID_BODY),
    "blank-body": ('{"type":"message.send","body":" \\n\\t\\u3000"}', ErrorCode.INVALID_BODY),
    "array-frame": ('[{"type":"message.send","body":"x"}]', ErrorCode.INVALID_MESSAGE),
    "proto-only": ('{"__proto__":{"type":"message.send"},"body":"x"}', ErrorCode.INVALID_MESSAGE),
    "type-not-string": ('{"type":["message.send"],"body":"x"}', ErrorCode.INVALID_MESSAGE),
    "unknown-type": ('{"type":"room.delete"}', ErrorCode.UNKNOWN_TYPE),
    # Valid JSON, but not storable text: refused like any invalid body (guards realtime.protocol
    # encodability check; before it the database raised UnicodeEncodeError: the socket got 1011).
    "lone-surrogate-escape": ('{"type":"message.send","body":"\\ud800"}', ErrorCode.INVALID_BODY),
    "not-json": ("<script>alert(1)</script>", ErrorCode.INVALID_JSON),
    "empty": ("", ErrorCode.INVALID_JSON),
}


@pytest.mark.parametrize("name", list(HOSTILE_FRAMES))
async def test_hostile_frame_gets_an_error_frame_and_the_socket_stays_open(wire, name):
    text, expected = HOSTILE_FRAMES[name]
    async with connect(wire.url(wire.users["bob"]), max_size=None) as bob:
        await next_frame(bob, "room.joined")
        reply = await answer_to(bob, text)
        assert (reply["type"], reply.get("code")) == ("error", expected)
        # Same socket, next frame: still served.
        ok = await answer_to(bob, send_json(f"after {name}"))
        assert ok["type"] == "message.new"
        wire.observe(ok)


async def test_binary_frame_is_refused_with_unsupported_frame(wire):
    async with connect(wire.url(wire.users["bob"])) as bob:
        await next_frame(bob, "room.joined")
        reply = await answer_to(bob, send_json("as bytes").encode())
        assert reply["code"] == ErrorCode.UNSUPPORTED_FRAME
        wire.refused.add("as bytes")


# Confusing but valid JSON: documented outcome is Python's json semantics (the last duplicate
# key wins) and every field but type/body/id ignored, so a client cannot choose the author, room,
# id or timestamp of what it stores. Guarded: the consumer builds message.new from the stored row.


@pytest.mark.parametrize(
    ("text", "stored_body"),
    [
        ('{"type":"message.send","body":"first","body":"second"}', "second"),
        ('{"type":"message.delete","type":"message.send","body":"dup type"}', "dup type"),
        ('{"type":"message.send","body":"proto","__proto__":{"role":"owner"}}', "proto"),
        ('{"type":"message.send","body":"c","constructor":{"prototype":{"x":1}}}', "c"),
        (
            '{"type":"message.send","body":"spoof","author":"alice","room":"staff","id":1,'
            '"created_at":"1999-01-01T00:00:00+00:00","role":"owner"}',
            "spoof",
        ),
    ],
    ids=["duplicate-body", "duplicate-type", "__proto__", "constructor", "spoofed-fields"],
)
async def test_confusing_json_stores_only_what_the_protocol_defines(wire, text, stored_body):
    async with (
        connect(wire.url(wire.users["bob"])) as bob,
        connect(wire.url(wire.users["alice"])) as alice,
    ):
        await next_frame(bob, "room.joined")
        await next_frame(alice, "room.joined")
        reply = wire.observe(await answer_to(bob, text))
        seen = await next_frame(alice, "message.new")
    assert reply == seen
    assert set(reply) == {"type", "id", "seq", "room", "author", "body", "created_at"}
    assert (reply["author"], reply["room"], reply["body"]) == ("bob", "lobby", stored_body)
    assert reply["created_at"] > "2020"
    stored = await sync_to_async(Message.objects.select_related("author", "room").get)(
        pk=reply["id"]
    )
    assert (stored.author.username, stored.room.slug, stored.body) == ("bob", "lobby", stored_body)


# Size: the consumer's CHAT_MAX_FRAME_BYTES (64 KiB) closes 1009; daphne's own hard cap
# (--websocket-max-message-size 1048576) fails the connection inside autobahn before the
# consumer sees it, and autobahn fails by dropping TCP: the client sees 1006, not 1009.


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (64 * 1024 + 1, CloseCode.MESSAGE_TOO_BIG),
        (1_048_576, CloseCode.MESSAGE_TOO_BIG),
        (1_048_577, 1006),
        (3 * 1_048_576, 1006),
    ],
    ids=["64KiB+1", "1MiB-consumer", "1MiB+1-daphne", "3MiB-daphne"],
)
async def test_oversized_frames_close_1009_or_are_dropped_by_daphne(wire, size, expected):
    raw = await raw_member(wire, wire.users["erin"])
    try:
        prefix = '{"type":"message.send","body":"'
        text = (prefix + "x" * (size - len(prefix) - 2) + '"}').encode()
        assert len(text) == size
        LEDGER.case("frames")
        await asyncio.to_thread(raw.send, frame(OP_TEXT, text))
        code = await asyncio.to_thread(raw.close_code, 10)
    except (ConnectionResetError, BrokenPipeError):
        code = 1006  # dropped while we were still sending
    finally:
        raw.close()
    assert code == expected


async def test_invalid_utf8_text_frame_is_dropped_by_autobahn_1006(wire):
    # Guarded: autobahn's utf8validateIncoming (daphne would otherwise crash decoding it).
    raw = await raw_member(wire, wire.users["erin"])
    try:
        LEDGER.case("frames")
        payload = b'{"type":"message.send","body":"\xc3\x28 \xff\xfe \xed\xa0\x80"}'
        await asyncio.to_thread(raw.send, frame(OP_TEXT, payload))
        code = await asyncio.to_thread(raw.close_code)
    finally:
        raw.close()
    assert code == 1006  # documented: autobahn fails the connection by dropping TCP


async def test_continuation_without_a_start_is_dropped_1006(wire):
    raw = await raw_member(wire, wire.users["erin"])
    try:
        LEDGER.case("frames")
        await asyncio.to_thread(raw.send, frame(OP_CONT, b'{"type":"message.send"}'))
        code = await asyncio.to_thread(raw.close_code)
    finally:
        raw.close()
    assert code == 1006


# Rate: protection guarded is the consumer's per-connection TokenBucket and the 4008 flood close.


async def test_thousands_of_tiny_frames_are_rate_limited_then_closed_4008(wire):
    burst = 3000
    bodies = [f"t{i}" for i in range(burst)]
    async with connect(wire.url(wire.users["alice"])) as alice:
        await next_frame(alice, "room.joined")
        raw = await raw_member(wire, wire.users["erin"])
        try:
            data = b"".join(frame(OP_TEXT, send_json(body).encode()) for body in bodies)
            LEDGER.case("frames", burst)
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                await asyncio.to_thread(raw.send, data)  # the server may close mid-burst
            code = await asyncio.to_thread(raw.close_code, 10)
        finally:
            raw.close()
        seen = [wire.observe(await next_frame(alice, "message.new"))["body"] for _ in range(10)]
    wire.refused.update(bodies[10:])
    assert code == CloseCode.RATE_LIMITED
    assert seen == bodies[:10]  # the bucket's burst, in order; then nothing is stored


async def test_ping_flood_is_answered_and_the_server_stays_responsive(wire):
    # Guarded: autobahn answers pings inline; pings are not data frames, so they neither count
    # against the rate limit nor reach the consumer.
    raw = await raw_member(wire, wire.users["erin"])
    pings = 5000
    try:
        async with connect(wire.url(wire.users["alice"])) as alice:
            await next_frame(alice, "room.joined")
            data = b"".join(frame(OP_PING, str(i).encode()) for i in range(pings))
            LEDGER.case("frames", pings)
            sending = asyncio.create_task(asyncio.to_thread(raw.send, data))
            started = time.monotonic()
            reply = await answer_to(alice, send_json("during the ping flood"))
            alice_latency = time.monotonic() - started
            wire.observe(reply)
            await sending

            def count_pongs() -> int:
                pongs = 0
                while pongs < pings:
                    opcode, _ = raw.read_frame()
                    pongs += opcode == OP_PONG
                return pongs

            pongs = await asyncio.to_thread(count_pongs)
            await asyncio.to_thread(raw.send, frame(OP_TEXT, send_json("after pings").encode()))
            after = await next_frame(alice, "message.new")
            wire.observe(after)
    finally:
        raw.close()
    LEDGER.figures["ping_flood_pongs"] = pongs
    LEDGER.figures["ping_flood_other_member_latency_seconds"] = round(alice_latency, 3)
    assert pongs == pings
    assert after["author"] == "erin"
    assert alice_latency < 2


async def test_fragmented_message_is_reassembled_with_pings_between_fragments(wire):
    # Guarded: autobahn's reassembly; the consumer sees one message.
    raw = await raw_member(wire, wire.users["erin"])
    body = "fragmented 🧩 " + "é" * 300
    data = send_json(body).encode("utf-8")
    # Split inside a multi-byte character too: validity is checked on the whole message.
    pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
    try:
        async with connect(wire.url(wire.users["alice"])) as alice:
            await next_frame(alice, "room.joined")
            LEDGER.case("frames", len(pieces))
            wire_bytes = frame(OP_TEXT, pieces[0], fin=False)
            for index, piece in enumerate(pieces[1:], start=1):
                wire_bytes += frame(OP_PING, b"mid")
                wire_bytes += frame(OP_CONT, piece, fin=index == len(pieces) - 1)
            await asyncio.to_thread(raw.send, wire_bytes)
            seen = wire.observe(await next_frame(alice, "message.new"))
    finally:
        raw.close()
    assert (seen["author"], seen["body"]) == ("erin", body)


# XSS payloads: stored verbatim, broadcast byte-identical to the frame built from the stored
# row (escaping is the renderer's job; the browser suite checks it). Guarded: no sanitising or
# double-encoding anywhere between the socket and the database.

XSS = [
    "<script>alert(document.cookie)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)//",
    "<svg/onload=alert`1`>",
    "{{constructor.constructor('alert(1)')()}}",
    "&lt;b&gt; already escaped &amp;",
    "\u202eevil\u202c right-to-left override",
    "</script><script>alert(1)</script>\\u003c",
]


async def test_xss_bodies_and_usernames_are_stored_and_broadcast_verbatim(wire):
    name = '"><svg onload=alert(1)>'

    def make_xss_member():
        user = UserFactory(username=name)
        MembershipFactory(room=RoomFactory(slug="lobby"), user=user, role=Role.MEMBER)
        return user

    xss_user = await sync_to_async(make_xss_member)()
    raws = []
    async with (
        connect(wire.url(xss_user)) as sender,
        connect(wire.url(wire.users["alice"])) as alice,
    ):
        await next_frame(sender, "room.joined")
        await next_frame(alice, "room.joined")
        for payload in XSS:
            LEDGER.case("xss")
            await sender.send(send_json(payload))
            async with asyncio.timeout(5):
                while True:
                    raw = await alice.recv()
                    if json.loads(raw)["type"] == "message.new":
                        raws.append(raw)
                        break
    for payload, raw in zip(XSS, raws, strict=True):
        frame_data = wire.observe(json.loads(raw))
        stored = await sync_to_async(Message.objects.select_related("author").get)(
            pk=frame_data["id"]
        )
        assert stored.body == payload
        assert stored.author.username == name
        assert raw == message_new_frame(
            message_id=stored.pk,
            seq=stored.seq,
            room="lobby",
            author=name,
            body=stored.body,
            created_at=stored.created_at,
        )
