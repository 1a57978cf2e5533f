"""Issue 5's proof: the demo app (demo/) in prod mode, driven in Debian's Chromium.

Every test that touches the user database runs three times: against a demo whose users live in a
SQLite file, against one on PostgreSQL (``DATABASE_URL``, started by scripts/test.sh), and against
the demo scaled out (issue 7): PostgreSQL users, Reflex's Redis state manager, two granian workers
and sessions in Redis (``demo_server.make_demo_server(..., "workers")``). The short-expiry
demo (40 s sessions, "expiring soon" in the last 30 s) shows the banner ten seconds after login.
The SQLite run writes the screenshots shown in docs/screenshots.md.
"""

from __future__ import annotations

import os
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlmodel import Session, select

from .conftest import ROOT, SECRET, wait_until
from .demo_server import (
    BACKENDS,
    WORKERS_STORE_PREFIX,
    DemoServer,
    dispose_engines,
    flush_workers_redis,
    make_demo_server,
    user_model,
    workers_redis_url,
)

pytestmark = pytest.mark.e2e

#: The docs' pictures are replaced only when asked (``RS_UPDATE_SCREENSHOTS=1``): a test run
#: leaves the checkout as it found it. Otherwise they go to the ignored artifacts folder.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("RS_UPDATE_SCREENSHOTS") == "1"
    else ROOT / "tests" / "e2e" / "artifacts" / "screenshots"
)
VIEWPORT = {"width": 1100, "height": 700}
GENERIC_ERROR = "Invalid email or password"
ADMIN = ("admin@example.com", "admin-password-123")
USER = ("user@example.com", "user-password-123")
PASSWORD = "a-long-test-password-42"
HASHER = PasswordHasher()

#: Records (in sessionStorage, which survives navigations of the tab) whether any admin content
#: was ever in the DOM of this tab — even for a moment before a redirect.
WATCH_ADMIN = """
(() => {
  const check = () => {
    if (document.getElementById('admin-heading') || document.getElementById('admin-users')) {
      try { sessionStorage.setItem('__adminSeen', location.href); } catch (e) {}
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true });
  document.addEventListener('DOMContentLoaded', check);
})();
"""


def check_log(server: DemoServer) -> None:
    """The server never crashed and never logged a password or the secret."""
    log = server.log()
    assert "Traceback" not in log, log[max(0, log.index("Traceback") - 2000) :][:6000]
    for secret in (PASSWORD, ADMIN[1], USER[1], SECRET):
        assert secret not in log, "a password or the session secret reached the server log"


# -- servers ------------------------------------------------------------------------------------


def serve(
    tmp_factory: pytest.TempPathFactory, backend: str, name: str = "", **settings: str
) -> Iterator[DemoServer]:
    """One demo server for a module; its log checked after it stopped. The workers demo's Redis
    database is its own and emptied before and after."""
    if backend == "workers":
        flush_workers_redis()
    srv = make_demo_server(tmp_factory, name or f"demo-{backend}", backend, **settings)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        dispose_engines()
        if backend == "workers":
            flush_workers_redis()
    check_log(srv)


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    yield from serve(tmp_path_factory, "sqlite")


@pytest.fixture(scope="module")
def postgres_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    yield from serve(tmp_path_factory, "postgres")


@pytest.fixture(scope="module")
def workers_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    yield from serve(tmp_path_factory, "workers")


@pytest.fixture(scope="module")
def short_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """40-second sessions, "expiring soon" in the last 30 s: the banner 10 s after login."""
    srv = make_demo_server(
        tmp_path_factory,
        "demo-short",
        "sqlite",
        DEMO_SESSION_EXPIRY="40",
        DEMO_EXPIRING_SOON="30",
    )
    srv.start()
    yield srv
    srv.stop()
    check_log(srv)


@pytest.fixture(params=BACKENDS)
def demo(request: pytest.FixtureRequest) -> DemoServer:
    """The demo on SQLite, on PostgreSQL, then on several workers (one server each)."""
    server: DemoServer = request.getfixturevalue(f"{request.param}_demo")
    return server


@pytest.fixture
def ctx(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) per test, at the screenshots' viewport."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(WATCH_ADMIN)
    yield context
    context.close()


# -- helpers ------------------------------------------------------------------------------------


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def create_user(server: DemoServer, email: str, name: str, password: str = PASSWORD) -> None:
    user = user_model()
    with Session(server.engine()) as db:
        db.add(user(email=email, name=name, password_hash=HASHER.hash(password)))
        db.commit()


def find_user(server: DemoServer, email: str) -> Any:
    user = user_model()
    with Session(server.engine()) as db:
        return db.exec(select(user).where(user.email == email)).first()


def stored_sessions(server: DemoServer, user_id: str) -> list[str]:
    """The JSON data of the user's sessions in the demo's session store (store mode)."""
    if server.backend == "workers":
        import redis

        client = redis.Redis.from_url(workers_redis_url(), decode_responses=True)
        try:
            sids = client.smembers(f"{WORKERS_STORE_PREFIX}u:{user_id}")
            found = [client.hget(f"{WORKERS_STORE_PREFIX}s:{sid}", "d") for sid in sids]
        finally:
            client.close()
        return [str(data) for data in found if data]
    with server.engine().connect() as db:
        rows = db.execute(
            sa.text("SELECT data FROM demo_session WHERE user_id = :u"), {"u": user_id}
        )
        return [str(r[0]) for r in rows]


def session_cookie(context: Any) -> dict[str, Any] | None:
    found = [c for c in context.cookies() if c["name"] == "session"]
    return found[0] if found else None


def wait_for_cookie(context: Any) -> dict[str, Any]:
    cookie: dict[str, Any] = wait_until(
        lambda: session_cookie(context), "the session cookie to reach the browser"
    )
    return cookie


def wait_ready(page: Any) -> None:
    """The state is connected: the user menu or its "Sign in" link (nothing while loading)."""
    page.wait_for_selector("#user-menu-trigger, #user-menu-sign-in")


def sign_in(page: Any, email: str, password: str) -> None:
    page.wait_for_selector("#login-email")
    wait_ready(page)
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-submit")


def text_is(page: Any, selector: str, expected: str, timeout: float = 5000) -> None:
    page.wait_for_function(
        "([sel, want]) => { const e = document.querySelector(sel);"
        " return !!e && e.textContent.trim() === want; }",
        arg=[selector, expected],
        timeout=timeout,
    )


def path_of(page: Any) -> str:
    return urlsplit(page.url).path.rstrip("/") or "/"


def expires_in(page: Any, selector: str) -> int:
    return int(page.get_attribute(selector, "data-expires-in") or 0)


def screenshot(page: Any, server: DemoServer, name: str, *, park_mouse: bool = True) -> None:
    """Write docs/screenshots/<name> (from the SQLite run only: one picture per moment)."""
    if server.backend != "sqlite":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if park_mouse:  # no hover highlight on the last thing clicked
        page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_timeout(300)  # let Radix finish its transitions
    page.screenshot(path=str(SCREENSHOTS / name))


def fresh_tab(context: Any) -> Any:
    """A new tab: its own Reflex state (a reload keeps the tab's state, and its old error)."""
    for old in context.pages:
        old.close()
    return context.new_page()


def login_error(page: Any) -> str:
    page.wait_for_selector("#login-error")
    page.wait_for_function("document.querySelector('#login-error').textContent.trim().length > 0")
    text: str = page.inner_text("#login-error").strip()
    return text


# -- the proof ----------------------------------------------------------------------------------


def test_register_signs_in_and_reaches_the_dashboard(demo: DemoServer, ctx: Any) -> None:
    email = unique_email("register")
    name = "Grace Hopper"
    page = ctx.new_page()
    page.goto(demo.url + "/register")
    page.wait_for_selector("#register-email")
    wait_ready(page)
    page.fill("#register-name", name)
    page.fill("#register-email", email)
    page.fill("#register-password", PASSWORD)
    page.fill("#register-confirm", PASSWORD)
    page.click("#register-submit")
    # signed in at once: sent home, the user menu shows the new account
    page.wait_for_function("location.pathname === '/'")
    text_is(page, "#user-menu-name", name)
    text_is(page, "#who", name)
    cookie = wait_for_cookie(ctx)
    assert cookie["httpOnly"] is True
    page.click("#nav-dashboard")
    page.wait_for_selector("#dashboard-heading")
    assert path_of(page) == "/dashboard"
    text_is(page, "#who", name)
    assert page.inner_text("#user-menu-name").strip() == name
    assert page.get_attribute("#dashboard-countdown", "data-expires-in") not in (None, "0")
    screenshot(page, demo, "dashboard.png")
    # the account is a row of the demo's user database, with an argon2id hash
    row = find_user(demo, email)
    assert row is not None, f"no {email} row in {demo.backend}"
    assert row.name == name
    assert row.role == "user"
    assert row.disabled is False
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    # a reload is still signed in (the cookie, not the tab's memory)
    page.reload()
    page.wait_for_selector("#dashboard-heading")
    text_is(page, "#user-menu-name", name)


def test_the_register_link_keeps_the_return_to_and_registering_lands_there(
    sqlite_demo: DemoServer, ctx: Any
) -> None:
    """A visitor sent to sign in from a protected page follows "Create one": the register page
    keeps the return-to, and the new account lands on the page it came for (it used to land
    on /). The "Sign in" link back keeps it too."""
    page = ctx.new_page()
    page.goto(sqlite_demo.url + "/profile?tab=2")
    assert path_of(page) == "/login"
    page.wait_for_selector("#login-email")
    wait_ready(page)
    page.click("#register-link")
    page.wait_for_selector("#register-email")
    assert parse_qs(urlsplit(page.url).query)["callbackUrl"] == ["/profile?tab=2"], page.url
    href = page.get_attribute("#login-link", "href") or ""
    assert parse_qs(urlsplit(href).query)["callbackUrl"] == ["/profile?tab=2"], href
    wait_ready(page)
    page.fill("#register-name", "Ada Return")
    page.fill("#register-email", unique_email("return-to"))
    page.fill("#register-password", PASSWORD)
    page.fill("#register-confirm", PASSWORD)
    page.click("#register-submit")
    page.wait_for_selector("#profile-heading")
    assert page.url == sqlite_demo.url + "/profile?tab=2"
    text_is(page, "#user-menu-name", "Ada Return")


def test_the_favicon_is_served(sqlite_demo: DemoServer, ctx: Any) -> None:
    """Every first load used to log a 404 for /favicon.ico in the console."""
    response = ctx.request.get(sqlite_demo.url + "/favicon.ico")
    assert response.status == 200
    assert response.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file: assets/favicon.ico


def test_wrong_password_and_unknown_email_get_the_same_generic_error(
    demo: DemoServer, ctx: Any
) -> None:
    errors = []
    for email, password in (
        (ADMIN[0], "not-the-admin-password"),
        (unique_email("nobody"), ADMIN[1]),
    ):
        page = fresh_tab(ctx)
        page.goto(demo.url + "/login")
        sign_in(page, email, password)
        errors.append(login_error(page))
        assert page.locator("#login-error").count() == 1
        assert page.locator("[role=alert]").count() == 1, "more than one error on the form"
        assert path_of(page) == "/login"
        assert page.query_selector("#user-menu-trigger") is None
    assert errors == [GENERIC_ERROR, GENERIC_ERROR]
    time.sleep(0.5)  # a cookie would have arrived by now (sync requests take milliseconds)
    assert session_cookie(ctx) is None


def test_protected_deep_link_with_query_returns_there_after_login(
    demo: DemoServer, ctx: Any
) -> None:
    page = ctx.new_page()
    page.goto(demo.url + "/profile?tab=2")
    assert path_of(page) == "/login"
    assert parse_qs(urlsplit(page.url).query)["callbackUrl"] == ["/profile?tab=2"]
    page.wait_for_selector("#login-email")
    wait_ready(page)
    # the embedded defaults name no identity provider: no "Sign in with ..." on the form
    assert page.query_selector("[id^='sign-in-']") is None
    page.fill("#login-email", USER[0])
    page.fill("#login-password", USER[1])
    screenshot(page, demo, "login.png")
    page.click("#login-submit")
    page.wait_for_selector("#profile-heading")
    assert page.url == demo.url + "/profile?tab=2"
    text_is(page, "#profile-email", USER[0])
    wait_for_cookie(ctx)


def test_logout_from_the_user_menu_signs_out(demo: DemoServer, ctx: Any) -> None:
    page = ctx.new_page()
    page.goto(demo.url + "/login?callbackUrl=%2Fdashboard")
    sign_in(page, *USER)
    page.wait_for_selector("#dashboard-heading")
    wait_for_cookie(ctx)
    page.click("#user-menu-trigger")
    page.click("#user-menu-logout")
    # the dashboard needs a session: the page leaves for login at once
    page.wait_for_function("location.pathname.replace(/\\/$/, '') === '/login'")
    page.wait_for_selector("#user-menu-sign-in")
    text_is(page, "#session-notice", "You signed out.")
    assert page.query_selector("#dashboard-heading") is None
    wait_until(lambda: session_cookie(ctx) is None, "the session cookie to be deleted")
    # every protected page, loaded from the server, now redirects to login, saying why
    for protected_path in ("/dashboard", "/profile", "/session", "/admin"):
        response = ctx.request.get(demo.url + protected_path, max_redirects=0)
        assert response.status in (302, 303, 307), (protected_path, response.status)
        location = urlsplit(response.headers["location"])
        assert location.path.rstrip("/") == "/login"
        assert parse_qs(location.query)["reason"] == ["loginRequired"]
        page.goto(demo.url + protected_path)
        assert path_of(page) == "/login", protected_path
        wait_ready(page)
        text_is(page, "#session-notice", "Please sign in to continue.")
        assert page.query_selector("#user-menu-trigger") is None


def test_profile_name_change_persists_after_reload(demo: DemoServer, ctx: Any) -> None:
    email = unique_email("profile")
    create_user(demo, email, "Old Name")
    new_name = f"New Name {uuid.uuid4().hex[:6]}"
    page = ctx.new_page()
    page.goto(demo.url + "/login?callbackUrl=%2Fprofile")
    sign_in(page, email, PASSWORD)
    page.wait_for_selector("#profile-heading")
    text_is(page, "#user-menu-name", "Old Name")
    page.wait_for_function("document.querySelector('#profile-name').value === 'Old Name'")
    before = wait_for_cookie(ctx)["value"]
    page.fill("#profile-name", new_name)
    page.click("#profile-save")
    page.wait_for_selector("#profile-saved")
    # the session (user menu) follows at once, the row is updated, and the stored session
    # (store mode: the cookie holds only an id, so it stays the same) carries the new name
    text_is(page, "#user-menu-name", new_name)
    user_id = str(wait_until(lambda: find_user(demo, email), "the user row").id)
    wait_until(lambda: find_user(demo, email).name == new_name, "the renamed row")
    wait_until(
        lambda: any(new_name in data for data in stored_sessions(demo, user_id)),
        "the stored session to carry the new name",
    )
    assert (session_cookie(ctx) or {}).get("value") == before
    page.reload()
    page.wait_for_selector("#profile-heading")
    text_is(page, "#user-menu-name", new_name)
    page.wait_for_function(
        "want => document.querySelector('#profile-name').value === want", arg=new_name
    )
    # nothing else in the session was lost
    text_is(page, "#profile-email", email)
    text_is(page, "#profile-role", "user")
    row = find_user(demo, email)
    assert row.name == new_name
    assert row.email == email


def test_admin_page_is_refused_to_a_plain_user(demo: DemoServer, ctx: Any) -> None:
    page = ctx.new_page()
    page.goto(demo.url + "/login")
    sign_in(page, *USER)
    page.wait_for_function("location.pathname === '/'")
    text_is(page, "#user-menu-name", "Uma User")
    wait_for_cookie(ctx)
    assert page.query_selector("#nav-admin") is None
    # a server page load: the HTTP guard sends the user to the forbidden page before any HTML,
    # saying which role the page needs
    response = ctx.request.get(demo.url + "/admin", max_redirects=0)
    assert response.status in (302, 303, 307)
    assert response.headers["location"] == "/forbidden?reason=forbidden&role=admin"
    page.goto(demo.url + "/admin")
    assert path_of(page) == "/forbidden"
    text_is(page, "#session-notice", "You need the admin role for that page.")
    screenshot(page, demo, "forbidden.png")
    wait_ready(page)
    # a client-side navigation (no server round trip): refused the same way
    page.goto(demo.url + "/")
    wait_ready(page)
    page.evaluate(
        "window.history.pushState({}, '', '/admin');"
        "window.dispatchEvent(new PopStateEvent('popstate', { state: {} }));"
    )
    page.wait_for_function("location.pathname === '/forbidden'", timeout=5000)
    text_is(page, "#session-notice", "You need the admin role for that page.")
    page.wait_for_timeout(1000)
    assert page.query_selector("#admin-heading") is None
    assert page.query_selector("#admin-users") is None
    seen = page.evaluate("sessionStorage.getItem('__adminSeen')")
    assert seen is None, f"admin content was rendered for a plain user at {seen}"
    assert ADMIN[0] not in page.content()


def test_admin_page_lists_the_users_for_the_admin(demo: DemoServer, ctx: Any) -> None:
    page = ctx.new_page()
    page.goto(demo.url + "/login?callbackUrl=%2Fadmin")
    sign_in(page, *ADMIN)
    page.wait_for_selector("#admin-heading")
    assert path_of(page) == "/admin"
    page.wait_for_function(
        "emails => { const t = document.querySelector('#admin-users');"
        " return !!t && emails.every((e) => t.textContent.includes(e)); }",
        arg=[ADMIN[0], USER[0]],
    )
    rows = page.locator("#admin-users tbody tr")
    cells = [
        [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        for i in range(rows.count())
    ]
    by_email = {row[0]: row[1:4] for row in cells if row}
    assert by_email[ADMIN[0]] == ["Ada Admin", "admin", "active"]
    assert by_email[USER[0]] == ["Uma User", "user", "active"]
    # the admin's own row offers no "Disable" (it used to offer one that did nothing)
    actions = {row[0]: row[4] for row in cells if row}
    assert actions[ADMIN[0]] == "You"
    assert actions[USER[0]] == "Disable"
    assert page.query_selector("#nav-admin") is not None
    # the watcher that proves the plain user never saw this content does see it here
    assert page.evaluate("sessionStorage.getItem('__adminSeen')") is not None


def test_failed_logins_are_rate_limited_per_account(demo: DemoServer, ctx: Any) -> None:
    email = unique_email("limited")
    create_user(demo, email, "Rate Limited")
    for attempt in range(5):
        page = fresh_tab(ctx)
        page.goto(demo.url + "/login")
        sign_in(page, email, f"wrong-password-{attempt}")
        assert login_error(page) == GENERIC_ERROR, f"attempt {attempt + 1}"
    # the sixth attempt is refused before the password is even checked
    page = fresh_tab(ctx)
    page.goto(demo.url + "/login")
    sign_in(page, email, PASSWORD)
    message = login_error(page)
    assert re.fullmatch(
        r"Too many attempts\. Try again in (less than a minute|about (a|an|\d+) \w+)\.", message
    ), message
    time.sleep(0.5)
    assert session_cookie(ctx) is None
    assert path_of(page) == "/login"
    assert page.query_selector("#user-menu-trigger") is None


def test_a_login_error_does_not_follow_the_user_to_other_forms(
    sqlite_demo: DemoServer, ctx: Any
) -> None:
    """After a failed login, the register form and a later visit to login start clean."""
    page = ctx.new_page()
    page.goto(sqlite_demo.url + "/login")
    sign_in(page, ADMIN[0], "not-the-admin-password")
    assert login_error(page) == GENERIC_ERROR
    stale = []
    # "No account? Create one": the registration form must not greet the user with a login error
    page.click("#register-link")
    page.wait_for_selector("#register-email")
    wait_ready(page)
    page.wait_for_timeout(500)
    if page.query_selector("#register-error") is not None:
        stale.append(f"/register shows {page.inner_text('#register-error').strip()!r}")
    # back to the login page later in the same tab: no error before anything was submitted
    page.goto(sqlite_demo.url + "/")
    wait_ready(page)
    page.goto(sqlite_demo.url + "/login")
    wait_ready(page)
    page.wait_for_timeout(500)
    if page.query_selector("#login-error") is not None:
        stale.append(f"a new visit to /login shows {page.inner_text('#login-error').strip()!r}")
    assert not stale, "a failed login's error stays in the tab's state: " + "; ".join(stale)


def test_backend_restart_keeps_the_user_signed_in(sqlite_demo: DemoServer, ctx: Any) -> None:
    page = ctx.new_page()
    page.goto(sqlite_demo.url + "/login?callbackUrl=%2Fdashboard")
    sign_in(page, *USER)
    page.wait_for_selector("#dashboard-heading")
    cookie = wait_for_cookie(ctx)
    sqlite_demo.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(sqlite_demo.url + "/ping", timeout=2)
    sqlite_demo.start()  # the same port and the same SESSION_SECRET
    page.reload()
    page.wait_for_selector("#dashboard-heading")
    assert path_of(page) == "/dashboard"
    text_is(page, "#who", "Uma User")
    text_is(page, "#user-menu-name", "Uma User")
    # the same cookie, read by the new process with the same secret
    after = session_cookie(ctx)
    assert after is not None
    assert after["value"] == cookie["value"] or after["expires"] >= cookie["expires"]


def test_expiry_banner_appears_and_stay_signed_in_extends_the_session(
    short_demo: DemoServer, ctx: Any
) -> None:
    page = ctx.new_page()
    page.goto(short_demo.url + "/login?callbackUrl=%2Fdashboard")
    sign_in(page, *USER)
    page.wait_for_selector("#dashboard-heading")
    signed_in = time.monotonic()
    first = wait_for_cookie(ctx)
    start_left = expires_in(page, "#dashboard-countdown")
    assert 30_000 < start_left <= 40_000, start_left
    assert page.query_selector("#session-expiry-banner") is None
    # no mouse or keyboard from here on: nothing but the banner's button may refresh
    banner = page.wait_for_selector("#session-expiry-banner", timeout=20_000)
    shown_after = time.monotonic() - signed_in
    assert 7 <= shown_after <= 14, f"the banner came {shown_after:.1f}s after login"
    banner_left = expires_in(page, "#session-expiry-countdown")
    assert 20_000 < banner_left <= 30_000, banner_left
    assert re.fullmatch(r"0:[0-3]\d", page.inner_text("#session-expiry-countdown").strip())
    assert "Your session ends in" in banner.inner_text()
    assert page.inner_text("#stay-signed-in").strip() == "Stay signed in"
    assert banner.get_attribute("role") == "status"
    screenshot(page, short_demo, "expiry-banner.png", park_mouse=False)
    # the button alone (a click event, no pointer movement that could trigger activity refresh)
    page.dispatch_event("#stay-signed-in", "click")
    page.wait_for_selector("#session-expiry-banner", state="detached", timeout=5000)
    after_left = expires_in(page, "#dashboard-countdown")
    assert after_left > 35_000, after_left
    assert after_left > banner_left + 5_000
    # the cookie was reissued with the later expiry: a reload keeps the extended session
    refreshed = wait_until(
        lambda: (c := session_cookie(ctx)) and c["value"] != first["value"] and c,
        "the refreshed session cookie",
    )
    assert refreshed["expires"] >= first["expires"] + 5
    page.reload()
    page.wait_for_selector("#dashboard-heading")
    assert expires_in(page, "#dashboard-countdown") > 30_000
    assert page.query_selector("#session-expiry-banner") is None


# -- store mode: devices and live revocation (issue 6) -----------------------------------------


def signed_in_tab(
    browser: Any, server: DemoServer, email: str, path: str, password: str = PASSWORD
) -> Any:
    """A new browser (own cookies) signed in as ``email`` and showing ``path``."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(server.url + "/login?callbackUrl=" + path.replace("/", "%2F"))
    sign_in(page, email, password)
    page.wait_for_function(f"location.pathname.replace(/\\/$/, '') === '{path}'")
    wait_for_cookie(context)
    return page


def test_sign_out_another_device_reaches_it_live(demo: DemoServer, browser: Any) -> None:
    email = unique_email("devices")
    create_user(demo, email, "Dev Ice")
    laptop = signed_in_tab(browser, demo, email, "/devices")
    phone = signed_in_tab(browser, demo, email, "/dashboard")
    stolen = session_cookie(phone.context)
    assert stolen is not None
    laptop.reload()
    laptop.wait_for_function("document.querySelectorAll('.device').length === 2")
    assert "this device" in laptop.inner_text("#device-list")
    screenshot(laptop, demo, "devices.png")
    start = time.monotonic()
    # the device card that is not this one
    laptop.locator(".device", has_not_text="this device").locator(".device-sign-out").click()
    phone.wait_for_function("location.pathname.replace(/\\/$/, '') === '/login'", timeout=5000)
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, f"the other device took {elapsed:.2f}s to be signed out"
    text_is(phone, "#session-notice", "You were signed out on another device.")
    screenshot(phone, demo, "login-signed-out-elsewhere.png")
    laptop.wait_for_function("document.querySelectorAll('.device').length === 1")
    # the revoked cookie is refused even if replayed from another browser
    thief = browser.new_context()
    thief.add_cookies([stolen])
    page = thief.new_page()
    page.goto(demo.url + "/dashboard")
    assert path_of(page) == "/login"
    thief.close()
    # the device that did it is still signed in
    laptop.goto(demo.url + "/dashboard")
    laptop.wait_for_selector("#dashboard-heading")
    for page in (laptop, phone):
        page.context.close()


def test_sign_out_everywhere_ends_every_device(demo: DemoServer, browser: Any) -> None:
    email = unique_email("everywhere")
    create_user(demo, email, "Every Where")
    first = signed_in_tab(browser, demo, email, "/devices")
    second = signed_in_tab(browser, demo, email, "/profile")
    first.click("#sign-out-everywhere")
    for page in (first, second):
        page.wait_for_function(
            "location.pathname.replace(/\\/$/, '') === '/login'"
            " || document.querySelector('#user-menu-sign-in') !== null",
            timeout=5000,
        )
    for page in (first, second):
        page.goto(demo.url + "/dashboard")
        assert path_of(page) == "/login"
        page.context.close()


def test_logout_makes_a_copied_cookie_useless(demo: DemoServer, browser: Any) -> None:
    email = unique_email("replay")
    create_user(demo, email, "Re Play")
    page = signed_in_tab(browser, demo, email, "/dashboard")
    copied = session_cookie(page.context)
    assert copied is not None
    page.click("#user-menu-trigger")
    page.click("#user-menu-logout")
    wait_until(lambda: session_cookie(page.context) is None, "the cookie to be cleared")
    replay = browser.new_context()
    replay.add_cookies([copied])
    other = replay.new_page()
    other.goto(demo.url + "/dashboard")
    assert path_of(other) == "/login"
    replay.close()
    page.context.close()


def test_disabling_an_account_signs_it_out_live(demo: DemoServer, browser: Any) -> None:
    email = unique_email("disabled")
    create_user(demo, email, "Dis Abled")
    victim = signed_in_tab(browser, demo, email, "/dashboard")
    admin = signed_in_tab(browser, demo, ADMIN[0], "/admin", ADMIN[1])
    row = admin.locator("#admin-users tr", has_text=email)
    row.get_by_role("button", name="Disable").click()
    victim.wait_for_function("location.pathname.replace(/\\/$/, '') === '/login'", timeout=5000)
    for page in (victim, admin):
        page.context.close()


def test_password_change_signs_out_the_other_devices(demo: DemoServer, browser: Any) -> None:
    email = unique_email("password")
    create_user(demo, email, "Pass Word")
    here = signed_in_tab(browser, demo, email, "/profile")
    elsewhere = signed_in_tab(browser, demo, email, "/dashboard")
    here.fill("#password-current", PASSWORD)
    here.fill("#password-new", "a-brand-new-password-77")
    here.fill("#password-confirm", "a-brand-new-password-77")
    here.click("#password-submit")
    elsewhere.wait_for_function("location.pathname.replace(/\\/$/, '') === '/login'", timeout=5000)
    text_is(elsewhere, "#session-notice", "You were signed out on another device.")
    text_is(here, "#password-message", "Password changed. Your other devices were signed out.")
    here.goto(demo.url + "/dashboard")
    here.wait_for_selector("#dashboard-heading")  # this device stays signed in
    fresh = browser.new_context()
    page = fresh.new_page()
    page.goto(demo.url + "/login")
    sign_in(page, email, "a-brand-new-password-77")
    try:
        text_is(page, "#user-menu-name", "Pass Word", timeout=10_000)
    except Exception:
        pytest.fail(f"the new password did not sign in: {page.url} {page.inner_text('body')[:300]}")
    for p in (here, elsewhere, page):
        p.context.close()


# -- two tabs of one browser follow each other, and every redirect says why (issue 14) --------


def test_a_sign_in_in_one_tab_moves_the_other_tabs_login_page_on(
    demo: DemoServer, ctx: Any
) -> None:
    """A public-only page follows the session live: a second tab left on the login page goes
    to its own return-to once the first tab signs in (it used to keep the form under a
    signed-in header), and a reload of it does too."""
    waiting = ctx.new_page()
    waiting.goto(demo.url + "/login?callbackUrl=%2Fsession%3Fview%3D1")
    waiting.wait_for_selector("#login-email")
    wait_ready(waiting)
    signing = ctx.new_page()
    signing.goto(demo.url + "/login?callbackUrl=%2Fprofile")
    sign_in(signing, *USER)
    start = time.monotonic()
    signing.wait_for_selector("#profile-heading")
    waiting.wait_for_function("location.pathname.replace(/\\/$/, '') === '/session'", timeout=8000)
    elapsed = time.monotonic() - start
    assert urlsplit(waiting.url).query == "view=1", waiting.url
    waiting.wait_for_selector("#session-heading")
    text_is(waiting, "#user-menu-name", "Uma User")
    print(f"the other tab followed the sign-in in {elapsed:.2f}s")
    # a login page opened (or reloaded) while signed in goes straight to its return-to
    third = ctx.new_page()
    third.goto(demo.url + "/login?callbackUrl=%2Fdashboard")
    assert path_of(third) == "/dashboard"
    third.goto(demo.url + "/register?callbackUrl=https%3A%2F%2Fevil.example")
    assert path_of(third) == "/"  # an unsafe return-to goes home, never off-site


def test_a_sign_out_in_one_tab_tells_the_other_tab_why(demo: DemoServer, ctx: Any) -> None:
    first = ctx.new_page()
    first.goto(demo.url + "/login?callbackUrl=%2Fprofile")
    sign_in(first, *USER)
    first.wait_for_selector("#profile-heading")
    wait_for_cookie(ctx)
    second = ctx.new_page()
    second.goto(demo.url + "/dashboard")
    second.wait_for_selector("#dashboard-heading")
    wait_ready(second)
    first.click("#user-menu-trigger")
    first.click("#user-menu-logout")
    for page, path in ((first, "/profile"), (second, "/dashboard")):
        page.wait_for_function("location.pathname.replace(/\\/$/, '') === '/login'", timeout=5000)
        query = parse_qs(urlsplit(page.url).query)
        assert query["reason"] == ["signedOut"], page.url
        assert [p.rstrip("/") for p in query["callbackUrl"]] == [path], page.url
        text_is(page, "#session-notice", "You signed out.")


def test_a_crafted_reason_shows_nothing_but_the_vocabulary(
    sqlite_demo: DemoServer, ctx: Any
) -> None:
    """The reason is a word from a fixed list: a link with other text shows no notice, and a
    refusal names only roles the app asks for. A link cannot tell a signed-out visitor that a
    role is missing, nor a signed-in user that they were signed out (red team: a pretext for a
    phishing story told by our own page)."""
    page = ctx.new_page()
    page.goto(sqlite_demo.url + "/login?reason=Your+account+is+locked.+Call+555-0100")
    page.wait_for_selector("#login-email")
    wait_ready(page)
    assert page.query_selector("#session-notice") is None
    assert "555-0100" not in page.inner_text("body")
    page.goto(sqlite_demo.url + "/forbidden?reason=forbidden&role=admin")
    text_is(page, "#forbidden-heading", "Not for this account")
    wait_ready(page)
    assert page.query_selector("#session-notice") is None
    page.goto(sqlite_demo.url + "/login?callbackUrl=%2Fdashboard")
    sign_in(page, *USER)
    page.wait_for_selector("#dashboard-heading")
    page.goto(sqlite_demo.url + "/forbidden?reason=forbidden&role=Call+555-0100")
    text_is(page, "#session-notice", "You don't have access to that page.")
    assert "555-0100" not in page.inner_text("body")
    page.goto(sqlite_demo.url + "/forbidden?reason=revoked")
    text_is(page, "#forbidden-heading", "Not for this account")
    wait_ready(page)
    page.wait_for_selector("#user-menu-trigger")
    assert page.query_selector("#session-notice") is None


# -- the pages as a newcomer reads them (issue 14, the demo's pages) ----------------------------


def test_devices_are_named_as_people_say_them(sqlite_demo: DemoServer, browser: Any) -> None:
    """ "Chrome 156 on Linux, from this computer", not a raw user-agent string and "IP ..."."""
    email = unique_email("named")
    create_user(sqlite_demo, email, "Named Device")
    page = signed_in_tab(browser, sqlite_demo, email, "/devices")
    page.wait_for_selector(".device-browser")
    browser_name = page.inner_text(".device-browser").strip()
    major = page.evaluate("navigator.userAgent.match(/Chrome\\/(\\d+)/)[1]")
    assert browser_name == f"Chrome {major} on Linux", browser_name
    assert page.inner_text(".device-place").strip() == "from this computer"
    listed = page.inner_text("#device-list")
    assert "Mozilla/5.0" not in listed
    assert "IP " not in listed
    page.context.close()


def test_an_unknown_address_shows_the_demos_not_found_page(
    sqlite_demo: DemoServer, ctx: Any
) -> None:
    """Reflex's default was a bare "404: Page not found" span without the site around it."""
    page = ctx.new_page()
    page.goto(sqlite_demo.url + "/no-such-page")
    text_is(page, "#not-found-heading", "Page not found")
    assert page.title() == "Page not found"
    wait_ready(page)  # the site's header and user menu are there
    assert page.query_selector("header nav #nav-home") is not None
    page.click("#not-found-home")
    page.wait_for_function("location.pathname === '/'")
    # a client-side navigation to an unknown route shows it too
    page.evaluate(
        "window.history.pushState({}, '', '/also/missing');"
        "window.dispatchEvent(new PopStateEvent('popstate', { state: {} }));"
    )
    text_is(page, "#not-found-heading", "Page not found")


def test_the_profile_forms_are_cards_that_state_the_rules_and_confirm_the_password(
    sqlite_demo: DemoServer, browser: Any
) -> None:
    """Both forms sit in cards like the sign-in form; the new password's rule is stated under
    the field (linked by aria-describedby) before anyone fails it, and a confirmation that
    does not match changes nothing."""
    email = unique_email("profile-cards")
    create_user(sqlite_demo, email, "Card Holder")
    page = signed_in_tab(browser, sqlite_demo, email, "/profile")
    page.wait_for_selector("#password-new")
    for control in ("#profile-name", "#password-current", "#password-new", "#password-confirm"):
        assert page.evaluate("sel => !!document.querySelector(sel).closest('.rt-Card')", control), (
            f"{control} is not in a card"
        )
    # every field has its visible label
    for control in ("profile-name", "password-current", "password-new", "password-confirm"):
        assert page.locator(f"label[for={control}]").count() == 1, control
    assert page.inner_text("label[for=password-confirm]").strip() == "Confirm new password"
    # the rule, before any attempt, is the field's description
    hint_id = page.get_attribute("#password-new", "aria-describedby")
    assert hint_id
    hint = page.locator(f"#{hint_id}")
    assert hint.is_visible()
    assert "At least 10 characters" in hint.inner_text()
    assert page.query_selector("#password-message") is None
    before = find_user(sqlite_demo, email).password_hash
    page.fill("#password-current", PASSWORD)
    page.fill("#password-new", "a-brand-new-password-77")
    page.fill("#password-confirm", "a-brand-new-password-78")
    page.click("#password-submit")
    text_is(
        page, "#password-message", "The new passwords do not match. Your password was not changed."
    )
    assert page.get_attribute("#password-message", "role") == "alert"
    page.wait_for_timeout(500)
    assert find_user(sqlite_demo, email).password_hash == before
    # the matching pair changes it, said as a status
    page.fill("#password-current", PASSWORD)
    page.fill("#password-new", "a-brand-new-password-77")
    page.fill("#password-confirm", "a-brand-new-password-77")
    page.click("#password-submit")
    page.wait_for_function(
        "() => (document.querySelector('#password-message')?.textContent || '')"
        ".startsWith('Password changed.')"
    )
    assert page.get_attribute("#password-message", "role") == "status"
    wait_until(
        lambda: find_user(sqlite_demo, email).password_hash != before, "the new password hash"
    )
    page.context.close()


def test_the_session_page_shows_the_expiry_in_the_users_own_time(
    sqlite_demo: DemoServer, browser: Any
) -> None:
    """The browser formats the expiry in its own zone and words ("Sun, Dec 6, 8:05 PM GMT+9
    (in 8 hours)"); the page used to show the raw UTC ISO timestamp."""
    from datetime import UTC, datetime, timedelta, timezone

    context = browser.new_context(viewport=VIEWPORT, timezone_id="Asia/Tokyo", locale="en-US")
    page = context.new_page()
    page.goto(sqlite_demo.url + "/login?callbackUrl=%2Fsession")
    sign_in(page, *USER)
    page.wait_for_selector("#session-heading")
    page.wait_for_function(
        "() => (document.querySelector('#session-expiry')?.textContent || '').includes('GMT+9')"
    )
    shown = page.inner_text("#session-expiry").strip()
    iso = page.get_attribute("#session-expiry", "datetime") or ""
    expiry = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    left = expiry - datetime.now(UTC)
    assert timedelta(hours=7, minutes=55) < left <= timedelta(hours=8), left
    tokyo = expiry.astimezone(timezone(timedelta(hours=9)))
    clock = f"{tokyo.hour % 12 or 12}:{tokyo.minute:02d} {'AM' if tokyo.hour < 12 else 'PM'}"
    date = f"{tokyo:%a}, {tokyo:%b} {tokyo.day}"
    assert shown == f"{date}, {clock} GMT+9 (in 8 hours)", shown
    body = page.inner_text("main")
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", body), "a raw ISO timestamp is shown"
    context.close()


PHONE = {"width": 390, "height": 844}
#: every page of the demo, signed out and signed in (the admin sees /admin)
SIGNED_OUT_PAGES = ("/", "/login", "/register", "/forbidden", "/no-such-page")
SIGNED_IN_PAGES = ("/", "/dashboard", "/profile", "/session", "/devices", "/admin", "/forbidden")
OVERFLOW = """(PHONE_WIDTH) => {
  const width = Math.min(window.innerWidth, window.visualViewport.width, PHONE_WIDTH);
  // what sticks out (for the failure message; a table's cells inside its scroll box count too)
  const wide = [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > width + 0.5)
    .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
      + (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ')[0] : ''));
  return {
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
    width,
    wide: wide.slice(0, 8),
  };
}"""


def too_wide(page: Any, path: str) -> str | None:
    """Whether the page scrolls sideways at 390 px, or at 360 px (the narrowest phones)."""
    for width in (PHONE["width"], 360):
        page.set_viewport_size({"width": width, "height": PHONE["height"]})
        problem = too_wide_at(page, path, width)
        if problem:
            return problem
    page.set_viewport_size(PHONE)
    return None


def too_wide_at(page: Any, path: str, phone_width: int) -> str | None:
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_timeout(300)
    # a mobile browser zooms a too-wide page out (innerWidth grows to fit it): compare with
    # the phone's own width too
    found = page.evaluate(OVERFLOW, phone_width)
    if found["scroll"] <= found["width"] and found["inner"] == phone_width:
        return None
    return f"{path}: {found['scroll']} px wide at {phone_width} ({found['wide']})"


def test_every_page_fits_a_phone(sqlite_demo: DemoServer, browser: Any) -> None:
    """At 390 px no page scrolls sideways: the header wraps, the admin table scrolls in its own
    box, cards shrink (the signed-in pages were 623 px wide)."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    problems = []
    for path in SIGNED_OUT_PAGES:
        page.goto(sqlite_demo.url + path)
        wait_ready(page)
        problems.append(too_wide(page, path))
    page.goto(sqlite_demo.url + "/login?callbackUrl=%2Fdashboard")
    sign_in(page, *ADMIN)
    page.wait_for_selector("#dashboard-heading")
    for path in SIGNED_IN_PAGES:
        page.goto(sqlite_demo.url + path)
        wait_ready(page)
        page.wait_for_selector("#user-menu-trigger")
        if path == "/admin":
            page.wait_for_selector("#admin-users tbody tr")
        if path == "/devices":
            page.wait_for_selector(".device")
        problems.append(too_wide(page, path))
        if path == "/dashboard":
            screenshot(page, sqlite_demo, "phone-dashboard.png", park_mouse=False)
    found = [p for p in problems if p]
    assert not found, "pages wider than a phone:\n" + "\n".join(found)
    context.close()


def test_the_desktop_header_stays_on_one_line(sqlite_demo: DemoServer, ctx: Any) -> None:
    """The phone layout must not change the desktop one: at 1100 px the site's links, the
    user menu and the name sit on one row."""
    page = ctx.new_page()
    page.goto(sqlite_demo.url + "/login?callbackUrl=%2Fadmin")
    sign_in(page, *ADMIN)
    page.wait_for_selector("#admin-users tbody tr")
    ids = ["nav-home", "nav-dashboard", "nav-profile", "nav-session", "nav-devices", "nav-admin"]
    ids.append("user-menu-trigger")
    middles = page.evaluate(
        "ids => ids.map((id) => { const r = document.getElementById(id).getBoundingClientRect();"
        " return r.top + r.height / 2; })",
        ids,
    )
    assert max(middles) - min(middles) < 8, dict(zip(ids, middles, strict=True))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1100


def test_every_address_is_without_a_trailing_slash(sqlite_demo: DemoServer, ctx: Any) -> None:
    """A page load of /login used to be redirected to /login/ (Reflex serves the exported
    login/index.html with Starlette's StaticFiles, which adds the slash) while the header's
    links gave /login: the address bar and the return-to switched between the two. Now a page
    load keeps the address as written, a slash is redirected away, and the return-to of a
    sign-out is the clean path."""
    url = sqlite_demo.url
    response = ctx.request.get(url + "/login/?reason=expired", max_redirects=0)
    assert response.status == 308
    assert response.headers["location"] == "/login?reason=expired"
    response = ctx.request.get(url + "/login", max_redirects=0)
    assert response.status == 200
    page = ctx.new_page()
    for path in ("/", "/login", "/register", "/forbidden"):
        page.goto(url + path)
        wait_ready(page)
        assert urlsplit(page.url).path == path, page.url
    # a protected page loaded with a slash: the login page, then the page, both without one
    page.goto(url + "/dashboard/")
    assert urlsplit(page.url).path == "/login", page.url
    sign_in(page, *USER)
    page.wait_for_selector("#dashboard-heading")
    page.wait_for_timeout(500)
    assert page.url == url + "/dashboard", page.url
    for path in ("/profile", "/session", "/devices", "/dashboard"):
        page.goto(url + path)
        wait_ready(page)
        assert page.url == url + path, page.url
        page.goto(url + path + "/")
        wait_ready(page)
        assert page.url == url + path, page.url
    # a sign-out from a loaded page returns to it without a slash
    page.goto(url + "/session")
    page.wait_for_selector("#session-heading")
    wait_ready(page)
    page.click("#user-menu-trigger")
    page.click("#user-menu-logout")
    page.wait_for_function("location.pathname === '/login'")
    assert parse_qs(urlsplit(page.url).query)["callbackUrl"] == ["/session"], page.url
