"""``make bench``: start each server variant on loopback, drive it from a separate client process,
print one table and write JSON to ``bench/results/``.

    python -m bench.run                 # full run: 3 runs, every variant, 10,000-cycle soak
    python -m bench.run --quick         # seconds: tiny sizes, 1 run, project, tutorial, ceiling
    python -m bench.run --runs 5 --soak 2000 --variants project,tutorial
    python -m bench.run --variants project,tutorial --runs 1 --no-scale   # skip the scale curve
    python -m bench.run --multiroom-only    # one /ws/ socket against room sockets, alone

Variants are interleaved inside each run (the order rotates from run to run) and every figure
reported is the median over the runs. The scale curve (10,000 idle sockets) runs once, in the
last run, on a fresh server of its own. Then the one-socket-for-many-rooms section
(``bench/multiroom.py``): the project on a fresh server per repeat and way in (``/ws/``, room
sockets), the two ways interleaved, medians over ``--multiroom-runs``. The database is a fresh
SQLite file in a temp folder, migrated with ``manage.py migrate`` and seeded by ``bench.seed``;
servers read ``bench.settings``.
"""

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.multiroom import MODES
from bench.options import parse_args
from bench.report import bare_report, build_report, errors_of, multiroom_report
from bench.servers import start_server, stop_server
from bench.target import raise_fd_limit
from bench.variants import RAISED_LIMITS, SIZES, STORM_PROTOCOLS, VARIANTS, Variant

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = dict(SIZES["quick" if args.quick else "full"])
        if args.soak is not None:
            self.sizes["soak"] = args.soak
        self.sizes["scale_max"] = self.sizes["scale_sizes"][-1]
        self.sizes["users"] = max(
            self.sizes["users"],
            self.sizes["scale_max"],
            self.sizes["storm_sockets"],
            self.sizes["mr_users"],
            self.sizes["mr_storm_users"],
            self.sizes["mr_fanout"] + self.sizes["senders"],
        )
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-"))
        self.db = self.tmp / "bench.sqlite3"
        self.credentials = self.tmp / "credentials.json"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": f"sqlite:///{self.db}",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
            **RAISED_LIMITS,
        }

    # Setup -----------------------------------------------------------------------------

    def prepare(self) -> None:
        subprocess.run(  # noqa: S603
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=self.env, check=True, timeout=120,
        )  # fmt: skip
        subprocess.run(  # noqa: S603
            [PYTHON, "-m", "bench.seed", "--users", str(self.sizes["users"]),
             "--sessions", str(self.sizes["sessions"]),
             "--idle-rooms", str(self.sizes["idle_rooms"]),
             "--block", f"storm:{self.storm_room_size}",
             "--block", f"scale:{self.sizes['scale_room']}",
             "--multi", "mr:{mr_users}:{mr_rooms}:{mr_room_size}".format(**self.sizes),
             "--multi", "mrs:{mr_storm_users}:{mr_storm_rooms}:{mr_room_size}".format(**self.sizes),
             "--out", str(self.credentials)],
            cwd=ROOT, env=self.env, check=True, timeout=600,
        )  # fmt: skip
        self.room_id = json.loads(self.credentials.read_text())["room_id"]

    @property
    def storm_room_size(self) -> int:
        return -(-self.sizes["storm_sockets"] // self.sizes["storm_rooms"])

    def start(self, variant: Variant, wrap: list[str] | None = None):
        return start_server(variant, self.env, self.tmp, wrap)

    # Scenarios -------------------------------------------------------------------------

    def scenarios(self, variant: Variant, soak: bool) -> list[dict]:
        s = self.sizes
        tag = secrets.token_hex(5)

        def room(name: str, kind: str, **params) -> dict:
            return {"name": name, "kind": kind, "params": {"tag": f"m{tag}{name[-5:]}", **params}}

        def hs(name: str, auth: str, count: int, concurrency: int) -> dict:
            params = {"auth": auth, "count": count, "concurrency": concurrency}
            return {"name": name, "kind": "handshakes", "params": params}

        fan = {"senders": s["senders"], "seconds": s["fanout_seconds"], "window": s["window"]}
        authed = variant.protocol == "project"
        # The project on uvicorn is the production candidate: it gets every figure the server
        # choice rests on (docs/performance.md, "Servers and what is left").
        full = variant.core or (authed and variant.server == "uvicorn")
        plan = [{"name": "verify", "kind": "verify", "params": {"auth": "jwt", "tag": f"v{tag}"}}]
        if authed and variant.core:
            plan.append(
                {"name": "verify_session", "kind": "verify",
                 "params": {"auth": "session", "tag": f"w{tag}"}}
            )  # fmt: skip
        if full and soak:
            # First, on a fresh server: memory freed by the fan-out tests would hide its cost.
            plan.append({"name": "idle_memory", "kind": "idle_memory", "timeout": 600,
                         "params": {"sockets": s["idle_sockets"], "settle": s["settle"],
                                    "rooms": s["idle_rooms"]}})  # fmt: skip
        if variant.core or variant.server in ("uvicorn", "granian"):
            plan.append(hs("hs_seq_jwt", "jwt", s["hs_seq"], 1))
        if variant.core or variant.server != "daphne":
            plan.append(hs("hs_conc_jwt", "jwt", s["hs_conc"], s["concurrency"]))
        if authed and full:
            plan.append(hs("hs_seq_session", "session", s["hs_seq"], 1))
            plan.append(hs("hs_conc_session", "session", s["hs_conc"], s["concurrency"]))
        plan += [
            room("fanout_small", "fanout", receivers=s["small"], **fan),
            room("fanout_large", "fanout", receivers=s["large"], **fan),
            room("latency_light", "latency", senders=s["senders"],
                 receivers=s["latency_receivers"], rate=s["latency_rate"],
                 seconds=s["latency_seconds"]),
        ]  # fmt: skip
        if full and variant.protocol in STORM_PROTOCOLS:
            plan.append(self.storm_scenario())
        if variant.core and soak:
            plan.append({"name": "soak", "kind": "soak", "timeout": 900,
                         "params": {"cycles": s["soak"], "settle": s["settle"],
                                    "concurrency": s["concurrency"]}})  # fmt: skip
        if self.args.only:
            plan = [p for p in plan if p["name"] in self.args.only or p["kind"] == "verify"]
        return plan

    def storm_scenario(self) -> dict:
        s = self.sizes
        params = {"sockets": s["storm_sockets"], "rooms": s["storm_rooms"],
                  "deadline": s["storm_deadline"], "settle": s["settle"]}  # fmt: skip
        return {"name": "storm", "kind": "storm", "timeout": s["storm_deadline"] + 120,
                "params": params}  # fmt: skip

    def scale_scenario(self) -> dict:
        s = self.sizes
        params = {"sizes": s["scale_sizes"], "room_size": s["scale_room"], "rate": s["scale_rate"],
                  "seconds": s["scale_seconds"], "settle": s["settle"],
                  "tag": f"s{secrets.token_hex(5)}"}  # fmt: skip
        return {"name": "scale", "kind": "scale", "timeout": 1800, "params": params}

    def multiroom_scenarios(self) -> list[dict]:
        """The same plan for either way in: a user in many rooms (memory, time, handshakes),
        a storm of users in several rooms each, fan-out in the ``bench`` room."""
        s = self.sizes
        return [
            {"name": "mr_rooms", "kind": "many_rooms", "timeout": 900,
             "params": {"block": "mr", "users": s["mr_users"], "rooms": s["mr_rooms"],
                        "room_size": s["mr_room_size"], "timed": s["mr_timed"],
                        "concurrency": s["mr_concurrency"], "settle": s["settle"]}},
            {"name": "mr_storm", "kind": "many_rooms_storm", "timeout": s["storm_deadline"] + 120,
             "params": {"block": "mrs", "users": s["mr_storm_users"],
                        "rooms": s["mr_storm_rooms"], "room_size": s["mr_room_size"],
                        "deadline": s["storm_deadline"]}},
            {"name": "mr_fanout", "kind": "fanout",
             "params": {"tag": f"r{secrets.token_hex(5)}", "receivers": s["mr_fanout"],
                        "senders": s["senders"], "seconds": s["fanout_seconds"],
                        "window": s["window"]}},
        ]  # fmt: skip

    def run_client(
        self, variant: Variant, port: int, pid: int, plan: list[dict], protocol: str | None = None
    ) -> dict:
        spec = {
            "ws": f"ws://127.0.0.1:{port}",
            "origin": f"http://127.0.0.1:{port}",
            "protocol": protocol or variant.protocol,
            "pid": pid,
            "credentials": str(self.credentials),
            "scenarios": plan,
            "pause": self.sizes["settle"] * 0.3,
        }
        spec_path, out_path = self.tmp / "spec.json", self.tmp / "out.json"
        spec_path.write_text(json.dumps(spec))
        out_path.unlink(missing_ok=True)
        subprocess.run(  # noqa: S603
            [PYTHON, "-m", "bench.client", str(spec_path), str(out_path)],
            cwd=ROOT, env=self.env, check=True, timeout=3600, preexec_fn=raise_fd_limit,
        )  # fmt: skip
        return json.loads(out_path.read_text())

    def check_persistence(self, results: dict) -> None:
        """Every message a receiver saw is in the database exactly once; nothing stored twice."""
        with sqlite3.connect(self.db) as db:
            for name in ("fanout_small", "fanout_large", "latency_light"):
                result = results.get(name, {})
                if "error" in result or "sent" not in result:
                    continue
                tag = next(s["params"]["tag"] for s in self.plan if s["name"] == name)
                rows = dict(
                    db.execute(
                        "SELECT body, COUNT(*) FROM chat_message WHERE room_id = ? AND body LIKE ?"
                        " GROUP BY body",
                        (self.room_id, f"{tag}-%"),
                    ).fetchall()
                )
                stored = {body: n for body, n in rows.items() if not body.endswith("-warmup")}
                seen = set(result["seen_bodies"])
                accepted = result["sent"] - result["send_errors"]
                result["db_rows"] = sum(stored.values())
                result["db_duplicates"] = sum(n - 1 for n in stored.values())
                result["broadcast_not_stored"] = len(seen - stored.keys())
                result["exactly_once"] = (
                    result["db_duplicates"] == 0
                    and result["broadcast_not_stored"] == 0
                    and result["db_rows"] == accepted == len(seen)
                )

    # Main loop -------------------------------------------------------------------------

    def run(self) -> dict:
        names = self.args.variants.split(",")
        unknown = [n for n in names if n not in VARIANTS]
        if unknown:
            raise SystemExit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
        variants = [VARIANTS[n] for n in names]
        self.prepare()
        if self.args.multiroom_only:
            report = bare_report(self.sizes, self.args)
        else:
            report = self.run_variants(variants)
        if self.args.multiroom:
            report["multiroom"] = self.run_multiroom()
        return report

    def run_variants(self, variants: list[Variant]) -> dict:
        runs: list[dict[str, dict]] = []
        for run in range(self.args.runs):
            order = variants[run % len(variants) :] + variants[: run % len(variants)]
            soak = run >= self.args.runs - self.args.soak_runs
            this_run = {}
            for variant in order:
                started = time.monotonic()
                process, port, _log = self.start(variant)
                try:
                    self.plan = self.scenarios(variant, soak)
                    results = self.run_client(variant, port, process.pid, self.plan)
                finally:
                    stop_server(process)
                if variant.persists:
                    self.check_persistence(results)
                for result in results.values():
                    result.pop("seen_bodies", None)
                if (
                    soak
                    and variant.name in self.args.scale_variants
                    and (not self.args.only or "scale" in self.args.only)
                ):
                    results["scale"] = self.run_scale(variant)
                this_run[variant.name] = results
                print(
                    f"run {run + 1}/{self.args.runs} {variant.name:16s} "
                    f"{time.monotonic() - started:5.1f}s {errors_of(results)}",
                    flush=True,
                )
            runs.append(this_run)
        return build_report(variants, runs, self.sizes, self.args)

    def run_multiroom(self) -> dict:
        """Each repeat, each way in on a fresh server (memory first), the order alternating."""
        project, runs = VARIANTS["project"], []
        for run in range(self.args.multiroom_runs):
            order = list(MODES) if run % 2 == 0 else list(MODES)[::-1]
            this_run = {}
            for mode in order:
                started = time.monotonic()
                process, port, _log = self.start(project)
                try:
                    plan = self.multiroom_scenarios()
                    results = self.run_client(project, port, process.pid, plan, MODES[mode])
                finally:
                    stop_server(process)
                for result in results.values():
                    result.pop("seen_bodies", None)
                this_run[mode] = results
                print(
                    f"multiroom run {run + 1}/{self.args.multiroom_runs} {mode:6s} "
                    f"{time.monotonic() - started:5.1f}s {errors_of(results)}",
                    flush=True,
                )
            runs.append(this_run)
        return multiroom_report(runs, self.sizes)

    def run_scale(self, variant: Variant) -> dict:
        """The scale curve, on a fresh server: memory per socket means nothing on a used one."""
        process, port, _log = self.start(variant)
        try:
            return self.run_client(variant, port, process.pid, [self.scale_scenario()])["scale"]
        finally:
            stop_server(process)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv, __doc__.split("\n\n")[0])
    bench = Bench(args)
    if args.multiroom_runs is None:
        args.multiroom_runs = bench.sizes["mr_runs"]
    try:
        report = bench.run()
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    out = args.out or RESULTS / f"bench-{report['mode']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")
    return report


if __name__ == "__main__":
    main()
