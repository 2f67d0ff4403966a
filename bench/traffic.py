"""Scenarios of handshakes and messages: verify, handshake rates, fan-out and latency in the
``bench`` room."""

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection

from bench.target import (
    ClosedBy,
    Target,
    close_all,
    failure_class,
    frame_body,
    gather_bounded,
    percentile,
    send_frame,
)


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
            "p50_ms": percentile(samples, 50) * 1000,
            "p99_ms": percentile(samples, 99) * 1000,
            "max_ms": samples[-1] * 1000 if samples else None,
            "sent": count,
            "delivered": len(samples),
            "expected": (count - room.errors) * receivers,
            "send_errors": room.errors,
            "seen_bodies": sorted(room.seen_bodies),
        }

    return await with_room(target, tag, senders, receivers, run)
