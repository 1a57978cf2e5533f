"""Fixtures for the store suite: one ``backend`` per store kind, each on fresh, private storage.

Import the fixture functions into a test module (they are used by name)::

    from store_fixtures import backend_fixture, pg_table_fixture, store_fixture

* memory — a :class:`MemoryStore`;
* sqlite — a SQLite file in the test's tmp_path (file databases get a real connection pool);
* postgres — ``DATABASE_URL`` (started by scripts/test.sh): tables with a random name, made once
  per run (``pg_table``), emptied after every test and dropped at the end;
* postgres-sqlalchemy — the same, through an engine the test passes in: the store then runs its
  hot path (get, set, touch, replace_data) through SQLAlchemy on its threads, not psycopg's
  async connections (``reflex_session/stores/sql_direct.py``). Only the suites that pin store
  semantics (``STORE_PATHS``) run it: both paths must keep the same contract;
* redis — ``REDIS_URL`` (started by scripts/test.sh), keys under a random prefix, deleted
  afterwards.

PostgreSQL and Redis are never skipped: without their URL the test fails and says to run
scripts/test.sh. Every store gets the test's :class:`FakeClock` (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reflex_session.stores import MemoryStore, RedisStore, SessionStore, SQLStore
from reflex_session.testing import FakeClock

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]

#: ``BACKENDS`` and the SQL store's second access path on PostgreSQL, for the suites that pin the
#: stores' semantics (they import ``backend_paths_fixture``).
STORE_PATHS = [
    *BACKENDS,
    pytest.param("postgres-sqlalchemy", id="postgres-sqlalchemy", marks=pytest.mark.postgres),
]

HOUR = 3600.0


def required_env(name: str, what: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(
            f"{name} is not set: the {what} store tests need the server that scripts/test.sh "
            f"starts. Run them with `scripts/test.sh tests/stores` (or source scripts/_lib.sh "
            f"and call start_postgres / start_redis first).",
            pytrace=False,
        )
    return value


class Backend:
    """Makes stores of one kind that share one storage (same file, table or key prefix)."""

    def __init__(
        self, name: str, clock: FakeClock, tmp_path: Path, table_name: str = "reflex_session"
    ) -> None:
        self.name = name
        #: the storage behind it: "postgres" for both PostgreSQL paths
        self.kind = name.split("-")[0]
        self.clock = clock
        self.stores: list[SessionStore] = []
        self.engines: list[sa.Engine] = []
        self.table_name = table_name
        self.prefix = f"rs-test:{secrets.token_hex(6)}:"
        if name == "sqlite":
            self.url = f"sqlite:///{tmp_path / 'sessions.db'}"
        elif self.kind == "postgres":
            self.url = required_env("DATABASE_URL", "PostgreSQL")
        elif name == "redis":
            self.url = required_env("REDIS_URL", "Redis")
        else:
            self.url = ""

    def make(self) -> SessionStore:
        """A new store instance (own engine / client) on this backend's shared storage.

        The memory store cannot share across instances, so it always gives the same one.
        """
        store: SessionStore
        if self.name == "postgres-sqlalchemy":
            # an engine of the test's: the store leaves it alone (cleanup disposes it)
            engine = sa.create_engine(self.url, pool_pre_ping=True)
            self.engines.append(engine)
            store = SQLStore(engine, table_name=self.table_name, clock=self.clock)
        elif self.name == "memory":
            if self.stores:
                return self.stores[0]
            store = MemoryStore(clock=self.clock)
        elif self.name in ("sqlite", "postgres"):
            store = SQLStore(self.url, table_name=self.table_name, clock=self.clock)
        else:
            store = RedisStore(self.url, prefix=self.prefix, clock=self.clock)
        self.stores.append(store)
        return store

    def _empty_tables(self, store: SQLStore) -> None:
        store.metadata.create_all(store.engine, checkfirst=True)
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f'TRUNCATE "{self.table_name}", "{self.table_name}_csrf"')

    async def cleanup(self) -> None:
        first = self.stores[0] if self.stores else None
        try:
            if isinstance(first, SQLStore) and self.kind == "postgres":
                await asyncio.to_thread(self._empty_tables, first)
            elif isinstance(first, RedisStore):
                keys = [key async for key in first.redis.scan_iter(match=self.prefix + "*")]
                if keys:
                    await first.redis.delete(*keys)
        finally:
            for store in self.stores:
                await store.close()
            for engine in self.engines:
                engine.dispose()


@pytest.fixture(name="pg_table", scope="session")
def pg_table_fixture() -> Iterator[str]:
    """A table name for this run's PostgreSQL tests; the tables are dropped at the end."""
    url = required_env("DATABASE_URL", "PostgreSQL")
    name = f"rs_test_{secrets.token_hex(6)}"
    yield name
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}", "{name}_csrf"')
    finally:
        engine.dispose()


async def _backend(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Any:
    table = "reflex_session"
    if request.param.startswith("postgres"):
        table = request.getfixturevalue("pg_table")
    backend = Backend(request.param, clock, tmp_path, table)
    try:
        yield backend
    finally:
        await backend.cleanup()


@pytest.fixture(name="backend", params=BACKENDS)
async def backend_fixture(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Backend]:
    async for backend in _backend(request, clock, tmp_path):
        yield backend


@pytest.fixture(name="backend", params=STORE_PATHS)
async def backend_paths_fixture(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Backend]:
    """``backend`` over :data:`STORE_PATHS`: import it instead of ``backend_fixture``."""
    async for backend in _backend(request, clock, tmp_path):
        yield backend


@pytest.fixture(name="store")
def store_fixture(backend: Backend) -> SessionStore:
    return backend.make()


def watch_loop_gaps() -> tuple[list[float], asyncio.Task[None]]:
    """Start a task that records how long the running loop goes between its 10 ms ticks: a
    read or write that held the loop shows as one long gap. Cancel the task when done."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def ticker() -> None:
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    return gaps, asyncio.create_task(ticker())
