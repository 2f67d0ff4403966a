"""The load generator: a separate process that drives one server with ``websockets``.

``python -m bench.client SPEC.json OUT.json``: SPEC names the server (URL, protocol, pid),
the credentials file and the scenarios to run; OUT receives one result per scenario. Every loop
is bounded by a count and a deadline; nothing here talks to anything but the loopback server.
"""

import asyncio
import json
import sys
import time

from bench.memory import idle_memory, scale_curve, soak
from bench.multiroom import many_rooms, many_rooms_storm
from bench.storm import reconnect_storm
from bench.target import Target
from bench.traffic import fanout, handshakes, latency, verify

SCENARIOS = {
    "verify": verify,
    "handshakes": handshakes,
    "fanout": fanout,
    "latency": latency,
    "idle_memory": idle_memory,
    "soak": soak,
    "storm": reconnect_storm,
    "scale": scale_curve,
    "many_rooms": many_rooms,
    "many_rooms_storm": many_rooms_storm,
}


async def main(spec: dict, creds: dict) -> dict:
    target = Target(
        ws=spec["ws"],
        origin=spec["origin"],
        protocol=spec["protocol"],
        tokens=creds["tokens"],
        sessions=creds["sessions"],
        usernames=creds.get("usernames", []),
    )
    results = {}
    for scenario in spec["scenarios"]:
        name, kind, params = scenario["name"], scenario["kind"], dict(scenario["params"])
        if kind in ("idle_memory", "soak", "scale", "many_rooms"):
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
