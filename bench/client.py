"""The load generator: a separate process that drives one server with ``websockets``.

``python -m bench.client SPEC.json OUT.json``: SPEC names the server (URL, protocol, pid),
the credentials file and the scenarios to run; OUT receives one result per scenario. Every loop
is bounded by a count and a deadline; nothing here talks to anything but the loopback server.
"""

import asyncio
import json
import random
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus

CONNECT_TIMEOUT = 10.0
# static/chat/room.js's reconnect policy: exponential backoff from 0.5 s, capped, full jitter.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
# What a failed try raises: the handshake, the socket, or the wait for room.joined.
TRY_ERRORS = (OSError, InvalidHandshake, InvalidMessage, TimeoutError, ConnectionClosed)


@dataclass
class Target:
    """How to open a socket on one server variant as user ``i``."""

    ws: str
    origin: str
    protocol: str  # "project" | "tutorial" | "ceiling"
    tokens: list[str]
    sessions: list[str]
    usernames: list[str] = field(default_factory=list)

    def request(self, i: int, auth: str, room: str) -> tuple[str, dict[str, str]]:
        if self.protocol == "tutorial":
            return f"{self.ws}/ws/chat/{room}/", {}
        if self.protocol == "ceiling":
            return f"{self.ws}/", {}
        if auth == "session":
            cookie = f"sessionid={self.sessions[i % len(self.sessions)]}"
            return f"{self.ws}/ws/rooms/{room}/", {"Cookie": cookie, "Origin": self.origin}
        return f"{self.ws}/ws/rooms/{room}/?token={self.tokens[i % len(self.tokens)]}", {}

    async def open_retry(self, i: int, room: str = "bench") -> ClientConnection:
        """Open a JWT socket, retrying once: for setting up a room or idle sockets, where the
        rate is not what is measured (daphne drops handshakes it cannot finish in 5 s)."""
        try:
            return await self.open(i, room=room)
        except (OSError, InvalidHandshake, InvalidMessage, TimeoutError):
            await asyncio.sleep(0.5)
            return await self.open(i, room=room)

    async def open(self, i: int, auth: str = "jwt", room: str = "bench") -> ClientConnection:
        url, headers = self.request(i, auth, room)
        return await connect(
            url,
            additional_headers=headers,
            compression=None,
            open_timeout=CONNECT_TIMEOUT,
            ping_interval=None,
            close_timeout=5,
            max_size=2**20,
        )


def send_frame(body: str) -> str:
    """One client frame every variant understands (project: body, tutorial: message)."""
    return json.dumps({"type": "message.send", "body": body, "message": body})


def frame_body(text: str) -> str | None:
    data = json.loads(text)
    return data.get("body") or data.get("message")


def server_rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


async def gather_bounded(count: int, concurrency: int, job: Callable[[int], Awaitable]) -> list:
    """Run ``job(0..count-1)`` with at most ``concurrency`` in flight; results in index order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int):
        async with semaphore:
            return await job(i)

    return await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)


async def close_all(sockets: list) -> None:
    await asyncio.gather(
        *(ws.close() for ws in sockets if isinstance(ws, ClientConnection)),
        return_exceptions=True,
    )


# Scenarios ---------------------------------------------------------------------------


async def verify(target: Target, auth: str, tag: str) -> dict:
    """One socket sends one message and must get it back: proves the socket was admitted."""
    ws = await target.open(0, auth)
    try:
        body = f"{tag}-verify-{auth}"
        await ws.send(send_frame(body))
        async with asyncio.timeout(10):
            while True:
                text = await ws.recv()
                if tag in text and frame_body(text) == body:
                    return {"ok": True}
    finally:
        await ws.close()


async def handshakes(target: Target, *, auth: str, count: int, concurrency: int) -> dict:
    """Open and close ``count`` authenticated sockets, ``concurrency`` at a time."""

    async def cycle(i: int) -> float:
        started = time.perf_counter()
        ws = await target.open(i, auth)
        elapsed = time.perf_counter() - started
        await ws.close()
        if ws.close_code not in (1000, None):
            raise ClosedBy(ws.close_code)
        return elapsed

    started = time.perf_counter()
    results = await gather_bounded(count, concurrency, cycle)
    elapsed = time.perf_counter() - started
    ok = [r for r in results if isinstance(r, float)]
    errors = [r for r in results if not isinstance(r, float)]
    return {
        "per_s": len(ok) / elapsed,
        "ok": len(ok),
        "errors": len(errors),
        "error_classes": dict(Counter(failure_class(e) for e in errors)),
        "first_error": repr(errors[0]) if errors else None,
        "connect_ms_p50": statistics.median(ok) * 1000 if ok else None,
    }


class ClosedBy(Exception):
    """The server closed a socket the client had not finished with (code in ``args[0]``)."""


class UnexpectedFrame(Exception):
    """The first frame of a project socket was not ``room.joined``."""


def failure_class(error: BaseException) -> str:
    """How a browser would tell the failure apart: a close code, an HTTP status, or (for what a
    browser reports as 1006) the client-side exception class."""
    if isinstance(error, ClosedBy):
        return f"close {error.args[0]}"
    if isinstance(error, ConnectionClosed):
        return f"close {error.rcvd.code if error.rcvd is not None else 1006}"
    if isinstance(error, InvalidStatus):
        return f"http {error.response.status_code}"
    if isinstance(error, UnexpectedFrame):
        return f"frame {error.args[0]}"
    return type(error).__name__


@dataclass
class Room:
    """Senders and receivers in the ``bench`` room, and what the receivers saw."""

    tag: str
    senders: list = field(default_factory=list)
    receivers: list = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    last_at: float = 0.0
    seen_bodies: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)
    outstanding: list[int] = field(default_factory=list)
    acked: list[asyncio.Event] = field(default_factory=list)
    errors: int = 0
    measure_latency: bool = False


async def open_room(target: Target, tag: str, senders: int, receivers: int) -> Room:
    room = Room(tag=tag)
    sockets = await gather_bounded(senders + receivers, 20, target.open_retry)
    failed = [s for s in sockets if not isinstance(s, ClientConnection)]
    if failed:
        await close_all(sockets)
        raise RuntimeError(f"{len(failed)} sockets failed to open: {failed[0]!r}")
    room.senders, room.receivers = sockets[:senders], sockets[senders:]
    room.counts = [0] * receivers
    room.outstanding = [0] * senders
    room.acked = [asyncio.Event() for _ in range(senders)]
    return room


async def receive_loop(room: Room, index: int) -> None:
    ws, tag, first = room.receivers[index], room.tag, index == 0
    async for text in ws:
        if tag not in text:
            continue  # presence or other room events
        now = time.perf_counter()
        room.counts[index] += 1
        room.last_at = now
        if first or room.measure_latency:
            body = frame_body(text)
            if first:
                room.seen_bodies.add(body)
            if room.measure_latency and body in room.sent_at:
                room.latencies.append(now - room.sent_at[body])


async def sender_ack_loop(room: Room, index: int) -> None:
    """A sender is a member too: its own message coming back frees a slot in its window."""
    prefix = f"{room.tag}-{index}-"
    async for text in room.senders[index]:
        if prefix in text:
            room.outstanding[index] -= 1
            room.acked[index].set()
        elif '"error"' in text:
            room.errors += 1
            room.outstanding[index] -= 1
            room.acked[index].set()


async def drain(room: Room, expected_each: int, limit: float) -> None:
    """Wait (at most ``limit`` seconds) until every receiver has ``expected_each`` messages."""
    deadline = time.perf_counter() + limit
    # Polling a counter, bounded by the deadline.
    while time.perf_counter() < deadline and min(room.counts, default=0) < expected_each:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def with_room(target: Target, tag: str, senders: int, receivers: int, body) -> dict:
    room = await open_room(target, tag, senders, receivers)
    tasks = [asyncio.create_task(receive_loop(room, i)) for i in range(receivers)]
    tasks += [asyncio.create_task(sender_ack_loop(room, i)) for i in range(senders)]
    try:
        return await body(room)
    finally:
        await close_all(room.senders + room.receivers)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def warm_up(room: Room, tag: str) -> None:
    for i, ws in enumerate(room.senders):
        await ws.send(send_frame(f"{tag}-{i}-warmup"))
    await drain(room, len(room.senders), 15)
    room.counts = [0] * len(room.receivers)
    room.outstanding = [0] * len(room.senders)
    room.seen_bodies.clear()


async def fanout(
    target: Target, *, tag: str, senders: int, receivers: int, seconds: float, window: int
) -> dict:
    """Saturation: each sender keeps ``window`` messages in flight (its own echo frees a slot)."""

    async def run(room: Room) -> dict:
        await warm_up(room, tag)
        sent = [0] * senders
        started = time.perf_counter()
        stop_at = started + seconds

        async def send_loop(i: int) -> None:
            ws = room.senders[i]
            while time.perf_counter() < stop_at:
                if room.outstanding[i] >= window:
                    room.acked[i].clear()
                    try:
                        async with asyncio.timeout(max(stop_at - time.perf_counter(), 0.01)):
                            await room.acked[i].wait()
                    except TimeoutError:
                        break
                    continue
                room.outstanding[i] += 1
                sent[i] += 1
                await ws.send(send_frame(f"{tag}-{i}-{sent[i]}"))

        await asyncio.gather(*(send_loop(i) for i in range(senders)))
        total_sent = sum(sent)
        await drain(room, total_sent - room.errors, 30)
        delivered = sum(room.counts)
        elapsed = max(room.last_at - started, 1e-9)
        return {
            "per_s": delivered / elapsed,
            "sent": total_sent,
            "delivered": delivered,
            "expected": (total_sent - room.errors) * receivers,
            "send_errors": room.errors,
            "seconds": elapsed,
            "seen_bodies": sorted(room.seen_bodies),
        }

    return await with_room(target, tag, senders, receivers, run)


async def latency(
    target: Target, *, tag: str, senders: int, receivers: int, rate: float, seconds: float
) -> dict:
    """Light load: ``rate`` messages/s in total, spread evenly over the senders."""

    async def run(room: Room) -> dict:
        await warm_up(room, tag)
        room.measure_latency = True
        count = max(int(rate * seconds), 1)
        started = time.perf_counter()
        for n in range(count):
            await asyncio.sleep(max(started + n / rate - time.perf_counter(), 0))
            i = n % senders
            body = f"{tag}-{i}-{n}"
            room.sent_at[body] = time.perf_counter()
            await room.senders[i].send(send_frame(body))
        await drain(room, count - room.errors, 15)
        samples = sorted(room.latencies)
        return {
            "p50_ms": _percentile(samples, 50) * 1000,
            "p99_ms": _percentile(samples, 99) * 1000,
            "max_ms": samples[-1] * 1000 if samples else None,
            "sent": count,
            "delivered": len(samples),
            "expected": (count - room.errors) * receivers,
            "send_errors": room.errors,
            "seen_bodies": sorted(room.seen_bodies),
        }

    return await with_room(target, tag, senders, receivers, run)


def _percentile(samples: list[float], pct: float) -> float:
    if not samples:
        return float("nan")
    rank = min(len(samples) - 1, max(0, round(pct / 100 * len(samples) + 0.5) - 1))
    return samples[rank]


async def settle_rss(pid: int, seconds: float) -> int:
    """Server RSS after ``seconds`` of quiet (the server frees closed sockets asynchronously)."""
    await asyncio.sleep(seconds)
    return server_rss(pid)


async def discard_frames(ws: ClientConnection) -> None:
    async for _ in ws:
        pass


async def idle_memory(
    target: Target, *, pid: int, sockets: int, rooms: int, settle: float = 1.0
) -> dict:
    """RSS growth per idle authenticated socket, ``sockets`` open at once (one user each), spread
    over ``rooms`` rooms; idle means sending nothing, and reading what the room sends."""

    def open_idle(i: int):
        return target.open_retry(i, room=f"idle-{i % rooms}")

    warm = await gather_bounded(min(50, sockets), 20, open_idle)
    await close_all(warm)
    before = await settle_rss(pid, settle)
    opened = await gather_bounded(sockets, 20, open_idle)
    ok = [ws for ws in opened if isinstance(ws, ClientConnection)]
    readers = [asyncio.create_task(discard_frames(ws)) for ws in ok]
    try:
        after = await settle_rss(pid, settle * 1.5)
    finally:
        await close_all(opened)
        await asyncio.gather(*readers, return_exceptions=True)
    return {
        "kib_per_socket": (after - before) / max(len(ok), 1) / 1024,
        "sockets": len(ok),
        "errors": sockets - len(ok),
        "first_error": next(
            (repr(ws) for ws in opened if not isinstance(ws, ClientConnection)), None
        ),
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
    }


async def soak(
    target: Target, *, pid: int, cycles: int, concurrency: int, settle: float = 1.0
) -> dict:
    """RSS before and after ``cycles`` connect/disconnect cycles (after a warm-up tenth)."""
    warm = max(cycles // 10, 50)
    await handshakes(target, auth="jwt", count=warm, concurrency=concurrency)
    before = await settle_rss(pid, settle)
    result = await handshakes(target, auth="jwt", count=cycles, concurrency=concurrency)
    after = await settle_rss(pid, settle * 2)
    return {
        "drift_pct": (after - before) / before * 100,
        "cycles": result["ok"],
        "errors": result["errors"],
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
    }


# Reconnect storm and scale curve -------------------------------------------------------


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
    the tutorial: accepted), retrying each failed try after a jittered backoff (room.js's)."""
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


def progress(text: str) -> None:
    """A line on stderr, for whoever is watching a long run."""
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def raise_fd_limit() -> int:
    """As many open files as the hard limit allows: the scale curve holds 10,000 sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def scale_curve(
    target: Target,
    *,
    pid: int,
    sizes: list[int],
    room_size: int,
    rate: float,
    seconds: float,
    settle: float,
    tag: str,
    concurrency: int = 50,
) -> dict:
    """Idle sockets grown to each of ``sizes`` (user i in room ``scale-<i // room_size>``), on a
    fresh server: RSS growth per socket, and the latency of room ``scale-0`` sending ``rate``
    messages/s for ``seconds`` (every member receives; one client clock) at each size."""
    fd_limit = raise_fd_limit()
    storm = Storm(tag=tag)
    members: list[Member] = []
    next_index = 0
    # Warm the server's code paths, then measure from a quiet baseline.
    warm = [Member(index=i, room=f"scale-{i // room_size}") for i in range(min(100, sizes[0]))]
    await asyncio.gather(*(enter(target, m, storm, time.perf_counter() + 60) for m in warm))
    await close_all([m.ws for m in warm])
    await asyncio.gather(*(m.reader for m in warm), return_exceptions=True)
    storm.failures.clear()
    base = await settle_rss(pid, settle)
    points = []
    semaphore = asyncio.Semaphore(concurrency)

    async def bounded(member: Member) -> None:
        async with semaphore:
            await enter(target, member, storm, time.perf_counter() + 120)

    try:
        for size in sizes:
            started = time.perf_counter()
            progress(f"scale: opening sockets {next_index}..{size - 1}")
            new = [Member(index=i, room=f"scale-{i // room_size}") for i in range(next_index, size)]
            next_index = size
            entered = await asyncio.gather(*(bounded(m) for m in new), return_exceptions=True)
            members += [m for m, e in zip(new, entered, strict=True) if e is None]
            opened_s = time.perf_counter() - started
            await quiet(storm, settle, 60)
            rss = await settle_rss(pid, settle)
            # One sender in scale-0, every member of scale-0 (the sender too) receives.
            room0 = [m for m in members if m.room == "scale-0" and m.dropped is None]
            # One message first, unmeasured: the first write of a fresh room is a cold path.
            storm.sent_at[f"{tag}-{size}-warm"] = time.perf_counter()
            await room0[0].ws.send(send_frame(f"{tag}-{size}-warm"))
            await until_samples(storm, len(room0), 10)
            storm.latencies.clear()
            count = max(int(rate * seconds), 1)
            t0 = time.perf_counter()
            for n in range(count):
                await asyncio.sleep(max(t0 + n / rate - time.perf_counter(), 0))
                body = f"{tag}-{size}-{n}"
                storm.sent_at[body] = time.perf_counter()
                await room0[0].ws.send(send_frame(body))
            expected = count * len(room0)
            await until_samples(storm, expected, 10)
            samples = sorted(storm.latencies)
            points.append(
                {
                    "sockets": len(members),
                    "kib_per_socket": (rss - base) / max(len(members), 1) / 1024,
                    "rss_mib": rss / 2**20,
                    "p50_ms": _percentile(samples, 50) * 1000,
                    "p99_ms": _percentile(samples, 99) * 1000,
                    "samples": len(samples),
                    "expected": expected,
                    "open_s": round(opened_s, 2),
                    "failed_tries": sum(storm.failures.values()),
                }
            )
            progress(f"scale: {points[-1]}")
    finally:
        await close_all([m.ws for m in members])
        await asyncio.gather(*(m.reader for m in members), return_exceptions=True)
    last = points[-1] if points else {}
    kib = [p["kib_per_socket"] for p in points]
    return {
        "points": points,
        "rss_base_mib": base / 2**20,
        "fd_limit": fd_limit,
        "max_kib_per_socket": max(kib) if kib else None,
        "p99_ms_at_max": last.get("p99_ms"),
        "sockets_at_max": last.get("sockets"),
        "failure_classes": dict(storm.failures),
        "dropped": dict(Counter(m.dropped for m in members if m.dropped)),
        "errors": sum(p["expected"] - p["samples"] for p in points)
        + sum(s - p["sockets"] for s, p in zip(sizes, points, strict=False)),
    }


SCENARIOS = {
    "verify": verify,
    "handshakes": handshakes,
    "fanout": fanout,
    "latency": latency,
    "idle_memory": idle_memory,
    "soak": soak,
    "storm": reconnect_storm,
    "scale": scale_curve,
}


async def main(spec: dict, creds: dict) -> dict:
    target = Target(
        ws=spec["ws"],
        origin=spec["origin"],
        protocol=spec["protocol"],
        tokens=creds["tokens"],
        sessions=creds["sessions"],
        usernames=creds.get("usernames", []),
    )
    results = {}
    for scenario in spec["scenarios"]:
        name, kind, params = scenario["name"], scenario["kind"], dict(scenario["params"])
        if kind in ("idle_memory", "soak", "scale"):
            params["pid"] = spec["pid"]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(scenario.get("timeout", 300)):
                results[name] = await SCENARIOS[kind](target, **params)
        except Exception as exc:  # one broken scenario must not hide the others
            results[name] = {"error": repr(exc)}
        results[name]["wall_s"] = round(time.perf_counter() - started, 2)
        await asyncio.sleep(spec.get("pause", 0.3))  # let the server finish closing sockets
    return results


if __name__ == "__main__":
    with open(sys.argv[1]) as spec_file:
        spec_data = json.load(spec_file)
    with open(spec_data["credentials"]) as creds_file:
        creds_data = json.load(creds_file)
    output = asyncio.run(main(spec_data, creds_data))
    with open(sys.argv[2], "w") as out_file:
        json.dump(output, out_file)
