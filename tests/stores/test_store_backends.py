"""What is particular to one backend: the memory store's warning, unreachable servers, Redis' TTLs
and clients, SQLite in memory and table names, lazy imports, and the shared helpers.

The behaviour every store shares is in test_store_contract.py.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import ResponseError
from store_fixtures import HOUR, required_env, watch_loop_gaps

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
from reflex_session.stores.base import GC_SLACK, encode_json, gc_ttl
from reflex_session.stores.redis import lua_source
from reflex_session.stores.sql_direct import SqliteDirect, Statements
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
        # ...but only while it is still gone: a session re-created meanwhile stays listed
        await store.set(gone, {}, user_id="u", expires_at=clock.time() + 60)
        keys = [f"{prefix}u:u", f"{prefix}s:{gone}"]
        assert await store._unindex_script(keys=keys, args=[0, "u", gone]) == 0
        assert await store.redis.smembers(f"{prefix}u:u") == {kept, gone}
    finally:
        keys = [k async for k in store.redis.scan_iter(match=prefix + "*")]
        if keys:
            await store.redis.delete(*keys)
        await store.close()


async def _drop_keys(store: RedisStore) -> None:
    keys = [k async for k in store.redis.scan_iter(match=_glob(store.prefix) + "*")]
    if keys:
        await store.redis.delete(*keys)


def _glob(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


LUA_DIR = STORES_DIR / "lua"


def test_lua_scripts_are_files_that_build_no_key_names() -> None:
    """Every key a script touches comes from KEYS (directly or through the INDEX of session.lua).

    A static check: no script sees the prefix, no ``redis.call`` concatenates a key name, and the
    key argument of every call is KEYS[...], INDEX[...] or a local copied from them.
    """
    scripts = sorted(LUA_DIR.glob("*.lua"))
    assert {p.stem for p in scripts} >= {"json", "session", "set", "merge", "destroy_for_user"}
    allowed = re.compile(r"(KEYS\[.+\]|INDEX\[.+\]|skey|ckey|ukey)$")
    for path in scripts:
        text = path.read_text("utf-8")
        assert "prefix" not in text.lower().replace("hash-tagged prefix", ""), path.name
        for call in re.finditer(r"redis\.call\('(\w+)',\s*([^,)]+)", text):
            command, key = call.group(1), call.group(2).strip()
            assert allowed.match(key), f"{path.name}: {command} {key}"
        for line in text.splitlines():
            if "redis.call(" in line:
                assert ".." not in line, f"{path.name}: {line.strip()}"
        for local in re.finditer(r"local (skey|ckey|ukey)\b[^=\n]*=\s*([^\n]+)", text):
            assert local.group(2).startswith(("KEYS[", "INDEX[")), f"{path.name}: {local.group(0)}"
    assert "local ckey = KEYS[1]" in lua_source("add_csrf")


@pytest.mark.redis
async def test_redis_cjson_would_change_data_so_the_merge_works_on_text() -> None:
    """Why lua/json.lua exists: Redis' own cjson does not give data back as it was.

    Each case is stored and merged exactly by RedisStore (the contract's FIDELITY test), while a
    cjson round trip on this very server changes it.
    """
    url = required_env("REDIS_URL", "Redis")
    clock = FakeClock()
    store = RedisStore(url, prefix=f"rs-test:{new_sid()[:8]}:", clock=clock)
    cases = {
        "empty array becomes an object": {"a": []},
        "a float becomes an int": {"f": 1.0},
        "a timestamp loses digits": {"t": 1767225600.123456},
        "an integer past 2**53 loses digits": {"n": 2**53 + 1},
        "keys are reordered": {"z": 1, "a": 2, "m": 3, "b": 4},
    }
    try:
        roundtrip = "return cjson.encode(cjson.decode(ARGV[1]))"
        for why, value in cases.items():
            text = encode_json(value)
            changed = json.loads(await store.redis.eval(roundtrip, 0, text))
            assert json.dumps(changed) != json.dumps(value), why
            sid = new_sid()
            await store.set(sid, value, user_id=None, expires_at=clock.time() + 60)
            merged = await store.merge(sid, {"other": {}})
            assert json.dumps(merged) == json.dumps({**value, "other": {}}), why
        with pytest.raises(ResponseError, match="invalid unicode escape"):
            await store.redis.eval(roundtrip, 0, encode_json({"s": "\ud800"}))
        # the precision cjson can be given is capped below the 17 digits a double needs
        with pytest.raises(ResponseError, match="between 1 and 14"):
            await store.redis.eval("cjson.encode_number_precision(17)", 0)
    finally:
        await _drop_keys(store)
        await store.close()


@pytest.mark.redis
async def test_redis_destroy_for_user_reads_the_index_again_when_a_login_slips_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A login between Python's read of the index and the script: the script sees the set
    changed, deletes nothing, and the second run ends the new session too."""
    url = required_env("REDIS_URL", "Redis")
    clock = FakeClock()
    prefix = f"rs-test:{new_sid()[:8]}:"
    store, elsewhere = (RedisStore(url, prefix=prefix, clock=clock) for _ in range(2))
    try:
        old = [new_sid() for _ in range(3)]
        for sid in old:
            await store.set(sid, {}, user_id="u", expires_at=clock.time() + 60)
        slipped = new_sid()
        real_smembers = store.redis.smembers
        reads = 0

        async def smembers_then_login(key: str) -> Any:
            nonlocal reads
            reads += 1
            members = await real_smembers(key)
            if reads == 1:
                await elsewhere.set(slipped, {}, user_id="u", expires_at=clock.time() + 60)
            return members

        monkeypatch.setattr(store.redis, "smembers", smembers_then_login)
        assert len(await store.destroy_for_user("u")) == 4
        assert reads == 2
        assert await store.get(slipped) is None
        assert await store.redis.exists(f"{prefix}u:u") == 0
    finally:
        await _drop_keys(store)
        await store.close()
        await elsewhere.close()


@pytest.mark.redis
async def test_redis_store_that_never_saw_a_session_still_keeps_its_index() -> None:
    """A fresh store has no owner hint: the script names the owner, the store runs it again."""
    url = required_env("REDIS_URL", "Redis")
    clock = FakeClock()
    prefix = f"rs-test:{new_sid()[:8]}:"
    first = RedisStore(url, prefix=prefix, clock=clock)
    try:
        sid = new_sid()
        await first.set(sid, {}, user_id="owner", expires_at=clock.time() + 100)
        for _ in range(2):  # with no hint, then with the hint the first run left
            fresh = RedisStore(url, prefix=prefix, clock=clock)
            try:
                assert await fresh.touch(sid, clock.time() + HOUR) is True
                ttl = await fresh.redis.ttl(f"{prefix}u:owner")
                assert HOUR + GC_SLACK - 2 <= ttl <= HOUR + GC_SLACK
            finally:
                await fresh.close()
        fresh = RedisStore(url, prefix=prefix, clock=clock)
        try:
            clock.advance(2 * HOUR)
            assert await fresh.purge_expired() == 1
            assert await fresh.redis.exists(f"{prefix}u:owner") == 0
            await first.set(sid, {}, user_id="owner", expires_at=clock.time() + 100)
            await fresh.destroy(sid)
            assert await first.list_for_user("owner") == []
            assert await fresh.redis.exists(f"{prefix}u:owner") == 0
        finally:
            await fresh.close()
    finally:
        await _drop_keys(first)
        await first.close()


@pytest.mark.redis
async def test_redis_hash_tagged_prefix_puts_every_key_in_one_slot() -> None:
    """With ``prefix="{...}:"`` every script's keys share a hash slot: what Redis Cluster needs."""
    url = required_env("REDIS_URL", "Redis")
    clock = FakeClock()
    prefix = f"{{rs-test-{new_sid()[:8]}}}:"
    store = RedisStore(url, prefix=prefix, clock=clock)
    declared: list[str] = []
    scripts = [name for name in vars(store) if name.endswith("_script")]
    for name in scripts:
        script = getattr(store, name)

        def recording(*, keys: list[str], args: list[Any], _script: Any = script) -> Any:
            declared.extend(keys)
            return _script(keys=keys, args=args)

        setattr(store, name, recording)
    try:
        sid, other = new_sid(), new_sid()
        later = clock.time() + HOUR
        await store.set(sid, {"a": 1}, user_id="u1", expires_at=later)
        await store.set(sid, {"a": 1}, user_id="u2", expires_at=later)
        await store.merge(other, {"b": {}}, create=True, user_id="u2", expires_at=later)
        await store.touch(sid, later + 1)
        await store.add_csrf(sid, "d", later)
        assert await store.consume_csrf(sid, "d") is True
        assert await store.pluck(other, "b") == {}
        assert await store.replace_data(other, {"c": []}) is True
        assert len(await store.destroy_for_user("u2", keep=[other])) == 1
        await store.destroy(other)
        assert len(declared) > 10
        assert {key_slot(k.encode()) for k in declared} == {key_slot(prefix.encode())}
    finally:
        await _drop_keys(store)
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


async def test_a_sqlite_get_in_the_loop_steps_aside_for_a_lock(tmp_path: Path) -> None:
    """SQLite file: ``get`` reads in the event loop (a few µs instead of a thread hand-off), but
    must never hold the loop on a lock. With another process holding the file exclusively, the
    read goes to the thread pool, which waits; the loop keeps running meanwhile, and the answer
    is the session, read once the lock is gone."""
    import asyncio
    import sqlite3

    path = tmp_path / "sessions.db"
    first = stores.SQLStore(f"sqlite:///{path}")
    await first.set("abc", {"user": {"id": "u"}}, user_id="u", expires_at=4_000_000_000.0)
    await first.close()
    # another process takes the whole file (WAL without shared memory: nobody else may read)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    store = stores.SQLStore(f"sqlite:///{path}")
    store._schema_ready = True
    try:
        gaps, running = watch_loop_gaps()
        await asyncio.sleep(0.05)
        read = asyncio.create_task(store.get("abc"))
        await asyncio.sleep(0.5)
        assert not read.done(), "the read did not wait for the lock"
        # held by a read waiting on the lock, the loop would stall for SQLite's busy timeout
        # (seconds) or until the lock went, which only this (stalled) loop can do
        assert max(gaps) < 1.0, f"the event loop stalled for {max(gaps):.2f} s"
        locker.rollback()
        locker.close()
        found = await asyncio.wait_for(read, 20)
        running.cancel()
        assert found is not None
        assert found.user_id == "u"
        # and the loop's reader answers again once the lock is gone
        assert (await store.get("abc")) is not None
        assert (await store.get("missing")) is None
    finally:
        locker.close()
        await store.close()


async def test_a_sqlite_get_in_the_loop_never_creates_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = stores.SQLStore(f"sqlite:///{path}")
    try:
        await store.set("abc", {"user": {"id": "u"}}, user_id="u", expires_at=4_000_000_000.0)
        await store.close()  # the loop's reader is closed with the store
        path.unlink()
        direct = SqliteDirect(str(path), threading.Lock(), lambda: None)
        statements = Statements("reflex_session")
        assert direct.read(statements.get, {"sid": "abc", "now": 0.0}) is None
        assert direct.write(statements.touch, {"sid": "abc", "expires_at": 1.0, "now": 0.0}) is None
        assert not path.exists()
        direct.close()
    finally:
        await store.close()
