"""``ReflexSession``: the reference's ``NextAuthSession({...})`` factory, as one object.

It binds the pure parts (config, codec, lifecycle rules, route guard) to a clock and exposes the
reference's verbs in snake_case. Every verb that touches the cookie takes a :class:`CookieJar`,
the small request/response abstraction that the HTTP layer and the Reflex layer both build, so
the lifecycle is written once and has no web framework in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from .backends.base import Backend, Revocations
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
from .cookies import CookieJar
from .data import SessionData
from .devices import Devices
from .engine import SessionEngine
from .jwe import MAX_TOKEN_CHARS
from .lifecycle import new_session_id
from .revocation import RevocationList
from .rules import Decision, RouteGuard, RouteRule, RouteType
from .session import Session, User, UserT
from .stores.base import SessionStore

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from .http.middleware import CustomHandler

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
    ) -> None:
        config = SessionConfig(
            secrets=load_secrets(secret_key, previous_secret_keys),
            session_expiry=session_expiry,
            refresh_threshold=refresh_threshold,
            max_lifetime=max_lifetime,
            cookie_name=cookie_name,
            auto_refresh=auto_refresh,
            secure_cookie=secure_cookie,
            same_site=same_site,
            cookie_domain=cookie_domain,
            host_prefix=host_prefix,
            on_validate=on_validate,
            on_refresh=on_refresh,
            on_write=on_write,
            session_callback=session_callback,
            authorize=authorize,
            routes=routes,  # type: ignore[arg-type]  # validated and made a tuple there
            default_type=default_type,
            login_path=login_path,
            home_path=home_path,
            locales=locales,  # type: ignore[arg-type]
            return_to_param=return_to_param,
            api_path=api_path,
            expose_tokens=expose_tokens,
            client_user_fields=client_user_fields,  # type: ignore[arg-type]
            trusted_origins=trusted_origins,  # type: ignore[arg-type]
            user_type=user_type,
            leeway=leeway,
            decode_cache_size=decode_cache_size,
            id_factory=id_factory,
            store=store,
            revocation_store=revocation_store,
            touch_after=touch_after,
            encode_id=encode_id,
            decode_id=decode_id,
            clock=clock,
        )
        policy = config.policy
        codec: SessionCodec[UserT] = SessionCodec(
            config.secrets,
            user_type=user_type,
            clock=clock,
            leeway=leeway,
            cache_size=config.decode_cache_size,
            max_value_bytes=min(
                MAX_TOKEN_CHARS,
                BROWSER_COOKIE_LIMIT - len(config.cookie_policy.name_for(True)) - 1,
            ),
            max_lifetime=policy.max_lifetime,
        )
        self.guard = RouteGuard(
            config.routes,
            default_type=config.default_type,
            login_path=config.login_path,
            home_path=config.home_path,
            locales=config.locales,
            return_to_param=config.return_to_param,
        )
        self.cookie_policy = config.cookie_policy
        #: "sign out this device / everywhere": with a store, or a cookie revocation store
        self.revocations: Revocations | None = None
        #: a user's sessions (list, edit, reload): store mode only
        self.devices: Devices[UserT] | None = None
        #: session data and CSRF tokens: store mode only
        self.data: SessionData | None = None
        backend: Backend[UserT]
        if config.store is not None:
            stored = StoreBackend(
                config.store,
                codec=codec,
                clock=clock,
                policy=policy,
                user_type=user_type,
                touch_after=cast(int, config.touch_after),
                id_factory=config.id_factory,
                encode_id=encode_id or _identity,
                decode_id=decode_id or _identity,
            )
            self.devices = self.revocations = Devices(stored)
            self.data = SessionData(stored)
            backend = stored
        else:
            revocation_list = (
                RevocationList(config.revocation_store, clock=clock, horizon=policy.max_lifetime)
                if config.revocation_store is not None
                else None
            )
            self.revocations = revocation_list
            backend = CookieBackend(codec, policy=policy, clock=clock, revocations=revocation_list)
        super().__init__(config, backend, codec)

    def __repr__(self) -> str:
        return f"ReflexSession({self.config!r})"

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

    # -- HTTP -----------------------------------------------------------------------------------

    def handlers(self) -> ASGIApp:
        """The session API as an ASGI app, to mount at ``api_path`` (``/api/session``)."""
        from .http.handlers import SessionAPI

        return SessionAPI(self)

    def middleware(self, app: ASGIApp, custom: CustomHandler | None = None) -> ASGIApp:
        """Wrap ``app`` so page requests are guarded before any HTML is served."""
        from .http.middleware import SessionMiddleware

        return SessionMiddleware(app, self, custom=custom or self.config.authorize)


def _identity(value: str) -> str:
    return value
