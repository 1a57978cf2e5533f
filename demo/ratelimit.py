"""Failed-login limits per account and per client address (sliding window, injectable clock).

One worker keeps its counters in memory (:class:`LoginRateLimiter`). Several workers must share
them, or an attacker gets the limit once per worker (each new connection may land on another):
:class:`RedisLoginRateLimiter` keeps each window as a Redis sorted set, used when the demo's
sessions are in Redis (``SESSION_STORE_URL``). :func:`make_limiter` picks one.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any, Protocol


class Limiter(Protocol):
    def retry_after(self, account: str, address: str) -> int: ...
    def failed(self, account: str, address: str) -> None: ...
    def succeeded(self, account: str) -> None: ...


class LoginRateLimiter:
    def __init__(
        self,
        *,
        per_account: int = 5,
        per_address: int = 20,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        entries = self._failures[key]
        while entries and now - entries[0] >= self.window:
            entries.popleft()
        return entries

    def retry_after(self, account: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = self.clock()
        with self._lock:
            waits = []
            for key, limit in (
                (f"a:{account}", self.per_account),
                (f"i:{address}", self.per_address),
            ):
                entries = self._recent(key, now)
                if len(entries) >= limit:
                    waits.append(entries[0] + self.window - now)
            return math.ceil(max(waits)) if waits else 0

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            self._failures[f"a:{account}"].append(now)
            self._failures[f"i:{address}"].append(now)

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(f"a:{account}", None)


class LimiterUnavailable(Exception):
    """The shared counters cannot be read: refuse the attempt (never skip the limit)."""


class RedisLoginRateLimiter:
    """The same sliding windows, shared by every worker through Redis.

    Each key is a sorted set of failure times (wall-clock seconds: the workers' monotonic clocks
    are not comparable), trimmed to the window on every read and expiring with it.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "demo-login:",
        per_account: int = 5,
        per_address: int = 20,
        window: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import redis

        self.redis: Any = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self.per_account = per_account
        self.per_address = per_address
        self.window = window
        self.clock = clock

    def _keys(self, account: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
        return (
            (f"{self.prefix}a:{account}", self.per_account),
            (f"{self.prefix}i:{address}", self.per_address),
        )

    def _call(self, work: Callable[[], Any]) -> Any:
        import redis

        try:
            return work()
        except redis.RedisError as exc:
            raise LimiterUnavailable(type(exc).__name__) from None

    def retry_after(self, account: str, address: str) -> int:
        now = self.clock()

        def read() -> list[Any]:
            pipe = self.redis.pipeline()
            for key, _ in self._keys(account, address):
                pipe.zremrangebyscore(key, "-inf", now - self.window)
                pipe.zcard(key)
                pipe.zrange(key, 0, 0, withscores=True)
            return list(pipe.execute())

        results = self._call(read)
        waits = []
        for index, (_, limit) in enumerate(self._keys(account, address)):
            count, oldest = results[index * 3 + 1], results[index * 3 + 2]
            if count >= limit and oldest:
                waits.append(float(oldest[0][1]) + self.window - now)
        return math.ceil(max(waits)) if waits else 0

    def failed(self, account: str, address: str) -> None:
        now = self.clock()

        def write() -> None:
            pipe = self.redis.pipeline()
            for key, _ in self._keys(account, address):
                pipe.zadd(key, {f"{now!r}:{secrets.token_hex(4)}": now})
                pipe.expire(key, math.ceil(self.window))
            pipe.execute()

        self._call(write)

    def succeeded(self, account: str) -> None:
        self._call(lambda: self.redis.delete(f"{self.prefix}a:{account}"))


def make_limiter() -> Limiter:
    """Shared counters when the sessions are in Redis (several workers), else in-process."""
    url = os.environ.get("SESSION_STORE_URL", "").strip()
    if url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        return RedisLoginRateLimiter(
            url, prefix=os.environ.get("SESSION_STORE_PREFIX", "demo-session:") + "login:"
        )
    return LoginRateLimiter()
