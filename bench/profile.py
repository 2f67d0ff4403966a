"""Profile one server variant under fan-out with py-spy and print where its time goes.

    python -m bench.profile                       # project, 200 receivers, 8 s of fan-out
    python -m bench.profile --variant tutorial --receivers 50

py-spy launches the server as its child (``--nonblocking``, so the server is never paused) and
writes collapsed stacks; this prints the functions with the most inclusive and self samples.
"""

import argparse
import collections
import json
import sys
from pathlib import Path

import psutil

from bench.run import RESULTS, VARIANTS, Bench

PY_SPY = Path(sys.executable).with_name("py-spy")

# Frames that only say "the event loop ran something"; skipping them makes inclusive times useful.
NOISE = ("_run_once", "run_forever", "_run (asyncio/events.py", "<module>", "run (", "main (")


def summarize(collapsed: Path, top: int) -> dict:
    inclusive, own = collections.Counter(), collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n

    def table(counter):
        return [
            {"pct": round(100 * n / total, 1), "frame": frame}
            for frame, n in counter.most_common(top * 3)
            if not frame.startswith(NOISE)
        ][:top]

    return {"samples": total, "inclusive": table(inclusive), "self": table(own)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="project", choices=list(VARIANTS))
    parser.add_argument("--receivers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--app", default=None, help="override the ASGI app (a patched variant)")
    args = parser.parse_args()
    bench = Bench(argparse.Namespace(quick=False, soak=None))
    bench.prepare()
    variant = VARIANTS[args.variant]
    if args.app:
        variant = VARIANTS[args.variant].__class__(**{**variant.__dict__, "app": args.app})
    RESULTS.mkdir(parents=True, exist_ok=True)
    collapsed = RESULTS / f"profile-{variant.name}.txt"
    wrap = [str(PY_SPY), "record", "--nonblocking", "--rate", "250", "--format", "raw",
            "--output", str(collapsed), "--"]  # fmt: skip
    process, port, _log = bench.start(variant, wrap=wrap)
    try:
        plan = [
            {"name": "fanout", "kind": "fanout",
             "params": {"tag": "mprofile", "senders": 5, "receivers": args.receivers,
                        "seconds": args.seconds, "window": 4}},
        ]  # fmt: skip
        result = bench.run_client(variant, port, process.pid, plan)["fanout"]
    finally:
        # Stop the server, not py-spy: py-spy writes its output when its child exits.
        for child in psutil.Process(process.pid).children():
            child.terminate()
        process.wait(timeout=60)
    result.pop("seen_bodies", None)
    print(json.dumps(result))
    summary = summarize(collapsed, args.top)
    (RESULTS / f"profile-{variant.name}.json").write_text(json.dumps(summary, indent=2))
    print(f"{summary['samples']} samples; inclusive (%), then self (%):")
    for row in summary["inclusive"]:
        print(f"{row['pct']:5.1f}  {row['frame']}")
    print("---")
    for row in summary["self"]:
        print(f"{row['pct']:5.1f}  {row['frame']}")


if __name__ == "__main__":
    main()
