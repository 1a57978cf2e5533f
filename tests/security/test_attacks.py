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
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import reflex as rx
from reflex_base import constants
from sec_helpers import (
    OTHER_SECRET,
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

from reflex_session import ReflexSession
from reflex_session.http.common import jar_for_scope
from reflex_session.keys import derive_key
from reflex_session.reflex import SessionState
from reflex_session.reflex.runtime import ClientOptions, set_runtime
from reflex_session.reflex.sync import SyncEndpoint
from reflex_session.storemode import DATA_SUFFIX
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
            await auth.set_session_data(jar, {"cart": {"planted-by": "mallory"}})
            response = JSONResponse({"csrf": await auth.get_csrf_token(jar)})
        await with_cookies(response, jar)(scope, receive, send)

    return app


async def request(
    app: Any,
    method: str,
    path: str,
    cookie: str | None = None,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> RawResponse:
    sent = [(k.encode(), v.encode()) for k, v in {**same_origin(), **(headers or {})}.items()]
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
    if auth.backend is not None:
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
        if auth.backend is None:
            # cookie mode has no visitor sessions: the nearest is a session of the attacker's
            return {"cookie": await log_in(app, MALLORY)}
        response = await request(app, "POST", "/visit")
        cookie = our_cookie(response)
        assert cookie
        return {"cookie": cookie, "csrf": response.json()["csrf"]}
    if kind == "never-issued-id":
        # validly sealed with an id the attacker chose: what a leaked secret or a peer service
        # holding it could make. It must still not become the victim's session id.
        if auth.backend is not None:
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
        if auth.backend is not None:
            assert attacker_after is None, "store mode: the planted session must be destroyed"
            if planted_sid is not None:
                assert await auth.backend.store.get(planted_sid) is None
                assert await auth.backend.store.get(planted_sid + DATA_SUFFIX) is None
            assert [s.sid for s in await auth.list_sessions("victim")] == [victim_sid]
            assert await auth.get_session_data(auth.jar(f"session={planted_cookie}")) is None
            if kind == "visitor-with-data":
                # by design (README "Store mode"), a visitor's data follows them into the login;
                # so whatever the attacker put there does too: apps must not trust it
                victim_data = await auth.get_session_data(auth.jar(f"session={victim_cookie}"))
                assert victim_data == {"cart": {"planted-by": "mallory"}}
            if "csrf" in planted:  # the visitor's CSRF token does not follow into the login
                for cookie in (victim_cookie, planted_cookie):
                    jar = auth.jar(f"session={cookie}")
                    assert await auth.validate_csrf_token(jar, planted["csrf"]) is False
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
        response = await reflex_app.sync(auth, "victim-tab", state.sync_nonce, planted_cookie)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "authenticated", "changed": True}
        victim_cookie = our_cookie(response)
        assert victim_cookie
        assert victim_cookie != planted_cookie
        assert session_id(auth, victim_cookie) == queued.id
        assert await who(app, victim_cookie) == "victim"
        assert await who(app, planted_cookie) != "victim"
        if auth.backend is not None:
            assert await who(app, planted_cookie) is None
            if planted_sid is not None:
                assert await auth.backend.store.get(planted_sid) is None
        assert state.status == "authenticated"
        assert state._pending == []


# --------------------------------------------------------------------------------------------
# The Reflex layer without a server (as tests/test_reflex_state.py builds it)
# --------------------------------------------------------------------------------------------


class ReflexHarness:
    """Tabs' root states and ``modify_state``: what the sync endpoint needs from ``rx.App``."""

    def __init__(self) -> None:
        self._unevaluated_pages: dict[str, Any] = {}
        self.roots: dict[str, Any] = {}

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
            },
            constants.RouteVar.CLIENT_TOKEN: client_token,
        }
        root.router_data = root._update_router_vars(data, root.router_data or {})
        return root

    def tab(self, auth: ReflexSession[Any], client_token: str) -> Any:
        set_runtime(self, auth, ClientOptions())  # type: ignore[arg-type]
        root = self.roots.setdefault(client_token, self.root(client_token))
        return root.get_substate(SessionState.get_full_name().split(".")[1:])

    async def sync(
        self,
        auth: ReflexSession[Any],
        client_token: str,
        nonce: Any,
        cookie: str | None = None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> httpx.Response:
        set_runtime(self, auth, ClientOptions())  # type: ignore[arg-type]
        sent = {**same_origin(), **(headers or {})}
        if cookie is not None:
            sent["cookie"] = f"session={cookie}"
        transport = httpx.ASGITransport(app=SyncEndpoint(auth))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            content = (
                None if method == "GET" else json.dumps({"token": client_token, "nonce": nonce})
            )
            return await client.request(method, "/api/session/sync", headers=sent, content=content)


@pytest.fixture
def reflex_app() -> ReflexHarness:
    return ReflexHarness()
