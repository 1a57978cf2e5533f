"""Which pages, states and handlers need a session, as declared by the decorators.

``@require_auth`` (pages), ``@protected`` (whole states) and ``@guarded`` (single handlers) only
*record* a requirement here; the Reflex middleware and the page guard enforce it. Keeping the
declaration apart from the enforcement means the order of decorators does not matter and a page
is guarded the same way on a server load and on a client-side navigation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..rules import Requirement, has_role
from ..session import Session

__all__ = ["Requirement", "RequirementSpec", "declared_roles", "requirement_of", "spec_for"]


@dataclass(frozen=True, slots=True)
class RequirementSpec:
    """A session is required; optionally it must also satisfy ``check`` (e.g. a role)."""

    roles: tuple[str, ...] = ()
    check: Requirement | None = None
    login_path: str | None = None

    def allows(self, session: Session[Any] | None) -> bool:
        """Whether ``session`` exists, has one of ``roles`` (if any) and passes ``check``."""
        if session is None:
            return False
        if self.roles and not has_role(*self.roles)(session):
            return False
        return self.check is None or bool(self.check(session))


_ATTR = "__reflex_session_requirement__"


def spec_for(
    role: str | Sequence[str] | None = None,
    requires: Requirement | None = None,
    login_path: str | None = None,
) -> RequirementSpec:
    """The requirement a decorator's ``role=``/``requires=`` describe (a string is one role)."""
    roles: tuple[str, ...] = (
        () if role is None else (role,) if isinstance(role, str) else tuple(role)
    )
    _DECLARED_ROLES.update(roles)
    return RequirementSpec(roles, requires, login_path)


#: every role a decorator has asked for (declarations happen at import, before any request)
_DECLARED_ROLES: set[str] = set()


def declared_roles() -> frozenset[str]:
    """The roles ``@require_auth``, ``@protected`` and ``@guarded`` have asked for."""
    return frozenset(_DECLARED_ROLES)


def mark(obj: Callable[..., Any], spec: RequirementSpec) -> None:
    """Record ``spec`` on a page or handler function, for :func:`requirement_of` to find.

    An attribute on the function (found through ``__wrapped__``) rather than a table, so the order
    of the decorators does not matter.
    """
    setattr(obj, _ATTR, spec)


def requirement_of(obj: object) -> RequirementSpec | None:
    """The requirement recorded on a page function or handler function, if any."""
    while obj is not None:
        spec = getattr(obj, _ATTR, None)
        if spec is not None:
            return spec  # type: ignore[no-any-return]
        obj = getattr(obj, "__wrapped__", None)
    return None


def protect_state(state_cls: type, spec: RequirementSpec) -> None:
    """Require ``spec`` for every handler of ``state_cls`` and of its substates.

    Recorded on the class itself, not in a table: Reflex's substates are subclasses, so each
    one finds its nearest protected ancestor's requirement by plain attribute lookup.
    """
    setattr(state_cls, _ATTR, spec)


def state_requirement(state_cls: type) -> RequirementSpec | None:
    """The requirement of ``state_cls`` or of its nearest protected ancestor."""
    spec = getattr(state_cls, _ATTR, None)
    return spec if isinstance(spec, RequirementSpec) else None
