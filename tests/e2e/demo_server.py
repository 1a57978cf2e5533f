"""The demo app (rxconfig.py + demo/ at the repository root) as a real ``reflex run --env prod``.

The e2e conftest's :class:`ReflexServer` runs any app folder; this module only prepares one for
the demo: a copy of ``rxconfig.py`` and ``demo/`` in a temporary folder, with the user database
either a SQLite file inside that folder or the PostgreSQL database of ``DATABASE_URL``.

The third backend, ``workers``, is the demo scaled out as docs/deploy.md §2 describes: users in
PostgreSQL, Reflex's Redis state manager (``REFLEX_REDIS_URL``), :data:`WORKERS` granian workers
and sessions in a ``RedisStore`` (``SESSION_STORE_URL``), all in Redis database
:data:`WORKERS_REDIS_DB`, which nothing else uses and which is flushed before and after.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from .conftest import ROOT, ReflexServer

DEMO_SOURCE = ROOT / "demo"
BACKENDS = ("sqlite", "postgres", "workers")
WORKERS = 2
WORKERS_REDIS_DB = 6
WORKERS_STORE_PREFIX = "demo-e2e-session:"


class DemoServer(ReflexServer):
    """A ReflexServer of the demo app that knows where its user database is."""

    backend: str = "sqlite"

    @property
    def database_url(self) -> str:
        if self.backend in ("postgres", "workers"):
            return self.settings["DATABASE_URL"]
        return f"sqlite:///{self.settings['DEMO_SQLITE_PATH']}"

    def engine(self) -> Engine:
        return _engine(self.database_url)


_ENGINES: dict[str, Engine] = {}


def _engine(url: str) -> Engine:
    if url not in _ENGINES:
        _ENGINES[url] = create_engine(url)
    return _ENGINES[url]


def dispose_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def postgres_url() -> str:
    """The test PostgreSQL database; the postgres runs fail (never skip) without it."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        pytest.fail(
            "DATABASE_URL is not set: the demo's PostgreSQL tests need the database that "
            "scripts/test.sh starts. Run the suite with scripts/test.sh (or `source "
            "scripts/_lib.sh && start_postgres` first)."
        )
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def workers_redis_url() -> str:
    """``REDIS_URL`` on database :data:`WORKERS_REDIS_DB`; the workers runs fail without it."""
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        pytest.fail(
            "REDIS_URL is not set: the demo's several-workers tests need the Redis server that "
            "scripts/test.sh starts (`source scripts/_lib.sh && start_redis`)."
        )
    return urlunsplit(urlsplit(url)._replace(path=f"/{WORKERS_REDIS_DB}"))


def flush_workers_redis() -> None:
    import redis

    client = redis.Redis.from_url(workers_redis_url())
    try:
        client.flushdb()
    finally:
        client.close()


def reset_demo_users(url: str) -> None:
    """Put the seeded demo users back as ``demo/seed.py`` makes them (name, role, enabled).

    The PostgreSQL database is shared by every demo server of the run, and a test may rename or
    disable a seeded user (the fault tests rename one after an outage); each server starts from
    the seed, as on a fresh machine. A first run has no table yet: the demo's seed makes it.
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from demo.seed import DEMO_USERS

    engine = _engine(url)
    with engine.begin() as db:
        if not sa.inspect(db).has_table("demo_user"):
            return
        for email, name, role, _password in DEMO_USERS:
            db.execute(
                sa.text(
                    "UPDATE demo_user SET name = :n, role = :r, disabled = false WHERE email = :e"
                ),
                {"n": name, "r": role, "e": email},
            )


def make_demo_server(
    tmp_factory: pytest.TempPathFactory, name: str, backend: str, **settings: str
) -> DemoServer:
    """Copy the demo into a fresh folder; ``backend`` is "sqlite" (a file there), "postgres" or
    "workers" (PostgreSQL users, Redis states and sessions, :data:`WORKERS` workers)."""
    workdir: Path = tmp_factory.mktemp(name)
    shutil.copy2(ROOT / "rxconfig.py", workdir / "rxconfig.py")
    shutil.copytree(
        DEMO_SOURCE,
        workdir / "demo",
        ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.db-journal", "*.db-wal"),
    )
    # the demo's own static files (the favicon); the library's links are made by the build
    shutil.copytree(ROOT / "assets", workdir / "assets", ignore=shutil.ignore_patterns("external"))
    env = dict(settings)
    if backend == "sqlite":
        # an empty DATABASE_URL means "not set" to demo/db.py, whatever the caller's env holds
        env["DATABASE_URL"] = ""
        env["DEMO_SQLITE_PATH"] = str(workdir / "demo.db")
    elif backend == "postgres":
        env["DATABASE_URL"] = postgres_url()
        reset_demo_users(env["DATABASE_URL"])
    elif backend == "workers":
        env["DATABASE_URL"] = postgres_url()
        reset_demo_users(env["DATABASE_URL"])
        env["REFLEX_REDIS_URL"] = workers_redis_url()
        env["GRANIAN_WORKERS"] = str(WORKERS)
        env["SESSION_STORE_URL"] = workers_redis_url()
        env["SESSION_STORE_PREFIX"] = WORKERS_STORE_PREFIX
    else:
        raise ValueError(backend)
    server = DemoServer(name, workdir, env)
    server.backend = backend
    return server


def user_model() -> Any:
    """The demo's own ``User`` table class (demo/db.py), imported from the repository root."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from demo.db import User

    return User
