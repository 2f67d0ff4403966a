"""The zero-setup channel layer: channels' in-memory layer, minus a quadratic cost.

``channels.layers.InMemoryChannelLayer`` walks every channel and every group membership looking
for expired messages on every ``receive`` and every ``group_send``: with n open sockets each
delivery costs O(n), and a reconnect storm of n sockets O(n^2) before any of the project's own
work. Expiry only needs to be noticed, not noticed at once: here the walk runs at most once per
``clean_interval`` seconds (messages still expire after ``expiry``, groups after
``group_expiry``; an expired message can wait up to ``clean_interval`` longer to be dropped).

Behaviour is otherwise channels' own (the same capacity, the same ``ChannelFull``); with Redis
configured (``settings.REDIS``) the Redis layer is used instead and this class is not involved.
"""

import time

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    clean_interval = 1.0
    clock = staticmethod(time.monotonic)

    def __init__(self, *args, clean_interval: float | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if clean_interval is not None:
            self.clean_interval = clean_interval
        self._cleaned_at = float("-inf")

    def _clean_expired(self) -> None:
        now = self.clock()
        if now - self._cleaned_at >= self.clean_interval:
            self._cleaned_at = now
            super()._clean_expired()
