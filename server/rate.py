"""A token bucket: a sustained rate with a burst allowance, for per-connection limits."""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: float) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._tokens = burst
        self._updated = time.monotonic()

    def take(self, amount: float = 1.0) -> bool:
        """Spends ``amount``; False when the bucket cannot cover it (nothing is spent)."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True
