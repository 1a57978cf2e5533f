"""The demo's user database: SQLite by default, PostgreSQL when DATABASE_URL is set.

Tables are created on first use (``init_db``); there is nothing to migrate by hand.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel, create_engine

DEFAULT_SQLITE = Path(__file__).resolve().parent.parent / "demo.db"


class User(SQLModel, table=True):
    """A demo account. The password is stored only as an argon2id hash."""

    __tablename__ = "demo_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True, max_length=320)
    name: str = Field(default="", max_length=120)
    password_hash: str
    role: str = Field(default="user", max_length=20)
    disabled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{os.environ.get('DEMO_SQLITE_PATH', DEFAULT_SQLITE)}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # the session store shares this file and switches it to WAL; without synchronous=NORMAL
    # here too, every rename would fsync while holding the write lock the store needs
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.OperationalError:
        pass  # another connection holds a lock right now: only an optimisation
    finally:
        cursor.close()


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def engine() -> Engine:
    return _engine_for(database_url())


def init_db() -> None:
    SQLModel.metadata.create_all(engine())
