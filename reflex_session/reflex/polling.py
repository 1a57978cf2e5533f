"""Engine.IO long polling: each request of a socket must come from the browser that opened it.

With ``rx.Config(transport="polling")`` Reflex's socket is a series of HTTP requests to
``/_event`` that name their Engine.IO session in ``?sid=``. python-engineio serves any request
that names a known session, and Reflex gives every event the headers of the session's *first*
request. Whoever learned the sid (a script on the page reads it, a log line shows it) could
otherwise speak on the victim's socket from any machine, and its events would carry the
victim's cookies. So each request must present the binding cookie that first request presented,
and come from our own site, as a websocket handshake must (:mod:`.install`).

A browser that refuses cookies presents a fresh binding at every request and cannot keep a
polling socket: its tab could never hold a session anyway, and a request without the binding
cannot be told from a stranger's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from ..binding import BindingCookie, digests_match
from ..http.common import NO_STORE_HEADERS
from ..http.origin import cross_site_reason, request_is_https
from ..securitylog import refused
from .sockets import handshake_binding

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PollingGuard", "names_a_session"]


class PollingGuard:
    """ASGI guard for HTTP requests to Reflex's event path (long polling)."""

    def __init__(
        self, app: ASGIApp, cookie: BindingCookie, trusted_origins: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.cookie = cookie
        self.trusted_origins = tuple(trusted_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = cross_site_reason(scope, self.trusted_origins)
        if reason is not None:
            refused("cross-site event polling refused (%s)", reason)
            await _refuse(scope, receive, send, "cross_site")
            return
        if not self._same_browser(scope):
            refused("event polling from another browser than the socket's refused")
            await _refuse(scope, receive, send, "not_bound")
            return
        await self.app(scope, receive, send)

    def _same_browser(self, scope: Scope) -> bool:
        """Whether a request naming a session presents the binding its first request did (a
        request naming none opens a session: there is nothing to compare yet)."""
        sid = _session_named(scope)
        if sid is None:
            return True
        known, opened_with = handshake_binding(sid)
        if not known:
            return True  # not a session of this worker: Engine.IO answers it as unknown
        if opened_with is None:
            # opened without a readable binding (a name sent twice: planted): nothing proves
            # who may speak on it, so nobody may
            return False
        presented = self.cookie.read_digest(
            Headers(scope=scope).get("cookie"), request_is_https=request_is_https(scope)
        )
        return presented is not None and digests_match(presented, opened_with)


def _session_named(scope: Scope) -> str | None:
    """The Engine.IO session a request names (``?sid=``, the first one, as Engine.IO reads it)."""
    sids = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("sid") or []
    return sids[0] if sids else None


def names_a_session(scope: Scope) -> bool:
    """Whether a request names an existing Engine.IO session: for a websocket handshake, an
    upgrade of a long-polling session. Engine.IO performs one whatever its ``allow_upgrades``
    says, and the upgraded socket keeps the session's first headers (the victim's cookies)."""
    return _session_named(scope) is not None


async def _refuse(scope: Scope, receive: Receive, send: Send, error: str) -> None:
    """Answer 403 with ``{"error": error}`` before Engine.IO reads the request."""
    response = JSONResponse({"error": error}, status_code=403, headers=NO_STORE_HEADERS)
    await response(scope, receive, send)
