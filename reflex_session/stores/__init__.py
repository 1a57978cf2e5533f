"""Server-side session stores: the contract and its memory, SQL and Redis backends.

:class:`MemoryStore` is for development only. :class:`SQLStore` (SQLite, PostgreSQL) and
:class:`RedisStore` are imported on first use, so ``redis`` stays an optional dependency
(``pip install reflex-session[redis]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import SessionStore, StoredSession, StoreUnavailable, deep_merge, new_sid
from .memory import MemoryStore

if TYPE_CHECKING:
    from .redis import RedisStore
    from .sql import SQLStore

__all__ = [
    "MemoryStore",
    "RedisStore",
    "SQLStore",
    "SessionStore",
    "StoreUnavailable",
    "StoredSession",
    "deep_merge",
    "new_sid",
]

_LAZY = {
    "RedisStore": (".redis", "pip install reflex-session[redis]"),
    "SQLStore": (".sql", "pip install reflex-session (SQLAlchemy comes with sqlmodel)"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, install = _LAZY[name]
    import importlib

    try:
        module = importlib.import_module(module_name, __name__)
    except ImportError as error:
        if install in str(error):
            raise
        raise ImportError(f"{name} needs an optional dependency ({error}): {install}") from error
    value = getattr(module, name)
    globals()[name] = value
    return value
