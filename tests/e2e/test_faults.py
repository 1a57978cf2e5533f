"""Faults, each a test against real ``reflex run --env prod`` servers and Debian's Chromium.

* **PostgreSQL down**: the demo (users and store-mode sessions in PostgreSQL) reaches its database
  through :class:`~tests.e2e.faultproxy.FaultProxy`; the test cuts it off and restores it.
* **Redis restarted during load**: the cookie-mode e2e app with Reflex's Redis state manager on a
  private ``redis-server`` (never the shared one on 6379) and two granian workers; the test kills
  Redis under load and starts an empty one on the same port.
* **Secret rotation**: the cookie-mode e2e app restarted from ``SESSION_SECRET=old`` to
  ``SESSION_SECRET=new`` + ``SESSION_PREVIOUS_SECRETS=old`` with a signed-in tab and HTTP clients.

The backend restart case is ``tests/e2e/test_workers.py`` (``test_backend_restart_keeps_the_user_``
``signed_in``) and clock skew is ``tests/test_skew.py`` (no server needed).

Every wait is bounded; nothing asserts how long a step took. What the fault looked like from
outside (statuses, messages, counts, durations) is printed for the report.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from .conftest import SECRET, ReflexServer
from .demo_server import DemoServer, dispose_engines, make_demo_server, postgres_url
from .faultproxy import FaultProxy

pytestmark = pytest.mark.e2e

USER = ("user@example.com", "user-password-123")  # demo/seed.py
UNAVAILABLE = "Signing in is not possible right now. Please try again in a moment."
GUARDED_PAGES = ("/dashboard", "/profile", "/session", "/devices", "/admin")


# -- helpers ------------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any], what: str, timeout: float = 30.0, page: Any = None
) -> Any:
    """Poll ``predicate``; with a ``page``, wait through Playwright so its events are delivered
    (the sync API only runs event handlers while it is inside one of its own calls)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        if page is not None:
            page.wait_for_timeout(100)
        else:
            time.sleep(0.1)


def path_of(page: Any) -> str:
    return urlsplit(page.url).path.rstrip("/") or "/"


def session_cookie(context: Any) -> dict[str, Any] | None:
    found = [c for c in context.cookies() if c["name"].endswith("session")]
    return found[0] if found else None


def kid_of(value: str) -> str:
    segment = value.split(".", 1)[0]
    kid: str = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))["kid"]
    return kid


def api(server: ReflexServer, cookie: str | None) -> httpx.Client:
    """An HTTP client that sends exactly ``cookie`` (and what a same-origin page sends)."""
    headers = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    if cookie:
        headers["Cookie"] = f"session={cookie}"
    return httpx.Client(base_url=server.url, headers=headers, timeout=30, follow_redirects=False)


def tracebacks_with(log: str, values: list[str]) -> list[str]:
    """Tracebacks in a server log that contain any of ``values`` (cookies, secrets)."""
    found = []
    for block in log.split("Traceback")[1:]:
        chunk = block[:8000]
        found.extend(v[:12] + "..." for v in values if v and v in chunk)
    return found


# -- PostgreSQL down ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_proxy() -> Iterator[FaultProxy]:
    parts = urlsplit(postgres_url())
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def pg_demo(tmp_path_factory: pytest.TempPathFactory, pg_proxy: FaultProxy) -> Iterator[DemoServer]:
    """The demo with its users and sessions in PostgreSQL, through the proxy."""
    srv = make_demo_server(tmp_path_factory, "faults-pg", "postgres")
    parts = urlsplit(srv.settings["DATABASE_URL"])
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    srv.settings["DATABASE_URL"] = urlunsplit(parts._replace(netloc=f"{netloc}:{pg_proxy.port}"))
    srv.start()
    yield srv
    srv.stop()
    dispose_engines()


def demo_sign_in(page: Any, server: DemoServer, who: tuple[str, str] = USER) -> None:
    page.goto(server.url + "/login")
    page.wait_for_selector("#login-email")
    page.wait_for_selector("#user-menu-trigger, #user-menu-sign-in")
    page.fill("#login-email", who[0])
    page.fill("#login-password", who[1])
    page.click("#login-submit")


def login_error(page: Any) -> str:
    page.wait_for_function(
        "(document.querySelector('#login-error')?.textContent ?? '').trim().length > 0",
        timeout=30_000,
    )
    return str(page.inner_text("#login-error")).strip()


def test_postgresql_down_login_says_try_again_and_nothing_answers_500(
    pg_demo: DemoServer, pg_proxy: FaultProxy, browser: Any
) -> None:
    signed_in = browser.new_context()
    visitor = browser.new_context()
    sync_statuses: list[int] = []

    def on_response(response: Any) -> None:
        if urlsplit(response.url).path.rstrip("/") == "/api/session/sync":
            sync_statuses.append(response.status)

    signed_in.on("response", on_response)
    frames: list[str] = []
    signed_in.on(
        "page",
        lambda p: p.on(
            "websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f)))
        ),
    )
    try:
        # a user signed in before the database goes away, with a guarded page open
        page = signed_in.new_page()
        demo_sign_in(page, pg_demo)
        page.wait_for_selector("#user-menu-trigger")
        cookie = wait_until(lambda: session_cookie(signed_in), "the session cookie")["value"]
        page.goto(pg_demo.url + "/profile")
        page.wait_for_selector("#profile-heading")
        with api(pg_demo, cookie) as client:
            assert client.get("/api/session").json()["status"] == "authenticated"

        pg_proxy.cut()
        outage, syncs_at_cut = time.monotonic(), len(sync_statuses)
        answers: dict[str, Any] = {}
        with api(pg_demo, cookie) as client:
            # the session API: 503 with a JSON error, the cookie left alone
            for method, kwargs in (
                ("GET", {}),
                ("POST", {}),
                ("PATCH", {"json": {"user": {"name": "During the outage"}}}),
                ("DELETE", {}),
            ):
                response = client.request(method, "/api/session", **kwargs)
                answers[f"{method} /api/session"] = (response.status_code, response.text)
                assert response.status_code == 503, (method, response.status_code, response.text)
                assert response.json() == {"error": "store_unavailable"}
                assert response.headers.get("retry-after") == "1"
                assert not response.headers.get_list("set-cookie"), f"{method} touched the cookie"
            # guarded pages: the guard cannot see the session, so it sends the visitor to log in
            for path in GUARDED_PAGES:
                response = client.get(path)
                answers[f"GET {path}"] = (response.status_code, response.headers.get("location"))
                assert response.status_code == 307, (path, response.status_code)
                assert urlsplit(response.headers["location"]).path == "/login"
                assert not response.headers.get_list("set-cookie"), f"{path} touched the cookie"
            # a public page is served
            response = client.get("/")
            answers["GET /"] = (response.status_code, None)
            assert response.status_code == 200

        # a new visitor's login: the form says to try again
        login_page = visitor.new_page()
        demo_sign_in(login_page, pg_demo)
        message = login_error(login_page)
        answers["login form"] = message
        assert message == UNAVAILABLE
        assert path_of(login_page) == "/login"
        assert session_cookie(visitor) is None

        # the open tab's guarded event is refused while the store cannot confirm the session;
        # the tab stays where it is, signed in (a down store is not a revocation)
        frames_before = len(frames)
        page.fill("#profile-name", "Renamed during the outage")
        page.click("#profile-save")
        wait_until(
            lambda: len(frames) > frames_before, "the answer to the refused event", page=page
        )
        page.wait_for_timeout(500)  # room for a redirect, if one were coming
        assert path_of(page) == "/profile"
        assert page.query_selector("#profile-saved") is None, "the guarded event ran"
        assert page.query_selector("#user-menu-trigger") is not None, "the tab shows signed out"
        # a client-side navigation: the dashboard shows, still signed in
        page.click("#nav-dashboard")
        page.wait_for_selector("#dashboard-heading")
        assert page.query_selector("#user-menu-trigger") is not None
        answers["tab syncs during the outage"] = sync_statuses[syncs_at_cut:]
        down_for = time.monotonic() - outage

        pg_proxy.restore()
        # the user is still signed in: the cookie works, and the same tab's events run again
        with api(pg_demo, cookie) as client:
            body = wait_until(
                lambda: (r := client.get("/api/session")).status_code == 200 and r.json(),
                "the session API to answer again",
            )
            assert body["status"] == "authenticated", body
        page.click("#nav-profile")
        page.wait_for_selector("#profile-heading")
        page.fill("#profile-name", "Renamed after the outage")
        page.click("#profile-save")
        page.wait_for_selector("#profile-saved", timeout=30_000)
        before = len(sync_statuses)
        page.reload()  # the same tab (its Reflex token), a full page load: still signed in
        page.wait_for_selector("#profile-heading")
        page.wait_for_selector("#user-menu-trigger")
        wait_until(lambda: len(sync_statuses) > before, "the tab's sync on load", page=page)
        answers["tab syncs after restore"] = sync_statuses[before:]
        assert set(sync_statuses[before:]) == {200}
        with api(pg_demo, cookie) as client:
            body = client.get("/api/session").json()
            assert body["status"] == "authenticated", body
            assert body["session"]["user"]["name"] == "Renamed after the outage"
        assert session_cookie(signed_in) is not None, "the browser lost its cookie"

        # and a new login works again
        login_page.close()
        login_page = visitor.new_page()
        demo_sign_in(login_page, pg_demo)
        login_page.wait_for_selector("#user-menu-trigger", timeout=30_000)
        wait_until(lambda: session_cookie(visitor), "the visitor's cookie after the restore")

        log = pg_demo.log()
        cookies = [cookie, session_cookie(visitor)["value"], SECRET, USER[1]]
        leaked = tracebacks_with(log, cookies)
        assert not leaked, f"a traceback in the server log contains a secret: {leaked}"
        assert not any(v in log for v in cookies), "a cookie, password or secret reached the log"
        assert "500 Internal Server Error" not in log
        print(
            f"\n[faults] PostgreSQL cut for {down_for:.1f}s: {json.dumps(answers)}\n"
            f"proxy: {pg_proxy.connections} connections forwarded, {pg_proxy.refused} reset while "
            f"cut; tracebacks in the server log: {log.count('Traceback')}"
        )
    finally:
        if pg_proxy.is_cut:
            pg_proxy.restore()
        signed_in.close()
        visitor.close()
