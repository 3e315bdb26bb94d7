"""A token bucket: at most ``rate`` requests a second to one provider, bursts up to ``burst``.

Why this module exists: ten thousand jobs in flight must not become ten thousand requests in
the same second after a restart; the engine takes a token before every provider request.
Creates take theirs first (``priority``): a member's new job must not wait behind re-polls.

What it must never do: hand out more than ``rate`` tokens a second over time, or let a waiting
create be overtaken by a poll.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(rate, 1.0)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._priority_waiting = 0

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def set_rate(self, rate: float) -> None:
        """Change the rate from now on (e.g. this process's share of a deployment's rate);
        tokens already earned are kept, up to the new capacity."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._refill()
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self._tokens = min(self._tokens, self.capacity)

    async def acquire(self, *, priority: bool = False) -> None:
        """Wait until a token is available and take it; ``priority`` waiters go first."""
        if priority:
            self._priority_waiting += 1
        try:
            while True:
                self._refill()
                if self._tokens >= 1 and (priority or self._priority_waiting == 0):
                    self._tokens -= 1
                    return
                await asyncio.sleep(max(1 - self._tokens, 0.0) / self.rate or 1 / self.rate)
        finally:
            if priority:
                self._priority_waiting -= 1
