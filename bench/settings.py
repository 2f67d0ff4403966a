"""Benchmark settings: the project's own settings, with the channel layer picked by ``BENCH_LAYER``.

``memory`` (default) keeps the project's in-memory layer untouched; ``redis`` is the project's
own ``RedisChannelLayer`` configuration (``BENCH_REDIS_URL``); ``pubsub`` swaps in
``RedisPubSubChannelLayer``,
which the project settings cannot select yet. Each server start gets its own Redis key prefix
(``BENCH_REDIS_PREFIX``) so runs never see each other's groups.
"""

from config.redis_clients import RedisTarget
from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = False
# Users are seeded with a precomputed hash; no benchmarked path hashes a password.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT = None

BENCH_LAYER = env("BENCH_LAYER", default="memory")
# A database of its own, so other users of this Redis never see the benchmark's keys.
_redis_url = env("BENCH_REDIS_URL", default="redis://127.0.0.1:6379/14")
_prefix = env("BENCH_REDIS_PREFIX", default="bench")
CHANNEL_LAYER_PREFIX = _prefix  # presence keys share it (realtime.presence)
# Presence and per-user socket counts follow settings.REDIS, as they do in production.
REDIS = RedisTarget(url=_redis_url) if BENCH_LAYER in ("redis", "pubsub") else None
if BENCH_LAYER == "memory":
    # The project's zero-setup layer, for the tutorial consumer too (the same settings for
    # both: the difference measured is the consumer's own work).
    CHANNEL_LAYERS = {"default": {"BACKEND": "config.channel_layers.InMemoryChannelLayer"}}
elif BENCH_LAYER == "stock":  # channels' own in-memory layer, to measure what the swap buys
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
elif BENCH_LAYER == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [_redis_url], "capacity": 1500, "expiry": 30, "prefix": _prefix},
        }
    }
elif BENCH_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [_redis_url], "prefix": _prefix},
        }
    }
else:
    raise ValueError(f"BENCH_LAYER must be memory, stock, redis or pubsub, not {BENCH_LAYER!r}")
