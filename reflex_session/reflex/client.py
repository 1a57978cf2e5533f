"""The small browser side: one invisible component that ``install`` puts on every page.

It keeps the HttpOnly cookie in step with the server-side state and schedules everything that
depends on time *in the browser*, so an idle page sends no websocket message at all:

* ``sync_seq`` changed -> one ``POST /api/session/sync`` (credentials included), serialised with
  the Web Locks API across the tabs of this browser (a promise chain where that API is missing);
* after a sync that changed the cookie, a ``BroadcastChannel`` message tells the other tabs, which
  pull the new cookie into their own state (logout in one tab reaches the others in milliseconds);
* user activity (pointer, key, touch, wheel, scroll; throttled to one check a second) pulls once the
  cookie is at least ``refresh_threshold`` old — at most one refresh per threshold window;
* a timer at the "expiring soon" moment (one event) and one at expiry (one pull, which finds the
  cookie expired and signs the state out, so protected pages redirect to login).

The JavaScript is real files beside this module, not strings in it, so it is linted and
unit-tested (``tests/js``, ``node --test``): ``session_core.js`` holds the logic as plain functions,
``session_client.js`` the React components built from it. ``rx.asset(..., shared=True)`` links
both into the app's ``assets/external/reflex_session/reflex/client/`` when a page is compiled (an
installed package carries them), and the components import from there. Everything the page needs
to know about this app (the sync path, cookie names, thresholds, the state vars and the
expiring-soon event) arrives as props, never formatted into code.

No token, cookie value or secret is ever handled there: the script sees only the Reflex client
token (its own tab's name, worth nothing without the browser's HttpOnly binding cookie), the sync
counter and timestamps.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import reflex as rx
from reflex_base.components.component import field
from reflex_base.event import EventHandler, no_args_event_spec
from reflex_base.vars.base import Var

from ..binding import BindingCookie
from .runtime import get_auth, get_options
from .state import SessionState

__all__ = ["SessionClient", "SessionCountdown", "session_client", "session_countdown"]

#: The React components (imports ``./session_core.js``, so both files are linked).
CLIENT_JS = "session_client.js"
#: The logic, as plain functions (no React): what ``tests/js`` tests.
CORE_JS = "session_core.js"


@functools.cache
def _linked_module(cwd: str) -> str:
    """Link the JS files into the app being compiled in ``cwd``; the components' import path.

    ``rx.asset`` symlinks a file that sits beside the calling module into
    ``assets/external/<module path>/`` (git-ignored; Reflex copies ``assets/`` into the build),
    so it must be called from this module. Once per app folder: it checks the file system.
    """
    del cwd  # the cache key: rx.asset links into the current folder
    rx.asset(CORE_JS, shared=True)
    return rx.asset(CLIENT_JS, shared=True).importable_path


def _module() -> str:
    return _linked_module(str(Path.cwd()))


class SessionClient(rx.Component):
    """The invisible session runtime (added once per page by ``install``).

    ``create`` fills every prop from the installed ``ReflexSession``, its client options and
    ``SessionState``; the props are what ``session_client.js`` reads instead of code generated
    per app.
    """

    tag = "ReflexSessionClient"

    # SessionState, as the page sees it
    sync_seq: Var[int]
    sync_proof: Var[str]
    expires_at: Var[int]
    last_activity: Var[int]
    status: Var[str]
    is_expiring_soon: Var[bool]
    # the app's settings (fixed at build time)
    sync_path: Var[str]
    planted_names: Var[list[str]]
    bind_names: Var[list[str]]
    soon_ms: Var[int]
    threshold_ms: Var[int]
    interval_ms: Var[int]
    fetch_on_mount: Var[bool]
    refetch_on_path_change: Var[bool]
    activity_refresh: Var[bool]

    on_expiring_soon: EventHandler[no_args_event_spec] = field(  # type: ignore[type-arg,valid-type]
        doc="Fired once when the session enters its expiring-soon window."
    )

    @classmethod
    def create(cls, *children: Any, **props: Any) -> SessionClient:
        """The component, with every prop not given taken from the installed session layer."""
        for name, value in client_props().items():
            props.setdefault(name, value)
        return super().create(*children, **props)

    def add_imports(self) -> dict[str, Any]:
        """Import the component from the linked ``session_client.js`` (linked at compile)."""
        return {_module(): [rx.ImportVar(tag=self.tag)]}


def client_props() -> dict[str, Any]:
    """The runtime's props for the installed ``ReflexSession`` and its client options.

    Times are milliseconds, as the browser counts them. ``planted_names`` are all our cookie
    names (the page deletes same-name cookies a script planted); ``bind_names`` the binding's,
    which the page also deletes on parent domains.
    """
    auth = get_auth()
    options = get_options()
    binding = BindingCookie.for_session_cookie(auth.cookie_policy)
    bind_names = [binding.name(False), binding.name(True)]
    return {
        "sync_seq": SessionState.sync_seq,
        "sync_proof": SessionState.sync_proof,
        "expires_at": SessionState.expires_at,
        "last_activity": SessionState.last_activity,
        "status": SessionState.status,
        "is_expiring_soon": SessionState.is_expiring_soon,
        "sync_path": auth.config.api_path + "/sync",
        "planted_names": [
            *bind_names,
            auth.cookie_policy.name_for(False),
            auth.cookie_policy.name_for(True),
        ],
        "bind_names": bind_names,
        "soon_ms": options.soon_ms(auth.policy),
        "threshold_ms": options.activity_ms(auth.policy),
        "interval_ms": options.refresh_interval or 0,
        "fetch_on_mount": options.fetch_on_mount,
        "refetch_on_path_change": options.refetch_on_path_change,
        "activity_refresh": options.auto_activity_refresh,
    }


def session_client() -> rx.Component:
    """The runtime component, wired to ``SessionState``."""
    return SessionClient.create(
        on_expiring_soon=SessionState.mark_expiring_soon,
        on_mount=SessionState.enforce_route,
    )


class SessionCountdown(rx.Component):
    """The time left in the session (``4:59``), ticking in the browser.

    It counts down from ``SessionState.expires_at`` with a local timer: an idle page with a
    countdown on screen sends no websocket message. It also exposes ``data-expires-in`` (ms) and
    ``data-expiring-soon`` for styling and tests.
    """

    tag = "ReflexSessionCountdown"

    expires_at: Var[int]
    soon_ms: Var[int]
    expired_text: Var[str]

    def add_imports(self) -> dict[str, Any]:
        """Import the component from the linked ``session_client.js`` (linked at compile)."""
        return {_module(): [rx.ImportVar(tag=self.tag)]}


def session_countdown(**props: Any) -> rx.Component:
    """A ticking ``m:ss`` of the session's remaining time (empty without a session).

    Accessible name: none of its own; it is text inside the sentence around it ("Your session
    ends in 4:59"), with ``role="timer"`` and ``aria-live="off"`` so a screen reader reads it
    when the user gets there but is not interrupted every second.
    Keyboard: none (not focusable: it is text, not a control).
    """
    auth = get_auth()
    props.setdefault("soon_ms", get_options().soon_ms(auth.policy))
    component: rx.Component = SessionCountdown.create(expires_at=SessionState.expires_at, **props)
    return component
