"""One address per page: ``/login``, never ``/login/``.

Where the slash came from: ``reflex export`` writes each page twice, ``login.html`` and
``login/index.html``, and in prod mode Reflex serves them with Starlette's
``StaticFiles(html=True)``, which answers a *page load* of ``/login`` with a 307 to ``/login/``
(a directory URL "should end in /"). Client-side navigations (the header's links) never touch
the server, so the address bar switched between ``/session`` and ``/session/`` depending on how
the page was reached, and a return-to taken from it (``callbackUrl=%2Fsession%2F``) kept the slash.

Two ASGI layers (``api_transformer``s) fix it for GET and HEAD of the app's own static pages,
one on each side of the session layer: outside it, ``/session/`` gets a permanent redirect to
``/session`` (so a return-to never carries the slash); inside it, ``/session`` reaches the static
files as ``/session/``, so they serve the page at once and the address stays as written.
Everything else (the backend's routes, assets, unknown paths, dynamic routes) passes untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

Router = Callable[[str], str | None]


def _is_static_page(router: Router, path: str) -> bool:
    route = router(path)
    return route is not None and route not in ("404", "index") and "[" not in route


def redirect_trailing_slash(router_of: Callable[[], Router]) -> Callable[[ASGIApp], ASGIApp]:
    """The outer layer: ``/session/`` -> 308 ``/session`` (query kept), before the session
    layer could take the slashed path as a return-to. ``router_of()`` gives Reflex's page
    router (``app.router``) once the app is built."""

    def transform(inner: ASGIApp) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
                path: str = scope.get("path", "")
                bare = path.rstrip("/")
                if bare and bare != path and _is_static_page(router_of(), bare):
                    query = scope.get("query_string", b"").decode("latin-1")
                    location = bare + (f"?{query}" if query else "")
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 308,
                            "headers": [
                                (b"location", location.encode("latin-1")),
                                (b"content-length", b"0"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": b""})
                    return
            await inner(scope, receive, send)

        return app

    return transform


def serve_without_slash(router_of: Callable[[], Router]) -> Callable[[ASGIApp], ASGIApp]:
    """The inner layer (under the session layer, which sees the path as written): a page load
    of ``/session`` reaches the static files as ``/session/``, so they serve its index.html
    at once instead of redirecting."""

    def transform(inner: ASGIApp) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
                path: str = scope.get("path", "")
                if path != "/" and not path.endswith("/") and _is_static_page(router_of(), path):
                    raw = scope.get("raw_path") or path.encode("latin-1")
                    scope = {**scope, "path": path + "/", "raw_path": raw + b"/"}
            await inner(scope, receive, send)

        return app

    return transform
