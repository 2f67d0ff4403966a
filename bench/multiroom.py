"""One socket for many rooms (protocol 3, ``/ws/``) against one socket per room (protocol 2,
``/ws/rooms/<slug>/``): the same users in the same rooms of the same server, each way.

A user is *in* once every one of its rooms is joined: over ``/ws/``, one handshake, ``hello``,
then every ``room.join`` sent at once (a refused join is retried alone, after a backoff); over
room sockets, one handshake per room, all at once, each retried (``bench.storm.enter``). Both
retry with the browser's backoff (full jitter, capped). The rooms come from ``bench.seed``'s
``--multi`` blocks (``rooms_of``).
"""

import asyncio
import json
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection

from bench.seed import rooms_of
from bench.storm import Member, Storm, enter
from bench.target import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    CONNECT_TIMEOUT,
    TRY_ERRORS,
    Target,
    close_all,
    discard_frames,
    failure_class,
    join_frame,
    settle_rss,
)

# The two ways in, and the Target protocol each is: one /ws/ socket per user (protocol 3), or
# one socket per room (protocol 2).
MODES = {"ws": "multiplex", "rooms": "project"}


@dataclass(eq=False)
class User:
    """One user's way into its rooms, either way: its sockets, handshakes tried, when it was in."""

    index: int
    rooms: list[str]
    sockets: list[ClientConnection] = field(default_factory=list)
    readers: list[asyncio.Task] = field(default_factory=list)
    tries: int = 0
    in_at: float = 0.0


def backoff(attempt: int) -> float:
    """storm.enter's (room.js's) delay before try ``attempt + 2``: full jitter, capped."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))  # noqa: S311


def mode_of(target: Target) -> str:
    return next(mode for mode, protocol in MODES.items() if protocol == target.protocol)


async def enter_user(target: Target, user: User, storm: Storm, deadline: float) -> None:
    """``user`` in every one of its rooms, the target's way, or an exception."""
    if target.protocol == "multiplex":
        await enter_ws(target, user, storm, deadline)
    else:
        members = [Member(index=user.index, room=room) for room in user.rooms]
        entered = await asyncio.gather(
            *(enter(target, m, storm, deadline) for m in members), return_exceptions=True
        )
        user.tries += sum(m.tries for m in members)
        user.sockets += [m.ws for m in members if m.ws is not None]
        user.readers += [m.reader for m in members if m.reader is not None]
        for error in entered:
            if error is not None:
                raise error
    user.in_at = time.perf_counter()


async def enter_ws(target: Target, user: User, storm: Storm, deadline: float) -> None:
    """One ``/ws/`` socket, every room joined; a failed socket is opened again after a backoff,
    a refused join sent again alone after its own."""
    attempt = 0
    while True:
        user.tries += 1
        ws = None
        try:
            ws = await target.open_socket(user.index)
            await joined_every_room(ws, user.rooms, storm, deadline)
            user.sockets.append(ws)
            user.readers.append(asyncio.create_task(discard_frames(ws)))
            return
        except TRY_ERRORS as error:
            storm.failures[failure_class(error)] += 1
            if ws is not None:
                await ws.close()
        delay = backoff(attempt)
        attempt += 1
        if time.perf_counter() + delay > deadline:
            raise TimeoutError(f"not in after {user.tries} tries")
        await asyncio.sleep(delay)


async def joined_every_room(
    ws: ClientConnection, rooms: list[str], storm: Storm, deadline: float
) -> None:
    async with asyncio.timeout(CONNECT_TIMEOUT):
        while json.loads(await ws.recv()).get("type") != "hello":
            pass
    for room in rooms:
        await ws.send(join_frame(room))
    waiting, refusals = set(rooms), Counter()
    later: set[asyncio.Task] = set()

    async def join_later(room: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await ws.send(join_frame(room))

    try:
        while waiting:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                frame = json.loads(await ws.recv())
            if frame.get("type") == "room.joined":
                waiting.discard(frame["room"])
            elif frame.get("type") == "room.refused":
                room = frame["room"]
                storm.failures[f"room.refused {frame['code']}"] += 1
                delay = backoff(refusals[room])
                refusals[room] += 1
                if time.perf_counter() + delay > deadline:
                    raise TimeoutError(f"{room} refused {refusals[room]} times")
                later.add(asyncio.create_task(join_later(room, delay)))
    finally:
        for task in later:
            task.cancel()


async def leave_all(users: list[User]) -> None:
    await close_all([ws for user in users for ws in user.sockets])
    await asyncio.gather(*(r for user in users for r in user.readers), return_exceptions=True)


async def many_rooms(
    target: Target,
    *,
    pid: int,
    block: str,
    users: int,
    rooms: int,
    room_size: int,
    timed: int,
    concurrency: int,
    settle: float,
) -> dict:
    """Users ``0..users-1``, each in its ``rooms`` rooms of ``block``: the first ``timed`` one at a
    time (how long until all its rooms are joined, the server otherwise idle), the others
    ``concurrency`` users at a time; then the server's RSS growth per user with all of them in,
    and handshakes per user."""
    storm = Storm()
    everyone = [User(i, rooms_of(block, i, rooms, room_size)) for i in range(users)]
    far = time.perf_counter() + 300
    # Warm the server's code paths with two users, then measure from a quiet baseline.
    warm = [User(i, rooms_of(block, i, rooms, room_size)) for i in range(min(2, users))]
    for user in warm:
        await enter_user(target, user, storm, far)
    await leave_all(warm)
    storm.failures.clear()
    base = await settle_rss(pid, settle)
    join_times = []
    try:
        for user in everyone[:timed]:
            started = time.perf_counter()
            await enter_user(target, user, storm, far)
            join_times.append(user.in_at - started)
        semaphore = asyncio.Semaphore(concurrency)

        async def bounded(user: User) -> None:
            async with semaphore:
                await enter_user(target, user, storm, far)

        await asyncio.gather(*(bounded(user) for user in everyone[timed:]))
        rss = await settle_rss(pid, settle * 1.5)
    finally:
        await leave_all(everyone)
    return {
        "mode": mode_of(target),
        "users": users,
        "rooms_each": rooms,
        "kib_per_user": (rss - base) / users / 1024,
        "join_ms_p50": statistics.median(join_times) * 1000 if join_times else None,
        "handshakes_per_user": sum(user.tries for user in everyone) / users,
        "failed_tries": sum(storm.failures.values()),
        "failure_classes": dict(storm.failures),
        "rss_before_mib": base / 2**20,
        "rss_after_mib": rss / 2**20,
    }


async def many_rooms_storm(
    target: Target,
    *,
    block: str,
    users: int,
    rooms: int,
    room_size: int,
    deadline: float,
) -> dict:
    """Users ``0..users-1`` of ``block`` connect at once, each into its ``rooms`` rooms, retrying
    until it is in: time until the last room is joined, failed tries by class, handshakes."""
    storm = Storm()
    everyone = [User(i, rooms_of(block, i, rooms, room_size)) for i in range(users)]
    started = time.perf_counter()
    entered = await asyncio.gather(
        *(enter_user(target, user, storm, started + deadline) for user in everyone),
        return_exceptions=True,
    )
    inside = [user for user, error in zip(everyone, entered, strict=True) if error is None]
    await leave_all(everyone)
    return {
        "mode": mode_of(target),
        "users": users,
        "rooms_each": rooms,
        "in": len(inside),
        "not_in": users - len(inside),
        "seconds": (max(u.in_at for u in inside) - started) if inside else None,
        "p50_in_s": statistics.median(u.in_at - started for u in inside) if inside else None,
        "handshakes": sum(user.tries for user in everyone),
        "failed_tries": sum(storm.failures.values()),
        "failure_classes": dict(storm.failures),
        "first_error": next((repr(e) for e in entered if e is not None), None),
    }
