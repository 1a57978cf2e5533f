"""Reflex-layer test helpers: app states, a fake ``rx.App`` and tab roots built the way
Reflex's own unit tests build them (a root ``rx.State`` with router data). Fixtures using them
are in this folder's ``conftest.py``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import reflex as rx
from reflex.istate.manager.memory import StateManagerMemory
from reflex_base import constants
from reflex_base.event import Event
from testkit import BIND

from reflex_session.reflex import SessionState, guarded, protected, require_auth
from reflex_session.reflex.middleware import SessionEventMiddleware
from reflex_session.reflex.sync import SyncEndpoint, apply_operations
from reflex_session.reflex.tab import presented_binding


class GuardedState(SessionState):
    count: int = 0

    @rx.event
    @guarded
    def bump(self) -> None:
        self.count += 1

    @rx.event
    def free(self) -> None:
        self.count += 100


@protected(role="admin")
class AdminOnlyState(SessionState):
    hits: int = 0

    @rx.event
    def hit(self) -> None:
        self.hits += 1


@require_auth(role="admin")
def admin_page() -> rx.Component:
    return rx.text("admin")


class _Page:
    def __init__(self, component: Any) -> None:
        self.component = component


class FakeApp:
    """What the layer needs from rx.App: the page table and ``modify_state``."""

    def __init__(self) -> None:
        self._unevaluated_pages = {"admin": _Page(admin_page)}
        self.roots: dict[str, Any] = {}
        # what the sync endpoint asks to know whether a tab exists (without creating it)
        self.state_manager = StateManagerMemory(states=self.roots)

    @contextlib.asynccontextmanager
    async def modify_state(self, token: Any) -> AsyncIterator[Any]:
        yield self.roots.setdefault(token.ident, make_root())


def make_root(
    path: str = "/dashboard", cookie: str = "", query: str = "", bind: str | None = BIND
) -> Any:
    """A tab's root state, bound (like after its first event) to the browser with ``bind``."""
    root = rx.State(_reflex_internal_init=True)
    set_router(root, path, cookie, query, bind)
    if bind is not None:
        sub(root, SessionState).bind_to(presented_binding(root))
    return root


def set_router(
    root: Any, path: str, cookie: str = "", query: str = "", bind: str | None = BIND
) -> None:
    if bind is not None:
        cookie = f"session_bind={bind}" + (f"; {cookie}" if cookie else "")
    data = {
        constants.RouteVar.PATH: path,
        constants.RouteVar.ORIGIN: path + (f"?{query}" if query else ""),
        constants.RouteVar.HEADERS: {
            "cookie": cookie,
            "origin": "http://testserver",
            "host": "testserver",
        },
        constants.RouteVar.CLIENT_TOKEN: "tab-1",
    }
    # what Reflex's event processor does before every event (base_state_processor.py)
    root.router_data = root._update_router_vars(data, root.router_data or {})


def sub(root: Any, cls: type) -> Any:
    return root.get_substate(cls.get_full_name().split(".")[1:])


ADA = {"id": "1", "email": "ada@example.com", "name": "Ada", "role": "admin", "team": "core"}
BOB = {"id": "2", "email": "bob@example.com", "name": "Bob", "role": "user"}


async def preprocess(root: Any, handler: str) -> Any:
    """Run the layer's event middleware on ``handler`` as Reflex would before the event."""
    return await SessionEventMiddleware().preprocess(
        app=None,  # type: ignore[arg-type]
        state=root,
        event=Event(name=handler, payload={}),
    )


async def sync_tab(
    auth: Any, token: str, cookie: str | None, proof: str | None = None
) -> httpx.Response:
    """The tab's ``POST /api/session/sync`` as its page sends it (with the login's proof, when
    the page got one), carrying ``cookie`` as the browser's ``Cookie`` header."""
    transport = httpx.ASGITransport(app=SyncEndpoint(auth))
    body = {"token": token} if proof is None else {"token": token, "proof": proof}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post(
            "/api/session/sync", json=body, headers={"cookie": cookie} if cookie else {}
        )


async def signed_in_tab(auth: Any, app: FakeApp, token: str) -> tuple[Any, Any]:
    """A tab whose login went through the sync (so the store holds its session)."""
    root = app.roots.setdefault(token, make_root("/dashboard"))
    data = root.router_data
    root.router_data = root._update_router_vars(
        {**data, constants.RouteVar.CLIENT_TOKEN: token}, data
    )
    state = sub(root, SessionState)
    state.login(ADA)
    jar = auth.jar(None)
    await apply_operations(auth, jar, list(state._pending))
    state.take_pending()
    return root, state
