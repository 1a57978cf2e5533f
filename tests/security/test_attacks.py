"""Attacks on the session beyond the token itself: fixation, replay, cross-site writes, injection.

``test_advisories.py`` covers the known attacks on the JWE cookie (headers, framing, claims,
keys), cookie shadowing, CRLF in the cookie, open redirects and cross-site requests to the
session API. This module covers what an attacker does *with* cookies and requests, through the
HTTP layer (raw ASGI, as a server would call it) and the Reflex layer's sync endpoint:

* **Session fixation** (CWE-384; OWASP Session Management Cheat Sheet "Renew the Session ID
  After Any Privilege Level Change"): an attacker plants a cookie in the victim's browser — their
  own signed-in session, a pre-login visitor session with data and a CSRF token, a session id that
  was never issued, a forged cookie — and waits for the victim to log in. The victim must end up
  with a new id, and the planted cookie must never become the victim's session.
* **Replay after logout** (CWE-613; ASVS 5.0 7.4.1): a cookie copied before logout, or before
  "sign out everywhere", is refused after it, and cannot be revived by a refresh, an update, the
  sync operations or the data verbs. Plain cookie mode cannot refuse a replay (SECURITY.md, "What
  is not protected"): one test pins exactly that limit.
* **Cross-site writes** (CWE-352) on the sync endpoint and through the store-mode CSRF token
  verbs; ``Origin``/``Referer``/``Sec-Fetch-Site`` variants not in ``TestCrossSite``.
* **Header injection through cookies** (CWE-113, CWE-20): separators, quotes, NUL, non-latin-1
  bytes, huge values and headers, many and duplicate cookies — never a 5xx, never echoed into a
  ``Set-Cookie`` or ``Location``.

The last class proves that the end-to-end secret scan (``tests/e2e/conftest.py``) can fail.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import reflex as rx
from reflex.istate.manager.memory import StateManagerMemory
from reflex_base import constants
from sec_helpers import (
    OTHER_SECRET,
    PAGE_BODY,
    SECRET,
    Forge,
    RawResponse,
    build_auth,
    build_revocation_auth,
    build_store_auth,
    call_asgi,
    clock_fixture,
    our_cookie,
    page_app,
    same_origin,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from testkit import BIND, OTHER_BIND

from reflex_session import ReflexSession
from reflex_session.backends.store import DATA_SUFFIX, StoreBackend
from reflex_session.http.common import jar_for_scope
from reflex_session.keys import derive_key
from reflex_session.reflex import SessionState
from reflex_session.reflex.runtime import ClientOptions, set_runtime
from reflex_session.reflex.sync import SyncEndpoint, apply_operations
from reflex_session.reflex.tab import presented_binding
from reflex_session.testing import FakeClock

FIXTURES = (clock_fixture,)  # used by name

VICTIM = {"id": "victim", "email": "victim@example.com", "name": "Victim", "role": "user"}
MALLORY = {"id": "mallory", "email": "mallory@example.com", "name": "Mallory", "role": "user"}
MODES = ["cookie", "revocation", "store"]
BUILDERS: dict[str, Callable[..., ReflexSession[Any]]] = {
    "cookie": build_auth,
    "revocation": build_revocation_auth,
    "store": build_store_auth,
}


# --------------------------------------------------------------------------------------------
# An app around the library: a login form, a visitor page with data and a CSRF token, the API
# --------------------------------------------------------------------------------------------


def with_cookies(response: Response, jar: Any) -> Response:
    for header in jar.set_cookie_headers:
        response.raw_headers.append((b"set-cookie", header.encode("latin-1")))
    return response


def site(auth: ReflexSession[Any]) -> Any:
    """What an app does with the library: ``POST /login`` (the user in the JSON body, as if
    the password had been checked) calls ``create_session`` on the request's cookie jar;
    ``POST /visit`` (store mode) gives an anonymous visitor a cart and a CSRF token; the session
    API answers at ``/api/session`` (as ``install`` wires it) and every other path is a page
    behind the page guard."""
    api = auth.handlers()
    pages = auth.middleware(page_app)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        path = scope["path"]
        if path.startswith("/api/session"):
            await api(scope, receive, send)
            return
        if path not in ("/login", "/visit") or scope["method"] != "POST":
            await pages(scope, receive, send)
            return
        request = Request(scope, receive)
        jar = jar_for_scope(auth, scope)
        if path == "/login":
            await auth.create_session(jar, await request.json())
            response = JSONResponse({"ok": True})
        else:
            await auth.data.set(jar, {"cart": {"planted-by": "mallory"}})
            response = JSONResponse({"csrf": await auth.data.new_csrf_token(jar)})
        await with_cookies(response, jar)(scope, receive, send)

    return app


async def request(
    app: Any,
    method: str,
    path: str,
    cookie: str | None = None,
    *,
    body: Any = None,
    headers: dict[str, str | None] | None = None,
) -> RawResponse:
    merged = {**same_origin(), **(headers or {})}
    sent = [(k.encode(), v.encode()) for k, v in merged.items() if v is not None]
    if cookie is not None:
        sent.append((b"cookie", f"session={cookie}".encode()))
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        sent.append((b"content-type", b"application/json"))
    return await call_asgi(app, method, path, headers=sent, body=data)


async def who(app: Any, cookie: str | None) -> str | None:
    """The user id ``GET /api/session`` shows for ``cookie`` (``None``: unauthenticated)."""
    response = await request(app, "GET", "/api/session", cookie)
    assert response.status == 200, response.body
    body = response.json()
    if body["session"] is None:
        assert body["status"] == "unauthenticated"
        return None
    return str(body["session"]["user"]["id"])


async def log_in(app: Any, user: dict[str, Any], cookie: str | None = None) -> str:
    response = await request(app, "POST", "/login", cookie, body=user)
    assert response.status == 200, response.body
    value = our_cookie(response)
    assert value, "the login set no cookie"
    return value


def session_id(auth: ReflexSession[Any], cookie: str) -> str | None:
    """The session id a cookie names (cookie mode: the sealed ``jti``; store mode: the id)."""
    if isinstance(auth.backend, StoreBackend):
        sid, _ = auth.backend.sid_of(auth.jar(f"session={cookie}"))
        return sid
    session = auth.decrypt_session(cookie)
    return session.id if session else None


# --------------------------------------------------------------------------------------------
# Session fixation
# --------------------------------------------------------------------------------------------

PLANTED = ["attacker-session", "visitor-with-data", "never-issued-id", "forged"]


async def plant(kind: str, auth: ReflexSession[Any], app: Any, forge: Forge) -> dict[str, Any]:
    """The cookie the attacker plants (cookie tossing from a sibling subdomain, an XSS on a
    sibling, a shared computer), with what the attacker keeps of it."""
    now = int(forge.clock.time())
    if kind == "attacker-session":
        return {"cookie": await log_in(app, MALLORY)}
    if kind == "visitor-with-data":
        if not isinstance(auth.backend, StoreBackend):
            # cookie mode has no visitor sessions: the nearest is a session of the attacker's
            return {"cookie": await log_in(app, MALLORY)}
        response = await request(app, "POST", "/visit")
        cookie = our_cookie(response)
        assert cookie
        return {"cookie": cookie, "csrf": response.json()["csrf"]}
    if kind == "never-issued-id":
        # validly sealed with an id the attacker chose: what a leaked secret or a peer service
        # holding it could make. It must still not become the victim's session id.
        if isinstance(auth.backend, StoreBackend):
            claims = {"jti": "attacker-chosen-id-0000001", "iat": now, "exp": now + 3600}
        else:
            claims = forge.claims(jti="attacker-chosen-id-0000001", user=dict(MALLORY))
        return {"cookie": forge.seal(claims), "sid": "attacker-chosen-id-0000001"}
    # forged without the key: our kid, another key
    claims = forge.claims(jti="attacker-chosen-id-0000002", user=dict(VICTIM))
    return {"cookie": forge.seal(claims, key=derive_key(OTHER_SECRET))}


class TestSessionFixation:
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("kind", PLANTED)
    async def test_planted_cookie_never_becomes_the_victims_session(
        self, clock: FakeClock, mode: str, kind: str
    ) -> None:
        """The victim logs in through the app's login form while the attacker's cookie is in
        their browser: the login issues a new session id, the victim's cookie is a new value,
        and neither the planted cookie nor the attacker's copy of it is ever the victim's
        session — not right after the login, not after the victim's next refresh. In store mode
        the planted session (with its data and CSRF tokens) is destroyed: the attacker's copy is
        unauthenticated and opens nothing."""
        auth = BUILDERS[mode](clock)
        app = site(auth)
        planted = await plant(kind, auth, app, Forge(clock))
        planted_cookie = planted["cookie"]
        planted_sid = session_id(auth, planted_cookie) or planted.get("sid")
        attacker_before = await who(app, planted_cookie)
        assert attacker_before in (None, "mallory")

        victim_cookie = await log_in(app, VICTIM, planted_cookie)
        assert victim_cookie != planted_cookie
        victim_sid = session_id(auth, victim_cookie)
        assert victim_sid is not None
        assert victim_sid != planted_sid, "the login kept the planted session id"
        assert await who(app, victim_cookie) == "victim"

        clock.advance(700)  # past the refresh threshold: the victim's session is re-issued
        refreshed = await request(app, "POST", "/api/session", victim_cookie)
        assert refreshed.status == 200
        assert session_id(auth, our_cookie(refreshed) or victim_cookie) == victim_sid
        attacker_after = await who(app, planted_cookie)
        assert attacker_after != "victim", "the planted cookie became the victim's session"
        if isinstance(auth.backend, StoreBackend):
            assert attacker_after is None, "store mode: the planted session must be destroyed"
            if planted_sid is not None:
                assert await auth.config.store.get(planted_sid) is None
                assert await auth.config.store.get(planted_sid + DATA_SUFFIX) is None
            assert [s.sid for s in await auth.devices.list_sessions("victim")] == [victim_sid]
            assert await auth.data.get(auth.jar(f"session={planted_cookie}")) is None
            if kind == "visitor-with-data":
                # by design (README "Store mode"), a visitor's data follows them into the login;
                # so whatever the attacker put there does too: apps must not trust it
                victim_data = await auth.data.get(auth.jar(f"session={victim_cookie}"))
                assert victim_data == {"cart": {"planted-by": "mallory"}}
            if "csrf" in planted:  # the visitor's CSRF token does not follow into the login
                for cookie in (victim_cookie, planted_cookie):
                    jar = auth.jar(f"session={cookie}")
                    assert await auth.data.validate_csrf_token(jar, planted["csrf"]) is False
        else:
            assert attacker_after == attacker_before, "cookie mode: the planted cookie changed"

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("kind", PLANTED)
    async def test_sync_login_over_a_planted_cookie_issues_a_new_id(
        self, clock: FakeClock, mode: str, kind: str, reflex_app: Any
    ) -> None:
        """The same attack on the Reflex layer: the victim's tab calls ``SessionState.login``
        (the login is queued in the tab's server-side state) and the client runtime's
        ``POST /api/session/sync`` carries the planted cookie. The login operation writes a new
        session with a new id, the planted cookie is not the victim's session, and in store mode
        the planted session is destroyed."""
        auth = BUILDERS[mode](clock)
        app = site(auth)
        planted = await plant(kind, auth, app, Forge(clock))
        planted_cookie = planted["cookie"]
        planted_sid = session_id(auth, planted_cookie) or planted.get("sid")
        state = reflex_app.tab(auth, "victim-tab")
        queued = state.login(VICTIM)
        assert queued.id != planted_sid
        response = await reflex_app.sync(auth, "victim-tab", planted_cookie)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "authenticated", "changed": True}
        victim_cookie = our_cookie(response)
        assert victim_cookie
        assert victim_cookie != planted_cookie
        assert session_id(auth, victim_cookie) == queued.id
        assert await who(app, victim_cookie) == "victim"
        assert await who(app, planted_cookie) != "victim"
        if isinstance(auth.backend, StoreBackend):
            assert await who(app, planted_cookie) is None
            if planted_sid is not None:
                assert await auth.config.store.get(planted_sid) is None
        assert state.status == "authenticated"
        assert state._pending == ()


# --------------------------------------------------------------------------------------------
# The Reflex layer without a server (as tests/reflex_layer/test_reflex_state.py builds it)
# --------------------------------------------------------------------------------------------


class ReflexHarness:
    """Tabs' root states and ``modify_state``: what the sync endpoint needs from ``rx.App``."""

    def __init__(self) -> None:
        self._unevaluated_pages: dict[str, Any] = {}
        self.roots: dict[str, Any] = {}
        self.state_manager = StateManagerMemory(states=self.roots)

    @contextlib.asynccontextmanager
    async def modify_state(self, token: Any) -> AsyncIterator[Any]:
        yield self.roots.setdefault(token.ident, self.root(token.ident))

    def root(self, client_token: str) -> Any:
        root = rx.State(_reflex_internal_init=True)
        data = {
            constants.RouteVar.PATH: "/login",
            constants.RouteVar.ORIGIN: "/login",
            constants.RouteVar.HEADERS: {
                "origin": "http://testserver",
                "host": "testserver",
                "user-agent": "pytest",
                "cookie": f"session_bind={BIND}",
            },
            constants.RouteVar.CLIENT_TOKEN: client_token,
        }
        root.router_data = root._update_router_vars(data, root.router_data or {})
        return root

    def tab(self, auth: ReflexSession[Any], client_token: str) -> Any:
        """The victim's tab, bound to the victim's browser (binding ``BIND``)."""
        set_runtime(self, auth, ClientOptions())  # type: ignore[arg-type]
        root = self.roots.setdefault(client_token, self.root(client_token))
        state = root.get_substate(SessionState.get_full_name().split(".")[1:])
        state.bind_to(presented_binding(root))
        return state

    async def sync(
        self,
        auth: ReflexSession[Any],
        client_token: Any,
        cookie: str | None = None,
        headers: dict[str, str | None] | None = None,
        method: str = "POST",
        bind: str | None = BIND,
    ) -> httpx.Response:
        """``POST /api/session/sync`` from the browser holding the binding ``bind``."""
        set_runtime(self, auth, ClientOptions())  # type: ignore[arg-type]
        merged = {**same_origin(), **(headers or {})}
        sent = {k: v for k, v in merged.items() if v is not None}
        jar = [f"session_bind={bind}"] if bind is not None else []
        if cookie is not None:
            jar.append(f"session={cookie}")
        if jar:
            sent["cookie"] = "; ".join(jar)
        transport = httpx.ASGITransport(app=SyncEndpoint(auth))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            root = self.roots.get(client_token) if isinstance(client_token, str) else None
            proof = sub_session(root)._login_proof if root is not None else ""
            body: dict[str, Any] = {"token": client_token}
            if proof:  # what the page sends when its socket signed in
                body["proof"] = proof
            content = None if method == "GET" else json.dumps(body)
            return await client.request(method, "/api/session/sync", headers=sent, content=content)


def sub_session(root: Any) -> Any:
    return root.get_substate(SessionState.get_full_name().split(".")[1:])


@pytest.fixture
def reflex_app() -> ReflexHarness:
    return ReflexHarness()


# --------------------------------------------------------------------------------------------
# Replay after logout
# --------------------------------------------------------------------------------------------


async def assert_refused_everywhere(
    auth: ReflexSession[Any], app: Any, cookie: str, label: str
) -> None:
    """A replayed cookie is unauthenticated for every verb and the page guard, is cleared
    where it is read, and nothing re-issues it."""
    response = await request(app, "GET", "/api/session", cookie)
    assert response.status == 200, label
    assert response.json()["session"] is None, f"{label}: GET still shows a session"
    assert our_cookie(response) == "", f"{label}: GET did not clear the replayed cookie"
    for method, body in (("POST", None), ("PATCH", {"user": {"name": "revived"}})):
        response = await request(app, method, "/api/session", cookie, body=body)
        assert response.status == 401, f"{label}: {method} -> {response.status}"
        assert our_cookie(response) in ("", None), f"{label}: {method} re-issued the cookie"
    response = await request(app, "GET", "/dashboard", cookie)
    assert response.status == 307, f"{label}: the page guard let the replay in"
    assert response.body != PAGE_BODY
    assert response.get_all("location") == ["/login?callbackUrl=%2Fdashboard&reason=loginRequired"]
    # the Reflex layer's queued operations, applied to the replayed cookie
    for ops in ([{"op": "refresh", "at": 0}], [{"op": "pull", "at": 0}]):
        jar = auth.jar(f"session={cookie}")
        assert await apply_operations(auth, jar, ops) is None, f"{label}: sync {ops[0]['op']}"
        assert jar.read() is None, f"{label}: sync {ops[0]['op']} wrote a cookie"
    session = auth.decrypt_session(cookie)
    if session is not None:  # cookie mode: the seal is intact, the revocation refuses it
        update = [{"op": "update", "at": 0, "session_id": session.id, "user": {"name": "x"}}]
        assert await apply_operations(auth, auth.jar(f"session={cookie}"), update) is None
        assert not await auth.is_live(session)


REVOCABLE = ["revocation", "store"]


class TestReplayAfterLogout:
    @pytest.mark.parametrize("mode", REVOCABLE)
    async def test_cookie_copied_before_logout_is_refused_after_it(
        self, clock: FakeClock, mode: str
    ) -> None:
        """A thief copies the cookie, and also keeps a re-issued descendant of it (a refresh
        made with the copy). The user logs out (``DELETE /api/session``). Both replays are
        unauthenticated and cleared for every verb, the page guard, and the sync operations
        (store mode: the session was destroyed; cookie mode with ``revocation_store``: its id is
        denied, whichever cookie value carries it)."""
        auth = BUILDERS[mode](clock)
        app = site(auth)
        copied = await log_in(app, VICTIM)
        clock.advance(700)
        response = await request(app, "POST", "/api/session", copied)
        descendant = our_cookie(response)
        assert descendant
        assert descendant != copied
        assert await who(app, copied) == "victim"
        logout = await request(app, "DELETE", "/api/session", descendant)
        assert logout.status == 200
        assert our_cookie(logout) == ""
        for label, cookie in (("copied", copied), ("descendant", descendant)):
            await assert_refused_everywhere(auth, app, cookie, label)
        # and the user can sign in again: the refusal is of that session, not of the user
        assert await who(app, await log_in(app, VICTIM)) == "victim"

    @pytest.mark.parametrize("mode", REVOCABLE)
    async def test_sign_out_everywhere_refuses_every_captured_cookie(
        self, clock: FakeClock, mode: str
    ) -> None:
        """Three devices and a thief's refreshed copy; then ``end_user_sessions`` ("sign out
        everywhere", after a password change). Every captured cookie of that user is refused;
        another user's session and a login made afterwards are not touched."""
        auth = BUILDERS[mode](clock)
        app = site(auth)
        devices = [await log_in(app, VICTIM) for _ in range(3)]
        bystander = await log_in(app, MALLORY)
        clock.advance(700)
        stolen = our_cookie(await request(app, "POST", "/api/session", devices[0]))
        assert stolen
        clock.advance(1)
        ended = await auth.revocations.end_user_sessions("victim")
        assert ended == (3 if mode == "store" else 0)  # cookie mode cannot count them
        for index, cookie in enumerate([*devices, stolen]):
            await assert_refused_everywhere(auth, app, cookie, f"captured #{index}")
        assert await who(app, bystander) == "mallory"
        clock.advance(1)
        assert await who(app, await log_in(app, VICTIM)) == "victim"

    @pytest.mark.parametrize("mode", REVOCABLE)
    async def test_ended_session_cannot_be_revived(self, clock: FakeClock, mode: str) -> None:
        """After an admin ends a session (``end_session``), nothing the holder of its cookie
        can do brings it back: refresh, update, the automatic re-issue past the threshold, the
        sync operations, and in store mode the data and CSRF verbs, which may start an
        *anonymous* data record under the old id but never a signed-in session."""
        auth = BUILDERS[mode](clock)
        app = site(auth)
        cookie = await log_in(app, VICTIM)
        sid = session_id(auth, cookie)
        assert sid is not None
        await auth.revocations.end_session(sid, user_id="victim")
        await assert_refused_everywhere(auth, app, cookie, "ended")
        clock.advance(700)  # past the refresh threshold: a read would re-issue a live session
        await assert_refused_everywhere(auth, app, cookie, "ended, later")
        if isinstance(auth.backend, StoreBackend):
            jar = auth.jar(f"session={cookie}")
            await auth.data.set(jar, {"revive": True})
            token = await auth.data.new_csrf_token(auth.jar(f"session={cookie}"))
            assert await auth.data.validate_csrf_token(auth.jar(f"session={cookie}"), token)
            assert await auth.config.store.get(sid) is None, "the session record came back"
            assert await who(app, cookie) is None
            assert await auth.get_session(auth.jar(f"session={cookie}")) is None
            assert await auth.devices.list_sessions("victim") == []

    async def test_plain_cookie_mode_replay_limit_is_exactly_exp_and_the_key(
        self, clock: FakeClock
    ) -> None:
        """The documented limit of plain cookie mode (SECURITY.md "What is not protected":
        "Plain cookie mode cannot take a cookie back"), pinned so that any change is noticed:

        * after logout, a copied cookie still opens the session (nothing can refuse it);
        * the copy itself works until its ``exp`` and not a second after;
        * whoever holds it can refresh it into new cookies, but the chain never passes the
          absolute limit (``createdAt + max_lifetime``);
        * a secret rotation that drops the old secret ends the copy and every descendant at
          once (while the old secret is still listed as previous, it is accepted)."""
        auth = build_auth(clock, max_lifetime=3 * 3600)
        app = site(auth)
        copied = await log_in(app, VICTIM)
        issued = auth.decrypt_session(copied)
        assert issued is not None
        logout = await request(app, "DELETE", "/api/session", copied)
        assert our_cookie(logout) == ""
        assert await who(app, copied) == "victim", "plain cookie mode now refuses a replay"
        clock.advance(3599)  # one second before the copy's exp
        assert auth.decrypt_session(copied) is not None
        clock.advance(1)  # exp
        assert auth.decrypt_session(copied) is None
        assert await who(app, copied) is None

        clock.advance(60)
        start = await log_in(app, VICTIM)
        created = auth.decrypt_session(start)
        assert created is not None
        limit = created.created_at + 3 * 3600 * 1000
        await request(app, "DELETE", "/api/session", start)  # the user logs out at once
        chain, current = [start], start
        for _ in range(6):  # the thief refreshes every 50 minutes
            clock.advance(3000)
            response = await request(app, "POST", "/api/session", current)
            fresh = our_cookie(response)
            if response.status != 200 or not fresh:
                break
            session = auth.decrypt_session(fresh)
            assert session is not None
            assert session.expires_at <= limit
            chain.append(fresh)
            current = fresh
        assert len(chain) >= 3, "the thief's refreshes did not work: the pin is stale"
        clock.set(limit / 1000)
        for cookie in chain:
            assert await who(app, cookie) is None, "a refreshed copy outlived max_lifetime"

        clock.advance(60)
        old_secret_cookie = await log_in(app, VICTIM)
        rotating = build_auth(clock, secret_key=OTHER_SECRET, previous_secret_keys=[SECRET])
        assert await who(site(rotating), old_secret_cookie) == "victim"
        rotated = build_auth(clock, secret_key=OTHER_SECRET)
        assert await who(site(rotated), old_secret_cookie) is None


# --------------------------------------------------------------------------------------------
# Cross-site writes: the sync endpoint, the session API's remaining variants, CSRF tokens
# --------------------------------------------------------------------------------------------

#: Header sets a browser (or a forged request from another site) sends, none of them ours.
#: ``TestCrossSite`` covers the basic ones on the session API; these add ports, userinfo,
#: case, ``Sec-Fetch-Site: none`` with a foreign Origin, and a ``Referer`` that claims to be us.
CROSS_SITE_VARIANTS = [
    pytest.param({"origin": "https://evil.example"}, id="origin-other"),
    pytest.param({"origin": "null"}, id="origin-null"),
    pytest.param({"origin": "http://testserver:8080"}, id="origin-other-port"),
    pytest.param({"origin": "http://testserver@evil.example"}, id="origin-userinfo"),
    pytest.param({"origin": "http://testserver.evil.example"}, id="origin-suffix"),
    pytest.param({"origin": "http://evil-testserver"}, id="origin-prefix"),
    pytest.param({"origin": "HTTP://TESTSERVER"}, id="origin-case"),
    pytest.param({"origin": "http://testserver/ "}, id="origin-trailing-space"),
    pytest.param({"origin": "https://testserver"}, id="origin-other-scheme"),
    pytest.param({"sec-fetch-site": "cross-site"}, id="fetch-cross-site"),
    pytest.param({"sec-fetch-site": "same-site"}, id="fetch-same-site-no-origin"),
    pytest.param({"sec-fetch-site": "Same-Origin"}, id="fetch-site-case"),
    pytest.param({"sec-fetch-site": "none", "origin": "https://evil.example"}, id="fetch-none"),
    pytest.param(
        {"sec-fetch-site": "cross-site", "referer": "http://testserver/dashboard"},
        id="fetch-cross-referer-ours",
    ),
    pytest.param(
        {"origin": "https://evil.example", "referer": "http://testserver/dashboard"},
        id="origin-other-referer-ours",
    ),
]

#: Requests that are ours (or not from a browser page at all): the control group.
SAME_SITE_VARIANTS = [
    pytest.param({"origin": "http://testserver"}, id="origin-ours"),
    pytest.param({"origin": "http://testserver/"}, id="origin-ours-slash"),
    pytest.param({"sec-fetch-site": "same-origin"}, id="fetch-same-origin"),
    pytest.param({"sec-fetch-site": "none"}, id="fetch-none-typed-url"),
    pytest.param({"referer": "https://evil.example/"}, id="referer-only-no-browser-fetch"),
    pytest.param({}, id="no-headers-not-a-browser"),
]


def bare(headers: dict[str, str]) -> dict[str, str | None]:
    """``headers`` instead of the same-origin defaults (``None`` drops a default header)."""
    return {"origin": None, "sec-fetch-site": None, **headers}


class TestCrossSiteWrites:
    @pytest.mark.parametrize("headers", CROSS_SITE_VARIANTS)
    async def test_sync_endpoint_refuses_cross_site_requests(
        self, clock: FakeClock, reflex_app: ReflexHarness, headers: dict[str, str]
    ) -> None:
        """Login CSRF and forced logout through ``POST /api/session/sync``: even with the tab's
        browser binding (the cookie goes along with a cross-site request), a request that is
        not from our origin is 403, sets no cookie and leaves the tab's queued operations for
        the real sync."""
        auth = build_auth(clock)
        state = reflex_app.tab(auth, "tab-x")
        state.login(MALLORY)  # what the attacker wants written into the victim's browser
        response = await reflex_app.sync(auth, "tab-x", headers=bare(headers))
        assert response.status_code == 403, response.text
        assert response.json() == {"error": "cross_site"}
        assert response.headers.get_list("set-cookie") == []
        assert [op["op"] for op in state._pending] == ["login"]

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param("[" * 1000, id="nested-brackets-recursion"),
            pytest.param('{"a":' * 200, id="nested-objects"),
            pytest.param("not json", id="not-json"),
            pytest.param("[]", id="a-list"),
            pytest.param('{"token": 5}', id="token-not-a-string"),
            pytest.param('{"token": ""}', id="empty-token"),
            pytest.param(json.dumps({"token": "x" * 129}), id="token-too-long"),
        ],
    )
    async def test_sync_endpoint_answers_a_bad_body_with_400_not_500(
        self,
        clock: FakeClock,
        reflex_app: ReflexHarness,
        body: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Red team 2026-12-07: a kilobyte of "[" made the JSON parser raise RecursionError,
        which the endpoint did not catch: a 500 and an ERROR line for anyone with curl."""
        auth = build_auth(clock)
        set_runtime(reflex_app, auth, ClientOptions())  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=SyncEndpoint(auth))
        caplog.set_level(logging.WARNING)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(
                "/api/session/sync",
                content=body,
                headers={**same_origin(), "cookie": f"session_bind={BIND}"},
            )
        assert response.status_code == 400, response.text
        assert response.json() == {"error": "bad_request"}
        assert response.headers.get_list("set-cookie") == []
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    @pytest.mark.parametrize("headers", SAME_SITE_VARIANTS)
    async def test_sync_endpoint_accepts_our_own_requests(
        self, clock: FakeClock, reflex_app: ReflexHarness, headers: dict[str, str]
    ) -> None:
        """The control group: our own page's fetch, a typed URL, a client that is not a browser
        page at all — the sync goes through (a filter that refuses everything passes the test
        above too). A ``Referer`` alone decides nothing: browsers send ``Origin`` with every
        POST, and a request without it is not a cross-site browser request."""
        auth = build_auth(clock)
        state = reflex_app.tab(auth, "tab-y")
        state.login(VICTIM)
        response = await reflex_app.sync(auth, "tab-y", headers=bare(headers))
        assert response.status_code == 200, response.text
        assert our_cookie(response)

    async def test_sync_endpoint_serves_only_the_browser_that_owns_the_tab(
        self, clock: FakeClock, reflex_app: ReflexHarness
    ) -> None:
        """The tab's token is readable by page JavaScript, so it opens nothing alone: another
        browser's binding, no binding, a malformed binding, a token of the wrong type, and other
        methods than POST change nothing and set no cookie; the victim's queue is still there
        for its real sync."""
        auth = build_auth(clock)
        victim_tab = reflex_app.tab(auth, "tab-a")
        victim_tab.login(VICTIM)
        attacker_tab = reflex_app.tab(auth, "tab-b")
        attacker_tab.login(MALLORY)
        for token, bind, status in (
            ("tab-a", OTHER_BIND, 403),
            ("tab-a", None, 403),
            ("tab-a", BIND.lower()[:-1], 403),
            ("tab-a", BIND + "x", 403),
            (None, BIND, 400),
            (["tab-a"], BIND, 400),
            ({"$ne": ""}, BIND, 400),
        ):
            response = await reflex_app.sync(auth, token, bind=bind)
            assert response.status_code == status, (token, bind, response.text)
            assert response.headers.get_list("set-cookie") == []
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            response = await reflex_app.sync(auth, "tab-a", method=method)
            assert response.status_code == 405, method
            assert response.headers.get_list("set-cookie") == []
        assert [op["op"] for op in victim_tab._pending] == ["login"]
        response = await reflex_app.sync(auth, "tab-a")
        assert response.status_code == 200
        assert auth.decrypt_session(our_cookie(response)).user.id == "victim"

    @pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
    @pytest.mark.parametrize("headers", CROSS_SITE_VARIANTS)
    async def test_session_api_refuses_the_other_variants(
        self, clock: FakeClock, method: str, headers: dict[str, str]
    ) -> None:
        """The same variants on the session API's writes: 403, the cookie untouched."""
        auth = build_auth(clock)
        app = site(auth)
        cookie = await log_in(app, VICTIM)
        body = {"user": {"name": "pwned"}} if method == "PATCH" else None
        response = await request(
            app, method, "/api/session", cookie, body=body, headers=bare(headers)
        )
        assert response.status == 403, response.body
        assert response.get_all("set-cookie") == []
        session = auth.decrypt_session(cookie)
        assert session is not None
        assert session.user.name == "Victim"

    async def test_csrf_tokens_are_bound_to_their_session_once_and_in_time(
        self, clock: FakeClock
    ) -> None:
        """The store-mode CSRF verbs (``get_csrf_token``/``validate_csrf_token``) against the
        usual token attacks: the victim's token presented with the attacker's session (or none)
        fails *and is not burnt* for its owner; a token is single use; the attacker's own token
        fails on the victim's session; a token expires ``session_expiry`` after issue even if
        the session lives on; logout and a new login invalidate earlier tokens; any other value
        (wrong type, truncated, case-changed, over-long, NUL-suffixed) is simply false."""
        auth = build_store_auth(clock)
        app = site(auth)

        def jar(cookie: str | None) -> Any:
            return auth.jar(f"session={cookie}" if cookie else None)

        victim = await log_in(app, VICTIM)
        attacker = await log_in(app, MALLORY)
        token = await auth.data.new_csrf_token(jar(victim))
        assert await auth.data.validate_csrf_token(jar(attacker), token) is False
        assert await auth.data.validate_csrf_token(jar(None), token) is False
        assert await auth.data.validate_csrf_token(jar(victim), token) is True
        assert await auth.data.validate_csrf_token(jar(victim), token) is False  # reused
        attackers_own = await auth.data.new_csrf_token(jar(attacker))
        assert await auth.data.validate_csrf_token(jar(victim), attackers_own) is False
        assert await auth.data.validate_csrf_token(jar(attacker), attackers_own) is True

        hostile = await auth.data.new_csrf_token(jar(victim))
        for value in (
            None,
            12345,
            hostile.encode(),
            [hostile],
            {"token": hostile},
            "",
            hostile[:-1],
            hostile.swapcase(),
            hostile + "\x00",
            hostile + "A" * 300,
            " " + hostile,
        ):
            assert await auth.data.validate_csrf_token(jar(victim), value) is False, repr(value)
        assert await auth.data.validate_csrf_token(jar(victim), hostile) is True  # not burnt

        aging = await auth.data.new_csrf_token(jar(victim))
        clock.advance(3000)
        alive = our_cookie(await request(app, "GET", "/api/session", victim)) or victim
        clock.advance(601)  # the token is 3,601 s old; the session was extended at 3,000 s
        assert await who(app, alive) == "victim"
        assert await auth.data.validate_csrf_token(jar(alive), aging) is False

        before_logout = await auth.data.new_csrf_token(jar(alive))
        await request(app, "DELETE", "/api/session", alive)
        assert await auth.data.validate_csrf_token(jar(alive), before_logout) is False

        again = await log_in(app, VICTIM)
        before_relogin = await auth.data.new_csrf_token(jar(again))
        relogged = await log_in(app, VICTIM, again)
        assert await auth.data.validate_csrf_token(jar(relogged), before_relogin) is False
        assert await auth.data.validate_csrf_token(jar(again), before_relogin) is False


# --------------------------------------------------------------------------------------------
# Header injection through cookies
# --------------------------------------------------------------------------------------------

#: ``(id, Cookie header built from the victim's and the attacker's genuine cookies, who is
#: signed in)``. Every marker an attacker would want echoed contains "pwned" or "evil".
HOSTILE_COOKIE_HEADERS: list[tuple[str, Callable[[str, str], bytes], str | None]] = [
    ("semicolon-in-value", lambda v, a: b"session=pwned;evil=1", None),
    ("attributes-after-value", lambda v, a: f"session={v};Path=/evil; pwned=1".encode(), "victim"),
    ("comma-joined", lambda v, a: f"session={v},pwned=1".encode(), None),
    ("rfc2965-comma-list", lambda v, a: b"session=garbage, session=pwned", None),
    ("quoted-genuine", lambda v, a: f'session="{v}"'.encode(), "victim"),
    ("unbalanced-quote", lambda v, a: b'session="pwned', None),
    ("quotes-inside", lambda v, a: f'session=a"{v}"b'.encode(), None),
    ("empty-quotes", lambda v, a: b'session=""', None),
    ("nul-in-value", lambda v, a: b"session=\x00pwned", None),
    ("nul-after-genuine", lambda v, a: b"session=" + v.encode() + b"\x00", None),
    ("utf8-non-latin1", lambda v, a: "session=\u20ac\u00fcpwned\U0001f600".encode(), None),
    ("raw-high-bytes", lambda v, a: b"session=\xff\xfe\xfdpwned", None),
    ("percent-encoded-crlf", lambda v, a: b"session=%0d%0aSet-Cookie:%20pwned=1", None),
    ("crlf-location", lambda v, a: b"session=x\r\nLocation: https://evil.example", None),
    ("value-over-4k", lambda v, a: b"session=" + b"A" * 5000 + b"pwned", None),
    ("header-over-16k", lambda v, a: f"session={v}; pad=".encode() + b"p" * 17_000, None),
    (
        "600-cookies-then-genuine",
        lambda v, a: "; ".join([f"c{i}=pwned{i}" for i in range(600)] + [f"session={v}"]).encode(),
        "victim",
    ),
    (
        "600-cookies-then-garbage",
        lambda v, a: "; ".join([f"c{i}={i}" for i in range(600)] + ["session=pwned"]).encode(),
        None,
    ),
    # what a browser sends when a sibling set "session" for a longer Path: that one first
    ("duplicate-path-attacker-first", lambda v, a: f"session={a}; session={v}".encode(), "mallory"),
    ("duplicate-path-victim-first", lambda v, a: f"session={v}; session={a}".encode(), "victim"),
    ("duplicate-garbage-first", lambda v, a: f"session=pwned; session={v}".encode(), None),
    ("spaces-around-name", lambda v, a: f"  session = {v}  ".encode(), "victim"),
    ("name-case", lambda v, a: f"SESSION={v}".encode(), None),
    ("host-prefix-over-http", lambda v, a: f"__Host-session={v}".encode(), None),
    ("name-with-nul", lambda v, a: f"session\x00={v}".encode(), None),
    ("only-separators", lambda v, a: b";;;,,,===", None),
]


class TestHeaderInjectionThroughCookies:
    @pytest.mark.parametrize("mode", ["cookie", "store"])
    @pytest.mark.parametrize(
        ("build", "expected"),
        [pytest.param(b, e, id=name) for name, b, e in HOSTILE_COOKIE_HEADERS],
    )
    async def test_hostile_cookie_header_is_never_a_5xx_nor_echoed(
        self,
        clock: FakeClock,
        mode: str,
        build: Callable[[str, str], bytes],
        expected: str | None,
    ) -> None:
        """A ``Cookie`` header with separators, quotes, NUL, bytes outside latin-1, values and
        headers over the limits, hundreds of cookies, or duplicates with different paths (the
        browser sends the longer path first): through ``GET``/``POST`` of the session API and
        ``GET`` of a guarded page, never a 5xx; the session read is exactly the one the first
        ``session`` pair names (or none) — never a mix; every ``Set-Cookie`` is ours (the
        cookie cleared, or a value we sealed) and no ``Set-Cookie`` or ``Location`` carries
        anything of the request."""
        auth = BUILDERS[mode](clock)
        app = site(auth)
        victim, attacker = await log_in(app, VICTIM), await log_in(app, MALLORY)
        header = build(victim, attacker)
        sent = [(b"cookie", header), (b"origin", b"http://testserver")]
        clock.advance(700)  # past the refresh threshold: a valid cookie is re-issued
        for method, path in (("GET", "/api/session"), ("POST", "/api/session")):
            response = await call_asgi(app, method, path, headers=sent)
            assert response.status < 500, response.body
            assert_only_our_headers(auth, response)
            if expected is None:
                assert response.status == (200 if method == "GET" else 401), response.body
                if method == "GET":
                    assert response.json()["session"] is None
            else:
                assert response.status == 200, response.body
                assert response.json()["session"]["user"]["id"] == expected
        response = await call_asgi(app, "GET", "/dashboard", headers=sent)
        assert_only_our_headers(auth, response)
        if expected is None:
            assert response.status == 307
            assert response.get_all("location") == [
                "/login?callbackUrl=%2Fdashboard&reason=loginRequired"
            ]
        else:
            assert response.status == 200
            assert response.body == PAGE_BODY


def assert_only_our_headers(auth: ReflexSession[Any], response: RawResponse) -> None:
    for name, value in response.headers:
        assert b"\r" not in name + value
        assert b"\n" not in name + value
        assert b"pwned" not in value
        assert b"evil" not in value
    for line in response.get_all("set-cookie"):
        name, value = line.split(";", 1)[0].split("=", 1)
        assert name == "session", line
        if value:  # a re-issued cookie: one we sealed, for a live session
            assert session_id(auth, value) is not None, line


# --------------------------------------------------------------------------------------------
# The end-to-end secret scan can fail
# --------------------------------------------------------------------------------------------


class TestSecretScan:
    """``tests/e2e/conftest.py`` scans every server log, websocket frame and session API body of
    the browser run for every cookie value seen, the apps' tokens and the secrets. A scan that
    cannot fail proves nothing: these run its functions on planted leaks."""

    def test_a_planted_leak_is_found_and_reported_redacted(self) -> None:
        from e2e.conftest import SECRET as E2E_SECRET
        from e2e.conftest import scan_for_secrets

        cookie = Forge(FakeClock()).token()
        needles = {"session cookie 1": cookie, "SECRET": E2E_SECRET, "short": "abc"}
        haystacks = {
            "log of app line": [
                "INFO: started",
                f"DEBUG handshake headers cookie=session={cookie}; theme=dark",
                "INFO abc is too short to be a needle",
            ],
            "websocket frame": ['42["event",{"delta":{}}]', f'{{"x":"{E2E_SECRET}"}}'],
            "session API body": ['{"session":null}'],
        }
        findings = scan_for_secrets(needles, haystacks)
        assert len(findings) == 2, findings
        assert findings[0].startswith("log of app line #2: session cookie 1: ")
        assert findings[1].startswith("websocket frame #2: SECRET: ")
        report = "\n".join(findings)
        assert cookie not in report, "the report leaked the cookie it found"
        assert E2E_SECRET not in report, "the report leaked the secret it found"
        assert "<session cookie 1>" in report
        assert scan_for_secrets(needles, {"clean": ["nothing", "to see"]}) == []

    def test_the_tap_collects_cookies_tokens_and_every_servers_secrets(self, tmp_path: Any) -> None:
        """The run's needles: cookie values (and their ciphertext segment, in case a log
        truncates the header), the apps' token prefixes, ``SECRET``, and from each start's
        settings every ``*SECRET*`` value (comma lists split), and a URL's password unless it is
        the user name; a server's log is a haystack, line by line."""
        from e2e import conftest as e2e

        cookie = Forge(FakeClock()).token()
        tap = e2e.WireTap()
        tap.keep_cookie("session", cookie, "a test")
        tap.keep_cookie("theme", "dark-theme-not-a-session", "a test")
        server = e2e.ReflexServer(
            "planted",
            tmp_path,
            {
                "SESSION_SECRET": "rotated-secret-0123456789-abcdefghijklmnop",
                "SESSION_PREVIOUS_SECRETS": "old-secret-a-0123456789-abcdefghij,"
                " old-secret-b-0123456789",
                "DATABASE_URL": "postgresql://app:s3cret-db-password@db/app",
                "REDIS_URL": "redis://session:session@cache/0",
                "E2E_SESSION_EXPIRY": "3600",
            },
        )
        server.log_path.write_text(
            "INFO ok\nERROR connect to postgresql://app:s3cret-db-password@db failed\n"
        )
        e2e.STARTED_SERVERS.append(server)
        try:
            needles = tap.needles()
            values = set(needles.values())
            assert cookie in values
            assert cookie.split(".")[3] in values
            assert "dark-theme-not-a-session" not in values
            assert {"e2e-access-token-", "e2e-refresh-token-", e2e.SECRET} <= values
            assert "rotated-secret-0123456789-abcdefghijklmnop" in values
            assert "old-secret-a-0123456789-abcdefghij" in values
            assert "old-secret-b-0123456789" in values
            assert "s3cret-db-password" in values
            assert "session" not in values
            findings = e2e.scan_for_secrets(needles, tap.haystacks())
            assert len(findings) == 1, findings
            assert "planted" in findings[0]
            assert "line #2" in findings[0]
            assert "s3cret-db-password" not in findings[0]
        finally:
            e2e.STARTED_SERVERS.remove(server)
            e2e.STARTED_SERVERS.settings.pop()
