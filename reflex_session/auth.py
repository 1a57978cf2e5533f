"""``ReflexSession``: the reference's ``NextAuthSession({...})`` factory, as one object.

It binds the pure parts (config, codec, lifecycle rules, route guard) to a clock and exposes the
reference's verbs in snake_case. Every verb that touches the cookie takes a :class:`CookieJar`,
the small request/response abstraction that the HTTP layer and the Reflex layer both build, so
the lifecycle is written once and has no web framework in it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, cast

from .clock import SYSTEM_CLOCK, Clock, now_ms
from .codec import SessionCodec
from .config import (
    RefreshCallback,
    SessionConfig,
    ValidateCallback,
    default_max_lifetime,
    default_refresh_threshold,
    load_secrets,
)
from .cookies import CookieJar, CookiePolicy
from .errors import ConfigError, CookieTooLarge, ForbiddenUpdate, NoSession
from .jwe import MAX_TOKEN_CHARS
from .lifecycle import (
    _UNSET,
    Policy,
    is_expired,
    merged,
    new_session,
    new_session_id,
    refreshed,
    should_refresh,
)
from .revocation import RevocationList
from .rules import Decision, RouteGuard, RouteRule, RouteType
from .session import Session, User, UserT, thaw
from .storemode import DATA_SUFFIX, StoreBackend
from .stores.base import SessionStore, StoredSession

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from .http.middleware import CustomHandler

__all__ = ["ReflexSession"]

log = logging.getLogger("reflex_session")
#: Cookie bytes the browser allows for name plus value (RFC 6265bis 5.6; Chrome, Firefox).
BROWSER_COOKIE_LIMIT = 4096


WriteTrigger = Literal["login", "update", "refresh"]
#: ``on_write(session, trigger, changes)``: next-auth's jwt callback. Called before a session is
#: written, knowing why ("login", "update" with the update's ``changes``, "refresh"); returns the
#: session to write (it may change the user's fields and the tokens) or ``None`` to keep it.
WriteCallback = Callable[[Session[Any], WriteTrigger, Mapping[str, Any] | None], Any]


async def _call(callback: Callable[[Any], Any], argument: Any) -> Any:
    result = callback(argument)
    if inspect.isawaitable(result):
        result = await result
    return result


class ReflexSession(Generic[UserT]):
    """Encrypted, HttpOnly cookie sessions with sliding and absolute expiry and route rules.

    >>> auth = ReflexSession(secret_key="x" * 32, session_expiry=3600,
    ...                      routes=[route.auth("/dashboard/*")])  # doctest: +SKIP

    Settings are the reference's, in snake_case (``session_expiry``, ``refresh_threshold``,
    ``cookie_name``, ``auto_refresh``, ``secure_cookie``, ``same_site``, ``on_validate``,
    ``on_refresh``, ``routes``, ``default_type``, ``login_path``, ``home_path``, ``locales``,
    ``authorize``), plus:

    * ``previous_secret_keys`` — older secrets, oldest first, still accepted (rotation);
    * ``max_lifetime`` — the absolute limit no refresh passes (default 30 days);
    * ``clock`` — the time source (inject a ``FakeClock`` in tests);
    * ``user_type`` — a :class:`User` subclass for typed user fields;
    * ``expose_tokens`` — put access/refresh tokens in the client view (off: they stay server-side);
    * ``client_user_fields`` — the user fields the *browser* may change (``PATCH /api/session``,
      ``SessionState.update``); default ``name`` and ``image``, so nobody edits their own role.
      Server code (``update_session``) may change any field but ``id``;
    * ``trusted_origins`` — other origins (``scheme://host:port``) allowed to change the session;
    * ``secure_cookie`` — ``None`` (default) marks the cookie Secure, named ``__Host-<name>``,
      exactly when the request came over HTTPS.
    """

    def __init__(
        self,
        *,
        secret_key: str | None = None,
        previous_secret_keys: Sequence[str] | None = None,
        session_expiry: int = 7 * 24 * 3600,
        refresh_threshold: int | None = None,
        max_lifetime: int | None = None,
        cookie_name: str = "session",
        auto_refresh: bool = True,
        secure_cookie: bool | None = None,
        same_site: Literal["lax", "strict", "none"] = "lax",
        cookie_domain: str | None = None,
        host_prefix: bool = True,
        on_validate: ValidateCallback | None = None,
        on_refresh: RefreshCallback | None = None,
        routes: Sequence[RouteRule] = (),
        default_type: RouteType = "hybrid",
        login_path: str = "/login",
        home_path: str = "/",
        locales: Sequence[str] = (),
        authorize: CustomHandler | None = None,
        return_to_param: str = "callbackUrl",
        api_path: str = "/api/session",
        expose_tokens: bool = False,
        session_callback: Callable[[Session[Any], dict[str, Any]], Mapping[str, Any]] | None = None,
        on_write: WriteCallback | None = None,
        client_user_fields: Sequence[str] = ("name", "image"),
        trusted_origins: Sequence[str] = (),
        user_type: type[UserT] = User,  # type: ignore[assignment]
        clock: Clock = SYSTEM_CLOCK,
        leeway: float = 5.0,
        decode_cache_size: int = 1024,
        id_factory: Callable[[], str] = new_session_id,
        store: SessionStore | None = None,
        revocation_store: SessionStore | None = None,
        touch_after: int | None = None,
        encode_id: Callable[[str], str] | None = None,
        decode_id: Callable[[str], str] | None = None,
    ) -> None:
        if not (isinstance(user_type, type) and issubclass(user_type, User)):
            raise ConfigError(
                "user_type",
                f"{user_type!r} is not a User subclass",
                "subclass reflex_session.User with @dataclass(frozen=True)",
            )
        if isinstance(session_expiry, int) and 0 < session_expiry < 2:
            raise ConfigError(
                "session_expiry",
                f"{session_expiry}s leaves no room for a refresh threshold",
                "use at least 2 seconds (realistically minutes)",
            )
        if isinstance(session_expiry, int) and session_expiry > 0:
            if refresh_threshold is None:
                refresh_threshold = default_refresh_threshold(session_expiry)
            if max_lifetime is None:
                max_lifetime = default_max_lifetime(session_expiry)
        try:
            rules = tuple(routes)
            for r in rules:
                if not isinstance(r, RouteRule):
                    raise TypeError(r)
        except TypeError:
            raise ConfigError(
                "routes",
                "must be a list of route.public/auth/hybrid(...) rules",
                "build rules with reflex_session.route",
            ) from None
        self.config = SessionConfig(
            secrets=load_secrets(secret_key, previous_secret_keys),
            session_expiry=session_expiry,
            refresh_threshold=cast(int, refresh_threshold),
            max_lifetime=cast(int, max_lifetime),
            cookie_name=cookie_name,
            auto_refresh=auto_refresh,
            secure_cookie=secure_cookie,
            same_site=same_site,
            cookie_domain=cookie_domain,
            host_prefix=host_prefix,
            on_validate=on_validate,
            on_refresh=on_refresh,
            routes=rules,
            default_type=default_type,
            login_path=login_path,
            home_path=home_path,
            locales=tuple(locales),
            return_to_param=return_to_param,
            api_path=api_path.rstrip("/") or "/",
            expose_tokens=expose_tokens,
            client_user_fields=tuple(client_user_fields),
            trusted_origins=tuple(o.rstrip("/") for o in trusted_origins),
            leeway=leeway,
            decode_cache_size=decode_cache_size,
            clock=clock,
        )
        self.authorize = authorize
        self.session_callback = session_callback
        self.on_write = on_write
        self.user_type: type[UserT] = user_type
        self.clock = clock
        self.policy = Policy(session_expiry, cast(int, refresh_threshold), cast(int, max_lifetime))
        self.cookie_policy = CookiePolicy(
            name=cookie_name,
            same_site=same_site,
            secure=secure_cookie,
            host_prefix=host_prefix,
            domain=cookie_domain,
        )
        longest_name = len(self.cookie_policy.name_for(True))
        self.codec: SessionCodec[UserT] = SessionCodec(
            self.config.secrets,
            user_type=user_type,
            clock=clock,
            leeway=leeway,
            cache_size=decode_cache_size,
            max_value_bytes=min(MAX_TOKEN_CHARS, BROWSER_COOKIE_LIMIT - longest_name - 1),
            max_lifetime=cast(int, max_lifetime),
        )
        self.guard = RouteGuard(
            rules,
            default_type=default_type,
            login_path=login_path,
            home_path=home_path,
            locales=locales,
            return_to_param=return_to_param,
        )
        self._id_factory = id_factory
        self.store = store
        self.backend: StoreBackend[UserT] | None = None
        if store is not None:
            if touch_after is not None and not (0 < touch_after < session_expiry):
                raise ConfigError(
                    "touch_after",
                    f"{touch_after}s is not between 0 and session_expiry ({session_expiry}s)",
                    "use a window well below the expiry (default: the refresh threshold)",
                )
            self.backend = StoreBackend(
                store,
                codec=self.codec,
                clock=clock,
                policy=self.policy,
                user_type=user_type,
                touch_after=touch_after or self.policy.refresh_threshold,
                id_factory=id_factory,
                encode_id=encode_id or (lambda sid: sid),
                decode_id=decode_id or (lambda sid: sid),
            )
        if revocation_store is not None and store is not None:
            raise ConfigError(
                "revocation_store",
                "is for cookie mode; store mode revokes through its store already",
                "drop revocation_store (or use it without store=...)",
            )
        self.revocations = (
            RevocationList(revocation_store, clock=clock, horizon=cast(int, max_lifetime))
            if revocation_store is not None
            else None
        )
        if store is None and (
            touch_after is not None or encode_id is not None or decode_id is not None
        ):
            raise ConfigError(
                "store",
                "touch_after, encode_id and decode_id only apply in store mode",
                "pass store=SQLStore(...) / RedisStore(...), or drop those settings",
            )

    @property
    def mode(self) -> Literal["cookie", "store"]:
        """``"store"`` when a store holds the sessions, else ``"cookie"``."""
        return "store" if self.backend is not None else "cookie"

    def _require_store(self, what: str) -> StoreBackend[UserT]:
        if self.backend is None:
            raise ConfigError(
                "store",
                f"{what} needs a session store",
                "pass store=SQLStore(...) or RedisStore(...) to ReflexSession",
            )
        return self.backend

    def __repr__(self) -> str:
        return f"ReflexSession({self.config!r})"

    # -- cookie jars --------------------------------------------------------------------------

    def jar(self, cookie_header: str | None, *, https: bool = False) -> CookieJar:
        """A jar over a raw ``Cookie`` header (``https`` as seen behind your trusted proxy)."""
        return CookieJar.from_header(
            cookie_header, policy=self.cookie_policy, request_is_https=https
        )

    @property
    def client_config(self) -> dict[str, Any]:
        """What a client needs to schedule refreshes (the reference's ``clientConfig``)."""
        return {
            "apiPath": self.config.api_path,
            "refreshThreshold": self.policy.refresh_threshold,
            "sessionExpiry": self.policy.session_expiry,
            "loginPath": self.config.login_path,
            "homePath": self.config.home_path,
        }

    # -- pure utilities ---------------------------------------------------------------------

    def encrypt_session(self, session: Session[UserT]) -> str:
        """The cookie value for ``session`` (raises ``CookieTooLarge`` over the browser limit)."""
        return self.codec.encode(session)

    def decrypt_session(self, token: str | None) -> Session[UserT] | None:
        """The session in a cookie value; ``None`` for anything invalid or expired. Never raises."""
        decoded = self.codec.read(token)
        return decoded.session if decoded else None

    def is_session_expired(self, session: Session[Any]) -> bool:
        return is_expired(session, now_ms(self.clock))

    def should_refresh_session(self, session: Session[Any]) -> bool:
        return should_refresh(session, now_ms(self.clock), self.policy)

    def should_reissue(self, session: Session[Any]) -> bool:
        """Whether a read now would re-issue the cookie (refresh threshold, or touch_after)."""
        if not self.config.auto_refresh:
            return False
        if self.backend is not None:
            return self.backend.should_touch(session)
        return self.should_refresh_session(session)

    async def _written(
        self,
        session: Session[UserT],
        trigger: WriteTrigger,
        changes: Mapping[str, Any] | None = None,
    ) -> Session[UserT]:
        """``session`` as ``on_write`` wants it written (identity and time never change)."""
        if self.on_write is None:
            return session
        try:
            result = self.on_write(session, trigger, changes)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.error("on_write raised on %s; the session is written unchanged", trigger)
            return session
        if result is None:
            return session
        adopted = self._adopt(session, result)
        if adopted is None:
            log.error("on_write must return the same user's Session or None; ignored")
            return session
        return adopted

    def _adopt(self, session: Session[UserT], result: object) -> Session[UserT] | None:
        """A callback's session taken over: its user fields and tokens, never the identity or
        the times; ``None`` when it is not a session of the same user."""
        if not isinstance(result, Session) or result.user.id != session.user.id:
            return None
        return session.replace(
            user=self.user_type.coerce(result.user),
            access_token=result.access_token,
            refresh_token=result.refresh_token,
        )

    def client_view(self, session: Session[Any]) -> dict[str, Any]:
        """What the browser sees of ``session`` (next-auth's session callback shapes it).

        Tokens are left out unless ``expose_tokens``; then ``session_callback(session, view)``,
        if configured, returns the view to send (add a field, drop one). Its result is copied, so
        the callback cannot reach into the session.
        """
        view = session.client_view(expose_tokens=self.config.expose_tokens)
        if self.session_callback is None:
            return view
        try:
            shaped = self.session_callback(session, view)
        except Exception:
            log.error("session_callback raised; the default client view is sent")
            return session.client_view(expose_tokens=self.config.expose_tokens)
        result: dict[str, Any] = thaw(dict(shaped))
        return result

    def decide(self, path_with_query: str, session: Session[Any] | None) -> Decision:
        """The route guard's decision for a path (with its query) and a session."""
        return self.guard.decide(path_with_query, session)

    def new_session(
        self,
        user: UserT | Mapping[str, Any],
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
    ) -> Session[UserT]:
        """A fresh session (new id) for ``user``, not yet written anywhere."""
        return new_session(
            self.user_type.coerce(user),
            now_ms=now_ms(self.clock),
            policy=self.policy,
            access_token=access_token,
            refresh_token=refresh_token,
            id_factory=self._id_factory,
        )

    # -- verbs over a cookie jar ------------------------------------------------------------

    def write(self, jar: CookieJar, session: Session[UserT]) -> Session[UserT]:
        """Seal ``session`` into the jar's cookie, with Max-Age = its remaining life."""
        token = self.codec.encode(session)  # raises CookieTooLarge before anything is written
        remaining = (session.expires_at - now_ms(self.clock)) // 1000
        if remaining <= 0:
            jar.clear()
        else:
            jar.write(token, remaining)
        return session

    async def save(self, jar: CookieJar, session: Session[UserT]) -> Session[UserT]:
        """Persist ``session`` as it is: in the cookie, or in the store with the cookie at it."""
        if self.backend is not None:
            return await self.backend.save(jar, session)
        return self.write(jar, session)

    async def create_session(
        self,
        jar: CookieJar,
        user: UserT | Mapping[str, Any],
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> Session[UserT]:
        """Log ``user`` in: a new session with a new id, written to the jar.

        In store mode the previous session of this browser is destroyed (session fixation
        defence) and ``meta`` (e.g. the user agent) is kept for a "your devices" page.
        """
        session = self.new_session(user, access_token=access_token, refresh_token=refresh_token)
        return await self.login(jar, session, meta=meta)

    async def login(
        self, jar: CookieJar, session: Session[UserT], *, meta: Mapping[str, str] | None = None
    ) -> Session[UserT]:
        """Write a session made by :meth:`new_session` (the Reflex layer's login path)."""
        session = await self._written(session, "login")
        if self.backend is not None:
            return await self.backend.login(jar, session, meta=meta)
        return self.write(jar, session)

    async def load(self, jar: CookieJar) -> tuple[Session[UserT] | None, bool]:
        """Read and validate the jar's session without refreshing: (session, stale_key)."""
        token = jar.read()
        if self.backend is not None:
            loaded, stale_key = await self.backend.load(jar)
            if loaded is None:
                return None, False
            session = loaded
        else:
            decoded = self.codec.read(token)
            if decoded is None:
                if token:
                    jar.clear()  # expired or invalid: do not keep sending it
                return None, False
            session, stale_key = decoded.session, decoded.stale_key
            if self.revocations is not None and not await self.revocations.allows(session):
                self.codec.forget(token or "")
                jar.clear()
                return None, False
        if self.config.on_validate is not None:
            try:
                valid = await _call(self.config.on_validate, session)
            except Exception:
                log.exception("on_validate raised; treating the session as invalid")
                valid = False
            if not valid:
                await self.delete_session(jar)
                return None, False
        return session, stale_key

    async def get_session(self, jar: CookieJar) -> Session[UserT] | None:
        """The current session, or ``None``; re-issues the cookie when the refresh rule says so.

        The cookie is re-issued when ``auto_refresh`` is on and it is at least
        ``refresh_threshold`` old, and always when it was sealed under a previous secret (so a
        rotation moves every active user to the new key without logging anyone out).
        """
        session, stale_key = await self.load(jar)
        if session is None:
            return None
        if self.config.auto_refresh and (
            self.backend.should_touch(session)
            if self.backend is not None
            else should_refresh(session, now_ms(self.clock), self.policy)
        ):
            return await self._refresh(jar, session)
        if stale_key:
            if self.backend is not None:
                self.backend.write_cookie(
                    jar, session.id, session.last_activity, session.expires_at
                )
            else:
                self.write(jar, session)
        return session

    async def refresh_session(self, jar: CookieJar) -> Session[UserT] | None:
        """Extend the session now (subject to the absolute limit); ``None`` if there is none."""
        session, _ = await self.load(jar)
        if session is None:
            return None
        return await self._refresh(jar, session)

    async def _refresh(self, jar: CookieJar, session: Session[UserT]) -> Session[UserT] | None:
        """Re-issue ``session`` now, through ``on_refresh`` when one is configured.

        The callback may change the user's fields and the tokens, never the session's identity or
        time. It fails closed: ``None``, a different user id or a value that is not a session ends
        the session; an exception leaves the cookie as it was (not extended, not ended), so a
        flaky upstream token endpoint neither logs users out nor extends them silently.
        """
        if self.config.on_refresh is not None:
            try:
                result = await _call(self.config.on_refresh, session)
            except Exception:
                log.error("on_refresh raised; the session is kept but not extended")
                return session
            if result is None:
                await self.delete_session(jar)
                return None
            changed = self._adopt(session, result)
            if changed is None:
                log.error("on_refresh must return the same user's Session or None; session ended")
                await self.delete_session(jar)
                return None
            if self.backend is not None and changed != session:
                return await self.backend.save(
                    jar, refreshed(changed, now_ms(self.clock), self.policy)
                )
            session = changed
        if self.on_write is not None:
            written = await self._written(session, "refresh")
            if written != session and self.backend is not None:
                return await self.backend.save(
                    jar, refreshed(written, now_ms(self.clock), self.policy)
                )
            session = written
        if self.backend is not None:
            return await self.backend.touch(jar, session)
        try:
            return self.write(jar, refreshed(session, now_ms(self.clock), self.policy))
        except CookieTooLarge:
            log.error("the refreshed session does not fit in a cookie; kept but not extended")
            return session

    async def update_session(
        self,
        jar: CookieJar,
        *,
        user: Mapping[str, Any] | None = None,
        access_token: str | None = _UNSET,
        refresh_token: str | None = _UNSET,
    ) -> Session[UserT] | None:
        """Merge changes into the session (``user`` deep-merged; nothing else is lost).

        Returns ``None`` when there is no session. Raises :class:`ForbiddenUpdate` for a change
        that is not allowed (``user.id``) and :class:`CookieTooLarge` when the result would not fit
        in a cookie; in both cases the old cookie stays as it was.
        """
        session, _ = await self.load(jar)
        if session is None:
            return None
        updated = merged(session, user=user, access_token=access_token, refresh_token=refresh_token)
        changes: dict[str, Any] = {} if user is None else {"user": dict(user)}
        if access_token is not _UNSET:
            changes["accessToken"] = access_token
        if refresh_token is not _UNSET:
            changes["refreshToken"] = refresh_token
        written = await self._written(updated, "update", changes)
        if self.backend is not None and written != updated:
            # the callback reshaped the session: merge what differs from the copy loaded above
            # (not the whole user, which would put back fields another tab changed meanwhile)
            return await self.backend.update(written, _changes_since(session, written))
        updated = written
        if self.backend is not None:
            patch: dict[str, Any] = {}
            if user is not None:
                patch["user"] = dict(user)
            if access_token is not _UNSET:
                patch["accessToken"] = access_token
            if refresh_token is not _UNSET:
                patch["refreshToken"] = refresh_token
            # atomic in the store: concurrent updates of different fields all land
            return await self.backend.update(updated, patch) if patch else updated
        return self.write(jar, updated)

    async def delete_session(self, jar: CookieJar) -> None:
        """Log out: clear the cookie (same name and path, ``Max-Age=0``).

        In store mode the stored session is destroyed too, so a copy of the old cookie is
        refused from now on.
        """
        token = jar.read()
        if self.backend is not None:
            sid, _ = self.backend.sid_of(jar)
            if sid is not None:
                await self.backend.destroy(sid)
        elif self.revocations is not None and token:
            decoded = self.codec.read(token)
            if decoded is not None:  # a copy of this cookie is refused from now on
                await self.revocations.revoke_session(decoded.session.user.id, decoded.session.id)
        if token:
            self.codec.forget(token)
        jar.clear()

    # -- revocation (store mode) ------------------------------------------------------------

    async def list_sessions(self, user_id: str) -> list[StoredSession]:
        """The user's live sessions, newest first (for a "your devices" page)."""
        return [
            s
            for s in await self._require_store("list_sessions").store.list_for_user(user_id)
            if not s.sid.endswith(DATA_SUFFIX)
        ]

    async def end_session(self, session_id: str, *, user_id: str | None = None) -> None:
        """End one session (an admin's "sign out this device"); its cookie is refused from now.

        Cookie mode (with ``revocation_store``) needs the session's ``user_id`` too.
        """
        if self.backend is None and self.revocations is not None:
            if user_id is None:
                raise TypeError("end_session in cookie mode needs user_id=")
            await self.revocations.revoke_session(user_id, session_id)
            return
        await self._require_store("end_session").destroy(session_id)

    async def end_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        """ "Sign out everywhere" (optionally but this session): returns how many ended.

        In cookie mode (with ``revocation_store``) the server never saw every session, so the
        count is 0; every older session of the user is refused all the same.
        """
        if self.backend is None and self.revocations is not None:
            await self.revocations.revoke_user(user_id, keep_session_id=except_session_id)
            return 0
        backend = self._require_store("end_user_sessions")
        ended = [s.sid for s in await self.list_sessions(user_id) if s.sid != except_session_id]
        for sid in ended:
            await backend.destroy(sid)
        return len(ended)

    async def update_user_sessions(self, user_id: str, user: Mapping[str, Any]) -> int:
        """Merge ``user`` into every live session of ``user_id`` (e.g. after a profile or role
        change made elsewhere); atomic per session. Returns how many sessions changed.

        Pair it with ``reflex_session.reflex.live.push_refresh(user_id)`` so open tabs show it.
        """
        backend = self._require_store("update_user_sessions")
        if "id" in user and str(user["id"]) != user_id:
            raise ForbiddenUpdate("user.id", "the user of a session cannot change; log in again")
        changed = 0
        for record in await self.list_sessions(user_id):
            if await backend.store.merge(record.sid, {"user": dict(user)}) is not None:
                changed += 1
        return changed

    async def reload(self, session: Session[Any]) -> Session[UserT] | None:
        """The stored version of ``session`` now (store mode): newer data, or ``None`` if ended."""
        backend = self._require_store("reload")
        record = await backend.store.get(session.id)
        return backend._session(record) if record else None

    async def is_live(self, session: Session[Any]) -> bool:
        """Whether ``session`` still exists *now* (store mode; always true in cookie mode)."""
        if self.backend is None:
            if self.is_session_expired(session):
                return False
            return self.revocations is None or await self.revocations.allows(session)
        return await self.backend.store.get(session.id) is not None

    # -- session data and CSRF tokens (store mode) -------------------------------------------

    async def get_session_data(self, jar: CookieJar) -> dict[str, Any] | None:
        """The session's data, or ``None``; never creates a session."""
        return await self._require_store("get_session_data").get_data(jar)

    async def set_session_data(self, jar: CookieJar, data: Mapping[str, Any]) -> dict[str, Any]:
        """Deep-merge ``data`` into the session's data (atomic); creates a session if needed."""
        return await self._require_store("set_session_data").set_data(jar, data)

    async def replace_session_data(self, jar: CookieJar, data: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the session's data as a whole (atomic); creates a session if needed."""
        return await self._require_store("replace_session_data").replace_data(jar, data)

    async def pluck_session_property(self, jar: CookieJar, key: str) -> Any:
        """Return and remove one property of the session's data (atomic); ``None`` if absent."""
        return await self._require_store("pluck_session_property").pluck(jar, key)

    async def destroy_session(self, jar: CookieJar) -> None:
        """Destroy the session and its data (next-server-session's name for a logout)."""
        await self.delete_session(jar)

    async def get_csrf_token(self, jar: CookieJar) -> str:
        """A fresh random CSRF token for this session (single use; only its digest is stored)."""
        return await self._require_store("get_csrf_token").new_csrf_token(jar)

    async def validate_csrf_token(self, jar: CookieJar, token: object) -> bool:
        """True once for a token this session was given; false for any other (constant time:
        the comparison is a store lookup of the token's SHA-256 digest)."""
        return await self._require_store("validate_csrf_token").check_csrf_token(jar, token)

    async def is_authenticated(self, jar: CookieJar) -> bool:
        session, _ = await self.load(jar)
        return session is not None

    async def require_session(self, jar: CookieJar) -> Session[UserT]:
        """The current session, or raise :class:`NoSession`."""
        session = await self.get_session(jar)
        if session is None:
            raise NoSession("not signed in")
        return session

    # -- HTTP -----------------------------------------------------------------------------------

    def handlers(self) -> ASGIApp:
        """The session API as an ASGI app, to mount at ``api_path`` (``/api/session``)."""
        from .http.handlers import SessionAPI

        return SessionAPI(self)

    def middleware(self, app: ASGIApp, custom: CustomHandler | None = None) -> ASGIApp:
        """Wrap ``app`` so page requests are guarded before any HTML is served."""
        from .http.middleware import SessionMiddleware

        return SessionMiddleware(app, self, custom=custom or self.authorize)


def _changes_since(before: Session[Any], after: Session[Any]) -> dict[str, Any]:
    """The store patch that turns ``before`` into ``after``: the user's changed top-level fields
    and the tokens that changed, in wire names. A field ``after`` dropped stays (a merge adds and
    replaces; it never deletes, the same rule as ``update_session`` itself)."""
    old, new = before.user.to_wire(), after.user.to_wire()
    missing = object()
    patch: dict[str, Any] = {}
    user = {key: value for key, value in new.items() if old.get(key, missing) != value}
    if user:
        patch["user"] = user
    if after.access_token != before.access_token:
        patch["accessToken"] = after.access_token
    if after.refresh_token != before.refresh_token:
        patch["refreshToken"] = after.refresh_token
    return patch
