"""Per-connection message rate limiting: a token bucket, pure and clock-injectable."""

import time
from collections.abc import Callable


class TokenBucket:
    """``capacity`` messages at once, refilled continuously at ``capacity / per_seconds``.

    The default (10 per 10 s) lets a person type in bursts and stops a script cold.
    """

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
