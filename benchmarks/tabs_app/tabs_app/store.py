"""The store of ``benchmarks/tabs.py``'s store variant, shared by the server and the script.

The server and the script (which mints the tabs' sessions) must open the same storage: a
SQLite file or a PostgreSQL table (``SQLStore``), or a Redis key prefix (``RedisStore``). Both
call :func:`open_store` with the same URL and name; the script drops what the run wrote with
:func:`drop_store` at the end, so a run against a server of one's own leaves nothing behind.
"""

from __future__ import annotations

from reflex_session.stores import RedisStore, SessionStore, SQLStore

REDIS_SCHEMES = ("redis", "rediss", "unix")
#: What ``SQLStore`` is run on here: SQLite and PostgreSQL (psycopg 3, the library's own).
SQL_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


def is_redis(url: str) -> bool:
    """Whether ``url`` names a Redis server (else a SQL database)."""
    return url.split("://", 1)[0] in REDIS_SCHEMES


def open_store(url: str, name: str) -> SessionStore:
    """``RedisStore`` under the prefix ``name:`` for a Redis URL, else ``SQLStore`` on the table
    ``name``."""
    if is_redis(url):
        return RedisStore(url, prefix=f"{name}:")
    return SQLStore(url, table_name=name)


def drop_store(url: str, name: str) -> None:
    """Remove what :func:`open_store` ``(url, name)`` wrote: the Redis keys under its prefix, or
    its tables."""
    if is_redis(url):
        import redis

        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{name}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
        return
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for table in (name, f"{name}_csrf"):
                conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
    finally:
        engine.dispose()
