"""A deploy's reconnect wave, measured: what the surviving process sees when another drains.

    python -m bench.drain                       # 5,000 sockets, spread 0 s then 1 s
    python -m bench.drain --sockets 500 --spreads 0,0.5 --jitter 0.25

Two daphnes (the project, in-memory layer each) on loopback. ``--sockets`` JWT sockets join
rooms of 50 on the first; then it gets SIGTERM and drains (``SERVER_DRAIN_SPREAD_SECONDS`` from
``--spreads``, ``SERVER_DRAIN_SECONDS`` from ``--drain``). Every socket that hears 1012 does what
the shipped clients do: it reconnects to the second process at once (after a random
``--jitter`` wait, if given), retrying with capped backoff until it has joined. Reported per
spread: the survivor's peak rate of reconnect attempts (the busiest 100 ms, per second, on the
client's clock), the draining process's own busiest 100 ms of 1012s (its log line), each against
the even spread (sockets / spread), failed tries, and the time until every socket is back.
Docs: docs/performance.md "Deploys".
"""

import argparse
import asyncio
import json
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from .run import PYTHON, ROOT, Bench
from .servers import stop_server
from .variants import Variant

ROOM_SIZE = 50
WINDOW = 0.1  # seconds per bucket of the peak rate
PROJECT = Variant(
    "project", "project, daphne", "daphne", "config.asgi:application", "memory", "project", True
)


def seed(bench: Bench, sockets: int) -> list[str]:
    subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=bench.env, check=True, timeout=120,
    )  # fmt: skip
    subprocess.run(  # noqa: S603
        [PYTHON, "-m", "bench.seed", "--users", str(sockets), "--sessions", "0",
         "--idle-rooms", str(max(1, sockets // ROOM_SIZE)), "--out", str(bench.credentials)],
        cwd=ROOT, env=bench.env, check=True, timeout=600,
    )  # fmt: skip
    return json.loads(bench.credentials.read_text())["tokens"]


async def joined(url: str):
    ws = await connect(url, compression=None, open_timeout=30, max_queue=None)
    while json.loads(await ws.recv())["type"] != "room.joined":
        pass
    return ws


def _failure_name(error: BaseException) -> str:
    """What a failed try ran into: the HTTP status of a refusal, else the error's class."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return f"http {status}" if status else type(error).__name__


class Wave:
    """Every socket's path through one drain: 1012 from the old process, then in again."""

    def __init__(self, survivor: int, jitter: float) -> None:
        self.survivor, self.jitter = survivor, jitter
        self.attempts: list[float] = []
        self.failed = 0
        self.back: list[float] = []
        self.other_codes: Counter = Counter()
        self.failures: Counter = Counter()

    async def follow(self, ws, path: str) -> None:
        try:
            await ws.wait_closed()
        finally:
            code = ws.close_code
        if code != 1012:
            self.other_codes[code] += 1
            return
        if self.jitter:
            await asyncio.sleep(random.uniform(0, self.jitter))  # noqa: S311
        delay = 0.1
        while True:
            self.attempts.append(time.monotonic())
            try:
                ws = await joined(f"ws://127.0.0.1:{self.survivor}{path}")
            except (OSError, WebSocketException, TimeoutError) as error:  # a browser: 1006
                self.failed += 1
                self.failures[_failure_name(error)] += 1
                await asyncio.sleep(random.uniform(0, delay))  # noqa: S311
                delay = min(delay * 2, 5.0)
                continue
            self.back.append(time.monotonic())
            await ws.close()
            return


async def one_wave(bench: Bench, tokens: list[str], *, spread: float, drain: float, jitter):
    env = {"SERVER_DRAIN_SECONDS": str(drain), "SERVER_DRAIN_SPREAD_SECONDS": str(spread)}
    variant = Variant(**{**PROJECT.__dict__, "env": tuple(env.items())})
    old, old_port, old_log = bench.start(variant)
    survivor, survivor_port, _ = bench.start(PROJECT)
    try:
        rooms = max(1, len(tokens) // ROOM_SIZE)
        paths = [f"/ws/rooms/idle-{i % rooms}/?token={t}" for i, t in enumerate(tokens)]
        gate = asyncio.Semaphore(50)

        async def open_one(path: str):
            async with gate:
                return await joined(f"ws://127.0.0.1:{old_port}{path}")

        sockets = await asyncio.gather(*(open_one(p) for p in paths))
        wave = Wave(survivor_port, jitter)
        followers = [
            asyncio.create_task(wave.follow(ws, p)) for ws, p in zip(sockets, paths, strict=True)
        ]
        started = time.monotonic()
        old.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*followers), timeout=300)
        old.wait(timeout=30)
    finally:
        for process in (old, survivor):
            if process.poll() is None:
                stop_server(process)
    buckets = Counter(int((t - started) / WINDOW) for t in wave.attempts)
    peak = max(buckets.values()) / WINDOW if buckets else 0.0
    even = len(tokens) / spread if spread else None
    # The draining process's own count (config/drain.py): its busiest 100 ms of 1012s, on its
    # clock, free of the client's lag in reading them.
    sent = re.search(r"busiest 100 ms: (\d+)", old_log.read_text())
    drain_peak = int(sent.group(1)) / WINDOW if sent else None
    return {
        "spread_s": spread,
        "jitter_s": jitter,
        "sockets": len(tokens),
        "reconnected": len(wave.back),
        "other_close_codes": dict(wave.other_codes),
        "peak_attempts_per_s": round(peak),
        "peak_vs_even_spread": round(peak / even, 2) if even else None,
        "drain_peak_1012_per_s": round(drain_peak) if drain_peak else None,
        "drain_peak_vs_even_spread": round(drain_peak / even, 2) if even and drain_peak else None,
        "failed_tries": wave.failed,
        "failures": dict(wave.failures),
        "all_back_s": round(max(wave.back) - started, 2) if wave.back else None,
        "median_back_s": round(statistics.median(wave.back) - started, 2) if wave.back else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--spreads", default="0,1.0", help="comma list of seconds")
    parser.add_argument("--drain", type=float, default=2.0, help="SERVER_DRAIN_SECONDS")
    parser.add_argument("--jitter", type=float, default=0.0, help="client wait before a retry")
    args = parser.parse_args()
    bench = Bench(argparse.Namespace(quick=True, soak=None))
    tokens = seed(bench, args.sockets)
    rows = []
    for spread in (float(s) for s in args.spreads.split(",")):
        row = asyncio.run(
            one_wave(bench, tokens, spread=spread, drain=args.drain, jitter=args.jitter)
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = ROOT / "bench" / "results" / f"drain-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
