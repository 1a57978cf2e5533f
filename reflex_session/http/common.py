"""What both HTTP adapters share: the cookie jar of a request, and the no-store headers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers

from ..cookies import CookieJar
from .origin import request_is_https

if TYPE_CHECKING:
    from starlette.types import Scope

    from ..engine import SessionEngine

__all__ = ["NO_STORE_HEADERS", "jar_for_scope"]

#: Answers that depend on the session cookie: never cached, by the browser or by a proxy.
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Vary": "Cookie"}


def jar_for_scope(auth: SessionEngine[Any], scope: Scope) -> CookieJar:
    """The session cookie jar of a request or handshake, HTTPS as the ASGI server saw it."""
    headers = Headers(scope=scope)
    return auth.jar(headers.get("cookie"), https=request_is_https(scope))
