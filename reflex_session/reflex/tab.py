"""The tab's binding to its browser: the only place that decides whose a tab's state is.

Reflex keys a tab's server-side state by the client token in ``sessionStorage``, which any script on
the page can read. This module makes that token worth nothing alone: the state remembers the
digest of the HttpOnly binding cookie (:mod:`reflex_session.binding`) of the browser that opened it,
and every event must come over a websocket whose handshake carried the same cookie.

=====================================  =========================================================
the event's socket presents            what happens
=====================================  =========================================================
the tab's own binding                  the event runs as usual
another binding, on a hydrate          a new browser took this token: the whole state tree is
(``hydrate`` / ``hydrate_and_load``)   reset to its defaults *before* anything is sent, then
                                       bound to the new browser and filled from *its* cookies
another binding, any other event       refused: no handler runs, nothing is sent back
nothing bound yet (fresh or lost       reset, bound to this socket's browser, filled from its
state)                                 cookies, then the event runs
=====================================  =========================================================

A socket that carries no binding cookie at all (the browser refuses cookies) is bound to its own
socket id instead: the tab works for as long as that socket lives, and nothing it holds can be
reached from any other connection. The sync endpoint refuses such a tab, so it can never receive
a session cookie.

The same check guards the HTTP entry points keyed by the token: ``/api/session/sync``
(:mod:`.sync`) and Reflex's ``/_upload`` (:class:`UploadGuard`), which compare the request's own
binding cookie with the tab's.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from reflex.state import BaseState, State, StateUpdate
from reflex_base import constants
from reflex_base.utils.format import format_event_handler

from ..binding import BindingCookie, digests_match
from ..http.common import NO_STORE_HEADERS, jar_for_scope
from ..http.origin import (
    cross_site_reason,
    request_is_https,
)
from ..securitylog import refused
from .runtime import get_app
from .sockets import binding_of, linked_sid, sid_of
from .state import SessionState

if TYPE_CHECKING:
    from collections.abc import Iterable

    from reflex_base.event import Event
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "TabBinding",
    "UploadGuard",
    "is_hydrate_name",
    "is_shared_target",
    "load_tree",
    "presented_binding",
    "reset_tree",
    "session_state_of",
    "tab_exists",
]


@functools.lru_cache(maxsize=1)
def _hydrate_names() -> frozenset[str]:
    """Every event that hands a socket the whole state: Reflex's ``hydrate`` and the
    ``hydrate_and_load`` its page sends at each (re)connect."""
    return frozenset(
        format_event_handler(State.event_handlers[name]) for name in ("hydrate", "hydrate_and_load")
    )


def is_hydrate_name(state_cls: type[BaseState], name: str) -> bool:
    """Whether the event ``name`` of a tab whose state is of class ``state_cls`` hands its
    socket the whole state (a hydrate, sent at each (re)connect).

    The only event a socket with another browser's binding may send to a bound tab, and the tab's
    whole state is reset first (see :class:`TabBinding`).
    """
    return name in _hydrate_names() or name == _root_hydrate(state_cls)


@functools.lru_cache(maxsize=64)
def _root_hydrate(state_cls: type[BaseState]) -> str:
    """What Reflex's ``get_hydrate_event`` names for a state of class ``state_cls``: the same
    for every event of an app, so formatted once instead of at each event."""
    return f"{state_cls.get_name()}.{constants.CompileVars.HYDRATE}"


def presented_binding(state: BaseState) -> str:
    """The binding digest this event's socket presents (never empty).

    Read from the handshake headers Reflex attaches to every event of a socket, which the client
    cannot replace (the plain ``router_data`` dict: ``state.router`` is rebuilt on every access,
    which made this check cost 50 µs). Without a binding cookie the socket id stands in, so such
    a tab is bound to the one connection.
    """
    return binding_of(state.router_data)


def _socket_holds_the_tab(data: dict[str, Any], sid: str) -> bool:
    """Whether the event's socket ``sid`` is still linked to the tab's token (on this worker,
    where a socket's events are processed); ``data`` is the event's router data.

    Reflex processes an event after its socket may have closed, and sends the update to the
    token's *current* socket. Only events that arrived over a socket are judged (the caller
    skips those with no router data of their own: uploads, checked over HTTP by
    :class:`UploadGuard`, and events chained on the server). It asks Reflex which socket holds
    the token (:func:`linked_sid`; its ``sid_to_token`` dict would be one lookup too, but the
    Redis token manager drops entries from it while a socket is still live, which refused real
    events on two workers).
    """
    namespace = getattr(get_app(), "event_namespace", None)
    if not sid or namespace is None:
        return True
    token = str(data.get(constants.RouteVar.CLIENT_TOKEN) or "")
    return linked_sid(namespace, token) == sid


async def load_tree(root: BaseState) -> None:
    """Load every substate of the tab that is not loaded yet.

    With Reflex's Redis manager only the substates an event needs are in memory; a reset of those
    alone would leave the rest of the previous owner's data to be loaded later.
    """

    async def load_all(state_cls: type[BaseState]) -> None:
        for sub in state_cls.get_substates():
            await root.get_state(sub)
            await load_all(sub)

    await load_all(type(root))


async def reset_tree(root: BaseState) -> None:
    """Reset every state of the tab to its defaults, loading the substates that are not loaded."""
    await load_tree(root)
    root.reset()  # type: ignore[no-untyped-call]


def is_shared_target(root: BaseState) -> bool:
    """Whether the tree ``root`` is where Reflex keeps an ``rx.SharedState``'s data: the tree
    stored under a link token, which tabs are linked to (its shared instances record them in
    Reflex's ``_linked_from``), not a browser's tab. No browser ever binds such a tree, so
    without this a socket naming the link token (a room's id) would be taken for a fresh tab:
    the data would be reset for every member and the tree bound to that socket."""
    from reflex.istate.shared import SharedStateBaseInternal

    # a tab's own tree holds the instances it links to, patched in from their target, with this
    # tab among their linked tabs: those are named in its links, and are no sign of a target
    patched = getattr(root, "_reflex_internal_links", None) or {}
    pending = [root]
    while pending:
        state = pending.pop()
        if (
            isinstance(state, SharedStateBaseInternal)
            and state.get_full_name() not in patched
            and getattr(state, "_linked_from", None)
        ):
            return True
        pending.extend(state.substates.values())
    return False


#: the router data keys of the page an event comes from (the rest is its socket's)
_PAGE_PATH, _PAGE_ADDRESS, _PAGE_QUERY = (
    constants.RouteVar.PATH,
    constants.RouteVar.ORIGIN,
    constants.RouteVar.QUERY,
)


@functools.lru_cache(maxsize=1)
def _session_path() -> tuple[str, ...]:
    return tuple(SessionState.get_full_name().split("."))


def _cached_session_state(state: BaseState) -> SessionState | None:
    """The tab's ``SessionState`` looked up by its path from the root Reflex hands the
    middleware: what ``get_state`` finds, without walking to the root and checking the class
    again at every event. ``None`` for anything else (a substate, a substate not loaded)."""
    try:
        found = state.get_substate(_session_path())
    except ValueError:
        return None
    return found if isinstance(found, SessionState) else None


async def session_state_of(state: BaseState) -> SessionState:
    """The tab's ``SessionState``: :func:`_cached_session_state`, else Reflex's ``get_state``."""
    return _cached_session_state(state) or await state.get_state(SessionState)


class TabBinding:
    """Checks an event's socket against the tab it addresses (see the module docstring)."""

    def settled(self, state: BaseState, event: Event) -> bool:
        """Whether the event's socket holds the tab, carries its binding and is the socket its
        session was read from, with nothing for :meth:`check` to do (see
        ``SessionState.settled_on``): the common case, answered with one read of each thing.
        ``False`` is not a refusal: the caller runs :meth:`check`."""
        data = state.router_data
        sid = sid_of(data)
        session_state = _cached_session_state(state)
        if session_state is None:
            return False
        if event.router_data and not _socket_holds_the_tab(data, sid):
            return False
        return session_state.settled_on(sid, binding_of(data))

    async def check(
        self, state: BaseState, event: Event, *, hydrate: bool
    ) -> tuple[StateUpdate | None, SessionState, bool]:
        """The full check: ``(refusal, session_state, rebound)``, a ``StateUpdate`` to send
        instead of running the event (or ``None`` to go on), the tab's ``SessionState``, and
        whether the tab was just reset and bound to this socket. ``hydrate`` says whether the
        event is a hydrate (:func:`is_hydrate_name`).

        The middleware runs it for every event :meth:`settled` does not let through: hydrates,
        guarded and server-only events, another socket or browser, a tab with something to do.
        """
        data = state.router_data
        sid = sid_of(data)
        session_state = await session_state_of(state)
        if event.router_data and not _socket_holds_the_tab(data, sid):
            # the socket that sent this event is gone, and the tab's token may now be held by
            # another socket, which Reflex would send this event's update to: run nothing
            refused("event refused: its socket no longer holds the tab")
            return StateUpdate(), session_state, False
        presented = binding_of(data)
        expected = session_state.bound_to()
        if digests_match(expected, presented):
            session_state.keep_alive()
            if not hydrate and session_state.socket_changed(sid):
                # the browser's binding, but not the socket the session was read from: a socket
                # that skipped the hydrate acts only on the session of the cookie *it* carries
                await session_state.reload_for_socket()
            return None, session_state, False
        if expected and not hydrate:
            refused("event refused: the socket does not carry the tab's browser binding")
            return StateUpdate(), session_state, False
        root = state._get_root_state()
        await load_tree(root)
        if not expected and is_shared_target(root):
            refused("an event named a shared state's link token: refused")
            return StateUpdate(), session_state, False
        if expected:
            refused("a socket with another browser's binding hydrated a tab: its state was reset")
        root.reset()  # type: ignore[no-untyped-call]
        # Reflex merged this event's router data over the previous browser's, and a reset keeps
        # router fields: the page address this event did not send is emptied, or the new browser
        # is answered with the previous one's (path, query, fragment)
        if event.router_data:  # a socket's event (a chained one carries its origin's page)
            page = {_PAGE_PATH: "", _PAGE_ADDRESS: "", _PAGE_QUERY: {}}
            root.router_data = root._update_router_vars(
                {**page, **event.router_data}, root.router_data
            )
        session_state = await root.get_state(SessionState)
        session_state.bind_to(presented)
        return None, session_state, True


async def tab_binding(token: str) -> tuple[str, str | None] | None:
    """The binding digest of the tab ``token`` and the id of the session it shows, or ``None``
    when no such tab exists.

    Never creates a state: an HTTP request naming a random token must cost nothing.
    """
    from reflex.istate.manager.token import BaseStateToken

    app = get_app()
    if not await tab_exists(app, token):
        return None
    async with app.modify_state(BaseStateToken(ident=token, cls=SessionState)) as root:
        state = await root.get_state(SessionState)
        session = state.current_session()
        return (state.bound_to(), session.id if session else None) if state.bound_to() else None


async def tab_exists(app: Any, token: str) -> bool:
    """Whether Reflex's state manager holds a state for ``token``, without creating one.

    Reflex has no such call, so this asks each of its three managers in its own terms (their
    public attributes). An unknown manager is assumed to hold it (the caller still checks the
    binding, which a state created now would not have).
    """
    from reflex.istate.manager.disk import StateManagerDisk
    from reflex.istate.manager.memory import StateManagerMemory
    from reflex.istate.manager.redis import StateManagerRedis
    from reflex.istate.manager.token import BaseStateToken

    manager = getattr(app, "state_manager", None)
    if isinstance(manager, StateManagerMemory):
        return token in manager.states
    if isinstance(manager, StateManagerDisk):
        root = BaseStateToken(ident=token, cls=SessionState.get_root_state())
        return token in manager.states or manager.token_path(root).exists()
    if isinstance(manager, StateManagerRedis):
        key = BaseStateToken(ident=token, cls=SessionState)
        return bool(await manager.redis.exists(str(key)))
    return True


class UploadGuard:
    """ASGI guard for Reflex's ``/_upload``: the upload's tab must be bound to this browser.

    An upload names its tab by the ``reflex-client-token`` header and runs its handler through
    Reflex's event processor *without* a socket, so the per-event check would see the headers of
    the tab's last socket, not this request's. The request's own cookies are compared here
    instead, before Reflex reads the body: its binding must be the tab's, and when the tab shows
    a session, the request's session cookie must be that session's (a planted binding alone
    does not carry the victim's HttpOnly session cookie). A cross-site upload (another site's
    page posting with the browser's cookies) is refused first, as the sync and the websocket
    handshake are.
    """

    def __init__(
        self,
        app: ASGIApp,
        cookie: BindingCookie,
        auth: Any,
        trusted_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.cookie = cookie
        self.auth = auth
        self.trusted_origins = tuple(trusted_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.datastructures import Headers
        from starlette.responses import JSONResponse

        reason = cross_site_reason(scope, self.trusted_origins)
        if reason is not None:
            refused("cross-site upload refused (%s)", reason)
            response = JSONResponse(
                {"error": "cross_site"}, status_code=403, headers=NO_STORE_HEADERS
            )
            await response(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = headers.get("reflex-client-token") or ""
        presented = self.cookie.read_digest(
            headers.get("cookie"), request_is_https=request_is_https(scope)
        )
        tab = await tab_binding(token) if 0 < len(token) <= 128 and presented else None
        allowed = tab is not None and digests_match(tab[0], presented)
        if allowed and tab is not None and tab[1] is not None:
            try:
                session, _ = await self.auth.load_session(jar_for_scope(self.auth, scope))
            except Exception:
                session = None  # a store outage refuses the upload, never a 500
            allowed = session is not None and session.id == tab[1]
        if not allowed:
            refused("upload refused: the request does not carry the tab's binding")
            response = JSONResponse(
                {"error": "not_bound"}, status_code=403, headers=NO_STORE_HEADERS
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
