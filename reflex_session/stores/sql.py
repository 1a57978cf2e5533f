"""A session store in a SQL database (SQLAlchemy): SQLite and PostgreSQL.

Two tables, created on first use (``table_name`` and ``table_name + "_csrf"``)::

    reflex_session       sid PK, user_id (indexed), data (JSON text), created_at, touched_at,
                         expires_at (indexed; float Unix seconds), meta (JSON text)
    reflex_session_csrf  (sid, digest) PK, expires_at

Two access paths:

* **The hot path** (``get``, ``set``, ``touch``, ``replace_data``: every request, guarded event
  and sync of store mode) is one statement each, run straight on the driver in the event loop:
  psycopg 3's ``AsyncConnection`` on PostgreSQL, ``sqlite3`` on a SQLite file, falling back to
  the thread pool below whenever that cannot answer at once. :mod:`.sql_direct` says why and
  how (the thread hop and SQLAlchemy's machinery cost 3-50x the statement itself).
* **Everything else** goes through SQLAlchemy, whose engine is synchronous, in this store's own
  thread pool (one thread per pooled connection, so a slow database never starves the event
  loop's default executor); concurrent operations really run in parallel on the connection
  pool. On PostgreSQL a process so holds up to ``2 x max_threads`` connections: the hot path's
  and SQLAlchemy's.

Atomicity:

* ``get`` and ``list_for_user`` are one ``SELECT`` each, run in the driver's autocommit (no
  ``BEGIN``/``COMMIT`` around them: a single statement is consistent on its own).
* ``set`` is one upsert (``INSERT ... ON CONFLICT (sid) DO UPDATE``), atomic on its own: of two
  first inserts of one id, the second updates the first's row; over an expired row it starts a
  new session (a new ``created_at`` and ``meta``).
* ``merge`` and ``pluck`` read the row with ``SELECT ... FOR UPDATE`` inside one transaction,
  compute in Python, write, commit. On PostgreSQL the row lock serialises concurrent writers of
  one session; a concurrent first insert of the same id (unique violation), a deadlock or a
  serialisation failure restarts the transaction.
* ``destroy_for_user`` locks the user's rows (``SELECT ... FOR UPDATE``) and deletes them and
  their CSRF rows in the same transaction: a concurrent ``set`` of one of those sessions waits,
  then finds the row gone and inserts it anew with what it was given (a new created_at and
  meta, none of the old session's data beyond that).
* ``touch``, ``replace_data`` and ``consume_csrf`` are each one conditional statement
  (``UPDATE ... WHERE expires_at > now`` / ``DELETE ... WHERE ...``): only one consumer of a CSRF
  token can delete its row.
* ``acquire`` reads the lease's row with ``SELECT ... FOR UPDATE`` and writes it only when it is
  missing or expired, in one transaction: two first acquirers both try to INSERT the same
  primary key and the loser's unique violation restarts its transaction, which then finds the
  winner's live row. ``release`` is one ``DELETE ... WHERE sid = key AND data = owner``. Leases
  are rows of the sessions table without a user (their keys never collide with session ids:
  the callers prefix them), so no migration is needed.
* SQLite has no row locks (``FOR UPDATE`` compiles to nothing). Every writing transaction starts
  with ``BEGIN IMMEDIATE`` (an engine event listener: the standard SQLAlchemy recipe), which
  takes the database's write lock up front, so read-modify-write transactions are serialised;
  waiting writers retry for ``busy_timeout`` seconds (writers of one engine first queue on a
  Python lock). Files are switched to WAL (synchronous=NORMAL) so readers do not wait for
  writers. ``sqlite://`` (in memory) works too: one shared connection, one operation at a time.

Expired rows are deleted by :meth:`SQLStore.purge_expired`, which ``set`` also runs at most once
an hour (clock time).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Final, TypeVar

try:
    import sqlalchemy as sa
    from sqlalchemy import event, exc
    from sqlalchemy.engine import Connection, Engine, make_url
    from sqlalchemy.engine.url import URL
    from sqlalchemy.pool import StaticPool
except ImportError as error:  # pragma: no cover - sqlalchemy comes with sqlmodel
    raise ImportError(
        "SQLStore needs SQLAlchemy (it comes with sqlmodel): pip install reflex-session"
    ) from error

from ..clock import SYSTEM_CLOCK, Clock
from .base import (
    CSRF_LIMIT,
    MAX_ID_LENGTH,
    SessionStore,
    StoredSession,
    StoreUnavailable,
    decode_object,
    deep_merge,
    encode_json,
)
from .sql_direct import PostgresDirect, SqliteDirect, Statements

__all__ = ["SQLStore"]

T = TypeVar("T")

#: Execution option that makes the SQLite begin listener emit ``BEGIN IMMEDIATE``.
_IMMEDIATE: Final = "reflex_session_immediate"
#: Execution option of a SQLite connection that runs one read statement: no ``BEGIN`` at all.
_SINGLE_READ: Final = "reflex_session_single_read"
#: Set on a SQLite engine once its listeners are installed: the lock its writers queue on.
_LISTENING: Final = "_reflex_session_sqlite_listeners"
#: Transaction retries on a unique violation / deadlock / serialisation failure.
_ATTEMPTS: Final = 5
#: PostgreSQL SQLSTATEs that mean "run the transaction again".
_RETRY_SQLSTATES: Final = frozenset({"40001", "40P01"})
_TABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,50}")
#: How often (clock seconds) ``set`` purges expired rows.
PURGE_INTERVAL: Final = 3600.0

_UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let the begin listener, not pysqlite, decide when and how a transaction starts.
    dbapi_connection.isolation_level = None


def _sqlite_on_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get(_SINGLE_READ, False):
        return  # one SELECT: pysqlite (isolation_level=None) runs it in autocommit
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE, False) else "BEGIN")


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run while a writer holds the lock, and with synchronous=NORMAL a commit
    # needs no fsync (a power cut may lose the last commits, never consistency): the usual
    # setting for WAL. Only optimisations: if another connection holds a lock right now, the
    # next connection switches the file instead.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.OperationalError:
        pass
    finally:
        cursor.close()


def _is_sqlite_memory(url: URL) -> bool:
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or "mode=memory" in database
        or (url.query.get("mode") == "memory")
    )


class SQLStore(SessionStore):
    """Sessions in a SQL database through SQLAlchemy (SQLite and PostgreSQL are tested).

    ``url_or_engine`` is a URL (``"sqlite:///sessions.db"``,
    ``"postgresql+psycopg://user:password@host/db"``) or an :class:`~sqlalchemy.engine.Engine`
    you own (it is not disposed by :meth:`close`; a SQLite engine gets this store's begin
    listener, see the module docstring). ``max_threads`` bounds the operations in flight (keep
    it near the pool's size); ``busy_timeout`` is how long a SQLite writer waits for the lock.
    """

    def __init__(
        self,
        url_or_engine: str | URL | Engine,
        *,
        table_name: str = "reflex_session",
        clock: Clock = SYSTEM_CLOCK,
        busy_timeout: float = 15.0,
        max_threads: int = 15,
    ) -> None:
        if not _TABLE_NAME.fullmatch(table_name):
            raise ValueError("table_name must be a plain SQL identifier (letters, digits, _)")
        self.clock = clock
        self._owns_engine = not isinstance(url_or_engine, Engine)
        if isinstance(url_or_engine, Engine):
            engine = url_or_engine
        else:
            engine = self._create_engine(make_url(url_or_engine), busy_timeout)
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._serial: threading.Lock | None = None
        self._writer_lock: threading.Lock | None = None
        if self._sqlite:
            if not getattr(engine, _LISTENING, None):
                event.listen(engine, "connect", _sqlite_on_connect)
                event.listen(engine, "begin", _sqlite_on_begin)
                setattr(engine, _LISTENING, threading.Lock())
            self._writer_lock = getattr(engine, _LISTENING)
            if _is_sqlite_memory(engine.url):
                self._serial = threading.Lock()
        self._where = engine.url.render_as_string(hide_password=True)
        self._password = engine.url.password
        metadata = sa.MetaData()
        self.sessions = sa.Table(
            table_name,
            metadata,
            sa.Column("sid", sa.String(MAX_ID_LENGTH), primary_key=True),
            sa.Column("user_id", sa.String(MAX_ID_LENGTH), nullable=True, index=True),
            sa.Column("data", sa.Text, nullable=False),
            sa.Column("created_at", sa.Double, nullable=False),
            sa.Column("touched_at", sa.Double, nullable=False),
            sa.Column("expires_at", sa.Double, nullable=False, index=True),
            sa.Column("meta", sa.Text, nullable=False),
        )
        self.csrf = sa.Table(
            f"{table_name}_csrf",
            metadata,
            sa.Column("sid", sa.String(MAX_ID_LENGTH), primary_key=True),
            sa.Column("digest", sa.String(MAX_ID_LENGTH), primary_key=True),
            sa.Column("expires_at", sa.Double, nullable=False),
        )
        self.metadata = metadata
        # the hot path (.sql_direct); table_name matched _TABLE_NAME above: a plain identifier
        self._statements = Statements(table_name, engine.dialect.identifier_preparer.quote)
        self._text = {
            name: sa.text(getattr(self._statements, name))
            for name in ("get", "set", "touch", "replace")
        }
        url = engine.url
        self._lite: SqliteDirect | None = None
        if self._writer_lock is not None and not _is_sqlite_memory(url) and not url.query:
            # a plain file URL, whose path is the whole story
            assert url.database is not None
            self._lite = SqliteDirect(url.database, self._writer_lock, self._schedule_checkpoint)
        self._pg: PostgresDirect | None = None
        self._pg_sql: dict[str, str] = {}
        if (
            self._owns_engine
            and engine.dialect.name == "postgresql"
            and url.get_driver_name() == ("psycopg")
        ):
            # only for an engine of ours: yours may connect in ways a URL does not say
            _, connect_args = engine.dialect.create_connect_args(url)
            self._pg = PostgresDirect(connect_args, size=max_threads)
            self._pg_sql = {
                name: Statements.for_psycopg(getattr(self._statements, name))
                for name in ("get", "set", "touch", "replace")
            }
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, max_threads), thread_name_prefix="reflex-session-sql"
        )
        self._last_purge = clock.time()

    @staticmethod
    def _create_engine(url: URL, busy_timeout: float) -> Engine:
        backend = url.get_backend_name()
        options: dict[str, Any] = {"hide_parameters": True}
        if backend == "sqlite":
            connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout}
            if _is_sqlite_memory(url):
                options["poolclass"] = StaticPool
            engine = sa.create_engine(url, connect_args=connect_args, **options)
            if not _is_sqlite_memory(url):
                event.listen(engine, "connect", _sqlite_wal)
            return engine
        if backend == "postgresql":
            options["pool_pre_ping"] = True
            if url.get_driver_name() in ("psycopg", "psycopg2"):
                options["connect_args"] = {"connect_timeout": 10}
        try:
            return sa.create_engine(url, **options)
        except ModuleNotFoundError as error:
            extra = "[postgres]" if backend == "postgresql" else ""
            raise ImportError(
                f"SQLStore({url.drivername!r}) needs the database driver {error.name!r}: "
                f"pip install reflex-session{extra}"
            ) from error

    # -- plumbing ----------------------------------------------------------------------------------

    def _reason(self, error: BaseException) -> str:
        original = getattr(error, "orig", None)
        text = str(original if original is not None else error).strip()
        text = text.splitlines()[0] if text else type(error).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return f"{self._where}: {text}"

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(self._call, fn, *args)
        try:
            return await loop.run_in_executor(self._executor, call)
        except _UNAVAILABLE as error:
            raise StoreUnavailable(self.engine.dialect.name, self._reason(error)) from error

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """In a worker thread: schema, then ``fn`` with retries on transient conflicts."""
        if self._serial is not None:
            with self._serial:
                return self._attempt(fn, *args)
        return self._attempt(fn, *args)

    def _attempt(self, fn: Callable[..., T], *args: Any) -> T:
        self._ensure_schema()
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return fn(*args)
            except exc.IntegrityError:
                if attempt == _ATTEMPTS:
                    raise
            except exc.OperationalError as error:
                sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
                if sqlstate not in _RETRY_SQLSTATES or attempt == _ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            # In a writing transaction: on SQLite a deferred one would read (the check) and
            # then fail to upgrade to a write lock ("database is locked", no busy wait).
            try:
                with self._write() as conn:
                    self.metadata.create_all(conn, checkfirst=True)
            except (exc.ProgrammingError, exc.IntegrityError):
                # Another process created the tables between our check and our CREATE.
                with self._write() as conn:
                    self.metadata.create_all(conn, checkfirst=True)
            self._schema_ready = True

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that writes (SQLite: ``BEGIN IMMEDIATE``).

        SQLite writers of this engine also queue on a Python lock first: waiting there is
        immediate and fair, while SQLite's own busy handler polls with growing sleeps. (Other
        processes still wait in the busy handler.)
        """
        if self._writer_lock is None:
            with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        with self._writer_lock, self.engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for one read statement, run in the driver's autocommit.

        A single statement sees one consistent snapshot by itself; a transaction around it adds a
        ``BEGIN`` and a ``COMMIT``: on PostgreSQL two more round trips for one of work (the
        store's ``get`` cost 4.3x psycopg's bare ``SELECT``, benchmarks/stores.py), on SQLite two
        more statements. Use it only for a read that is one statement.
        """
        with self.engine.connect() as conn:
            if self._sqlite:
                conn.execution_options(**{_SINGLE_READ: True})
            else:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    def _snapshot(self, row: Any) -> StoredSession:
        """A row of ``select(sessions)`` or of the hot path's read (the same columns, in the
        table's order: :data:`.sql_direct.COLUMNS`) as a :class:`StoredSession`."""
        sid, user_id, data, created_at, touched_at, expires_at, meta = row
        # positional, in StoredSession's field order: a quarter faster than by keyword, on the
        # read behind every request
        return StoredSession(
            sid,
            user_id,
            decode_object(data),
            float(created_at),
            float(touched_at),
            float(expires_at),
            decode_object(meta),
        )

    def _locked_row(self, conn: Connection, sid: str) -> Any:
        """The row, locked until commit (PostgreSQL; SQLite holds the write lock already)."""
        t = self.sessions
        return conn.execute(sa.select(t).where(t.c.sid == sid).with_for_update()).first()

    # -- synchronous operations (worker threads) ---------------------------------------------------

    def _do_get(self, params: dict[str, Any]) -> StoredSession | None:
        with self._read() as conn:
            row = conn.execute(self._text["get"], params).first()
        return None if row is None else self._snapshot(row)

    def _put(
        self,
        conn: Connection,
        row: Any,
        sid: str,
        data: str,
        user_id: str | None,
        expires_at: float,
        meta: str | None,
        now: float,
    ) -> None:
        """Write a whole session over ``row``, the locked row read in this same transaction.

        With no row this is a plain INSERT: if another transaction inserted the same id
        meanwhile, the unique violation restarts ours (it must not overwrite that row, which it
        has not seen: a second SELECT here would see it under READ COMMITTED and lose data).
        """
        t = self.sessions
        values = {
            "user_id": user_id,
            "data": data,
            "touched_at": now,
            "expires_at": expires_at,
        }
        if row is None:
            conn.execute(t.insert().values(sid=sid, created_at=now, meta=meta or "{}", **values))
            return
        live = row.expires_at > now
        values["created_at"] = row.created_at if live else now
        values["meta"] = meta if meta is not None else (row.meta if live else "{}")
        conn.execute(t.update().where(t.c.sid == sid).values(**values))

    def _do_write(self, name: str, params: dict[str, Any]) -> int:
        """One of the hot path's writing statements (``set``, ``touch``, ``replace``): its row
        count."""
        with self._write() as conn:
            return conn.execute(self._text[name], params).rowcount

    def _do_destroy(self, sid: str) -> None:
        with self._write() as conn:
            conn.execute(self.sessions.delete().where(self.sessions.c.sid == sid))
            conn.execute(self.csrf.delete().where(self.csrf.c.sid == sid))

    def _do_list(self, user_id: str, now: float) -> list[StoredSession]:
        t = self.sessions
        query = (
            sa.select(t)
            .where(t.c.user_id == user_id, t.c.expires_at > now)
            .order_by(t.c.touched_at.desc())
        )
        with self._read() as conn:
            return [self._snapshot(row) for row in conn.execute(query)]

    def _do_destroy_for_user(self, user_id: str, keep: frozenset[str], now: float) -> list[str]:
        t = self.sessions
        condition = t.c.user_id == user_id
        if keep:
            condition = sa.and_(condition, t.c.sid.not_in(sorted(keep)))
        with self._write() as conn:
            rows = conn.execute(
                sa.select(t.c.sid, t.c.expires_at).where(condition).with_for_update()
            ).all()
            sids = [row.sid for row in rows]
            for chunk in _chunks(sids, 500):
                conn.execute(t.delete().where(t.c.sid.in_(chunk)))
                conn.execute(self.csrf.delete().where(self.csrf.c.sid.in_(chunk)))
        return [row.sid for row in rows if row.expires_at > now]

    def _do_merge(
        self,
        sid: str,
        patch: dict[str, Any],
        create: tuple[str | None, float] | None,
        now: float,
    ) -> dict[str, Any] | None:
        t = self.sessions
        with self._write() as conn:
            row = self._locked_row(conn, sid)
            if row is not None and row.expires_at > now:
                data = deep_merge(decode_object(row.data), patch)
                conn.execute(t.update().where(t.c.sid == sid).values(data=encode_json(data)))
                return data
            if create is None:
                return None
            data = deep_merge({}, patch)
            self._put(conn, row, sid, encode_json(data), create[0], create[1], None, now)
            return data

    def _do_pluck(self, sid: str, key: str, now: float) -> Any:
        t = self.sessions
        with self._write() as conn:
            row = self._locked_row(conn, sid)
            if row is None or row.expires_at <= now:
                return None
            data = decode_object(row.data)
            if key not in data:
                return None
            value = data.pop(key)
            conn.execute(t.update().where(t.c.sid == sid).values(data=encode_json(data)))
            return value

    def _do_add_csrf(self, sid: str, digest: str, expires_at: float, now: float) -> None:
        c = self.csrf
        with self._write() as conn:
            conn.execute(c.delete().where(c.c.sid == sid, c.c.digest == digest))
            conn.execute(c.insert().values(sid=sid, digest=digest, expires_at=expires_at))
            conn.execute(c.delete().where(c.c.sid == sid, c.c.expires_at <= now))
            digests = conn.execute(
                sa.select(c.c.digest).where(c.c.sid == sid).order_by(c.c.expires_at.desc())
            ).scalars()
            extra = list(digests)[CSRF_LIMIT:]
            for chunk in _chunks(extra, 500):
                conn.execute(c.delete().where(c.c.sid == sid, c.c.digest.in_(chunk)))

    def _do_consume_csrf(self, sid: str, digest: str, now: float) -> bool:
        c = self.csrf
        with self._write() as conn:
            result = conn.execute(
                c.delete().where(c.c.sid == sid, c.c.digest == digest, c.c.expires_at > now)
            )
        return result.rowcount == 1

    def _do_acquire(self, key: str, owner: str, ttl: float, now: float) -> bool:
        with self._write() as conn:
            row = self._locked_row(conn, key)
            if row is not None and row.expires_at > now:
                return False
            self._put(conn, row, key, encode_json({"owner": owner}), None, now + ttl, None, now)
        return True

    def _do_release(self, key: str, owner: str) -> bool:
        t = self.sessions
        with self._write() as conn:
            result = conn.execute(
                t.delete().where(t.c.sid == key, t.c.data == encode_json({"owner": owner}))
            )
        return result.rowcount == 1

    def _purge(self, now: float) -> int:
        self._last_purge = now
        with self._write() as conn:
            result = conn.execute(self.sessions.delete().where(self.sessions.c.expires_at <= now))
            conn.execute(self.csrf.delete().where(self.csrf.c.expires_at <= now))
        return result.rowcount

    # -- the hooks (arguments already checked by SessionStore) --------------------------------

    # -- the hot path (.sql_direct), falling back to the thread pool ----------------------------

    async def _ready(self) -> None:
        """The tables exist (the direct paths never create them)."""
        if not self._schema_ready:
            await self._run(self._ensure_schema)

    async def _direct_write(self, name: str, params: dict[str, Any]) -> int:
        """``set``, ``touch`` or ``replace``: the row count."""
        if self._lite is not None and self._schema_ready:
            count = self._lite.write(getattr(self._statements, name), params)
            if count is not None:
                return count
        elif self._pg is not None:
            await self._ready()
            try:
                return await self._pg.count(self._pg_sql[name], params)
            except self._pg_unavailable() as error:
                raise StoreUnavailable("postgresql", self._reason(error)) from error
        return await self._run(self._do_write, name, params)

    def _pg_unavailable(self) -> type[Exception]:
        import psycopg

        return psycopg.OperationalError

    def _schedule_checkpoint(self) -> None:
        """Called by the SQLite direct path: checkpoint the WAL on a worker thread, not in the
        loop (a checkpoint copies pages into the database and fsyncs)."""
        # closed (RuntimeError): the next process to open the file checkpoints it
        with contextlib.suppress(RuntimeError):
            self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_SINGLE_READ: True})  # no BEGIN around the PRAGMA
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except exc.SQLAlchemyError:
            pass  # a busy file: the next checkpoint takes what this one left

    async def _get(self, sid: str) -> StoredSession | None:
        # the hottest call of all (every request and guarded event): the hot path spelt out here,
        # not behind one more coroutine
        params = {"sid": sid, "now": self.clock.time()}
        if self._lite is not None and self._schema_ready:
            rows = self._lite.read(self._statements.get, params)
            if rows is not None:
                return self._snapshot(rows[0]) if rows else None
        elif self._pg is not None:
            await self._ready()
            try:
                rows = await self._pg.fetch(self._pg_sql["get"], params)
            except self._pg_unavailable() as error:
                raise StoreUnavailable("postgresql", self._reason(error)) from error
            return self._snapshot(rows[0]) if rows else None
        return await self._run(self._do_get, params)

    async def _set(
        self, sid: str, data: str, user_id: str | None, expires_at: float, meta: str | None
    ) -> None:
        now = self.clock.time()
        params = {
            "sid": sid,
            "user_id": user_id,
            "data": data,
            "expires_at": expires_at,
            "meta": meta,
            "now": now,
        }
        await self._direct_write("set", params)
        if now - self._last_purge >= PURGE_INTERVAL:
            self._last_purge = now
            await self._run(self._purge, now)

    async def _touch(self, sid: str, expires_at: float) -> bool:
        params = {"sid": sid, "expires_at": expires_at, "now": self.clock.time()}
        return await self._direct_write("touch", params) == 1

    async def _destroy(self, sid: str) -> None:
        await self._run(self._do_destroy, sid)

    async def _list_for_user(self, user_id: str) -> list[StoredSession]:
        return await self._run(self._do_list, user_id, self.clock.time())

    async def _destroy_for_user(self, user_id: str, keep: frozenset[str]) -> list[str]:
        return await self._run(self._do_destroy_for_user, user_id, keep, self.clock.time())

    async def _merge(
        self, sid: str, patch: str, create: tuple[str | None, float] | None
    ) -> dict[str, Any] | None:
        changes = decode_object(patch)
        return await self._run(self._do_merge, sid, changes, create, self.clock.time())

    async def _replace_data(self, sid: str, data: str) -> bool:
        params = {"sid": sid, "data": data, "now": self.clock.time()}
        return await self._direct_write("replace", params) == 1

    async def _pluck(self, sid: str, key: str) -> Any:
        return await self._run(self._do_pluck, sid, key, self.clock.time())

    async def _add_csrf(self, sid: str, token_digest: str, expires_at: float) -> None:
        await self._run(self._do_add_csrf, sid, token_digest, expires_at, self.clock.time())

    async def _consume_csrf(self, sid: str, token_digest: str) -> bool:
        return await self._run(self._do_consume_csrf, sid, token_digest, self.clock.time())

    async def _acquire(self, key: str, owner: str, ttl: float) -> bool:
        return await self._run(self._do_acquire, key, owner, ttl, self.clock.time())

    async def _release(self, key: str, owner: str) -> bool:
        return await self._run(self._do_release, key, owner)

    async def purge_expired(self) -> int:
        """Delete expired rows now (one statement per table; reads already ignore them)."""
        return await self._run(self._purge, self.clock.time())

    async def close(self) -> None:
        """Wait for running operations, stop the threads, dispose the engine if it is ours."""
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        if self._lite is not None:
            self._lite.close()
        if self._pg is not None:
            await self._pg.close()
        if self._owns_engine:
            self.engine.dispose()

    def __repr__(self) -> str:
        return f"SQLStore({self._where!r}, table_name={self.sessions.name!r})"


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
