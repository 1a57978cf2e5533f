"""The browser binding: a random HttpOnly cookie that ties a tab's server-side state to a browser.

Why it exists
-------------
A Reflex tab's server-side state is keyed by the client token, which lives in ``sessionStorage``:
any script on the page (an XSS on any page, public ones included) can read it and open its own
websocket with it from another machine. Whatever the token keys must therefore be worth nothing
without a second credential that page JavaScript *cannot* read. That credential is this cookie:

* minted by the server (32 random bytes) the first time a browser reaches the backend without
  one, on a page response, an API response or the websocket handshake itself;
* ``HttpOnly`` (no script reads it), ``Path=/``, ``SameSite`` like the session cookie, ``Secure``
  and ``__Host-`` on HTTPS (a sibling subdomain cannot toss one in);
* long-lived and never rotated by a login or logout: it names the *browser*, not the user, so
  signing in or out never invalidates the open tabs' bindings.

What the layer keeps of the value is its SHA-256 digest (:func:`digest`). Reflex itself,
though, keeps each tab's last handshake headers (the whole ``Cookie`` header: this cookie and
the session cookie) in the tab's router data, which its Redis or disk state manager saves: a
Redis dump or a ``.states`` file is as sensitive as the cookies (``SECURITY.md``). Every event,
sync and upload for the tab must arrive with the matching cookie; see ``docs/binding.md``.

This module is pure, with no framework import: the HTTP layer sets the cookie, the Reflex layer
checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from .cookies import CookiePolicy, parse_cookie_header

__all__ = [
    "BINDING_MAX_AGE",
    "BINDING_SUFFIX",
    "BindingCookie",
    "digest",
    "digests_match",
    "new_value",
]

#: The binding cookie is named after the session cookie: ``session`` -> ``session_bind``.
BINDING_SUFFIX = "_bind"
#: 400 days: the longest lifetime browsers keep (Chrome caps Max-Age there).
BINDING_MAX_AGE = 400 * 24 * 3600
_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")


def _occurrences(cookie_header: str, name: str) -> int:
    """How many pairs of a ``Cookie`` header carry ``name`` (any value)."""
    return sum(1 for pair in cookie_header.split(";") if pair.partition("=")[0].strip() == name)


def new_value() -> str:
    """A fresh binding value: 256 random bits, base64url without padding (43 characters)."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    """What a tab keeps of its binding: the hex SHA-256 of the value.

    A plain hash is enough: the value has 256 bits of entropy, so there is nothing to brute-force,
    and the digest never leaves the server.
    """
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def digests_match(expected: str, presented: str | None) -> bool:
    """Constant-time comparison; an empty expectation or a missing presentation never matches."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected, presented)


@dataclass(frozen=True, slots=True)
class BindingCookie:
    """How the binding cookie is named and written, derived from the session cookie's policy."""

    policy: CookiePolicy

    @classmethod
    def for_session_cookie(cls, session: CookiePolicy) -> BindingCookie:
        """The binding cookie that goes with a session cookie: its name plus ``_bind``.

        It shares the session cookie's ``SameSite``, ``Secure``, prefix and domain settings, so it
        is no easier to plant or to leak than the session cookie itself.
        """
        return cls(
            CookiePolicy(
                name=session.name + BINDING_SUFFIX,
                same_site=session.same_site,
                secure=session.secure,
                host_prefix=session.host_prefix,
                domain=session.domain,
            )
        )

    def name(self, request_is_https: bool) -> str:
        """The cookie's name on this request (the ``__Host-``/``__Secure-`` form when secure)."""
        return self.policy.name_for(self.policy.is_secure(request_is_https))

    def read(self, cookie_header: str | None, *, request_is_https: bool) -> str | None:
        """The well-formed binding value in a ``Cookie`` header, else ``None``.

        A malformed value (not 43 base64url characters) is treated as absent, so it is replaced
        by a fresh one rather than trusted. So is a name sent **more than once**: ``HttpOnly``
        keeps page JavaScript from reading our cookie, not from adding one of the same name on
        a longer path (``document.cookie = "session_bind=KNOWN; path=/_event"``), which browsers
        then send *first*. Two values for one name mean a planted one; neither is trusted.
        """
        name = self.name(request_is_https)
        value = parse_cookie_header(cookie_header).get(name)
        if value is None or not _VALUE.fullmatch(value):
            return None
        if _occurrences(cookie_header or "", name) > 1:
            return None
        return value

    def read_digest(self, cookie_header: str | None, *, request_is_https: bool) -> str | None:
        """The digest of the binding this header presents (what a tab keeps), else ``None``."""
        value = self.read(cookie_header, request_is_https=request_is_https)
        return digest(value) if value is not None else None

    def set_cookie(self, value: str, *, request_is_https: bool) -> str:
        """The ``Set-Cookie`` header value for ``value`` (HttpOnly, 400 days)."""
        secure = self.policy.is_secure(request_is_https)
        return self.policy.header(value, max_age=BINDING_MAX_AGE, secure=secure)
