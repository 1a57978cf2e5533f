"""The provider sign-in routes, as one ASGI app (framework-free; ``install()`` mounts it).

=============================================  =====================================================
``GET {base}/signin/<name>?callbackUrl=/page``  start: 303 to the provider, with the flow cookie
``GET {base}/callback/<name>``                  finish: the session cookie and 303 to the page the
                                                user was going to; on any failure 303 to the login
                                                page with ``?reason=`` (nothing signed in)
``POST {base}/backchannel-logout/<name>``       the provider's ``logout_token``: 200 when verified
                                                (the sessions it names end, their tabs are told),
                                                400 otherwise (OIDC Back-Channel Logout 1.0, 2.8)
=============================================  =====================================================

Every answer is ``Cache-Control: no-store``. The callback always clears the flow cookie, so an
attempt is used once. A failure is logged once, as a warning naming the provider and the fixed
reason, with the provider's own words only in the detail, never a token, code or cookie; the
browser sees only the login page's reason. Nothing here ever answers 500: an unexpected error
becomes ``signInFailed`` (and a log line without a traceback).

Start is a plain GET so that a sign-in button can be a link and works without JavaScript.
Another site can make a browser start a sign-in, but only into the user's own account at the
provider (the flow is bound to this browser and finished only with its cookie), so it cannot
sign anyone into an account of the attacker's choosing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..binding import BindingCookie
from ..errors import ProviderError
from ..reasons import Reason, provider_reason, with_reason
from ..rules import safe_return_to
from ..securitylog import refused
from ..stores.base import StoreUnavailable
from .common import NO_STORE_HEADERS, jar_for_scope
from .origin import cross_site_reason, request_is_https

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from ..providers.service import ProviderAuth

__all__ = ["ProviderRoutes"]

log = logging.getLogger("reflex_session.providers")

#: The largest back-channel logout body read (a form with one JWT).
MAX_BODY_BYTES = 16_384

SessionsEnded = Callable[[Sequence[str]], Awaitable[None]]


class ProviderRoutes:
    """Serves ``signin``, ``callback`` and ``backchannel-logout`` under ``providers.base_path``;
    ``on_sessions_ended(user_ids)`` tells the framework layer whose tabs to sign out."""

    def __init__(
        self,
        providers: ProviderAuth,
        binding: BindingCookie,
        *,
        on_sessions_ended: SessionsEnded | None = None,
    ) -> None:
        self.providers = providers
        self.binding = binding
        self.on_sessions_ended = on_sessions_ended

    def handles(self, path: str) -> bool:
        """Whether ``path`` is one of these routes."""
        return path.startswith(self.providers.base_path + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        kind, _, name = path[len(self.providers.base_path) + 1 :].partition("/")
        method = scope.get("method", "GET")
        if name not in self.providers.signin.providers or "/" in name:
            response: Response = _json({"error": "not_found"}, 404)
        elif kind == "signin" and method in ("GET", "HEAD"):
            response = await self._start(scope, name)
        elif kind == "callback" and method in ("GET", "HEAD"):
            response = await self._callback(scope, name)
        elif kind == "backchannel-logout" and method == "POST":
            response = await self._backchannel(scope, receive, name)
        elif kind in ("signin", "callback", "backchannel-logout"):
            response = _json({"error": "method_not_allowed"}, 405)
        else:
            response = _json({"error": "not_found"}, 404)
        await response(scope, receive, send)

    # -- helpers ----------------------------------------------------------------------------------

    def _login(self, reason: Reason, return_to: str | None = None) -> Response:
        config = self.providers.auth.config
        location = config.login_path
        if return_to and return_to != config.home_path:
            location += "?" + urlencode({config.return_to_param: return_to})
        return _redirect(with_reason(location, reason))

    def _binding(self, scope: Scope, https: bool) -> str | None:
        header = Headers(scope=scope).get("cookie")
        return self.binding.read_digest(header, request_is_https=https)

    # -- the routes -------------------------------------------------------------------------------

    async def _start(self, scope: Scope, name: str) -> Response:
        https = request_is_https(scope)
        config = self.providers.auth.config
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        wanted = query.get(config.return_to_param) or _from_referer(scope, https, config)
        return_to = safe_return_to(
            wanted,
            home_path=config.home_path,
            login_path=config.login_path,
            locales=config.locales,
        )
        if return_to.startswith(self.providers.base_path + "/"):
            return_to = config.home_path  # never back into a sign-in: no chains of them
        binding = self._binding(scope, https)
        if binding is None:  # the binding middleware gives every request one: not reached
            return self._login(Reason.SIGN_IN_FAILED, return_to)
        try:
            url, flow_cookie = await self.providers.begin(
                name,
                origin=_origin(scope, https),
                return_to=return_to,
                binding=binding,
                https=https,
            )
        except ProviderError as error:
            refused("provider sign-in with %s could not start (%s)", name, error.reason)
            return self._login(provider_reason(error.reason), return_to)
        response = _redirect(url)
        response.raw_headers.append((b"set-cookie", flow_cookie.encode("latin-1")))
        return response

    async def _callback(self, scope: Scope, name: str) -> Response:
        https = request_is_https(scope)
        providers = self.providers
        headers = Headers(scope=scope)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        jar = jar_for_scope(providers.auth, scope)
        agent = headers.get("user-agent", "")[:200]
        client = scope.get("client") or ("", 0)
        meta = {"userAgent": agent, "ip": str(client[0] or "")}
        try:
            session, return_to = await providers.complete(
                name,
                query,
                jar,
                cookie_header=headers.get("cookie"),
                binding=self._binding(scope, https),
                https=https,
                meta=meta,
            )
        except ProviderError as error:
            # once, as a warning: the reason is fixed, the detail is the provider's (never a
            # token, a code or a cookie: those are not in any ProviderError)
            refused(
                "provider sign-in with %s failed (%s): %s", name, error.reason, error.detail[:200]
            )
            response = self._login(provider_reason(error.reason))
        except StoreUnavailable:
            log.error("provider sign-in with %s failed: session store unavailable", name)
            response = self._login(Reason.PROVIDER_UNAVAILABLE)
        except Exception as error:  # a hook of the app that raised: never a 500, nothing signed in
            log.error("provider sign-in with %s failed (%s)", name, type(error).__name__)
            response = self._login(Reason.SIGN_IN_FAILED)
        else:
            log.info("signed in %s with %s", session.user.id, name)
            response = _redirect(return_to)
            for header in jar.set_cookie_headers:
                response.raw_headers.append((b"set-cookie", header.encode("latin-1")))
        clear = providers.signin.clear_cookie(request_is_https=https)
        response.raw_headers.append((b"set-cookie", clear.encode("latin-1")))
        return response

    async def _backchannel(self, scope: Scope, receive: Receive, name: str) -> Response:
        # server to server: a browser page of another site has no business here either
        if cross_site_reason(scope, ()) is not None:
            return _json({"error": "invalid_request"}, 400)
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _json({"error": "invalid_request"}, 400)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                return _json({"error": "invalid_request"}, 400)
            if not message.get("more_body"):
                break
        form = dict(parse_qsl(body.decode("latin-1")))
        try:
            users = await self.providers.backchannel_logout(name, form.get("logout_token"))
        except ProviderError as error:
            refused(
                "back-channel logout from %s refused (%s): %s", name, error.reason, error.detail
            )
            return _json({"error": "invalid_request"}, 400)
        except StoreUnavailable:
            log.error("back-channel logout from %s failed: session store unavailable", name)
            return _json({"error": "temporarily_unavailable"}, 503)
        if self.on_sessions_ended is not None and users:
            try:
                await self.on_sessions_ended(users)
            except Exception as error:  # the sessions did end: the tabs learn at their next event
                log.error("back-channel logout: could not tell the open tabs (%s)", error)
        return Response(status_code=200, headers=NO_STORE_HEADERS)


def _from_referer(scope: Scope, https: bool, config: Any) -> str | None:
    """Where the user was going, when the button's link carried no return-to (clicked before
    the page's scripts filled it in): the ``callbackUrl`` of the page it was clicked on, or that
    page itself, if the ``Referer`` is this site. ``safe_return_to`` still judges the result."""
    referer = Headers(scope=scope).get("referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    if f"{parts.scheme}://{parts.netloc}" != _origin(scope, https):
        return None
    named = dict(parse_qsl(parts.query)).get(config.return_to_param)
    if named:
        return str(named)
    if parts.path.rstrip("/") == config.login_path.rstrip("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _origin(scope: Scope, https: bool) -> str:
    """``scheme://host[:port]`` of this request, as the browser addressed it."""
    host = Headers(scope=scope).get("host") or "localhost"
    return ("https://" if https else "http://") + host


def _redirect(location: str) -> Response:
    return RedirectResponse(location, 303, headers=NO_STORE_HEADERS)


def _json(body: dict[str, Any], status: int) -> Response:
    return JSONResponse(body, status_code=status, headers=NO_STORE_HEADERS)
