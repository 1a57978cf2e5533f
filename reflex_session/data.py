"""Session data and CSRF tokens (next-server-session's verbs): store mode only.

They exist as ``auth.data`` only when sessions live in a store, so calling them in cookie mode
is a type error under mypy rather than a surprise in production. Values live in their own record
(``sid + "/data"``), so a visitor who is not signed in can have data and CSRF tokens, and
replacing the data can never touch the signed-in session.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from .backends.store import DATA_SUFFIX, StoreBackend
from .clock import now_ms
from .cookies import CookieJar

__all__ = ["CSRF_BYTES", "SessionData", "csrf_digest"]

CSRF_BYTES = 32


def csrf_digest(token: str) -> str:
    """Only a digest of a CSRF token is stored, so a store dump yields no usable token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionData:
    """Per-browser data and single-use CSRF tokens, beside the signed-in session."""

    def __init__(self, backend: StoreBackend[Any]) -> None:
        self._backend = backend
        self._store = backend.store

    def _new_sid(self, jar: CookieJar) -> str:
        """The jar's session id, or a new one (with its cookie) for a visitor without one."""
        sid, _ = self._backend.sid_of(jar)
        if sid is None:
            sid = self._backend.new_id()
            now = now_ms(self._backend.clock) // 1000 * 1000
            expiry = self._backend.policy.session_expiry
            self._backend.point_cookie(jar, sid, now, now + expiry * 1000)
        return sid

    async def _owner(self, sid: str) -> tuple[str | None, float]:
        record = await self._store.get(sid)
        if record is not None:
            return record.user_id, record.expires_at
        backend = self._backend
        return None, backend.clock.time() + backend.policy.session_expiry

    async def get(self, jar: CookieJar) -> dict[str, Any] | None:
        """The session's data, or ``None``; never creates a session."""
        sid, _ = self._backend.sid_of(jar)
        if sid is None:
            return None
        record = await self._store.get(sid + DATA_SUFFIX)
        return dict(record.data) if record else None

    async def set(self, jar: CookieJar, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Deep-merge ``patch`` into the session's data (atomic); creates a session if needed."""
        sid = self._new_sid(jar)
        user_id, expires = await self._owner(sid)
        data = await self._store.merge(
            sid + DATA_SUFFIX, patch, create=True, user_id=user_id, expires_at=expires
        )
        return dict(data or {})

    async def replace(self, jar: CookieJar, data: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the session's data as a whole (atomic); creates a session if needed."""
        sid = self._new_sid(jar)
        if not await self._store.replace_data(sid + DATA_SUFFIX, data):
            user_id, expires = await self._owner(sid)
            await self._store.set(
                sid + DATA_SUFFIX, dict(data), user_id=user_id, expires_at=expires
            )
        return dict(data)

    async def pluck(self, jar: CookieJar, key: str) -> Any:
        """Return and remove one property of the session's data (atomic); ``None`` if absent."""
        sid, _ = self._backend.sid_of(jar)
        if sid is None:
            return None
        return await self._store.pluck(sid + DATA_SUFFIX, key)

    async def new_csrf_token(self, jar: CookieJar) -> str:
        """A fresh random CSRF token for this session (single use; only its digest is stored)."""
        sid = self._new_sid(jar)
        token = secrets.token_urlsafe(CSRF_BYTES)
        expires = self._backend.clock.time() + self._backend.policy.session_expiry
        await self._store.add_csrf(sid, csrf_digest(token), expires)
        return token

    async def validate_csrf_token(self, jar: CookieJar, token: object) -> bool:
        """True once for a token this session was given; false for any other (constant time:
        the comparison is a store lookup of the token's SHA-256 digest)."""
        if not isinstance(token, str) or not token or len(token) > 256:
            return False
        sid, _ = self._backend.sid_of(jar)
        if sid is None:
            return False
        return await self._store.consume_csrf(sid, csrf_digest(token))
