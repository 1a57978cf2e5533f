"""The read cache of store mode (issue 15): store reads kept until a change is announced.

Who attacks: **someone holding a copied cookie after logout**, or after "sign out everywhere",
an administrator ending the session, a role change. With a cache, the danger is a worker that
keeps answering from its copy. So each test ends a session on one worker ("A") and asks another
("B", its own store client over the same storage) right away. With the announcements wired (what
``install()`` does over the Redis relay), B refuses at once; the control shows that without them
B would go on answering from its copy: the announcement is what makes the cache safe.
Over memory, SQLite, PostgreSQL and Redis.
"""

from __future__ import annotations

from typing import Any

import pytest
from store_fixtures import Backend, backend_fixture, pg_table_fixture, store_fixture
from testkit import SECRET

from reflex_session import ConfigError, CookieJar, ReflexSession
from reflex_session.backends.store import StoreBackend
from reflex_session.readcache import ReadCache
from reflex_session.stores import SessionStore, StoredSession
from reflex_session.testing import FakeClock

FIXTURES = (backend_fixture, pg_table_fixture, store_fixture)  # used by name

ADA = {"id": "u-ada", "email": "ada@example.com", "name": "Ada", "role": "user"}


def worker(
    store: SessionStore, clock: FakeClock, ttl: float = 10.0, **options: Any
) -> ReflexSession[Any]:
    auth: ReflexSession[Any] = ReflexSession(
        secret_key=SECRET,
        clock=clock,
        store=store,
        session_expiry=3600,
        refresh_threshold=600,
        read_cache_ttl=ttl,
        **options,
    )
    cache = backend_of(auth).cache
    assert cache is not None
    assert not cache.enabled  # nobody announces changes yet: off
    cache.enabled = True  # what install() does for one worker, or when its relay subscribes
    return auth


def backend_of(auth: ReflexSession[Any]) -> StoreBackend[Any]:
    backend = auth.backend
    assert isinstance(backend, StoreBackend)
    return backend


def wire(*workers: ReflexSession[Any]) -> None:
    """What the relay does: every worker's announcements reach every other worker, which
    forgets its copies without announcing them again."""
    for source in workers:
        for target in workers:
            if target is not source:
                backend_of(source).on_change(backend_of(target).heard)


async def two_workers(
    backend: Backend, clock: FakeClock, *, announced: bool
) -> tuple[ReflexSession[Any], ReflexSession[Any], str]:
    """Workers A and B over one storage (wired or not), and a session signed in on A."""
    a, b = worker(backend.make(), clock), worker(backend.make(), clock)
    if announced:
        wire(a, b)
    return a, b, await signed_in(a)


class Reads:
    """Counts the store reads of one store object."""

    def __init__(self, store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = store._get

        async def counted(sid: str) -> StoredSession | None:
            self.count += 1
            return await real(sid)

        monkeypatch.setattr(store, "_get", counted)


async def signed_in(auth: ReflexSession[Any]) -> str:
    jar = auth.jar(None)
    await auth.create_session(jar, ADA)
    cookie = jar.read()
    assert cookie
    return cookie


def jar(auth: ReflexSession[Any], cookie: str) -> CookieJar:
    return auth.jar(f"session={cookie}")


async def test_reads_come_from_the_cache(
    backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.make()
    auth = worker(store, clock)
    cookie = await signed_in(auth)
    reads = Reads(store, monkeypatch)
    for _ in range(20):
        session = await auth.get_session(jar(auth, cookie))
        assert session is not None
        assert await auth.is_live(session)
    assert reads.count == 1


async def test_logout_reaches_the_next_request_on_the_same_worker(
    backend: Backend, clock: FakeClock
) -> None:
    auth = worker(backend.make(), clock)
    cookie = await signed_in(auth)
    session = await auth.get_session(jar(auth, cookie))
    assert session is not None
    await auth.delete_session(jar(auth, cookie))
    assert await auth.get_session(jar(auth, cookie)) is None  # the copied cookie
    assert not await auth.is_live(session)


@pytest.mark.parametrize("announced", [True, False], ids=["announced", "control-unannounced"])
async def test_logout_on_one_worker_reaches_the_other(
    backend: Backend, clock: FakeClock, announced: bool
) -> None:
    a, b, cookie = await two_workers(backend, clock, announced=announced)
    assert await b.get_session(jar(b, cookie)) is not None  # B keeps a copy

    await a.delete_session(jar(a, cookie))

    after = await b.get_session(jar(b, cookie))
    if announced:
        assert after is None
    else:  # the control: what the announcement prevents
        assert after is not None


@pytest.mark.parametrize("announced", [True, False], ids=["announced", "control-unannounced"])
async def test_sign_out_everywhere_and_updates_reach_the_other_worker(
    backend: Backend, clock: FakeClock, announced: bool
) -> None:
    a, b, cookie = await two_workers(backend, clock, announced=announced)
    assert await b.get_session(jar(b, cookie)) is not None
    assert a.devices is not None

    await a.devices.update_user_sessions("u-ada", {"role": "admin"})
    seen = await b.get_session(jar(b, cookie))
    assert seen is not None
    assert (seen.user.extra.get("role") == "admin") is announced

    await a.devices.end_user_sessions("u-ada")
    assert (await b.get_session(jar(b, cookie)) is None) is announced


async def test_a_change_heard_is_forgotten_and_not_announced_again(
    backend: Backend, clock: FakeClock
) -> None:
    """A worker that re-announced what it heard would echo it back and forth without end
    (the relay delivers every announcement to every other worker)."""
    a, b, cookie = await two_workers(backend, clock, announced=False)
    told: list[tuple[str | None, str | None]] = []
    backend_of(b).on_change(lambda sid, user_id: told.append((sid, user_id)))
    session = await b.get_session(jar(b, cookie))
    assert session is not None  # B keeps a copy
    await a.delete_session(jar(a, cookie))

    backend_of(b).heard(session.id, None)

    assert await b.get_session(jar(b, cookie)) is None  # the copy is gone
    assert told == []  # and B told nobody


async def test_a_copy_never_outlives_its_ttl(backend: Backend, clock: FakeClock) -> None:
    """A writer the library does not see (another program ending the session in the store)
    is bounded by the ttl."""
    store = backend.make()
    auth = worker(store, clock, ttl=10)
    cookie = await signed_in(auth)
    session = await auth.get_session(jar(auth, cookie))
    assert session is not None
    await store.destroy(session.id)  # behind the library's back
    assert await auth.get_session(jar(auth, cookie)) is not None
    clock.advance(11)
    assert await auth.get_session(jar(auth, cookie)) is None


async def test_an_expired_copy_is_never_an_answer(backend: Backend, clock: FakeClock) -> None:
    auth = worker(backend.make(), clock, ttl=3600)
    cookie = await signed_in(auth)
    assert await auth.get_session(jar(auth, cookie)) is not None
    clock.advance(3601)  # past the session's expiry, the copy is younger than its ttl
    assert await auth.get_session(jar(auth, cookie)) is None


async def test_a_disabled_cache_reads_the_store(
    backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.make()
    auth = worker(store, clock)
    cookie = await signed_in(auth)
    cache = backend_of(auth).cache
    assert cache is not None
    cache.enabled = False  # what the relay does while it is not connected
    reads = Reads(store, monkeypatch)
    for _ in range(3):
        assert await auth.get_session(jar(auth, cookie)) is not None
    assert reads.count == 3


async def test_a_refresh_by_callback_never_brings_back_an_ended_session(
    backend: Backend, clock: FakeClock
) -> None:
    """A refresh whose ``on_refresh`` changes the session (a rotated token) once wrote the whole
    session it had loaded, creating the record again if it had ended meanwhile: a copied cookie
    replayed on another worker revived a logged-out session for its whole lifetime (red team).
    Unwired workers: even a lost announcement cannot do that now."""

    def rotate(session: Any) -> Any:
        return session.replace(access_token=f"tok-{clock.time()}")

    a = worker(backend.make(), clock, on_refresh=rotate)
    b = worker(backend.make(), clock, on_refresh=rotate)
    cookie = await signed_in(a)
    clock.advance(595)
    assert await b.get_session(jar(b, cookie)) is not None  # B keeps a copy
    await a.delete_session(jar(a, cookie))
    clock.advance(6)  # a refresh is due (600 s) while B's copy is 6 s old
    assert await b.get_session(jar(b, cookie)) is None
    clock.advance(600)
    assert await a.get_session(jar(a, cookie)) is None
    assert await b.get_session(jar(b, cookie)) is None


async def test_a_refresh_by_callback_keeps_a_role_changed_meanwhile(
    backend: Backend, clock: FakeClock
) -> None:
    """An administrator downgrades the user while a refresh is between its read and its write
    (here: inside ``on_refresh``); the refresh must not write the old role back."""
    a = worker(backend.make(), clock)

    async def rotate_while_downgraded(session: Any) -> Any:
        assert a.devices is not None
        await a.devices.update_user_sessions("u-ada", {"role": "guest"})
        return session.replace(access_token=f"tok-{clock.time()}")

    b = worker(backend.make(), clock, on_refresh=rotate_while_downgraded)
    wire(a, b)
    cookie = await signed_in(a)
    clock.advance(601)
    refreshed = await b.get_session(jar(b, cookie))  # the refresh runs on B
    assert refreshed is not None
    seen = await a.get_session(jar(a, cookie))
    assert seen is not None
    assert seen.user.extra["role"] == "guest"
    assert seen.access_token == f"tok-{clock.time()}"  # and the callback's change landed


def record(sid: str, user: str = "u") -> StoredSession:
    return StoredSession(sid, user, {}, 0.0, 0.0, 10**10)


def on(cache: ReadCache) -> ReadCache:
    assert not cache.enabled  # off until someone who announces changes turns it on
    cache.enabled = True
    return cache


def test_a_read_that_raced_a_change_is_not_kept() -> None:
    cache = on(ReadCache(size=10, ttl=10, monotonic=lambda: 0.0))
    began = cache.begin()
    cache.forget("s1")  # the change lands while the read is in flight
    cache.put("s1", record("s1"), began)
    assert cache.get("s1") is None


def test_the_cache_is_bounded_and_forgets_by_user() -> None:
    cache = on(ReadCache(size=3, ttl=10, monotonic=lambda: 0.0))
    for n in range(5):
        cache.put(f"s{n}", record(f"s{n}", "ada" if n % 2 else "bob"), cache.begin())
    assert len(cache) == 3
    assert cache.get("s0") is None
    cache.forget_user("bob")
    assert [cache.get(s) is not None for s in ("s2", "s3", "s4")] == [False, True, False]


def test_a_clock_stepped_back_makes_a_copy_stale() -> None:
    now = [100.0]
    cache = on(ReadCache(size=3, ttl=10, monotonic=lambda: now[0]))
    cache.put("s1", record("s1"), cache.begin())
    assert cache.get("s1") is not None
    now[0] = 50.0  # the wall clock stepped back 50 s
    assert cache.get("s1") is None


def test_the_setting_is_checked(clock: FakeClock) -> None:
    with pytest.raises(ConfigError, match="read_cache_ttl"):
        ReflexSession(secret_key=SECRET, clock=clock, read_cache_ttl=10)  # cookie mode
    from reflex_session.stores import MemoryStore

    for bad in (-1, 4000, True, "10"):
        with pytest.raises(ConfigError, match="read_cache_ttl"):
            ReflexSession(
                secret_key=SECRET, clock=clock, store=MemoryStore(clock), read_cache_ttl=bad
            )  # type: ignore[arg-type]
