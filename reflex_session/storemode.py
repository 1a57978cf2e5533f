"""Store mode: the cookie carries only an opaque session id; the session lives in a store.

Cookie mode (the default) needs no server state, but a stateless cookie cannot be taken back
before it expires. Store mode can: logout destroys the stored session, so a replayed old cookie
finds nothing; "sign out everywhere" destroys every session of a user; a password change can end
the user's other sessions. The price is one store read per request.

Layout in the store (one :class:`~reflex_session.stores.StoredSession` per record):

* ``sid`` — the signed-in session: ``data = {"user", "createdAt", "accessToken"?,
  "refreshToken"?}``, ``user_id`` = the user's id, ``expires_at`` / ``touched_at`` = the
  session's expiry and last issue (they are the truth; the cookie's ``exp`` follows them);
* ``sid + "/data"`` — the session-data verbs' values (next-server-session), kept apart so that
  replacing them can never touch the signed-in session, and so a visitor who is not signed in can
  have data (and CSRF tokens) too.

The cookie is the usual JWE with claims ``{"jti": encode_id(sid), "iat", "exp"}`` — no user,
no tokens. ``touch_after`` (default: the refresh threshold) bounds writes: the store's expiry and
the cookie's move together, at most once per window, however busy the user is (the bug of
next-session#46 / #232 was moving one and not the other).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic

from .clock import Clock, now_ms
from .cookies import CookieJar
from .errors import TokenError
from .lifecycle import Policy, expires_at_for
from .session import Session, UserT
from .stores.base import SessionStore, StoredSession, new_sid

if TYPE_CHECKING:
    from .codec import SessionCodec

__all__ = ["DATA_SUFFIX", "StoreBackend"]

log = logging.getLogger("reflex_session")
security_log = logging.getLogger("reflex_session.security")

DATA_SUFFIX = "/data"
CSRF_BYTES = 32
_ID_CACHE = 1024


def _identity(value: str) -> str:
    return value


def csrf_digest(token: str) -> str:
    """Only a digest of a CSRF token is stored, so a store dump yields no usable token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class StoreBackend(Generic[UserT]):
    """The store-mode half of :class:`~reflex_session.ReflexSession` (which delegates here)."""

    def __init__(
        self,
        store: SessionStore,
        *,
        codec: SessionCodec[UserT],
        clock: Clock,
        policy: Policy,
        user_type: type[UserT],
        touch_after: int,
        id_factory: Callable[[], str] = new_sid,
        encode_id: Callable[[str], str] = _identity,
        decode_id: Callable[[str], str] = _identity,
    ) -> None:
        self.store = store
        self.codec = codec
        self.clock = clock
        self.policy = policy
        self.user_type = user_type
        self.touch_after = touch_after
        self.id_factory = id_factory
        self.encode_id = encode_id
        self.decode_id = decode_id
        # token -> (sid, exp seconds, kid): a cookie seen again skips the decryption; safe
        # because the store, read right after, is what decides whether the session exists
        self._ids: OrderedDict[str, tuple[str, int, str]] = OrderedDict()

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
            if set(claims) - {"jti", "iat", "exp"}:
                raise TokenError("not a store-mode cookie")
            sid = self.decode_id(claims["jti"])
            if not isinstance(sid, str) or not sid or sid.endswith(DATA_SUFFIX):
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

    def write_cookie(self, jar: CookieJar, sid: str, issued_ms: int, expires_ms: int) -> None:
        token = self.codec.encode_claims(
            {"jti": self.encode_id(sid), "iat": issued_ms // 1000, "exp": expires_ms // 1000}
        )
        remaining = (expires_ms - now_ms(self.clock)) // 1000
        if remaining <= 0:
            jar.clear()
        else:
            jar.write(token, remaining)

    # -- the signed-in session ----------------------------------------------------------------

    def _session(self, record: StoredSession) -> Session[UserT] | None:
        data = record.data
        try:
            return Session(
                id=record.sid,
                user=self.user_type.from_wire(data["user"]),
                created_at=int(data["createdAt"]),
                last_activity=int(record.touched_at * 1000) // 1000 * 1000,
                expires_at=int(record.expires_at * 1000) // 1000 * 1000,
                access_token=data.get("accessToken"),
                refresh_token=data.get("refreshToken"),
            )
        except (KeyError, TypeError, ValueError):
            return None

    async def load(self, jar: CookieJar) -> tuple[Session[UserT] | None, bool]:
        sid, stale = self.sid_of(jar)
        if sid is None:
            return None, False
        record = await self.store.get(sid)
        if record is None:
            # ended (logout, revocation, expiry): an anonymous visitor may still have data
            if await self.store.get(sid + DATA_SUFFIX) is None:
                jar.clear()
            return None, False
        return self._session(record), stale

    async def save(
        self, jar: CookieJar, session: Session[UserT], *, meta: Mapping[str, str] | None = None
    ) -> Session[UserT]:
        """Store ``session`` under its id and point the cookie at it."""
        payload: dict[str, Any] = {"user": session.user.to_wire(), "createdAt": session.created_at}
        if session.access_token is not None:
            payload["accessToken"] = session.access_token
        if session.refresh_token is not None:
            payload["refreshToken"] = session.refresh_token
        await self.store.set(
            session.id,
            payload,
            user_id=session.user.id,
            expires_at=session.expires_at / 1000,
            meta=dict(meta) if meta else None,
        )
        self.write_cookie(jar, session.id, session.last_activity, session.expires_at)
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

    async def touch(self, jar: CookieJar, session: Session[UserT]) -> Session[UserT] | None:
        """Move the store's expiry and the cookie's together (one store write)."""
        issued = now_ms(self.clock) // 1000 * 1000
        expires = expires_at_for(session.created_at, issued, self.policy)
        if not await self.store.touch(session.id, expires / 1000):
            jar.clear()
            return None
        await self.store.touch(session.id + DATA_SUFFIX, expires / 1000)
        self.write_cookie(jar, session.id, issued, expires)
        return session.replace(last_activity=issued, expires_at=expires)

    def should_touch(self, session: Session[Any]) -> bool:
        now = now_ms(self.clock)
        if now - session.last_activity < self.touch_after * 1000:
            return False
        return expires_at_for(session.created_at, now // 1000 * 1000, self.policy) > (
            session.expires_at
        )

    async def update(
        self, session: Session[UserT], patch: Mapping[str, Any]
    ) -> Session[UserT] | None:
        """Atomically deep-merge ``patch`` (wire names) into the stored session."""
        data = await self.store.merge(session.id, patch)
        if data is None:
            return None
        record = await self.store.get(session.id)
        return self._session(record) if record else None

    async def destroy(self, sid: str) -> None:
        await self.store.destroy(sid)
        await self.store.destroy(sid + DATA_SUFFIX)

    # -- session data (next-server-session) ---------------------------------------------------

    async def data_sid(self, jar: CookieJar, *, create: bool) -> str | None:
        sid, _ = self.sid_of(jar)
        if sid is None and create:
            sid = self.id_factory()
            now = now_ms(self.clock) // 1000 * 1000
            self.write_cookie(jar, sid, now, now + self.policy.session_expiry * 1000)
        return sid

    async def _data_owner(self, sid: str) -> tuple[str | None, float]:
        record = await self.store.get(sid)
        if record is not None:
            return record.user_id, record.expires_at
        return None, self.clock.time() + self.policy.session_expiry

    async def get_data(self, jar: CookieJar) -> dict[str, Any] | None:
        sid, _ = self.sid_of(jar)
        if sid is None:
            return None
        record = await self.store.get(sid + DATA_SUFFIX)
        return dict(record.data) if record else None

    async def set_data(self, jar: CookieJar, patch: Mapping[str, Any]) -> dict[str, Any]:
        sid = await self.data_sid(jar, create=True)
        assert sid is not None
        user_id, expires = await self._data_owner(sid)
        data = await self.store.merge(
            sid + DATA_SUFFIX, patch, create=True, user_id=user_id, expires_at=expires
        )
        return dict(data or {})

    async def replace_data(self, jar: CookieJar, data: Mapping[str, Any]) -> dict[str, Any]:
        sid = await self.data_sid(jar, create=True)
        assert sid is not None
        if not await self.store.replace_data(sid + DATA_SUFFIX, data):
            user_id, expires = await self._data_owner(sid)
            await self.store.set(sid + DATA_SUFFIX, dict(data), user_id=user_id, expires_at=expires)
        return dict(data)

    async def pluck(self, jar: CookieJar, key: str) -> Any:
        sid, _ = self.sid_of(jar)
        if sid is None:
            return None
        return await self.store.pluck(sid + DATA_SUFFIX, key)

    # -- CSRF tokens --------------------------------------------------------------------------

    async def new_csrf_token(self, jar: CookieJar) -> str:
        sid = await self.data_sid(jar, create=True)
        assert sid is not None
        token = secrets.token_urlsafe(CSRF_BYTES)
        await self.store.add_csrf(
            sid, csrf_digest(token), self.clock.time() + self.policy.session_expiry
        )
        return token

    async def check_csrf_token(self, jar: CookieJar, token: object) -> bool:
        if not isinstance(token, str) or not token or len(token) > 256:
            return False
        sid, _ = self.sid_of(jar)
        if sid is None:
            return False
        return await self.store.consume_csrf(sid, csrf_digest(token))
