"""Route rules and the pure allow-or-redirect decision.

``decide(path_with_query, session)`` is a pure function: the HTTP middleware and the Reflex
navigation hook both call it, so a page is guarded the same way whether it is loaded from the
server or reached by a client-side navigation.

Route types (the reference's):

* ``public``  — only for visitors who are *not* signed in (login, register); a signed-in user is
  sent to the page's safe return-to (``?callbackUrl=``), else ``home_path``.
* ``auth``    — only for signed-in users; a visitor is sent to ``login_path`` with the page they
  asked for (path and query) as the return-to parameter; a signed-in user without the rule's
  role is sent to ``forbidden_path`` (else ``home_path``). Both redirects say why
  (``reason=loginRequired`` / ``reason=forbidden&role=admin``, see :mod:`.reasons`).
* ``hybrid``  — everyone, no redirect.

Patterns:

* ``"/dashboard/*"`` matches ``/dashboard`` and everything below it, not ``/dashboards``;
* ``"/blog*"`` matches every path starting with ``/blog`` (``/blog``, ``/blog/post``, ``/blogs``);
* anything else matches exactly (a trailing slash is ignored).

When several rules match, **the most specific wins**: an exact rule beats every wildcard, and
between wildcards the one with the longer literal prefix wins (``/admin/users/*`` beats
``/admin/*``, which beats ``/*``); on a tie the rule listed first wins. Order in the list therefore
only matters between equally specific rules.

Paths are judged as the page a static server serves for them (:func:`canonical_path`): decoded,
dot segments resolved, and a page's file name reduced to the page, so ``/admin.html``,
``/admin/index.html`` and ``/admin/`` are all judged as ``/admin`` (a production build serves
``admin.html`` or ``admin/index.html`` for all of them). A pattern naming such a file
(``/admin.html``, ``/admin/index``) is refused: it could never match.

Locales: with ``locales=("en", "ar")`` a leading ``/en`` or ``/ar`` segment is stripped before
matching and kept in redirects (``/ar/dashboard`` -> ``/ar/login?callbackUrl=%2Far%2Fdashboard``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .errors import ConfigError
from .reasons import Reason, with_reason
from .session import Session

__all__ = [
    "Decision",
    "RouteGuard",
    "RouteRule",
    "RouteType",
    "canonical_path",
    "has_role",
    "patterns",
    "resolve_path",
    "route",
    "safe_return_to",
]

RouteType = Literal["public", "auth", "hybrid"]
Requirement = Callable[[Session[Any]], bool]

ROUTE_TYPES = ("public", "auth", "hybrid")


@dataclass(frozen=True, slots=True)
class RouteRule:
    """A pattern, its type, and optionally a requirement the session must meet (e.g. a role)."""

    pattern: str
    type: RouteType
    requires: Requirement | None = field(default=None, compare=False)
    description: str | None = None

    def __post_init__(self) -> None:
        if self.type not in ROUTE_TYPES:
            raise ConfigError("routes", f"route type {self.type!r}", f"use one of {ROUTE_TYPES}")
        if not self.pattern.startswith("/"):
            raise ConfigError("routes", f"pattern {self.pattern!r}", "start it with '/'")
        if self.kind != "prefix" and _page_of(self._prefix) != self._prefix:
            raise ConfigError(
                "routes",
                f"pattern {self.pattern!r} names a page file, which is judged as its page "
                f"({_page_of(self._prefix)!r})",
                "write the page's path instead",
            )

    @property
    def _prefix(self) -> str:
        if self.pattern.endswith("/*"):
            return _normalise(self.pattern[:-2])
        if self.pattern.endswith("*"):
            return self.pattern[:-1]
        return _normalise(self.pattern)

    @property
    def kind(self) -> Literal["exact", "subtree", "prefix"]:
        """Which pattern form: ``exact``, ``subtree`` (``/*``) or ``prefix`` (``*``)."""
        if self.pattern.endswith("/*"):
            return "subtree"
        if self.pattern.endswith("*"):
            return "prefix"
        return "exact"

    def matches(self, path: str) -> bool:
        """Does this rule cover ``path`` (already normalised and locale-stripped)?"""
        prefix = self._prefix
        kind = self.kind
        if kind == "exact":
            return path == prefix
        if kind == "subtree":
            return prefix == "/" or path == prefix or path.startswith(prefix + "/")
        return path.startswith(prefix)

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: exact rules first, then longer literal prefixes."""
        return (1 if self.kind == "exact" else 0, len(self._prefix))


class HasRole:
    """A requirement met when the user's ``role`` (or any of their ``roles``) is one of
    ``roles``. A class rather than a closure so a refusal can name the roles the page needs."""

    __slots__ = ("roles",)

    def __init__(self, *roles: str) -> None:
        self.roles: tuple[str, ...] = roles

    def __call__(self, session: Session[Any]) -> bool:
        wanted = self.roles
        role = session.user.get("role")
        if isinstance(role, str) and role in wanted:
            return True
        many = session.user.get("roles")
        return isinstance(many, list | tuple) and any(r in wanted for r in many)

    @property
    def __name__(self) -> str:
        """``has_role(admin, ops)``: how the requirement reads in a log or a repr."""
        return f"has_role({', '.join(self.roles)})"

    def __repr__(self) -> str:
        return self.__name__


def has_role(*roles: str) -> Requirement:
    """A requirement met when the user's ``role`` (or any of ``roles``) is one of ``roles``."""
    return HasRole(*roles)


def roles_of(requirement: Requirement | None) -> tuple[str, ...]:
    """The roles a requirement made by :func:`has_role` asks for (``()`` for any other)."""
    return requirement.roles if isinstance(requirement, HasRole) else ()


class _RouteFactory:
    """``route.public(...)``, ``route.auth(...)``, ``route.hybrid(...)``."""

    @staticmethod
    def public(pattern: str) -> RouteRule:
        return RouteRule(pattern, "public")

    @staticmethod
    def auth(
        pattern: str,
        *,
        role: str | Sequence[str] | None = None,
        requires: Requirement | None = None,
    ) -> RouteRule:
        if role is not None and requires is not None:
            raise ConfigError("routes", "role= and requires= both given", "give one of them")
        if role is not None:
            requires = has_role(role) if isinstance(role, str) else has_role(*role)
        return RouteRule(pattern, "auth", requires)

    @staticmethod
    def hybrid(pattern: str) -> RouteRule:
        return RouteRule(pattern, "hybrid")


route = _RouteFactory()


class patterns:  # a namespace, spelled as in the reference
    """Common patterns by name: ``patterns.dashboard`` is ``"/dashboard/*"``."""

    api = "/api/*"
    dashboard = "/dashboard/*"
    admin = "/admin/*"
    settings = "/settings/*"
    profile = "/profile/*"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a request: ``allow``, or redirect to ``location``.

    ``reason`` is ``"allowed"``, ``"login"`` (not signed in), ``"home"`` (a signed-in user on a
    public page) or ``"forbidden"`` (signed in, but the rule's requirement is not met).
    """

    action: Literal["allow", "redirect"]
    reason: Literal["allowed", "login", "home", "forbidden"]
    location: str | None = None
    rule: RouteRule | None = None

    @property
    def allowed(self) -> bool:
        """Whether the request may go on (no redirect)."""
        return self.action == "allow"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SLASHES = re.compile(r"/{2,}")


def _normalise(path: str) -> str:
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path or "/"


def safe_return_to(
    value: str | None,
    *,
    home_path: str,
    login_path: str,
    locales: Sequence[str] = (),
    max_length: int = 2048,
) -> str:
    """``value`` if it is a same-site relative path that is not the login page, else home.

    Accepted: ``/path``, ``/path?query``, ``/path#frag``. Refused: absolute URLs, scheme-relative
    ``//host``, backslash tricks (``/\\host``), dot segments (``/.//host``), control characters,
    anything percent-decoding to one of those, anything over ``max_length``, and the login path
    itself (which would loop).
    """
    if not value or not isinstance(value, str) or len(value) > max_length:
        return home_path
    if _CONTROL.search(value) or "\\" in value:
        return home_path
    if not value.startswith("/") or value.startswith("//"):
        return home_path
    decoded = unquote(value)
    if _CONTROL.search(decoded) or "\\" in decoded or decoded.startswith("//"):
        return home_path
    # a dot segment: "/.//host" resolves to "//host", which a proxy building a relative
    # redirect would send off-site; our own pages' addresses never carry one
    if any(segment in (".", "..") for segment in urlsplit(decoded).path.split("/")):
        return home_path
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return home_path
    path = _normalise(posixpath.normpath(_SLASHES.sub("/", unquote(parts.path).split(";")[0])))
    path = _strip_locale(path, locales)[1]
    if path == _normalise(login_path):
        return home_path
    return value


def _strip_locale(path: str, locales: Sequence[str]) -> tuple[str, str]:
    """Split ``/en/dashboard`` into (``/en``, ``/dashboard``) when ``en`` is a locale."""
    if locales:
        segment, _, rest = path[1:].partition("/")
        if segment in locales:
            return "/" + segment, _normalise("/" + rest)
    return "", path


def resolve_path(raw_path: str) -> str:
    """The path a file server resolves: percent-decoded, slashes collapsed, dots resolved.

    ``raw_path`` is still percent-encoded (an ASGI ``raw_path``), so a ``%3F`` or ``%23`` in it is
    part of the path, never a query or fragment. ``//dashboard`` must not read as a host, and
    ``/x/../dashboard`` must be judged as ``/dashboard``, exactly as the static server resolves it.
    """
    decoded = _SLASHES.sub("/", unquote(raw_path) or "/")
    resolved = posixpath.normpath(decoded)
    if not resolved.startswith("/"):
        resolved = "/" + resolved
    return _normalise(_SLASHES.sub("/", resolved))


def _page_of(path: str) -> str:
    """The page a resolved path names: ``/a.html``, ``/a/index.html``, ``/a/index`` -> ``/a``.

    A production build serves the page ``/a`` from ``a.html`` or ``a/index.html``, and those file
    names answer by themselves, so they must be judged as the page. Case-insensitive, as the file
    system behind the server may be.
    """
    head, _, last = path.rpartition("/")
    if last[-5:].lower() == ".html":
        last = last[:-5]
    if last.lower() == "index":
        last = ""
    return _normalise(f"{head}/{last}")


def canonical_path(raw_path: str) -> str:
    """The page the guard judges for ``raw_path``: :func:`resolve_path`, then the page's own
    file name (``.html``, ``/index.html``, ``/index``) dropped, so ``/admin.html``,
    ``/%61dmin%2Ehtml`` and ``/admin/index.html`` are all ``/admin``, and ``/index.html`` is ``/``.
    """
    return _page_of(resolve_path(raw_path))


def _localised(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return prefix if path == "/" else prefix + path


class RouteGuard:
    """The route table plus the redirect settings; :meth:`decide` is the whole policy."""

    def __init__(
        self,
        rules: Sequence[RouteRule] = (),
        *,
        default_type: RouteType = "hybrid",
        login_path: str = "/login",
        home_path: str = "/",
        locales: Sequence[str] = (),
        return_to_param: str = "callbackUrl",
        forbidden_path: str | None = None,
    ) -> None:
        # stable sort: most specific first, list order kept among equals
        self.rules: tuple[RouteRule, ...] = tuple(
            sorted(rules, key=lambda r: r.specificity, reverse=True)
        )
        self.default_type: RouteType = default_type
        self.login_path = _normalise(login_path)
        self.home_path = home_path
        self.locales = tuple(locales)
        self.return_to_param = return_to_param
        #: where a signed-in user without the page's role goes (``None``: the home page)
        self.forbidden_path = forbidden_path
        #: every role a rule asks for: the only ones a refusal's ``role=`` may name
        self.known_roles: frozenset[str] = frozenset(
            role for rule in self.rules for role in roles_of(rule.requires)
        )

    def match(self, path: str) -> RouteRule | None:
        """The most specific rule for a (locale-stripped, normalised) path."""
        for rule in self.rules:
            if rule.matches(path):
                return rule
        return None

    def type_of(self, path: str) -> tuple[RouteType, RouteRule | None]:
        """The route type of a (locale-stripped, normalised) path and the rule that set it.

        ``default_type`` and ``None`` when no rule matches.
        """
        rule = self.match(path)
        return (rule.type if rule else self.default_type), rule

    def login_url(self, return_to: str, locale_prefix: str = "") -> str:
        """The login page's URL (with the locale prefix), carrying ``return_to`` when it is safe.

        An unsafe target, or the login page itself, becomes the home page (see
        :func:`safe_return_to`), which needs no parameter: the login page can never be made to send
        a user off-site or into a loop.
        """
        target = safe_return_to(
            return_to, home_path=self.home_path, login_path=self.login_path, locales=self.locales
        )
        base = _localised(locale_prefix, self.login_path)
        if target == self.home_path:
            return base
        return f"{base}?{self.return_to_param}={quote(target, safe='')}"

    def refusal_url(self, roles: Sequence[str] = (), locale_prefix: str = "") -> str:
        """Where a signed-in user without the page's role goes: the forbidden page (else home),
        saying why and, when the page asks for roles, which."""
        target = _localised(locale_prefix, self.forbidden_path or self.home_path)
        return with_reason(target, Reason.FORBIDDEN, roles)

    def after_login(self, query: str, locale_prefix: str = "") -> str:
        """Where a signed-in user on a public-only page (the login page) goes: the page's safe
        return-to from ``query`` (a raw query string), else home."""
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == self.return_to_param:
                target = self.return_to_from(value)
                if target != self.home_path:
                    return target
                break
        return _localised(locale_prefix, self.home_path)

    def return_to_from(self, query_value: str | None) -> str:
        """Where to land after login, from the return-to query value (already URL-decoded).

        A public-only page (the register page) is no destination for a signed-in user: it
        would send them on to its own return-to, and a link nesting forty of them ends in the
        browser's "too many redirects". Home instead.
        """
        target = safe_return_to(
            query_value, home_path=self.home_path, login_path=self.login_path, locales=self.locales
        )
        if target == self.home_path:
            return target
        path = canonical_path(target.partition("?")[0].partition("#")[0])
        if self.type_of(_strip_locale(path, self.locales)[1])[0] == "public":
            return self.home_path
        return target

    def decide(self, path_with_query: str, session: Session[Any] | None) -> Decision:
        """Allow, or redirect: the one routing policy for HTTP and for Reflex navigation."""
        raw_path, _, query = path_with_query.partition("?")
        raw_path = raw_path.partition("#")[0]
        if not raw_path.startswith("/"):
            raw_path = "/"
        clean = canonical_path(raw_path)
        prefix, path = _strip_locale(clean, self.locales)
        route_type, rule = self.type_of(path)
        if route_type == "hybrid":
            return Decision("allow", "allowed", rule=rule)
        if route_type == "public":
            if session is None:
                return Decision("allow", "allowed", rule=rule)
            return Decision("redirect", "home", self.after_login(query, prefix), rule)
        # auth
        if session is None:
            collapsed = _SLASHES.sub("/", raw_path)
            if canonical_path(collapsed) != _normalise(unquote(collapsed)):
                collapsed = quote(clean)  # dot segments, a page's file name: send the page
            original = collapsed + (f"?{query}" if query else "")
            login = with_reason(self.login_url(original, prefix), Reason.LOGIN_REQUIRED)
            return Decision("redirect", "login", login, rule)
        if rule is not None and rule.requires is not None and not rule.requires(session):
            refusal = self.refusal_url(roles_of(rule.requires), prefix)
            return Decision("redirect", "forbidden", refusal, rule)
        return Decision("allow", "allowed", rule=rule)
