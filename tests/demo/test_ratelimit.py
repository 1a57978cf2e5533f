"""The demo's limits on sign-in, password change and registration (``demo/ratelimit.py``).

Two halves. The counters' contract, over the in-process and the Redis-shared store: the Redis
one is what several workers use (``SESSION_STORE_URL=redis://...``), and two counter objects on
one Redis stand for two workers. Then the demo's account functions (``demo/accounts.py``) under
the attacks a red team found: parallel guesses past the login limit, unlimited guesses at the
current password, unlimited sign-ups, and an anonymous lockout of the admin.

Redis: scripts/test.sh's (``REDIS_URL``) or, without it, a private throwaway redis-server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from sqlmodel import Session

from demo import accounts
from demo.db import User, engine, init_db
from demo.ratelimit import (
    Counters,
    LimiterUnavailable,
    Limits,
    LoginLimits,
    MemoryCounters,
    RedisCounters,
    Rule,
    Ticket,
    TooManyAttempts,
    in_words,
    make_limits,
)
from reflex_session.reflex import (
    FormRefused,
    LoginAttempt,
    RegistrationAttempt,
    ServiceUnavailable,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_redis(binary: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    import redis

    port = _free_port()
    with (workdir / "redis.log").open("ab") as log:
        server = subprocess.Popen(
            [
                *(binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        deadline = time.monotonic() + 10
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if client.ping():
                    return server, port
            except redis.RedisError:
                time.sleep(0.05)
    finally:
        client.close()
    server.terminate()
    server.wait(10)
    return None


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """scripts/test.sh's Redis (``REDIS_URL``), else a private throwaway redis-server."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("REDIS_URL is not set and there is no redis-server: run scripts/test.sh")
    workdir = tmp_path_factory.mktemp("redis")
    for _ in range(5):  # another process may take the probed port before redis binds it
        started = _start_redis(binary, workdir)
        if started is not None:
            break
    else:
        pytest.fail("redis-server did not start: " + (workdir / "redis.log").read_text()[-2000:])
    server, port = started
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def _drop(client: Any, prefix: str) -> None:
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)


# -- the counters: one contract, in one process or shared through Redis ------------------------


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Callable[[], Counters]]:
    """``make()`` gives counters; with Redis, every call is another worker on the same data."""
    if request.param == "memory":
        shared = MemoryCounters(clock=clock)
        yield lambda: shared
        return
    url = request.getfixturevalue("redis_url")
    prefix = f"rl-test:{secrets.token_hex(4)}:"
    made: list[RedisCounters] = []

    def factory() -> Counters:
        counters = RedisCounters(url, prefix=prefix, clock=clock)
        made.append(counters)
        return counters

    yield factory
    if made:
        _drop(made[0].redis, prefix)
        for counters in made:
            counters.redis.close()


THREE = Rule("three", 3, 60.0)


def test_a_full_window_refuses_until_its_oldest_attempt_leaves(
    make: Callable[[], Counters], clock: Clock
) -> None:
    one, two = make(), make()
    for _ in range(3):
        one.reserve([("ada", THREE)])
        clock.now += 1
    # the other worker sees the three: the oldest leaves the window 57 s from now
    with pytest.raises(TooManyAttempts) as refused:
        two.reserve([("ada", THREE)])
    assert (refused.value.wait, refused.value.rule) == (57, "three")
    two.reserve([("bob", THREE)])
    clock.now += 57
    two.reserve([("ada", THREE)])
    with pytest.raises(TooManyAttempts):
        one.reserve([("ada", THREE)])


def test_refused_attempts_never_lengthen_the_lock(
    make: Callable[[], Counters], clock: Clock
) -> None:
    one, two = make(), make()
    for _ in range(3):
        one.reserve([("ada", THREE)])
    for _ in range(59):  # an attacker hammering the locked form, every second, on both workers
        clock.now += 1
        for counters in (one, two):
            with pytest.raises(TooManyAttempts):
                counters.reserve([("ada", THREE)])
    clock.now += 1
    two.reserve([("ada", THREE)])  # one window after the last attempt let through, not later


def test_a_reservation_is_all_windows_or_none(make: Callable[[], Counters], clock: Clock) -> None:
    one, two = make(), make()
    wide = Rule("wide", 10, 60.0)
    for _ in range(3):
        one.reserve([("pair", THREE), ("all", wide)])
    with pytest.raises(TooManyAttempts) as refused:
        two.reserve([("all", wide), ("pair", THREE)])
    assert refused.value.rule == "three"
    for _ in range(7):  # the refusal took no place in "all": 7 more fit
        two.reserve([("all", wide)])
    with pytest.raises(TooManyAttempts):
        one.reserve([("all", wide)])


def test_release_gives_back_exactly_its_places(make: Callable[[], Counters]) -> None:
    one, two = make(), make()
    tickets = [one.reserve([("ada", THREE), ("ip", THREE)]) for _ in range(3)]
    two.release(tickets[1])  # one place back in both windows
    one.reserve([("ada", THREE)])
    with pytest.raises(TooManyAttempts):
        two.reserve([("ada", THREE)])
    two.clear("ada")  # empties "ada" only
    one.reserve([("ada", THREE)])
    one.reserve([("ip", THREE)])
    with pytest.raises(TooManyAttempts):
        two.reserve([("ip", THREE)])


def test_a_remembered_key_expires(make: Callable[[], Counters], clock: Clock) -> None:
    one, two = make(), make()
    assert not two.remembers("known")
    one.remember("known", 30.0)
    assert two.remembers("known")
    clock.now += 30
    assert not one.remembers("known")


def test_reservations_are_atomic_across_workers(make: Callable[[], Counters]) -> None:
    """Finding 2 at its root: 40 attempts at once on two workers, a window of 5: 5 get through."""
    workers = [make(), make()]
    start = threading.Barrier(40)
    taken: list[Ticket] = []
    refused: list[TooManyAttempts] = []

    def attempt(i: int) -> None:
        start.wait()
        try:
            taken.append(workers[i % 2].reserve([("ada", Rule("five", 5, 300.0))]))
        except TooManyAttempts as exc:
            refused.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert (len(taken), len(refused)) == (5, 35)
    assert len({ticket.token for ticket in taken}) == 5


def test_the_address_window_spans_accounts(make: Callable[[], Counters]) -> None:
    one, two = LoginLimits(make()), LoginLimits(make())
    for i in range(20):
        (one if i % 2 else two).reserve(f"user{i}", "10.9.9.9")
    with pytest.raises(TooManyAttempts) as refused:
        one.reserve("someone-new", "10.9.9.9")
    assert (refused.value.rule, refused.value.wait) == ("login-address", 300)
    one.reserve("someone-new", "10.9.9.8")


def test_a_sign_in_gives_its_place_back_and_forgives_its_address(
    make: Callable[[], Counters], clock: Clock
) -> None:
    one, two = LoginLimits(make()), LoginLimits(make())
    for _ in range(4):
        one.reserve("ada", "10.0.0.1")  # four typos
    two.succeeded(two.reserve("ada", "10.0.0.1"), "ada", "10.0.0.1")
    for _ in range(5):  # the pair's window starts afresh
        one.reserve("ada", "10.0.0.1")
    with pytest.raises(TooManyAttempts):
        two.reserve("ada", "10.0.0.1")
    # the known address is exempt from the account-wide window for 30 days, then no longer;
    # that window holds the four typos (the sign-in gave its place back): 6 more fit
    for n in range(6):
        two.reserve("ada", f"10.5.0.{n}")
    with pytest.raises(TooManyAttempts) as refused:
        two.reserve("ada", "10.6.0.1")
    assert refused.value.rule == "login-account"
    clock.now += 300
    one.reserve("ada", "10.0.0.1")
    clock.now += 30 * 24 * 3600
    for n in range(10):
        two.reserve("ada", f"10.7.0.{n}")
    with pytest.raises(TooManyAttempts):
        one.reserve("ada", "10.0.0.1")


def test_unreachable_redis_refuses_instead_of_skipping_the_limit(clock: Clock) -> None:
    counters = RedisCounters("redis://127.0.0.1:1/0", clock=clock)
    with pytest.raises(LimiterUnavailable):
        counters.reserve([("ada", THREE)])
    with pytest.raises(LimiterUnavailable):
        counters.release(Ticket("t", ("ada",)))
    with pytest.raises(LimiterUnavailable):
        LoginLimits(counters).reserve("ada", "10.0.0.1")


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "in a few seconds"),
        (10, "in a few seconds"),
        (11, "in less than a minute"),
        (59, "in less than a minute"),
        (60, "in about a minute"),
        (61, "in about 2 minutes"),
        (296, "in about 5 minutes"),
        (600, "in about 10 minutes"),
        (3540, "in about 59 minutes"),
        (3600, "in about an hour"),
        (5000, "in about an hour"),
        (5400, "in about 2 hours"),
    ],
)
def test_waits_are_said_in_words(seconds: int, words: str) -> None:
    assert in_words(seconds) == words
    assert TooManyAttempts(seconds - 0.5, "r").when == words


# -- the demo's account functions under attack (accounts.py with its limits) ---------------------

ADMIN = ("admin@example.com", "admin-password-123")
USER = ("user@example.com", "user-password-123")
NEW_PASSWORD = "a-brand-new-password"
HOME, ELSEWHERE = "198.51.100.7", "203.0.113.9"


class CountingHasher(PasswordHasher):
    """Cheap argon2 parameters (the tests hash a lot); counts the password checks that ran."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(time_cost=1, memory_cost=64, parallelism=1)
        self.delay = delay
        self.verified = 0
        self._count = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._count:
            self.verified += 1
        time.sleep(self.delay)  # the real argon2 takes this long: the window for a race
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(accounts, "hasher", counting)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", counting.hash("a password nobody has"))
    return counting


@pytest.fixture
def users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hasher: CountingHasher
) -> dict[str, str]:
    """A fresh SQLite user database with the demo's two users; their ids by email."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DEMO_SQLITE_PATH", str(tmp_path / "demo.db"))
    init_db()
    ids = {}
    with Session(engine()) as db:
        for (email, password), role in ((ADMIN, "admin"), (USER, "user")):
            user = User(email=email, role=role, password_hash=hasher.hash(password))
            db.add(user)
            db.commit()
            db.refresh(user)
            ids[email] = str(user.id)
    return ids


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (in-process counters) or the Redis URL every worker would share."""
    if request.param == "memory":
        yield None
        return
    url = request.getfixturevalue("redis_url")
    yield url


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch, clock: Clock, backend: str | None) -> Iterator[Limits]:
    """Fresh counters for accounts.py on the test's clock (and Redis, for that backend)."""
    prefix = f"demo-test:{secrets.token_hex(4)}:"
    fresh = make_limits(url=backend or "", prefix=prefix, clock=clock)
    monkeypatch.setattr(accounts, "limits", fresh)
    yield fresh
    if isinstance(fresh.counters, RedisCounters):
        _drop(fresh.counters.redis, prefix)
        fresh.counters.redis.close()


def login(email: str, password: str, ip: str) -> dict[str, Any] | None:
    return accounts.authenticate(LoginAttempt(email=email, password=password, client_ip=ip))


def refusal(call: Callable[[], object]) -> str:
    with pytest.raises(FormRefused) as refused:
        call()
    return str(refused.value)


@pytest.mark.usefixtures("limits")
def test_concurrent_logins_reach_the_password_check_at_most_limit_times(
    users: dict[str, str], hasher: CountingHasher
) -> None:
    """Finding 2: the check came before the record, so parallel guesses all passed the check."""
    hasher.delay = 0.2
    outcomes: list[str] = []
    start = threading.Barrier(20)

    def guess(i: int) -> None:
        start.wait()
        try:
            outcomes.append(repr(login(ADMIN[0], f"guess-{i}", ELSEWHERE)))
        except FormRefused as refused:
            outcomes.append(str(refused))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 20
    assert hasher.verified <= 5, f"{hasher.verified} guesses reached the password check"
    assert outcomes.count("None") == hasher.verified


@pytest.mark.usefixtures("limits")
def test_password_change_guesses_are_limited_per_account(
    users: dict[str, str], hasher: CountingHasher, clock: Clock
) -> None:
    """Finding 1: a stolen session could try the current password 30 times, then succeed."""
    admin = users[ADMIN[0]]
    said = [
        refusal(partial(accounts.change_password, admin, f"guess-{i}", NEW_PASSWORD))
        for i in range(30)
    ]
    assert said[:5] == ["The current password is not right."] * 5
    assert set(said[5:]) == {"Too many attempts. Try again in about 5 minutes."}
    assert hasher.verified == 5
    # the right answer while locked is refused too (else the lock only hides which guess won)
    assert refusal(lambda: accounts.change_password(admin, ADMIN[1], NEW_PASSWORD)).startswith(
        "Too many attempts."
    )
    # another account's form is not affected, and the lock ends with its window
    accounts.change_password(users[USER[0]], USER[1], NEW_PASSWORD)
    clock.now += 300
    accounts.change_password(admin, ADMIN[1], NEW_PASSWORD)
    assert login(ADMIN[0], NEW_PASSWORD, HOME) is not None


@pytest.mark.usefixtures("limits")
def test_login_refusal_says_when_in_words(users: dict[str, str], clock: Clock) -> None:
    for i in range(5):
        assert login(USER[0], f"guess-{i}", ELSEWHERE) is None
    clock.now += 4
    message = refusal(lambda: login(USER[0], USER[1], ELSEWHERE))
    assert message == "Too many attempts. Try again in about 5 minutes."


@pytest.mark.usefixtures("limits")
def test_an_attacker_elsewhere_cannot_lock_the_admin_out(users: dict[str, str]) -> None:
    """Finding 4: five wrong guesses from anywhere locked the account for everyone."""
    for i in range(50):
        with contextlib.suppress(FormRefused):
            login(ADMIN[0], f"guess-{i}", ELSEWHERE)
    assert login(ADMIN[0], ADMIN[1], HOME) is not None


def sign_up(n: int, ip: str) -> dict[str, Any]:
    return accounts.register(
        RegistrationAttempt(email=f"new{n}@example.com", password=NEW_PASSWORD, client_ip=ip)
    )


@pytest.mark.usefixtures("limits", "users")
def test_registration_is_limited_per_address(clock: Clock) -> None:
    """Finding 3: nothing limited sign-ups (each costs an argon2 hash and a row)."""
    for n in range(5):
        sign_up(n, HOME)
    message = refusal(lambda: sign_up(5, HOME))
    assert message == "Too many new accounts from your network. Try again in about an hour."
    sign_up(6, ELSEWHERE)
    clock.now += 3600
    sign_up(7, HOME)


@pytest.mark.usefixtures("limits", "users")
def test_registration_is_limited_overall(clock: Clock) -> None:
    """Finding 3: 50 sign-ups in 10 minutes from all addresses together, then a short pause."""
    for n in range(50):
        sign_up(n, f"10.2.0.{n}")
    message = refusal(lambda: sign_up(50, "10.3.0.1"))
    assert message == (
        "Too many new accounts are being created right now. Try again in about 10 minutes."
    )
    clock.now += 600
    sign_up(51, "10.3.0.1")


@pytest.mark.usefixtures("limits")
def test_guesses_from_many_addresses_are_capped_but_the_admins_own_address_gets_in(
    users: dict[str, str], hasher: CountingHasher, clock: Clock
) -> None:
    """Finding 4, distributed: a looser cap per account, which never stops a known address."""
    assert login(ADMIN[0], ADMIN[1], HOME) is not None  # the admin signed in from here before
    hasher.verified = 0
    for n in range(30):  # one guess from each of 30 addresses: no (account, address) pair is hit
        with contextlib.suppress(FormRefused):
            login(ADMIN[0], f"guess-{n}", f"10.1.0.{n}")
    assert hasher.verified == 10, "the account-wide cap: 10 guesses in 2 minutes"
    assert refusal(lambda: login(ADMIN[0], ADMIN[1], "10.1.1.1")).startswith("Too many attempts.")
    assert login(ADMIN[0], ADMIN[1], HOME) is not None
    clock.now += 120
    assert login(ADMIN[0], ADMIN[1], "10.1.1.1") is not None


@pytest.mark.usefixtures("limits", "users")
def test_an_attempt_the_database_never_saw_is_given_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The user database down is no guess: ten tries say "try again", never "too many"."""
    monkeypatch.setenv("DEMO_SQLITE_PATH", str(tmp_path / "missing" / "demo.db"))
    for i in range(10):
        with pytest.raises(ServiceUnavailable):
            login(USER[0], USER[1], HOME)
        with pytest.raises(ServiceUnavailable):
            sign_up(i, HOME)
    monkeypatch.setenv("DEMO_SQLITE_PATH", str(tmp_path / "demo.db"))
    assert login(USER[0], USER[1], HOME) is not None
    sign_up(10, HOME)


@pytest.mark.usefixtures("users")
def test_unreachable_shared_counters_refuse_every_form(
    monkeypatch: pytest.MonkeyPatch, clock: Clock, hasher: CountingHasher
) -> None:
    monkeypatch.setattr(accounts, "limits", Limits(RedisCounters("redis://127.0.0.1:1/0")))
    with pytest.raises(ServiceUnavailable):
        login(USER[0], USER[1], HOME)
    with pytest.raises(ServiceUnavailable):
        sign_up(0, HOME)
    with pytest.raises(ServiceUnavailable):
        accounts.change_password("1", ADMIN[1], NEW_PASSWORD)
    assert hasher.verified == 0
