"""A user's sessions as an admin or a "your devices" page sees them: store mode only.

``auth.devices`` exists only when sessions live in a store (the server must have seen every
session to list them); it is ``None`` in cookie mode, so using it there is a type error.
It is also the store's :class:`~reflex_session.backends.Revocations`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic

from .backends.store import RECORD_SUFFIXES, StoreBackend, is_session_record
from .errors import ForbiddenUpdate
from .session import Session, UserT
from .stores.base import StoredSession

__all__ = ["Devices"]


class Devices(Generic[UserT]):
    """List, end and edit the sessions of a user."""

    def __init__(self, backend: StoreBackend[UserT]) -> None:
        self._backend = backend
        self._store = backend.store

    async def list_sessions(self, user_id: str) -> list[StoredSession]:
        """The user's live sessions, newest first (for a "your devices" page)."""
        return [s for s in await self._store.list_for_user(user_id) if is_session_record(s.sid)]

    async def end_session(self, session_id: str, *, user_id: str) -> None:
        """End one session of ``user_id`` ("sign out this device"); its cookie is refused.

        A session of another user is left alone: an id alone is not enough to end it.
        """
        record = await self._store.get(session_id)
        if record is not None and record.user_id == user_id:
            await self._backend.destroy(session_id)

    async def end_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        """ "Sign out everywhere" (optionally but this session): returns how many ended."""
        keep = (
            ()
            if except_session_id is None
            else (except_session_id, *(except_session_id + s for s in RECORD_SUFFIXES))
        )
        # one atomic step in the store: a login racing this call cannot survive it
        try:
            ended = await self._store.destroy_for_user(user_id, keep=keep)
        finally:
            self._backend.changed(None, user_id)
        return sum(1 for sid in ended if is_session_record(sid))

    async def update_user_sessions(self, user_id: str, user: Mapping[str, Any]) -> int:
        """Merge ``user`` into every live session of ``user_id`` (e.g. after a profile or role
        change made elsewhere); atomic per session. Returns how many sessions changed.

        Pair it with ``reflex_session.reflex.live.push_refresh(user_id)`` so open tabs show it.
        """
        if "id" in user and str(user["id"]) != user_id:
            raise ForbiddenUpdate("user.id", "the user of a session cannot change; log in again")
        changed = 0
        try:
            for record in await self.list_sessions(user_id):
                if await self._store.merge(record.sid, {"user": dict(user)}) is not None:
                    changed += 1
        finally:  # announced even when a merge failed halfway: some sessions did change
            self._backend.changed(None, user_id)
        return changed

    async def reload(self, session: Session[Any]) -> Session[UserT] | None:
        """The stored version of ``session`` now: newer data, or ``None`` if it ended."""
        return await self._backend.find(session.id)
