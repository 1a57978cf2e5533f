"""Faults, each a test against real ``reflex run --env prod`` servers and Debian's Chromium.

* **PostgreSQL down**: the demo (users and store-mode sessions in PostgreSQL) reaches its database
  through :class:`~tests.e2e.faultproxy.FaultProxy`; the test cuts it off and restores it.
* **Redis restarted during load**: the cookie-mode e2e app with Reflex's Redis state manager on a
  private ``redis-server`` (never the shared one on 6379) and two granian workers; the test kills
  Redis under load and starts an empty one on the same port.
* **Secret rotation**: the cookie-mode e2e app restarted from ``SESSION_SECRET=old`` to
  ``SESSION_SECRET=new`` + ``SESSION_PREVIOUS_SECRETS=old`` with a signed-in tab and HTTP clients.

The backend restart case is ``tests/e2e/test_workers.py`` (``test_backend_restart_keeps_the_user_``
``signed_in``) and clock skew is ``tests/core/test_skew.py`` (no server needed).

Every wait is bounded; nothing asserts how long a step took. What the fault looked like from
outside (statuses, messages, counts, durations) is printed for the report.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from reflex_session.keys import derive_kid

from .conftest import SECRET, ReflexServer, _make_server, login
from .conftest import wait_until as _wait_until
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
    """The e2e ``wait_until`` with a fault's patience: recovery may take a reconnect or two."""
    return _wait_until(predicate, what, timeout, page)


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
    """An HTTP client that sends exactly ``cookie`` (and what a same-origin page sends: the
    browser's binding cookie too, so no response has a reason to set one)."""
    headers = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    headers["Cookie"] = f"session_bind={'F' * 43}" + (f"; session={cookie}" if cookie else "")
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


# -- Redis restarted during load ----------------------------------------------------------------

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_WORKERS = 2
ADA = ("ada@example.com", "correct horse")  # tests/e2e/app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of this test only: no persistence, so a restart comes back empty."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if not Path(REDIS_SERVER).exists():
            pytest.fail(f"{REDIS_SERVER} is missing: run the suite with scripts/test.sh")
        self.starts += 1
        with (self.workdir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self.workdir),
                    "--daemonize", "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(self.ping, f"the private redis-server on port {self.port}", timeout=30)

    def ping(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def dbsize(self) -> int:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=2)
        try:
            return int(client.dbsize())
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed, connections dropped."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("faults-redis-data"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def redis_app(
    tmp_path_factory: pytest.TempPathFactory, private_redis: PrivateRedis
) -> Iterator[ReflexServer]:
    """The cookie-mode e2e app, Reflex's state in the private Redis, two workers."""
    srv = _make_server(
        tmp_path_factory,
        "faults-redis",
        E2E_SESSION_EXPIRY="3600",
        REFLEX_REDIS_URL=private_redis.url,
        GRANIAN_WORKERS=str(REDIS_WORKERS),
    )
    srv.start()
    yield srv
    srv.stop()


class Background:
    """Client threads that run until the ``with`` block ends (``_stop`` tells them to quit)."""

    _threads: list[threading.Thread]

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


class Load(Background):
    """HTTP clients in threads, each with the signed-in cookie: the session API and page loads."""

    def __init__(self, server: ReflexServer, cookie: str, clients: int = 4) -> None:
        self.server = server
        self.cookie = cookie
        self.phase = "before"
        self.results: list[tuple[str, str, str]] = []  # (phase, what, outcome)
        super().__init__()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _record(self, what: str, outcome: str) -> None:
        with self._lock:
            self.results.append((self.phase, what, outcome))

    def _run(self) -> None:
        with api(self.server, self.cookie) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                path = "/api/session" if n % 3 else "/dashboard/"
                try:
                    response = client.get(path)
                except httpx.HTTPError as error:
                    self._record(path, f"error {type(error).__name__}")
                else:
                    outcome = str(response.status_code)
                    if path == "/api/session" and response.status_code == 200:
                        outcome += " " + response.json()["status"]
                    self._record(path, outcome)
                self._stop.wait(0.02)

    def wait_for(self, count: int, phase: str, page: Any) -> None:
        wait_until(
            lambda: sum(1 for p, _, _ in self.results if p == phase) >= count,
            f"{count} load requests in phase {phase!r}",
            page=page,
        )

    def summary(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        with self._lock:
            for phase, what, outcome in self.results:
                out.setdefault(phase, Counter())[f"{what} {outcome}"] += 1
        return {phase: dict(counts) for phase, counts in out.items()}


def text(page: Any, selector: str) -> str:
    """The element's text, or ``""`` when the page does not show it (no waiting)."""
    element = page.query_selector(selector)
    return str(element.text_content() or "").strip() if element else ""


def guarded_click_works(page: Any, timeout: float) -> tuple[int, list[str]]:
    """Click the guarded button until one click is counted on a signed-in dashboard; returns
    the attempts it took and what the page showed on the failed ones."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    attempts = 0
    while True:
        attempts += 1
        before = text(page, "#clicks") if page.query_selector("#clicks") else ""
        try:
            page.click("#click", timeout=3000)
            page.wait_for_function(
                """(before) => {
                    const clicks = document.querySelector('#clicks')?.textContent?.trim();
                    const status = document.querySelector('#status')?.textContent?.trim();
                    return clicks !== undefined && clicks !== before && status === 'authenticated'
                        && location.pathname.replace(/\\/$/, '') === '/dashboard';
                }""",
                arg=before,
                timeout=3000,
            )
            return attempts, seen
        except PlaywrightTimeout:
            seen.append(f"{path_of(page)} status={text(page, '#status') or '-'}")
            if time.monotonic() > deadline:
                pytest.fail(f"no guarded click succeeded within {timeout}s: {seen[-5:]}")
            if path_of(page) != "/dashboard":
                return attempts, seen  # signed out: the caller reports it


def sign_in_to_dashboard(page: Any, server: ReflexServer, context: Any) -> str:
    """Sign Ada in, open the dashboard and check a guarded click works; the cookie's value."""
    page.goto(server.url + "/login")
    login(page, *ADA)
    page.wait_for_selector("#home-heading")
    cookie: str = wait_until(lambda: session_cookie(context), "the session cookie")["value"]
    page.goto(server.url + "/dashboard")
    page.wait_for_selector("#dashboard-heading")
    guarded_click_works(page, 30)
    return cookie


def test_redis_restarted_during_load_keeps_cookie_mode_users_signed_in(
    redis_app: ReflexServer, private_redis: PrivateRedis, browser: Any
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        cookie = sign_in_to_dashboard(page, redis_app, context)
        token = page.evaluate("sessionStorage.getItem('token')")
        assert private_redis.dbsize() > 0, "Reflex keeps nothing in the private Redis"

        with Load(redis_app, cookie) as load:
            load.wait_for(20, "before", page)
            private_redis.kill()
            load.phase = "down"
            down_at = time.monotonic()
            # the open tab during the outage: a guarded click does not run, and Reflex shows its
            # own error toast (the event could not load the tab's state)
            before = text(page, "#clicks")
            page.click("#click")
            page.wait_for_selector("[data-sonner-toast]", timeout=30_000)
            during = {
                "path": path_of(page),
                "status": text(page, "#status"),
                "clicks": f"{before} -> {text(page, '#clicks')}",
                "toasts": [
                    str(t.text_content() or "").strip()
                    for t in page.query_selector_all("[data-sonner-toast]")
                ],
            }
            assert during["path"] == "/dashboard", during
            assert during["clicks"] == f"{before} -> {before}", during
            load.wait_for(20, "down", page)

            private_redis.start()  # the same port, empty
            load.phase = "back"
            down_for = time.monotonic() - down_at
            attempts, failed = guarded_click_works(page, 90)
            recovered_after = time.monotonic() - down_at - down_for
            load.wait_for(20, "back", page)

        summary = load.summary()
        kept_token = page.evaluate("sessionStorage.getItem('token')") == token
        print(
            f"\n[faults] Redis down {down_for:.1f}s; tab during the outage: {during}; "
            f"recovered after {recovered_after:.1f}s in {attempts} click(s) (failed: {failed}); "
            f"Reflex token kept: {kept_token}; "
            f"load: {json.dumps(summary)}"
        )
        # the tab: still on the dashboard, signed in, guarded events run again
        assert path_of(page) == "/dashboard", f"the tab was sent to {page.url} ({failed})"
        assert text(page, "#status") == "authenticated"
        assert text(page, "#who") == "Ada"
        # nothing lost in cookie mode: the session API and page loads never failed
        for phase, counts in summary.items():
            for outcome, count in counts.items():
                assert " 500" not in outcome, (phase, outcome, count)
                if outcome.startswith("/api/session"):
                    assert outcome == "/api/session 200 authenticated", (phase, outcome, count)
                else:
                    assert outcome == "/dashboard/ 200", (phase, outcome, count)
        current = session_cookie(context)
        assert current is not None
        with api(redis_app, current["value"]) as client:
            assert client.get("/api/session").json()["status"] == "authenticated"
        # a reload and a new tab are signed in
        page.reload()
        page.wait_for_selector("#dashboard-heading")
        wait_until(lambda: text(page, "#status") == "authenticated", "the reloaded tab", page=page)
        tab = context.new_page()
        tab.goto(redis_app.url + "/dashboard")
        tab.wait_for_selector("#dashboard-heading")
        guarded_click_works(tab, 30)

        log = redis_app.log()
        leaked = tracebacks_with(log, [cookie, current["value"], SECRET])
        assert not leaked, f"a traceback in the server log contains a secret: {leaked}"
        assert cookie not in log
        assert SECRET not in log
        errors = [line for line in log.splitlines() if "Error" in line or "error" in line]
        print(
            f"[faults] server log: {log.count('Traceback')} tracebacks; {len(errors)} error "
            f"lines, e.g. {errors[:3]}"
        )
    finally:
        context.close()


# -- secret rotation on a real server -----------------------------------------------------------

OLD_SECRET = "faults-rotation-old-secret-0123456789-abcdef"
NEW_SECRET = "faults-rotation-new-secret-9876543210-zyxwvu"


@pytest.fixture(scope="module")
def rotating_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReflexServer]:
    """The cookie-mode e2e app, started on the old secret (the test restarts it on the new)."""
    srv = _make_server(
        tmp_path_factory, "faults-rotation", E2E_SESSION_EXPIRY="3600", SESSION_SECRET=OLD_SECRET
    )
    srv.start()
    yield srv
    srv.stop()


class CookieClients(Background):
    """HTTP clients, each with its own cookie (sealed under the old secret by this process),
    reading ``/api/session`` in a loop and keeping every cookie the server re-issues."""

    def __init__(self, server: ReflexServer, count: int = 4) -> None:
        from reflex_session import ReflexSession

        minted = ReflexSession(secret_key=OLD_SECRET, session_expiry=3600)
        self.server = server
        self.cookies = [
            minted.encrypt_session(minted.new_session({"id": f"http-{n}", "name": f"Client {n}"}))
            for n in range(count)
        ]
        self.phase = "old"
        self.results: list[tuple[str, int, str]] = []  # (phase, client, outcome)
        super().__init__()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)
        ]

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.server.url, timeout=10) as client:
            while not self._stop.is_set():
                headers = {
                    "Origin": self.server.url,
                    "Sec-Fetch-Site": "same-origin",
                    "Cookie": f"session={self.cookies[n]}",
                }
                try:
                    response = client.get("/api/session", headers=headers)
                except httpx.HTTPError as error:
                    outcome = f"error {type(error).__name__}"  # the server is restarting
                else:
                    outcome = str(response.status_code)
                    if response.status_code == 200:
                        outcome += " " + response.json()["status"]
                    for header in response.headers.get_list("set-cookie"):
                        pair, _, attributes = header.partition(";")
                        name, _, value = pair.partition("=")
                        if name.strip() == "session":
                            if "Max-Age=0" in attributes:
                                outcome += " cleared"
                            else:
                                self.cookies[n] = value
                    client.cookies.clear()
                with self._lock:
                    self.results.append((self.phase, n, outcome))
                self._stop.wait(0.05)

    def count(self, phase: str) -> int:
        with self._lock:
            return sum(1 for p, _, _ in self.results if p == phase)

    def summary(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        with self._lock:
            for phase, _, outcome in self.results:
                out.setdefault(phase, Counter())[outcome] += 1
        return {phase: dict(counts) for phase, counts in out.items()}


def test_secret_rotation_restart_signs_nobody_out_and_moves_cookies_to_the_new_key(
    rotating_app: ReflexServer, browser: Any
) -> None:
    old_kid, new_kid = derive_kid(OLD_SECRET), derive_kid(NEW_SECRET)
    context = browser.new_context()
    syncs: list[tuple[float, int]] = []  # (time, status) of the tab's sync requests

    def on_response(response: Any) -> None:
        if urlsplit(response.url).path.rstrip("/") == "/api/session/sync":
            syncs.append((time.monotonic(), response.status))

    context.on("response", on_response)
    try:
        page = context.new_page()
        cookie = sign_in_to_dashboard(page, rotating_app, context)
        assert kid_of(cookie) == old_kid
        token = page.evaluate("sessionStorage.getItem('token')")

        with CookieClients(rotating_app) as clients:
            wait_until(lambda: clients.count("old") >= 20, "load on the old secret", page=page)
            clients.phase = "restarting"
            restart_at = time.monotonic()
            rotating_app.settings["SESSION_SECRET"] = NEW_SECRET
            rotating_app.settings["SESSION_PREVIOUS_SECRETS"] = OLD_SECRET
            rotating_app.restart()
            restarted_in = time.monotonic() - restart_at
            clients.phase = "new"
            # the open tab reconnects, still signed in, and its guarded events run
            attempts, failed = guarded_click_works(page, 90)
            assert path_of(page) == "/dashboard", f"the tab was sent to {page.url} ({failed})"
            assert text(page, "#status") == "authenticated"
            assert text(page, "#who") == "Ada"
            # its cookie is re-issued under the new key (the pull at connect), without a reload
            browser_cookie = wait_until(
                lambda: (c := session_cookie(context)) and kid_of(c["value"]) == new_kid and c,
                "the tab's cookie under the new key",
                timeout=60,
                page=page,
            )
            # and every HTTP client's cookie moved too
            wait_until(
                lambda: all(kid_of(c) == new_kid for c in clients.cookies),
                "every HTTP client's cookie under the new key",
                timeout=60,
                page=page,
            )
            wait_until(lambda: clients.count("new") >= 20, "load on the new secret", page=page)
            after = [st for t, st in syncs if t > restart_at]
            assert after, "the tab never synced after the restart"

        summary = clients.summary()
        kept_token = page.evaluate("sessionStorage.getItem('token')") == token
        print(
            f"\n[faults] rotation restart took {restarted_in:.1f}s; tab recovered in {attempts} "
            f"click(s); cookie kid {old_kid} -> {kid_of(browser_cookie['value'])}; "
            f"tab syncs after the restart: {after}; Reflex token kept: {kept_token}; "
            f"HTTP clients: {json.dumps(summary)}"
        )
        for phase, counts in summary.items():
            for outcome in counts:
                assert "unauthenticated" not in outcome, f"signed out ({phase}): {summary}"
                assert "cleared" not in outcome, f"cookie cleared ({phase}): {summary}"
                assert not outcome.startswith("5"), (phase, outcome)
                if phase != "restarting":
                    assert outcome == "200 authenticated", (phase, outcome)
        # a new tab and a reload are signed in on the new key alone
        page.reload()
        page.wait_for_selector("#dashboard-heading")
        wait_until(lambda: text(page, "#status") == "authenticated", "the reloaded tab", page=page)
        with api(rotating_app, browser_cookie["value"]) as client:
            body = client.get("/api/session").json()
            assert body["status"] == "authenticated"
            assert body["session"]["user"]["name"] == "Ada"
        log = rotating_app.log()
        assert "Traceback" not in log
        for value in (OLD_SECRET, NEW_SECRET, cookie, browser_cookie["value"]):
            assert value not in log, "a secret or a cookie reached the server log"
    finally:
        context.close()
