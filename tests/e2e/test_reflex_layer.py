"""Issue 4 in a real browser: login/refresh/logout without a reload, and every guard.

Real time is used here (the server is a separate process); expiry is tested on a 12-second
session. The pure rules are tested with an injected clock in the unit tests.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import SECRET, Recorder, ReflexServer, login, wait_until

pytestmark = pytest.mark.e2e

ACCESS = "e2e-access-token-"
REFRESH = "e2e-refresh-token-"


def session_cookie(context: Any) -> dict[str, Any] | None:
    found = [c for c in context.cookies() if c["name"].endswith("session")]
    return found[0] if found else None


def assert_no_secrets(recorder: Recorder, cookie_values: list[str], server: ReflexServer) -> None:
    """No websocket frame, API body or log line carries the cookie, a token or the secret."""
    needles = [v for v in cookie_values if v] + [ACCESS, REFRESH, SECRET]
    haystacks = {
        "websocket frame": recorder.frames,
        "API body": recorder.bodies,
        "server log": server.log().splitlines(),
    }
    for where, items in haystacks.items():
        for item in items:
            for needle in needles:
                assert needle not in item, f"a secret reached a {where}: {item[:200]!r}"
    assert recorder.frames, "no websocket traffic was recorded: the check above proves nothing"


def test_login_without_reload_httponly_cookie_and_reload(
    server: ReflexServer, context: Any, recorder: Recorder
) -> None:
    page = context.new_page()
    page.goto(server.url + "/dashboard?tab=2")
    # the page guard sent us to login, with the deep link (path and query) as return-to
    parts = urlsplit(page.url)
    assert parts.path.rstrip("/") == "/login"
    assert parse_qs(parts.query)["callbackUrl"] == ["/dashboard?tab=2"]
    page.wait_for_selector("#email")
    page.evaluate("window.__noReload = 'still here'")
    login(page)
    page.wait_for_selector("#dashboard-heading")
    assert urlsplit(page.url).path.rstrip("/") == "/dashboard"
    assert parse_qs(urlsplit(page.url).query) == {"tab": ["2"]}
    # same document: the login did not reload the page
    assert page.evaluate("window.__noReload") == "still here"
    page.wait_for_function("document.querySelector('#who').textContent === 'Ada'")
    # the cookie arrives through the sync request: HttpOnly, invisible to JavaScript
    page.wait_for_function("true")
    deadline = time.monotonic() + 5
    while session_cookie(context) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    cookie = session_cookie(context)
    assert cookie is not None, "the session cookie never reached the browser"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert "session" not in page.evaluate("document.cookie")
    assert cookie["value"] not in page.evaluate("document.cookie")
    # a reload and a new tab are signed in by the cookie
    page.reload()
    page.wait_for_selector("#dashboard-heading")
    page.wait_for_function("document.querySelector('#status').textContent === 'authenticated'")
    tab = context.new_page()
    tab.goto(server.url + "/dashboard")
    tab.wait_for_selector("#dashboard-heading")
    assert_no_secrets(recorder, [cookie["value"]], server)


def test_logout_in_one_tab_sends_the_other_to_login_within_a_second(
    server: ReflexServer, context: Any
) -> None:
    first = context.new_page()
    first.goto(server.url + "/login")
    login(first)
    first.wait_for_selector("#home-heading")
    first.wait_for_function("document.querySelector('#status').textContent === 'authenticated'")
    time.sleep(0.5)
    second = context.new_page()
    second.goto(server.url + "/dashboard")
    second.wait_for_selector("#dashboard-heading")
    start = time.monotonic()
    first.click("#logout")
    second.wait_for_url("**/login**", timeout=5000)
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, f"the other tab took {elapsed:.2f}s"
    assert urlsplit(second.url).path.rstrip("/") == "/login"
    # the other tab is told what happened: this browser signed out
    assert parse_qs(urlsplit(second.url).query)["reason"] == ["signedOut"]
    assert session_cookie(context) is None
    first.wait_for_function("document.querySelector('#status').textContent === 'unauthenticated'")


def test_update_keeps_every_field_and_survives_reload(server: ReflexServer, context: Any) -> None:
    page = context.new_page()
    page.goto(server.url + "/login?callbackUrl=%2Fdashboard")
    login(page)
    page.wait_for_selector("#dashboard-heading")
    page.fill("#name", "Ada King")
    page.click("#save-name")
    page.wait_for_function("document.querySelector('#who').textContent === 'Ada King'")
    # overlapping refresh and update: both land, nothing is lost
    page.click("#refresh")
    page.fill("#name", "Countess Ada")
    page.click("#save-name")
    page.click("#refresh")
    page.wait_for_function("document.querySelector('#who').textContent === 'Countess Ada'")
    time.sleep(1.0)
    page.reload()
    page.wait_for_selector("#dashboard-heading")
    page.wait_for_function("document.querySelector('#who').textContent === 'Countess Ada'")
    assert page.inner_text("#team") == "core"


def test_role_page_refused_to_a_plain_user(server: ReflexServer, context: Any) -> None:
    page = context.new_page()
    page.goto(server.url + "/login")
    login(page, "bob@example.com", "battery staple")
    page.wait_for_selector("#home-heading")
    page.wait_for_function("document.querySelector('#status').textContent === 'authenticated'")
    # client-side navigation to the admin page: sent home, the content never rendered
    # (the sign-in already landed on "/": wait for the refusal's own URL, not for the path)
    page.click("#admin-link")
    page.wait_for_function("new URLSearchParams(location.search).get('reason') === 'forbidden'")
    assert urlsplit(page.url).path.rstrip("/") in ("", "/")
    assert page.query_selector("#admin-heading") is None
    assert parse_qs(urlsplit(page.url).query) == {"reason": ["forbidden"], "role": ["admin"]}
    # a server page load too
    page.goto(server.url + "/admin")
    assert urlsplit(page.url).path.rstrip("/") in ("", "/")
    assert parse_qs(urlsplit(page.url).query) == {"reason": ["forbidden"], "role": ["admin"]}
    assert page.query_selector("#admin-heading") is None


def test_wrong_password_shows_one_generic_error(server: ReflexServer, context: Any) -> None:
    page = context.new_page()
    page.goto(server.url + "/login")
    login(page, "ada@example.com", "wrong")
    page.wait_for_function("document.querySelector('#error').textContent.length > 0")
    assert page.inner_text("#error") == "Invalid email or password"
    assert session_cookie(context) is None


def test_short_session_counts_down_flags_soon_and_expires_to_login(
    short_server: ReflexServer, context: Any, recorder: Recorder
) -> None:
    page = context.new_page()
    page.goto(short_server.url + "/login?callbackUrl=%2Fdashboard%3Ftab%3D7")
    login(page)
    page.wait_for_selector("#dashboard-heading")
    first = int(page.get_attribute("#countdown", "data-expires-in") or 0)
    assert 0 < first <= 12_000
    frames_before = len(recorder.frames)
    time.sleep(2.5)
    second = int(page.get_attribute("#countdown", "data-expires-in") or 0)
    assert second < first - 1500, "the countdown does not tick in the browser"
    # "expiring soon" flips on time (the last 2.4 s of a 12 s session)
    page.wait_for_selector("#soon", timeout=12_000)
    # at expiry the state signs out and the auth page goes to login with return-to
    page.wait_for_url("**/login**", timeout=15_000)
    query = parse_qs(urlsplit(page.url).query)
    assert query["callbackUrl"] == ["/dashboard?tab=7"]
    assert query["reason"] == ["expired"]
    # idle: the countdown itself sent nothing; only the soon mark and the expiry sync talked
    idle_frames = recorder.frames[frames_before:]
    assert len(idle_frames) <= 12, idle_frames


def test_event_after_expiry_changes_nothing(short_server: ReflexServer, context: Any) -> None:
    page = context.new_page()
    page.goto(short_server.url + "/login?callbackUrl=%2Fdashboard")
    login(page)
    page.wait_for_selector("#dashboard-heading")
    page.click("#click")
    page.wait_for_function("document.querySelector('#clicks').textContent === '1'")
    # silence the browser's own expiry handling, so the server is the only guard left
    page.evaluate("window.__reflexSession.sync = () => Promise.resolve()")
    remaining = int(page.get_attribute("#countdown", "data-expires-in") or 0)
    time.sleep(remaining / 1000 + 1.0)
    assert page.query_selector("#dashboard-heading") is not None
    page.click("#click")
    page.wait_for_url("**/login**", timeout=5000)
    assert parse_qs(urlsplit(page.url).query)["reason"] == ["expired"]
    page.go_back()
    assert page.query_selector("#clicks") is None or page.inner_text("#clicks") != "2"


def test_activity_refreshes_at_most_once_per_threshold_window(
    short_server: ReflexServer, context: Any, recorder: Recorder
) -> None:
    page = context.new_page()
    page.goto(short_server.url + "/login?callbackUrl=%2Fdashboard")
    login(page)
    page.wait_for_selector("#dashboard-heading")
    # the login's own syncs (one may be a 409 before its proof arrives) must be over before the
    # window opens, however slow the machine: wait for the cookie, then for 1 s without a sync
    wait_until(
        lambda: any(c["name"] == "session" for c in context.cookies()),
        "the login cookie",
        page=page,
    )
    wait_until(
        lambda: time.monotonic() - max(recorder.sync_requests, default=0.0) > 1.0,
        "the login's syncs to end",
        page=page,
    )
    syncs_before = len(recorder.sync_requests)
    start = time.monotonic()
    # 16 s of continuous activity: longer than the 12 s session itself
    while time.monotonic() - start < 16:
        page.mouse.move(100 + int(time.monotonic() * 50) % 300, 200)
        time.sleep(0.1)
    window_syncs = len(recorder.sync_requests) - syncs_before
    assert page.query_selector("#dashboard-heading") is not None, "an active user was signed out"
    assert page.inner_text("#status") == "authenticated"
    # threshold 3 s over 16 s: at most one refresh per window (plus one for a window edge)
    assert 2 <= window_syncs <= 16 // 3 + 1, window_syncs


def test_path_change_refetches_the_cookie(server: ReflexServer, context: Any) -> None:
    """A cookie that disappeared out of band (no broadcast) is noticed at the next navigation."""
    page = context.new_page()
    page.goto(server.url + "/login?callbackUrl=%2Fdashboard")
    login(page)
    page.wait_for_selector("#dashboard-heading")
    deadline = time.monotonic() + 5
    while session_cookie(context) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_cookie(context) is not None
    context.clear_cookies()
    page.click("#home-link")  # client-side navigation: no page load, no new socket
    page.wait_for_selector("#home-heading")
    page.wait_for_function(
        "document.querySelector('#status').textContent === 'unauthenticated'", timeout=5000
    )
    page.click("#dashboard-link")
    page.wait_for_url("**/login**", timeout=5000)


def test_an_update_in_one_tab_reaches_the_other_tabs(server: ReflexServer, context: Any) -> None:
    """The revalidate signal: after an update, the browser's other tabs refetch at once."""
    first = context.new_page()
    first.goto(server.url + "/login?callbackUrl=%2Fdashboard")
    login(first)
    first.wait_for_selector("#dashboard-heading")
    deadline = time.monotonic() + 5
    while session_cookie(context) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second = context.new_page()
    second.goto(server.url + "/")
    second.wait_for_function("document.querySelector('#who').textContent === 'Ada'")
    start = time.monotonic()
    first.fill("#name", "Ada Byron")
    first.click("#save-name")
    second.wait_for_function(
        "document.querySelector('#who').textContent === 'Ada Byron'", timeout=5000
    )
    assert time.monotonic() - start < 2.0


def test_role_page_declared_with_rx_page_is_shown_to_the_role(
    server: ReflexServer, context: Any
) -> None:
    """@rx.page above @require_auth(role=...) works like app.add_page."""
    page = context.new_page()
    page.goto(server.url + "/admin")
    assert urlsplit(page.url).path.rstrip("/") == "/login"
    login(page)  # Ada is an admin
    page.wait_for_selector("#admin-heading")
    page.click("#bump")
    page.wait_for_function("document.querySelector('#count').textContent === '1'")


def test_a_running_task_reaches_its_own_browser_and_no_socket_that_took_the_token(
    server: ReflexServer, context: Any, browser: Any
) -> None:
    """Red team F2. A background task keeps writing the victim's data after their tab has
    closed; an XSS that copied the token connects with it from another machine. Without a
    hydrate, Reflex would send it every later update. With its own browser's binding and a
    hydrate, the tab is reset and bound to it, and the task would write the victim's data into
    it, to be read at its next hydrate. Neither gets a line of the report. The victim's own
    reload still sees the task go on."""
    from .attacker import ROOT_STATE, cookie_header, run, socket_attempt

    page = context.new_page()
    page.goto(server.url + "/login")
    login(page)
    page.wait_for_selector("#home-heading")
    page.goto(server.url + "/dashboard")
    page.wait_for_selector("#dashboard-heading")
    token = page.evaluate("sessionStorage.getItem('token')")
    assert token, "the XSS reads Reflex's client token"
    # the attacker's own browser, for a binding of its own
    mallory = browser.new_context()
    mallory.new_page().goto(server.url + "/login")
    own = cookie_header(mallory)
    assert "session_bind=" in own

    def steps() -> int:
        return int(page.inner_text("#report-steps") or 0)

    page.click("#run-report")
    wait_until(lambda: steps() >= 2, "the report to start")
    assert "ada@example.com" in page.inner_text("#report-line")
    # the same browser, on a new socket (a reload keeps the token): the task still reaches it
    page.reload()
    page.wait_for_selector("#dashboard-heading")
    after_reload = steps()
    wait_until(lambda: steps() > after_reload + 2, "the report to go on after the reload")

    # the control: while the victim's socket holds the token, Reflex hands a second socket a
    # new one (so the checks below, that the attacker got none, mean something)
    early = run(socket_attempt(server.url, token, [], path="/dashboard", settle=0.5))
    assert early.new_tokens, "Reflex's duplicate-tab check did not answer"
    page.close()  # the victim's socket lets go of the token; the task runs on
    time.sleep(0.5)
    quiet = run(socket_attempt(server.url, token, [], path="/dashboard", settle=2.0))
    # hydrate, then hydrate again on the same socket after the task had time to write
    hydrate = (f"{ROOT_STATE}.hydrate", {})
    hydrated = run(socket_attempt(server.url, token, [hydrate] * 4, cookie=own, settle=1.0))
    mallory.close()
    assert quiet.connected, quiet.error
    assert hydrated.connected, hydrated.error
    # both spoke for the victim's tab (else Reflex gave them a new token: nothing to prove)
    assert quiet.new_tokens == [], "the victim's socket still held the token"
    assert hydrated.new_tokens == [], "the victim's socket still held the token"
    assert hydrated.frames, "the attacker's hydrate got no answer: the check proves nothing"
    for attempt in (quiet, hydrated):
        assert "report for" not in attempt.text(), attempt.text()[:500]
        assert "ada@example.com" not in attempt.text(), attempt.text()[:500]
        assert attempt.var("report_state", "steps") in (None, 0), attempt.text()[:500]
