"""``@require_auth`` for pages, ``@protected`` for states, ``@guarded`` for handlers.

The decorators record a requirement (:mod:`.registry`). Enforcement happens in three places that
all use the same decision:

* the HTTP page guard, before any HTML is served (a server page load);
* the Reflex middleware, on every client-side navigation and before every event of a protected
  state or guarded handler (so an expired, logged-out or revoked session is refused *at the moment
  of the event*, not only at connect);
* the page itself: ``require_auth`` renders the protected content only while the session allows
  it, so there is no flash of protected content while a redirect is on its way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import urlsplit

import reflex as rx

from ..rules import Decision, Requirement, canonical_path
from ..session import Session
from .registry import RequirementSpec, mark, protect_state, requirement_of, spec_for
from .runtime import get_app, get_auth

if TYPE_CHECKING:
    from .state import SessionState

__all__ = ["decide", "decide_for_state", "guarded", "page_requirement", "protected", "require_auth"]

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=type)


@overload
def require_auth(page: F) -> F: ...
@overload
def require_auth(
    page: None = None,
    *,
    role: str | Sequence[str] | None = None,
    requires: Requirement | None = None,
    login_path: str | None = None,
) -> Callable[[F], F]: ...
def require_auth(
    page: F | None = None,
    *,
    role: str | Sequence[str] | None = None,
    requires: Requirement | None = None,
    login_path: str | None = None,
) -> F | Callable[[F], F]:
    """Protect a page: only a signed-in session (with ``role``, or meeting ``requires``) sees it.

    Works under ``@rx.page`` and with ``app.add_page``. A visitor is sent to the login page with
    this page (path and query) as return-to; a signed-in user without the role goes home.
    """
    spec = spec_for(role, requires, login_path)

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> rx.Component:
            return protect_component(fn(*args, **kwargs), spec)

        mark(wrapped, spec)
        return wrapped  # type: ignore[return-value]

    return decorate(page) if page is not None else decorate


def protect_component(content: rx.Component, spec: RequirementSpec) -> rx.Component:
    """``content`` while the session allows it, else a placeholder that triggers the redirect."""
    from .state import SessionState

    allowed: Any = SessionState.is_authenticated
    for role in spec.roles[:1] if len(spec.roles) == 1 else ():
        allowed = allowed & SessionState.user_roles.contains(role)
    if len(spec.roles) > 1:
        any_role: Any = SessionState.user_roles.contains(spec.roles[0])
        for role in spec.roles[1:]:
            any_role = any_role | SessionState.user_roles.contains(role)
        allowed = allowed & any_role
    placeholder = rx.box(
        rx.cond(SessionState.is_loading, rx.spinner(), rx.fragment()),
        on_mount=SessionState.enforce_route,
        aria_busy="true",
        id="reflex-session-guard",
    )
    guarded_content: rx.Component = rx.cond(allowed, content, placeholder)
    return guarded_content


def protected(
    cls: S | None = None,
    *,
    role: str | Sequence[str] | None = None,
    requires: Requirement | None = None,
) -> S | Callable[[S], S]:
    """Guard every event handler of a state class (and of its substates)."""

    def decorate(state_cls: S) -> S:
        protect_state(state_cls.get_full_name(), spec_for(role, requires))  # type: ignore[attr-defined]
        return state_cls

    return decorate(cls) if cls is not None else decorate


def guarded(
    fn: F | None = None,
    *,
    role: str | Sequence[str] | None = None,
    requires: Requirement | None = None,
) -> F | Callable[[F], F]:
    """Guard one event handler: it runs only if the session allows it at the moment of the event.

    Put it *under* ``@rx.event``. When refused, the handler does not run, nothing changes, and
    the user is sent to the login page (or home, when signed in without the role).
    """

    def decorate(handler: F) -> F:
        mark(handler, spec_for(role, requires))
        return handler

    return decorate(fn) if fn is not None else decorate


# -- deciding -----------------------------------------------------------------------------------

_DYNAMIC = re.compile(r"^\[\[?(\.\.\.)?[^\]]+\]?\]$")


def _route_regex(route: str) -> re.Pattern[str]:
    parts = []
    for segment in route.strip("/").split("/"):
        if not segment:
            continue
        match = _DYNAMIC.match(segment)
        if match and match.group(1):
            parts.append(r"(?:/.*)?")
            break
        parts.append(r"/[^/]+" if match else "/" + re.escape(segment))
    return re.compile("^" + ("".join(parts) or "/") + "/?$")


@functools.lru_cache(maxsize=1)
def _page_specs(_app_id: int) -> tuple[tuple[re.Pattern[str], RequirementSpec], ...]:
    app = get_app()
    found = []
    for route, page in getattr(app, "_unevaluated_pages", {}).items():
        spec = requirement_of(page.component)
        if spec is not None:
            path = "/" if route.strip("/") in ("", "index") else "/" + route.strip("/")
            found.append((_route_regex(path), spec))
    return tuple(found)


def page_requirement(path: str) -> RequirementSpec | None:
    """The requirement ``@require_auth`` put on the page at ``path``, if any."""
    try:
        specs = _page_specs(id(get_app()))
    except Exception:
        return None
    for pattern, spec in specs:
        if pattern.match(path):
            return spec
    return None


def decide(path_with_query: str, session: Session[Any] | None) -> Decision:
    """The route rules, then the page's own requirement: one decision for HTTP and navigation."""
    auth = get_auth()
    decision = auth.decide(path_with_query, session)
    if not decision.allowed:
        return decision
    spec = page_requirement(canonical_path(path_with_query.partition("?")[0]))
    if spec is None or spec.allows(session):
        return decision
    if session is None:
        login = auth.guard.login_url(path_with_query)
        if spec.login_path:
            login = spec.login_path + login[len(auth.guard.login_path) :]
        return Decision("redirect", "login", login, decision.rule)
    return Decision("redirect", "forbidden", auth.config.home_path, decision.rule)


def current_path(state: SessionState) -> str:
    """The tab's current page as path and query (the router's URL carries the origin too)."""
    url = state.router.url
    parts = urlsplit(str(url) if url else "/")
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def login_location(state: SessionState) -> str:
    """The login page, with this tab's page as return-to."""
    return get_auth().guard.login_url(current_path(state))


def decide_for_state(state: SessionState) -> Decision:
    return decide(current_path(state), state.current_session())


def refusal_for(spec: RequirementSpec, state: SessionState) -> str | None:
    """Where to send a user whose event is refused by ``spec`` (``None``: allowed)."""
    session = state.current_session()
    if spec.allows(session):
        return None
    return login_location(state) if session is None else get_auth().config.home_path
