"""The demo's limits on guessing: sign-in, the password-change form, and new accounts.

**How an attempt is counted.** Every limit is a sliding window: at most ``limit`` attempts in the
last ``window`` seconds. An attempt *reserves* its place in each of its windows before the
password is checked, in one atomic step (under a lock in one process, one Lua script in Redis),
so that N attempts arriving together can never all pass a check made before any of them was
counted: at most ``limit`` of them reach argon2. A failed attempt simply keeps its place; a
successful one gives it back (a success is not a guess to count) and clears the
(account, address) window. An attempt refused by a limit is not counted, so hammering a locked
form never lengthens the lock: **every lock ends at most one window after the last attempt that
was let through**, and none is permanent.

**Who can lock whom out: the trade-off.** Limiting failures per account alone (as this demo
did) lets anyone who knows the admin's email lock the admin out for good, five wrong passwords
every five minutes. Limiting per address alone lets a crowd of addresses guess one account
without end. So sign-in has three windows:

* (account, address): 5 attempts per 5 minutes. An attacker at one address locks out only
  that address for that account; the real user elsewhere never sees it.
* address, over every account: 20 per 5 minutes (one address spraying many accounts).
* account, over every address: a looser 10 per 2 minutes, the bound on guessing from many
  addresses, and the only window one person can fill for another. It does **not** apply to an
  address that has signed in to that account successfully in the last 30 days (a "known
  address"): a botnet can keep new devices waiting, up to 2 minutes after it stops, but the
  admin at their usual address still gets in. The price: someone at a known address (the same
  office NAT) is limited only by the first two windows, and a botnet gets up to 10 guesses per
  2 minutes at an account (7,200 a day), which a 10-character minimum password must withstand.

We chose sliding windows over exponential backoff: backoff, keyed on what an attacker controls,
grows into exactly the long lockout this design avoids, and a window says honestly when the form
opens again. The password-change form (reachable only with a session, stolen or not) has one
window per account, 5 wrong current passwords per 5 minutes; the right password while locked is
refused too. Registration has 5 per address per hour and 50 per 10 minutes over everyone (each
costs an argon2 hash and a row; the short overall window keeps a flood's lock short).

**Where the counters live.** One worker keeps them in memory (:class:`MemoryCounters`). Several
workers must share them, or an attacker gets every limit once per worker:
:class:`RedisCounters` keeps each window as a Redis sorted set (one Redis, not a cluster: a
reservation touches several keys in one script), used when the demo's sessions are in Redis
(``SESSION_STORE_URL``). If Redis cannot be reached, attempts are refused
(:class:`LimiterUnavailable`), never let through unlimited. :func:`make_limits` picks one.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: how long a successful sign-in makes its address "known" for that account
KNOWN_ADDRESS_FOR = 30 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Rule:
    """At most ``limit`` attempts in any ``window`` seconds; ``name`` prefixes its keys."""

    name: str
    limit: int
    window: float


@dataclass(frozen=True, slots=True)
class Ticket:
    """One reserved attempt: its place (``token``) in each of the windows ``keys``."""

    token: str
    keys: tuple[str, ...]


class TooManyAttempts(Exception):
    """A window is full: ``wait`` seconds until it has room; ``rule`` names the window."""

    def __init__(self, wait: float, rule: str) -> None:
        super().__init__(rule, wait)
        self.wait = max(1, math.ceil(wait))
        self.rule = rule

    @property
    def when(self) -> str:
        """When to try again, in words: "in about 5 minutes"."""
        return in_words(self.wait)


class LimiterUnavailable(Exception):
    """The shared counters cannot be reached: refuse the attempt (never skip the limit)."""


def in_words(seconds: float) -> str:
    """A wait as people say it (rounded up, never sooner than the truth): "in about 5 minutes".

    "Try again in 296 seconds" makes the reader do arithmetic; nobody needs the second. Under
    ten seconds it is "in a few seconds", then "in less than a minute", "in about a minute",
    "in about N minutes", "in about an hour", "in about N hours"."""
    if seconds <= 10:
        return "in a few seconds"
    if seconds < 60:
        return "in less than a minute"
    minutes = math.ceil(seconds / 60)
    if minutes == 1:
        return "in about a minute"
    if minutes < 60:
        return f"in about {minutes} minutes"
    if minutes < 90:
        return "in about an hour"
    return f"in about {math.ceil(minutes / 60)} hours"


class Counters(Protocol):
    def reserve(self, slots: Sequence[tuple[str, Rule]]) -> Ticket:
        """Take a place in every window, or none (raises :class:`TooManyAttempts`)."""
        ...

    def release(self, ticket: Ticket) -> None:
        """Give the ticket's places back (the attempt was no guess, or it never happened)."""
        ...

    def clear(self, key: str) -> None: ...
    def remember(self, key: str, seconds: float) -> None: ...
    def remembers(self, key: str) -> bool: ...


class MemoryCounters:
    """The windows of one process (one worker), under one lock."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[float, deque[tuple[float, str]]]] = {}
        self._marks: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + 60

    def _recent(self, key: str, window: float, now: float) -> deque[tuple[float, str]]:
        _, entries = self._windows.setdefault(key, (window, deque()))
        while entries and now - entries[0][0] >= window:
            entries.popleft()
        return entries

    def _sweep(self, now: float) -> None:
        """Forget empty windows and old marks (an attacker's one-off keys must not pile up)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60
        for key, (window, _) in list(self._windows.items()):
            if not self._recent(key, window, now):
                del self._windows[key]
        for key, until in list(self._marks.items()):
            if until <= now:
                del self._marks[key]

    def reserve(self, slots: Sequence[tuple[str, Rule]]) -> Ticket:
        now = self.clock()
        with self._lock:
            self._sweep(now)
            full = []
            for key, rule in slots:
                entries = self._recent(key, rule.window, now)
                if len(entries) >= rule.limit:
                    # room again when the oldest of the last `limit` places leaves the window
                    edge = entries[len(entries) - rule.limit][0]
                    full.append((edge + rule.window - now, rule.name))
            if full:
                raise TooManyAttempts(*max(full))
            token = secrets.token_hex(8)
            for key, _ in slots:
                self._windows[key][1].append((now, token))
            return Ticket(token, tuple(key for key, _ in slots))

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            for key in ticket.keys:
                window = self._windows.get(key)
                if window is not None:
                    kept = [entry for entry in window[1] if entry[1] != ticket.token]
                    self._windows[key] = (window[0], deque(kept))

    def clear(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)

    def remember(self, key: str, seconds: float) -> None:
        with self._lock:
            self._marks[key] = self.clock() + seconds

    def remembers(self, key: str) -> bool:
        with self._lock:
            return self._marks.get(key, float("-inf")) > self.clock()


# KEYS: the windows. ARGV: now, the ticket's token, then each window's limit and length.
# Trims every window, and either adds the token to all of them (returns {0, "0"}) or, if one
# is full, to none (returns {index of the window with the longest wait, the wait}).
_RESERVE = """
local now = tonumber(ARGV[1])
local worst, worst_index = -1, 0
for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[1 + 2 * i])
    local window = tonumber(ARGV[2 + 2 * i])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local count = redis.call('ZCARD', key)
    if count >= limit then
        local edge = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
        local wait = tonumber(edge[2]) + window - now
        if wait > worst then
            worst, worst_index = wait, i
        end
    end
end
if worst_index > 0 then
    return {worst_index, tostring(worst)}
end
for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, ARGV[2])
    redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 + 2 * i]) * 1000))
end
return {0, '0'}
"""


class RedisCounters:
    """The same windows, shared by every worker through one Redis.

    Each window is a sorted set of tokens scored by their time (wall-clock seconds: the workers'
    monotonic clocks are not comparable), trimmed on every reservation and expiring with it.
    """

    def __init__(
        self, url: str, *, prefix: str = "demo-limits:", clock: Callable[[], float] = time.time
    ) -> None:
        import redis

        self.redis: Any = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self.clock = clock
        self._reserve = self.redis.register_script(_RESERVE)

    def _call(self, work: Callable[[], Any]) -> Any:
        import redis

        try:
            return work()
        except redis.RedisError as exc:
            raise LimiterUnavailable(type(exc).__name__) from None

    def reserve(self, slots: Sequence[tuple[str, Rule]]) -> Ticket:
        now, token = self.clock(), secrets.token_hex(8)
        keys = [self.prefix + key for key, _ in slots]
        argv: list[Any] = [repr(now), token]
        for _, rule in slots:
            argv += [rule.limit, repr(float(rule.window))]
        index, wait = self._call(lambda: self._reserve(keys=keys, args=argv))
        if int(index):
            raise TooManyAttempts(float(wait), slots[int(index) - 1][1].name)
        return Ticket(token, tuple(keys))

    def release(self, ticket: Ticket) -> None:
        def work() -> None:
            pipe = self.redis.pipeline()
            for key in ticket.keys:
                pipe.zrem(key, ticket.token)
            pipe.execute()

        self._call(work)

    def clear(self, key: str) -> None:
        self._call(lambda: self.redis.delete(self.prefix + key))

    def remember(self, key: str, seconds: float) -> None:
        # the value is the end on our clock; the TTL only lets Redis forget it
        until, ttl = repr(self.clock() + seconds), math.ceil(seconds * 1000)
        self._call(lambda: self.redis.set(self.prefix + key, until, px=ttl))

    def remembers(self, key: str) -> bool:
        until = self._call(lambda: self.redis.get(self.prefix + key))
        return until is not None and float(until) > self.clock()


def _pair(account: str, address: str) -> str:
    # the address's length first: no account name can make two pairs one key
    return f"{len(address)}:{address}:{account}"


class LoginLimits:
    """Sign-in: per (account, address), per address, and per account from unknown addresses."""

    def __init__(
        self,
        counters: Counters,
        *,
        per_pair: Rule = Rule("login-pair", 5, 300.0),
        per_address: Rule = Rule("login-address", 20, 300.0),
        per_account: Rule = Rule("login-account", 10, 120.0),
        known_for: float = KNOWN_ADDRESS_FOR,
    ) -> None:
        self.counters = counters
        self.rules = (per_pair, per_address, per_account)
        self.known_for = known_for

    def reserve(self, account: str, address: str) -> Ticket:
        """Count this attempt before its password is checked (raises :class:`TooManyAttempts`)."""
        per_pair, per_address, per_account = self.rules
        slots = [
            (f"{per_pair.name}:{_pair(account, address)}", per_pair),
            (f"{per_address.name}:{address}", per_address),
        ]
        if not self.counters.remembers(f"login-known:{_pair(account, address)}"):
            slots.append((f"{per_account.name}:{account}", per_account))
        return self.counters.reserve(slots)

    def succeeded(self, ticket: Ticket, account: str, address: str) -> None:
        """Not a guess: give its places back, forgive this address's typos, remember it."""
        self.counters.release(ticket)
        self.counters.clear(f"{self.rules[0].name}:{_pair(account, address)}")
        self.counters.remember(f"login-known:{_pair(account, address)}", self.known_for)


class PasswordChangeLimits:
    """The current-password check of the change form: per account (what a stolen session is)."""

    def __init__(
        self, counters: Counters, *, per_account: Rule = Rule("password-change", 5, 300.0)
    ) -> None:
        self.counters = counters
        self.rule = per_account

    def reserve(self, account: str) -> Ticket:
        return self.counters.reserve([(f"{self.rule.name}:{account}", self.rule)])

    def succeeded(self, ticket: Ticket, account: str) -> None:
        self.counters.release(ticket)
        self.counters.clear(f"{self.rule.name}:{account}")


class RegistrationLimits:
    """New accounts, successful or not: per address and over every address together."""

    PER_ADDRESS = "signup-address"
    OVERALL = "signup-all"

    def __init__(
        self,
        counters: Counters,
        *,
        per_address: Rule = Rule(PER_ADDRESS, 5, 3600.0),
        overall: Rule = Rule(OVERALL, 50, 600.0),
    ) -> None:
        self.counters = counters
        self.per_address = per_address
        self.overall = overall

    def reserve(self, address: str) -> Ticket:
        return self.counters.reserve(
            [
                (f"{self.per_address.name}:{address}", self.per_address),
                (self.overall.name, self.overall),
            ]
        )


class Limits:
    """The demo's three forms' limits over one set of counters."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.login = LoginLimits(counters)
        self.password = PasswordChangeLimits(counters)
        self.registration = RegistrationLimits(counters)


def make_limits(
    *, url: str | None = None, prefix: str | None = None, clock: Callable[[], float] | None = None
) -> Limits:
    """Shared counters when the sessions are in Redis (several workers), else in-process."""
    if url is None:
        url = os.environ.get("SESSION_STORE_URL", "").strip()
    if url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        if prefix is None:
            prefix = os.environ.get("SESSION_STORE_PREFIX", "demo-session:") + "limits:"
        return Limits(RedisCounters(url, prefix=prefix, clock=clock or time.time))
    return Limits(MemoryCounters(clock=clock or time.monotonic))
