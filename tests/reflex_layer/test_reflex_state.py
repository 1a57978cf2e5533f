"""The Reflex layer without a server: SessionState verbs, the sync operations, the event guard.

States are built the way Reflex's own unit tests build them (a root ``rx.State`` with router
data); the clock is a FakeClock, so expiry is tested without sleeping.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest
import reflex as rx
from layer_helpers import (
    ADA,
    BOB,
    AdminOnlyState,
    FakeApp,
    GuardedState,
    make_root,
    preprocess,
    signed_in_tab,
    sub,
)
from testkit import BIND, OTHER_BIND, SECRET

from reflex_session import CookieTooLarge, ReflexSession
from reflex_session.clock import now_ms
from reflex_session.reflex import DevicesState, SessionState
from reflex_session.reflex.middleware import SessionEventMiddleware
from reflex_session.reflex.routing import decide
from reflex_session.reflex.runtime import ClientOptions, set_runtime
from reflex_session.reflex.sync import SyncEndpoint, apply_operations
from reflex_session.testing import FakeClock


def test_login_makes_the_state_live_at_once_and_queues_the_cookie(
    layer: Any, clock: FakeClock
) -> None:
    root = make_root()
    state = sub(root, SessionState)
    assert state.status == "loading"
    session = state.login(ADA, access_token="secret-access")
    assert state.status == "authenticated"
    assert state.is_authenticated is True
    assert state.user["name"] == "Ada"
    assert "accessToken" not in json.dumps(state.session)
    assert json.loads(state._session_json)["accessToken"] == "secret-access"
    assert state.expires_at == session.expires_at
    assert [op["op"] for op in state._pending] == ["login"]
    assert state.sync_seq == now_ms(clock) + 1
    # a second login is a new session id (fixation defence)
    again = state.login(ADA)
    assert again.id != session.id
    assert [op["op"] for op in state._pending] == ["login"]


def test_return_to_is_safe(layer: Any) -> None:
    root = make_root("/login", query="callbackUrl=%2Fdashboard%3Ftab%3D2")
    assert sub(root, SessionState).return_to() == "/dashboard?tab=2"
    root = make_root("/login", query="callbackUrl=https%3A%2F%2Fevil.example")
    assert sub(root, SessionState).return_to() == "/"
    root = make_root("/login", query="callbackUrl=%2F%2Fevil.example")
    assert sub(root, SessionState).return_to() == "/"


def test_update_merges_keeps_tokens_and_refuses_oversize(layer: Any) -> None:
    state = sub(make_root(), SessionState)
    state.login(ADA, access_token="a", refresh_token="r")
    state.update_session({"name": "Ada King"})
    assert state.user == {**ADA, "name": "Ada King"}
    assert json.loads(state._session_json)["accessToken"] == "a"
    assert state._pending[-1]["op"] == "update"
    before = dict(state.session)
    with pytest.raises(CookieTooLarge):
        state.update_session({"bio": "x" * 5000})
    assert state.session == before


def test_expiry_is_checked_at_the_moment_with_the_clock(layer: Any, clock: FakeClock) -> None:
    state = sub(make_root(), SessionState)
    state.login(ADA)
    clock.advance(599)
    assert state.current_session() is not None
    clock.advance(1)
    assert state.current_session() is None
    SessionState.recalculate.fn(state)
    assert state.status == "unauthenticated"
    assert state.session == {}


async def test_logout_drops_queued_work_and_signs_out(layer: Any) -> None:
    state = sub(make_root(), SessionState)
    state.login(ADA)
    state.update_session({"name": "x"})
    await SessionState.logout.fn(state)
    assert state.status == "unauthenticated"
    assert [op["op"] for op in state._pending] == ["logout"]
    assert state._session_json == ""


async def test_connect_reads_the_cookie_and_refuses_garbage(layer: Any, clock: FakeClock) -> None:
    auth, _ = layer
    jar = auth.jar(None)
    await auth.create_session(jar, ADA)
    token = jar.read()
    state = sub(make_root(cookie=f"session={token}"), SessionState)
    await state.load_from_socket()
    assert state.status == "authenticated"
    assert state._pending == ()
    # past the refresh threshold: connect queues one pull so the cookie gets re-issued
    clock.advance(61)
    state = sub(make_root(cookie=f"session={token}"), SessionState)
    await state.load_from_socket()
    assert [op["op"] for op in state._pending] == ["pull"]
    state = sub(make_root(cookie="session=not.a.real.token.at-all"), SessionState)
    await state.load_from_socket()
    assert state.status == "unauthenticated"


async def test_operations_apply_to_the_browsers_newest_cookie(layer: Any, clock: FakeClock) -> None:
    auth, _ = layer
    state = sub(make_root(), SessionState)
    login = state.login(ADA, access_token="a")
    jar = auth.jar(None)
    session = await apply_operations(auth, jar, list(state._pending))
    assert session is not None
    assert session.id == login.id
    cookie = jar.read()
    # two queued updates and a refresh in between: every field survives
    clock.advance(30)
    state.take_pending()
    state.update_session({"name": "Ada King"})
    SessionState.refresh.fn(state)
    state.update_session({"team": "research"})
    jar = auth.jar(f"session={cookie}")
    session = await apply_operations(auth, jar, list(state._pending))
    assert session is not None
    assert session.user.to_wire() == {**ADA, "name": "Ada King", "team": "research"}
    assert session.access_token == "a"
    assert session.last_activity == login.last_activity + 30_000
    # a stale tab's update of a session another tab replaced: the newer cookie wins
    other = auth.jar(None)
    newer = await auth.create_session(other, BOB)
    stale = [{"op": "update", "at": 0, "session_id": login.id, "user": {"name": "stale"}}]
    jar = auth.jar(f"session={other.read()}")
    result = await apply_operations(auth, jar, stale)
    assert result is not None
    assert result.id == newer.id
    assert result.user.name == "Bob"
    assert not jar.changed
    # refresh with no cookie in the browser (logged out elsewhere): signed out
    assert await apply_operations(auth, auth.jar(None), [{"op": "refresh", "at": 0}]) is None


async def test_guarded_handler_is_refused_after_expiry(layer: Any, clock: FakeClock) -> None:
    root = make_root("/dashboard", query="tab=2")
    state = sub(root, SessionState)
    state.login(ADA)
    name = f"{GuardedState.get_full_name()}.bump"
    assert await preprocess(root, name) is None  # allowed while valid
    clock.advance(601)
    update = await preprocess(root, name)
    assert update is not None, "an expired session's event must be refused"
    (redirect,) = update.events
    assert redirect.name == "_redirect"
    assert redirect.payload["path"] == "/login?callbackUrl=%2Fdashboard%3Ftab%3D2&reason=expired"
    assert sub(root, GuardedState).count == 0
    # the state learnt it is signed out, and the delta says so
    assert state.status == "unauthenticated"
    assert any("status" in key or "status" in str(v) for key, v in update.delta.items())
    # an unguarded handler of the same state is not touched by the guard
    assert await preprocess(root, f"{GuardedState.get_full_name()}.free") is None


async def test_protected_state_requires_the_role(layer: Any) -> None:
    root = make_root("/")
    sub(root, SessionState).login(BOB)
    update = await preprocess(root, f"{AdminOnlyState.get_full_name()}.hit")
    assert update is not None
    assert update.events[0].payload["path"] == "/?reason=forbidden&role=admin"
    root = make_root("/")
    sub(root, SessionState).login(ADA)
    assert await preprocess(root, f"{AdminOnlyState.get_full_name()}.hit") is None


async def test_navigation_applies_rules_and_page_requirements(layer: Any) -> None:
    root = make_root("/dashboard", query="x=1")
    update = await preprocess(
        root, "reflex___state____state.reflex___state____on_load_internal_state.on_load_internal"
    )
    assert update is not None
    assert (
        update.events[0].payload["path"]
        == "/login?callbackUrl=%2Fdashboard%3Fx%3D1&reason=loginRequired"
    )
    # @require_auth(role="admin") on /admin: a plain user goes home, an admin stays
    bob = make_root("/admin")
    sub(bob, SessionState).login(BOB)
    assert (
        decide("/admin", sub(bob, SessionState).current_session()).location
        == "/?reason=forbidden&role=admin"
    )
    ada = make_root("/admin")
    sub(ada, SessionState).login(ADA)
    assert decide("/admin", sub(ada, SessionState).current_session()).allowed


async def test_sync_endpoint_checks_origin_and_binding_and_sets_the_cookie(layer: Any) -> None:
    auth, app = layer
    root = app.roots.setdefault("tab-1", make_root())
    state = sub(root, SessionState)
    state.login(ADA, access_token="never-in-a-body")
    endpoint = SyncEndpoint(auth)
    transport = httpx.ASGITransport(app=endpoint)
    mine = {"cookie": f"session_bind={BIND}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        url = "/api/session/sync"
        # the token alone (what page JavaScript can read) is worth nothing: no binding cookie,
        # another browser's binding, a malformed one
        for cookie in (None, f"session_bind={OTHER_BIND}", "session_bind=short"):
            bad = await client.post(
                url, json={"token": "tab-1"}, headers={"cookie": cookie} if cookie else {}
            )
            assert bad.status_code == 403, cookie
            assert "set-cookie" not in bad.headers
            assert bad.json() == {"error": "not_bound"}
        assert state._pending, "a refused sync must not consume the pending operations"
        cross = await client.post(
            url, json={"token": "tab-1"}, headers={**mine, "Origin": "https://evil.example"}
        )
        assert cross.status_code == 403
        assert "set-cookie" not in cross.headers
        assert (await client.post(url, content=b"{", headers=mine)).status_code == 400
        # the login is delivered only with the proof sent to the socket that signed in
        assert state._login_proof
        blind = await client.post(url, json={"token": "tab-1"}, headers=mine)
        assert blind.status_code == 409
        assert "set-cookie" not in blind.headers
        wrong = await client.post(url, json={"token": "tab-1", "proof": "x" * 43}, headers=mine)
        assert wrong.status_code == 409
        ok = await client.post(
            url, json={"token": "tab-1", "proof": state._login_proof}, headers=mine
        )
        assert ok.status_code == 200
        assert ok.json() == {"status": "authenticated", "changed": True}
        assert "never-in-a-body" not in ok.text
        set_cookie = ok.headers["set-cookie"]
        assert set_cookie.startswith("session=")
        assert "HttpOnly" in set_cookie
        assert state._pending == ()
        token = set_cookie.split(";")[0].split("=", 1)[1]
        assert auth.decrypt_session(token).access_token == "never-in-a-body"
        # a token with no state is refused, and no state is created for it
        stranger = await client.post(url, json={"token": "other-tab"}, headers=mine)
        assert stranger.status_code == 403
        assert stranger.json() == {"error": "not_bound"}
        assert "other-tab" not in app.roots


# -- store mode: revocation at the moment of the event, and pushed to open tabs ----------------


async def test_revoked_session_is_refused_at_the_next_event(store_layer: Any) -> None:
    auth, app = store_layer
    root, state = await signed_in_tab(auth, app, "tab-a")
    name = f"{GuardedState.get_full_name()}.bump"
    assert await preprocess(root, name) is None
    await auth.revocations.end_user_sessions("1")  # signed out everywhere, from another device
    update = await preprocess(root, name)
    assert update is not None
    assert update.events[0].payload["path"].startswith("/login")
    assert state.status == "unauthenticated"
    assert [op["op"] for op in state._pending] == ["logout"]  # the dead cookie goes too
    assert sub(root, GuardedState).count == 0


async def test_revocation_and_refresh_are_pushed_to_open_tabs(store_layer: Any) -> None:
    from reflex_session.reflex.live import push_refresh, push_revocation

    auth, app = store_layer
    _, first = await signed_in_tab(auth, app, "tab-1")
    _, second = await signed_in_tab(auth, app, "tab-2")
    # a change made elsewhere reaches both tabs from the store
    assert await auth.devices.update_user_sessions("1", {"team": "research"}) == 2
    assert await push_refresh("1") == 2
    assert first.user["team"] == "research"
    assert second.user["team"] == "research"
    # ending one session signs out exactly the tab that showed it
    await auth.revocations.end_session(json.loads(second._session_json)["id"], user_id="1")
    assert await push_revocation("1") == 1
    assert first.status == "authenticated"
    assert second.status == "unauthenticated"


@pytest.mark.redis
async def test_relay_carries_a_revocation_between_workers_within_a_second(
    store_layer: Any,
) -> None:
    """Two relays on the real Redis stand for two workers: one publishes, the other pushes."""
    import asyncio
    import os
    import time
    import uuid

    from reflex_session.reflex.live import RedisRelay

    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("REDIS_URL is not set: run the suite with scripts/test.sh")
    auth, app = store_layer
    _, tab = await signed_in_tab(auth, app, "tab-relay")
    channel = f"reflex-session-test:{uuid.uuid4().hex}"
    worker_a, worker_b = RedisRelay(url, channel), RedisRelay(url, channel)
    listener = asyncio.create_task(worker_b.run())
    try:
        await asyncio.wait_for(worker_b.ready.wait(), 5)
        await auth.revocations.end_user_sessions("1")
        start = time.monotonic()
        await worker_a.publish("revoke", "1")
        while tab.status != "unauthenticated":
            assert time.monotonic() - start < 1.0, "the revocation did not cross in 1 s"
            await asyncio.sleep(0.01)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        for relay in (worker_a, worker_b):
            if relay._client is not None:
                await relay._client.aclose()


def test_install_composes_an_existing_api_transformer_and_wires_everything() -> None:
    from starlette.applications import Starlette

    from reflex_session.reflex import install

    theirs = Starlette()

    def wrap(app: Any) -> Any:
        return app

    from reflex_base.registry import RegistrationContext

    for existing, expected_len in ((None, None), (theirs, 2), ([theirs, wrap], 3)):
        # one App per registration context (Reflex's rule); a fork keeps the states
        token = RegistrationContext.set(RegistrationContext.get().fork())
        try:
            app = rx.App(api_transformer=existing)
            install(app, ReflexSession(secret_key=SECRET))
        finally:
            RegistrationContext.reset(token)
        transformer = app.api_transformer
        if expected_len is None:
            assert callable(transformer)
        else:
            assert isinstance(transformer, list)
            assert len(transformer) == expected_len
            assert transformer[0] is theirs  # the app's own transformer is kept, first
        assert any(isinstance(m, SessionEventMiddleware) for m in app._middlewares)
        assert (6, "ReflexSessionClient") in app.extra_app_wraps


# -- what the browser may call ------------------------------------------------------------------


def test_session_state_exposes_only_these_events() -> None:
    """Reflex makes every public function of a state an event any websocket client may send:
    login or update_session among them would let anyone sign in as anyone."""
    assert set(SessionState.event_handlers) == {
        "enforce_route",
        "logout",
        "mark_expiring_soon",
        "recalculate",
        "refresh",
        "setvar",  # Reflex's own; refused by the middleware below
        "update",
    }
    assert set(DevicesState.event_handlers) == {
        "load_devices",
        "setvar",
        "sign_out_device",
        "sign_out_everywhere",
    }
    for name in ("login", "update_session", "current_session", "return_to", "route_decision"):
        assert name not in GuardedState.event_handlers


@pytest.mark.parametrize("handler", ["login", "update_session", "setvar", "current_session"])
async def test_server_only_names_are_refused_as_events(layer: Any, handler: str) -> None:
    root = make_root("/")
    state = sub(root, SessionState)
    for target in (SessionState, GuardedState):
        update = await preprocess(root, f"{target.get_full_name()}.{handler}")
        assert update is not None, f"{target.__name__}.{handler} reached the state"
        assert update.delta == {}
        assert update.events == []
    assert state.status == "loading"
    assert state._pending == ()


async def test_sync_keeps_the_operations_when_the_store_is_down(clock: FakeClock) -> None:
    from reflex_session.stores import MemoryStore, StoreUnavailable

    class DownStore(MemoryStore):
        async def set(self, *args: Any, **kwargs: Any) -> None:
            raise StoreUnavailable("memory", "down for the test")

    auth = ReflexSession(secret_key=SECRET, clock=clock, store=DownStore(clock=clock))
    app = FakeApp()
    set_runtime(app, auth, ClientOptions())  # type: ignore[arg-type]
    root = app.roots.setdefault("tab-1", make_root())
    state = sub(root, SessionState)
    state.login(ADA)
    transport = httpx.ASGITransport(app=SyncEndpoint(auth))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        url = "/api/session/sync"
        down = await client.post(
            url,
            json={"token": "tab-1", "proof": state._login_proof},
            headers={"cookie": f"session_bind={BIND}"},
        )
        assert down.status_code == 503
        assert "set-cookie" not in down.headers
        assert [op["op"] for op in state._pending] == ["login"]  # kept for the next sync
        big = await client.post(url, content=b"{" + b" " * 5000 + b"}")
        assert big.status_code == 413


@pytest.mark.parametrize(
    ("user", "initials"),
    [
        ({"id": "1", "name": "Ada Lovelace"}, "AL"),
        ({"id": "1", "name": "Nora N. Renamed"}, "NR"),  # was "NN"
        ({"id": "1", "name": "Plato"}, "P"),
        ({"id": "1", "email": "ada.l@example.com"}, "AL"),
        ({"id": "1", "email": "grace@example.com"}, "G"),
        ({"id": "42"}, "4"),
        ({"id": "1", "name": "  -- "}, ""),
    ],
)
def test_initials_come_from_the_first_and_last_names(
    layer: Any, user: dict[str, str], initials: str
) -> None:
    state = sub(make_root("/"), SessionState)
    state.login(user)
    assert state.user_initials == initials
