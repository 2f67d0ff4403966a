"""Profile one server variant under fan-out or a reconnect storm with py-spy and print where its
time goes.

    python -m bench.profile                       # project, 200 receivers, 8 s of fan-out
    python -m bench.profile --variant tutorial --receivers 50
    python -m bench.profile --scenario storm      # 400 sockets at once in 8 rooms, 3 storms

py-spy attaches to the server once it answers (``--nonblocking``, so the server is never paused;
its start-up is not in the profile) and writes collapsed stacks when the load is over; this prints
the functions with the most inclusive and self samples.
"""

import argparse
import collections
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.run import RESULTS, Bench
from bench.servers import stop_server
from bench.variants import VARIANTS

PY_SPY = Path(sys.executable).with_name("py-spy")

# Frames that only say "the event loop (or a pool thread, or the middleware chain) ran something":
# every sample below them has them, so skipping them makes the inclusive table useful.
NOISE = (
    "_run_once (", "run_forever (", "Handle._run (", "<module> (", "_run_module_as_main (",
    "_run_code (", "CommandLineInterface.", "Server.run (daphne", "AsyncioSelectorReactor.run (",
    "Thread._bootstrap", "Thread.run (", "_worker (concurrent", "_WorkItem.run (",
    "thread_handler (", "SyncToAsync.__call__.<locals>.func", "Middleware.__call__ (",
    "ProtocolTypeRouter.__call__", "URLRouter.__call__", "WebSocketOriginValidator.__call__",
    "as_asgi.<locals>.app", "AsyncConsumer.__call__", "GuardedConsumer.__call__",
    "await_many_dispatch (", "callWithContext (", "callWithLogger (",
)  # fmt: skip
# The project's own connect and close path, shown whatever its rank.
FOCUS = (
    "RoomConsumer.connect (", "RoomConsumer.disconnect (", "RoomConsumer._authorize (",
    "RoomConsumer._check_credential (", "RoomConsumer._join (", "RoomConsumer._subscribe (",
    "RoomConsumer._go_live (", "RoomConsumer._leave (", "RoomConsumer._announce_presence (",
    "RoomConsumer._log (", "connect_access (", "user_for_access_token (", "get_user (channels/auth",
    "SessionStore.load (", "RoomFanout._deliver (",
    "InstanceSessionWrapper.send (", "MemoryPresence.join (", "MemoryPresence.leave (",
    "StreamHandler.emit (", "aclose_old_connections (", "message_create (",
)  # fmt: skip


def _function(frame: str) -> str:
    """``f (path.py:123)`` -> ``f (path.py)``: one row per function, whatever line was running."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rpartition(':')[0] or where.rstrip(')')})"


def summarize(collapsed: Path, top: int) -> dict:
    """Inclusive and self sample shares per function, the split between the event-loop thread
    and the thread pool (``database_sync_to_async``), and the project's connect path."""
    inclusive, own, threads = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [_function(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
        if any(f.startswith("_worker (concurrent") for f in frames):
            threads["thread pool (database_sync_to_async)"] += n
        elif any(f.startswith("BaseEventLoop.run_forever") for f in frames):
            threads["event loop"] += n
        else:
            threads["other"] += n

    def pct(n: int) -> float:
        return round(100 * n / max(total, 1), 1)

    def table(counter):
        return [
            {"pct": pct(n), "frame": frame}
            for frame, n in counter.most_common(top * 4)
            if not any(noise in frame for noise in NOISE)
        ][:top]

    focus = [
        {"pct": pct(n), "frame": frame}
        for frame, n in inclusive.most_common()
        if frame.startswith(FOCUS)
    ]
    return {
        "samples": total,
        "threads": {name: pct(n) for name, n in threads.most_common()},
        "inclusive": table(inclusive),
        "self": table(own),
        "focus": focus,
    }


def main() -> None:
    """Start the server, attach py-spy, run the load, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="project", choices=list(VARIANTS))
    parser.add_argument("--scenario", default="fanout", choices=["fanout", "storm"])
    parser.add_argument("--sockets", type=int, default=400, help="storm: sockets")
    parser.add_argument("--rooms", type=int, default=8, help="storm: rooms")
    parser.add_argument("--repeat", type=int, default=3, help="storm: storms back to back")
    parser.add_argument("--receivers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--app", default=None, help="override the ASGI app")
    args = parser.parse_args()
    bench = Bench(argparse.Namespace(quick=False, soak=None, only=[]))
    # Users enough for the storm (one per socket) and the fan-out room, not the scale curve's.
    bench.sizes.update(storm_sockets=args.sockets, storm_rooms=args.rooms,
                       users=max(args.sockets, args.receivers + 10, 1050))  # fmt: skip
    bench.prepare()
    variant = VARIANTS[args.variant]
    if args.app:
        variant = VARIANTS[args.variant].__class__(**{**variant.__dict__, "app": args.app})
    RESULTS.mkdir(parents=True, exist_ok=True)
    collapsed = RESULTS / f"profile-{variant.name}-{args.scenario}.txt"
    if args.scenario == "storm":
        storm = bench.storm_scenario()
        plan = [{**storm, "name": f"storm{i}"} for i in range(args.repeat)]
    else:
        plan = [
            {"name": "fanout", "kind": "fanout",
             "params": {"tag": "mprofile", "senders": 5, "receivers": args.receivers,
                        "seconds": args.seconds, "window": 4}},
        ]  # fmt: skip
    process, port, _log = bench.start(variant)
    spy = subprocess.Popen(  # noqa: S603
        [str(PY_SPY), "record", "--nonblocking", "--rate", "250", "--format", "raw",
         "--output", str(collapsed), "--pid", str(process.pid)],
    )  # fmt: skip
    time.sleep(1.0)  # py-spy is sampling
    try:
        results = bench.run_client(variant, port, process.pid, plan)
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        spy.wait(timeout=60)
        stop_server(process)
    for result in results.values():
        result.pop("seen_bodies", None)
        print(json.dumps(result))
    summary = summarize(collapsed, args.top)
    (RESULTS / f"profile-{variant.name}-{args.scenario}.json").write_text(
        json.dumps(summary, indent=2)
    )
    print(f"{summary['samples']} samples; threads: {summary['threads']}")
    for title, rows in (("inclusive (%)", "inclusive"), ("self (%)", "self"),
                        ("the connect path, inclusive (%)", "focus")):  # fmt: skip
        print(f"--- {title}")
        for row in summary[rows]:
            print(f"{row['pct']:5.1f}  {row['frame']}")


if __name__ == "__main__":
    main()
