"""A session store in this process's memory: for development and tests only.

It forgets every session when the process restarts, and each worker process has its own: with
several workers a user is signed in on one and not on the next. It says so, once, when created.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from .base import (
    CSRF_LIMIT,
    SessionStore,
    StoredSession,
    decode_object,
    deep_merge,
    encode_json,
)

__all__ = ["MemoryStore"]

log = logging.getLogger("reflex_session")

WARNING = (
    "MemoryStore keeps sessions in this process only: every session is lost on restart, and it "
    "does not work with several workers (each has its own sessions). Use it for development and "
    "tests; in production use SQLStore('postgresql+psycopg://...') or SQLStore('sqlite:///file') "
    "for a single server, or RedisStore('redis://...')."
)

#: Expired sessions are swept at most this often (clock seconds), during ``set``.
SWEEP_INTERVAL = 60.0


@dataclass(slots=True)
class _Record:
    user_id: str | None
    data: str  # JSON text, so reads give fresh objects and values match the other backends
    created_at: float
    touched_at: float
    expires_at: float
    meta: str

    def snapshot(self, sid: str) -> StoredSession:
        return StoredSession(
            sid=sid,
            user_id=self.user_id,
            data=decode_object(self.data),
            created_at=self.created_at,
            touched_at=self.touched_at,
            expires_at=self.expires_at,
            meta=decode_object(self.meta),
        )


class MemoryStore(SessionStore):
    """Sessions in a ``dict``. Development only (see the module docstring).

    Atomicity: no method awaits anything while it reads and writes, so within one event loop
    every method is already indivisible; a :class:`threading.Lock` around each one also keeps
    it so when several event loops (threads) share the store. (An :class:`asyncio.Lock` would
    add nothing here and would tie the store to the first event loop that uses it.)
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._sessions: dict[str, _Record] = {}
        self._by_user: dict[str, set[str]] = {}
        self._csrf: dict[str, dict[str, float]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock.time()
        log.warning(WARNING)

    # -- helpers (called with the lock held) ---------------------------------------------------

    def _live(self, sid: str, now: float) -> _Record | None:
        record = self._sessions.get(sid)
        if record is None or record.expires_at <= now:
            return None
        return record

    def _unindex(self, sid: str, user_id: str | None) -> None:
        if user_id is None:
            return
        sids = self._by_user.get(user_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self._by_user[user_id]

    def _drop(self, sid: str) -> _Record | None:
        record = self._sessions.pop(sid, None)
        self._csrf.pop(sid, None)
        if record is not None:
            self._unindex(sid, record.user_id)
        return record

    def _put(
        self, sid: str, data: str, user_id: str | None, expires_at: float, meta: str | None
    ) -> None:
        now = self.clock.time()
        old = self._sessions.get(sid)
        live = old is not None and old.expires_at > now
        if old is not None and old.user_id != user_id:
            self._unindex(sid, old.user_id)
        self._sessions[sid] = _Record(
            user_id=user_id,
            data=data,
            created_at=old.created_at if live and old is not None else now,
            touched_at=now,
            expires_at=expires_at,
            meta=meta if meta is not None else (old.meta if live and old is not None else "{}"),
        )
        if user_id is not None:
            self._by_user.setdefault(user_id, set()).add(sid)

    def _sweep(self, now: float) -> int:
        self._last_sweep = now
        dead = [sid for sid, record in self._sessions.items() if record.expires_at <= now]
        for sid in dead:
            self._drop(sid)
        for key in [k for k, (_, until) in self._leases.items() if until <= now]:
            del self._leases[key]
        for sid, tokens in list(self._csrf.items()):
            for digest in [d for d, expires in tokens.items() if expires <= now]:
                del tokens[digest]
            if not tokens:
                del self._csrf[sid]
        return len(dead)

    # -- the hooks (arguments already checked by SessionStore) --------------------------------

    async def _get(self, sid: str) -> StoredSession | None:
        with self._lock:
            record = self._live(sid, self.clock.time())
            return None if record is None else record.snapshot(sid)

    async def _set(
        self, sid: str, data: str, user_id: str | None, expires_at: float, meta: str | None
    ) -> None:
        with self._lock:
            now = self.clock.time()
            if now - self._last_sweep >= SWEEP_INTERVAL:
                self._sweep(now)
            self._put(sid, data, user_id, expires_at, meta)

    async def _touch(self, sid: str, expires_at: float) -> bool:
        with self._lock:
            now = self.clock.time()
            record = self._live(sid, now)
            if record is None:
                return False
            record.expires_at = expires_at
            record.touched_at = now
            return True

    async def _destroy(self, sid: str) -> None:
        with self._lock:
            self._drop(sid)

    async def _list_for_user(self, user_id: str) -> list[StoredSession]:
        with self._lock:
            now = self.clock.time()
            return [
                record.snapshot(sid)
                for sid in self._by_user.get(user_id, ())
                if (record := self._live(sid, now)) is not None
            ]

    async def _destroy_for_user(self, user_id: str, keep: frozenset[str]) -> list[str]:
        # one hold of the lock: no other method (of any thread) runs in between
        with self._lock:
            now = self.clock.time()
            ended = []
            for sid in list(self._by_user.get(user_id, ())):
                if sid in keep:
                    continue
                record = self._drop(sid)
                if record is not None and record.expires_at > now:
                    ended.append(sid)
            return ended

    async def _merge(
        self, sid: str, patch: str, create: tuple[str | None, float] | None
    ) -> dict[str, Any] | None:
        changes = decode_object(patch)
        with self._lock:
            record = self._live(sid, self.clock.time())
            if record is None:
                if create is None:
                    return None
                data = deep_merge({}, changes)
                self._put(sid, encode_json(data), create[0], create[1], None)
                return data
            data = deep_merge(decode_object(record.data), changes)
            record.data = encode_json(data)
            return data

    async def _replace_data(self, sid: str, data: str) -> bool:
        with self._lock:
            record = self._live(sid, self.clock.time())
            if record is None:
                return False
            record.data = data
            return True

    async def _pluck(self, sid: str, key: str) -> Any:
        with self._lock:
            record = self._live(sid, self.clock.time())
            if record is None:
                return None
            data = decode_object(record.data)
            if key not in data:
                return None
            value = data.pop(key)
            record.data = encode_json(data)
            return value

    async def _add_csrf(self, sid: str, token_digest: str, expires_at: float) -> None:
        with self._lock:
            now = self.clock.time()
            tokens = self._csrf.setdefault(sid, {})
            tokens[token_digest] = expires_at
            for digest in [d for d, e in tokens.items() if e <= now]:
                del tokens[digest]
            if len(tokens) > CSRF_LIMIT:
                ordered = sorted(tokens, key=tokens.__getitem__)
                for digest in ordered[: len(tokens) - CSRF_LIMIT]:
                    del tokens[digest]

    async def _consume_csrf(self, sid: str, token_digest: str) -> bool:
        with self._lock:
            tokens = self._csrf.get(sid)
            if not tokens or token_digest not in tokens:
                return False
            expires = tokens.pop(token_digest)
            return expires > self.clock.time()

    async def _acquire(self, key: str, owner: str, ttl: float) -> bool:
        with self._lock:
            now = self.clock.time()
            held = self._leases.get(key)
            if held is not None and held[1] > now:
                return False
            self._leases[key] = (owner, now + ttl)
            return True

    async def _release(self, key: str, owner: str) -> bool:
        with self._lock:
            held = self._leases.get(key)
            if held is None or held[0] != owner:
                return False
            del self._leases[key]
            return True

    async def purge_expired(self) -> int:
        """Drop expired sessions and CSRF tokens now (the store also sweeps as it goes)."""
        with self._lock:
            return self._sweep(self.clock.time())

    async def close(self) -> None:
        """Nothing to release; the sessions stay until the object is dropped."""

    def __repr__(self) -> str:
        return f"MemoryStore(sessions={len(self._sessions)})"
