"""The session lifecycle: each verb written once, against a backend.

The reference's verbs in snake_case — ``create_session``, ``get_session``, ``update_session``,
``refresh_session``, ``delete_session`` — plus the callbacks around them (``on_validate``,
``on_refresh``, ``on_write``, ``session_callback``). Where the session is kept (a sealed cookie,
or a store row behind an id-only cookie) is the backend's business, so nothing here asks which
mode it is in. Every verb takes a :class:`CookieJar`, the request/response abstraction that the
HTTP layer and the Reflex layer both build, so the lifecycle has no web framework in it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Generic

from . import wire
from .backends.base import Backend
from .clock import now_ms
from .codec import SessionCodec
from .config import SessionConfig, WriteTrigger
from .cookies import CookieJar
from .errors import CookieTooLarge, NoSession
from .lifecycle import UNSET, is_expired, merged, new_session
from .rules import Decision, RouteGuard
from .session import Session, UserT, thaw

__all__ = ["SessionEngine"]

log = logging.getLogger("reflex_session")


async def _call(callback: Callable[..., Any], *arguments: Any) -> Any:
    result = callback(*arguments)
    if inspect.isawaitable(result):
        result = await result
    return result


class SessionEngine(Generic[UserT]):
    """The verbs over one backend; built by :class:`~reflex_session.ReflexSession`."""

    def __init__(
        self, config: SessionConfig, backend: Backend[UserT], codec: SessionCodec[UserT]
    ) -> None:
        self.config = config
        self.backend = backend
        self.codec = codec
        self.user_type: type[UserT] = config.user_type  # type: ignore[assignment]
        self.clock = config.clock
        self.policy = config.policy
        self.cookie_policy = config.cookie_policy
        self.guard = RouteGuard(
            config.routes,
            default_type=config.default_type,
            login_path=config.login_path,
            home_path=config.home_path,
            locales=config.locales,
            return_to_param=config.return_to_param,
            forbidden_path=config.forbidden_path,
        )

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

    def decide(self, path_with_query: str, session: Session[Any] | None) -> Decision:
        """The route guard's decision for a path (with its query) and a session."""
        return self.guard.decide(path_with_query, session)

    # -- pure utilities -------------------------------------------------------------------------

    def encrypt_session(self, session: Session[UserT]) -> str:
        """The sealed cookie-mode value for ``session`` (raises ``CookieTooLarge``)."""
        return self.codec.encode(session)

    def decrypt_session(self, token: str | None) -> Session[UserT] | None:
        """The session in a sealed value; ``None`` for anything invalid or expired. Never raises."""
        decoded = self.codec.read(token)
        return decoded.session if decoded else None

    def is_session_expired(self, session: Session[Any]) -> bool:
        """Whether ``session`` has expired by this engine's clock (the reference's
        ``isSessionExpired``)."""
        return is_expired(session, now_ms(self.clock))

    def should_refresh_session(self, session: Session[Any]) -> bool:
        """Whether a read now would extend the session (the backend's one re-issue rule)."""
        return self.config.auto_refresh and self.backend.should_refresh(session)

    def new_session(
        self,
        user: UserT | Mapping[str, Any],
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
    ) -> Session[UserT]:
        """A fresh session value (new id) for ``user``; nothing is written until
        :meth:`create_session` signs it in."""
        return new_session(
            self.user_type.coerce(user),
            now_ms=now_ms(self.clock),
            policy=self.policy,
            access_token=access_token,
            refresh_token=refresh_token,
            id_factory=self.config.id_factory,
        )

    def client_view(self, session: Session[Any]) -> dict[str, Any]:
        """What the browser sees of ``session`` (next-auth's session callback shapes it).

        Tokens are left out unless ``expose_tokens``; then ``session_callback(session, view)``,
        if configured, returns the view to send (add a field, drop one). Its result is copied, so
        the callback cannot reach into the session.
        """
        expose = self.config.expose_tokens
        view = wire.to_view(session, expose_tokens=expose)
        callback = self.config.session_callback
        if callback is None:
            return view
        try:
            shaped = callback(session, view)
        except Exception:
            log.error("session_callback raised; the default client view is sent")
            return wire.to_view(session, expose_tokens=expose)
        result: dict[str, Any] = thaw(dict(shaped))
        return result

    # -- callbacks --------------------------------------------------------------------------------

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

    async def _written(
        self,
        session: Session[UserT],
        trigger: WriteTrigger,
        changes: Mapping[str, Any] | None = None,
    ) -> Session[UserT]:
        """``session`` as ``on_write`` wants it written (identity and time never change)."""
        on_write = self.config.on_write
        if on_write is None:
            return session
        try:
            result = await _call(on_write, session, trigger, changes)
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

    # -- the verbs --------------------------------------------------------------------------------

    async def create_session(
        self,
        jar: CookieJar,
        user: UserT | Mapping[str, Any] | Session[UserT],
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> Session[UserT]:
        """Sign ``user`` in: a new session with a new id, written to the jar.

        ``user`` may also be a session made by :meth:`new_session` (the Reflex layer makes it in
        the event, so the page shows it at once, and signs it in from the browser's own
        request). In store mode the previous session of this browser is destroyed (session
        fixation defence) and ``meta`` (e.g. the user agent) is kept for a "your devices" page.
        """
        if isinstance(user, Session):
            session = user
        else:
            session = self.new_session(user, access_token=access_token, refresh_token=refresh_token)
        session = await self._written(session, "login")
        return await self.backend.login(jar, session, meta=meta)

    async def load_session(self, jar: CookieJar) -> tuple[Session[UserT] | None, bool]:
        """The jar's valid session without extending it, and whether its secret is stale.

        ``on_validate`` runs here: a session it refuses is deleted.
        """
        session, stale_key = await self.backend.read(jar)
        if session is None:
            return None, False
        on_validate = self.config.on_validate
        if on_validate is not None:
            try:
                valid = await _call(on_validate, session)
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
        session, stale_key = await self.load_session(jar)
        if session is None:
            return None
        if self.should_refresh_session(session):
            return await self._refresh(jar, session)
        if stale_key:
            self.backend.reseal(jar, session)
        return session

    async def is_authenticated(self, jar: CookieJar) -> bool:
        """Whether the jar holds a valid session (the reference's ``isAuthenticated``); it
        never extends the session."""
        session, _ = await self.load_session(jar)
        return session is not None

    async def require_session(self, jar: CookieJar) -> Session[UserT]:
        """The current session, or raise :class:`NoSession`."""
        session = await self.get_session(jar)
        if session is None:
            raise NoSession("not signed in")
        return session

    async def refresh_session(self, jar: CookieJar) -> Session[UserT] | None:
        """Extend the session now (subject to the absolute limit); ``None`` if there is none."""
        session, _ = await self.load_session(jar)
        if session is None:
            return None
        return await self._refresh(jar, session)

    async def _refresh(self, jar: CookieJar, session: Session[UserT]) -> Session[UserT] | None:
        """Re-issue ``session`` now, through ``on_refresh`` and ``on_write`` when configured.

        The callbacks may change the user's fields and the tokens, never the session's identity
        or time. ``on_refresh`` fails closed: ``None``, a different user id or a value that is
        not a session ends the session; an exception leaves the session as it was (not extended,
        not ended), so a flaky upstream token endpoint neither logs users out nor extends them
        silently.
        """
        current = session
        on_refresh = self.config.on_refresh
        if on_refresh is not None:
            try:
                result = await _call(on_refresh, session)
            except Exception:
                log.error("on_refresh raised; the session is kept but not extended")
                return session
            changed = None if result is None else self._adopt(session, result)
            if changed is None:
                if result is not None:
                    log.error("on_refresh must return the same user's Session or None; ended")
                await self.delete_session(jar)
                return None
            current = changed
        current = await self._written(current, "refresh")
        try:
            if current != session:
                # a callback changed it: apply what it changed, as an update (a merge into a
                # live record: never the whole session loaded earlier, which would put back a
                # session ended meanwhile, or a role changed meanwhile), then extend it
                updated = await self.backend.update(
                    jar, current, wire.changes_since(session, current)
                )
                if updated is None:
                    jar.clear()
                    return None
                return await self.backend.refresh(jar, updated)
            return await self.backend.refresh(jar, session)
        except CookieTooLarge:
            log.error("the refreshed session does not fit in a cookie; kept but not extended")
            return session

    async def update_session(
        self,
        jar: CookieJar,
        *,
        user: Mapping[str, Any] | None = None,
        access_token: str | None = UNSET,
        refresh_token: str | None = UNSET,
    ) -> Session[UserT] | None:
        """Merge changes into the session (``user`` deep-merged; nothing else is lost).

        Returns ``None`` when there is no session. Raises :class:`ForbiddenUpdate` for a change
        that is not allowed (``user.id``) and :class:`CookieTooLarge` when the result would not
        fit in a cookie; in both cases the old cookie stays as it was.
        """
        session, _ = await self.load_session(jar)
        if session is None:
            return None
        tokens: dict[str, str | None] = {}
        if access_token is not UNSET:
            tokens["access_token"] = access_token
        if refresh_token is not UNSET:
            tokens["refresh_token"] = refresh_token
        updated = merged(session, user=user, **tokens)
        patch = wire.patch_of(user, tokens)
        written = await self._written(updated, "update", patch)
        if written != updated:
            # the callback reshaped the session: apply what differs from the copy loaded above
            # (not the whole user, which would put back fields another tab changed meanwhile)
            patch = wire.changes_since(session, written)
        return await self.backend.update(jar, written, patch)

    async def delete_session(self, jar: CookieJar) -> None:
        """Sign out: the session is ended where it is kept and the cookie cleared (same name
        and path, ``Max-Age=0``). With a store or a revocation store, a copy of the old cookie
        is refused from now on."""
        await self.backend.end(jar)
        jar.clear()

    async def is_live(self, session: Session[Any]) -> bool:
        """Whether ``session`` may still act *now*: not expired, not ended (a store lookup in
        store mode or with a revocation store)."""
        return await self.backend.is_live(session)
