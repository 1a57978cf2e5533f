"""A tab signed out for any reason lands on the login page told why (issue 14, item 2).

Each way a session goes away has its own reason: the user's own "Log out" (``signedOut``, in
this tab and the browser's other tabs), the clock (``expired``), an end from another browser
(``revoked``, pushed live or found at the next event). The page shows only what the URL's
``reason=`` names from the fixed vocabulary, and roles only those the app asks for.
"""

from __future__ import annotations

from typing import Any

from layer_helpers import (
    ADA,
    AdminOnlyState,
    GuardedState,
    make_root,
    preprocess,
    set_router,
    signed_in_tab,
    sub,
    sync_tab,
)
from testkit import BIND, OTHER_BIND

from reflex_session.binding import digest
from reflex_session.reflex import DevicesState, SessionState
from reflex_session.reflex.live import push_revocation
from reflex_session.testing import FakeClock


def redirect_of(spec: Any) -> str:
    """The path an ``rx.redirect`` (or an event update carrying one) sends the page to."""
    events = getattr(spec, "events", None)
    if events is not None:
        (spec,) = events
        return str(spec.payload["path"])
    args = {name._js_expr: value for name, value in spec.args}
    return str(args["path"]._var_value)


def enforce(state: Any) -> str:
    """What the page's guard component does when the tab is signed out under it."""
    return redirect_of(SessionState.enforce_route.fn(state))


async def test_the_users_own_logout_says_signed_out(layer: Any) -> None:
    root = make_root("/dashboard")
    state = sub(root, SessionState)
    state.login(ADA)
    redirect = await SessionState.logout.fn(state)
    assert redirect_of(redirect) == "/login?callbackUrl=%2Fdashboard&reason=signedOut"


async def test_a_lapsed_session_says_expired(layer: Any, clock: FakeClock) -> None:
    root = make_root("/dashboard")
    state = sub(root, SessionState)
    state.login(ADA)
    clock.advance(601)
    assert enforce(state) == "/login?callbackUrl=%2Fdashboard&reason=expired"


async def test_a_push_from_another_browser_says_revoked_and_from_this_one_signed_out(
    store_layer: Any,
) -> None:
    auth, app = store_layer
    _, here = await signed_in_tab(auth, app, "this-browser")
    other_root, elsewhere = await signed_in_tab(auth, app, "other-browser")
    set_router(other_root, "/dashboard", bind=OTHER_BIND)
    elsewhere.bind_to(digest(OTHER_BIND))
    await auth.revocations.end_user_sessions(ADA["id"])
    # the user pressed "sign out everywhere" in a third tab of the first browser
    assert await push_revocation(ADA["id"], origin=digest(BIND)) == 2
    assert enforce(here) == "/login?callbackUrl=%2Fdashboard&reason=signedOut"
    assert enforce(elsewhere) == "/login?callbackUrl=%2Fdashboard&reason=revoked"


async def test_an_admin_ending_the_session_says_revoked(store_layer: Any) -> None:
    auth, app = store_layer
    _, state = await signed_in_tab(auth, app, "tab")
    await auth.revocations.end_user_sessions(ADA["id"])
    assert await push_revocation(ADA["id"]) == 1  # no origin: not the user's own browser
    assert enforce(state) == "/login?callbackUrl=%2Fdashboard&reason=revoked"


async def test_a_guarded_event_after_an_end_elsewhere_says_revoked(store_layer: Any) -> None:
    auth, app = store_layer
    root, _ = await signed_in_tab(auth, app, "tab")
    await auth.revocations.end_user_sessions(ADA["id"])
    update = await preprocess(root, f"{GuardedState.get_full_name()}.bump")
    assert redirect_of(update) == "/login?callbackUrl=%2Fdashboard&reason=revoked"


async def test_sign_out_everywhere_says_signed_out_to_its_own_tab(store_layer: Any) -> None:
    auth, app = store_layer
    root, _ = await signed_in_tab(auth, app, "tab")
    devices = sub(root, DevicesState)
    redirect = await DevicesState.sign_out_everywhere.fn(devices)
    assert redirect_of(redirect) == "/login?callbackUrl=%2Fdashboard&reason=signedOut"


async def delivered_login(layer: Any) -> tuple[Any, Any]:
    """A tab on /dashboard signed in as Ada, its login delivered by the page's sync."""
    auth, app = layer
    root = app.roots.setdefault("tab", make_root("/dashboard"))
    state = sub(root, SessionState)
    state.login(ADA)
    first = await sync_tab(auth, "tab", f"session_bind={BIND}", state._login_proof)
    assert first.status_code == 200
    return auth, state


async def test_a_sync_finding_no_cookie_says_signed_out(layer: Any) -> None:
    """Another tab of this browser signed out: the cookie is gone when this tab syncs."""
    auth, state = await delivered_login(layer)
    state.queue_pull()
    second = await sync_tab(auth, "tab", f"session_bind={BIND}")
    assert second.json()["status"] == "unauthenticated"
    assert enforce(state) == "/login?callbackUrl=%2Fdashboard&reason=signedOut"


async def test_a_sync_after_the_session_lapsed_says_expired(layer: Any, clock: FakeClock) -> None:
    """The browser drops an expired cookie by itself: no cookie at the sync is the clock's
    doing, not a sign-out in another tab."""
    auth, state = await delivered_login(layer)
    clock.advance(601)
    state.queue_pull()
    second = await sync_tab(auth, "tab", f"session_bind={BIND}")
    assert second.json()["status"] == "unauthenticated"
    assert enforce(state) == "/login?callbackUrl=%2Fdashboard&reason=expired"


async def test_the_reason_is_said_once(layer: Any) -> None:
    """On the login page the reason is in the URL; a later visit to a protected page without
    signing in is a plain "please sign in", not the old news."""
    root = make_root("/dashboard")
    state = sub(root, SessionState)
    state.login(ADA)
    await SessionState.logout.fn(state)
    set_router(root, "/login", query="callbackUrl=%2Fdashboard&reason=signedOut")
    assert SessionState.enforce_route.fn(state) is None
    set_router(root, "/dashboard")
    assert enforce(state) == "/login?callbackUrl=%2Fdashboard&reason=loginRequired"


async def test_a_new_login_forgets_the_old_reason(layer: Any) -> None:
    root = make_root("/dashboard")
    state = sub(root, SessionState)
    state.login(ADA)
    await SessionState.logout.fn(state)
    state.login(ADA)
    state.sign_out(tell_browser=False)  # a sign-out without a reason of its own, not lapsed
    assert enforce(state) == "/login?callbackUrl=%2Fdashboard&reason=revoked"


def notice_of(query: str, *, signed_in: bool = False) -> tuple[str, str, str]:
    root = make_root("/login", query=query)
    state = sub(root, SessionState)
    if signed_in:
        state.login(ADA)
    else:
        state.show(None)
    return state.redirect_reason, state.redirect_roles, state.redirect_message


async def test_a_link_cannot_tell_a_signed_in_user_they_were_signed_out(layer: Any) -> None:
    """Red team: ``/forbidden?reason=revoked`` told a signed-in user "You were signed out on
    another device", a ready pretext for a phishing story on our own page."""
    for reason in ("expired", "revoked", "signedOut", "loginRequired"):
        assert notice_of(f"reason={reason}", signed_in=True) == ("", "", ""), reason
        assert notice_of(f"reason={reason}")[0] == reason
    # and a refusal is said only to a signed-in user, the only one who is ever refused a role
    assert notice_of("reason=forbidden&role=admin") == ("", "", "")
    assert notice_of("reason=forbidden&role=admin", signed_in=True)[:2] == ("forbidden", "admin")


async def test_the_page_reads_only_the_vocabulary(layer: Any) -> None:
    assert notice_of("reason=expired") == (
        "expired",
        "",
        "Your session expired. Please sign in again.",
    )
    assert notice_of("reason=You+won+a+prize") == ("", "", "")
    assert notice_of("") == ("", "", "")
    # the role comes from the app's own declarations (AdminOnlyState is @protected(role="admin"))
    assert AdminOnlyState is not None
    assert notice_of("reason=forbidden&role=admin", signed_in=True) == (
        "forbidden",
        "admin",
        "You need the admin role for that page.",
    )
    assert notice_of("reason=forbidden&role=Call+555-0100", signed_in=True) == (
        "forbidden",
        "",
        "You don't have access to that page.",
    )
