"""The login limiter: a burst is allowed, then refused with a wait, and it refills over time."""

from __future__ import annotations

from api.ratelimit import RateLimiter


def test_burst_then_refusal_then_refill() -> None:
    limiter = RateLimiter(per_minute=6)
    assert [limiter.acquire("email:a", now=0.0) for _ in range(6)] == [0.0] * 6
    wait = limiter.acquire("email:a", now=0.0)
    assert wait == 10.0  # one token per 10 s at 6/minute
    assert RateLimiter.retry_after_header(wait) == {"Retry-After": "10"}
    assert limiter.acquire("email:b", now=0.0) == 0.0, "other keys are independent"
    assert limiter.acquire("email:a", now=10.0) == 0.0
    assert limiter.acquire("email:a", now=10.0) > 0


def test_forgets_the_oldest_keys_beyond_its_bound() -> None:
    limiter = RateLimiter(per_minute=1, max_keys=2)
    limiter.acquire("a", now=0.0)
    limiter.acquire("b", now=0.0)
    limiter.acquire("c", now=0.0)
    assert limiter.acquire("a", now=0.0) == 0.0, "a was evicted, so it starts with a full bucket"
