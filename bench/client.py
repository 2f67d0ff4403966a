"""The load generator: a separate process that drives one server with ``websockets``.

``python -m bench.client SPEC.json OUT.json``: SPEC names the server (URL, protocol, pid),
the credentials file and the scenarios to run; OUT receives one result per scenario. Every loop
is bounded by a count and a deadline; nothing here talks to anything but the loopback server.
"""

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidMessage

CONNECT_TIMEOUT = 10.0


@dataclass
class Target:
    """How to open a socket on one server variant as user ``i``."""

    ws: str
    origin: str
    protocol: str  # "project" | "tutorial" | "ceiling"
    tokens: list[str]
    sessions: list[str]

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
            raise RuntimeError(f"server closed with {ws.close_code}")
        return elapsed

    started = time.perf_counter()
    results = await gather_bounded(count, concurrency, cycle)
    elapsed = time.perf_counter() - started
    ok = [r for r in results if isinstance(r, float)]
    errors = [repr(r) for r in results if not isinstance(r, float)]
    return {
        "per_s": len(ok) / elapsed,
        "ok": len(ok),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "connect_ms_p50": statistics.median(ok) * 1000 if ok else None,
    }


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


SCENARIOS = {
    "verify": verify,
    "handshakes": handshakes,
    "fanout": fanout,
    "latency": latency,
    "idle_memory": idle_memory,
    "soak": soak,
}


async def main(spec: dict, creds: dict) -> dict:
    target = Target(
        ws=spec["ws"],
        origin=spec["origin"],
        protocol=spec["protocol"],
        tokens=creds["tokens"],
        sessions=creds["sessions"],
    )
    results = {}
    for scenario in spec["scenarios"]:
        name, kind, params = scenario["name"], scenario["kind"], dict(scenario["params"])
        if kind in ("idle_memory", "soak"):
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
