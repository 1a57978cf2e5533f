"""The contract between the lifecycle engine and the place a session is kept.

The engine (:mod:`reflex_session.engine`) decides *what* happens — callbacks, refresh rules,
merges, the order of steps — and a backend decides only *where* the result goes. That is the
whole difference between cookie mode and store mode, so no verb has to branch on the mode: the
same ``get_session`` runs over a sealed cookie or over a database row (the shape of Django's
``SessionBase`` and starsessions' ``SessionStore``, where the signed cookie is just one more
backend).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, Generic, Protocol

from ..cookies import CookieJar
from ..session import Session, UserT

__all__ = ["Backend", "Revocations"]


class Backend(abc.ABC, Generic[UserT]):
    """Reads and writes sessions through a :class:`CookieJar`; never calls app callbacks."""

    @abc.abstractmethod
    async def read(self, jar: CookieJar) -> tuple[Session[UserT] | None, bool]:
        """The jar's session and whether its cookie was sealed under an older secret.

        ``(None, False)`` for no, expired, invalid or ended session; the jar's cookie is cleared
        when it can never become valid again, so the browser stops sending it.
        """

    @abc.abstractmethod
    async def save(
        self, jar: CookieJar, session: Session[UserT], *, meta: Mapping[str, str] | None = None
    ) -> Session[UserT]:
        """Keep ``session`` exactly as it is and point the jar's cookie at it."""

    @abc.abstractmethod
    async def login(
        self, jar: CookieJar, session: Session[UserT], *, meta: Mapping[str, str] | None = None
    ) -> Session[UserT]:
        """Keep a freshly made session; whatever the jar held before is ended first."""

    @abc.abstractmethod
    def should_refresh(self, session: Session[Any]) -> bool:
        """Whether a read now should extend the session (the one re-issue rule per backend)."""

    @abc.abstractmethod
    async def refresh(self, jar: CookieJar, session: Session[UserT]) -> Session[UserT] | None:
        """Extend ``session`` now (capped by its absolute limit); ``None`` if it is gone."""

    @abc.abstractmethod
    def reseal(self, jar: CookieJar, session: Session[UserT]) -> None:
        """Write the same cookie again under the newest secret (rotation), times unchanged."""

    @abc.abstractmethod
    async def update(
        self, jar: CookieJar, session: Session[UserT], patch: Mapping[str, Any]
    ) -> Session[UserT] | None:
        """Keep ``session``, the result of applying ``patch`` (wire names) to the kept one.

        A store merges ``patch`` atomically (concurrent updates of other fields survive); a
        cookie simply holds ``session``. ``None`` when the session ended meanwhile.
        """

    @abc.abstractmethod
    async def end(self, jar: CookieJar) -> None:
        """Make the jar's session unusable from now on, wherever a copy of the cookie is.

        Only as far as the backend can: a cookie backend without a revocation store cannot recall
        a sealed cookie, so a copy stays valid until it expires.
        """

    @abc.abstractmethod
    async def end_session(self, session: Session[Any]) -> None:
        """End ``session`` by its id (a logout that may never reach the browser)."""

    @abc.abstractmethod
    async def is_live(self, session: Session[Any]) -> bool:
        """Whether ``session`` may still act *now*: not expired, not ended."""

    def check_fits(self, session: Session[UserT]) -> None:
        """Raise :class:`~reflex_session.errors.CookieTooLarge` now if ``session`` could not
        be kept (a cookie has a size limit; a store has none)."""


class Revocations(Protocol):
    """Ending sessions the server did not see go (admin actions, "sign out everywhere").

    Exists only when something can refuse a session before it expires: a store, or a cookie
    backend with a revocation store. ``auth.revocations`` is ``None`` otherwise, so calling it in
    plain cookie mode is a type error, not a surprise at run time.
    """

    async def end_session(self, session_id: str, *, user_id: str) -> None:
        """End one session (a "sign out this device"); its cookie is refused from now."""

    async def end_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        """End every session of ``user_id`` (but one); how many ended, when the backend knows."""
