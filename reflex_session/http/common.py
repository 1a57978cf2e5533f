"""Request facts both HTTP adapters need: HTTPS-ness, the cookie jar, same-origin checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers

from ..cookies import CookieJar

if TYPE_CHECKING:
    from starlette.types import Scope

    from ..engine import SessionEngine

__all__ = ["cross_site_reason", "jar_for_scope", "request_is_https"]

NO_STORE_HEADERS = {"Cache-Control": "no-store", "Vary": "Cookie"}
_SITES = frozenset({"cross-site", "same-site", "same-origin", "none"})


def request_is_https(scope: Scope) -> bool:
    """Whether the request came over HTTPS.

    We trust the ASGI ``scheme`` only. Behind a proxy, have the server set it from the proxy's
    ``X-Forwarded-Proto`` for the proxy's address only (docs/deploy.md shows how for uvicorn and
    granian); reading that header here ourselves would let any client claim HTTPS.
    """
    return scope.get("scheme") in ("https", "wss")


def jar_for_scope(auth: SessionEngine[Any], scope: Scope) -> CookieJar:
    """The cookie jar of an ASGI request (HTTPS as :func:`request_is_https` sees it)."""
    headers = Headers(scope=scope)
    return auth.jar(headers.get("cookie"), https=request_is_https(scope))


def own_origin(scope: Scope) -> str | None:
    """Our origin as this request reached us (its scheme and ``Host``); ``None`` without a Host."""
    host = Headers(scope=scope).get("host")
    if not host:
        return None
    scheme = "https" if request_is_https(scope) else "http"
    return f"{scheme}://{host}"


def cross_site_reason(
    auth: SessionEngine[Any], scope: Scope, extra_trusted: Iterable[str] = ()
) -> str | None:
    """Why a state-changing request must be refused as cross-site, or ``None`` if it is fine.

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` with every fetch that changes state and with
    every websocket handshake. A request whose site is not ours, or whose origin is neither ours
    nor trusted, is refused. Origins are compared whole: scheme, host and port, so
    ``http://app.example`` is not ``https://app.example``. A request with neither header is not
    from a browser page (curl, a server), so it carries no ambient cookie to abuse.

    Trusted: our own origin (the request's scheme and ``Host``), ``trusted_origins`` and
    ``extra_trusted`` (the Reflex layer adds Reflex's ``deploy_url``).
    """
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    trusted = {o.rstrip("/") for o in (*auth.config.trusted_origins, *extra_trusted)}
    mine = own_origin(scope)
    if mine:
        trusted.add(mine)
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        if site == "same-site" and origin is not None and origin.rstrip("/") in trusted:
            return None
        return f"sec-fetch-site={site if site in _SITES else 'other'}"
    if origin is not None and origin.rstrip("/") not in trusted:
        return "origin"
    return None
