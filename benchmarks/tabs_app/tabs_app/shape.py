"""The ``shaped`` control variant's parent state: plain Reflex, in ``SessionState``'s shape.

Why it exists: ``class AppState(SessionState)`` puts every app state one level deeper in
Reflex's tree, under a state with ten computed vars and two sibling states
(``AuthFormState``, ``DevicesState``). Reflex does some work per level of the tree at every
event (marking ancestors dirty, building and cleaning the delta, finding the handler's state),
whoever wrote the states. ``benchmarks/tabs.py`` runs a plain Reflex app whose ``CounterState``
sits under this copy of that shape, with no reflex-session code at all, side by side with the
others: ``shaped`` against ``plain`` is what the tree's shape costs in Reflex itself, and
``cookie`` against ``shaped`` is what the library's own code costs.

The vars mirror ``SessionState``'s (same names, types and defaults; computed vars that read
the same fields, as cheaply); nothing here imports reflex-session, so the control loads none of
its modules. ``tests/reflex_layer/test_tabs_shape.py`` checks that the shape still matches
(names, types and defaults).
"""

from __future__ import annotations

from typing import Any

import reflex as rx


class SessionShape(rx.State):
    """``SessionState``'s vars and computed vars, without its code."""

    status: str = "loading"
    session: dict[str, Any] = {}  # noqa: RUF012 - a Reflex var's default, copied per state
    expires_at: int = 0
    last_activity: int = 0
    is_expiring_soon: bool = False
    sync_seq: int = 0
    sync_proof: str = ""

    _session_json: str = ""
    _pending: tuple[dict[str, Any], ...] = ()
    _bind: str = ""
    _sid: str = ""
    _login_proof: str = ""
    _alive_minute: int = 0
    _checked_at: int = 0
    _forget_user: bool = False
    _exit_reason: str = ""

    @rx.var
    def user(self) -> dict[str, Any]:
        value = self.session.get("user")
        return value if isinstance(value, dict) else {}

    @rx.var
    def is_authenticated(self) -> bool:
        return self.status == "authenticated"

    @rx.var
    def is_loading(self) -> bool:
        return self.status == "loading"

    @rx.var
    def user_roles(self) -> list[str]:
        role = self.user.get("role")
        return [role] if isinstance(role, str) else []

    @rx.var
    def user_initials(self) -> str:
        return self.user_display_name[:1].upper()

    @rx.var
    def user_display_name(self) -> str:
        user = self.user
        return str(user.get("name") or user.get("email") or user.get("id") or "")

    @rx.var
    def return_to_query(self) -> str:
        value = self.router.url.query_parameters.get("callbackUrl")
        return f"?callbackUrl={value}" if isinstance(value, str) and value else ""

    def _notice(self, status: str) -> str:
        """``SessionState._notice``'s first test (a signed-in tab has none), then the URL."""
        if status == "authenticated":
            return ""
        value = self.router.url.query_parameters.get("reason")
        return value if isinstance(value, str) else ""

    @rx.var
    def redirect_reason(self) -> str:
        return self._notice(self.status)

    @rx.var
    def redirect_roles(self) -> str:
        return self._notice(self.status)

    @rx.var
    def redirect_message(self) -> str:
        return self._notice(self.status)


class FormShape(SessionShape):
    """``AuthFormState``'s vars."""

    error: str = ""
    pending: bool = False


class DevicesShape(SessionShape):
    """``DevicesState``'s vars."""

    devices: list[dict[str, Any]] = []  # noqa: RUF012 - a Reflex var's default
