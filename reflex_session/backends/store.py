"""Store mode: the cookie carries only an opaque session id; the session lives in a store.

Cookie mode needs no server state, but a stateless cookie cannot be taken back before it
expires. Store mode can: logout destroys the stored session, so a replayed old cookie finds
nothing; "sign out everywhere" destroys every session of a user. The price is one store read per
request.

Layout in the store (one :class:`~reflex_session.stores.StoredSession` per record):

* ``sid`` — the signed-in session (:func:`reflex_session.wire.to_record`), ``user_id`` = the
  user's id, ``expires_at`` / ``touched_at`` = the session's expiry and last issue (they are the
  truth; the cookie's ``exp`` follows them);
* ``sid + "/grant"`` — an identity provider's tokens for the session (written by
  :mod:`reflex_session.providers.grants`), ended with it;
* ``sid + "/data"`` — the session-data verbs' values (:mod:`reflex_session.data`), kept apart so
  that replacing them can never touch the signed-in session, and so a visitor who is not signed
  in can have data (and CSRF tokens) too.

The cookie is the usual JWE with claims ``{"jti": encode_id(sid), "iat", "exp"}`` — no user,
no tokens. ``touch_after`` (default: the refresh threshold) bounds writes: the store's expiry and
the cookie's move together, at most once per window, however busy the user is (the bug of
next-session#46 / #232 was moving one and not the other).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from .. import wire
from ..clock import Clock, now_ms
from ..codec import SessionCodec
from ..cookies import CookieJar
from ..errors import TokenError
from ..lifecycle import Policy, refreshed, should_refresh
from ..readcache import ReadCache
from ..session import Session, UserT
from ..stores.base import SessionStore, StoredSession
from .base import Backend

#: ``listener(sid, user_id)``, told of every change (see :meth:`StoreBackend.on_change`)
ChangeListener = Callable[[str | None, str | None], None]

__all__ = [
    "DATA_SUFFIX",
    "GRANT_SUFFIX",
    "RECORD_SUFFIXES",
    "ChangeListener",
    "StoreBackend",
    "is_session_record",
]

security_log = logging.getLogger("reflex_session.security")

DATA_SUFFIX = "/data"
GRANT_SUFFIX = "/grant"
#: the records that belong to a session and end with it (never a session themselves)
RECORD_SUFFIXES = (DATA_SUFFIX, GRANT_SUFFIX)


def is_session_record(sid: str) -> bool:
    """Whether a record of the store is a signed-in session (not its data, nor its grant)."""
    return not sid.endswith(RECORD_SUFFIXES)


_ID_CACHE = 1024


def _identity(value: str) -> str:
    return value


class StoreBackend(Backend[UserT]):
    """Sessions in a :class:`SessionStore`, found through an id-only sealed cookie."""

    def __init__(
        self,
        store: SessionStore,
        *,
        codec: SessionCodec[UserT],
        clock: Clock,
        policy: Policy,
        user_type: type[UserT],
        touch_after: int,
        id_factory: Callable[[], str],
        encode_id: Callable[[str], str] = _identity,
        decode_id: Callable[[str], str] = _identity,
        cache: ReadCache | None = None,
    ) -> None:
        self.store = store
        #: store reads kept until a change is announced (``None``: every read asks the store)
        self.cache = cache
        self._listeners: list[ChangeListener] = []
        self.codec = codec
        self.clock = clock
        self.policy = policy
        # the one re-issue rule (lifecycle.should_refresh), with touch_after as its threshold
        self._touch_policy = Policy(policy.session_expiry, touch_after, policy.max_lifetime)
        self.user_type = user_type
        self.new_id = id_factory
        self.encode_id = encode_id
        self.decode_id = decode_id
        # token -> (sid, exp seconds, kid): a cookie seen again skips the decryption; safe
        # because the store, read right after, is what decides whether the session exists
        self._ids: OrderedDict[str, tuple[str, int, str]] = OrderedDict()

    # -- changes ------------------------------------------------------------------------------

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(sid, user_id)`` after every change this backend makes to a session
        (one of the two may be ``None``): the Reflex layer tells the other workers, whose read
        caches drop their copies."""
        self._listeners.append(listener)

    def changed(self, sid: str | None, user_id: str | None) -> None:
        """Announce that session ``sid`` (or every session of ``user_id``) changed or ended:
        this process's read cache forgets it at once, the listeners tell the others."""
        self._forget(sid, user_id)
        for listener in self._listeners:
            try:
                listener(sid, user_id)
            except Exception:
                security_log.error("a session change could not be announced to other workers")

    def heard(self, sid: str | None, user_id: str | None) -> None:
        """Another worker announced that ``sid`` (or every session of ``user_id``) changed: the
        read cache forgets it. Unlike :meth:`changed` this tells no listener, since the news
        came from them; announcing it again would echo between workers forever."""
        self._forget(sid, user_id)

    def _forget(self, sid: str | None, user_id: str | None) -> None:
        """Drop the read cache's copies of ``sid`` and of every session of ``user_id``."""
        cache = self.cache
        if cache is None:
            return
        if sid is not None:
            cache.forget(sid)
        if user_id is not None:
            cache.forget_user(user_id)

    async def _record(self, sid: str) -> StoredSession | None:
        """The stored record of ``sid``: from the read cache when it holds it, else the store."""
        cache = self.cache
        if cache is None:
            return await self.store.get(sid)
        kept = cache.get(sid)
        if kept is not None and kept.is_live(self.clock.time()):
            return kept
        generation = cache.begin()
        record = await self.store.get(sid)
        if record is not None:
            cache.put(sid, record, generation)
        return record

    # -- the cookie ---------------------------------------------------------------------------

    def sid_of(self, jar: CookieJar) -> tuple[str | None, bool]:
        """The session id in the jar's cookie (``None``: absent or invalid) and key staleness."""
        token = jar.read()
        if not token:
            return None, False
        known = self._ids.get(token)
        if known is not None and known[1] > self.clock.time():
            return known[0], known[2] != self.codec.keyring.current.kid
        try:
            claims, kid = self.codec.decode_claims(token)
            if set(claims) - wire.ID_CLAIMS:
                raise TokenError("not a store-mode cookie")
            sid = self.decode_id(claims["jti"])
            if not isinstance(sid, str) or not sid or not is_session_record(sid):
                raise TokenError("bad session id")
        except TokenError as error:
            self.codec.reject(error, len(token))
            jar.clear()
            return None, False
        except Exception:  # a failing decode_id hook must not become a 500
            security_log.warning("session id could not be decoded (decode_id hook failed)")
            jar.clear()
            return None, False
        self._ids[token] = (sid, int(claims["exp"]), kid)
        if len(self._ids) > _ID_CACHE:
            self._ids.popitem(last=False)
        return sid, kid != self.codec.keyring.current.kid

    def point_cookie(self, jar: CookieJar, sid: str, issued_ms: int, expires_ms: int) -> None:
        """Write the id-only cookie for ``sid`` (cleared when the times are already past)."""
        token = self.codec.encode_claims(wire.id_claims(self.encode_id(sid), issued_ms, expires_ms))
        remaining = (expires_ms - now_ms(self.clock)) // 1000
        if remaining <= 0:
            jar.clear()
        else:
            jar.write(token, remaining)

    # -- records ------------------------------------------------------------------------------

    def session_of(self, record: StoredSession) -> Session[UserT] | None:
        """The session a record holds; ``None`` for a record this version cannot read."""
        try:
            return wire.from_record(
                record.sid, record.data, record.touched_at, record.expires_at, self.user_type
            )
        except (KeyError, TypeError, ValueError):
            return None

    async def find(self, sid: str) -> Session[UserT] | None:
        """The stored session ``sid`` now; ``None`` when it ended (or never existed)."""
        record = await self.store.get(sid)
        return self.session_of(record) if record else None

    async def destroy(self, sid: str) -> None:
        """Remove a session and the records that go with it (its data, its grant)."""
        await self.store.destroy(sid)
        self.changed(sid, None)
        for suffix in RECORD_SUFFIXES:
            await self.store.destroy(sid + suffix)

    # -- the backend contract -----------------------------------------------------------------

    async def read(self, jar: CookieJar) -> tuple[Session[UserT] | None, bool]:
        """The stored session the jar's id cookie names.

        A cookie whose session is gone is cleared, unless a visitor's session data still lives under
        its id: a visitor who is not signed in keeps data (and CSRF tokens) through that cookie.
        """
        sid, stale = self.sid_of(jar)
        if sid is None:
            return None, False
        record = await self._record(sid)
        if record is None:
            # ended (logout, revocation, expiry): an anonymous visitor may still have data
            if await self.store.get(sid + DATA_SUFFIX) is None:
                jar.clear()
            return None, False
        return self.session_of(record), stale

    async def save(
        self, jar: CookieJar, session: Session[UserT], *, meta: Mapping[str, str] | None = None
    ) -> Session[UserT]:
        """Write the whole record (with ``meta``) and point the cookie at it, same expiry."""
        await self.store.set(
            session.id,
            wire.to_record(session),
            user_id=session.user.id,
            expires_at=session.expires_at / 1000,
            meta=dict(meta) if meta else None,
        )
        self.changed(session.id, None)
        self.point_cookie(jar, session.id, session.last_activity, session.expires_at)
        return session

    async def login(
        self, jar: CookieJar, session: Session[UserT], *, meta: Mapping[str, str] | None = None
    ) -> Session[UserT]:
        """A new session id at every login; the previous one is destroyed (fixation defence).

        A visitor's session data follows them into the new session.
        """
        old, _ = self.sid_of(jar)
        carried: dict[str, Any] | None = None
        if old is not None:
            data = await self.store.get(old + DATA_SUFFIX)
            carried = dict(data.data) if data else None
            await self.destroy(old)
        await self.save(jar, session, meta=meta)
        if carried:
            await self.store.set(
                session.id + DATA_SUFFIX,
                carried,
                user_id=session.user.id,
                expires_at=session.expires_at / 1000,
            )
        return session

    def should_refresh(self, session: Session[Any]) -> bool:
        """The refresh rule with ``touch_after`` as its threshold: one store write per window."""
        return should_refresh(session, now_ms(self.clock), self._touch_policy)

    async def refresh(self, jar: CookieJar, session: Session[UserT]) -> Session[UserT] | None:
        """Move the store's expiry and the cookie's together (one store write)."""
        moved = refreshed(session, now_ms(self.clock), self.policy)
        if self.cache is not None:
            # this process re-reads the new expiry; another's copy only has an earlier one, which
            # makes it read the store again sooner, never accept an ended session
            self.cache.forget(session.id)
        if not await self.store.touch(session.id, moved.expires_at / 1000):
            jar.clear()
            return None
        await self.store.touch(session.id + DATA_SUFFIX, moved.expires_at / 1000)
        self.point_cookie(jar, session.id, moved.last_activity, moved.expires_at)
        return moved

    def reseal(self, jar: CookieJar, session: Session[UserT]) -> None:
        """Point a new cookie under the newest secret at the same record; the store is untouched."""
        self.point_cookie(jar, session.id, session.last_activity, session.expires_at)

    async def update(
        self, jar: CookieJar, session: Session[UserT], patch: Mapping[str, Any]
    ) -> Session[UserT] | None:
        """Merge ``patch`` into the stored record atomically; the stored result, or ``None``.

        Merging the patch rather than writing ``session`` whole keeps the fields another tab or
        worker changed meanwhile. ``None`` when the session ended.
        """
        if not patch:
            return session
        # atomic in the store: concurrent updates of different fields all land
        merged = await self.store.merge(session.id, patch)
        self.changed(session.id, None)
        if merged is None:
            return None
        return await self.find(session.id)

    async def end(self, jar: CookieJar) -> None:
        """Destroy the jar's session and its data: a replayed copy of the cookie finds nothing."""
        sid, _ = self.sid_of(jar)
        if sid is not None:
            await self.destroy(sid)

    async def end_session(self, session: Session[Any]) -> None:
        """Destroy ``session`` and its data by id: its browser's cookie then finds nothing."""
        await self.destroy(session.id)

    async def is_live(self, session: Session[Any]) -> bool:
        """Whether the store still holds ``session`` (a store never returns an expired one)."""
        return await self._record(session.id) is not None
