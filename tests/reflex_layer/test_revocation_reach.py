"""What a revocation reaches, and what it must not (red-team findings on the redesigned layer).

* A tab signed out because *its* session was ended queues a logout for that session only: the
  browser may have signed in again since (in another tab), and that newer session stays.
* A tab that fell out of the open-tab map (or missed the push) still learns of a revocation of
  its user at its next event, of any kind, not only at a guarded one.
"""

from __future__ import annotations

from typing import Any

import pytest
from layer_helpers import ADA, BOB, preprocess, signed_in_tab, sub

from reflex_session.reflex import DevicesState, SessionState
from reflex_session.reflex.sync import apply_operations


async def test_a_revoked_tabs_logout_spares_the_browsers_newer_session(store_layer: Any) -> None:
    """Before: the stale tab's queued logout was applied to whatever the cookie held, so ending
    session A ("sign out this device") also destroyed session B, signed in since."""
    auth, app = store_layer
    root, state = await signed_in_tab(auth, app, "tab-a")
    a = state.current_session()
    newer = auth.jar(None)
    b = await auth.create_session(newer, BOB)
    await auth.devices.end_session(a.id, user_id=a.user.id)

    devices = sub(root, DevicesState)
    await DevicesState.load_devices.fn(devices)  # the stale tab learns A is gone
    assert state.status == "unauthenticated"
    ops = state.take_pending()
    assert [op["op"] for op in ops] == ["logout"]

    browser = auth.jar(f"session={newer.read()}")
    after = await apply_operations(auth, browser, ops)
    assert after is not None
    assert after.id == b.id
    assert await auth.is_live(b), "the newer session was ended by another session's logout"
    assert browser.set_cookie_headers == []  # the browser keeps its cookie


async def test_the_users_own_logout_ends_what_the_browser_holds(store_layer: Any) -> None:
    """ "Log out" clicked in a stale tab still signs the browser out, whatever it holds."""
    auth, app = store_layer
    _, state = await signed_in_tab(auth, app, "tab-a")
    newer = auth.jar(None)
    b = await auth.create_session(newer, BOB)
    await SessionState.logout.fn(state)
    browser = auth.jar(f"session={newer.read()}")
    assert await apply_operations(auth, browser, state.take_pending()) is None
    assert not await auth.is_live(b)


async def test_a_tab_outside_the_map_is_signed_out_at_its_next_event(store_layer: Any) -> None:
    """Before: 64 more tabs of the user pushed the first out of the open-tab map, "sign out
    everywhere" never reached it, and its unguarded events and navigation went on as the user."""
    auth, app = store_layer
    root, state = await signed_in_tab(auth, app, "zombie")
    for i in range(70):
        await signed_in_tab(auth, app, f"tab-{i}")
    await auth.revocations.end_user_sessions(ADA["id"])
    from reflex_session.reflex.live import push_revocation

    await push_revocation(ADA["id"])
    # an unguarded handler of an app state: no @guarded, no @protected
    update = await preprocess(root, f"{SessionState.get_full_name()}.recalculate")
    assert state.status == "unauthenticated"
    assert update is not None  # refused, with the redirect to login


async def test_a_guarded_event_right_after_login_does_not_sign_the_tab_out(
    store_layer: Any,
) -> None:
    """In store mode the session's record is written by the sync that delivers the login
    cookie. A guarded event (an ``on_load`` of a protected page after the login's redirect)
    that came before that sync found no record, took the fresh login for a revoked session and
    signed the user out (seen as an intermittent "back on /login" under load)."""
    from layer_helpers import GuardedState, make_root

    from reflex_session.reflex.sync import apply_operations

    auth, _app = store_layer
    root = make_root("/dashboard")
    state = sub(root, SessionState)
    state.login(ADA)
    assert await preprocess(root, f"{GuardedState.get_full_name()}.bump") is None
    assert state.status == "authenticated"
    # and the login is still delivered by the sync that follows
    jar = auth.jar(None)
    delivered = await apply_operations(auth, jar, state.take_pending())
    assert delivered is not None
    assert await auth.is_live(delivered)


@pytest.mark.usefixtures("store_layer")
async def test_the_devices_page_right_after_login_lists_the_new_session() -> None:
    from layer_helpers import make_root

    root = make_root("/devices")
    state = sub(root, SessionState)
    state.login(ADA)
    devices = sub(root, DevicesState)
    await DevicesState.load_devices.fn(devices)
    assert state.status == "authenticated"
    assert [op["op"] for op in state._pending] == ["login"]  # not turned into a logout


@pytest.mark.usefixtures("store_layer")
async def test_an_undelivered_login_is_not_a_shelter_from_revocation(clock: Any) -> None:
    """A client that never fetches its login cookie keeps the session's store record unwritten:
    the grace lasts only as long as a queued operation, and ends with any revocation of the
    user."""
    from layer_helpers import GuardedState, make_root

    from reflex_session.reflex.runtime import get_runtime

    bump = f"{GuardedState.get_full_name()}.bump"
    root = make_root("/dashboard")
    state = sub(root, SessionState)
    state.login(ADA)
    clock.advance(61)  # the queued login expired unapplied
    assert await preprocess(root, bump) is not None
    assert state.status == "unauthenticated"

    root = make_root("/dashboard")
    state = sub(root, SessionState)
    state.login(ADA)
    clock.advance(1)
    get_runtime().note_revocation(ADA["id"], int(clock.time() * 1000))
    assert await preprocess(root, bump) is not None
    assert state.status == "unauthenticated"
