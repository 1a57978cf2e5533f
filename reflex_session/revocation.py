"""Revocation in cookie mode: a per-user not-before time and per-session denials.

A cookie-mode session is a sealed token nobody can recall, but its owner can be told to stop
accepting it: with ``ReflexSession(revocation_store=...)`` every read also looks up one small
record per user, and a session is refused when it was created before the user's *not-before*
time (``end_user_sessions``: "sign out everywhere", a password change, a disabled account) unless
it was explicitly kept, or when its id was denied (``end_session``: logout, "sign out this
device"). The record lives no longer than the longest session could, so it cleans itself up.

This gives cookie mode the guarantees of store mode (a logged-out cookie is refused, everywhere
means everywhere) at the price of one store read per request; it cannot list a user's sessions
(the server never saw them all), which is what store mode is for.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .clock import Clock, now_ms
from .session import Session
from .stores.base import MAX_ID_LENGTH, SessionStore

__all__ = ["RevocationList"]

_PREFIX = "revoked:"


class RevocationList:
    """Per-user revocation records in any :class:`SessionStore` (one small record per user)."""

    def __init__(self, store: SessionStore, *, clock: Clock, horizon: int) -> None:
        self.store = store
        self.clock = clock
        self.horizon = horizon  # seconds: the longest any session can live (max_lifetime)

    def _key(self, user_id: str) -> str:
        key = _PREFIX + user_id
        if len(key) <= MAX_ID_LENGTH:
            return key  # the readable form, as every record written so far
        # a user id the store takes (<= 255 characters) must not make its key one it refuses
        return _PREFIX + "sha256:" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()

    async def _merge(self, user_id: str, patch: dict[str, Any]) -> None:
        await self.store.merge(
            self._key(user_id),
            patch,
            create=True,
            user_id=None,
            expires_at=self.clock.time() + self.horizon,
        )
        await self.store.touch(self._key(user_id), self.clock.time() + self.horizon)

    async def end_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        """Refuse every session of ``user_id`` created before now (but ``except_session_id``).

        Returns 0: the server never saw every cookie it sealed, so it cannot count them.
        """
        keep = [except_session_id] if except_session_id else []
        await self._merge(user_id, {"notBefore": now_ms(self.clock), "keep": keep})
        return 0

    async def end_session(self, session_id: str, *, user_id: str) -> None:
        """Refuse one session from now on."""
        await self._merge(user_id, {"denied": {session_id: now_ms(self.clock)}})

    async def allows(self, session: Session[Any]) -> bool:
        """Whether ``session`` is neither denied nor older than its user's not-before time."""
        record = await self.store.get(self._key(session.user.id))
        if record is None:
            return True
        data = record.data
        if session.id in (data.get("denied") or {}):
            return False
        not_before = data.get("notBefore") or 0
        return not (session.created_at < not_before and session.id not in (data.get("keep") or []))
