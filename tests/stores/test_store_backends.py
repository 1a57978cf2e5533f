"""What is particular to one backend: the memory store's warning, unreachable servers, Redis' TTLs
and clients, SQLite in memory and table names, lazy imports, and the shared helpers.

The behaviour every store shares is in test_store_contract.py.
"""

from __future__ import annotations

import importlib
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis
from store_fixtures import HOUR, required_env

import reflex_session.stores as stores
from reflex_session.errors import SessionError
from reflex_session.stores import (
    MemoryStore,
    RedisStore,
    SQLStore,
    StoredSession,
    StoreUnavailable,
    new_sid,
)
from reflex_session.stores.base import GC_SLACK, gc_ttl
from reflex_session.testing import FakeClock

STORES_DIR = Path(stores.__file__).parent


# --- memory ---------------------------------------------------------------------------------------


def test_memory_store_warns_once_that_it_is_for_development(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="reflex_session"):
        MemoryStore()
    records = [r for r in caplog.records if r.name == "reflex_session"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "lost on restart" in message
    assert "several workers" in message
    assert "SQLStore" in message
    assert "RedisStore" in message


async def test_memory_store_sweeps_expired_sessions() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    for _ in range(5):
        await store.set(new_sid(), {}, user_id="u", expires_at=clock.time() + 10)
    clock.advance(61)
    await store.set(new_sid(), {}, user_id="u", expires_at=clock.time() + 10)
    assert repr(store) == "MemoryStore(sessions=1)"


# --- unreachable servers --------------------------------------------------------------------------


async def test_postgres_down_raises_store_unavailable_without_the_password() -> None:
    store = SQLStore("postgresql+psycopg://someone:hunter2-secret@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await store.get(new_sid())
    finally:
        await store.close()
    error = caught.value
    assert isinstance(error, SessionError)
    message = str(error)
    assert "hunter2-secret" not in message
    assert "hunter2-secret" not in repr(error.__cause__)
    assert message.startswith("the postgresql session store is unavailable: ")
    assert "127.0.0.1" in message
    assert "***" in message


async def test_redis_down_raises_store_unavailable_without_the_password() -> None:
    store = RedisStore("redis://:hunter2-secret@127.0.0.1:1/0")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await store.merge(new_sid(), {"a": 1})
    finally:
        await store.close()
    message = str(caught.value)
    assert "hunter2-secret" not in message
    assert message.startswith("the redis session store is unavailable: 127.0.0.1:1 db 0: ")


async def test_sqlite_unwritable_file_raises_store_unavailable(tmp_path: Path) -> None:
    store = SQLStore(f"sqlite:///{tmp_path / 'missing-dir' / 'sessions.db'}")
    try:
        with pytest.raises(StoreUnavailable, match="sqlite session store is unavailable"):
            await store.get(new_sid())
    finally:
        await store.close()


# --- Redis ----------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_ttls_follow_the_injected_clock() -> None:
    url = required_env("REDIS_URL", "Redis")
    clock = FakeClock(start=2_000_000_000.0)  # far from the real time on purpose
    prefix = f"rs-test:{new_sid()[:8]}:"
    store = RedisStore(url, prefix=prefix, clock=clock)
    try:
        sid = new_sid()
        await store.set(sid, {"a": 1}, user_id="ttl-user", expires_at=clock.time() + 100)
        await store.add_csrf(sid, "digest", clock.time() + 30)
        assert 100 + GC_SLACK - 2 <= await store.redis.ttl(f"{prefix}s:{sid}") <= 100 + GC_SLACK
        assert 100 + GC_SLACK - 2 <= await store.redis.ttl(f"{prefix}u:ttl-user") <= 100 + GC_SLACK
        assert 30 + GC_SLACK - 2 <= await store.redis.ttl(f"{prefix}c:{sid}") <= 30 + GC_SLACK

        clock.advance(50)
        assert await store.touch(sid, clock.time() + HOUR)
        assert HOUR + GC_SLACK - 2 <= await store.redis.ttl(f"{prefix}s:{sid}") <= HOUR + GC_SLACK

        # an expiry already in the past still gets the minimum TTL, never a negative one
        assert await store.touch(sid, clock.time() - 10)
        assert 0 < await store.redis.ttl(f"{prefix}s:{sid}") <= 1 + GC_SLACK
    finally:
        keys = [k async for k in store.redis.scan_iter(match=prefix + "*")]
        if keys:
            await store.redis.delete(*keys)
        await store.close()


@pytest.mark.redis
async def test_redis_store_accepts_a_client_that_returns_bytes() -> None:
    url = required_env("REDIS_URL", "Redis")
    client = Redis.from_url(url)  # decode_responses=False
    prefix = f"rs-test:{new_sid()[:8]}:"
    clock = FakeClock()
    store = RedisStore(client, prefix=prefix, clock=clock)
    try:
        sid = new_sid()
        await store.set(sid, {"é": [1]}, user_id="u", expires_at=clock.time() + 60)
        assert await store.merge(sid, {"b": {"c": 1}}) == {"é": [1], "b": {"c": 1}}
        assert await store.pluck(sid, "é") == [1]
        got = await store.get(sid)
        assert got is not None
        assert got.data == {"b": {"c": 1}}
        assert [s.sid for s in await store.list_for_user("u")] == [sid]
        await store.close()  # not ours: the client stays open
        assert await client.ping()
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.mark.redis
async def test_redis_list_for_user_drops_ids_of_vanished_sessions() -> None:
    url = required_env("REDIS_URL", "Redis")
    prefix = f"rs-test:{new_sid()[:8]}:"
    clock = FakeClock()
    store = RedisStore(url, prefix=prefix, clock=clock)
    try:
        kept = new_sid()
        gone = new_sid()
        for sid in (kept, gone):
            await store.set(sid, {}, user_id="u", expires_at=clock.time() + 60)
        await store.redis.delete(f"{prefix}s:{gone}")  # as if its TTL had run out
        assert [s.sid for s in await store.list_for_user("u")] == [kept]
        assert await store.redis.smembers(f"{prefix}u:u") == {kept}
    finally:
        keys = [k async for k in store.redis.scan_iter(match=prefix + "*")]
        if keys:
            await store.redis.delete(*keys)
        await store.close()


# --- SQL ------------------------------------------------------------------------------------------


async def test_sqlite_in_memory_works() -> None:
    clock = FakeClock()
    async with SQLStore("sqlite://", clock=clock) as store:
        sid = new_sid()
        await store.set(sid, {"a": 1}, user_id="u", expires_at=clock.time() + 60)
        assert await store.merge(sid, {"b": 2}) == {"a": 1, "b": 2}
        got = await store.get(sid)
        assert got is not None
        assert got.data == {"a": 1, "b": 2}


async def test_sql_store_uses_its_table_names(tmp_path: Path) -> None:
    import sqlalchemy as sa

    async with SQLStore(f"sqlite:///{tmp_path / 's.db'}", table_name="my_sessions") as store:
        await store.set(new_sid(), {}, user_id=None, expires_at=2e9)
        names = set(sa.inspect(store.engine).get_table_names())
    assert names == {"my_sessions", "my_sessions_csrf"}


def test_sql_store_refuses_odd_table_names() -> None:
    with pytest.raises(ValueError, match="table_name"):
        SQLStore("sqlite://", table_name="sessions; DROP TABLE users")


async def test_sql_store_leaves_a_given_engine_open(tmp_path: Path) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    clock = FakeClock()
    store = SQLStore(engine, clock=clock)
    sid = new_sid()
    await store.set(sid, {"a": 1}, user_id=None, expires_at=clock.time() + 60)
    await store.close()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM reflex_session")).scalar() == 1
    engine.dispose()


async def test_sql_store_purges_on_its_own_once_an_hour(tmp_path: Path) -> None:
    clock = FakeClock()
    async with SQLStore(f"sqlite:///{tmp_path / 's.db'}", clock=clock) as store:
        await store.set(new_sid(), {}, user_id=None, expires_at=clock.time() + 10)
        clock.advance(HOUR)
        await store.set(new_sid(), {}, user_id=None, expires_at=clock.time() + 10)
        assert await store.purge_expired() == 0  # the set above already removed the old one


# --- shared helpers, imports ----------------------------------------------------------------------


def test_new_sid_is_256_random_bits_base64url() -> None:
    sids = {new_sid() for _ in range(1000)}
    assert len(sids) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", sid) for sid in sids)


def test_gc_ttl() -> None:
    assert gc_ttl(1000.0, 900.0) == 100 + GC_SLACK
    assert gc_ttl(1000.0, 999.5) == 1 + GC_SLACK
    assert gc_ttl(1000.0, 5000.0) == 1 + GC_SLACK
    assert gc_ttl(1000.25, 900.0) == 101 + GC_SLACK


def test_stored_session_repr_shows_no_id_or_data() -> None:
    sid = new_sid()
    session = StoredSession(
        sid=sid,
        user_id="u",
        data={"secret": "value"},
        created_at=1.0,
        touched_at=1.0,
        expires_at=2.0,
    )
    text = repr(session)
    assert sid not in text
    assert sid[:6] in text
    assert "value" not in text
    assert "secret" not in text


def test_missing_redis_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    monkeypatch.delitem(sys.modules, "reflex_session.stores.redis", raising=False)
    monkeypatch.delattr(stores, "RedisStore", raising=False)
    with pytest.raises(ImportError, match=re.escape("pip install reflex-session[redis]")):
        stores.RedisStore  # noqa: B018
    with pytest.raises(ImportError, match=re.escape("pip install reflex-session[redis]")):
        importlib.import_module("reflex_session.stores.redis")
    with pytest.raises(AttributeError):
        stores.NoSuchStore  # type: ignore[attr-defined]  # noqa: B018


def test_stores_import_no_reflex() -> None:
    for path in STORES_DIR.glob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+reflex\b", source, re.MULTILINE), path.name
    code = (
        "import sys\n"
        "import reflex_session.stores, reflex_session.stores.sql, reflex_session.stores.redis\n"
        "bad = sorted(m for m in sys.modules if m == 'reflex' or m.startswith('reflex.'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
