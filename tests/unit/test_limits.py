"""Per-client limits: the token bucket's arithmetic, one bucket per client, pruning, and
the in-progress counter. Time is passed in: no clock, no sleeping."""

from __future__ import annotations

import pytest

from execbox.api.limits import ConcurrencyLimiter, RateLimiter, TokenBucket


def test_a_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)  # one token every 0.5 s
    assert bucket.take(100.25) == pytest.approx(0.25)
    assert bucket.take(100.5) == 0.0
    assert bucket.take(100.5) > 0
    assert bucket.take(200.0) == 0.0  # refilled, but never above the burst
    assert [bucket.take(200.0) for _ in range(3)][-1] > 0


def test_a_bucket_refuses_a_bad_configuration():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0, now=0)


def test_clients_have_their_own_buckets():
    limiter = RateLimiter(rate=1.0, burst=2)
    assert limiter.take("a", 0.0) == 0.0 and limiter.take("a", 0.0) == 0.0
    assert limiter.take("a", 0.0) == pytest.approx(1.0)
    assert limiter.take("b", 0.0) == 0.0  # another client is not slowed down by a
    assert limiter.take("a", 1.0) == 0.0


def test_the_default_burst_is_the_rate_at_least_one():
    assert RateLimiter(rate=5.0).burst == 5
    assert RateLimiter(rate=0.2).burst == 1
    assert RateLimiter(rate=2.5, burst=7).burst == 7


def test_idle_buckets_are_pruned_when_there_are_many(monkeypatch):
    monkeypatch.setattr(RateLimiter, "PRUNE_AT", 3)
    limiter = RateLimiter(rate=1.0, burst=1)
    for client in ("a", "b", "c"):
        limiter.take(client, 0.0)
    assert len(limiter) == 3
    limiter.take("d", 0.5)  # nobody's bucket is full again yet: none can go
    assert len(limiter) == 4
    limiter.take("e", 10.0)  # every bucket is full again: all dropped, then e's
    assert len(limiter) == 1


def test_the_concurrency_limiter_counts_per_client():
    limiter = ConcurrencyLimiter(2)
    assert limiter.acquire("a") and limiter.acquire("a")
    assert not limiter.acquire("a")
    assert limiter.acquire("b")
    limiter.release("a")
    assert limiter.active("a") == 1 and limiter.acquire("a")
    for _ in range(3):
        limiter.release("a")
    assert limiter.active("a") == 0  # never negative
    with pytest.raises(ValueError):
        ConcurrencyLimiter(0)
