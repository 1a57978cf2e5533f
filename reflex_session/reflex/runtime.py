"""What ``install`` set up, in one place: the layer's only registry.

State classes and event middleware are created by Reflex, not by us, so they cannot be handed
the session object in a constructor. :func:`reflex_session.reflex.install` therefore records
one :class:`Runtime` here at app start — the app, its ``ReflexSession``, the client options,
the app's form hooks, the live relay and the map of open tabs — and everything else reads it
through :func:`get_runtime`. Installing again replaces it whole, so nothing of an earlier
install (another test's tabs, a relay) can leak into the next.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import ClientOptions
from ..errors import ConfigError
from .presence import TabRegistry

if TYPE_CHECKING:
    from reflex.app import App

    from ..auth import ReflexSession
    from ..providers.service import ProviderAuth
    from .live import RedisRelay

__all__ = [
    "ClientOptions",
    "Runtime",
    "get_app",
    "get_auth",
    "get_options",
    "get_runtime",
    "is_installed",
    "set_runtime",
]


@dataclass
class Runtime:
    """The installed layer of this process."""

    app: App
    auth: ReflexSession[Any]
    options: ClientOptions = field(default_factory=ClientOptions)
    #: the app's credential check behind the drop-in login form (``None``: no form)
    authenticate: Callable[[Any], Any] | None = None
    #: the app's sign-up behind the drop-in registration form (``None``: no form)
    register: Callable[[Any], Any] | None = None
    #: publishes live revocations to every worker (``None``: this process only)
    relay: RedisRelay | None = None
    #: provider sign-in (``None``: no identity providers configured)
    providers: ProviderAuth | None = None
    #: tells every open tab of a user, on every worker (``live.notify``; set by ``install``,
    #: so the state module can call it without importing the live layer, which imports it)
    notify: Callable[..., Awaitable[None]] | None = None
    #: which open tabs show which user (read by the live pushes)
    tabs: TabRegistry = field(default_factory=TabRegistry)
    #: user id -> when (ms) this worker last heard of a revocation of that user's sessions
    revoked: dict[str, int] = field(default_factory=dict)

    @functools.cached_property
    def states_renewed_on_read(self) -> bool:
        """Whether Reflex's state manager renews a tab's state whenever an event reads it.

        Reflex's memory manager does (its expiry follows every access); its Redis and disk
        managers renew a state only when they write it, which is what
        ``SessionState.keep_alive`` makes happen. Asked at the first event, once the app's
        manager exists.
        """
        from reflex.istate.manager.memory import StateManagerMemory

        return type(getattr(self.app, "state_manager", None)) is StateManagerMemory

    def note_revocation(self, user_id: str, at_ms: int) -> None:
        """Remember that some session of ``user_id`` ended at ``at_ms``.

        Every tab of the user re-checks its session at its next event (of any kind), so a tab
        the live push could not reach — one that fell out of :attr:`tabs`, or lives on a worker
        that missed the message — still cannot go on as the user. Bounded: the oldest marks go
        first (a mark only speeds up what the per-event guard of ``@guarded`` handlers and the
        tab's expiry already enforce).
        """
        self.revoked.pop(user_id, None)
        self.revoked[user_id] = at_ms
        while len(self.revoked) > _MAX_REVOKED:
            del self.revoked[next(iter(self.revoked))]


_MAX_REVOKED = 100_000
_installed: list[Runtime] = []


def set_runtime(
    app: App, auth: ReflexSession[Any], options: ClientOptions, **extras: Any
) -> Runtime:
    """Record what ``install`` set up (``extras``: the other :class:`Runtime` fields)."""
    runtime = Runtime(app, auth, options, **extras)
    _installed[:] = [runtime]
    return runtime


def get_runtime() -> Runtime:
    """The installed :class:`Runtime`.

    Raises :class:`ConfigError` saying how to fix it when ``install`` was not called, rather
    than a bare error deep inside an event.
    """
    if not _installed:
        raise ConfigError(
            "install",
            "no ReflexSession is installed",
            "call reflex_session.reflex.install(app, auth) in your app module after rx.App()",
        )
    return _installed[0]


def is_installed() -> bool:
    """Whether ``install`` has run in this process (widgets built before it show less)."""
    return bool(_installed)


def get_auth() -> ReflexSession[Any]:
    """The installed ``ReflexSession``."""
    return get_runtime().auth


def get_app() -> App:
    """The app ``install`` was given."""
    return get_runtime().app


def get_options() -> ClientOptions:
    """The client options ``install`` was given; the defaults before ``install``."""
    return _installed[0].options if _installed else ClientOptions()
