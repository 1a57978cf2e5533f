"""``install(app, auth)``: the one call that wires reflex-session into a Reflex app.

It adds, without any other wiring by the app:

* the browser binding cookie on every response that lacks it, the websocket handshake included
  (:mod:`reflex_session.http.binding`), and the refusal of cross-site websocket handshakes;
* the session API at ``api_path`` (``/api/session``) and its sync endpoint (``/api/session/sync``),
  composed with any ``api_transformer`` the app already has;
* the binding check on Reflex's ``/_upload`` (:class:`.tab.UploadGuard`);
* the page guard, in front of every page the backend serves (prod mode);
* with ``providers``, the provider sign-in routes (``/auth/signin/<name>``,
  ``/auth/callback/<name>``, ``/auth/backchannel-logout/<name>``), whose back-channel logouts
  sign the ended sessions' open tabs out live, on every worker;
* the Reflex middleware: session loaded at every websocket connect, rules applied at every
  client-side navigation, protected events checked at the moment they arrive;
* the client runtime on every page (cookie sync, cross-tab notice, activity refresh, expiry timers).

Options are the reference's ``SessionProvider`` props (milliseconds, as there).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import reflex as rx
from reflex_base import constants

from ..backends.store import StoreBackend
from ..binding import BindingCookie
from ..errors import ConfigError
from ..http.binding import BindingMiddleware
from ..http.middleware import SessionMiddleware, raw_path_of
from ..http.origin import cross_site_reason
from ..http.providers import ProviderRoutes
from ..securitylog import refused
from .client import session_client
from .emits import guard_emits
from .live import RedisRelay, notify, pushes_finish_at_shutdown
from .logsafety import install_log_redaction
from .middleware import SessionEventMiddleware
from .polling import PollingGuard, names_a_session
from .routing import decide
from .runtime import ClientOptions, set_runtime
from .sync import SyncEndpoint
from .tab import UploadGuard
from .writes import guard_writes

if TYPE_CHECKING:
    from reflex.app import App
    from starlette.types import ASGIApp, Receive, Scope, Send

    from ..auth import ReflexSession
    from ..providers.service import ProviderAuth
    from ..rules import Decision
    from ..session import Session

__all__ = ["REFLEX_PATHS", "asgi_transformer", "install", "trusted_page_origins"]

#: Reflex's own endpoints (from Reflex's ``Endpoint`` enum, so a new one is skipped too) and
#: its build output: never pages, so the page guard skips them.
REFLEX_PATHS = (
    *(str(endpoint) for endpoint in constants.Endpoint),
    "/assets/",
    "/_next/",
    "/favicon",
    "/backend",
)


def install(
    app: App,
    auth: ReflexSession[Any],
    *,
    fetch_on_mount: bool = True,
    refresh_interval: int | None = None,
    refetch_on_path_change: bool = True,
    auto_activity_refresh: bool = True,
    activity_refresh_interval: int | None = None,
    expiring_soon: int | None = None,
    on_session_change: Callable[[Any, Any], Any] | None = None,
    authenticate: Callable[[Any], Any] | None = None,
    register: Callable[[Any], Any] | None = None,
    live_redis_url: str | None = None,
    providers: ProviderAuth | None = None,
) -> None:
    """Install the session layer into ``app`` (call once, after ``rx.App()``).

    ``authenticate`` and ``register`` back the drop-in forms (see :mod:`.forms`);
    ``providers`` (a :class:`~reflex_session.providers.ProviderAuth` over the same ``auth``)
    adds sign-in with identity providers.
    """
    if providers is not None and providers.auth is not auth:
        raise ConfigError("providers", "ProviderAuth was built for another ReflexSession")
    # several workers share Reflex's Redis: revocations travel between them over pub/sub
    url = live_redis_url or os.environ.get("REFLEX_REDIS_URL") or _config_redis_url()
    relay = RedisRelay(url) if url else None
    set_runtime(
        app,
        auth,
        ClientOptions(
            fetch_on_mount=fetch_on_mount,
            refresh_interval=refresh_interval,
            refetch_on_path_change=refetch_on_path_change,
            auto_activity_refresh=auto_activity_refresh,
            activity_refresh_interval=activity_refresh_interval,
            expiring_soon=expiring_soon,
            on_session_change=on_session_change,
        ),
        authenticate=authenticate,
        register=register,
        relay=relay,
        providers=providers,
        notify=notify,
    )
    # once Reflex's namespace and state manager exist: a background task writes, and an update
    # goes, only to the browser it was made for
    app.register_lifespan_task(guard_emits)
    app.register_lifespan_task(guard_writes)
    app.register_lifespan_task(pushes_finish_at_shutdown)
    if relay is not None:
        app.register_lifespan_task(relay.run)
    backend = auth.backend
    if isinstance(backend, StoreBackend) and backend.cache is not None:
        # one worker: the backend's own announcements are all there is; several: the relay
        # carries them, and the cache waits for it to connect (fail closed)
        backend.cache.enabled = relay is None
        if relay is not None:
            backend.on_change(relay.announce_change)
    transformer = asgi_transformer(auth, providers)
    existing = app.api_transformer
    if existing is None:
        app.api_transformer = transformer
    elif isinstance(existing, Sequence):
        app.api_transformer = [*existing, transformer]
    else:
        app.api_transformer = [existing, transformer]
    app.add_middleware(SessionEventMiddleware())
    app.extra_app_wraps[(6, "ReflexSessionClient")] = lambda stateful: (
        session_client() if stateful else None
    )
    # Reflex logs whole events (headers with our cookies, the client token): redact every log line
    install_log_redaction(cookie_names=(auth.config.cookie_name,))


def trusted_page_origins() -> tuple[str, ...]:
    """Origins trusted besides our own and ``trusted_origins``: Reflex's ``deploy_url``.

    Reflex's pages call the backend from ``deploy_url`` (its default is
    ``http://localhost:<frontend port>``, the dev server's page origin). In prod mode pages and
    backend share one origin, so this adds nothing an attacker can use unless ``deploy_url`` is
    set to an origin you do not control.
    """
    url = rx.config.get_config().deploy_url
    return (url.rstrip("/"),) if url else ()


async def _sign_out_tabs(user_ids: Sequence[str]) -> None:
    """A back-channel logout ended these users' sessions: their open tabs, on every worker.
    Returns once the pushes are under way (:func:`.live.notify` runs them in tasks of their
    own); the sessions themselves are already ended."""
    for user_id in dict.fromkeys(user_ids):
        await notify("revoke", user_id)


def _config_redis_url() -> str | None:
    """``redis_url`` from rxconfig.py (Reflex's Redis state manager), if the app set it there."""
    url = getattr(rx.config.get_config(), "redis_url", None)
    return str(url) if url else None


def _page_decision(scope: Scope, session: Session[Any] | None, decision: Decision) -> Decision:
    """The HTTP page guard's custom hook: add ``@require_auth`` page requirements."""
    if not decision.allowed:
        return decision
    query = scope.get("query_string", b"").decode("latin-1")
    return decide(raw_path_of(scope) + (f"?{query}" if query else ""), session)


async def _close_socket(receive: Receive, send: Send) -> None:
    """Refuse a websocket before it is accepted (policy violation)."""
    await receive()
    await send({"type": "websocket.close", "code": 1008})


def _event_path() -> str:
    """Where Reflex serves its socket (``/_event``, under ``backend_path`` if one is set)."""
    return rx.config.get_config().prepend_backend_path(str(constants.Endpoint.EVENT))


def asgi_transformer(
    auth: ReflexSession[Any], providers: ProviderAuth | None = None
) -> Callable[[ASGIApp], ASGIApp]:
    """The ASGI layer ``install`` puts in front of Reflex's backend, as an ``api_transformer``.

    Outermost first: the binding cookie for every browser; then the sync endpoint, the session
    API, the provider routes, the upload guard and the cross-site refusal of the event socket
    (a websocket, or Engine.IO's long polling over HTTP); then the page guard.
    """
    api = auth.handlers()
    sync = SyncEndpoint(auth, extra_trusted=trusted_page_origins())
    trusted = sync.trusted_origins
    api_path = auth.config.api_path
    sync_path = api_path + "/sync"
    socket_path = _event_path()
    custom = auth.config.authorize
    binding = BindingCookie.for_session_cookie(auth.cookie_policy)
    routes = (
        ProviderRoutes(providers, binding, on_sessions_ended=_sign_out_tabs)
        if providers is not None
        else None
    )

    async def page_hook(scope: Scope, session: Session[Any] | None, decision: Decision) -> Any:
        decision = _page_decision(scope, session, decision)
        if custom is not None:
            override: Any = custom(scope, session, decision)
            if inspect.isawaitable(override):
                override = await override
            if override is not None:
                return override
        return decision

    def transform(inner: ASGIApp) -> ASGIApp:
        guarded = SessionMiddleware(inner, auth, custom=page_hook, skip_prefixes=REFLEX_PATHS)
        uploads = UploadGuard(guarded, binding, auth, trusted)
        polling = PollingGuard(inner, binding, trusted)

        def app(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            # not a coroutine: it picks the app that serves the request and returns that app's
            # call, so a websocket's messages never resume a frame of this dispatch
            path = scope.get("path", "")
            on_socket = path == socket_path or path.startswith(socket_path + "/")
            if scope["type"] == "http":
                if on_socket:
                    # Engine.IO's long polling (``transport="polling"``): the socket as HTTP
                    # requests, each checked as a websocket handshake is, and more (.polling).
                    # First: Engine.IO serves every path under it, "/_event/_upload" included
                    return polling(scope, receive, send)
                if path.rstrip("/") == sync_path:
                    return sync(scope, receive, send)
                if path.rstrip("/") == api_path:
                    return api(scope, receive, send)
                if routes is not None and routes.handles(path):
                    return routes(scope, receive, send)
                if "/_upload" in path and scope.get("method") == "POST":
                    return uploads(scope, receive, send)
            elif scope["type"] == "websocket":
                reason = cross_site_reason(scope, trusted)
                if reason is not None:
                    # cross-site websocket hijacking: a page of another origin opening a socket
                    # with the user's cookies never reaches Reflex
                    refused("cross-site websocket refused (%s)", reason)
                    return _close_socket(receive, send)
                if on_socket and names_a_session(scope):
                    # an upgrade of a long-polling session: Reflex never asks for one, and it
                    # would hand that session's socket to whoever knows its sid
                    refused("websocket upgrade of a polling session refused")
                    return _close_socket(receive, send)
            if not guarded.guards(scope):  # the websocket, Reflex's endpoints, assets
                return inner(scope, receive, send)
            return guarded.guard(scope, receive, send)

        return BindingMiddleware(app, binding)

    return transform
