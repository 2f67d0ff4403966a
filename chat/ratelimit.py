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
