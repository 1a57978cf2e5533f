"""The demo's failed-login limits: one contract over the in-process and the Redis-shared limiter.

The Redis one is what several workers use (``SESSION_STORE_URL=redis://...``): two limiter
objects on one Redis stand for two workers, and a failure counted by one must stop the other.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from demo.ratelimit import Limiter, LimiterUnavailable, LoginRateLimiter, RedisLoginRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Callable[[], Limiter]]:
    """``make()`` gives a limiter; with Redis, every call is another worker on the same data."""
    if request.param == "memory":
        shared = LoginRateLimiter(per_account=3, per_address=5, window=60, clock=clock)
        yield lambda: shared
        return
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        pytest.fail("REDIS_URL is not set: run the suite with scripts/test.sh (start_redis)")
    prefix = f"rl-test:{secrets.token_hex(4)}:"
    made: list[RedisLoginRateLimiter] = []

    def factory() -> Limiter:
        limiter = RedisLoginRateLimiter(
            url, prefix=prefix, per_account=3, per_address=5, window=60, clock=clock
        )
        made.append(limiter)
        return limiter

    yield factory
    if made:
        keys = list(made[0].redis.scan_iter(match=prefix + "*"))
        if keys:
            made[0].redis.delete(*keys)
        for limiter in made:
            limiter.redis.close()


def test_account_limit_slides_and_success_resets(make: Callable[[], Limiter], clock: Clock) -> None:
    one, two = make(), make()
    for _ in range(3):
        assert one.retry_after("ada", "10.0.0.1") == 0
        one.failed("ada", "10.0.0.1")
        clock.now += 1
    # the other worker sees the three failures: the oldest leaves the window 57 s from now
    assert two.retry_after("ada", "10.0.0.2") == 57
    assert two.retry_after("bob", "10.0.0.2") == 0
    clock.now += 57
    assert two.retry_after("ada", "10.0.0.2") == 0
    two.failed("ada", "10.0.0.2")
    assert one.retry_after("ada", "10.0.0.3") > 0
    one.succeeded("ada")
    assert two.retry_after("ada", "10.0.0.3") == 0


def test_address_limit_spans_accounts(make: Callable[[], Limiter], clock: Clock) -> None:
    one, two = make(), make()
    for i in range(5):
        (one if i % 2 else two).failed(f"user{i}", "10.9.9.9")
    assert one.retry_after("someone-new", "10.9.9.9") == 60
    assert one.retry_after("someone-new", "10.9.9.8") == 0


def test_unreachable_redis_refuses_instead_of_skipping_the_limit(clock: Clock) -> None:
    limiter: Any = RedisLoginRateLimiter("redis://127.0.0.1:1/0", clock=clock)
    with pytest.raises(LimiterUnavailable):
        limiter.retry_after("ada", "10.0.0.1")
    with pytest.raises(LimiterUnavailable):
        limiter.failed("ada", "10.0.0.1")
