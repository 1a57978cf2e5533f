"""Issue 11's proof: an XSS on any page reads all it can, and a second client uses all of it.

The attacker is a script on the demo's pages (``page.evaluate`` in the victim's real Chromium):
it reads ``sessionStorage``, ``localStorage``, ``document.cookie``, the session runtime on
``window`` and every websocket frame the page received (the state it was sent). A second client
on "another machine" (python-socketio and httpx, :mod:`.attacker`), with no cookie of the
victim's, then tries everything with that loot:

* a socket with the stolen token: Reflex's plain ``hydrate`` (no ``hydrate_and_load``), then a
  guarded handler (rename the account), the admin page's handlers (list and disable accounts),
  the store handlers (devices, sign out everywhere), and a refresh;
* the sync endpoint, polled from before the victim's login until after the logout;
* the session swap: the same with the attacker's *own* cookies from the attacker's own browser;
* all of it again after the victim signed out.

Every attempt gets nothing and changes nothing: no frame carries the victim's email, name or
role, the database is unchanged, the victim stays signed in (and is signed out when they choose),
and no response sets a cookie for the victim's session. The demo runs on one worker (SQLite) and
on two granian workers with Reflex's Redis states, each in store mode and in cookie mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session

from reflex_session import ReflexSession
from reflex_session.reflex import DevicesState

from .attacker import ROOT_STATE, cookie_header, run, socket_attempt, sync_attempt
from .conftest import SECRET, settled, wait_until
from .demo_server import DemoServer
from .test_demo import (
    PASSWORD,
    create_user,
    find_user,
    serve,
    session_cookie,
    sign_in,
    unique_email,
    user_model,
)

pytestmark = pytest.mark.e2e

CONFIGS = [("sqlite", "store"), ("sqlite", "cookie"), ("workers", "store"), ("workers", "cookie")]
FOREIGN = "https://evil.example"

#: What page JavaScript can read, gathered the way an injected script would.
LOOT_JS = """
() => {
  const dump = (s) => { const o = {}; for (let i = 0; i < s.length; i++) {
    const k = s.key(i); o[k] = s.getItem(k); } return o; };
  const rs = window.__reflexSession || {};
  const runtime = {};
  for (const [k, v] of Object.entries(rs)) {
    if (['string', 'number', 'boolean'].includes(typeof v)) runtime[k] = v;
  }
  return { session: dump(sessionStorage), local: dump(localStorage),
           cookie: document.cookie, runtime, token: sessionStorage.getItem('token') };
}
"""


@pytest.fixture(scope="module", params=CONFIGS, ids=[f"{b}-{m}" for b, m in CONFIGS])
def xss_demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    backend, mode = request.param
    yield from serve(tmp_path_factory, backend, f"xss-{backend}-{mode}", DEMO_SESSION_MODE=mode)


def names(frames_text: str) -> dict[str, str]:
    """Full state names by their last part (``profile_state``), from the frames the page got."""
    found: dict[str, str] = {}
    for name in re.findall(ROOT_STATE + r"(?:\.[A-Za-z0-9_]+)*", frames_text):
        found.setdefault(name.rsplit(".", 1)[-1].rsplit("____", 1)[-1], name)
    return found


def session_set_cookies(headers: list[str]) -> list[str]:
    """The ``Set-Cookie`` headers of the session cookie (a fresh binding cookie for the
    attacker's own cookieless client is expected, and worth nothing)."""
    return [h for h in headers if h.split("=", 1)[0].strip() in ("session", "__Host-session")]


def leaks(text: str, *secrets: str) -> list[str]:
    return [s for s in secrets if s and s.lower() in text.lower()]


class Poller(threading.Thread):
    """The attacker polling the sync endpoint with the stolen token, every 100 ms."""

    def __init__(self, url: str, token: str, own_cookie: str | None, extra: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.own_cookie, self.extra = url, token, own_cookie, extra
        self.answers: list[tuple[int, list[str]]] = []
        self.done = threading.Event()

    def run(self) -> None:
        async def loop() -> None:
            while not self.done.is_set():
                for cookie, origin in ((None, None), (None, FOREIGN), (self.own_cookie, None)):
                    response = await sync_attempt(
                        self.url, self.token, cookie=cookie, origin=origin, extra=self.extra
                    )
                    self.answers.append(
                        (response.status_code, response.headers.get_list("set-cookie"))
                    )
                await asyncio.sleep(0.1)

        asyncio.run(loop())


def test_an_xss_cannot_act_as_the_user_from_another_machine(
    xss_demo: DemoServer, browser: Any
) -> None:
    demo = xss_demo
    store_mode = demo.settings["DEMO_SESSION_MODE"] == "store"
    email = unique_email("victim")
    create_user(demo, email, "Vic Tim")
    with Session(demo.engine()) as db:  # the victim is an admin: the worst case
        user = db.get(user_model(), find_user(demo, email).id)
        user.role = "admin"
        db.add(user)
        db.commit()

    # the attacker's own browser and account, for the session swap
    mallory = browser.new_context()
    mallory_page = mallory.new_page()
    mallory_email = unique_email("mallory")
    create_user(demo, mallory_email, "Mal Lory")
    mallory_page.goto(demo.url + "/login")
    sign_in(mallory_page, mallory_email, PASSWORD)
    wait_until(lambda: session_cookie(mallory), "mallory's cookie")
    own = cookie_header(mallory)

    # the victim opens a public page with the XSS on it
    victim = browser.new_context()
    frames: list[str] = []
    page = victim.new_page()
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    page.goto(demo.url + "/login?callbackUrl=%2Fadmin")
    page.wait_for_selector("#login-email")
    page.wait_for_function(
        "!!sessionStorage.getItem('token') && !!window.__reflexSession"
        " && !!(window.__reflexSession.seq || window.__reflexSession.nonce)"
    )
    loot = page.evaluate(LOOT_JS)
    token = loot["token"]
    assert token, "the XSS reads Reflex's client token"
    assert "session" not in loot["cookie"], "HttpOnly cookies are not readable"

    # everything else the page exposed goes along (older versions kept a sync nonce on window)
    extra = {"nonce": loot["runtime"]["nonce"]} if loot["runtime"].get("nonce") else {}
    poller = Poller(demo.url, token, own, extra)
    poller.start()
    reached = False
    try:
        sign_in(page, email, PASSWORD)
        with contextlib.suppress(Exception):  # judged below, after what the attacker got
            page.wait_for_selector("#admin-heading", timeout=15000)
            reached = True
        time.sleep(1.0)  # the attacker keeps polling after the login
    finally:
        poller.done.set()
        poller.join(15)
    assert poller.answers, "the poller ran"
    stolen = [(status, session_set_cookies(c)) for status, c in poller.answers if status != 403]
    assert stolen == [], f"the attacker's sync was served: {stolen[:3]}"
    assert reached, "the victim did not reach the page they signed in for"
    victim_cookie = wait_until(lambda: session_cookie(victim), "the victim's cookie")
    assert session_cookie(victim) == victim_cookie, "the victim kept their cookie"

    # everything the page can read once signed in
    loot_after = page.evaluate(LOOT_JS)
    assert loot_after["token"] == token
    seen = "\n".join(frames)
    full = names(seen)
    assert {"admin_state", "session_state"} <= set(full), sorted(full)
    # a state the page has not used yet is named in the page's JavaScript bundle all the same
    full.setdefault("profile_state", full["admin_state"].replace("admin_state", "profile_state"))
    profile, admin_state, session_state = (
        full["profile_state"],
        full["admin_state"],
        full["session_state"],
    )
    devices_state = DevicesState.get_full_name()

    # the victim's socket lets go of the token: the XSS swaps it and reloads
    page.evaluate("sessionStorage.setItem('token', crypto.randomUUID())")
    page.reload()
    page.wait_for_selector("#admin-heading")

    everything = [
        (f"{ROOT_STATE}.hydrate", {}),
        (f"{profile}.set_name", {"value": "PWNED"}),
        (f"{profile}.save", {}),
        (f"{admin_state}.load", {}),
        (
            f"{admin_state}.toggle",
            {"user_id": str(find_user(demo, mallory_email).id), "disabled": True},
        ),
        (f"{devices_state}.load_devices", {}),
        (f"{session_state}.refresh", {}),
        (f"{devices_state}.sign_out_everywhere", {"keep_this_device": False}),
        (f"{ROOT_STATE}.hydrate_and_load", {}),
    ]
    secrets = [email, "Vic Tim", mallory_email]
    reader = ReflexSession(secret_key=SECRET)

    def attack_everything(phase: str) -> None:
        attempts = [
            run(socket_attempt(demo.url, token, everything, path="/admin")),
            run(socket_attempt(demo.url, token, everything, path="/admin", origin=FOREIGN)),
            run(socket_attempt(demo.url, token, everything, path="/admin", cookie=own)),
        ]
        bare, foreign, swapped = attempts
        assert bare.connected, f"{phase}: {bare.error}"
        assert bare.var("session_state", "status") != "authenticated", f"{phase}: signed in"
        assert not foreign.connected or foreign.frames == [], f"{phase}: cross-site socket"
        for attempt in attempts:
            assert leaks(attempt.text(), *secrets[:2]) == [], f"{phase}: the victim leaked"
            assert attempt.var("admin_state", "users") in (None, []), f"{phase}: admin list"
        assert swapped.var("session_state", "status") in (None, "authenticated", "unauthenticated")
        if swapped.frames:
            assert leaks(swapped.text(), email) == [], f"{phase}: swap showed the victim"
        for cookie, origin in ((None, None), (None, FOREIGN)):
            response = run(sync_attempt(demo.url, token, cookie=cookie, origin=origin, extra=extra))
            assert response.status_code == 403, (phase, cookie, origin, response.text)
            assert session_set_cookies(response.headers.get_list("set-cookie")) == []
            assert leaks(response.text, *secrets) == []
        # with their own cookies the attacker's sync may work, on the tab their own socket just
        # took over and reset: it can only ever concern the attacker's own session
        response = run(sync_attempt(demo.url, token, cookie=own, extra=extra))
        assert response.status_code in (200, 403), response.text
        assert leaks(response.text, *secrets[:2]) == []
        for header in session_set_cookies(response.headers.get_list("set-cookie")):
            value = header.split(";", 1)[0].split("=", 1)[1]
            if "max-age=0" in header.lower():
                continue
            assert value != victim_cookie["value"]
            if not store_mode:  # the whole session is in the cookie: read whose it is
                assert reader.decrypt_session(value).user.email == mallory_email
        # nothing changed: the account, the other account, the victim's session
        assert find_user(demo, email).name == "Vic Tim", f"{phase}: renamed"
        assert not find_user(demo, mallory_email).disabled, f"{phase}: disabled an account"

    attack_everything("signed in")
    page.goto(demo.url + "/profile")
    page.wait_for_selector("#user-menu-trigger")
    assert page.inner_text("#user-menu-trigger").strip(), "the victim is still signed in"
    assert session_cookie(victim) is not None
    if store_mode:  # the victim's session is still live in the store
        page.goto(demo.url + "/devices")
        page.wait_for_function("document.querySelectorAll('.device').length >= 1")

    # the victim signs out; the attacker tries it all again
    page.click("#user-menu-trigger")
    page.click("#user-menu-logout")
    wait_until(lambda: session_cookie(victim) is None, "the victim's cookie to be cleared")
    attack_everything("after logout")
    replay = browser.new_context()
    replay.add_cookies([victim_cookie])
    replay_page = replay.new_page()
    replay_page.goto(demo.url + "/admin")
    if store_mode:
        assert replay_page.url.split("?")[0].rstrip("/").endswith("/login")
    json.dumps(loot)  # the loot is plain data an attacker could carry anywhere
    for context in (victim, mallory, replay):
        context.close()


def test_a_binding_planted_by_the_xss_buys_nothing(xss_demo: DemoServer, browser: Any) -> None:
    """The red team's way around the binding: the XSS *adds* a binding cookie of its own, on a
    longer path so the browser sends it first, and keeps the value. Once the script is gone the
    page removes the planted cookie by itself. While the script stays (it plants again after
    every load), the victim signs in and the attacker, holding the token and the planted value,
    polls the sync endpoint and drives the tab from its own socket without a hydrate: it gets no
    cookie, no data, and changes nothing."""
    demo = xss_demo
    known = secrets.token_urlsafe(32)
    plant = "k => { document.cookie = 'session_bind=' + k + '; path=/_event'; }"
    email = unique_email("planted")
    create_user(demo, email, "Plan Ted")
    victim = browser.new_context()
    page = victim.new_page()
    page.goto(demo.url + "/login?callbackUrl=%2Fprofile")
    page.wait_for_function("!!sessionStorage.getItem('token') && !!window.__reflexSession")
    settled(page, "!!sessionStorage.getItem('token') && !!window.__reflexSession")
    page.evaluate(plant, known)
    page.reload()

    # the script is gone: the page found the planted cookie (ours are HttpOnly) and removed it
    def cookie_gone() -> bool:
        try:  # the page reloads itself once it removed the cookie
            page.wait_for_function("!!window.__reflexSession", timeout=5000)
            return "session_bind" not in page.evaluate("document.cookie")
        except Exception:
            return False

    wait_until(cookie_gone, "the planted binding to be removed by the page", timeout=20)
    # the removal reloads the page once: reloading again while that one is under way aborts it
    settled(page)
    # the script again (say, a stored XSS on this page): planted after every load
    victim.add_init_script(f"document.cookie = 'session_bind={known}; path=/_event';")
    page.reload()
    # the runtime may reload once more (it finds the planted cookie, or its sync finds the tab
    # unbound): sign in only on the page that stays
    settled(page, "!!sessionStorage.getItem('token') && !!window.__reflexSession")
    token = page.evaluate("sessionStorage.getItem('token')")
    planted = f"session_bind={known}"
    poller = Poller(demo.url, token, planted, {})
    poller.start()
    try:
        sign_in(page, email, PASSWORD)
        time.sleep(3.0)
    finally:
        poller.done.set()
        poller.join(15)
    stolen = [(s, session_set_cookies(c)) for s, c in poller.answers if session_set_cookies(c)]
    assert stolen == [], f"the attacker collected a session cookie: {stolen[:2]}"
    assert {s for s, _ in poller.answers} <= {403}, poller.answers[:5]
    session_state = "reflex___state____state.reflex_session___reflex___state____session_state"
    profile = session_state + ".demo___demo____profile_state"
    attempt = run(
        socket_attempt(
            demo.url,
            token,
            [
                (f"{profile}.set_name", {"value": "PWNED"}),
                (f"{profile}.save", {}),
                (f"{DevicesState.get_full_name()}.load_devices", {}),
            ],
            cookie=planted,
            path="/profile",
        )
    )
    assert leaks(attempt.text(), email, "Plan Ted") == []
    assert attempt.var("session_state", "status") != "authenticated"
    assert find_user(demo, email).name == "Plan Ted"
    victim.close()
