"""What the HTTP endpoints share: the cookie jar of a request, the no-store headers, and
reading a bounded JSON body."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers

from ..cookies import CookieJar
from .origin import request_is_https

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Scope

    from ..engine import SessionEngine

__all__ = ["NO_STORE_HEADERS", "jar_for_scope", "parse_json", "read_body"]

#: Answers that depend on the session cookie: never cached, by the browser or by a proxy.
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Vary": "Cookie"}


def jar_for_scope(auth: SessionEngine[Any], scope: Scope) -> CookieJar:
    """The session cookie jar of a request or handshake, HTTPS as the ASGI server saw it."""
    headers = Headers(scope=scope)
    return auth.jar(headers.get("cookie"), https=request_is_https(scope))


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, read as it streams in; ``None`` as soon as it passes ``limit`` bytes
    (never buffered beyond it)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON. Raises ``ValueError`` for anything that is not, a body nested too deep
    for the parser included: a kilobyte of ``[`` makes it raise ``RecursionError``, which an
    endpoint catching ``ValueError`` would let through as a 500."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
