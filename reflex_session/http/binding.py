"""ASGI middleware giving every browser its binding cookie (see :mod:`reflex_session.binding`).

It runs in front of everything the backend serves, pages, the session API and the websocket
handshake alike, because a tab must carry the cookie on the very first websocket it opens: the
page response sets it in prod mode, and the handshake's own ``101`` response sets it where pages
come from elsewhere (a dev server, a CDN).

A request that arrives without a well-formed binding gets a fresh value, which is also written
into the request's own ``Cookie`` header before the app sees it. The app therefore never has to
handle "no binding yet": the websocket that delivers the cookie is already bound by it, and the
page guard and API see the same value the browser will send next time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import Headers

from ..binding import BindingCookie, new_value
from .origin import request_is_https, stamp_https

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BindingMiddleware"]


class BindingMiddleware:
    """Mint the binding cookie for HTTP and websocket requests that lack one."""

    def __init__(self, app: ASGIApp, cookie: BindingCookie) -> None:
        self.app = app
        self.cookie = cookie

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The app's own call when the request already carries a binding, else one that mints it.

        Deliberately not a coroutine: a websocket lives inside the call that opened it, and every
        message it receives resumes each coroutine frame of that call, so a pass-through that
        returns the app's awaitable adds no work to a socket's messages. Only ``install`` uses
        it, behind Reflex's own Starlette app, which awaits it; served directly, a server that
        guesses the ASGI version from ``__call__`` would take it for ASGI2 (the public
        ``SessionMiddleware`` is a coroutine function for that reason).
        """
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        https = request_is_https(scope)
        # every request, not only the websocket: Engine.IO's long polling hands Reflex the
        # headers of an HTTP request as the socket's, and a client must not choose the answer
        scope = {**scope, "headers": stamp_https(scope.get("headers", []), https)}
        header = Headers(scope=scope).get("cookie")
        if self.cookie.read(header, request_is_https=https) is not None:
            return self.app(scope, receive, send)
        return self._mint(scope, receive, send, https)

    async def _mint(self, scope: Scope, receive: Receive, send: Send, https: bool) -> None:
        value = new_value()
        name = self.cookie.name(https)
        set_cookie = self.cookie.set_cookie(value, request_is_https=https).encode("latin-1")
        scope = {**scope, "headers": _with_cookie_first(scope.get("headers", []), name, value)}
        start = "http.response.start" if scope["type"] == "http" else "websocket.accept"

        async def send_with_binding(message: Message) -> None:
            if message["type"] == start:
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"set-cookie", set_cookie)],
                }
            await send(message)

        await self.app(scope, receive, send_with_binding)


def _with_cookie_first(
    headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...], name: str, value: str
) -> list[tuple[bytes, bytes]]:
    """The request headers with ``name=value`` as the first pair of the ``Cookie`` header.

    First, because cookie parsers keep the first occurrence of a name: a malformed binding the
    browser sent is then shadowed by the fresh one instead of winning.
    """
    pair = f"{name}={value}".encode("latin-1")
    out: list[tuple[bytes, bytes]] = []
    done = False
    for key, raw in headers:
        if not done and key.lower() == b"cookie":
            out.append((key, pair + b"; " + raw if raw else pair))
            done = True
        else:
            out.append((key, raw))
    if not done:
        out.append((b"cookie", pair))
    return out
