"""The Reflex event middleware: the tab's binding, the navigation hook and the per-event guard.

Before anything else, every event is checked against the tab's browser binding
(:mod:`.tab`): an event whose socket did not come from the browser that owns the tab gets
nothing and runs nothing, whatever state or handler it names.

The order, per event: what the event is (:class:`_Kind`, known per event name); a free event
that :meth:`.tab.TabBinding.settled` finds from the tab's own browser, on the socket its session
came from, with nothing to forget, re-check or write, runs at once (the common case). Every other
event takes the full path: the binding check (:meth:`.tab.TabBinding.check`), the user data of a
signed-out user forgotten, the session loaded at a hydrate, a revoked session re-checked, then
navigation, server-only and guarded events judged.

Reflex 0.10.1 sends ``<root>.hydrate_and_load`` on every websocket (re)connect and
``on_load_internal`` on every client-side navigation, and calls ``Middleware.preprocess`` before
every event with the router data already updated (``postprocess`` is never called, so nothing
here relies on it). Returning a ``StateUpdate`` short-circuits the event: the handler never runs.
"""

from __future__ import annotations

import enum
import functools
import logging
from typing import TYPE_CHECKING, Any

import reflex as rx
from reflex.state import StateUpdate
from reflex_base.event import Event

from ..reasons import Reason
from ..securitylog import refused
from ..stores.base import StoreUnavailable
from .registry import RequirementSpec, requirement_of, state_requirement
from .routing import login_location, path_of, refusal_for
from .runtime import get_options
from .state import SERVER_ONLY, SessionState
from .tab import TabBinding, is_hydrate_name

if TYPE_CHECKING:
    from reflex.app import App

from reflex.state import BaseState

__all__ = ["SessionEventMiddleware"]

log = logging.getLogger("reflex_session")


@functools.lru_cache(maxsize=1)
def _navigation_event() -> str:
    """The event Reflex sends at every client-side navigation, named by Reflex itself."""
    from reflex.state import OnLoadInternalState
    from reflex_base.utils.format import format_event_handler

    return format_event_handler(OnLoadInternalState.event_handlers["on_load_internal"])


@functools.lru_cache(maxsize=1024)
def _is_session_state(root: type[BaseState], state_path: str) -> bool:
    try:
        return issubclass(root.get_class_substate(state_path), SessionState)
    except (ValueError, IndexError):
        return False


@functools.lru_cache(maxsize=4096)
def _requirement(
    root: type[BaseState], state_path: str, handler_name: str
) -> RequirementSpec | None:
    """What an event needs: its state's ``@protected`` requirement (or its nearest protected
    ancestor's), else its handler's ``@guarded`` one. Looked up once per handler name."""
    try:
        state_cls = root.get_class_substate(state_path)
    except (ValueError, IndexError):
        return None
    spec = state_requirement(state_cls)
    if spec is not None:
        return spec
    handler = state_cls.event_handlers.get(handler_name)
    return requirement_of(handler.fn) if handler is not None else None


def _sets_a_library_var(root: type[BaseState], state_path: str, handler_name: str) -> bool:
    """Whether ``handler_name`` is a setter Reflex generated for one of the library's vars.

    With the app's ``state_auto_setters`` on (deprecated, still honoured by Reflex 0.10), Reflex
    gives every state a browser-callable ``set_<var>`` per var it declares, the library's states
    (``SessionState``, its forms and devices states) included: ``set_status("authenticated")``
    then ``set_session({...})`` would make a visitor's tab show, and the app's handlers read, a
    user who never signed in. The library's vars change only through its own code, so those
    setters are server-only. Reflex registers a setter only on the class that declares the var,
    so only the library's own classes are concerned: an app's subclass keeps its handlers,
    ``set_session`` of its own included. Asked once per event name (:func:`_kind_of` caches).
    """
    if not handler_name.startswith("set_"):
        return False
    try:
        state_cls = root.get_class_substate(state_path)
    except (ValueError, IndexError):
        return False
    if not state_cls.__module__.startswith("reflex_session."):
        return False
    parent = state_cls.get_parent_state()
    inherited = set(parent.get_fields()) if parent is not None else set()
    own = set(state_cls.get_fields()) - inherited
    return handler_name.removeprefix("set_") in own


class _Kind(enum.Enum):
    """What an event is, for the middleware (the requirement of a guarded one is its spec)."""

    HYDRATE = "hydrate"
    NAVIGATION = "navigation"
    SERVER_ONLY = "server-only"
    FREE = "free"


@functools.lru_cache(maxsize=4096)
def _kind_of(state_cls: type[BaseState], name: str) -> _Kind | RequirementSpec:
    """What the event ``name`` of a tab whose state is ``state_cls`` is: a hydrate
    (:func:`.tab.is_hydrate_name`), Reflex's navigation event, a server-only ``SessionState``
    method (refused), an event with a requirement (its spec), or a free one. The same answer for
    every event of that name, so it is worked out once instead of at each event."""
    if is_hydrate_name(state_cls, name):
        return _Kind.HYDRATE
    if name == _navigation_event():
        return _Kind.NAVIGATION
    root = state_cls.get_root_state()
    state_path, _, handler_name = name.rpartition(".")
    if handler_name in SERVER_ONLY and _is_session_state(root, state_path):
        return _Kind.SERVER_ONLY
    if _sets_a_library_var(root, state_path, handler_name):
        return _Kind.SERVER_ONLY
    spec = _requirement(root, state_path, handler_name)
    return _Kind.FREE if spec is None else spec


async def _is_live(session_state: SessionState) -> bool | None:
    """Whether the tab's session still exists; ``None`` when the store cannot say (it is down).

    "Cannot say" is not "revoked": the event is refused (fail closed), but the session is kept,
    so the user is still signed in once the store is back.
    """
    try:
        return await session_state.session_is_live()
    except StoreUnavailable:
        log.error("session store unavailable: a guarded event is refused")
        return None


async def _reload_if_lost(session_state: SessionState) -> None:
    """Load the session of a state that was never loaded although its socket is live.

    Reflex sends ``hydrate_and_load`` only when a socket connects. If the state manager loses
    the tab's state while the socket stays up (Redis restarted empty, a state key expired), the
    next event finds a fresh ``SessionState`` ("loading", no session) and the tab would look
    signed out. Read the cookie of the socket's handshake again, and queue a pull so that the
    browser's newest cookie (which may be newer than the handshake's) is applied at the next sync.
    """
    if session_state.status != "loading":
        return
    await session_state.reload_for_socket()


class SessionEventMiddleware(rx.Middleware):
    """Loads the session at connect, guards navigations and protected events."""

    def __init__(self) -> None:
        self._binding = TabBinding()

    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        """Check the tab's binding, then load, guard or refuse ``event`` before its handler runs.

        ``None`` lets the event run; a ``StateUpdate`` is sent instead of running it (the module
        docstring gives the order of the checks).
        """
        kind = _kind_of(type(state), event.name)
        if kind is _Kind.FREE and self._binding.settled(state, event):
            # the tab's own browser on the socket its session came from, nothing revoked or
            # waiting, and an event without requirements: nothing to check or load
            return None
        hydrate = kind is _Kind.HYDRATE
        refusal, session_state, rebound = await self._binding.check(state, event, hydrate=hydrate)
        if refusal is not None:
            return refusal
        # a sign-out that happened outside an awaitable path (a queued logout, a refusal) has
        # its user data reset before this event sees any of it
        await session_state.forget_user_data()
        name = event.name
        if hydrate:
            # every path that hands the socket the whole state reads the session from *this*
            # socket's cookie first
            await session_state.load_from_socket()
            return None
        if rebound:
            # a fresh (or lost) state on a live socket: fill it from this socket's cookie, and
            # let the next sync apply the browser's newest cookie
            log.warning("tab state without a binding on a live socket (state lost?): reloading")
            await session_state.reload_for_socket()
        if session_state.revoked_since_check():
            # a session of this user ended since the tab last checked: whatever the event,
            # it runs only if the tab's own session is still live (one store read)
            refusal = await self._recheck(session_state, name)
            if refusal is not None:
                return refusal
        if kind is _Kind.FREE:
            return None
        if kind is _Kind.NAVIGATION:
            if not get_options().refetch_on_path_change:
                return None
            await _reload_if_lost(session_state)
            return await self._refuse(session_state, session_state.route_redirect())
        if kind is _Kind.SERVER_ONLY:
            # login, update_session, setvar...: server code only, never from a websocket
            refused("event %s refused: not callable from the browser", name.rpartition(".")[2])
            return StateUpdate()
        if isinstance(kind, _Kind):  # a hydrate returned above: unreachable, and refused
            log.error("event %s of unhandled kind %s refused", name.rpartition(".")[2], kind)
            return StateUpdate()
        spec, handler_name = kind, name.rpartition(".")[2]
        await _reload_if_lost(session_state)
        session = session_state.current_session()
        # the page's path only when refusing: reading Reflex's router costs ~25 µs per event
        location = refusal_for(spec, session, lambda: path_of(session_state.router.url))
        revoked = False
        if location is None:
            live = True if session is None else await _is_live(session_state)
            if live is None:
                # the store is down: refuse this event, but neither sign the tab out nor queue a
                # logout (that would end the session once the store is back)
                return StateUpdate()
            if live:
                return None
            # revoked (logout elsewhere, sign out everywhere, an admin): refused at this moment
            location, revoked = login_location(path_of(session_state.router.url)), True
        log.info("event %s refused: the session does not allow it", handler_name)
        if revoked or session_state.has_lapsed():
            # the tab says why: revoked, or expired (a lapsed session's default)
            reason = Reason.REVOKED if revoked else None
            return await self._sign_out_to(
                session_state, location, tell_browser=revoked, reason=reason
            )
        return await self._refuse(session_state, rx.redirect(location, replace=True))

    async def _recheck(self, session_state: SessionState, name: str) -> StateUpdate | None:
        """Check the tab's session against the store now; sign the tab out if it ended."""
        session = session_state.current_session()
        live = True if session is None else await _is_live(session_state)
        if live is None:
            return StateUpdate()  # the store is down: refuse, keep the session (see below)
        if live:
            session_state.mark_checked()
            return None
        log.info("event %s refused: the tab's session was ended", name.rpartition(".")[2])
        location = login_location(path_of(session_state.router.url))
        return await self._sign_out_to(
            session_state, location, tell_browser=True, reason=Reason.REVOKED
        )

    async def _sign_out_to(
        self,
        session_state: SessionState,
        location: str,
        *,
        tell_browser: bool,
        reason: Reason | None,
    ) -> StateUpdate | None:
        """Sign the tab out (its user data reset now) and answer with a redirect to
        ``location``, saying why: the one ending of an event refused because its session is
        gone."""
        session_state.sign_out(tell_browser=tell_browser, reason=reason)
        await session_state.forget_user_data()
        location = session_state.with_exit_reason(location)
        return await self._refuse(session_state, rx.redirect(location, replace=True))

    @staticmethod
    async def _refuse(session_state: SessionState, redirect: Any) -> StateUpdate | None:
        if redirect is None:
            return None
        root = session_state._get_root_state()
        delta = await root._get_resolved_delta()
        root._clean()  # type: ignore[no-untyped-call]
        return StateUpdate(delta=delta, events=Event.from_event_type(redirect))
