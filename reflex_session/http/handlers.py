"""``/api/session``: the JSON API behind the client (the reference's ``handlers()``).

=======  ===============================================================  =====================
method   does                                                             without a session
=======  ===============================================================  =====================
GET      the client view of the session, status and refreshThreshold;     200, session null
         re-issues the cookie when the refresh rule says so
POST     refreshes (extends) the session                                  401
PATCH    merges a JSON body ``{"user": {...}}`` into the session          401
DELETE   logs out: clears the cookie                                      200
=======  ===============================================================  =====================

Every response carries ``Cache-Control: no-store`` and ``Vary: Cookie``. Any request from another
site (``Sec-Fetch-Site``/``Origin``) is refused with 403 before anything is read — GET included, so
a permissive CORS setting can never let another site read who is signed in.

A bad body is 400 (not JSON), 415 (not JSON content type) or 422 (a field that cannot be
changed); an update that would not fit in a cookie is 413. In every error case the old cookie is
left exactly as it was. The body never contains the cookie, and tokens only when the app set
``expose_tokens=True``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import CookieTooLarge, ForbiddenUpdate
from ..securitylog import refused
from ..stores.base import StoreUnavailable
from ..wire import from_patch
from .common import NO_STORE_HEADERS, jar_for_scope, parse_json, read_body
from .origin import cross_site_reason

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from ..cookies import CookieJar
    from ..engine import SessionEngine
    from ..session import Session

__all__ = ["SessionAPI"]

log = logging.getLogger("reflex_session.http")

MAX_BODY_BYTES = 16_384
_ALLOWED = "GET, HEAD, POST, PATCH, DELETE"


class SessionAPI:
    """An ASGI app serving the session API at the root of wherever it is mounted."""

    def __init__(self, auth: SessionEngine[Any]) -> None:
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan and websockets are not ours
        request = Request(scope, receive)
        try:
            response = await self._dispatch(request)
        except StoreUnavailable:
            log.error("session store unavailable (%s)", request.method)
            response = self._json({"error": "store_unavailable"}, 503, extra={"Retry-After": "1"})
        except Exception:  # never a traceback page, never the cookie in a log line
            log.error("session API failed on %s (internal error)", request.method, exc_info=False)
            response = self._json({"error": "internal_error"}, 500)
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        path = request.scope.get("path", "")
        root = request.scope.get("root_path", "")
        api_path = self.auth.config.api_path
        if root and path.startswith(root):
            local = path[len(root) :]  # mounted: only the mount point itself is ours
        elif path.startswith(api_path):
            local = path[len(api_path) :]  # wrapped by install(): the full path arrives
        else:
            local = path
        if local not in ("", "/"):
            return self._json({"error": "not_found"}, 404)
        method = request.method
        # every method: a cross-site GET must not read the user's session through a permissive
        # CORS setting (Reflex's default echoes any Origin with credentials allowed)
        if method in ("GET", "HEAD", "POST", "PATCH", "DELETE"):
            reason = cross_site_reason(request.scope, self.auth.config.trusted_origins)
            if reason is not None:
                refused("cross-site %s to the session API refused (%s)", method, reason)
                return self._json({"error": "cross_site"}, 403)
        jar = jar_for_scope(self.auth, request.scope)
        if method in ("GET", "HEAD"):
            session = await self.auth.get_session(jar)
            return self._view(jar, session)
        if method == "POST":
            session = await self.auth.refresh_session(jar)
            if session is None:
                return self._json({"error": "unauthenticated"}, 401)
            return self._view(jar, session)
        if method == "PATCH":
            return await self._patch(request, jar)
        if method == "DELETE":
            await self.auth.delete_session(jar)
            return self._view(jar, None)
        return self._json({"error": "method_not_allowed"}, 405, extra={"Allow": _ALLOWED})

    async def _patch(self, request: Request, jar: CookieJar) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return self._json({"error": "unsupported_media_type"}, 415)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            return self._json({"error": "body_too_large"}, 413)
        body = await read_body(request, MAX_BODY_BYTES)
        if body is None:
            return self._json({"error": "body_too_large"}, 413)
        try:
            data = parse_json(body)
        except ValueError:
            return self._json({"error": "invalid_json"}, 400)
        try:
            changes = from_patch(
                data, allow_tokens=False, user_fields=self.auth.config.client_user_fields
            )
        except ForbiddenUpdate as exc:
            return self._json({"error": "forbidden_field", "field": exc.field}, 422)
        # authenticate only after the body is known to be well formed: nothing is re-issued for
        # a request that is going to be refused anyway
        try:
            session = await self.auth.update_session(jar, **changes)
        except ForbiddenUpdate as exc:
            return self._json({"error": "forbidden_field", "field": exc.field}, 422)
        except CookieTooLarge:
            return self._json({"error": "session_too_large"}, 413)
        if session is None:
            return self._json({"error": "unauthenticated"}, 401)
        return self._view(jar, session)

    def _view(self, jar: CookieJar, session: Session[Any] | None) -> Response:
        return self._json(
            {
                "session": self.auth.client_view(session) if session else None,
                "status": "authenticated" if session else "unauthenticated",
                "refreshThreshold": self.auth.policy.refresh_threshold,
            },
            200,
            jar,
        )

    def _json(
        self,
        body: dict[str, Any],
        status: int,
        jar: CookieJar | None = None,
        extra: dict[str, str] | None = None,
    ) -> Response:
        response = JSONResponse(
            body, status_code=status, headers={**NO_STORE_HEADERS, **(extra or {})}
        )
        if jar is not None:
            for header in jar.set_cookie_headers:
                response.raw_headers.append((b"set-cookie", header.encode("latin-1")))
        return response
