"""``make bench``: start each server variant on loopback, drive it from a separate client process,
print one table and write JSON to ``bench/results/``.

    python -m bench.run                 # full run: 3 runs, every variant, 10,000-cycle soak
    python -m bench.run --quick         # seconds: tiny sizes, 1 run, project and tutorial only
    python -m bench.run --runs 5 --soak 2000 --variants project,tutorial
    python -m bench.run --variants project,tutorial --runs 1 --no-scale   # skip the scale curve

Variants are interleaved inside each run (the order rotates from run to run) and every figure
reported is the median over the runs. The scale curve (10,000 idle sockets) runs once, in the
last run, on a fresh server of its own. The database is a fresh SQLite file in a temp folder,
migrated with ``manage.py migrate`` and seeded by ``bench.seed``; servers read ``bench.settings``.
"""

import argparse
import json
import os
import platform
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.client import raise_fd_limit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable

# Limits the project enforces per connection, per user and per process, raised so the
# benchmark measures throughput instead of the limiter (names from config/settings/base.py).
RAISED_LIMITS = {
    "JWT_ACCESS_SECONDS": "7200",
    "CHAT_RATE_LIMIT_MESSAGES": "1000000",
    "CHAT_RATE_LIMIT_SECONDS": "1",
    "CHAT_FLOOD_CLOSE_AFTER": "1000000",
    "CHAT_MAX_FAILED_AUTH_PER_ADDRESS": "1000000",
    "CHAT_MAX_SOCKETS_PER_USER": "100000",
    "CHAT_MAX_SOCKETS_PER_PROCESS": "100000",
    "CHAT_MAX_HANDSHAKES_PER_USER": "1000000",
    "CHAT_HANDSHAKE_WINDOW_SECONDS": "1",
}


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    server: str  # "daphne" | "uvicorn" | "granian" | "websockets"
    app: str | None
    layer: str
    protocol: str  # how the client talks to it: "project" | "tutorial" | "ceiling"
    core: bool  # core variants get every scenario; the others fan-out, latency, handshakes
    env: tuple[tuple[str, str], ...] = ()
    ws: str = "websockets-sansio"  # uvicorn's WebSocket implementation (--ws)

    @property
    def persists(self) -> bool:
        return self.protocol == "project"


VARIANTS = {
    v.name: v
    for v in [
        Variant("project", "(1) project, daphne, in-memory", "daphne", "config.asgi:application",
                "memory", "project", True),
        Variant("tutorial", "(2) tutorial consumer, daphne", "daphne",
                "bench.tutorial_asgi:application", "memory", "tutorial", True),
        Variant("ceiling", "(3) plain websockets broadcast", "websockets", None, "-", "ceiling",
                True),
        Variant("project-redis", "project, RedisChannelLayer", "daphne", "config.asgi:application",
                "redis", "project", False),
        Variant("project-pubsub", "project, RedisPubSubChannelLayer", "daphne",
                "config.asgi:application", "pubsub", "project", False),
        Variant("project-uvicorn", "project, uvicorn (websockets-sansio), in-memory", "uvicorn",
                "config.asgi:application", "memory", "project", False),
        Variant("project-uvicorn-wsproto", "project, uvicorn (wsproto), in-memory", "uvicorn",
                "config.asgi:application", "memory", "project", False, ws="wsproto"),
        Variant("project-uvicorn-legacy", "project, uvicorn (websockets, legacy), in-memory",
                "uvicorn", "config.asgi:application", "memory", "project", False,
                ws="websockets"),
        Variant("tutorial-uvicorn", "tutorial consumer, uvicorn (websockets-sansio)", "uvicorn",
                "bench.tutorial_asgi:application", "memory", "tutorial", False),
        Variant("project-granian", "project, granian, in-memory", "granian",
                "config.asgi:application", "memory", "project", False),
        Variant("tutorial-stock", "tutorial consumer, channels' stock in-memory layer",
                "daphne", "bench.tutorial_asgi:application", "stock", "tutorial", False),
    ]
}  # fmt: skip

SIZES = {
    "full": {
        "hs_seq": 100, "hs_conc": 300, "concurrency": 50, "fanout_seconds": 2.0, "window": 4,
        "senders": 5, "small": 50, "large": 200, "latency_receivers": 50, "latency_rate": 10.0,
        "latency_seconds": 4.0, "idle_sockets": 1000, "idle_rooms": 20, "soak": 3000,
        "users": 10000, "settle": 1.0,
        "sessions": 60, "storm_sockets": 400, "storm_rooms": 8, "storm_deadline": 120.0,
        "scale_sizes": [1000, 5000, 10000], "scale_room": 100, "scale_rate": 1.0,
        "scale_seconds": 5.0,
    },
    "quick": {
        "hs_seq": 10, "hs_conc": 20, "concurrency": 10, "fanout_seconds": 0.5, "window": 4,
        "senders": 5, "small": 10, "large": 20, "latency_receivers": 10, "latency_rate": 10.0,
        "latency_seconds": 1.0, "idle_sockets": 30, "idle_rooms": 3, "soak": 60, "users": 200,
        "sessions": 20, "settle": 0.3, "storm_sockets": 40, "storm_rooms": 4,
        "storm_deadline": 30.0, "scale_sizes": [100, 200], "scale_room": 100, "scale_rate": 4.0,
        "scale_seconds": 1.0,
    },
}  # fmt: skip

GOALS = [
    # (key, goal as printed, comparison, threshold): docs/performance.md "Goals", then correctness.
    ("hs_seq_jwt_ratio", "JWT handshakes/s, one at a time >= 0.85x tutorial", ">=", 0.85),
    ("hs_conc_jwt_ratio", "JWT handshakes/s, {concurrency} in flight >= 0.7x tutorial", ">=", 0.7),
    # A browser reports every failed handshake as 1006, so every failure class counts here.
    ("hs_conc_jwt_failed", "JWT handshakes, {concurrency} in flight: zero failed "
     "(1006/1011/1013 or any other)", "==", 0),
    ("hs_conc_session_ratio", "cookie handshakes/s, {concurrency} in flight >= 0.6x tutorial",
     ">=", 0.6),
    ("storm_ratio", "reconnect storm ({storm_sockets} sockets) time until all in <= 1.5x tutorial",
     "<=", 1.5),
    ("storm_failed", "reconnect storm: zero failed tries", "==", 0),
    ("storm_presence_exact", "reconnect storm: presence exact afterwards (and after all left)",
     "==", True),
    ("latency_p99_ms", "p99 at {latency_rate:.0f} msg/s into {latency_receivers} receivers "
     "(daphne) <= 12 ms", "<=", 12.0),
    ("kib_per_socket", "memory per idle socket <= 32 KiB", "<=", 32.0),
    ("fanout_small_ratio", "fan-out deliveries/s, {small} receivers >= 5x tutorial", ">=", 5.0),
    ("fanout_large_ratio", "fan-out deliveries/s, {large} receivers >= 5x tutorial", ">=", 5.0),
    ("scale_kib_per_socket", "scale curve: every size <= 32 KiB/socket", "<=", 32.0),
    ("scale_p99_ms", "scale curve: p99 <= 25 ms at {scale_max} sockets", "<=", 25.0),
    ("soak_drift_pct", "RSS drift across the soak <= 10 %", "<=", 10.0),
    ("exactly_once", "every broadcast message stored exactly once", "==", True),
]  # fmt: skip

# (column, scenario, field, format)
COLUMNS = [
    ("hs seq jwt/s", "hs_seq_jwt", "per_s", "{:.0f}"),
    ("hs 50c jwt/s", "hs_conc_jwt", "per_s", "{:.0f}"),
    ("hs seq cookie/s", "hs_seq_session", "per_s", "{:.0f}"),
    ("hs 50c cookie/s", "hs_conc_session", "per_s", "{:.0f}"),
    ("fan-out {small} dlv/s", "fanout_small", "per_s", "{:.0f}"),
    ("fan-out {large} dlv/s", "fanout_large", "per_s", "{:.0f}"),
    ("p50 ms", "latency_light", "p50_ms", "{:.1f}"),
    ("p99 ms", "latency_light", "p99_ms", "{:.1f}"),
    ("KiB/socket", "idle_memory", "kib_per_socket", "{:.1f}"),
    ("soak drift %", "soak", "drift_pct", "{:+.1f}"),
    ("storm {storm_sockets} s", "storm", "seconds", "{:.2f}"),
    ("storm failed", "storm", "failed_tries", "{:.0f}"),
]

# Which variants get the storm (it needs rooms) and the scale curve (the project only, by default).
STORM_PROTOCOLS = ("project", "tutorial")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = dict(SIZES["quick" if args.quick else "full"])
        if args.soak is not None:
            self.sizes["soak"] = args.soak
        self.sizes["scale_max"] = self.sizes["scale_sizes"][-1]
        self.sizes["users"] = max(
            self.sizes["users"], self.sizes["scale_max"], self.sizes["storm_sockets"]
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
             "--out", str(self.credentials)],
            cwd=ROOT, env=self.env, check=True, timeout=600,
        )  # fmt: skip
        self.room_id = json.loads(self.credentials.read_text())["room_id"]

    @property
    def storm_room_size(self) -> int:
        return -(-self.sizes["storm_sockets"] // self.sizes["storm_rooms"])

    # Servers ---------------------------------------------------------------------------

    def server_command(self, variant: Variant, port: int) -> list[str]:
        if variant.server == "daphne":
            return [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                    "--websocket-max-message-size", "65536", variant.app]  # fmt: skip
        if variant.server == "uvicorn":
            return [PYTHON, "-m", "uvicorn", variant.app, "--host", "127.0.0.1", "--port",
                    str(port), "--ws", variant.ws, "--ws-max-size", "65536",
                    "--lifespan", "off"]  # fmt: skip
        if variant.server == "granian":
            # asginl: ASGI without lifespan (the app has no lifespan handler), like uvicorn's.
            return [PYTHON, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1",
                    "--port", str(port), "--ws", "--no-access-log", "--log-level", "warning",
                    variant.app]  # fmt: skip
        return [PYTHON, "-m", "bench.ws_server", "--port", str(port)]

    def start(self, variant: Variant, wrap: list[str] | None = None):
        port = free_port()
        env = {
            **self.env,
            "BENCH_LAYER": variant.layer if variant.layer != "-" else "memory",
            "BENCH_REDIS_PREFIX": f"bench{secrets.token_hex(4)}",
            **dict(variant.env),
        }
        log_path = self.tmp / f"{variant.name}-{port}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(  # noqa: S603
                [*(wrap or []), *self.server_command(variant, port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=raise_fd_limit,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{variant.name} exited early:\n{log_path.read_text()[-3000:]}")
            if self._ready(variant, port):
                return process, port, log_path
            time.sleep(0.1)
        process.kill()
        raise RuntimeError(f"{variant.name} did not start:\n{log_path.read_text()[-3000:]}")

    @staticmethod
    def _ready(variant: Variant, port: int) -> bool:
        try:
            if variant.server == "websockets":
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

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
        plan = [{"name": "verify", "kind": "verify", "params": {"auth": "jwt", "tag": f"v{tag}"}}]
        if authed and variant.core:
            plan.append(
                {"name": "verify_session", "kind": "verify",
                 "params": {"auth": "session", "tag": f"w{tag}"}}
            )  # fmt: skip
        if variant.core and soak:
            # First, on a fresh server: memory freed by the fan-out tests would hide its cost.
            plan.append({"name": "idle_memory", "kind": "idle_memory", "timeout": 600,
                         "params": {"sockets": s["idle_sockets"], "settle": s["settle"],
                                    "rooms": s["idle_rooms"]}})  # fmt: skip
        if variant.core or variant.server in ("uvicorn", "granian"):
            plan.append(hs("hs_seq_jwt", "jwt", s["hs_seq"], 1))
        if variant.core or variant.server != "daphne":
            plan.append(hs("hs_conc_jwt", "jwt", s["hs_conc"], s["concurrency"]))
        if authed and variant.core:
            plan.append(hs("hs_seq_session", "session", s["hs_seq"], 1))
            plan.append(hs("hs_conc_session", "session", s["hs_conc"], s["concurrency"]))
        plan += [
            room("fanout_small", "fanout", receivers=s["small"], **fan),
            room("fanout_large", "fanout", receivers=s["large"], **fan),
            room("latency_light", "latency", senders=s["senders"],
                 receivers=s["latency_receivers"], rate=s["latency_rate"],
                 seconds=s["latency_seconds"]),
        ]  # fmt: skip
        if variant.core and variant.protocol in STORM_PROTOCOLS:
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

    def run_client(self, variant: Variant, port: int, pid: int, plan: list[dict]) -> dict:
        spec = {
            "ws": f"ws://127.0.0.1:{port}",
            "origin": f"http://127.0.0.1:{port}",
            "protocol": variant.protocol,
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
                    self.stop(process)
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
                    f"{time.monotonic() - started:5.1f}s {_errors(results)}",
                    flush=True,
                )
            runs.append(this_run)
        return self.report(variants, runs)

    def run_scale(self, variant: Variant) -> dict:
        """The scale curve, on a fresh server: memory per socket means nothing on a used one."""
        process, port, _log = self.start(variant)
        try:
            return self.run_client(variant, port, process.pid, [self.scale_scenario()])["scale"]
        finally:
            self.stop(process)

    # Report ----------------------------------------------------------------------------

    def report(self, variants: list[Variant], runs: list[dict]) -> dict:
        medians = {
            v.name: {
                f"{scenario}.{field}": _median(runs, v.name, scenario, field)
                for _, scenario, field, _ in COLUMNS
            }
            for v in variants
        }
        summary = self.summarize(medians, runs)
        baseline = medians.get("tutorial", {})
        vs_tutorial = {
            v.name: {
                key: (medians[v.name][key] / baseline[key])
                if medians[v.name][key] is not None and baseline.get(key)
                else None
                for key in ("fanout_small.per_s", "fanout_large.per_s", "hs_conc_jwt.per_s")
            }
            for v in variants
        }
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": "quick" if self.args.quick else "full",
            "machine": machine(),
            "sizes": self.sizes,
            "runs": self.args.runs,
            "soak_runs": self.args.soak_runs,
            "variants": {v.name: v.label for v in variants},
            "medians": medians,
            "ratios": summary["ratios"],
            "vs_tutorial": vs_tutorial,
            "goals": summary["goals"],
            "exactly_once": summary["exactly_once"],
            "raw": runs,
        }
        self.print_table(variants, report)
        return report

    def summarize(self, medians: dict, runs: list[dict]) -> dict:
        project, tutorial = medians.get("project"), medians.get("tutorial")
        ratios = {}
        if project and tutorial:

            def ratio(mine: str, theirs: str) -> float | None:
                a, b = project.get(mine), tutorial.get(theirs)
                return a / b if a is not None and b else None

            ratios = {
                "fanout_small_ratio": ratio("fanout_small.per_s", "fanout_small.per_s"),
                "fanout_large_ratio": ratio("fanout_large.per_s", "fanout_large.per_s"),
                # The tutorial has no auth: its one handshake rate is the bare baseline.
                "hs_seq_jwt_ratio": ratio("hs_seq_jwt.per_s", "hs_seq_jwt.per_s"),
                "hs_conc_jwt_ratio": ratio("hs_conc_jwt.per_s", "hs_conc_jwt.per_s"),
                "hs_seq_session_ratio": ratio("hs_seq_session.per_s", "hs_seq_jwt.per_s"),
                "hs_conc_session_ratio": ratio("hs_conc_session.per_s", "hs_conc_jwt.per_s"),
                # The project is in at room.joined, the tutorial at accept.
                "storm_ratio": ratio("storm.seconds", "storm.seconds"),
            }
        persisted = [
            result.get("exactly_once")
            for run in runs
            for name, results in run.items()
            if VARIANTS[name].persists
            for result in results.values()
            if "exactly_once" in result
        ]
        exactly_once = {"checked": len(persisted), "all": bool(persisted) and all(persisted)}
        storms = _results(runs, "project", "storm")
        scale = next(iter(_results(runs, "project", "scale")[-1:]), {})
        values = {
            **ratios,
            "hs_conc_jwt_failed": _total(_results(runs, "project", "hs_conc_jwt"), "errors"),
            # A socket that never got in counts as a failed try too.
            "storm_failed": _total(storms, "failed_tries", "not_in"),
            "storm_presence_exact": all(r.get("presence_exact") for r in storms)
            if storms
            else None,
            "scale_kib_per_socket": scale.get("max_kib_per_socket"),
            "scale_p99_ms": scale.get("p99_ms_at_max")
            if scale.get("sockets_at_max") == self.sizes["scale_max"]
            else None,
            "latency_p99_ms": (project or {}).get("latency_light.p99_ms"),
            "kib_per_socket": (project or {}).get("idle_memory.kib_per_socket"),
            "soak_drift_pct": (project or {}).get("soak.drift_pct"),
            "exactly_once": exactly_once["all"],
        }
        goals = {}
        for key, text, op, threshold in GOALS:
            value = values.get(key)
            if value is None:
                met = None
            elif op == ">=":
                met = value >= threshold
            elif op == "<=":
                met = abs(value) <= threshold if key == "soak_drift_pct" else value <= threshold
            elif isinstance(threshold, bool):
                met = value is threshold
            else:
                met = value == threshold
            goals[key] = {"goal": text.format(**self.sizes), "value": value, "met": met}
        return {"ratios": ratios, "goals": goals, "exactly_once": exactly_once}

    def print_table(self, variants: list[Variant], report: dict) -> None:
        headers = ["variant"] + [c[0].format(**self.sizes) for c in COLUMNS]
        rows = []
        for v in variants:
            row = [v.label]
            for _, scenario, field, fmt in COLUMNS:
                value = report["medians"][v.name][f"{scenario}.{field}"]
                row.append("-" if value is None else fmt.format(value))
            rows.append(row)
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
        print()
        sizes = self.sizes
        print(f"median of {report['runs']} runs ({report['mode']}); "
              f"idle sockets ({sizes['idle_sockets']}) "
              f"and soak ({self.sizes['soak']} cycles) in the last {report['soak_runs']} run(s); "
              "'-' = not measured")  # fmt: skip
        print(line)
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in rows:
            print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        print()
        print("every variant / tutorial: fan-out small, fan-out large, handshakes 50c JWT")
        for name, values in report["vs_tutorial"].items():
            shown = ["-" if x is None else f"{x:.2f}x" for x in values.values()]
            print(f"  {name:16s} {'  '.join(shown)}")
        for key, value in report["ratios"].items():
            print(f"ratio {key:24s} {'-' if value is None else f'{value:.2f}x'}")
        self.print_details(variants, report["raw"])
        eo = report["exactly_once"]
        print(f"exactly-once checks: {eo['checked']} scenario runs, all passed: {eo['all']}")
        for goal in report["goals"].values():
            status = {True: "PASS", False: "MISS", None: "N/A "}[goal["met"]]
            value = goal["value"]
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            print(f"{status} {goal['goal']} (measured {shown})")

    def print_details(self, variants: list[Variant], runs: list[dict]) -> None:
        """Failure classes of handshakes and storms, presence checks, and the scale curve."""
        for v in variants:
            for name in ("hs_conc_jwt", "hs_conc_session", "storm"):
                for i, result in enumerate(_results(runs, v.name, name)):
                    classes = result.get("error_classes") or result.get("failure_classes")
                    if classes or result.get("not_in") or result.get("error"):
                        print(f"failed {v.name} {name} run {i + 1}: {classes or {}} "
                              f"not in: {result.get('not_in', 0)} "
                              f"{result.get('error') or ''}")  # fmt: skip
            for i, result in enumerate(_results(runs, v.name, "storm")):
                if "presence_exact" in result:
                    print(f"storm {v.name} run {i + 1}: {result['in']}/{result['sockets']} in "
                          f"after {result['seconds']:.2f} s ({result['tries']} tries), "
                          f"presence exact: {result['presence_exact']} (last presence frame "
                          f"exact on {result['last_view_exact']}/{result['in']} sockets; "
                          f"wrong rooms {result['presence_wrong_rooms'] or 'none'}, after close "
                          f"{result['presence_wrong_after_close'] or 'none'})")  # fmt: skip
            for result in _results(runs, v.name, "scale"):
                if "error" in result:
                    print(f"scale {v.name}: {result['error']}")
                    continue
                s = self.sizes
                print(
                    f"scale curve {v.name} (rooms of {s['scale_room']}, {s['scale_rate']:g} msg/s"
                    f" into scale-0 for {s['scale_seconds']:g} s; base RSS"
                    f" {result['rss_base_mib']:.0f} MiB; failed tries"
                    f" {result['failure_classes'] or 0}; dropped {result['dropped'] or 0}):"
                )
                print("  sockets  KiB/socket  RSS MiB  p50 ms  p99 ms  samples  open s")
                for pt in result["points"]:
                    print(
                        f"  {pt['sockets']:7d}  {pt['kib_per_socket']:10.1f}  {pt['rss_mib']:7.0f}"
                        f"  {pt['p50_ms']:6.1f}  {pt['p99_ms']:6.1f}"
                        f"  {pt['samples']:4d}/{pt['expected']:<4d} {pt['open_s']:6.1f}"
                    )


def _results(runs: list[dict], variant: str, scenario: str) -> list[dict]:
    """One scenario's result in every run that has it, in run order."""
    return [run[variant][scenario] for run in runs if scenario in run.get(variant, {})]


def _total(results: list[dict], *fields: str) -> int | None:
    """Sum of ``fields`` over runs; None if a run errored (nothing to count)."""
    if not results or any("error" in r for r in results):
        return None
    return sum(int(r.get(f) or 0) for r in results for f in fields)


def _median(runs: list[dict], variant: str, scenario: str, field: str) -> float | None:
    values = [
        run[variant][scenario][field]
        for run in runs
        if isinstance(run.get(variant, {}).get(scenario, {}).get(field), int | float)
    ]
    return statistics.median(values) if values else None


def _errors(results: dict) -> str:
    bad = [
        f"{name}: {result.get('error') or result.get('first_error')}"
        for name, result in results.items()
        if result.get("error") or result.get("errors") or result.get("exactly_once") is False
    ]
    return "; ".join(bad)


def machine() -> dict:
    packages = ["Django", "channels", "daphne", "channels-redis", "uvicorn", "websockets", "redis"]
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in packages},
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI (seconds)")
    parser.add_argument("--runs", type=int, default=None, help="runs per variant (median)")
    parser.add_argument("--variants", default=None, help=f"comma list of {','.join(VARIANTS)}")
    parser.add_argument("--soak", type=int, default=None, help="soak connect/disconnect cycles")
    parser.add_argument(
        "--soak-runs",
        type=int,
        default=1,
        help="runs (the last ones) that include the memory tests: idle sockets and soak",
    )
    parser.add_argument(
        "--scale-variants",
        default="project",
        help="comma list of variants that get the scale curve (fresh server, last run); '' = none",
    )
    parser.add_argument("--no-scale", dest="scale_variants", action="store_const", const="")
    parser.add_argument(
        "--only",
        default="",
        help="comma list of scenarios to run (e.g. storm,scale,hs_conc_jwt); default: all",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default results/)")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.variants is None:
        args.variants = "project,tutorial" if args.quick else ",".join(VARIANTS)
    args.scale_variants = [v for v in args.scale_variants.split(",") if v]
    args.only = [s for s in args.only.split(",") if s]
    bench = Bench(args)
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
