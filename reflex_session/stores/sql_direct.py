"""The SQL store's hot path: its single-statement operations, straight on the driver.

``get``, ``set``, ``touch`` and ``replace_data`` run on every request, guarded event and sync of
store mode, and each is one SQL statement (:class:`Statements`). Run through SQLAlchemy on a
worker thread, they cost far more than the statement itself: ``benchmarks/stores.py`` measured
``get`` at 3.4x and ``set`` at 6.8x psycopg's own primary-key ``SELECT``/``UPDATE`` on
PostgreSQL, and 2.5x and 49x the ``sqlite3`` module's on a SQLite file. The time went to the
thread hop, SQLAlchemy's execution machinery, the pool's pre-ping (one more round trip per
checkout) and, for ``set``, a transaction of four round trips (``BEGIN``, ``SELECT ... FOR
UPDATE``, ``INSERT``/``UPDATE``, ``COMMIT``). So the hot path:

* is **one statement in autocommit**. ``set`` is an upsert (``INSERT ... ON CONFLICT (sid) DO
  UPDATE``, PostgreSQL 9.5+ and SQLite 3.24+), atomic on its own: the first insert of two racing
  writers no longer needs a unique-violation retry, and a row ended meanwhile is inserted anew,
  as before;
* on **PostgreSQL** (psycopg 3) runs on psycopg's ``AsyncConnection`` in the event loop, with
  no thread hop, as a server-side prepared statement (``prepare=True``: parsed and planned once
  per connection), on a small pool of autocommit connections of this module
  (:class:`PostgresDirect`; psycopg-pool would be one more dependency for the forty lines it
  would save). A connection taken from the pool that turns out dead (the server restarted) is
  replaced and the statement run once more: every statement here gives the same result twice;
* on a **SQLite file** runs in the event loop through ``sqlite3`` connections of its own
  (:class:`SqliteDirect`): a statement takes microseconds there, the hand-off to a thread 50-70
  times that. It never waits in the loop: a write first takes the store's writer lock without
  blocking and runs with no busy timeout, and a read waits at most 20 ms; when anything is in
  the way, the caller falls back to the thread pool, which waits as long as it must. Writes run
  only in WAL mode (``synchronous=NORMAL``: a commit writes the log, with no fsync) and never
  checkpoint in the loop: the writer connection's auto-checkpoint is off, and the store runs a
  passive checkpoint on its thread pool every :data:`CHECKPOINT_EVERY` writes.

Everything else (and SQLite in memory, a PostgreSQL driver other than psycopg 3, an engine you
passed in) runs through SQLAlchemy on the store's threads, the same :class:`Statements` in
``sa.text`` for these four.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = ["CHECKPOINT_EVERY", "PostgresDirect", "SqliteDirect", "Statements"]

#: Columns of a session row, in the table's order (``SQLStore._snapshot`` unpacks them so).
COLUMNS: Final = ("sid", "user_id", "data", "created_at", "touched_at", "expires_at", "meta")
#: How long a read in the event loop may wait for a SQLite lock, seconds.
READ_BUSY: Final = 0.02
#: Inline SQLite writes between two passive checkpoints (run on the store's threads).
CHECKPOINT_EVERY: Final = 256
_NAMED: Final = re.compile(r"(?<!:):([a-z_]+)")
#: PostgreSQL SQLSTATEs after which a statement is simply run again (deadlock, serialisation).
_RETRY_SQLSTATES: Final = frozenset({"40001", "40P01"})
_ATTEMPTS: Final = 5
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,50}")

Params = Mapping[str, Any]


class Statements:
    """The hot path's four statements for one table, with ``:name`` parameters.

    ``sqlite3`` and ``sa.text`` take them as they are; :meth:`for_psycopg` gives psycopg's
    ``%(name)s`` spelling. ``quote`` is the database's identifier quoting (SQLAlchemy's
    ``dialect.identifier_preparer.quote``): a table SQLAlchemy created as ``"Sessions"`` or
    ``"user"`` must be named so here too.
    """

    __slots__ = ("get", "replace", "set", "table", "touch")

    def __init__(self, table: str, quote: Callable[[str], str] = lambda name: name) -> None:
        if not _IDENTIFIER.fullmatch(table):
            raise ValueError("table must be a plain SQL identifier (letters, digits, _)")
        # table is a plain identifier (checked above) and every value is a bound parameter
        self.table = table
        t = quote(table)
        columns = ", ".join(COLUMNS)
        self.get = f"SELECT {columns} FROM {t} WHERE sid = :sid AND expires_at > :now"  # noqa: S608
        # The whole session over a live row; over an expired one (not yet purged) a new session:
        # created_at and meta start again, as a fresh INSERT would. The SET expressions read the
        # row as it was before this statement (standard SQL, in both databases). CASTs give the
        # parameters a type where PostgreSQL could not infer one.
        self.set = (
            f"INSERT INTO {t} ({columns}) VALUES (:sid, :user_id, :data, :now, :now, "  # noqa: S608
            ":expires_at, COALESCE(CAST(:meta AS TEXT), '{}')) "
            "ON CONFLICT (sid) DO UPDATE SET user_id = excluded.user_id, data = excluded.data, "
            "touched_at = excluded.touched_at, expires_at = excluded.expires_at, "
            f"created_at = CASE WHEN {t}.expires_at > :now THEN {t}.created_at "
            "ELSE excluded.created_at END, "
            "meta = CASE WHEN CAST(:meta AS TEXT) IS NOT NULL THEN excluded.meta "
            f"WHEN {t}.expires_at > :now THEN {t}.meta ELSE '{{}}' END"
        )
        self.touch = (
            f"UPDATE {t} SET expires_at = :expires_at, touched_at = :now "  # noqa: S608
            "WHERE sid = :sid AND expires_at > :now"
        )
        self.replace = f"UPDATE {t} SET data = :data WHERE sid = :sid AND expires_at > :now"  # noqa: S608

    @staticmethod
    def for_psycopg(sql: str) -> str:
        """``:name`` parameters as psycopg's ``%(name)s`` (the text has no ``%`` of its own)."""
        return _NAMED.sub(r"%(\1)s", sql)


class SqliteDirect:
    """A SQLite file's hot path in the event loop; every method answers ``None`` for "ask the
    thread pool instead" (a lock in the way, a file not in WAL mode, any error).

    ``path`` is the database file; ``writer_lock`` is the lock the store's own writers hold for
    their transactions; ``checkpoint`` is called (it should only schedule the work elsewhere)
    every :data:`CHECKPOINT_EVERY` writes.
    """

    def __init__(
        self, path: str, writer_lock: threading.Lock, checkpoint: Callable[[], None]
    ) -> None:
        # mode=rw: never create a file where the store's has gone
        self._uri = Path(path).absolute().as_uri() + "?mode=rw"
        self._lock = writer_lock
        self._checkpoint = checkpoint
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._writes_ok = True
        self._writes = 0

    def _connect(self, timeout: float) -> sqlite3.Connection:
        return sqlite3.connect(
            self._uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )

    def read(self, sql: str, params: Params) -> list[Any] | None:
        """The rows of one ``SELECT``, or ``None``."""
        try:
            if self._reader is None:
                self._reader = self._connect(READ_BUSY)
            # fetchall steps the statement to its end, so no read transaction stays open
            return self._reader.execute(sql, params).fetchall()
        except sqlite3.Error:
            return None

    def write(self, sql: str, params: Params) -> int | None:
        """The row count of one writing statement, committed; or ``None``: nothing was written
        (one statement in autocommit is atomic: an error leaves the file as it was)."""
        if not self._writes_ok or not self._lock.acquire(blocking=False):
            return None
        try:
            if self._writer is None:
                self._writer = self._open_writer()
                if self._writer is None:
                    return None
            count = self._writer.execute(sql, params).rowcount
        except sqlite3.Error:
            return None
        finally:
            self._lock.release()
        self._writes += 1
        if self._writes % CHECKPOINT_EVERY == 0:
            self._checkpoint()
        return count

    def _open_writer(self) -> sqlite3.Connection | None:
        connection = self._connect(0.0)
        mode = connection.execute("PRAGMA journal_mode").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            # a rollback journal fsyncs on every commit: never in the event loop
            connection.close()
            self._writes_ok = False
            return None
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        return connection

    def close(self) -> None:
        """Close both connections (the store's ``close``; a later call opens them again)."""
        for connection in (self._reader, self._writer):
            if connection is not None:
                connection.close()
        self._reader = self._writer = None


class PostgresDirect:
    """psycopg 3 ``AsyncConnection``\\ s in autocommit, at most ``size`` per event loop.

    Connections belong to the loop that opened them (psycopg waits on the loop's selector), so
    the pool keeps one set per loop: a server runs one loop, a test suite many.
    ``connect_args`` hold the password: never show them.
    """

    def __init__(
        self, connect_args: Mapping[str, Any], *, size: int, connect_timeout: float = 10.0
    ) -> None:
        import psycopg  # the postgres extra; SQLStore only builds this for psycopg URLs

        self._psycopg = psycopg
        # keyword arguments, as SQLAlchemy's dialect makes them from the URL (host, dbname,
        # options, sslrootcert ...): a URL's query string would reach libpq still quoted
        self._connect_args = dict(connect_args)
        self._size = max(1, size)
        self._timeout = connect_timeout
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        pool = self._loops.get(loop)
        if pool is None:
            pool = self._loops[loop] = _LoopPool(asyncio.Semaphore(self._size))
        return pool

    async def _open(self) -> Any:
        args = {"connect_timeout": max(1, round(self._timeout)), **self._connect_args}
        # prepare_threshold None: we say prepare=True per statement
        return await self._psycopg.AsyncConnection.connect(
            **args, autocommit=True, prepare_threshold=None
        )

    async def fetch(self, sql: str, params: Params) -> list[Any]:
        """The rows of one statement."""
        return await self._execute(sql, params, fetch=True)  # type: ignore[no-any-return]

    async def count(self, sql: str, params: Params) -> int:
        """The row count of one statement (committed: autocommit)."""
        return await self._execute(sql, params, fetch=False)  # type: ignore[no-any-return]

    async def _execute(self, sql: str, params: Params, *, fetch: bool) -> Any:
        pool = self._pool()
        async with pool.slots:
            for attempt in range(1, _ATTEMPTS + 1):
                reused = bool(pool.idle)
                connection = pool.idle.pop() if reused else await self._open()
                try:
                    cursor = await connection.execute(sql, params, prepare=True)
                    result = await cursor.fetchall() if fetch else cursor.rowcount
                except self._psycopg.OperationalError as error:
                    if getattr(error, "sqlstate", None) in _RETRY_SQLSTATES and attempt < _ATTEMPTS:
                        # a deadlock or serialisation failure (a stricter default isolation):
                        # the statement changed nothing; the connection is fine
                        pool.idle.append(connection)
                        continue
                    _discard(connection)
                    if reused and attempt == 1 and connection.broken:
                        # the server closed it (a restart closes them all): drop every idle
                        # one and run the statement once more on a new connection
                        for stale in pool.idle:
                            _discard(stale)
                        pool.idle.clear()
                        continue
                    raise
                except BaseException:
                    # cancelled or failed mid-statement: its state is unknown, never reuse it
                    _discard(connection)
                    raise
                pool.idle.append(connection)
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def connections(self) -> int:
        """Idle connections kept, over every loop (for tests and diagnostics)."""
        return sum(len(pool.idle) for pool in self._loops.values())

    async def close(self) -> None:
        """Close every idle connection: gracefully on this loop, at once on any other."""
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, pool in list(self._loops.items()):
            idle, pool.idle = pool.idle, []
            for connection in idle:
                if loop is current:
                    await connection.close()
                else:
                    _discard(connection)
        self._loops.clear()


@dataclass(slots=True)
class _LoopPool:
    slots: asyncio.Semaphore
    idle: list[Any] = field(default_factory=list)


def _discard(connection: Any) -> None:
    """Close a connection without waiting on any loop (libpq's ``PQfinish``)."""
    with contextlib.suppress(Exception):  # it is being thrown away either way
        connection.pgconn.finish()
