"""The SQL store's hot path (``reflex_session/stores/sql_direct.py``) where it differs from the
SQLAlchemy path the contract suite also runs (``postgres-sqlalchemy``): what happens when the
database goes away, comes back, or holds a lock, and that the event loop never waits.

Who attacks here is not a person but the deployment: a PostgreSQL restart (every pooled
connection dies at once), a request cancelled mid-statement (a client that went away), another
process writing the same SQLite file. Each must give either the right answer or a clean
``StoreUnavailable``: never a wrong session, never a password, never a stalled loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from e2e.faultproxy import FaultProxy
from store_fixtures import HOUR, pg_table_fixture, required_env, watch_loop_gaps

from reflex_session.stores import SQLStore, StoreUnavailable, new_sid
from reflex_session.stores.sql_direct import CHECKPOINT_EVERY, SqliteDirect, Statements

FAR = 4_000_000_000.0
FIXTURES = (pg_table_fixture,)  # used by name


# --- PostgreSQL, through a proxy that can cut it off ---------------------------------------------


@pytest.fixture(name="pg_proxy")
def pg_proxy_fixture() -> Iterator[tuple[FaultProxy, str]]:
    """A FaultProxy in front of the test PostgreSQL, and the database URL through it."""
    url = sa.make_url(required_env("DATABASE_URL", "PostgreSQL"))
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432)
    port = proxy.start()
    try:
        yield proxy, url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        proxy.stop()


@pytest.fixture(name="pg_store")
async def pg_store_fixture(
    pg_proxy: tuple[FaultProxy, str], pg_table: str
) -> AsyncIterator[SQLStore]:
    store = SQLStore(pg_proxy[1], table_name=pg_table)
    try:
        yield store
    finally:
        pg_proxy[0].restore()
        await store.close()


@pytest.mark.postgres
async def test_postgres_hot_path_survives_a_server_restart(
    pg_proxy: tuple[FaultProxy, str], pg_store: SQLStore
) -> None:
    """Every pooled connection dies at once (a restart, a failover): the next read and write
    run on new connections and answer, instead of one StoreUnavailable per dead connection
    (which, under a session layer, logs nobody out but fails their requests)."""
    proxy = pg_proxy[0]
    sid = new_sid()
    await pg_store.set(sid, {"n": 1}, user_id="u", expires_at=FAR)
    # several idle connections in the pool, all about to die
    await asyncio.gather(*(pg_store.get(sid) for _ in range(4)))
    proxy.cut()
    proxy.restore()
    found = await pg_store.get(sid)
    assert found is not None
    assert found.data == {"n": 1}
    assert await pg_store.touch(sid, FAR + 1)
    await pg_store.set(sid, {"n": 2}, user_id="u", expires_at=FAR)
    again = await pg_store.get(sid)
    assert again is not None
    assert again.data == {"n": 2}


@pytest.mark.postgres
async def test_postgres_hot_path_down_is_store_unavailable_without_the_password(
    pg_proxy: tuple[FaultProxy, str], pg_store: SQLStore
) -> None:
    proxy, url = pg_proxy
    password = sa.make_url(url).password
    assert password
    sid = new_sid()
    await pg_store.set(sid, {"n": 1}, user_id="u", expires_at=FAR)
    proxy.cut()
    for operation in (
        pg_store.get(sid),
        pg_store.set(sid, {"n": 2}, user_id="u", expires_at=FAR),
        pg_store.touch(sid, FAR),
        pg_store.replace_data(sid, {"n": 3}),
    ):
        with pytest.raises(StoreUnavailable) as caught:
            await operation
        assert caught.value.backend == "postgresql"
        assert password not in str(caught.value)
        assert password not in repr(caught.value.__cause__)
    proxy.restore()
    found = await pg_store.get(sid)  # and back, with nothing written while it was down
    assert found is not None
    assert found.data == {"n": 1}


@pytest.mark.postgres
async def test_a_read_cancelled_mid_statement_never_answers_another(pg_store: SQLStore) -> None:
    """A request cancelled while its read is on the wire (the client went away) must not
    leave that connection in the pool with the answer still to come: the next read on it would
    get the previous one's row, another user's session."""
    sids = [new_sid() for _ in range(2)]
    for number, sid in enumerate(sids):
        await pg_store.set(sid, {"n": number}, user_id=f"u{number}", expires_at=FAR)
    await pg_store.get(sids[0])
    cancelled = 0
    for delay in (0.0, 0.00005, 0.0001, 0.0002, 0.0005, 0.001) * 4:
        task = asyncio.create_task(pg_store.get(sids[0]))
        await asyncio.sleep(delay)
        task.cancel()
        try:
            own = await task  # psycopg may finish the statement and answer after all
        except asyncio.CancelledError:
            cancelled += 1
        else:
            assert own is not None
            assert own.user_id == "u0"
        found = await pg_store.get(sids[1])
        assert found is not None
        assert (found.user_id, found.data) == ("u1", {"n": 1})
    assert cancelled, "no read was cancelled: the test proved nothing"


# --- SQLite: the event loop never waits ---------------------------------------------------------


async def test_a_sqlite_write_in_the_loop_steps_aside_for_another_writer(tmp_path: Path) -> None:
    """Another process holds the file's write lock: ``set`` must not hold the loop (its own
    connection has no busy timeout); the thread pool waits instead, and the write lands once
    the lock goes."""
    path = tmp_path / "sessions.db"
    store = SQLStore(f"sqlite:///{path}")
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        sid = new_sid()
        await store.set(sid, {"n": 1}, user_id="u", expires_at=FAR)
        locker.execute("BEGIN IMMEDIATE")  # a writer elsewhere, mid-transaction
        gaps, running = watch_loop_gaps()
        await asyncio.sleep(0.05)
        write = asyncio.create_task(store.set(sid, {"n": 2}, user_id="u", expires_at=FAR))
        await asyncio.sleep(0.5)
        assert not write.done(), "the write did not wait for the lock"
        # a write waiting in the loop would stall it for its whole busy timeout (seconds, the
        # lock is held throughout); a loaded CI machine deschedules the test for up to ~0.4 s
        assert max(gaps) < 1.0, f"the event loop stalled for {max(gaps):.2f} s"
        found = await store.get(sid)  # WAL: reads go on meanwhile, and see the old data
        assert found is not None
        assert found.data == {"n": 1}
        locker.rollback()
        await asyncio.wait_for(write, 20)
        running.cancel()
        found = await store.get(sid)
        assert found is not None
        assert found.data == {"n": 2}
    finally:
        locker.close()
        await store.close()


def _session_table(path: Path, *, wal: bool) -> Statements:
    statements = Statements("reflex_session")
    connection = sqlite3.connect(path, isolation_level=None)
    if wal:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE reflex_session (sid TEXT PRIMARY KEY, user_id TEXT, data TEXT, "
        "created_at REAL, touched_at REAL, expires_at REAL, meta TEXT)"
    )
    connection.close()
    return statements


def _session(sid: str, now: float) -> dict[str, object]:
    return {"sid": sid, "user_id": "u", "data": "{}", "expires_at": now + HOUR, "meta": None}


def test_sqlite_direct_writes_ask_for_a_checkpoint_every_so_often(tmp_path: Path) -> None:
    """The loop's writer never checkpoints itself (a checkpoint fsyncs): it asks the store to,
    every CHECKPOINT_EVERY writes, so the log cannot grow without end."""
    path = tmp_path / "s.db"
    statements = _session_table(path, wal=True)
    asked: list[int] = []
    direct = SqliteDirect(str(path), threading.Lock(), lambda: asked.append(1))
    try:
        for number in range(CHECKPOINT_EVERY * 2 + 3):
            params = {**_session(f"s{number % 7}", 1000.0), "now": 1000.0}
            assert direct.write(statements.set, params) == 1
        assert len(asked) == 2
    finally:
        direct.close()


def test_sqlite_direct_writes_only_in_wal_mode(tmp_path: Path) -> None:
    """In a rollback journal every commit fsyncs: such a file's writes go to the threads."""
    path = tmp_path / "s.db"
    statements = _session_table(path, wal=False)
    direct = SqliteDirect(str(path), threading.Lock(), lambda: None)
    try:
        params = {**_session("a", 1000.0), "now": 1000.0}
        assert direct.write(statements.set, params) is None
        assert direct.read(statements.get, {"sid": "a", "now": 0.0}) == []  # reads still do
    finally:
        direct.close()


def test_sqlite_direct_writes_wait_for_no_one_in_this_process(tmp_path: Path) -> None:
    """The store's own writers hold its writer lock through their transactions: the loop's
    writer does not queue behind them, it hands the write to the threads."""
    path = tmp_path / "s.db"
    statements = _session_table(path, wal=True)
    lock = threading.Lock()
    direct = SqliteDirect(str(path), lock, lambda: None)
    try:
        params = {**_session("a", 1000.0), "now": 1000.0}
        with lock:
            assert direct.write(statements.set, params) is None
        assert direct.write(statements.set, params) == 1
    finally:
        direct.close()


@pytest.mark.postgres
async def test_postgres_hot_path_names_a_quoted_table_and_reads_the_url_options(
    pg_table: str,
) -> None:
    """Red team of the hot path: a table SQLAlchemy creates quoted (mixed case) must be found by
    the hot path's own SQL, and a URL option with a space (libpq ``options``) must reach the
    server as written, not URL-quoted: both broke every request on PostgreSQL."""
    url = sa.make_url(required_env("DATABASE_URL", "PostgreSQL"))
    url = url.update_query_dict({"options": "-c statement_timeout=5000"})
    table = "Rs" + pg_table[3:]
    store = SQLStore(url.render_as_string(hide_password=False), table_name=table)
    try:
        sid = new_sid()
        await store.set(sid, {"n": 1}, user_id="u", expires_at=FAR)
        assert await store.touch(sid, FAR + 1)
        assert await store.replace_data(sid, {"n": 2})
        found = await store.get(sid)
        assert found is not None
        assert found.data == {"n": 2}
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}", "{table}_csrf"')
        await store.close()
