"""Failover times over several runs: the median and the worst, for docs/redis.md.

    python -m bench.failover --runs 5

Each run is one of ``tests/e2e/test_failover.py``'s fault tests (a fresh master, replica, three
sentinels with down-after-milliseconds 1000, and two daphnes), SIGKILL and SIGSTOP of the master
in turn; the tests append what they measured to ``FAILOVER_REPORT``. Needs PostgreSQL and
redis-server, like the tests. Seconds are from the fault to: the sentinels naming the replica
master (promoted), a new socket joining on both processes (joins), a message sent after the fault
reaching the other process (cross_process).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = {
    "kill": "test_sigkill_of_the_master_mid_traffic_recovers_within_the_bound",
    "stop": "test_sigstop_of_the_master_mid_traffic_recovers_within_the_bound",
}
FIGURES = ("promoted", "joins", "cross_process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "failover.jsonl"
        for run in range(args.runs):
            for kind, test in TESTS.items():
                print(f"run {run + 1}/{args.runs}: {kind}", flush=True)
                subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
                    [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                     f"tests/e2e/test_failover.py::{test}"],
                    cwd=ROOT,
                    env={**os.environ, "FAILOVER_REPORT": str(report)},
                    check=False,
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
        rows = [json.loads(line) for line in report.read_text().splitlines()]
    print(f"{'fault':<6} {'figure':<14} {'runs':>4} {'median s':>9} {'worst s':>8}")
    for kind in TESTS:
        for figure in FIGURES:
            values = [row[figure] for row in rows if row["kind"] == kind and row[figure]]
            if values:
                print(
                    f"{kind:<6} {figure:<14} {len(values):>4} "
                    f"{statistics.median(values):>9.2f} {max(values):>8.2f}"
                )


if __name__ == "__main__":
    main()
