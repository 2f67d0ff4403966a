"""Where Redis is, read once from the environment, and every Redis client built from that.

Two ways to name Redis (docs/redis.md):

- ``REDIS_URL``: one server.
- ``REDIS_SENTINELS`` (``host:port,host:port,...``) and ``REDIS_SENTINEL_MASTER`` (the name the
  sentinels monitor), with ``REDIS_SENTINEL_PASSWORD`` for the sentinels and ``REDIS_PASSWORD``
  for the servers: every client asks the sentinels which server is the master when it connects,
  and connects again (asking again) when that server fails, hangs or turns into a replica.

Each use gets its description from here, so none can stay behind on an old master: the channel
layer (``channel_layer_hosts``), Django's cache (``cache_settings``: socket tickets, cached
sessions, API throttles) and the presence store, process leases, socket slots and budgets
(``async_client``). ``CHANNEL_LAYER_SHARDS`` spreads the layer over several servers (or several
masters of the same sentinels).

Every connection takes ``settings.REDIS_CONNECTION_OPTIONS`` (``config.redis_options``: a read
timeout, so a hung server, stopped but not dead, its kernel still accepting connections, fails a
command instead of holding it; one retry on a dead connection, which asks the sentinels again). A
layer subscription has no command to time out, so its connection sends a PING each
``HEALTH_CHECK_SECONDS`` while idle and gives up on the server when nothing came back for one
more read timeout.
"""

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import ConnectionError as RedisConnectionError

# Sentinels answer one small question; a slow one is skipped for the next.
SENTINEL_TIMEOUT = 0.5
# An idle layer subscription pings this often (one PING per process and shard per second).
HEALTH_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class RedisTarget:
    """One Redis, by URL or through sentinels; what settings keep as ``REDIS``."""

    url: str = ""
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    password: str | None = None
    sentinel_password: str | None = None

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    def __repr__(self) -> str:  # settings dumps (a debug page, a shell) never show passwords
        where = f"sentinels={self.sentinels} master={self.master!r}" if self.sentinels else "url"
        return f"RedisTarget({where})"


def redis_target(env) -> RedisTarget | None:
    """The Redis the environment names, None for none; a half or mixed description (sentinels
    without a master name, a password with nothing to use it for) is refused with a message
    that says what to set."""
    url = env("REDIS_URL", default="")
    sentinels_text = env("REDIS_SENTINELS", default="")
    master = env("REDIS_SENTINEL_MASTER", default="")
    password = env("REDIS_PASSWORD", default="") or None
    sentinel_password = env("REDIS_SENTINEL_PASSWORD", default="") or None
    if url and (sentinels_text or master):
        raise ImproperlyConfigured(
            "Set either REDIS_URL (one Redis server) or REDIS_SENTINELS and "
            "REDIS_SENTINEL_MASTER (Redis Sentinel), not both."
        )
    if bool(sentinels_text) != bool(master):
        missing = "REDIS_SENTINEL_MASTER" if sentinels_text else "REDIS_SENTINELS"
        raise ImproperlyConfigured(
            f"Redis Sentinel needs REDIS_SENTINELS (host:port,host:port,...) and "
            f"REDIS_SENTINEL_MASTER (the monitored master's name) together: set {missing}."
        )
    if sentinel_password and not sentinels_text:
        raise ImproperlyConfigured(
            "REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINELS: set the sentinels, or "
            "remove it."
        )
    if url:
        return RedisTarget(url=url, password=password)
    if sentinels_text:
        return RedisTarget(
            sentinels=parse_sentinels(sentinels_text),
            master=master,
            password=password,
            sentinel_password=sentinel_password,
        )
    if password:
        raise ImproperlyConfigured(
            "REDIS_PASSWORD is set without a Redis: set REDIS_URL, or REDIS_SENTINELS and "
            "REDIS_SENTINEL_MASTER."
        )
    return None


def parse_sentinels(text: str) -> tuple[tuple[str, int], ...]:
    """``host:port,host:port`` (``[::1]:26379`` for an IPv6 address) into pairs."""
    pairs = []
    for entry in (part.strip() for part in text.split(",")):
        host, _, port = entry.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(
                f"REDIS_SENTINELS entry {entry!r} is not host:port "
                "(write REDIS_SENTINELS=10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379)."
            )
        pairs.append((host, int(port)))
    return tuple(pairs)


def _connection_options(target: RedisTarget, options: dict) -> dict:
    if target.password:
        return {**options, "password": target.password}
    return dict(options)


def _sentinel_options(target: RedisTarget) -> dict:
    options = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
    if target.sentinel_password:
        options["password"] = target.sentinel_password
    return options


# The channel layer ------------------------------------------------------------------------------


def channel_layer_hosts(
    target: RedisTarget, options: dict, shards: list[str] | None = None
) -> list[dict]:
    """channels-redis ``hosts``: one entry per shard (``shards``: redis:// URLs with one
    server, master names with sentinels; the target's own Redis when empty)."""
    shards = shards or [target.master if target.uses_sentinel else target.url]
    options = {
        **_connection_options(target, options),
        "health_check_interval": HEALTH_CHECK_SECONDS,
    }
    hosts = []
    for shard in shards:
        if target.uses_sentinel:
            if "://" in shard:
                raise ImproperlyConfigured(
                    f"CHANNEL_LAYER_SHARDS entry {shard!r}: with REDIS_SENTINELS each shard is "
                    "the name of a master the same sentinels monitor, not a URL."
                )
            hosts.append(
                {
                    "sentinels": list(target.sentinels),
                    "master_name": shard,
                    "sentinel_kwargs": _sentinel_options(target),
                    "connection_class": WatchedSentinelConnection,
                    **options,
                }
            )
        else:
            if not shard.startswith(("redis://", "rediss://", "unix://")):
                raise ImproperlyConfigured(
                    f"CHANNEL_LAYER_SHARDS entry {shard!r} is not a redis:// URL."
                )
            host = {"address": shard, **options}
            if shard.startswith("redis://"):  # rediss:// and unix:// keep redis-py's own class
                host["connection_class"] = WatchedConnection
            hosts.append(host)
    return hosts


class _Watched:
    """A connection that notices a silent server while it only listens (a subscription).

    redis-py's health check PINGs an idle subscribed connection, but a reply that never comes
    only means the next PING goes out: a stopped server would keep the subscription forever,
    and the process would never hear the room again after a failover. Here a poll that finds
    the server silent past its health check plus ``socket_timeout`` drops the connection;
    the subscription's own retry then reconnects (asking the sentinels) and subscribes again.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.register_connect_callback(self._heard_just_now)

    def _heard_just_now(self, _connection) -> None:
        self.next_health_check = asyncio.get_running_loop().time() + self.health_check_interval

    # redis-py's own signature, timeout included.
    async def read_response(self, disable_decoding=False, timeout=None, **kwargs):  # noqa: ASYNC109
        if (
            timeout is not None
            and self.health_check_interval
            and self.is_connected
            and asyncio.get_running_loop().time() > self.next_health_check + self.socket_timeout
        ):
            await self.disconnect()
            raise RedisConnectionError(f"Redis at {self.host}:{self.port} stopped answering")
        return await super().read_response(disable_decoding, timeout, **kwargs)


class WatchedConnection(_Watched, redis.asyncio.Connection):
    """A layer connection to one server by URL."""


class WatchedSentinelConnection(_Watched, redis.asyncio.sentinel.SentinelManagedConnection):
    """A layer connection to whichever server the sentinels name master."""


# Django's cache ---------------------------------------------------------------------------------


def cache_settings(target: RedisTarget, options: dict, *, key_prefix: str) -> dict:
    """``CACHES["default"]``: Django's own ``RedisCache``; with sentinels its connection pool is
    ``SentinelCachePool``, so the cache follows the master like everything else."""
    options = _connection_options(target, options)
    if not target.uses_sentinel:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": target.url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": options,
        }
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"sentinel://{target.master}",
        "KEY_PREFIX": key_prefix,
        "OPTIONS": {
            "pool_class": "config.redis_clients.SentinelCachePool",
            "sentinels": list(target.sentinels),
            "sentinel_kwargs": _sentinel_options(target),
            **options,
        },
    }


class SentinelCachePool(redis.sentinel.SentinelConnectionPool):
    """redis-py's Sentinel pool, made the way Django's ``RedisCache`` makes its pools
    (``from_url(LOCATION, **OPTIONS)``); ``LOCATION`` is ``sentinel://<master name>``."""

    @classmethod
    def from_url(cls, url: str, *, sentinels, sentinel_kwargs=None, **options):
        master = urlsplit(url).hostname
        manager = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)
        return cls(master, manager, **options)


# Presence, leases, slots and budgets --------------------------------------------------------


class BlockingSentinelPool(
    redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool
):
    """The master's connections, at most ``max_connections``; more callers wait for one."""


def async_client(
    target: RedisTarget, options: dict, *, max_connections: int, wait_seconds: float
) -> redis.asyncio.Redis:
    """A client for the running event loop (its pool belongs to that loop), decoding replies.

    Blocking: under a crowd of simultaneous closes a caller waits up to ``wait_seconds`` for a
    connection instead of failing (a failed presence leave would leave stale presence behind).
    """
    options = {
        **_connection_options(target, options),
        "decode_responses": True,
        "max_connections": max_connections,
        "timeout": wait_seconds,
    }
    if target.uses_sentinel:
        manager = redis.asyncio.sentinel.Sentinel(
            target.sentinels, sentinel_kwargs=_sentinel_options(target)
        )
        pool = BlockingSentinelPool(target.master, manager, **options)
    else:
        pool = redis.asyncio.BlockingConnectionPool.from_url(target.url, **options)
    return redis.asyncio.Redis(connection_pool=pool)
