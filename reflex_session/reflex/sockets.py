"""Which socket holds a tab, and which browser a socket is: the questions every check asks.

Reflex keeps a tab's socket in its token manager and a socket's handshake in python-socketio's
record of it; an event carries its socket's handshake headers in its router data. The binding
digest read from those headers says which browser the socket is (:mod:`reflex_session.binding`).
These read-only answers are used by the per-event check (:mod:`.tab`), the guard of later
updates (:mod:`.emits`), the long-polling guard (:mod:`.polling`) and the login's proof
(:mod:`.state`); none of them needs a tab's state, so this module imports none.
"""

from __future__ import annotations

import functools
from typing import Any

from reflex_base import constants
from reflex_base.event.context import EventContext

from ..binding import BindingCookie, digest
from ..http.origin import HTTPS_HEADER, handshake_is_https
from .runtime import get_app, get_auth

__all__ = [
    "binding_of",
    "event_origin",
    "handshake_binding",
    "linked_sid",
    "sid_of",
    "socket_binding",
]


@functools.lru_cache(maxsize=1)
def _cookie() -> BindingCookie:
    return BindingCookie.for_session_cookie(get_auth().cookie_policy)


@functools.lru_cache(maxsize=4096)
def _digest_of_header(cookie_header: str, https: bool) -> str | None:
    """Cached per handshake header: a socket presents the same header on every event."""
    return _cookie().read_digest(cookie_header, request_is_https=https)


def sid_of(data: dict[str, Any]) -> str:
    """The Reflex socket id of the event whose router data is ``data`` (set by the server from
    the connection, never by the client)."""
    return str(data.get(constants.RouteVar.SESSION_ID) or "")


def binding_of(data: dict[str, Any]) -> str:
    """:func:`presented_binding` from an event's router data itself (read once per event)."""
    headers = data.get(constants.RouteVar.HEADERS) or {}
    header = str(headers.get("cookie") or "")
    found = _digest_of_header(header, handshake_is_https(headers)) if header else None
    if found is not None:
        return found
    return "socket:" + digest(sid_of(data) or "none")


def socket_binding(namespace: Any, sid: str) -> str | None:
    """The binding digest the connected socket ``sid`` presents, as :func:`binding_of` reads it
    from an event of that socket; ``None`` when the socket is not connected to this worker.

    Read from the handshake's own headers (python-socketio's ``get_environ``), which carry the
    cookies and the HTTPS stamp the binding middleware wrote.
    """
    server = getattr(namespace, "server", None)
    environ = server.get_environ(sid, namespace.namespace) if server is not None else None
    if not environ:
        return None
    found = _environ_binding(environ)
    return found if found is not None else "socket:" + digest(sid)


def handshake_binding(eio_sid: str) -> tuple[bool, str | None]:
    """Whether the Engine.IO session ``eio_sid`` is one of this worker's, and the binding digest
    its first request presented (``None``: none that can be read). Under long polling each later
    request of the session must present the same (:mod:`.polling`)."""
    server = getattr(get_app(), "sio", None)
    environs = getattr(server, "environ", None)
    if not isinstance(environs, dict):
        # no record to read (a custom socket server, another python-socketio): the session
        # cannot be checked, so it counts as one that presented nothing (refused)
        return True, None
    environ = environs.get(eio_sid)
    if environ is None:
        return False, None
    return True, _environ_binding(environ)


def _environ_binding(environ: dict[str, Any]) -> str | None:
    """The binding digest in a socket's handshake environ, read as :func:`binding_of` reads it
    from the router data Reflex builds from the same headers."""
    cookies: list[str] = []
    https = False
    stamp = HTTPS_HEADER.encode("latin-1")
    for key, value in environ.get("asgi.scope", {}).get("headers", ()):
        name = key.lower()
        if name == b"cookie":
            # repeated Cookie headers joined as Reflex joins them for the router data
            try:
                cookies.append(value.decode())
            except UnicodeDecodeError:
                cookies.append(value.decode("latin-1"))
        elif name == stamp:
            https = value == b"1"
    cookie = "; ".join(cookies)
    return _digest_of_header(cookie, https) if cookie else None


def linked_sid(namespace: Any, token: str) -> str | None:
    """The socket id Reflex links to ``token``: what ``namespace.token_to_sid.get(token)`` says.

    Reflex 0.10 builds that mapping anew over every connected tab of the worker at each call
    (``TokenManager.token_to_sid`` copies ``token_to_socket``), so the check cost grew with the
    crowd: 15 µs per event at 300 tabs, 212 µs at 5,000 (benchmarks/tabs.py). The token
    manager's own ``token_to_socket`` record is the same answer in one lookup; should a Reflex
    release move it, the public mapping still answers.
    """
    manager = getattr(namespace, "_token_manager", None)
    sockets = getattr(manager, "token_to_socket", None)
    if isinstance(sockets, dict):
        record = sockets.get(token)
        return None if record is None else getattr(record, "sid", None)
    linked = namespace.token_to_sid.get(token)
    return None if linked is None else str(linked)


def event_origin(token: str) -> dict[str, Any]:
    """The router data of the socket whose event is running, if that event is tab ``token``'s
    (empty otherwise: no event, or another tab's).

    Read from Reflex's ``EventContext``, which chained events and background tasks inherit from
    the event that started them. The state's own router data is not that: Reflex writes each
    event's router data into the state before the layer's check can refuse the event.
    """
    try:
        origin = EventContext.get().router_data
    except LookupError:
        return {}
    if not origin or origin.get(constants.RouteVar.CLIENT_TOKEN) != token:
        return {}
    return origin
