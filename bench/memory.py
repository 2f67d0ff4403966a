"""Scenarios of server memory: idle sockets, the connect/disconnect soak and the scale curve."""

import asyncio
import time
from collections import Counter

from websockets.asyncio.client import ClientConnection

from bench.storm import Member, Storm, enter, quiet, until_samples
from bench.target import (
    Target,
    close_all,
    discard_frames,
    gather_bounded,
    percentile,
    progress,
    raise_fd_limit,
    send_frame,
    settle_rss,
)
from bench.traffic import handshakes


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
            await room0[0].ws.send(send_frame(f"{tag}-{size}-warm", room="scale-0"))
            await until_samples(storm, len(room0), 10)
            storm.latencies.clear()
            count = max(int(rate * seconds), 1)
            t0 = time.perf_counter()
            for n in range(count):
                await asyncio.sleep(max(t0 + n / rate - time.perf_counter(), 0))
                body = f"{tag}-{size}-{n}"
                storm.sent_at[body] = time.perf_counter()
                await room0[0].ws.send(send_frame(body, room="scale-0"))
            expected = count * len(room0)
            await until_samples(storm, expected, 10)
            samples = sorted(storm.latencies)
            points.append(
                {
                    "sockets": len(members),
                    "kib_per_socket": (rss - base) / max(len(members), 1) / 1024,
                    "rss_mib": rss / 2**20,
                    "p50_ms": percentile(samples, 50) * 1000,
                    "p99_ms": percentile(samples, 99) * 1000,
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
