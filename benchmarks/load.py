"""Load benchmark: N authenticated websocket clients against the demo in prod mode.

Run from the repository root after ``scripts/test.sh``'s set-up (the venv and bun; ``source
scripts/_lib.sh && ensure_bun`` exports ``REFLEX_BUN_PATH``, else the copy in ``.tools/bun`` is
used)::

    .venv/bin/python benchmarks/load.py                      # 1,000 clients, ~3-4 min
    .venv/bin/python benchmarks/load.py --interval 5         # 4x the pace: past one core
    .venv/bin/python benchmarks/load.py --clients 50 --duration 15 --baseline 40   # smoke run
    .venv/bin/python benchmarks/load.py --database-url "$DATABASE_URL"   # demo on PostgreSQL
    .venv/bin/python benchmarks/load.py --json                # one JSON object per row
    .venv/bin/python benchmarks/load.py --redis-url redis://127.0.0.1:6379/7 --server-workers 3
    .venv/bin/python benchmarks/load.py --patch fix.diff      # a fix of demo/, on the copy only

Progress goes to stderr; stdout has only the table (or only JSON). The exit status is 1 when
there was any error or a p99 ratio is over the target, 2 when the server could not be started.

The server
    The demo (``rxconfig.py`` + ``demo/``) is copied to a temporary folder, as
    ``tests/e2e/demo_server.py`` does, and started with ``reflex run --env prod`` on one free port
    (``SESSION_SECRET`` set; users in a SQLite file in that folder, or, with
    ``--database-url``, in a *fresh* PostgreSQL database created on that server for the run and
    dropped at the end, so the run never touches the tables other people's tests use). One
    backend worker with the demo's state manager (in memory: ``rxconfig.py`` says why), as
    ``scripts/demo.sh`` runs it; ``REFLEX_STATE_MANAGER_MODE=disk`` in the environment measures
    Reflex's default disk manager instead; ``--redis-url``/``--server-workers`` switch to
    Reflex's Redis state manager and several workers. The server is stopped, its log copied to
    ``/tmp/reflex-session-load-<time>.log`` and the folder removed at the end. ``--url`` drives
    a server that is already running instead (see ``--help``).

The clients (``benchmarks/_load_client.py``)
    Every client is a browser tab done with python-socketio's ``AsyncClient`` (aiohttp): the
    socket ``/_event`` with ``?token=<uuid>``, the browser's HttpOnly cookies (its own binding
    cookie ``session_bind`` and its own ``session`` cookie), ``Origin`` and ``User-Agent`` in the
    handshake, the hydrate event inside the socket.io CONNECT packet, events as ``state.js``
    emits them, and the session runtime's ``POST /api/session/sync`` ``{token}`` with the same
    cookies after every ``sync_seq`` bump, keeping the ``Set-Cookie`` it answers, as the browser
    does. Each tab is its own browser with its own session and its own binding (43 random
    base64url characters made by the client, sent from the first request on, as by a browser
    that already has one); a real login's tab hands both to the crowd tab that uses its session.

    One action, every ``--interval`` seconds per tab, alternately:

    * save: on ``/profile``, ``ProfileState.set_name`` (unguarded, a typed name) then
      ``ProfileState.save`` (``@guarded``: the middleware checks the session, in store mode with
      a store read; the handler renames the user in the demo's database and calls
      ``update_session``), then the sync (an ``update`` applied to the store);
    * refresh: ``SessionState.refresh`` (the session page's "Refresh now"), then the sync (the
      stored session's expiry moves, a new cookie is set).

    Each event is timed from the emit to the arrival of its own delta (matched by content: the
    typed name, ``saved``, a higher ``sync_seq``); the sync from the request to the answer.
    Connects are timed from the handshake to the hydrate delta.

Authentication
    ``--real-logins`` (default 20) tabs log in for real: the ``/login`` page's form event
    (``AuthFormState.submit_login`` with a demo user of ``demo/seed.py``), then the sync that
    sets the cookie. The rest of the sessions are minted with the demo's own store and config
    (``SQLStore(table_name="demo_session")`` on the demo's database, the same secret and expiry
    settings as ``demo/demo.py``, ``auth.create_session`` with the same ``meta``): the same rows
    and the same cookies a login writes. Why not 1,000 real logins: the demo hashes with argon2id
    (~0.17 s of CPU per verify here, in a worker thread), so 1,000 of them would take minutes
    of the server's CPU and measure argon2, not the session layer. ``--real-logins N`` makes
    that choice (``--real-logins 1000`` does them all).
    Only failed logins count towards the demo's rate limiter, and every login here succeeds.

Phases
    1. baseline (before): one tab alone: ``--baseline`` actions back to back (50 ms apart), and
       10 connects of fresh tabs one after another;
    2. the crowd connects (``--concurrency`` handshakes at a time, spread over ``--workers``
       client processes); memory is measured before and after: the RSS (psutil) of the whole
       server process tree after all N connected minus before, divided by N; then 10 s idle
       (the server's CPU with the crowd connected and nobody acting);
    3. warm-up: one interval of paced actions (not measured, errors count), then ``--duration``
       seconds measured. Tab i starts at ``i/N x interval``, so the offered load is steady:
       N / interval actions per second (each = 2 events + 1 sync, or 1 event + 1 sync). The
       default, every 20 s, offers 50 actions/s from 1,000 tabs: about 60 % of the one core a
       worker can use (~12 ms of server CPU per action, measured); every 5 s is past it, and
       then the ratio measures the queue, not the session layer;
    4. the crowd disconnects; 5. baseline (after), the same as 1, to show drift.

    p50, p99 and max per kind; the p99 ratio is the crowd's p99 over the *before* baseline's
    p99 of the same kind. Target (the issue): 0 errors, and p99 ratio <= ``--target-ratio``
    (5x) for every kind of event and the sync. Errors are any exception, a refusal (a guard
    redirect, the status leaving ``authenticated``), a delta missing after 30 s, a sync answer
    that is not 200 (403: the tab's binding refused) or not ``authenticated``, or that sets
    another binding cookie. The run's wall time, the CPU used by the server and by the client
    processes and the machine's load average are printed: on a shared machine they say whether
    a missed target is the server's or the neighbours'.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import psutil  # type: ignore[import-untyped]  # noqa: E402
from _load_client import (  # noqa: E402
    FORM_SUFFIX,
    Stats,
    Tab,
    TabError,
    new_binding,
    new_http,
)
from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from reflex_session import ReflexSession  # noqa: E402
from reflex_session.stores import SQLStore  # noqa: E402
from tests.e2e.conftest import SECRET, ReflexServer  # noqa: E402

DEMO_USERS = (  # demo/seed.py
    ("user@example.com", "user-password-123"),
    ("admin@example.com", "admin-password-123"),
)
DEMO_EXPIRY = 8 * 3600  # demo/demo.py's default DEMO_SESSION_EXPIRY
KINDS = ("set_name", "guarded save", "refresh", "sync")  # gated by the target
BASELINE_CONNECTS = 10
BASELINE_GAP_S = 0.05
IDLE_S = 10.0

_BEGAN = time.monotonic()


def progress(message: str) -> None:
    print(f"[load {time.monotonic() - _BEGAN:6.1f}s] {message}", file=sys.stderr, flush=True)


class SetupError(Exception):
    """The run cannot start or go on (server, database, a client worker died); exit status 2."""


# -- the server ----------------------------------------------------------------------------------


def make_demo_server(
    database_url: str | None,
    patch: Path | None = None,
    redis_url: str | None = None,
    workers: int = 1,
) -> ReflexServer:
    """A copy of the demo in a temporary folder (as ``tests/e2e/demo_server.py`` makes one).

    ``patch`` (a ``git diff`` of ``demo/``) is applied to the copy, never to the checkout: the
    way to measure a proposed fix against the same run.
    """
    workdir = Path(tempfile.mkdtemp(prefix="reflex-session-load-"))
    shutil.copy2(ROOT / "rxconfig.py", workdir / "rxconfig.py")
    shutil.copytree(
        ROOT / "demo",
        workdir / "demo",
        ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.db-journal", "*.db-wal"),
    )
    if patch is not None:
        applied = subprocess.run(
            ["git", "apply", "--verbose", str(patch.resolve())],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        if applied.returncode != 0:
            shutil.rmtree(workdir, ignore_errors=True)
            raise SetupError(f"{patch} does not apply to demo/: {applied.stderr.strip()}")
        progress(f"applied {patch} to the copy of the demo")
    # the settings demo_auth() mints with; sessions in the demo's database (not Redis)
    env = {
        "SESSION_SECRET": SECRET,
        "DEMO_SESSION_EXPIRY": str(DEMO_EXPIRY),
        "SESSION_STORE_URL": "",
    }
    if database_url is None:
        env["DATABASE_URL"] = ""  # empty: demo/db.py uses DEMO_SQLITE_PATH
        env["DEMO_SQLITE_PATH"] = str(workdir / "demo.db")
    else:
        env["DATABASE_URL"] = database_url
    if redis_url:
        # several workers (docs/deploy.md): tab states in Redis, so any worker takes any event
        env["REFLEX_REDIS_URL"] = redis_url
        env["GRANIAN_WORKERS"] = str(workers)
    return ReflexServer("load", workdir, env)


def sqlalchemy_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` as demo/db.py reads them (psycopg 3)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@contextlib.contextmanager
def fresh_postgres_database(url: str, settings: Sequence[str] = ()) -> Iterator[str]:
    """A new database on the server of ``url`` for this run; dropped afterwards.

    ``settings`` (``NAME=VALUE``, from ``--pg-set``) become the database's own defaults
    (``ALTER DATABASE ... SET``): they change this run's database only, never the server's.
    """
    base = make_url(sqlalchemy_url(url))
    name = f"reflex_session_load_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            for setting in settings:
                key, _, value = setting.partition("=")
                if not re.fullmatch(r"[a-z_]+", key) or not re.fullmatch(r"[A-Za-z0-9_.]+", value):
                    raise SetupError(f"--pg-set {setting!r}: expected name=value")
                conn.execute(text(f'ALTER DATABASE "{name}" SET {key} = {value}'))
    except Exception as exc:
        admin.dispose()
        raise SetupError(f"cannot create a database on {base.host}: {exc}") from exc
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start(server: ReflexServer) -> None:
    try:
        server.start()
    except BaseException as exc:  # pytest.fail raises a BaseException subclass
        raise SetupError(f"the demo server did not start: {exc}") from exc


def keep_log(server: ReflexServer) -> None:
    """Copy the server's log out of the folder about to be removed (where to look for why)."""
    if server.log_path.exists():
        kept = Path(tempfile.gettempdir()) / f"reflex-session-load-{time.strftime('%H%M%S')}.log"
        shutil.copy2(server.log_path, kept)
        progress(f"server log kept: {kept}")


def tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants, in bytes."""
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process tree."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def worker_cpu(worker: Worker) -> float:
    with contextlib.suppress(psutil.Error):
        return tree_cpu(worker.process.pid)
    return 0.0


# -- sessions ------------------------------------------------------------------------------------


def demo_auth(database_url: str) -> ReflexSession[Any]:
    """The demo's ``auth`` (demo/demo.py), for minting sessions: same store, secret and policy."""
    return ReflexSession(
        store=SQLStore(database_url, table_name="demo_session"),
        secret_key=SECRET,
        session_expiry=DEMO_EXPIRY,
        refresh_threshold=max(1, min(DEMO_EXPIRY // 4, 3600)),
        max_lifetime=max(DEMO_EXPIRY, 7 * 24 * 3600),
    )


def demo_users(database_url: str, count: int = 0) -> list[dict[str, str]]:
    """Users as ``demo/accounts.py::session_user`` puts them in a session: ``count`` people of
    their own (``load-NNNN@load.example``, created when missing), else the seeded ones.

    One user per minted session, as 1,000 real people would be: with two users, 500 tabs would
    rename the same row, and on PostgreSQL every rename would wait for the previous one's commit
    (a hot row no real crowd has)."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            if count:
                have = {
                    r[0]
                    for r in conn.execute(
                        text("SELECT email FROM demo_user WHERE email LIKE 'load-%@load.example'")
                    )
                }
                # nobody signs in with these: one hash of a random password serves them all
                unusable = PasswordHasher().hash(secrets.token_urlsafe(16))
                missing = [
                    {"e": f"load-{i:04d}@load.example", "n": f"Load {i}", "h": unusable}
                    for i in range(count)
                    if f"load-{i:04d}@load.example" not in have
                ]
                if missing:
                    conn.execute(
                        text(
                            "INSERT INTO demo_user (email, name, password_hash, role, disabled,"
                            " created_at) VALUES (:e, :n, :h, 'user', false, CURRENT_TIMESTAMP)"
                        ),
                        missing,
                    )
                where = "WHERE email LIKE 'load-%@load.example'"
            else:
                where = ""
            rows = conn.execute(
                text(f"SELECT id, email, name, role FROM demo_user {where} ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    users = [{"id": str(r[0]), "email": r[1], "name": r[2], "role": r[3]} for r in rows]
    if not users:
        raise SetupError("the demo database has no users (did demo/seed.py run?)")
    return users


async def mint(auth: ReflexSession[Any], users: list[dict[str, str]], count: int) -> list[str]:
    """``count`` sessions written as a login writes them; their cookie values."""
    cookies = []
    for i in range(count):
        jar = auth.jar("")
        session = auth.new_session(dict(users[i % len(users)]))
        meta = {"userAgent": "load.py (minted)", "ip": "127.0.0.1"}
        await auth.create_session(jar, session, meta=meta)
        header = jar.set_cookie_headers[0]
        cookies.append(header.split(";", 1)[0].partition("=")[2])
    return cookies


#: A browser of the run: its ``session`` cookie value and its ``session_bind`` value.
Browser = tuple[str, str]


async def real_logins(url: str, count: int) -> tuple[list[Browser], list[float]]:
    """``count`` logins through the /login page's form and the sync, each in a browser of its
    own: the browsers (session cookie, binding) and the times (ms)."""
    browsers: list[Browser] = []
    times: list[float] = []
    async with new_http(limit=4) as http:
        for i in range(count):
            email, password = DEMO_USERS[i % len(DEMO_USERS)]
            tab = Tab(url, http, None, path="/login", label=f"login-{i}")
            try:
                await tab.connect()
                tab.state(FORM_SUFFIX)
                times.append(await tab.login(email, password))
                assert tab.cookie is not None  # login() checked it
                browsers.append((tab.cookie, tab.binding))
            finally:
                await tab.close()
    return browsers, times


async def end_sessions(auth: ReflexSession[Any], cookies: list[str]) -> None:
    """Destroy exactly the sessions of this run (``--url``: never anyone else's)."""
    for cookie in cookies:
        await auth.delete_session(auth.jar(f"session={cookie}"))


# -- the single client ---------------------------------------------------------------------------


async def baseline(url: str, browser: Browser, actions: int, refresh_every: int) -> Stats:
    """One tab alone: ``actions`` actions 50 ms apart, and fresh-tab connects one at a time.

    Every tab is a new tab of the same browser (the same session cookie and binding)."""
    stats = Stats()
    cookie, binding = browser
    async with new_http(limit=4) as http:
        for i in range(BASELINE_CONNECTS):
            tab = Tab(url, http, cookie, binding=binding, label=f"base-connect-{i}")
            try:
                stats.samples["connect"].append(await tab.connect())
                tab.check("connect")
            except (TabError, Exception) as exc:
                stats.errors.append(f"baseline connect: {exc}"[:200])
            finally:
                await tab.close()
        tab = Tab(url, http, cookie, binding=binding, label="base")
        try:
            await tab.connect()
            for step in range(actions):
                await tab.act(step, stats, refresh_every)
                await asyncio.sleep(BASELINE_GAP_S)
        finally:
            await tab.close()
    return stats


# -- the crowd -----------------------------------------------------------------------------------


@dataclass
class Worker:
    """One client process of the crowd (``_load_client.py`` run as a script)."""

    process: subprocess.Popen[str]
    labels: list[str]
    stderr: IO[str]

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = _readline(self.process.stdout, timeout)
        if not line:
            self.stderr.seek(0)
            raise SetupError(f"a client worker died:\n{self.stderr.read()[-3000:]}")
        data: dict[str, Any] = json.loads(line)
        return data


def _readline(stream: IO[str], timeout: float) -> str:
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise SetupError(f"a client worker did not answer within {timeout:.0f} s")
    return stream.readline()


def spawn_workers(
    url: str, browsers: list[Browser], count: int, concurrency: int, path: str, **options: Any
) -> list[Worker]:
    """``count`` client processes that connect the browsers' tabs between them; ``options`` go
    in their setup line (``session_layer``, ``mount_sync``: see ``_load_client.worker``)."""
    workers = []
    for w in range(count):
        mine = list(range(w, len(browsers), count))
        labels = [f"c{i}" for i in mine]
        stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in close_workers
        process = subprocess.Popen(
            [sys.executable, str(HERE / "_load_client.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])},
        )
        worker = Worker(process, labels, stderr)
        worker.send(
            {
                **options,
                "url": url,
                "path": path,
                "concurrency": max(1, concurrency // count),
                "clients": [
                    {"label": label, "cookie": browsers[i][0], "binding": browsers[i][1]}
                    for label, i in zip(labels, mine, strict=True)
                ],
            }
        )
        workers.append(worker)
    return workers


def close_workers(workers: list[Worker]) -> None:
    for worker in workers:
        with contextlib.suppress(Exception):
            worker.send({"cmd": "close"})
    for worker in workers:
        with contextlib.suppress(Exception):
            worker.receive(60)
        try:
            worker.process.wait(30)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(5)
        worker.stderr.close()


def run_crowd(
    workers: list[Worker], total: int, *, duration: float, interval: float, refresh_every: int
) -> tuple[Stats, float]:
    """One paced run of every connected tab: the merged stats and the run's wall seconds.

    The wall time is longer than ``duration`` when the server falls behind: a tab finishes the
    actions it started before the end, and a tab that is late runs its remaining ones.
    """
    start_at = time.time() + 1.0
    for w, worker in enumerate(workers):
        mine = range(w, total, len(workers))
        worker.send(
            {
                "cmd": "run",
                "start_at": start_at,
                "duration": duration,
                "interval": interval,
                "offsets": [i / total * interval for i in mine],
                "refresh_every": refresh_every,
            }
        )
    stats = Stats()
    for worker in workers:
        answer = worker.receive(duration + 600)
        stats.merge(Stats.from_json(answer))
    return stats, time.time() - start_at


# -- results -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass
class Row:
    kind: str
    crowd: list[float]
    before: list[float]
    after: list[float]
    gated: bool

    @property
    def ratio(self) -> float | None:
        if not self.crowd or not self.before:
            return None
        return percentile(self.crowd, 99) / percentile(self.before, 99)

    def as_json(self) -> dict[str, Any]:
        def summary(values: list[float]) -> dict[str, Any] | None:
            if not values:
                return None
            return {
                "n": len(values),
                "p50_ms": round(statistics.median(values), 2),
                "p99_ms": round(percentile(values, 99), 2),
                "max_ms": round(max(values), 2),
            }

        ratio = self.ratio
        return {
            "name": self.kind,
            "crowd": summary(self.crowd),
            "single_before": summary(self.before),
            "single_after": summary(self.after),
            "p99_ratio": None if ratio is None else round(ratio, 2),
            "gated": self.gated,
        }


@dataclass
class Result:
    clients: int
    connected: int
    interval: float
    duration: float
    workers: int
    real_logins: int
    minted: int
    login_ms: list[float]
    mint_s: float
    connect_s: float
    rss_before: int | None
    rss_connected: int | None
    rss_after_run: int | None
    server_cpu_s: float | None
    idle_cpu: float | None  # server CPU seconds per second with the crowd connected and idle
    load: tuple[float, float]  # the machine's 1-minute load average at the run's start and end
    clients_cpu_s: float
    wall_s: float
    refresh_every: int
    actions: int
    late_starts: int
    errors: list[str]
    rows: list[Row]
    target_ratio: float
    database: str
    notes: list[str] = field(default_factory=list)

    @property
    def per_session_kib(self) -> float | None:
        if self.rss_before is None or self.rss_connected is None or not self.connected:
            return None
        return (self.rss_connected - self.rss_before) / self.connected / 1024

    @property
    def worst_ratio(self) -> float | None:
        ratios = [r.ratio for r in self.rows if r.gated and r.ratio is not None]
        return max(ratios) if ratios else None

    @property
    def met(self) -> bool:
        worst = self.worst_ratio
        gated_ok = all(r.crowd and r.before for r in self.rows if r.gated)
        return (
            not self.errors
            and self.connected == self.clients
            and gated_ok
            and worst is not None
            and worst <= self.target_ratio
        )


def print_table(result: Result) -> None:
    offered = result.connected / result.interval
    print(
        f"reflex-session load benchmark: {result.connected}/{result.clients} clients on the demo"
        f" (reflex run --env prod, {result.database}), {result.workers} client processes"
    )
    print(
        f"each client acts every {result.interval:g} s, staggered (a guarded save, every"
        f" {result.refresh_every}th a refresh): offered {offered:.0f} actions/s for"
        f" {result.duration:g} s ({result.actions} actions, {result.late_starts} started a whole"
        " interval late)"
    )
    header = (
        f"{'kind':<13} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f"   {'single p50':>10} {'p99':>7}   {'after p99':>9}   {'p99 ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in result.rows:
        if row.crowd:
            crowd = (
                f"{len(row.crowd):>6} {statistics.median(row.crowd):>8.2f}"
                f" {percentile(row.crowd, 99):>8.2f} {max(row.crowd):>8.2f}"
            )
        else:
            crowd = f"{0:>6} {'-':>8} {'-':>8} {'-':>8}"
        single = (
            f"{statistics.median(row.before):>10.2f} {percentile(row.before, 99):>7.2f}"
            if row.before
            else f"{'-':>10} {'-':>7}"
        )
        after = f"{percentile(row.after, 99):>9.2f}" if row.after else f"{'-':>9}"
        ratio = row.ratio
        shown = "-" if ratio is None else f"{ratio:.2f}x" + ("" if row.gated else " (info)")
        print(f"{row.kind:<13} {crowd}   {single}   {after}   {shown:>9}")
    print()
    per = result.per_session_kib
    if per is not None and result.rss_before is not None and result.rss_connected is not None:
        print(
            f"memory: server tree RSS {result.rss_before / 2**20:.0f} MiB before,"
            f" {result.rss_connected / 2**20:.0f} MiB with {result.connected} connected"
            f" -> {per:.1f} KiB per connected session"
            + (
                f" ({result.rss_after_run / 2**20:.0f} MiB after the run)"
                if result.rss_after_run
                else ""
            )
        )
    else:
        print("memory: not measured (no server pid: pass --server-pid with --url)")
    cpu = (
        f"server {result.server_cpu_s:.0f} s ({100 * result.server_cpu_s / result.wall_s:.0f}%"
        " of a core), "
        if result.server_cpu_s is not None
        else ""
    )
    if result.idle_cpu is not None:
        print(
            f"idle: the server used {100 * result.idle_cpu:.0f}% of a core with"
            f" {result.connected} tabs connected and no action"
        )
    print(
        f"measured run: {result.wall_s:.0f} s of wall time for {result.duration:g} s of schedule;"
        f" CPU {cpu}client processes {result.clients_cpu_s:.0f} s"
        f" ({100 * result.clients_cpu_s / result.wall_s:.0f}%) on {psutil.cpu_count()} CPUs;"
        f" machine load average {result.load[0]:.1f} -> {result.load[1]:.1f}"
    )
    logins = result.login_ms
    print(
        f"sessions: {result.real_logins} real logins"
        + (f" (p50 {statistics.median(logins):.0f} ms, max {max(logins):.0f} ms)" if logins else "")
        + f", {result.minted} minted with the demo's store in {result.mint_s:.1f} s;"
        f" crowd connected in {result.connect_s:.1f} s"
    )
    counts = Counter(e.split(":")[0] for e in result.errors)
    print(
        f"errors: {len(result.errors)}"
        + (" (" + ", ".join(f"{k}: {n}" for k, n in counts.most_common()) + ")" if counts else "")
    )
    for error in list(dict.fromkeys(result.errors))[:5]:
        print(f"  e.g. {error}")
    worst = result.worst_ratio
    print(
        f"target: 0 errors, all {result.clients} connected, p99 <= {result.target_ratio:g}x"
        f" single client for {', '.join(KINDS)} -> worst"
        f" {'-' if worst is None else f'{worst:.2f}x'}: " + ("MET" if result.met else "NOT MET")
    )
    for note in result.notes:
        print(f"note: {note}")


def result_json(result: Result) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [row.as_json() for row in result.rows]
    rows.append(
        {
            "name": "summary",
            "clients": result.clients,
            "connected": result.connected,
            "workers": result.workers,
            "interval_s": result.interval,
            "duration_s": result.duration,
            "offered_actions_per_s": round(result.connected / result.interval, 1),
            "actions": result.actions,
            "late_starts": result.late_starts,
            "errors": len(result.errors),
            "error_samples": list(dict.fromkeys(result.errors))[:20],
            "rss_before_mib": None
            if result.rss_before is None
            else round(result.rss_before / 2**20, 1),
            "rss_connected_mib": None
            if result.rss_connected is None
            else round(result.rss_connected / 2**20, 1),
            "per_session_kib": None
            if result.per_session_kib is None
            else round(result.per_session_kib, 1),
            "server_cpu_s": None if result.server_cpu_s is None else round(result.server_cpu_s, 1),
            "clients_cpu_s": round(result.clients_cpu_s, 1),
            "load_average": [round(x, 2) for x in result.load],
            "idle_server_cpu_percent": None
            if result.idle_cpu is None
            else round(100 * result.idle_cpu, 1),
            "wall_s": round(result.wall_s, 1),
            "refresh_every": result.refresh_every,
            "real_logins": result.real_logins,
            "minted": result.minted,
            "database": result.database,
            "worst_p99_ratio": None if result.worst_ratio is None else round(result.worst_ratio, 2),
            "target_ratio": result.target_ratio,
            "met": result.met,
        }
    )
    return rows


# -- the run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace, url: str, pid: int | None, database_url: str) -> Result:
    auth = demo_auth(database_url) if args.mint else None
    browsers: list[Browser] = []
    try:
        # people of their own when the database is this run's; someone else's: the seeded ones
        own = args.clients if args.mint and not args.url else 0
        users = demo_users(database_url, own) if args.mint else []
        real = min(args.real_logins, args.clients) if args.mint else args.clients
        progress(f"{real} real logins through the /login form and the sync")
        login_browsers, login_ms = asyncio.run(real_logins(url, real + 1))
        browsers += login_browsers
        base = browsers.pop()  # the single client's own browser and session (a real login too)
        began = time.monotonic()
        minted = args.clients - real
        if minted:
            assert auth is not None
            progress(f"minting {minted} sessions with the demo's store")
            # a minted session goes to a browser of its own, with a binding of its own
            minted_cookies = asyncio.run(mint(auth, users, minted))
            browsers += [(cookie, new_binding()) for cookie in minted_cookies]
        mint_s = time.monotonic() - began

        progress(f"baseline (before): one client alone, {args.baseline} actions")
        before = asyncio.run(baseline(url, base, args.baseline, args.refresh_every))

        gc.collect()
        time.sleep(1.0)
        rss_before = tree_rss(pid) if pid else None
        progress(
            f"connecting {args.clients} clients ({args.workers} processes,"
            f" {args.concurrency} handshakes at a time)"
        )
        began = time.monotonic()
        workers = spawn_workers(url, browsers, args.workers, args.concurrency, "/profile")
        try:
            connected = 0
            crowd_errors: list[str] = []
            connect_ms: list[float] = []
            for worker in workers:
                answer = worker.receive(600)
                connected += int(answer["connected"])
                got = Stats.from_json(answer)
                crowd_errors += got.errors
                connect_ms += got.samples["connect"]
            connect_s = time.monotonic() - began
            progress(f"{connected} connected in {connect_s:.1f} s")
            time.sleep(2.0)
            rss_connected = tree_rss(pid) if pid else None
            # what N connected tabs cost when nobody acts (keep-alives, the state manager)
            idle_cpu = None
            if pid:
                progress(f"idle: {IDLE_S:g} s with {connected} connected tabs and no action")
                idle_before = tree_cpu(pid)
                time.sleep(IDLE_S)
                idle_cpu = (tree_cpu(pid) - idle_before) / IDLE_S

            progress(f"warm-up: {args.interval:g} s of paced actions")
            warm, _ = run_crowd(
                workers,
                args.clients,
                duration=args.interval,
                interval=args.interval,
                refresh_every=args.refresh_every,
            )
            crowd_errors += [f"warm-up {e}" for e in warm.errors]
            progress(f"measured run: {args.duration:g} s")
            cpu_before = tree_cpu(pid) if pid else None
            load_before = os.getloadavg()[0]
            clients_cpu_before = sum(worker_cpu(w) for w in workers)
            crowd, wall = run_crowd(
                workers,
                args.clients,
                duration=args.duration,
                interval=args.interval,
                refresh_every=args.refresh_every,
            )
            server_cpu = tree_cpu(pid) - cpu_before if pid and cpu_before is not None else None
            clients_cpu = sum(worker_cpu(w) for w in workers) - clients_cpu_before
            load = (load_before, os.getloadavg()[0])
            rss_after_run = tree_rss(pid) if pid else None
            crowd_errors += crowd.errors
        finally:
            progress("disconnecting the crowd")
            close_workers(workers)
        time.sleep(2.0)
        progress(f"baseline (after): one client alone, {args.baseline} actions")
        after = asyncio.run(baseline(url, base, args.baseline, args.refresh_every))
    finally:
        if auth is not None and args.url:
            asyncio.run(end_sessions(auth, [cookie for cookie, _ in browsers]))

    crowd.samples["connect"] = connect_ms
    rows = [
        Row(
            kind,
            crowd.samples.get(kind, []),
            before.samples.get(kind, []),
            after.samples.get(kind, []),
            kind in KINDS,
        )
        for kind in (*KINDS, "connect")
    ]
    errors = [f"baseline {e}" for e in before.errors + after.errors] + crowd_errors
    result = Result(
        clients=args.clients,
        connected=connected,
        interval=args.interval,
        duration=args.duration,
        workers=args.workers,
        real_logins=real,
        minted=minted,
        login_ms=login_ms,
        mint_s=mint_s,
        connect_s=connect_s,
        rss_before=rss_before,
        rss_connected=rss_connected,
        rss_after_run=rss_after_run,
        server_cpu_s=server_cpu,
        idle_cpu=idle_cpu,
        load=load,
        clients_cpu_s=clients_cpu,
        wall_s=wall,
        refresh_every=args.refresh_every,
        actions=crowd.actions,
        late_starts=crowd.late_starts,
        errors=errors,
        rows=rows,
        target_ratio=args.target_ratio,
        database=("PostgreSQL" if database_url.startswith("postgresql") else "SQLite")
        + "".join(f", {setting}" for setting in args.pg_set)
        + (f", {args.server_workers} workers + Redis states" if args.redis_url else "")
        + (f", demo copy patched with {args.patch.name}" if args.patch else ""),
    )
    result.notes.append(
        "connect is not gated: the crowd connects in a burst of"
        f" {args.concurrency} handshakes at a time, the single client alone"
    )
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="tabs in the crowd (1000)")
    parser.add_argument(
        "--duration", type=float, default=60.0, help="measured seconds of paced actions (60)"
    )
    parser.add_argument(
        "--interval", type=float, default=20.0, help="seconds between one tab's actions (20)"
    )
    parser.add_argument(
        "--refresh-every",
        type=int,
        default=2,
        help="every k-th action is a refresh, the others guarded saves (2: alternate)",
    )
    parser.add_argument("--workers", type=int, default=2, help="client processes (2)")
    parser.add_argument(
        "--concurrency", type=int, default=50, help="handshakes in flight while connecting (50)"
    )
    parser.add_argument(
        "--real-logins",
        type=int,
        default=20,
        help="sessions made by a real login; the rest are minted (20)",
    )
    parser.add_argument(
        "--baseline", type=int, default=200, help="single-client actions, before and after (200)"
    )
    parser.add_argument(
        "--database-url",
        help="run the demo on PostgreSQL: a fresh database is created on this server and dropped",
    )
    parser.add_argument(
        "--pg-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="with --database-url: a setting of the run's own database, e.g."
        " synchronous_commit=off to see what PostgreSQL's commit fsync costs (repeatable)",
    )
    parser.add_argument(
        "--url",
        help="drive a demo that is already running (its SESSION_SECRET must be the e2e secret"
        " and --database-url its database for minting; otherwise every session is a real login)",
    )
    parser.add_argument("--server-pid", type=int, help="with --url: the server pid, for memory")
    parser.add_argument(
        "--redis-url",
        help="run the demo with Reflex's Redis state manager (REFLEX_REDIS_URL) and"
        " --server-workers workers; tab states expire in Redis on their own",
    )
    parser.add_argument(
        "--server-workers", type=int, default=1, help="backend workers, with --redis-url (1)"
    )
    parser.add_argument(
        "--patch",
        type=Path,
        help="apply this diff (paths demo/...) to the temporary copy of the demo: measures a fix",
    )
    parser.add_argument("--target-ratio", type=float, default=5.0, help="p99 ratio target (5)")
    parser.add_argument("--json", action="store_true", help="one JSON object per row on stdout")
    args = parser.parse_args(argv)
    if (
        min(args.clients, args.workers, args.refresh_every) < 1
        or min(args.interval, args.duration) <= 0
    ):
        parser.error("--clients, --workers, --refresh-every, --interval, --duration: positive")
    if args.server_workers != 1 and not args.redis_url:
        parser.error("--server-workers needs --redis-url (tab states shared through Redis)")
    args.workers = min(args.workers, args.clients)
    args.mint = not args.url or bool(args.database_url)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server: ReflexServer | None = None
    if not args.url:
        # one worker with Reflex's default state manager: what ``scripts/demo.sh`` runs
        for name in ("REFLEX_REDIS_URL", "GRANIAN_WORKERS"):
            os.environ.pop(name, None)
    try:
        with contextlib.ExitStack() as stack:
            if args.url:
                url, pid = args.url.rstrip("/"), args.server_pid
                database_url = sqlalchemy_url(args.database_url) if args.database_url else ""
            else:
                database_url = ""
                if args.database_url:
                    database_url = stack.enter_context(
                        fresh_postgres_database(args.database_url, args.pg_set)
                    )
                server = make_demo_server(
                    database_url or None, args.patch, args.redis_url, args.server_workers
                )
                stack.callback(shutil.rmtree, server.workdir, True)
                stack.callback(keep_log, server)
                stack.callback(server.stop)
                progress("starting the demo (reflex run --env prod)")
                start(server)
                assert server.process is not None
                url, pid = server.url, server.process.pid
                if not database_url:
                    database_url = f"sqlite:///{server.settings['DEMO_SQLITE_PATH']}"
                progress(f"demo up at {url}")
            result = run(args, url, pid, database_url)
            progress("stopping the demo")
    except SetupError as exc:
        print(f"load benchmark could not run: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for row in result_json(result):
            print(json.dumps(row))
    else:
        print_table(result)
    return 0 if result.met else 1


if __name__ == "__main__":
    sys.exit(main())
