"""A connection's inbound rate limit: messages per second and bytes per second, each a token
bucket with a burst allowance, both read against one clock reading per message."""

from __future__ import annotations

import time
from collections.abc import Callable


class InboundRate:
    def __init__(
        self,
        messages_per_s: float,
        bytes_per_s: float,
        *,
        burst_bytes: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._message_rate = messages_per_s
        self._message_burst = messages_per_s  # a second's worth
        self._byte_rate = bytes_per_s
        self._byte_burst = burst_bytes
        self._messages = self._message_burst
        self._bytes = burst_bytes
        self._clock = clock
        self._updated = clock()

    def take(self, nbytes: int) -> bool:
        """Spends one message and ``nbytes``; False when either bucket cannot cover its part
        (nothing is spent then)."""
        now = self._clock()
        elapsed = now - self._updated
        self._updated = now
        messages = min(self._message_burst, self._messages + elapsed * self._message_rate)
        volume = min(self._byte_burst, self._bytes + elapsed * self._byte_rate)
        if messages < 1.0 or volume < nbytes:
            self._messages, self._bytes = messages, volume
            return False
        self._messages, self._bytes = messages - 1.0, volume - nbytes
        return True
