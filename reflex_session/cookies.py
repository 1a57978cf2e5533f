"""The cookie jar both layers use: request cookies in, ``Set-Cookie`` headers out.

The core never touches a framework's request object. The HTTP layer builds a :class:`CookieJar`
from the ``Cookie`` header, the lifecycle reads and writes through it, and the HTTP layer copies
:attr:`CookieJar.set_cookie_headers` onto its response. The Reflex layer does the same with the
cookie header its websocket was opened with.

Attributes: always ``HttpOnly`` and ``Path=/``; ``SameSite`` as configured (``Lax`` by default);
``Max-Age`` is the session's remaining life, never more. On a secure request (HTTPS, or configured
as secure) the cookie is ``Secure`` and, with ``host_prefix``, named ``__Host-<name>`` — a name a
sibling subdomain cannot set, which closes cookie tossing and fixation from ``evil.example.com``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["CookieJar", "CookiePolicy", "parse_cookie_header"]

SameSite = Literal["lax", "strict", "none"]

#: Cookie header lengths above this are not parsed (browsers send at most ~8 KiB in practice).
_MAX_COOKIE_HEADER = 16_384


def parse_cookie_header(header: str | None) -> dict[str, str]:
    """Parse a ``Cookie`` request header; the first occurrence of a name wins.

    Lenient by design (one malformed pair never hides the others) and bounded (a huge header is
    ignored rather than parsed).
    """
    cookies: dict[str, str] = {}
    if not header or len(header) > _MAX_COOKIE_HEADER:
        return cookies
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        if not sep:
            continue
        name = name.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name and name not in cookies:
            cookies[name] = value
    return cookies


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """How our cookie is named and which attributes it carries."""

    name: str = "session"
    same_site: SameSite = "lax"
    secure: bool | None = None  # None: decided per request (HTTPS => Secure)
    host_prefix: bool = True
    domain: str | None = None

    def is_secure(self, request_is_https: bool) -> bool:
        """Whether the cookie is ``Secure``: as configured, else as the request came (HTTPS)."""
        return request_is_https if self.secure is None else self.secure

    def name_for(self, secure: bool) -> str:
        """The cookie's name: ``__Host-`` or ``__Secure-`` prefixed when secure.

        Browsers take a prefixed cookie only with ``Secure`` from a secure origin, so a plain-HTTP
        page cannot plant one; ``__Host-`` also forbids ``Domain``, so a sibling subdomain cannot
        either. With a ``domain`` configured only ``__Secure-`` is possible.
        """
        if secure and self.host_prefix and self.domain is None:
            return "__Host-" + self.name
        if secure:
            return "__Secure-" + self.name
        return self.name

    def header(self, value: str, *, max_age: int, secure: bool) -> str:
        """The ``Set-Cookie`` value for ``value`` (``max_age <= 0`` deletes the cookie).

        ``Secure`` is also added for ``SameSite=None``, which browsers reject without it; a deletion
        carries a past ``Expires`` as well, for clients that only understand ``Expires``.
        """
        parts = [f"{self.name_for(secure)}={value}", "Path=/", f"Max-Age={max(0, max_age)}"]
        if max_age <= 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        if self.domain and not self.name_for(secure).startswith("__Host-"):
            parts.append(f"Domain={self.domain}")
        parts.append("HttpOnly")
        if secure or self.same_site == "none":
            parts.append("Secure")
        parts.append(f"SameSite={self.same_site.capitalize()}")
        return "; ".join(parts)


class CookieJar:
    """The cookies of one request, and the ``Set-Cookie`` headers its response must carry.

    ``request_is_https`` says whether the request came over HTTPS (as seen behind a trusted
    proxy); with the default policy (``secure=None``) it picks the cookie's name and its ``Secure``
    attribute, kept as :attr:`secure`.
    """

    __slots__ = ("_cookies", "_headers", "_out", "policy", "secure")

    def __init__(
        self, cookies: Mapping[str, str], *, policy: CookiePolicy, request_is_https: bool = False
    ) -> None:
        self._cookies = dict(cookies)
        self._out: dict[str, str] = {}
        self._headers: dict[str, str] = {}
        self.policy = policy
        self.secure = policy.is_secure(request_is_https)

    @classmethod
    def from_header(
        cls, header: str | None, *, policy: CookiePolicy, request_is_https: bool = False
    ) -> CookieJar:
        """A jar over a raw ``Cookie`` request header (see :func:`parse_cookie_header`)."""
        return cls(parse_cookie_header(header), policy=policy, request_is_https=request_is_https)

    @property
    def name(self) -> str:
        """The session cookie's name on this request (prefixed when the cookie is secure)."""
        return self.policy.name_for(self.secure)

    def read(self) -> str | None:
        """The session cookie's current value: what this response sets, else what came in."""
        if self.name in self._out:
            return self._out[self.name] or None
        return self._cookies.get(self.name) or None

    def write(self, value: str, max_age: int) -> None:
        """Set the session cookie to ``value`` for ``max_age`` seconds.

        :meth:`read` sees the new value at once, so later steps of the same request act on it.
        """
        self._out[self.name] = value
        self._set(value, max_age)

    def clear(self) -> None:
        """Expire the cookie (same name and path, ``Max-Age=0``)."""
        self._out[self.name] = ""
        self._set("", 0)

    def _set(self, value: str, max_age: int) -> None:
        self._headers[self.name] = self.policy.header(value, max_age=max_age, secure=self.secure)

    @property
    def set_cookie_headers(self) -> list[str]:
        """The ``Set-Cookie`` values to send; at most one per cookie name."""
        return list(self._headers.values())

    @property
    def changed(self) -> bool:
        """Whether this response sets or clears the session cookie."""
        return bool(self._out)
