"""Typed, frozen settings, validated once at construction.

Every check here fails with a :class:`ConfigError` that names the setting and says how to fix it:
a misconfigured session layer must refuse to start, not quietly issue weak cookies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .clock import SYSTEM_CLOCK, Clock
from .errors import ConfigError
from .rules import RouteRule, RouteType

__all__ = ["MIN_SECRET_BYTES", "SessionConfig", "load_secrets"]

MIN_SECRET_BYTES = 32
_GENERATE = (
    'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))" '
    "and set it as SESSION_SECRET (or pass secret_key=...)"
)
_TOKEN_CHARS = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 7230 token
_DAY = 24 * 60 * 60

MaybeAwaitable = Any  # T | Awaitable[T]; kept loose so sync and async callbacks both type-check
ValidateCallback = Callable[[Any], "bool | Awaitable[bool]"]
RefreshCallback = Callable[[Any], Any]


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


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """The resolved configuration (the reference's ``config``); built by ``ReflexSession``."""

    secrets: tuple[str, ...] = field(repr=False)
    session_expiry: int = 7 * _DAY
    refresh_threshold: int = _DAY
    max_lifetime: int = 30 * _DAY
    cookie_name: str = "session"
    auto_refresh: bool = True
    secure_cookie: bool | None = None
    same_site: Literal["lax", "strict", "none"] = "lax"
    cookie_domain: str | None = None
    host_prefix: bool = True
    on_validate: ValidateCallback | None = None
    on_refresh: RefreshCallback | None = None
    routes: tuple[RouteRule, ...] = ()
    default_type: RouteType = "hybrid"
    login_path: str = "/login"
    home_path: str = "/"
    locales: tuple[str, ...] = ()
    return_to_param: str = "callbackUrl"
    api_path: str = "/api/session"
    expose_tokens: bool = False
    client_user_fields: tuple[str, ...] = ("name", "image")
    trusted_origins: tuple[str, ...] = ()
    leeway: float = 5.0
    decode_cache_size: int = 1024
    clock: Clock = SYSTEM_CLOCK

    def __post_init__(self) -> None:
        _positive_int("session_expiry", self.session_expiry)
        _positive_int("refresh_threshold", self.refresh_threshold)
        _positive_int("max_lifetime", self.max_lifetime)
        if self.refresh_threshold >= self.session_expiry:
            raise ConfigError(
                "refresh_threshold",
                f"{self.refresh_threshold}s is not below session_expiry ({self.session_expiry}s), "
                "so an active user would never be refreshed before expiring",
                "use a threshold well below the expiry, e.g. a quarter of it",
            )
        if self.max_lifetime < self.session_expiry:
            raise ConfigError(
                "max_lifetime",
                f"{self.max_lifetime}s is shorter than session_expiry ({self.session_expiry}s)",
                "set max_lifetime >= session_expiry (it caps how far refreshes can extend)",
            )
        if not _TOKEN_CHARS.fullmatch(self.cookie_name) or self.cookie_name.startswith("__"):
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
        for name in ("login_path", "home_path", "api_path"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
                raise ConfigError(name, f"{value!r} is not a site path", "use a path like '/login'")
        if self.on_validate is not None and not callable(self.on_validate):
            raise ConfigError("on_validate", "is not callable", "pass a function or None")
        if self.on_refresh is not None and not callable(self.on_refresh):
            raise ConfigError("on_refresh", "is not callable", "pass a function or None")
        for origin in self.trusted_origins:
            if not isinstance(origin, str) or not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ConfigError(
                    "trusted_origins", f"{origin!r}", "use scheme://host[:port], no path"
                )
        if self.decode_cache_size < 0:
            raise ConfigError("decode_cache_size", "is negative", "use 0 to disable the cache")

    def __repr__(self) -> str:
        return (
            f"SessionConfig(secrets=<{len(self.secrets)} hidden>, "
            f"session_expiry={self.session_expiry}, refresh_threshold={self.refresh_threshold}, "
            f"max_lifetime={self.max_lifetime}, cookie_name={self.cookie_name!r})"
        )


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
