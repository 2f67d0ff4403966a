"""The reconnect storm: every member of several rooms reconnects at once with the browser's
backoff, and presence must come out exact."""

import asyncio
import json
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.target import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    CONNECT_TIMEOUT,
    TRY_ERRORS,
    Target,
    UnexpectedFrame,
    close_all,
    failure_class,
    frame_body,
)


@dataclass(eq=False)
class Member:
    """One socket of the storm or the scale curve: user ``index`` in room ``room``."""

    index: int
    room: str
    ws: ClientConnection | None = None
    online: set[str] | None = None  # room.joined's list with every presence change applied
    tries: int = 0
    in_at: float = 0.0
    dropped: str | None = None  # why the server closed it after it was in
    reader: asyncio.Task | None = None


@dataclass
class Storm:
    """What every member's reader records: failed tries by class, presence traffic, latencies."""

    failures: Counter = field(default_factory=Counter)
    last_presence_at: float = 0.0
    presence_frames: int = 0
    tag: str = ""
    sent_at: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


async def enter(target: Target, member: Member, storm: Storm, deadline: float) -> None:
    """Open ``member``'s socket and wait until it is in (the project: ``room.joined`` received;
    the tutorial: accepted), retrying each failed try after a jittered backoff (the chat page's,
    static/chat/socket.js)."""
    attempt = 0
    while True:
        member.tries += 1
        try:
            member.ws = await target.open(member.index, room=member.room)
            if target.protocol == "project":
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    frame = json.loads(await member.ws.recv())
                if frame.get("type") != "room.joined":
                    raise UnexpectedFrame(frame.get("code") or frame.get("type"))
                member.online = set(frame.get("online") or ())
            member.in_at = time.perf_counter()
            # Read from now on: frames left unread would stall the socket (websockets' max_queue).
            member.reader = asyncio.create_task(member_reader(member, storm))
            return
        except (*TRY_ERRORS, UnexpectedFrame) as error:
            storm.failures[failure_class(error)] += 1
            if member.ws is not None:
                await member.ws.close()
                member.ws = None
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
        attempt += 1
        delay = random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)
        if time.perf_counter() + delay > deadline:
            raise TimeoutError(f"not in after {member.tries} tries")
        await asyncio.sleep(delay)


async def member_reader(member: Member, storm: Storm) -> None:
    """Reads everything the room sends: presence (the last online list), tagged messages."""
    try:
        async for text in member.ws:
            if storm.tag and storm.tag in text:
                body = frame_body(text)
                if body in storm.sent_at:
                    storm.latencies.append(time.perf_counter() - storm.sent_at[body])
                continue
            if '"presence"' in text:
                frame = json.loads(text)
                if frame.get("type") == "presence":
                    storm.last_presence_at = time.perf_counter()
                    storm.presence_frames += 1
                    if member.online is not None:
                        member.online.update(frame["joined"])
                        member.online.difference_update(frame["left"])
    except ConnectionClosed:
        pass
    if member.ws.close_code not in (1000, None):
        member.dropped = f"close {member.ws.close_code}"


async def until_samples(storm: Storm, count: int, limit: float) -> None:
    """Wait (at most ``limit`` seconds) until ``count`` latency samples arrived."""
    deadline = time.perf_counter() + limit
    # Polling a counter, bounded by the deadline.
    while len(storm.latencies) < count and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def quiet(storm: Storm, seconds: float, limit: float) -> None:
    """Wait until no presence frame arrived for ``seconds`` (at most ``limit`` seconds)."""
    deadline = time.perf_counter() + limit
    # Polling a timestamp, bounded by the deadline.
    while time.perf_counter() < deadline:
        if time.perf_counter() - storm.last_presence_at >= seconds:
            return
        await asyncio.sleep(0.05)


async def online_seen_by_fresh_socket(target: Target, index: int, room: str) -> list[str] | None:
    """A fresh socket as user ``index`` (in ``room`` already, or alone): room.joined's list."""
    ws = await target.open_retry(index, room=room)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            frame = json.loads(await ws.recv())
        return sorted(frame["online"]) if frame.get("type") == "room.joined" else None
    finally:
        await ws.close()


async def presence_exact(
    target: Target, expected: dict[str, list[str]], first: dict[str, int], limit: float
) -> dict:
    """Every room's fresh-socket online list equals ``expected`` (retried for ``limit`` seconds:
    closing sockets leave asynchronously). Returns the rooms that never matched."""
    deadline = time.perf_counter() + limit
    wrong = {}
    for room, users in expected.items():
        while True:
            seen = await online_seen_by_fresh_socket(target, first[room], room)
            if seen == sorted(users):
                wrong.pop(room, None)
                break
            wrong[room] = {
                "missing": sorted(set(users) - set(seen or [])),
                "extra": sorted(set(seen or []) - set(users)),
            }
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.2)
    return wrong


async def reconnect_storm(
    target: Target, *, sockets: int, rooms: int, deadline: float, settle: float
) -> dict:
    """``sockets`` sockets (user i in room ``storm-<i // per_room>``) connect at once, each retrying
    until it is in. Time until all are in; failed tries by class; for the project, whether every
    room's online list is exact once the storm has settled, and again after every client left."""
    per_room = -(-sockets // rooms)
    members = [Member(index=i, room=f"storm-{i // per_room}") for i in range(sockets)]
    storm = Storm()
    started = time.perf_counter()
    entered = await asyncio.gather(
        *(enter(target, m, storm, started + deadline) for m in members), return_exceptions=True
    )
    inside = [m for m, e in zip(members, entered, strict=True) if e is None]
    result = {
        "sockets": sockets,
        "rooms": rooms,
        "in": len(inside),
        "seconds": (max(m.in_at for m in inside) - started) if inside else None,
        "p50_in_s": statistics.median(m.in_at - started for m in inside) if inside else None,
        "tries": sum(m.tries for m in members),
        "failed_tries": sum(storm.failures.values()),
        "failure_classes": dict(storm.failures),
        "not_in": sockets - len(inside),
        "first_error": next((repr(e) for e in entered if e is not None), None),
    }
    try:
        if target.protocol == "project":
            await quiet(storm, settle, 30)
            expected: dict[str, list[str]] = {}
            first: dict[str, int] = {}
            for m in inside:
                expected.setdefault(m.room, []).append(target.usernames[m.index])
                first.setdefault(m.room, m.index)
            # Each socket's own view: the last presence frame (or room.joined) it was sent.
            result["last_view_exact"] = sum(
                sorted(m.online or []) == sorted(expected[m.room]) for m in inside
            )
            result["presence_frames"] = storm.presence_frames
            wrong = await presence_exact(target, expected, first, limit=5)
            result["presence_wrong_rooms"] = wrong
    finally:
        await close_all([m.ws for m in inside])
        await asyncio.gather(*(m.reader for m in inside), return_exceptions=True)
    result["dropped"] = dict(Counter(m.dropped for m in inside if m.dropped))
    if target.protocol == "project":
        alone = {room: [target.usernames[i]] for room, i in first.items()}
        wrong_after = await presence_exact(target, alone, first, limit=5)
        result["presence_wrong_after_close"] = wrong_after
        result["presence_exact"] = (
            len(inside) == sockets and not result["presence_wrong_rooms"] and not wrong_after
        )
    return result
