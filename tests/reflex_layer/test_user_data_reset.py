"""Issue 11, item 9: the next person at this browser sees none of the previous user's data.

The attacker: whoever uses the browser after the user signed out (a shared computer), or a tab
whose session was revoked. Every app state that inherits from ``SessionState`` is user data by
default and is reset when the user signs out or changes; an app opts a state out with
``user_data = False`` and single vars with ``keep_on_logout``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import reflex as rx
from layer_helpers import (
    ADA,
    BOB,
    make_root,
    preprocess,
    signed_in_tab,
    sub,
)

from reflex_session.reflex import SessionState
from reflex_session.reflex.live import push_revocation


class InboxState(SessionState):
    """User data: reset at sign-out, except the kept var."""

    messages: list[str] = []  # noqa: RUF012 - a Reflex var
    _draft: str = ""
    theme: str = "light"
    keep_on_logout: ClassVar[tuple[str, ...]] = ("theme",)

    @rx.event
    def read(self) -> None:
        self.messages = [*self.messages, "read"]


class PreferencesState(SessionState):
    """Not user data: kept whole."""

    language: str = "en"
    user_data: ClassVar[bool] = False


def _fill(root: Any) -> None:
    inbox = sub(root, InboxState)
    inbox.messages = ["salary review", "medical results"]
    inbox._draft = "private draft"
    inbox.theme = "dark"
    sub(root, PreferencesState).language = "fr"


def _assert_forgotten(root: Any) -> None:
    inbox = sub(root, InboxState)
    assert inbox.messages == []
    assert inbox._draft == ""
    assert inbox.theme == "dark", "keep_on_logout kept"
    assert sub(root, PreferencesState).language == "fr", "user_data = False kept"


async def test_logout_resets_the_user_data(layer: Any) -> None:
    root = make_root("/dashboard")
    sub(root, SessionState).login(ADA)
    _fill(root)
    await SessionState.logout.fn(sub(root, SessionState))
    _assert_forgotten(root)


async def test_another_users_login_resets_the_previous_users_data(
    layer: Any,
) -> None:
    """``login`` is a plain method an app's handler calls; the reset happens before the tab's
    next event can read anything."""
    root = make_root("/dashboard")
    state = sub(root, SessionState)
    state.login(ADA)
    _fill(root)
    state.login(BOB)
    assert await preprocess(root, f"{InboxState.get_full_name()}.read") is None
    _assert_forgotten(root)


async def test_a_refresh_or_same_user_relogin_keeps_the_data(layer: Any) -> None:
    """The control: nothing is reset while the user stays the same."""
    root = make_root("/dashboard")
    state = sub(root, SessionState)
    state.login(ADA)
    _fill(root)
    state.login(ADA)
    SessionState.refresh.fn(state)
    assert await preprocess(root, f"{InboxState.get_full_name()}.read") is None
    assert sub(root, InboxState).messages == ["salary review", "medical results"]


async def test_a_revocation_pushed_to_the_tab_resets_the_data(
    store_layer: Any,
) -> None:
    auth, app = store_layer
    root, _ = await signed_in_tab(auth, app, "tab-a")
    _fill(root)
    await auth.revocations.end_user_sessions("1")
    assert await push_revocation("1") == 1
    # reset before the tab's next event sees anything (the redirect to login that follows)
    await preprocess(root, f"{InboxState.get_full_name()}.read")
    _assert_forgotten(root)
