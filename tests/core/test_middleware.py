"""The page guard (``auth.middleware(app)``) around a tiny Starlette app.

The app counts its calls per path, so "the handler was not called" is checked, not assumed.
Requests set the ``Cookie`` header themselves; httpx's jar is emptied around every request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from reflex_session import Decision, ReflexSession, Session, patterns, route
from reflex_session.reflex.install import REFLEX_PATHS
from reflex_session.testing import FakeClock

SECRET = "middleware-test-secret-0123456789-abcdefgh"
EXPIRY = 3600
THRESHOLD = 600

ROUTES = [
    route.public("/login"),
    route.auth(patterns.dashboard),
    route.auth(patterns.admin, role="admin"),
    route.hybrid("/"),
]

PAGES = ["/", "/login", "/dashboard", "/dashboard/settings", "/admin", "/admin/users"]
OTHER = ["/assets/app.js", "/favicon.ico", "/_event", "/ping", "/_upload", "/robots.txt"]


def build_auth(clock: FakeClock, **overrides: Any) -> ReflexSession[Any]:
    settings: dict[str, Any] = {
        "secret_key": SECRET,
        "session_expiry": EXPIRY,
        "refresh_threshold": THRESHOLD,
        "clock": clock,
        "routes": ROUTES,
    }
    settings.update(overrides)
    return ReflexSession(**settings)


@pytest.fixture
def auth(clock: FakeClock) -> ReflexSession[Any]:
    return build_auth(clock)


def tiny_app(auth: ReflexSession[Any], calls: Counter[str]) -> Starlette:
    """Pages return HTML with their own headers and cookie; everything counts its calls."""

    async def page(request: Request) -> Response:
        calls[request.url.path] += 1
        response = HTMLResponse(
            f"<html><body>page {request.url.path}</body></html>",
            headers={"X-App": "yes", "Cache-Control": "private, max-age=60"},
        )
        response.set_cookie("theme", "dark", path="/")
        return response

    async def static(request: Request) -> Response:
        calls[request.url.path] += 1
        return PlainTextResponse("console.log(1)", headers={"X-App": "static"})

    async def endpoint(request: Request) -> Response:
        calls[request.url.path] += 1
        return PlainTextResponse("ok")

    async def session_api(scope: Any, receive: Any, send: Any) -> None:
        calls["/api/session"] += 1
        await auth.handlers()(scope, receive, send)

    methods = ["GET", "HEAD", "POST"]
    return Starlette(
        routes=[
            *(Route(p, page, methods=methods) for p in PAGES),
            Route("/assets/app.js", static),
            Route("/favicon.ico", static),
            Route("/robots.txt", static),
            Route("/_event", endpoint, methods=methods),
            Route("/_upload", endpoint, methods=methods),
            Route("/ping", endpoint),
            Mount("/api/session", app=session_api),
        ]
    )


class Client:
    def __init__(self, client: httpx.AsyncClient, auth: ReflexSession[Any]) -> None:
        self.client = client
        self.auth = auth

    def cookie_for(self, session: Session[Any]) -> str:
        return f"session={self.auth.encrypt_session(session)}"

    async def request(
        self, method: str, url: str, *, cookie: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        self.client.cookies.clear()
        headers = dict(kwargs.pop("headers", {}))
        if cookie is not None:
            headers["Cookie"] = cookie
        response = await self.client.request(method, url, headers=headers, **kwargs)
        self.client.cookies.clear()
        return response

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)


async def _client(app: Any, auth: ReflexSession[Any]) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", follow_redirects=False
    ) as client:
        yield Client(client, auth)


@pytest.fixture
def calls() -> Counter[str]:
    return Counter()


@pytest.fixture
async def client(auth: ReflexSession[Any], calls: Counter[str]) -> AsyncIterator[Client]:
    async for c in _client(auth.middleware(tiny_app(auth, calls)), auth):
        yield c


@pytest.fixture
def user(auth: ReflexSession[Any]) -> Session[Any]:
    return auth.new_session({"id": "u1", "email": "u1@example.com", "role": "user"})


@pytest.fixture
def admin(auth: ReflexSession[Any]) -> Session[Any]:
    return auth.new_session({"id": "a1", "role": "admin"})


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def session_cookies(response: httpx.Response) -> list[str]:
    return [h for h in set_cookies(response) if h.startswith("session=")]


def assert_redirect(response: httpx.Response, location: str) -> None:
    assert response.status_code == 307, response.text
    assert response.headers["location"] == location
    assert response.headers["cache-control"] == "no-store"
    assert "cookie" in response.headers.get("vary", "").lower()


# -- redirects before any HTML --------------------------------------------------------------------


async def test_anonymous_auth_page_redirects_to_login_with_return_to(
    client: Client, calls: Counter[str]
) -> None:
    response = await client.get("/dashboard/settings?tab=2")
    assert_redirect(
        response, "/login?callbackUrl=%2Fdashboard%2Fsettings%3Ftab%3D2&reason=loginRequired"
    )
    assert calls["/dashboard/settings"] == 0
    assert sum(calls.values()) == 0
    assert "page" not in response.text
    assert session_cookies(response) == []


async def test_anonymous_head_is_guarded_too(client: Client, calls: Counter[str]) -> None:
    response = await client.request("HEAD", "/dashboard")
    assert_redirect(response, "/login?callbackUrl=%2Fdashboard&reason=loginRequired")
    assert sum(calls.values()) == 0


async def test_signed_in_login_page_redirects_home(
    client: Client, calls: Counter[str], user: Session[Any]
) -> None:
    response = await client.get("/login", cookie=client.cookie_for(user))
    assert_redirect(response, "/")
    assert calls["/login"] == 0


async def test_signed_in_auth_page_is_served_by_the_app(
    client: Client, calls: Counter[str], user: Session[Any]
) -> None:
    response = await client.get("/dashboard", cookie=client.cookie_for(user))
    assert response.status_code == 200
    assert response.text == "<html><body>page /dashboard</body></html>"
    assert response.headers["x-app"] == "yes"
    assert calls["/dashboard"] == 1
    # a fresh cookie is not re-issued, and the app's response is untouched
    assert session_cookies(response) == []
    assert response.headers["cache-control"] == "private, max-age=60"


@pytest.mark.parametrize("path", ["/", "/login"])
async def test_anonymous_public_and_hybrid_pages_are_served(
    client: Client, calls: Counter[str], path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert calls[path] == 1


async def test_signed_in_hybrid_page_is_served(
    client: Client, calls: Counter[str], user: Session[Any]
) -> None:
    response = await client.get("/", cookie=client.cookie_for(user))
    assert response.status_code == 200
    assert calls["/"] == 1


# -- refresh on a page load -----------------------------------------------------------------------


async def test_old_cookie_is_reissued_on_the_apps_response(
    client: Client,
    calls: Counter[str],
    user: Session[Any],
    clock: FakeClock,
    auth: ReflexSession[Any],
) -> None:
    cookie = client.cookie_for(user)
    clock.advance(THRESHOLD + 1)
    response = await client.get("/dashboard/settings", cookie=cookie)
    assert response.status_code == 200
    assert calls["/dashboard/settings"] == 1
    # the app's own response, with its own headers and cookie, plus ours
    assert response.text == "<html><body>page /dashboard/settings</body></html>"
    assert response.headers["x-app"] == "yes"
    assert response.headers["content-type"].startswith("text/html")
    cookies = set_cookies(response)
    assert any(h.startswith("theme=dark") for h in cookies)
    ours = session_cookies(response)
    assert len(ours) == 1
    value = ours[0].split(";", 1)[0].split("=", 1)[1]
    renewed = auth.decrypt_session(value)
    assert renewed is not None
    assert renewed.id == user.id
    assert renewed.expires_at == user.expires_at + (THRESHOLD + 1) * 1000
    assert "HttpOnly" in ours[0]
    assert "Path=/" in ours[0]
    assert f"Max-Age={EXPIRY}" in ours[0]
    # a response that sets the session cookie must not be cached
    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_fresh_cookie_is_not_reissued(
    client: Client, user: Session[Any], clock: FakeClock
) -> None:
    cookie = client.cookie_for(user)
    clock.advance(THRESHOLD - 1)
    response = await client.get("/dashboard", cookie=cookie)
    assert response.status_code == 200
    assert session_cookies(response) == []


async def test_old_cookie_is_reissued_with_a_redirect_too(
    client: Client, calls: Counter[str], user: Session[Any], clock: FakeClock
) -> None:
    cookie = client.cookie_for(user)
    clock.advance(THRESHOLD)
    response = await client.get("/login", cookie=cookie)
    assert_redirect(response, "/")
    assert len(session_cookies(response)) == 1
    assert calls["/login"] == 0


# -- what is not guarded --------------------------------------------------------------------------


@pytest.fixture
async def strict_client(clock: FakeClock, calls: Counter[str]) -> AsyncIterator[Client]:
    """Every page is an auth page, so anything unguarded shows up as a 200 from the app."""
    auth = build_auth(clock, routes=[route.public("/login")], default_type="auth")
    app = auth.middleware(tiny_app(auth, calls), skip_prefixes=REFLEX_PATHS)
    async for c in _client(app, auth):
        yield c


@pytest.mark.parametrize("path", ["/dashboard", "/admin", "/", "/login"])
async def test_post_requests_pass_through(
    strict_client: Client, calls: Counter[str], path: str
) -> None:
    response = await strict_client.request("POST", path)
    assert response.status_code == 200
    assert calls[path] == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_event"),
        ("POST", "/_event"),
        ("GET", "/_upload"),
        ("GET", "/ping"),
        ("GET", "/assets/app.js"),
        ("GET", "/favicon.ico"),
        ("GET", "/robots.txt"),
    ],
    ids=["event-get", "event-post", "upload", "ping", "asset", "favicon", "robots"],
)
async def test_reflex_endpoints_and_static_files_pass_through(
    strict_client: Client, calls: Counter[str], method: str, path: str
) -> None:
    response = await strict_client.request(method, path)
    assert response.status_code == 200
    assert calls[path] == 1
    assert "location" not in response.headers


async def test_the_http_layer_knows_no_framework_paths(
    clock: FakeClock, calls: Counter[str]
) -> None:
    """The skip list is the caller's: without Reflex's, ``/_event`` is just another page."""
    auth = build_auth(clock, routes=[route.public("/login")], default_type="auth")
    async for c in _client(auth.middleware(tiny_app(auth, calls)), auth):
        assert (await c.get("/_event")).status_code == 307
        assert (await c.get("/assets/app.js")).status_code == 200  # a file: never a page
    assert "/_event" in REFLEX_PATHS


async def test_session_api_passes_through(strict_client: Client, calls: Counter[str]) -> None:
    response = await strict_client.get("/api/session/")
    assert response.status_code == 200
    assert response.json()["status"] == "unauthenticated"
    assert calls["/api/session"] == 1
    response = await strict_client.get("/api/session")
    assert response.status_code != 307 or response.headers["location"].endswith("/api/session/")
    assert "login" not in response.headers.get("location", "")


async def test_strict_default_guards_unlisted_pages(
    strict_client: Client, calls: Counter[str]
) -> None:
    response = await strict_client.get("/dashboard")
    assert_redirect(response, "/login?callbackUrl=%2Fdashboard&reason=loginRequired")
    assert calls["/dashboard"] == 0


async def test_static_assets_do_not_get_a_refreshed_cookie(
    client: Client, user: Session[Any], clock: FakeClock
) -> None:
    cookie = client.cookie_for(user)
    clock.advance(THRESHOLD + 1)
    response = await client.get("/assets/app.js", cookie=cookie)
    assert response.status_code == 200
    assert session_cookies(response) == []


# -- expired and invalid cookies ------------------------------------------------------------------


async def test_expired_cookie_on_auth_page_redirects_and_clears(
    client: Client, calls: Counter[str], user: Session[Any], clock: FakeClock
) -> None:
    cookie = client.cookie_for(user)
    clock.advance(EXPIRY + 1)
    response = await client.get("/dashboard?x=1", cookie=cookie)
    assert_redirect(response, "/login?callbackUrl=%2Fdashboard%3Fx%3D1&reason=loginRequired")
    ours = session_cookies(response)
    assert len(ours) == 1
    assert ours[0].startswith("session=;")
    assert "Max-Age=0" in ours[0]
    assert "Path=/" in ours[0]
    assert calls["/dashboard"] == 0


async def test_expired_cookie_on_hybrid_page_is_cleared_on_the_apps_response(
    client: Client, calls: Counter[str], user: Session[Any], clock: FakeClock
) -> None:
    cookie = client.cookie_for(user)
    clock.advance(EXPIRY + 1)
    response = await client.get("/", cookie=cookie)
    assert response.status_code == 200
    assert calls["/"] == 1
    ours = session_cookies(response)
    assert len(ours) == 1
    assert "Max-Age=0" in ours[0]


@pytest.mark.parametrize("value", ["garbage", "a.b.c.d.e", "A" * 5000, ""])
async def test_garbage_cookie_is_anonymous_never_5xx(
    client: Client, calls: Counter[str], value: str
) -> None:
    response = await client.get("/dashboard", cookie=f"session={value}")
    assert_redirect(response, "/login?callbackUrl=%2Fdashboard&reason=loginRequired")
    assert calls["/dashboard"] == 0


# -- roles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin", "/admin/users"])
async def test_role_rule_sends_a_user_without_the_role_home(
    client: Client, calls: Counter[str], user: Session[Any], path: str
) -> None:
    response = await client.get(path, cookie=client.cookie_for(user))
    assert_redirect(response, "/?reason=forbidden&role=admin")
    assert calls[path] == 0


async def test_role_rule_lets_the_role_in(
    client: Client, calls: Counter[str], admin: Session[Any]
) -> None:
    response = await client.get("/admin/users", cookie=client.cookie_for(admin))
    assert response.status_code == 200
    assert calls["/admin/users"] == 1


async def test_role_rule_sends_anonymous_to_login(client: Client, calls: Counter[str]) -> None:
    response = await client.get("/admin")
    assert_redirect(response, "/login?callbackUrl=%2Fadmin&reason=loginRequired")


# -- custom handlers ------------------------------------------------------------------------------


async def _custom_client(
    auth: ReflexSession[Any], calls: Counter[str], custom: Any
) -> AsyncIterator[Client]:
    async for c in _client(auth.middleware(tiny_app(auth, calls), custom), auth):
        yield c


async def test_custom_handler_sees_scope_session_and_decision(
    auth: ReflexSession[Any], calls: Counter[str], user: Session[Any]
) -> None:
    seen: list[tuple[str, str | None, str]] = []

    def custom(scope: Any, session: Session[Any] | None, decision: Decision) -> None:
        seen.append((scope["path"], session.user.id if session else None, decision.reason))

    async for c in _custom_client(auth, calls, custom):
        assert (await c.get("/dashboard")).status_code == 307
        assert (await c.get("/dashboard", cookie=c.cookie_for(user))).status_code == 200
        await c.get("/assets/app.js")  # not a page: the handler is not asked
    assert seen == [("/dashboard", None, "login"), ("/dashboard", "u1", "allowed")]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_custom_handler_decision_overrides(
    auth: ReflexSession[Any], calls: Counter[str], user: Session[Any], is_async: bool
) -> None:
    def choose(scope: Any, session: Any, decision: Decision) -> Decision | None:
        if scope["path"] == "/dashboard":  # let anonymous visitors in here
            return Decision("allow", "allowed")
        if scope["path"] == "/":  # and send everyone away from the home page
            return Decision("redirect", "forbidden", "/elsewhere")
        return None

    async def achoose(scope: Any, session: Any, decision: Decision) -> Decision | None:
        return choose(scope, session, decision)

    async for c in _custom_client(auth, calls, achoose if is_async else choose):
        response = await c.get("/dashboard")
        assert response.status_code == 200
        assert calls["/dashboard"] == 1
        assert_redirect(await c.get("/"), "/elsewhere")
        assert calls["/"] == 0
        # None keeps the default decision
        assert_redirect(
            await c.get("/dashboard/settings"),
            "/login?callbackUrl=%2Fdashboard%2Fsettings&reason=loginRequired",
        )


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_custom_handler_response_is_sent_as_is(
    auth: ReflexSession[Any], calls: Counter[str], is_async: bool
) -> None:
    def deny(scope: Any, session: Any, decision: Decision) -> Response | None:
        if not decision.allowed:
            return PlainTextResponse("go away", status_code=401, headers={"X-Custom": "1"})
        return None

    async def adeny(scope: Any, session: Any, decision: Decision) -> Response | None:
        return deny(scope, session, decision)

    async for c in _custom_client(auth, calls, adeny if is_async else deny):
        response = await c.get("/dashboard")
        assert response.status_code == 401
        assert response.text == "go away"
        assert response.headers["x-custom"] == "1"
        assert calls["/dashboard"] == 0
        assert (await c.get("/")).status_code == 200


async def test_authorize_setting_is_the_default_custom_handler(
    clock: FakeClock, calls: Counter[str]
) -> None:
    def authorize(scope: Any, session: Any, decision: Decision) -> Response | None:
        return PlainTextResponse("from authorize", status_code=418)

    auth = build_auth(clock, authorize=authorize)
    async for c in _client(auth.middleware(tiny_app(auth, calls)), auth):
        response = await c.get("/dashboard")
        assert response.status_code == 418
        assert response.text == "from authorize"
    assert calls["/dashboard"] == 0


# -- non-http scopes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope",
    [
        {"type": "websocket", "path": "/dashboard", "headers": [], "query_string": b""},
        {"type": "websocket", "path": "/_event", "headers": [], "query_string": b""},
        {"type": "lifespan"},
    ],
    ids=["websocket-page-path", "websocket-event", "lifespan"],
)
async def test_websocket_and_lifespan_pass_straight_through(
    auth: ReflexSession[Any], scope: dict[str, Any]
) -> None:
    seen: list[tuple[Any, Any, Any]] = []

    async def inner(s: Any, r: Any, w: Any) -> None:
        seen.append((s, r, w))

    async def receive() -> dict[str, Any]:
        raise AssertionError("the middleware must not read from a non-http scope")

    async def send(message: Any) -> None:
        raise AssertionError("the middleware must not answer a non-http scope")

    await auth.middleware(inner)(scope, receive, send)
    assert seen == [(scope, receive, send)]


# -- a production-like static build ---------------------------------------------------------------


@pytest.fixture
def static_site(tmp_path: Path) -> Path:
    for page in ("", "login", "dashboard", "dashboard/settings"):
        folder = tmp_path / page
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(f"<html>SECRET PAGE {page or 'home'}</html>")
    return tmp_path


@pytest.fixture
async def static_client(auth: ReflexSession[Any], static_site: Path) -> AsyncIterator[Client]:
    app = Starlette(routes=[Mount("/", StaticFiles(directory=static_site, html=True))])
    async for c in _client(auth.middleware(app), auth):
        yield c


async def test_static_build_pages_are_guarded(static_client: Client, user: Session[Any]) -> None:
    response = await static_client.get("/dashboard/settings/")
    assert_redirect(response, "/login?callbackUrl=%2Fdashboard%2Fsettings%2F&reason=loginRequired")
    signed_in = await static_client.get(
        "/dashboard/settings/", cookie=static_client.cookie_for(user)
    )
    assert signed_in.status_code == 200
    assert "SECRET PAGE dashboard/settings" in signed_in.text


@pytest.mark.parametrize(
    "url", ["http://testserver//dashboard/settings/", "http://testserver//dashboard/"]
)
async def test_double_slash_does_not_dodge_the_guard(static_client: Client, url: str) -> None:
    # StaticFiles normalises "//dashboard/settings/" to dashboard/settings/index.html, so the
    # guard must see this path as /dashboard/settings too (not as a URL whose host is "dashboard")
    response = await static_client.get(url)
    assert "SECRET PAGE" not in response.text
    assert response.status_code == 307
    assert response.headers["location"].startswith("/login")


def test_the_middleware_is_an_asgi3_app_to_servers_that_guess(auth: ReflexSession[Any]) -> None:
    """``auth.middleware(app)`` serves any ASGI app. Servers and wrappers that tell ASGI2 from
    ASGI3 by whether ``__call__`` is a coroutine function (uvicorn's ``interface="auto"``,
    asgiref) would call it the ASGI2 way, and every request would fail with a TypeError."""
    import uvicorn

    config = uvicorn.Config(auth.middleware(tiny_app(auth, Counter())), log_config=None)
    config.load()
    assert config.interface == "asgi3"
