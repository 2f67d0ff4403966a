"""Budgets: a token bucket, pure and clock-injectable; per key in memory or in Redis."""

import logging
import time
from collections.abc import Callable
from pathlib import Path

from redis.exceptions import RedisError

logger = logging.getLogger("chat.ratelimit")

TAKE_SCRIPT = (Path(__file__).resolve().parent / "lua" / "budget_take.lua").read_text()

# After Redis failed a budget call, this long goes by before the next call tries it again.
RETRY_REDIS_SECONDS = 1.0


class TokenBucket:
    """``capacity`` messages at once, refilled continuously at ``capacity / per_seconds``.

    The default (10 per 10 s) lets a person type in bursts and stops a script cold.
    """

    # One per user (or address) with a live budget: slots, not a dict each.
    __slots__ = ("capacity", "clock", "rate", "tokens", "updated")

    def __init__(
        self, capacity: int, per_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.rate = capacity / per_seconds
        self.clock = clock
        self.tokens = float(capacity)
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class KeyedBuckets:
    """One ``TokenBucket`` per key (a client address), with bounded memory.

    Per process, like the in-memory channel layer; behind several processes each enforces its
    own share, which is what a cheap first line of defence needs.
    """

    def __init__(
        self,
        capacity: int,
        per_seconds: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity, self.per_seconds, self.max_keys, self.clock = (
            capacity,
            per_seconds,
            max_keys,
            clock,
        )
        self.buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> bool:
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self._forget_idle()
            bucket = self.buckets[key] = TokenBucket(self.capacity, self.per_seconds, self.clock)
        return bucket.take()

    def _forget_idle(self) -> None:
        """Drop the buckets that have refilled (their keys behave); then the oldest half."""
        now = self.clock()
        for key, bucket in list(self.buckets.items()):
            if bucket.tokens + (now - bucket.updated) * bucket.rate >= bucket.capacity:
                del self.buckets[key]
        if len(self.buckets) >= self.max_keys:
            for key in list(self.buckets)[: self.max_keys // 2]:
                del self.buckets[key]


class MemoryBudget:
    """``KeyedBuckets`` behind the async interface ``RedisBudget`` shares: one process's view."""

    def __init__(self, capacity: int, per_seconds: float) -> None:
        self.buckets = KeyedBuckets(capacity, per_seconds)

    async def allow(self, key: str) -> bool:
        return self.buckets.take(key)


class RedisBudget:
    """The same token bucket per key, shared by every server process (one script call).

    While Redis cannot answer (down, stalled past ``REDIS_TIMEOUT_SECONDS``) this process
    meters alone with a ``MemoryBudget`` of the same size: a flood is still stopped, and a
    client's frame is never answered 1011 for Redis' trouble. After a failure Redis is tried
    again only ``RETRY_REDIS_SECONDS`` later, so a stall costs one wait, not one per frame.
    """

    def __init__(self, client, *, prefix: str, capacity: int, per_seconds: float) -> None:
        self.client, self.prefix = client, prefix
        self.capacity, self.rate = capacity, capacity / per_seconds
        self.script = client.register_script(TAKE_SCRIPT)
        self.fallback = MemoryBudget(capacity, per_seconds)
        self.degraded = False
        self.retry_at = 0.0

    async def allow(self, key: str) -> bool:
        if self.degraded and time.monotonic() < self.retry_at:
            return await self.fallback.allow(key)  # Redis failed a moment ago: no new wait
        try:
            allowed = await self.script(
                keys=[f"{self.prefix}:{key}"], args=[self.capacity, repr(self.rate)]
            )
        except (RedisError, OSError, TimeoutError) as error:
            if not self.degraded:
                logger.warning(
                    "budget %s metered per process: %s", self.prefix, type(error).__name__
                )
                self.degraded = True
            self.retry_at = time.monotonic() + RETRY_REDIS_SECONDS
            return await self.fallback.allow(key)
        self.degraded = False
        return bool(int(allowed))
