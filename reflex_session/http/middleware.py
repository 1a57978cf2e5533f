"""The page guard: decide before any HTML is served (the reference's ``middleware()``).

Only page requests are guarded: ``GET``/``HEAD`` requests that are not the session API, not one of
Reflex's own endpoints and not a static file (a last path segment with a file extension). For
those, the session is read (and re-issued when the refresh rule says so), the route guard decides,
and the request either goes on — with any refreshed cookie added to the app's response — or is
answered with a redirect (``307``, ``Cache-Control: no-store``).

A ``custom`` handler (the reference's ``middleware((request, isAuthenticated, rule) => ...)``) is
called with ``(scope, session, decision)`` and may return a different :class:`Decision`, a
Starlette ``Response`` to send as is, or ``None`` for the default.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.responses import RedirectResponse, Response

from ..rules import Decision, resolve_path
from .common import NO_STORE_HEADERS, jar_for_scope

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from ..engine import SessionEngine
    from ..session import Session

__all__ = ["CustomHandler", "SessionMiddleware", "raw_path_of"]

log = logging.getLogger("reflex_session.http")

CustomHandler = Callable[
    ["Scope", "Session[Any] | None", Decision],
    "Decision | Response | Awaitable[Decision | Response | None] | None",
]


def _is_static(path: str) -> bool:
    """A file of the build (``.js``, ``.css``, images), but never an ``.html`` page.

    ``path`` is resolved (dots resolved), so ``/dashboard/.`` cannot pass for a file. It still
    has the page's file name: ``/app.js.html`` is a page (whose name has a dot), not ``/app.js``.
    """
    last = path.rsplit("/", 1)[-1]
    if "." not in last.strip("."):
        return False
    return not last.lower().endswith((".html", ".htm"))


def raw_path_of(scope: Scope) -> str:
    """The decoded ``scope["path"]`` — the one the app (a static file server) will serve —
    percent-encoded again, so that a ``?`` or ``#`` in it stays part of the path."""
    return quote(scope.get("path", "/") or "/", safe="/:@!$&'()*+,;=~")


class SessionMiddleware:
    """ASGI middleware applying the route rules to page requests."""

    def __init__(
        self,
        app: ASGIApp,
        auth: SessionEngine[Any],
        *,
        custom: CustomHandler | None = None,
        skip_prefixes: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.auth = auth
        self.custom = custom
        #: paths that are never pages: the session API, and the framework's own endpoints and
        #: build output (the framework layer passes them; this module knows no framework)
        self.skip_prefixes = (auth.config.api_path, *skip_prefixes)

    def guards(self, scope: Scope) -> bool:
        """Whether ``scope`` is a page request: ``GET``/``HEAD``, not static, not skipped.

        Decided on the resolved path, the one the app will serve, so ``/_event/../admin`` cannot
        pass for an endpoint; a skip prefix matches at a segment boundary only.
        """
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            return False
        # what is a page is decided on the served path; the rules then judge the page it names
        path = resolve_path(raw_path_of(scope))
        if _is_static(path):
            return False
        return not any(
            path == p.rstrip("/") or path.startswith(p if p.endswith("/") else p + "/")
            for p in self.skip_prefixes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # a coroutine function on purpose: ASGI servers and wrappers (uvicorn's interface="auto",
        # asgiref) take any other callable for an ASGI2 app. The Reflex layer, which must not
        # add a frame to every websocket message, calls ``guards`` and ``guard`` itself.
        if not self.guards(scope):
            await self.app(scope, receive, send)
            return
        await self.guard(scope, receive, send)

    async def guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the page request ``scope`` (one :meth:`guards`): redirect it, or let it through
        with the session's cookies. For a caller that has already asked :meth:`guards`."""
        jar = jar_for_scope(self.auth, scope)
        try:
            session = await self.auth.get_session(jar)
        except Exception:
            log.error("session read failed in the page guard (internal error)")
            session = None
        query = scope.get("query_string", b"").decode("latin-1")
        path_with_query = raw_path_of(scope) + (f"?{query}" if query else "")
        decision = self.auth.decide(path_with_query, session)
        if self.custom is not None:
            override = self.custom(scope, session, decision)
            if inspect.isawaitable(override):
                override = await override
            if isinstance(override, Response):
                for header in jar.set_cookie_headers:
                    override.raw_headers.append((b"set-cookie", header.encode("latin-1")))
                await override(scope, receive, send)
                return
            if isinstance(override, Decision):
                decision = override
        cookies = jar.set_cookie_headers
        if not decision.allowed:
            response = RedirectResponse(decision.location or "/", 307, headers=NO_STORE_HEADERS)
            for header in cookies:
                response.raw_headers.append((b"set-cookie", header.encode("latin-1")))
            await response(scope, receive, send)
            return
        if not cookies:
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for header in cookies:
                    headers.append("set-cookie", header)
                headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_cookies)
