"""The Reflex layer under faults found by ``tests/e2e/test_faults.py``.

A guarded event while the session store is down: refused, but the user is not signed out.
Found by the PostgreSQL cut under the demo: the event guard took
"the store cannot say" for "revoked", signed the tab out and queued a logout; the sync kept that
logout while the store was down (503) and applied it once the store was back, so a user who
merely clicked during a database outage lost their session. Now the event is refused (fail
closed) and nothing else changes; a real revocation still signs the tab out.

A tab whose state the state manager lost (Redis restarted empty) while its socket stayed up: the
next event found a fresh ``SessionState`` and the tab was sent to the login page although its
cookie was valid. Now such a state reads the socket's cookie again and queues a pull.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from layer_helpers import (
    ADA,
    FakeApp,
    GuardedState,
    make_root,
    preprocess,
    signed_in_tab,
    sub,
)
from reflex_base.utils.exceptions import LockExpiredError
from testkit import BIND, SECRET

from reflex_session import ReflexSession
from reflex_session.reflex import SessionState
from reflex_session.reflex.runtime import ClientOptions, set_runtime
from reflex_session.reflex.sync import SyncEndpoint
from reflex_session.stores import StoreUnavailable
from reflex_session.testing import FakeClock


async def test_guarded_event_while_the_store_is_down_keeps_the_session(store_layer: Any) -> None:
    auth, app = store_layer
    root, state = await signed_in_tab(auth, app, "tab-down")
    name = f"{GuardedState.get_full_name()}.bump"
    assert await preprocess(root, name) is None  # allowed while the store answers

    store = auth.config.store
    real_get = store.get

    async def down(sid: str) -> Any:
        raise StoreUnavailable("memory", "down for the test")

    store.get = down  # type: ignore[method-assign]
    update = await preprocess(root, name)
    assert update is not None, "the event ran although the session could not be checked"
    assert not update.events, "the tab was sent away as if signed out"
    assert sub(root, GuardedState).count == 0
    assert state.status == "authenticated"
    assert state._pending == (), "an operation was queued for the sync to apply later"

    store.get = real_get  # type: ignore[method-assign]
    assert await preprocess(root, name) is None  # back: the same tab's event runs again
    assert sub(root, SessionState).status == "authenticated"
    # a real revocation is still a sign-out
    await auth.revocations.end_user_sessions(ADA["id"])
    update = await preprocess(root, name)
    assert update is not None
    assert update.events[0].payload["path"].startswith("/login")
    assert [op["op"] for op in state._pending] == ["logout"]


async def test_a_lost_tab_state_reads_the_cookie_again(layer: Any) -> None:
    auth, _ = layer
    jar = auth.jar(None)
    await auth.create_session(jar, ADA)
    cookie = f"session={jar.read()}"
    for event in (
        f"{GuardedState.get_full_name()}.bump",
        "reflex___state____state.reflex___state____on_load_internal_state.on_load_internal",
    ):
        # what Reflex builds for an event of a live socket whose state is gone: a fresh state,
        # the router (and the handshake's headers) of the event, no hydrate_and_load
        root = make_root("/dashboard", cookie=cookie)
        state = sub(root, SessionState)
        assert state.status == "loading"
        assert await preprocess(root, event) is None, f"{event} refused on a valid cookie"
        assert state.status == "authenticated"
        assert state.user["email"] == ADA["email"]
        assert [op["op"] for op in state._pending] == ["pull"]  # the newest cookie, via HTTP
    # without a cookie, the same fresh state is refused as before
    root = make_root("/dashboard")
    update = await preprocess(root, f"{GuardedState.get_full_name()}.bump")
    assert update is not None
    assert update.events[0].payload["path"].startswith("/login")
    assert sub(root, GuardedState).count == 0


def test_the_sync_hook_fires_for_a_fresh_state_that_reuses_a_seen_seq(
    layer: Any,
    clock: FakeClock,
) -> None:
    """A tab given a fresh state (new token after a restart, Redis emptied) must never repeat a
    ``sync_seq`` its page already saw, or the value-compared hook would not fire and the fresh
    state's first operation would never reach the cookie (found by the secret rotation fault
    test: the connect-time pull that moves a cookie to the new key never reached the browser).
    A tab's counter starts at the clock's milliseconds when it is bound, so a later state's
    first value is above anything the earlier one reached in normal use; and the component gets
    ``sync_seq`` as its ``syncSeq`` prop (its sync effect depends on that prop:
    ``tests/js/components.test.js``)."""
    from reflex_session.reflex.client import session_client

    props = session_client().render()["props"]
    assert f"syncSeq:{SessionState.sync_seq!s}" in props
    old = sub(make_root(), SessionState)
    for _ in range(50):
        old.queue_pull()
    clock.advance(1)
    fresh = sub(make_root(), SessionState)
    assert fresh.sync_seq > old.sync_seq


async def test_sync_on_an_overloaded_worker_answers_503_and_keeps_the_operations(
    caplog: Any,
) -> None:
    """Found by ``benchmarks/load.py`` with three workers on Redis states: a worker so far behind
    that the tab's state lock expired before the sync wrote the state back. Reflex discards that
    write (``LockExpiredError``), so the operations are still queued: the honest answer is 503
    with ``Retry-After`` (the page retries), never a 500, and never a cookie in the log."""

    class OverloadedApp(FakeApp):
        @contextlib.asynccontextmanager
        async def modify_state(self, token: Any) -> AsyncIterator[Any]:
            yield self.roots.setdefault(token.ident, make_root())
            raise LockExpiredError("Lock expired for token tab-1 while processing")

    clock = FakeClock()
    auth = ReflexSession(secret_key=SECRET, clock=clock)
    app = OverloadedApp()
    set_runtime(app, auth, ClientOptions())  # type: ignore[arg-type]
    state = sub(app.roots.setdefault("tab-1", make_root()), SessionState)
    state.login(ADA)
    caplog.set_level(logging.DEBUG)
    transport = httpx.ASGITransport(app=SyncEndpoint(auth))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.post(
            "/api/session/sync",
            json={"token": "tab-1", "proof": state._login_proof},
            headers={"cookie": f"session_bind={BIND}"},
        )
    assert answer.status_code == 503
    assert answer.json() == {"error": "busy"}
    assert answer.headers["retry-after"] == "1"
    assert "set-cookie" not in answer.headers
    assert any("lock expired" in r.getMessage() for r in caplog.records)
    assert all(BIND not in r.getMessage() for r in caplog.records)
