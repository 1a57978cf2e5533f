"""Typed, frozen settings, validated once at construction.

Every check here fails with a :class:`ConfigError` that names the setting and says how to fix it:
a misconfigured session layer must refuse to start, not quietly issue weak cookies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .clock import SYSTEM_CLOCK, Clock
from .cookies import CookiePolicy
from .errors import ConfigError
from .lifecycle import Policy, new_session_id
from .reasons import REASON_PARAM, ROLE_PARAM
from .rules import ROUTE_TYPES, RouteGuard, RouteRule, RouteType
from .session import Session, User

if TYPE_CHECKING:
    from .stores.base import SessionStore

__all__ = [
    "MIN_SECRET_BYTES",
    "ClientOptions",
    "RefreshCallback",
    "SessionConfig",
    "ValidateCallback",
    "ViewCallback",
    "WriteCallback",
    "WriteTrigger",
    "load_secrets",
]

MIN_SECRET_BYTES = 32
_GENERATE = (
    'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))" '
    "and set it as SESSION_SECRET (or pass secret_key=...)"
)
_TOKEN_CHARS = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 7230 token
_DAY = 24 * 60 * 60
_MAX_LEEWAY = 300
_LOCALE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")

MaybeAwaitable = Any  # T | Awaitable[T]; kept loose so sync and async callbacks both type-check
ValidateCallback = Callable[[Any], "bool | Awaitable[bool]"]
RefreshCallback = Callable[[Any], Any]
WriteTrigger = Literal["login", "update", "refresh"]
#: ``on_write(session, trigger, changes)``: next-auth's jwt callback. Called before a session is
#: written, knowing why ("login", "update" with the update's ``changes``, "refresh"); returns the
#: session to write (it may change the user's fields and the tokens) or ``None`` to keep it.
WriteCallback = Callable[[Session[Any], WriteTrigger, Mapping[str, Any] | None], Any]
#: ``session_callback(session, view)``: next-auth's session callback; returns the browser's view.
ViewCallback = Callable[[Session[Any], dict[str, Any]], Mapping[str, Any]]


def load_secrets(secret_key: str | None, previous: Sequence[str] | None) -> tuple[str, ...]:
    """Secrets oldest to newest, from the arguments or the environment.

    The environment variables are ``SESSION_SECRET`` and ``SESSION_PREVIOUS_SECRETS``.

    ``SESSION_PREVIOUS_SECRETS`` is a comma-separated list, oldest first.
    """
    current = secret_key if secret_key is not None else os.environ.get("SESSION_SECRET")
    if not current:
        raise ConfigError("secret_key", "no secret configured", _GENERATE)
    if previous is None:
        env = os.environ.get("SESSION_PREVIOUS_SECRETS", "")
        previous = [s.strip() for s in env.split(",") if s.strip()]
    secrets = (*previous, current)
    for index, secret in enumerate(secrets):
        name = "secret_key" if index == len(secrets) - 1 else f"previous_secret_keys[{index}]"
        if not isinstance(secret, str):
            raise ConfigError(name, "must be a string", _GENERATE)
        if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ConfigError(
                name,
                f"is {len(secret.encode('utf-8'))} bytes; at least {MIN_SECRET_BYTES} are needed",
                _GENERATE,
            )
    if len(set(secrets)) != len(secrets):
        raise ConfigError(
            "previous_secret_keys", "a secret is listed twice", "list each secret once"
        )
    return secrets


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """Every setting of a :class:`~reflex_session.ReflexSession`, validated once, here.

    ``ReflexSession(...)`` passes its keyword arguments straight to this class; nothing else in
    the package checks a setting, and everything derived from them (the time :attr:`policy`,
    the :attr:`cookie_policy`, the route guard) is built from this object, never copied. A
    setting that cannot work fails with a :class:`ConfigError` naming it and saying how to fix
    it: a misconfigured session layer must refuse to start, not quietly issue weak cookies.
    """

    secrets: tuple[str, ...] = field(repr=False)
    session_expiry: int = 7 * _DAY
    #: ``None``: the reference's one day, or half the expiry for shorter sessions.
    refresh_threshold: int | None = None
    #: ``None``: thirty days, or the idle expiry if that is longer.
    max_lifetime: int | None = None
    cookie_name: str = "session"
    auto_refresh: bool = True
    secure_cookie: bool | None = None
    same_site: Literal["lax", "strict", "none"] = "lax"
    cookie_domain: str | None = None
    host_prefix: bool = True
    on_validate: ValidateCallback | None = None
    on_refresh: RefreshCallback | None = None
    on_write: WriteCallback | None = None
    session_callback: ViewCallback | None = None
    authorize: Any = None
    routes: tuple[RouteRule, ...] = ()
    default_type: RouteType = "hybrid"
    login_path: str = "/login"
    home_path: str = "/"
    #: where a signed-in user without a page's role goes (``None``: ``home_path``)
    forbidden_path: str | None = None
    locales: tuple[str, ...] = ()
    return_to_param: str = "callbackUrl"
    api_path: str = "/api/session"
    expose_tokens: bool = False
    client_user_fields: tuple[str, ...] = ("name", "image")
    trusted_origins: tuple[str, ...] = ()
    user_type: type[User] = User
    leeway: float = 5.0
    decode_cache_size: int = 1024
    id_factory: Callable[[], str] = new_session_id
    store: SessionStore | None = None
    revocation_store: SessionStore | None = None
    #: store mode: the shortest time between two writes of a session (``None``: the threshold)
    touch_after: int | None = None
    encode_id: Callable[[str], str] | None = None
    decode_id: Callable[[str], str] | None = None
    #: store mode: keep store reads in each process until a change is announced, at most this
    #: many seconds (0: off); see :mod:`reflex_session.readcache`
    read_cache_ttl: float = 0.0
    read_cache_size: int = 10_000
    clock: Clock = SYSTEM_CLOCK
    #: the time rules, derived from the three times above
    policy: Policy = field(init=False, repr=False)
    #: the cookie's name and attributes, derived from the cookie settings
    cookie_policy: CookiePolicy = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._check_times()
        self._check_cookie()
        self._check_routes()
        self._check_callbacks()
        self._check_store()
        for name in ("login_path", "home_path", "api_path", "forbidden_path"):
            value = getattr(self, name)
            if value is None and name == "forbidden_path":
                continue
            if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
                raise ConfigError(name, f"{value!r} is not a site path", "use a path like '/login'")
        _set(self, "api_path", self.api_path.rstrip("/") or "/")
        _set(self, "client_user_fields", _names("client_user_fields", self.client_user_fields))
        origins = _names("trusted_origins", self.trusted_origins)
        for origin in origins:
            if not re.fullmatch(r"https?://[^/\s]+", origin.rstrip("/")):
                raise ConfigError(
                    "trusted_origins", f"{origin!r}", "use scheme://host[:port], no path"
                )
        _set(self, "trusted_origins", tuple(o.rstrip("/") for o in origins))
        if not (isinstance(self.user_type, type) and issubclass(self.user_type, User)):
            raise ConfigError(
                "user_type",
                f"{self.user_type!r} is not a User subclass",
                "subclass reflex_session.User with @dataclass(frozen=True)",
            )
        if (
            isinstance(self.leeway, bool)
            or not isinstance(self.leeway, int | float)
            or not 0 <= self.leeway <= _MAX_LEEWAY
        ):
            raise ConfigError(
                "leeway",
                f"{self.leeway!r} is not between 0 and {_MAX_LEEWAY} seconds",
                "it forgives clock skew between servers; a few seconds is plenty",
            )
        if (
            isinstance(self.decode_cache_size, bool)
            or not isinstance(self.decode_cache_size, int)
            or self.decode_cache_size < 0
        ):
            raise ConfigError(
                "decode_cache_size", f"{self.decode_cache_size!r}", "use 0 to disable the cache"
            )
        ttl = self.read_cache_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 <= ttl <= 3600:
            raise ConfigError(
                "read_cache_ttl", f"{ttl!r}", "seconds between 0 (off) and 3600; 10 is plenty"
            )
        if ttl and self.store is None:
            raise ConfigError(
                "read_cache_ttl", "there is nothing to cache in cookie mode", "pass store=..."
            )
        size = self.read_cache_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError("read_cache_size", f"{size!r}", "a positive number of sessions")

    def _check_times(self) -> None:
        expiry = self.session_expiry
        _positive_int("session_expiry", expiry)
        if expiry < 2:
            raise ConfigError(
                "session_expiry",
                f"{expiry}s leaves no room for a refresh threshold",
                "use at least 2 seconds (realistically minutes)",
            )
        threshold = self.refresh_threshold
        lifetime = self.max_lifetime
        threshold = default_refresh_threshold(expiry) if threshold is None else threshold
        lifetime = default_max_lifetime(expiry) if lifetime is None else lifetime
        _positive_int("refresh_threshold", threshold)
        _positive_int("max_lifetime", lifetime)
        if threshold >= expiry:
            raise ConfigError(
                "refresh_threshold",
                f"{threshold}s is not below session_expiry ({expiry}s), "
                "so an active user would never be refreshed before expiring",
                "use a threshold well below the expiry, e.g. a quarter of it",
            )
        if lifetime < expiry:
            raise ConfigError(
                "max_lifetime",
                f"{lifetime}s is shorter than session_expiry ({expiry}s)",
                "set max_lifetime >= session_expiry (it caps how far refreshes can extend)",
            )
        _set(self, "refresh_threshold", threshold)
        _set(self, "max_lifetime", lifetime)
        _set(self, "policy", Policy(expiry, threshold, lifetime))

    def _check_cookie(self) -> None:
        if not isinstance(self.cookie_name, str) or (
            not _TOKEN_CHARS.fullmatch(self.cookie_name) or self.cookie_name.startswith("__")
        ):
            raise ConfigError(
                "cookie_name",
                f"{self.cookie_name!r} is not a plain cookie name",
                "use letters, digits, '-' or '_'; the __Host- prefix is added automatically",
            )
        if self.same_site not in ("lax", "strict", "none"):
            raise ConfigError("same_site", f"{self.same_site!r}", "use 'lax', 'strict' or 'none'")
        if self.same_site == "none" and self.secure_cookie is False:
            raise ConfigError(
                "same_site", "'none' needs a Secure cookie", "set secure_cookie=True or use 'lax'"
            )
        if self.cookie_domain is not None and self.host_prefix and self.secure_cookie is True:
            raise ConfigError(
                "cookie_domain",
                "a __Host- cookie cannot carry a Domain",
                "drop cookie_domain (recommended), or set host_prefix=False to share the cookie "
                "with subdomains",
            )
        _set(
            self,
            "cookie_policy",
            CookiePolicy(
                name=self.cookie_name,
                same_site=self.same_site,
                secure=self.secure_cookie,
                host_prefix=self.host_prefix,
                domain=self.cookie_domain,
            ),
        )

    def _check_routes(self) -> None:
        try:
            rules = tuple(self.routes)
            if not all(isinstance(r, RouteRule) for r in rules):
                raise TypeError
        except TypeError:
            raise ConfigError(
                "routes",
                "must be a list of route.public/auth/hybrid(...) rules",
                "build rules with reflex_session.route",
            ) from None
        _set(self, "routes", rules)
        if self.default_type not in ROUTE_TYPES:
            raise ConfigError(
                "default_type", f"{self.default_type!r}", f"use one of {', '.join(ROUTE_TYPES)}"
            )
        locales = _names("locales", self.locales)
        for locale in locales:
            if not _LOCALE.fullmatch(locale):
                raise ConfigError(
                    "locales", f"{locale!r} is not a locale", "use path segments like 'en', 'pt-BR'"
                )
        _set(self, "locales", locales)
        if not isinstance(self.return_to_param, str) or not _TOKEN_CHARS.fullmatch(
            self.return_to_param
        ):
            raise ConfigError(
                "return_to_param", f"{self.return_to_param!r}", "use a plain name like 'next'"
            )
        if self.return_to_param in (REASON_PARAM, ROLE_PARAM):
            raise ConfigError(
                "return_to_param",
                f"{self.return_to_param!r} is the parameter redirects carry their reason in",
                "use another name, like 'next'",
            )
        self._check_forbidden_path(rules)

    def _check_forbidden_path(self, rules: tuple[RouteRule, ...]) -> None:
        """The forbidden page must be one a signed-in user without roles may see: a page that
        itself asks for a role would send the refused user round in a loop."""
        path = self.forbidden_path
        if not isinstance(path, str) or not path.startswith("/"):
            return  # None, or refused with the other paths
        route_type, rule = RouteGuard(rules, default_type=self.default_type).type_of(
            path.partition("?")[0].rstrip("/") or "/"
        )
        if route_type == "public" or (rule is not None and rule.requires is not None):
            raise ConfigError(
                "forbidden_path",
                f"{path!r} is a {route_type} page"
                + (" with a requirement" if route_type == "auth" else ""),
                "make it a hybrid page, or an auth page without a role",
            )

    def _check_callbacks(self) -> None:
        for name in ("on_validate", "on_refresh", "on_write", "session_callback", "authorize"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ConfigError(name, "is not callable", "pass a function or None")
        for name in ("id_factory", "encode_id", "decode_id"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ConfigError(name, "is not callable", "pass a function")

    def _check_store(self) -> None:
        if self.store is not None and self.revocation_store is not None:
            raise ConfigError(
                "revocation_store",
                "is for cookie mode; store mode revokes through its store already",
                "drop revocation_store (or use it without store=...)",
            )
        if self.store is None:
            if (
                self.touch_after is not None
                or self.encode_id is not None
                or self.decode_id is not None
            ):
                raise ConfigError(
                    "store",
                    "touch_after, encode_id and decode_id only apply in store mode",
                    "pass store=SQLStore(...) / RedisStore(...), or drop those settings",
                )
            return
        expiry = self.session_expiry
        touch = self.touch_after
        if touch is not None and (
            isinstance(touch, bool) or not isinstance(touch, int) or not 0 < touch < expiry
        ):
            raise ConfigError(
                "touch_after",
                f"{touch!r}s is not between 0 and session_expiry ({expiry}s)",
                "use a window well below the expiry (default: the refresh threshold)",
            )
        _set(self, "touch_after", self.policy.refresh_threshold if touch is None else touch)

    @property
    def mode(self) -> Literal["cookie", "store"]:
        """``"store"`` when a store holds the sessions, else ``"cookie"`` (for display)."""
        return "cookie" if self.store is None else "store"

    def __repr__(self) -> str:
        return (
            f"SessionConfig(secrets=<{len(self.secrets)} hidden>, mode={self.mode!r}, "
            f"session_expiry={self.session_expiry}, refresh_threshold={self.refresh_threshold}, "
            f"max_lifetime={self.max_lifetime}, cookie_name={self.cookie_name!r})"
        )


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """The reference's ``SessionProvider`` props, as ``reflex.install`` options.

    Times are milliseconds, as in the reference. ``initial_session`` has no equivalent: the
    state is server-side and is filled from the cookie when the websocket connects.
    """

    fetch_on_mount: bool = True
    #: re-check the cookie every this many ms while signed in (``None``: never)
    refresh_interval: int | None = None
    refetch_on_path_change: bool = True
    auto_activity_refresh: bool = True
    #: the least time between two activity pulls (``None``: the refresh threshold)
    activity_refresh_interval: int | None = None
    #: how long before expiry the session counts as "expiring soon" (``None``: an hour, or a
    #: fifth of a shorter session)
    expiring_soon: int | None = None
    on_session_change: Callable[[Any, Any], Any] | None = None

    def __post_init__(self) -> None:
        for name in ("refresh_interval", "activity_refresh_interval", "expiring_soon"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise ConfigError(name, f"{value!r} is not a positive number of milliseconds")
        if self.on_session_change is not None and not callable(self.on_session_change):
            raise ConfigError("on_session_change", "is not callable", "pass a function or None")

    def soon_ms(self, policy: Policy) -> int:
        """The expiring-soon window in ms (the reference's one hour, or a fifth of a shorter
        session)."""
        if self.expiring_soon is not None:
            return self.expiring_soon
        return 1000 * min(3600, max(1, policy.session_expiry // 5))

    def activity_ms(self, policy: Policy) -> int:
        """The least time between two pulls caused by user activity, in ms."""
        return self.activity_refresh_interval or 1000 * policy.refresh_threshold


def _set(config: SessionConfig, name: str, value: Any) -> None:
    """Store a normalised or derived value on the frozen config (only during validation)."""
    object.__setattr__(config, name, value)


def _names(setting: str, value: object) -> tuple[str, ...]:
    """A list of strings: a lone string is refused, because ``tuple("en")`` is ``('e', 'n')``."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(setting, f"{value!r} is not a list of strings", f'use {setting}=["..."]')
    items = tuple(value)
    if not all(isinstance(item, str) and item for item in items):
        raise ConfigError(setting, f"{items!r} holds something that is not a non-empty string")
    return items


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(
            name,
            f"{value!r} is not a positive number of seconds",
            "give whole seconds, e.g. 60 * 60 * 24",
        )


def default_refresh_threshold(session_expiry: int) -> int:
    """The reference's one day, or half the expiry for sessions shorter than two days."""
    return min(_DAY, max(1, session_expiry // 2))


def default_max_lifetime(session_expiry: int) -> int:
    """Thirty days (next-auth's hard expiry), or the idle expiry if that is longer."""
    return max(30 * _DAY, session_expiry)
