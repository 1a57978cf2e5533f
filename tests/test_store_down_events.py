"""A guarded event while the session store is down: refused, but the user is not signed out.

Found by ``tests/e2e/test_faults.py`` (PostgreSQL cut under the demo): the event guard took
"the store cannot say" for "revoked", signed the tab out and queued a logout; the sync kept that
logout while the store was down (503) and applied it once the store was back, so a user who
merely clicked during a database outage lost their session. Now the event is refused (fail
closed) and nothing else changes; a real revocation still signs the tab out.
"""

from __future__ import annotations

from typing import Any

from test_reflex_state import (
    ADA,
    GuardedState,
    _preprocess,
    _signed_in_tab,
    store_layer,  # noqa: F401 - the fixture
    sub,
)

from reflex_session.reflex import SessionState
from reflex_session.stores import StoreUnavailable


async def test_guarded_event_while_the_store_is_down_keeps_the_session(store_layer: Any) -> None:  # noqa: F811
    auth, app = store_layer
    root, state = await _signed_in_tab(auth, app, "tab-down")
    name = f"{GuardedState.get_full_name()}.bump"
    assert await _preprocess(root, name) is None  # allowed while the store answers

    store = auth.backend.store
    real_get = store.get

    async def down(sid: str) -> Any:
        raise StoreUnavailable("memory", "down for the test")

    store.get = down  # type: ignore[method-assign]
    update = await _preprocess(root, name)
    assert update is not None, "the event ran although the session could not be checked"
    assert not update.events, "the tab was sent away as if signed out"
    assert sub(root, GuardedState).count == 0
    assert state.status == "authenticated"
    assert state._pending == [], "an operation was queued for the sync to apply later"

    store.get = real_get  # type: ignore[method-assign]
    assert await _preprocess(root, name) is None  # back: the same tab's event runs again
    assert sub(root, SessionState).status == "authenticated"
    # a real revocation is still a sign-out
    await auth.end_user_sessions(ADA["id"])
    update = await _preprocess(root, name)
    assert update is not None
    assert update.events[0].payload["path"].startswith("/login")
    assert [op["op"] for op in state._pending] == ["logout"]
