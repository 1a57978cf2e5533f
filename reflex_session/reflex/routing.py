"""One decision for HTTP, navigation and events: the route rules, then the page's own
requirement.

Kept apart from :mod:`.guard` (the decorators and the placeholder component) so that the state
and the event middleware can decide without importing the components that use the state.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..reasons import Reason, with_reason
from ..rules import Decision, canonical_path
from ..session import Session
from .registry import RequirementSpec, declared_roles, requirement_of
from .runtime import get_app, get_auth

__all__ = [
    "decide",
    "known_roles",
    "login_location",
    "page_requirement",
    "path_of",
    "refusal_for",
]

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
        return Decision(
            "redirect", "login", with_reason(login, Reason.LOGIN_REQUIRED), decision.rule
        )
    return Decision("redirect", "forbidden", auth.guard.refusal_url(spec.roles), decision.rule)


def path_of(url: object) -> str:
    """A tab's page as path and query (the router's URL carries the origin too)."""
    parts = urlsplit(str(url) if url else "/")
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def login_location(path_with_query: str, reason: Reason = Reason.LOGIN_REQUIRED) -> str:
    """The login page, with ``path_with_query`` as return-to, saying why."""
    return with_reason(get_auth().guard.login_url(path_with_query), reason)


def known_roles() -> frozenset[str]:
    """Every role the app asks for somewhere (route rules, ``role=`` on pages, states and
    handlers): the only names a refusal's ``role=`` may put on a page."""
    return get_auth().guard.known_roles | declared_roles()


def refusal_for(
    spec: RequirementSpec, session: Session[Any] | None, path_with_query: Callable[[], str]
) -> str | None:
    """Where to send a user whose event is refused by ``spec`` (``None``: allowed); the page's
    path is asked for only then (it is the return-to of the login page)."""
    if spec.allows(session):
        return None
    if session is not None:
        return get_auth().guard.refusal_url(spec.roles)
    return login_location(path_with_query())
