"""How every Redis client of the project connects: the channel layer, the cache, presence and
the budgets take these options, so all of them behave alike on a bad day.

- one retry on a ``ConnectionError`` only: after Redis restarts, a pooled connection is dead, and
  redis-py's default (no retry) fails the first command on it; the first broadcast a process sent
  after an outage was lost that way. One retry on a fresh connection sends it.
- ``socket_timeout``: a stalled Redis (SIGSTOP, a full network buffer) otherwise holds a command
  forever; with it, the command fails within the bound and the caller answers (1013 for a
  handshake, a kept socket for a frame). A timeout is not retried: that would double the wait.
- ``socket_connect_timeout``: the same for a Redis that does not accept connections.
"""

from redis import asyncio as redis_asyncio
from redis import retry as redis_retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError


def connection_options(timeout: float, *, asynchronous: bool) -> dict:
    """Keyword arguments for a redis-py connection pool: ``asynchronous`` for redis.asyncio
    (the channel layer, presence, budgets), else the synchronous client (Django's cache)."""
    retry_class = redis_asyncio.retry.Retry if asynchronous else redis_retry.Retry
    return {
        # Only a dead connection is retried (redis-py's Retry also retries timeouts by default).
        "retry": retry_class(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
