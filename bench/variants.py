"""The server variants the benchmark compares, the project's limits it raises, and the sizes
of a full and a quick run."""

from dataclasses import dataclass

# Limits the project enforces per connection, per user and per process, raised so the
# benchmark measures throughput instead of the limiter (names from config/settings/realtime.py).
RAISED_LIMITS = {
    "JWT_ACCESS_SECONDS": "7200",
    "CHAT_RATE_LIMIT_MESSAGES": "1000000",
    "CHAT_RATE_LIMIT_SECONDS": "1",
    "CHAT_RATE_LIMIT_ROOM_COMMANDS": "1000000",
    "CHAT_RATE_LIMIT_ROOM_SECONDS": "1",
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
        # One socket for many rooms (bench/multiroom.py): /ws/ against room sockets.
        "mr_users": 100, "mr_rooms": 20, "mr_room_size": 50, "mr_timed": 10,
        "mr_concurrency": 10, "mr_storm_users": 400, "mr_storm_rooms": 8, "mr_fanout": 200,
        "mr_runs": 5,
    },
    "quick": {
        "hs_seq": 10, "hs_conc": 20, "concurrency": 10, "fanout_seconds": 0.5, "window": 4,
        "senders": 5, "small": 10, "large": 20, "latency_receivers": 10, "latency_rate": 10.0,
        "latency_seconds": 1.0, "idle_sockets": 30, "idle_rooms": 3, "soak": 60, "users": 200,
        "sessions": 20, "settle": 0.3, "storm_sockets": 40, "storm_rooms": 4,
        "storm_deadline": 30.0, "scale_sizes": [100, 200], "scale_room": 100, "scale_rate": 4.0,
        "scale_seconds": 1.0,
        "mr_users": 6, "mr_rooms": 5, "mr_room_size": 10, "mr_timed": 2, "mr_concurrency": 3,
        "mr_storm_users": 20, "mr_storm_rooms": 3, "mr_fanout": 10, "mr_runs": 1,
    },
}  # fmt: skip


# Which variants get the storm (it needs rooms) and the scale curve (the project only, by default).
STORM_PROTOCOLS = ("project", "tutorial")
