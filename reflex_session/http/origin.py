"""One answer, for HTTP requests and websocket handshakes alike, to "is this HTTPS?" and
"is this request from our own site?".

Both questions decide security: HTTPS picks the ``__Host-`` cookie names and the ``Secure``
flag, and the site check refuses cross-site state changes and cross-site websocket hijacking.
Two definitions would eventually disagree (one once read the ``Origin`` header, which the client
chooses), so every adapter asks this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers

if TYPE_CHECKING:
    from starlette.types import Scope

__all__ = [
    "HTTPS_HEADER",
    "cross_site_reason",
    "handshake_is_https",
    "own_origin",
    "request_is_https",
    "stamp_https",
]

_SITES = frozenset({"cross-site", "same-site", "same-origin", "none"})

#: Set on every request by the binding middleware ("1" or "0"), replacing any value the client
#: sent: whether the ASGI server saw HTTPS. Reflex hands the layer only the headers of the
#: socket's handshake (a websocket, or the first long-polling request); this carries
#: :func:`request_is_https`'s answer to them.
HTTPS_HEADER = "x-reflex-session-https"


def request_is_https(scope: Scope) -> bool:
    """Whether the request came over HTTPS.

    We trust the ASGI ``scheme`` only. Behind a proxy, have the server set it from the proxy's
    ``X-Forwarded-Proto`` for the proxy's address only (docs/deploy.md shows how for uvicorn and
    granian); reading that header here ourselves would let any client claim HTTPS.
    """
    return scope.get("scheme") in ("https", "wss")


def own_origin(scope: Scope) -> str | None:
    """Our origin as this request reached us (its scheme and ``Host``); ``None`` without a Host."""
    host = Headers(scope=scope).get("host")
    if not host:
        return None
    scheme = "https" if request_is_https(scope) else "http"
    return f"{scheme}://{host}"


def cross_site_reason(scope: Scope, trusted_origins: Iterable[str] = ()) -> str | None:
    """Why a state-changing request must be refused as cross-site, or ``None`` if it is fine.

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` with every fetch that changes state and with
    every websocket handshake. A request whose site is not ours, or whose origin is neither ours
    nor trusted, is refused. Origins are compared whole: scheme, host and port, so
    ``http://app.example`` is not ``https://app.example``. A request with neither header is not
    from a browser page (curl, a server), so it carries no ambient cookie to abuse.

    Trusted: our own origin (the request's scheme and ``Host``) and ``trusted_origins`` (the
    settings' own, plus Reflex's ``deploy_url`` from the Reflex layer).
    """
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    trusted = {o.rstrip("/") for o in trusted_origins}
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


def handshake_is_https(headers: Mapping[str, Any]) -> bool:
    """Whether a socket's handshake (its headers as Reflex keeps them: a websocket's, or the
    first long-polling request's) came over HTTPS."""
    return str(headers.get(HTTPS_HEADER) or "") == "1"


def stamp_https(
    headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...], https: bool
) -> list[tuple[bytes, bytes]]:
    """A request's headers with :data:`HTTPS_HEADER` set to the server's own answer."""
    name = HTTPS_HEADER.encode("latin-1")
    kept = [(k, v) for k, v in headers if k.lower() != name]
    return [*kept, (name, b"1" if https else b"0")]
