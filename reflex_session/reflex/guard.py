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
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

import reflex as rx

from ..rules import Requirement
from .registry import RequirementSpec, mark, protect_state, spec_for
from .state import SessionState

__all__ = ["guarded", "protect_component", "protected", "require_auth"]

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
        protect_state(state_cls, spec_for(role, requires))
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
