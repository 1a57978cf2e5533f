"""``ReflexSession``: the reference's ``NextAuthSession({...})`` factory, as one object.

It binds the pure parts (config, codec, lifecycle rules, route guard) to a clock and exposes the
reference's verbs in snake_case. Every verb that touches the cookie takes a :class:`CookieJar`,
the small request/response abstraction that the HTTP layer and the Reflex layer both build, so
the lifecycle is written once and has no web framework in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, cast

from .backends.base import Revocations
from .backends.cookie import CookieBackend
from .backends.store import StoreBackend
from .clock import SYSTEM_CLOCK, Clock
from .codec import SessionCodec
from .config import (
    RefreshCallback,
    SessionConfig,
    ValidateCallback,
    ViewCallback,
    WriteCallback,
    load_secrets,
)
from .data import SessionData
from .devices import Devices
from .engine import SessionEngine
from .http.handlers import SessionAPI
from .http.middleware import CustomHandler, SessionMiddleware
from .jwe import MAX_TOKEN_CHARS
from .lifecycle import new_session_id
from .readcache import ReadCache
from .revocation import RevocationList
from .rules import RouteRule, RouteType
from .session import User, UserT
from .stores.base import SessionStore

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["ReflexSession"]

#: Cookie bytes the browser allows for name plus value (RFC 6265bis 5.6; Chrome, Firefox).
BROWSER_COOKIE_LIMIT = 4096


class ReflexSession(SessionEngine[UserT]):
    """Encrypted, HttpOnly cookie sessions with sliding and absolute expiry and route rules.

    >>> auth = ReflexSession(secret_key="x" * 32, session_expiry=3600,
    ...                      routes=[route.auth("/dashboard/*")])  # doctest: +SKIP

    Settings are the reference's, in snake_case (``session_expiry``, ``refresh_threshold``,
    ``cookie_name``, ``auto_refresh``, ``secure_cookie``, ``same_site``, ``on_validate``,
    ``on_refresh``, ``routes``, ``default_type``, ``login_path``, ``home_path``, ``locales``,
    ``authorize``), plus:

    * ``forbidden_path`` — where a signed-in user without a page's role goes (default: home),
      with ``?reason=forbidden&role=...`` so the page can say why;

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
      exactly when the request came over HTTPS;
    * ``read_cache_ttl`` — store mode: keep each process's store reads until a change is
      announced, at most this many seconds (default 0: off). It takes effect under
      ``install()``, which knows how changes travel between workers (at once for one worker,
      while the Redis relay is subscribed for several); see :mod:`reflex_session.readcache`.
      A session ended by another process (a CLI, a cron job, an admin service that did not run
      ``install()``) reaches the workers' copies only when they expire: end sessions from the
      app itself, or leave the cache off (``docs/deploy.md`` §3).
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
        forbidden_path: str | None = None,
        locales: Sequence[str] = (),
        authorize: CustomHandler | None = None,
        return_to_param: str = "callbackUrl",
        api_path: str = "/api/session",
        expose_tokens: bool = False,
        session_callback: ViewCallback | None = None,
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
        read_cache_ttl: float = 0.0,
        read_cache_size: int = 10_000,
    ) -> None:
        # every keyword is a setting; SessionConfig validates and derives them all
        settings = {k: v for k, v in locals().items() if k not in _NOT_SETTINGS}
        config = SessionConfig(secrets=load_secrets(secret_key, previous_secret_keys), **settings)
        codec: SessionCodec[UserT] = SessionCodec(
            config.secrets,
            user_type=user_type,
            clock=clock,
            leeway=config.leeway,
            cache_size=config.decode_cache_size,
            max_value_bytes=min(
                MAX_TOKEN_CHARS,
                BROWSER_COOKIE_LIMIT - len(config.cookie_policy.name_for(True)) - 1,
            ),
            max_lifetime=config.policy.max_lifetime,
        )
        #: "sign out this device / everywhere": with a store, or a cookie revocation store
        self.revocations: Revocations | None = None
        #: a user's sessions (list, edit, reload): store mode only
        self.devices: Devices[UserT] | None = None
        #: session data and CSRF tokens: store mode only
        self.data: SessionData | None = None
        if config.store is not None:
            stored = StoreBackend(
                config.store,
                codec=codec,
                clock=clock,
                policy=config.policy,
                user_type=user_type,
                touch_after=cast(int, config.touch_after),
                id_factory=config.id_factory,
                encode_id=encode_id or _identity,
                decode_id=decode_id or _identity,
                cache=(
                    ReadCache(
                        size=config.read_cache_size, ttl=config.read_cache_ttl, monotonic=clock.time
                    )
                    if config.read_cache_ttl
                    else None
                ),
            )
            self.devices = self.revocations = Devices(stored)
            self.data = SessionData(stored)
            super().__init__(config, stored, codec)
            return
        revocation_list = (
            RevocationList(config.revocation_store, clock=clock, horizon=config.policy.max_lifetime)
            if config.revocation_store is not None
            else None
        )
        self.revocations = revocation_list
        cookie = CookieBackend(
            codec, policy=config.policy, clock=clock, revocations=revocation_list
        )
        super().__init__(config, cookie, codec)

    def __repr__(self) -> str:
        return f"ReflexSession({self.config!r})"

    # -- HTTP -----------------------------------------------------------------------------------

    def handlers(self) -> ASGIApp:
        """The session API as an ASGI app, to mount at ``api_path`` (``/api/session``)."""
        return SessionAPI(self)

    def middleware(
        self,
        app: ASGIApp,
        custom: CustomHandler | None = None,
        *,
        skip_prefixes: Sequence[str] = (),
    ) -> ASGIApp:
        """Wrap ``app`` so page requests are guarded before any HTML is served.

        ``skip_prefixes`` are your framework's own endpoints and build output, which are never
        pages (the Reflex layer passes Reflex's); the session API and static files (a last path
        segment with a file extension) are always skipped.
        """
        return SessionMiddleware(
            app, self, custom=custom or self.config.authorize, skip_prefixes=skip_prefixes
        )


#: the keywords of ``ReflexSession.__init__`` that are not fields of ``SessionConfig``
_NOT_SETTINGS = frozenset({"self", "__class__", "secret_key", "previous_secret_keys"})


def _identity(value: str) -> str:
    return value
