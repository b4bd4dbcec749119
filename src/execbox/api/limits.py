"""Per-client limits: a token bucket for the request rate, a counter for requests in progress.

A client is an API key (hashed), or the remote address when the server has no keys. Both
are plain data guarded by the event loop (every call comes from it), so no locks. Time is
passed in, so the tests need no clock.
"""

from __future__ import annotations

import math


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; a request takes one."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> float:
        """0 if a token was taken, else the seconds until one will be there."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now


class RateLimiter:
    """A token bucket per client. Buckets that are full again are dropped when there are
    many (a full bucket is the same as none), so memory stays bounded by active clients."""

    PRUNE_AT = 10_000

    def __init__(self, rate: float, burst: int = 0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst > 0 else max(1, math.ceil(rate))
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, client: str, now: float) -> float:
        """0 if the request may go, else the seconds to wait (Retry-After)."""
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.PRUNE_AT:
                self._prune(now)
            bucket = self._buckets[client] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        for client in [c for c, b in self._buckets.items() if b.full(now)]:
            del self._buckets[client]


class ConcurrencyLimiter:
    """At most ``limit`` requests of one client in progress at once."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._active: dict[str, int] = {}

    def acquire(self, client: str) -> bool:
        active = self._active.get(client, 0)
        if active >= self.limit:
            return False
        self._active[client] = active + 1
        return True

    def release(self, client: str) -> None:
        active = self._active.get(client, 0) - 1
        if active > 0:
            self._active[client] = active
        else:
            self._active.pop(client, None)

    def active(self, client: str) -> int:
        return self._active.get(client, 0)
