"""Cookie mode: the whole session sealed in the cookie, no server state.

A sealed cookie cannot be recalled, so with a revocation store (see
:mod:`reflex_session.revocation`) every read also asks whether its session was ended; without
one, logout only clears this browser's cookie and a copy stays valid until it expires.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..clock import Clock, now_ms
from ..codec import SessionCodec
from ..cookies import CookieJar
from ..lifecycle import Policy, is_expired, refreshed, should_refresh
from ..revocation import RevocationList
from ..session import Session, UserT
from .base import Backend

__all__ = ["CookieBackend"]

log = logging.getLogger("reflex_session")


class CookieBackend(Backend[UserT]):
    """Sessions as JWE cookies (``dir`` + A256GCM), re-issued by the refresh threshold."""

    def __init__(
        self,
        codec: SessionCodec[UserT],
        *,
        policy: Policy,
        clock: Clock,
        revocations: RevocationList | None = None,
    ) -> None:
        self.codec = codec
        self.policy = policy
        self.clock = clock
        self.revocations = revocations

    def _write(self, jar: CookieJar, session: Session[UserT]) -> Session[UserT]:
        token = self.codec.encode(session)  # raises CookieTooLarge before anything is written
        remaining = (session.expires_at - now_ms(self.clock)) // 1000
        if remaining <= 0:
            jar.clear()
        else:
            jar.write(token, remaining)
        return session

    async def read(self, jar: CookieJar) -> tuple[Session[UserT] | None, bool]:
        """The session sealed in the jar's cookie, checked against the revocation store if any.

        A cookie that is invalid, expired or revoked is cleared, so the browser stops sending it; a
        revoked one is also dropped from the decode cache, which would otherwise keep accepting it.
        """
        token = jar.read()
        decoded = self.codec.read(token)
        if decoded is None:
            if token:
                jar.clear()  # expired or invalid: do not keep sending it
            return None, False
        if self.revocations is not None and not await self.revocations.allows(decoded.session):
            self.codec.forget(token or "")
            jar.clear()
            return None, False
        return decoded.session, decoded.stale_key

    async def save(
        self, jar: CookieJar, session: Session[UserT], *, meta: Mapping[str, str] | None = None
    ) -> Session[UserT]:
        """Seal ``session`` into the jar's cookie; ``meta`` is dropped (a cookie cannot keep it)."""
        return self._write(jar, session)

    async def login(
        self, jar: CookieJar, session: Session[UserT], *, meta: Mapping[str, str] | None = None
    ) -> Session[UserT]:
        """Seal the new session into the jar's cookie."""
        # nothing to end: the new cookie replaces the old one, which carried no server state
        return self._write(jar, session)

    def should_refresh(self, session: Session[Any]) -> bool:
        """The refresh-threshold rule (:func:`~reflex_session.lifecycle.should_refresh`), now."""
        return should_refresh(session, now_ms(self.clock), self.policy)

    async def refresh(self, jar: CookieJar, session: Session[UserT]) -> Session[UserT] | None:
        """Reseal ``session`` with a later idle expiry, capped by the absolute one.

        Never ``None``: a cookie has no stored copy that could be gone (revocation was checked when
        the session was read).
        """
        return self._write(jar, refreshed(session, now_ms(self.clock), self.policy))

    def reseal(self, jar: CookieJar, session: Session[UserT]) -> None:
        """Seal the unchanged session again, under the newest secret."""
        self._write(jar, session)

    async def update(
        self, jar: CookieJar, session: Session[UserT], patch: Mapping[str, Any]
    ) -> Session[UserT] | None:
        """Seal ``session``, which already carries ``patch``; the patch only matters to a store."""
        return self._write(jar, session)

    async def end(self, jar: CookieJar) -> None:
        """Refuse every copy of the jar's cookie through the revocation store, if there is one.

        Without one, only this browser's cookie goes (the engine clears it): a sealed cookie cannot
        be recalled, so a copy stays valid until it expires. The token also leaves the decode cache.
        """
        token = jar.read()
        if self.revocations is not None and token:
            decoded = self.codec.read(token)
            if decoded is not None:  # a copy of this cookie is refused from now on
                await self.end_session(decoded.session)
        if token:
            self.codec.forget(token)

    async def end_session(self, session: Session[Any]) -> None:
        """Record ``session`` as ended in the revocation store; a no-op without one."""
        if self.revocations is not None:
            await self.revocations.end_session(session.id, user_id=session.user.id)

    async def is_live(self, session: Session[Any]) -> bool:
        """Not expired by the clock, and not ended in the revocation store (when there is one)."""
        if is_expired(session, now_ms(self.clock)):
            return False
        return self.revocations is None or await self.revocations.allows(session)

    def check_fits(self, session: Session[UserT]) -> None:
        """Seal ``session`` and throw the result away: its size is only known once encrypted."""
        self.codec.encode(session)
