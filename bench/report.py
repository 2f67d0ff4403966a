"""The benchmark's report: medians over the runs, the goals of docs/performance.md met or
missed, the printed table and the details of failures."""

import argparse
import os
import platform
import statistics
from datetime import UTC, datetime
from importlib import metadata

from bench.variants import VARIANTS, Variant

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
     "(daphne) <= 8 ms", "<=", 8.0),
    ("kib_per_socket_ratio", "memory per idle socket <= 1x tutorial's", "<=", 1.0),
    ("fanout_small_ratio", "fan-out deliveries/s, {small} receivers >= 5x tutorial", ">=", 5.0),
    ("fanout_large_ratio", "fan-out deliveries/s, {large} receivers >= 5x tutorial", ">=", 5.0),
    ("fanout_large_vs_ceiling", "fan-out deliveries/s, {large} receivers >= 0.5x the plain "
     "websockets broadcast", ">=", 0.5),
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


def build_report(
    variants: list[Variant], runs: list[dict], sizes: dict, args: argparse.Namespace
) -> dict:
    """Medians over the runs, ratios to the tutorial, goals met or missed; prints the table."""
    medians = {
        v.name: {
            f"{scenario}.{field}": _median(runs, v.name, scenario, field)
            for _, scenario, field, _ in COLUMNS
        }
        for v in variants
    }
    summary = summarize(medians, runs, sizes)
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
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "sizes": sizes,
        "runs": args.runs,
        "soak_runs": args.soak_runs,
        "variants": {v.name: v.label for v in variants},
        "medians": medians,
        "ratios": summary["ratios"],
        "vs_tutorial": vs_tutorial,
        "goals": summary["goals"],
        "exactly_once": summary["exactly_once"],
        "raw": runs,
    }
    print_table(variants, report)
    return report


def summarize(medians: dict, runs: list[dict], sizes: dict) -> dict:
    project, tutorial = medians.get("project"), medians.get("tutorial")
    ceiling = medians.get("ceiling") or {}
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
            "kib_per_socket_ratio": ratio(
                "idle_memory.kib_per_socket", "idle_memory.kib_per_socket"
            ),
        }
    if project and ceiling.get("fanout_large.per_s") and project.get("fanout_large.per_s"):
        ratios["fanout_large_vs_ceiling"] = (
            project["fanout_large.per_s"] / ceiling["fanout_large.per_s"]
        )
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
        "storm_presence_exact": all(r.get("presence_exact") for r in storms) if storms else None,
        "scale_kib_per_socket": scale.get("max_kib_per_socket"),
        "scale_p99_ms": scale.get("p99_ms_at_max")
        if scale.get("sockets_at_max") == sizes["scale_max"]
        else None,
        "latency_p99_ms": (project or {}).get("latency_light.p99_ms"),
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
        goals[key] = {"goal": text.format(**sizes), "value": value, "met": met}
    return {"ratios": ratios, "goals": goals, "exactly_once": exactly_once}


def print_table(variants: list[Variant], report: dict) -> None:
    sizes = report["sizes"]
    headers = ["variant"] + [c[0].format(**sizes) for c in COLUMNS]
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
    print(f"median of {report['runs']} runs ({report['mode']}); "
          f"idle sockets ({sizes['idle_sockets']}) "
          f"and soak ({sizes['soak']} cycles) in the last {report['soak_runs']} run(s); "
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
    print_details(variants, report["raw"], sizes)
    eo = report["exactly_once"]
    print(f"exactly-once checks: {eo['checked']} scenario runs, all passed: {eo['all']}")
    for goal in report["goals"].values():
        status = {True: "PASS", False: "MISS", None: "N/A "}[goal["met"]]
        value = goal["value"]
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{status} {goal['goal']} (measured {shown})")


def print_details(variants: list[Variant], runs: list[dict], sizes: dict) -> None:
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
            s = sizes
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


def errors_of(results: dict) -> str:
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


def bare_report(sizes: dict, args: argparse.Namespace) -> dict:
    """The report's frame when no variant ran (``--multiroom-only``)."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "sizes": sizes,
    }


# One socket for many rooms: (row, scenario, field, format), /ws/ against room sockets.
MULTIROOM_ROWS = [
    ("a user in {mr_rooms} rooms: KiB per user (server RSS)", "mr_rooms", "kib_per_user",
     "{:.0f}"),
    ("a user in {mr_rooms} rooms: ms until all joined, alone", "mr_rooms", "join_ms_p50",
     "{:.0f}"),
    ("a user in {mr_rooms} rooms: handshakes", "mr_rooms", "handshakes_per_user", "{:.1f}"),
    ("storm, {mr_storm_users} users x {mr_storm_rooms} rooms: s until all joined", "mr_storm",
     "seconds", "{:.2f}"),
    ("storm: handshakes", "mr_storm", "handshakes", "{:.0f}"),
    ("storm: failed tries", "mr_storm", "failed_tries", "{:.0f}"),
    ("fan-out into {mr_fanout} receivers: deliveries/s", "mr_fanout", "per_s", "{:.0f}"),
]  # fmt: skip


def multiroom_report(runs: list[dict], sizes: dict) -> dict:
    """Medians over the repeats for each way in (``ws``, ``rooms``); prints the table."""
    modes = ("ws", "rooms")
    medians = {
        mode: {f"{scenario}.{field}": _median(runs, mode, scenario, field)
               for _, scenario, field, _ in MULTIROOM_ROWS}
        for mode in modes
    }  # fmt: skip
    print(f"\none socket for many rooms: median of {len(runs)} runs, /ws/ vs room sockets")
    print("| figure | /ws/ | room sockets | /ws/ : rooms | runs (/ws/; rooms) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for row, scenario, field, fmt in MULTIROOM_ROWS:
        key = f"{scenario}.{field}"
        ws, rooms = medians["ws"][key], medians["rooms"][key]
        shown = ["-" if v is None else fmt.format(v) for v in (ws, rooms)]
        ratio = f"{ws / rooms:.2f}x" if ws is not None and rooms else "-"
        each = "; ".join(
            ", ".join(fmt.format(r[field]) for r in _results(runs, mode, scenario) if field in r
                      and r[field] is not None)
            for mode in modes
        )  # fmt: skip
        print(f"| {row.format(**sizes)} | {shown[0]} | {shown[1]} | {ratio} | {each} |")
    for mode in modes:
        for i, run in enumerate(runs):
            for name, result in run[mode].items():
                if result.get("error") or result.get("not_in") or result.get("failure_classes"):
                    print(f"multiroom {mode} {name} run {i + 1}: "
                          f"{result.get('error') or result.get('failure_classes')} "
                          f"not in: {result.get('not_in', 0)}")  # fmt: skip
    return {"sizes": sizes, "runs": len(runs), "medians": medians, "raw": runs}
