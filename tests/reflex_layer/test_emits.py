"""Red team F2: an update goes only to a socket of the browser it was made for.

Reflex sends a tab's update to whichever socket holds the token when the update goes out. A
background task, a chained event or a push can outlive the socket that started it; an XSS that
copied the token and connected with it from another machine (no binding cookie, or its own)
must receive none of those updates. The unit tests use Reflex's real event namespace and token
manager, and Reflex's real ``EventContext``; only the socket server's handshake record is
stood in for (python-socketio's ``get_environ``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import pytest
from layer_helpers import signed_in_tab, sync_tab
from reflex_base import constants
from reflex_base.event.context import EventContext
from testkit import BIND, OTHER_BIND

from reflex_session.binding import digest
from reflex_session.reflex import emits
from reflex_session.reflex.emits import (
    ForwardedUpdate,
    Verdict,
    guard_emits,
    judge,
    made_for,
    may_receive,
)
from reflex_session.reflex.sockets import binding_of, socket_binding

TOKEN = "tab-1"
VICTIM, ATTACKER, RELOADED = "sid-victim", "sid-attacker", "sid-victim-reloaded"


class _Server:
    """python-socketio's record of each connected socket's handshake (``get_environ``)."""

    def __init__(self) -> None:
        self.environs: dict[str, dict[str, Any]] = {}

    def connect(self, sid: str, cookie: str | None, *, https: bool = False) -> None:
        headers = [(b"host", b"testserver"), (b"x-reflex-session-https", b"1" if https else b"0")]
        if cookie is not None:
            headers.append((b"cookie", cookie.encode()))
        self.environs[sid] = {"asgi.scope": {"type": "websocket", "headers": headers}}

    def get_environ(self, sid: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self.environs.get(sid)


@pytest.fixture
async def namespace(layer: Any) -> Any:
    """Reflex's own namespace and token manager; the victim's socket holds the tab."""
    from reflex.app import EventNamespace

    ns = EventNamespace("/_event", None)  # type: ignore[arg-type]  # the app is not asked
    ns.server = _Server()
    ns.server.connect(VICTIM, f"session_bind={BIND}")
    await ns._token_manager.link_token_to_sid(TOKEN, VICTIM)
    return ns


async def take_over(ns: Any, sid: str, cookie: str | None) -> None:
    """The victim's socket closes; ``sid`` connects with the copied token."""
    await ns._token_manager.disconnect_token(TOKEN, VICTIM)
    ns.server.environs.pop(VICTIM, None)
    ns.server.connect(sid, cookie)
    await ns._token_manager.link_token_to_sid(TOKEN, sid)


def router_data(sid: str, cookie: str, token: str = TOKEN) -> dict[str, Any]:
    """What Reflex puts in an event's router data, and its context carries to chained events
    and background tasks."""
    return {
        constants.RouteVar.SESSION_ID: sid,
        constants.RouteVar.CLIENT_TOKEN: token,
        constants.RouteVar.HEADERS: {"cookie": cookie, "x-reflex-session-https": "0"},
    }


def event_context(data: dict[str, Any]) -> EventContext:
    """Reflex's context of an event whose socket's router data is ``data`` (what the guard
    reads of it; the rest is never called)."""
    return EventContext(
        token=TOKEN,
        state_manager=None,  # type: ignore[arg-type]
        enqueue_impl=None,  # type: ignore[arg-type]
        router_data=data,
    )


def in_event(data: dict[str, Any], fn: Any, *args: Any) -> Any:
    """Run ``fn`` as code of an event whose socket's router data is ``data``."""

    def inside() -> Any:
        EventContext.set(event_context(data))
        return fn(*args)

    return contextvars.copy_context().run(inside)


def as_push(binding: str, fn: Any, *args: Any, token: str = TOKEN) -> Any:
    """Run ``fn`` under a declaration that tab ``token``'s updates are for ``binding``."""

    def inside() -> Any:
        made_for(token, binding)
        return fn(*args)

    return contextvars.copy_context().run(inside)


VICTIM_EVENT = router_data(VICTIM, f"session_bind={BIND}")


def test_the_events_own_socket_receives_its_updates(namespace: Any) -> None:
    assert in_event(VICTIM_EVENT, may_receive, namespace, TOKEN)


@pytest.mark.parametrize(
    ("cookie", "received"),
    [
        (f"session_bind={BIND}", True),  # the same browser reloaded: it keeps the task's updates
        (f"session_bind={BIND}; theme=dark", True),
        (None, False),  # an XSS on another machine, with no cookie
        (f"session_bind={OTHER_BIND}", False),  # ... or with its own browser's
        (f"session_bind={OTHER_BIND}; session_bind={BIND}", False),  # a planted one first
    ],
)
async def test_a_later_update_reaches_only_the_browser_that_made_it(
    namespace: Any, cookie: str | None, received: bool
) -> None:
    await take_over(namespace, RELOADED if received else ATTACKER, cookie)
    assert in_event(VICTIM_EVENT, may_receive, namespace, TOKEN) is received


async def test_an_update_for_a_tab_with_no_socket_here_is_forwarded_with_its_browser(
    namespace: Any,
) -> None:
    """No socket of this worker holds the tab: closed (Reflex drops the update), or on another
    worker (Reflex's Redis token manager forwards it there). It goes on naming the browser it
    was made for, for that worker to check."""
    bound = binding_of(VICTIM_EVENT)
    await namespace._token_manager.disconnect_token(TOKEN, VICTIM)
    assert in_event(VICTIM_EVENT, judge, namespace, TOKEN) == Verdict(True, bound)
    assert not in_event(VICTIM_EVENT, may_receive, namespace, TOKEN)
    namespace.server.connect(RELOADED, f"session_bind={BIND}")
    await namespace._token_manager.link_token_to_sid(TOKEN, RELOADED)
    namespace.server.environs.pop(RELOADED)  # linked, but its handshake is another worker's
    assert in_event(VICTIM_EVENT, judge, namespace, TOKEN) == Verdict(True, bound)
    assert as_push(bound, judge, namespace, TOKEN) == Verdict(True, bound)


async def test_a_push_reaches_only_the_browser_the_tab_is_bound_to(namespace: Any) -> None:
    bound = binding_of(VICTIM_EVENT)
    assert as_push(bound, may_receive, namespace, TOKEN)
    await take_over(namespace, ATTACKER, None)
    assert not as_push(bound, may_receive, namespace, TOKEN)
    # nothing declared, no event (no tab bound, nothing known): sent as Reflex would
    assert may_receive(namespace, TOKEN)


async def test_a_declaration_is_for_its_own_tab_only(namespace: Any) -> None:
    """Tasks started under a declaration inherit it (Reflex fans a shared state's change out
    to other tabs from inside ``app.modify_state``): an update for another tab is judged by the
    usual rule, not by the first tab's browser."""
    await take_over(namespace, ATTACKER, None)
    bound = binding_of(VICTIM_EVENT)
    assert not as_push(bound, may_receive, namespace, TOKEN)
    assert as_push(bound, may_receive, namespace, TOKEN, token="tab-2")  # nothing said of it
    attackers_own = socket_binding(namespace, ATTACKER)
    assert attackers_own is not None
    assert as_push(attackers_own, may_receive, namespace, TOKEN)  # its own tab, rebound


async def test_an_event_of_another_tab_does_not_judge_this_one(namespace: Any) -> None:
    """A logout in tab B pushes to tab A inside B's event: B's socket is not A's holder, and
    the push's ``app.modify_state`` declares A's own binding instead."""
    other_tab = router_data("sid-b", f"session_bind={BIND}", token="tab-2")
    await take_over(namespace, ATTACKER, None)
    assert in_event(other_tab, may_receive, namespace, TOKEN)  # undeclared: Reflex's way
    assert not in_event(other_tab, as_push, binding_of(VICTIM_EVENT), may_receive, namespace, TOKEN)


async def test_socket_binding_reads_the_handshake_as_binding_of_reads_an_event(
    namespace: Any,
) -> None:
    for sid, cookie in [("s1", f"session_bind={BIND}"), ("s2", None), ("s3", "other=1")]:
        namespace.server.connect(sid, cookie)
        assert socket_binding(namespace, sid) == binding_of(router_data(sid, cookie or ""))
    assert socket_binding(namespace, "s2") == "socket:" + digest("s2")
    assert socket_binding(namespace, "gone") is None


async def test_guard_emits_sends_forwards_or_withholds_and_says_so(
    namespace: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflex.state import StateUpdate

    sent: list[Any] = []

    async def emit_update(update: Any, token: str) -> None:  # Reflex's, under the guard
        sent.append(update)

    namespace.emit_update = emit_update

    class _App:
        event_namespace = namespace

        @contextlib.asynccontextmanager
        async def modify_state(self, token: Any) -> AsyncIterator[Any]:
            yield None

    app = _App()
    guard_emits(app)
    guarded, declaring = namespace.emit_update, app.modify_state
    guard_emits(app)  # once: a second start-up does not wrap them twice
    assert namespace.emit_update is guarded
    assert app.modify_state is declaring

    def update(n: int) -> StateUpdate:
        return StateUpdate(delta={"s": {"n": n}})

    async def from_victim_event(n: int) -> None:
        EventContext.set(event_context(VICTIM_EVENT))
        await namespace.emit_update(update(n), TOKEN)

    await asyncio.create_task(from_victim_event(1))
    assert sent == [update(1)]
    # the tab's socket closed: handed to Reflex (which drops it, or forwards it to the worker
    # that holds the tab) naming the browser it was made for
    await namespace._token_manager.disconnect_token(TOKEN, VICTIM)
    await asyncio.create_task(from_victim_event(2))
    assert sent[1] == ForwardedUpdate(delta={"s": {"n": 2}}, for_binding=digest(BIND))
    # the attacker's socket holds the tab on this worker: nothing, and a line in the log
    namespace.server.connect(ATTACKER, None)
    await namespace._token_manager.link_token_to_sid(TOKEN, ATTACKER)
    said: list[str] = []  # the security log (its per-second quota is process-wide)
    monkeypatch.setattr(emits, "refused", lambda message, *args: said.append(message))
    await asyncio.create_task(from_victim_event(3))
    assert len(sent) == 2
    assert said == ["an update was withheld: the tab's socket is not the browser it was made for"]
    # a forwarded update arriving here (from the lost and found, no context) is checked as well
    await namespace.emit_update(sent[1], TOKEN)
    assert len(sent) == 2
    assert said[1:] == ["a forwarded update was withheld: the tab's socket is another browser's"]
    await take_over(namespace, RELOADED, f"session_bind={BIND}")
    await namespace.emit_update(sent[1], TOKEN)  # the victim's browser, on this worker now
    assert sent[2] == update(2)
    assert type(sent[2]) is StateUpdate, "the binding digest never reaches a page"


async def test_an_update_is_judged_when_it_is_sent_not_when_it_is_made(namespace: Any) -> None:
    """The guard judges when the send runs, in one step with Reflex's own lookup of the socket.

    A caller may make the send's coroutine and await it later (``create_task``, ``gather``). If
    the guard judged when the coroutine was made (a version that handed Reflex's coroutine back
    from a plain function, to save a frame), a takeover in between received the update: Reflex
    looks the token's socket up only when it runs. Found by review, 2026-12-07.
    """
    from reflex.state import StateUpdate

    sent: list[str | None] = []

    async def sio_emit(event: str, update: Any, to: str | None = None, **kwargs: Any) -> None:
        sent.append(to)

    namespace.emit = sio_emit  # python-socketio's, under Reflex's own emit_update

    class _App:
        event_namespace = namespace

        @contextlib.asynccontextmanager
        async def modify_state(self, token: Any) -> AsyncIterator[Any]:
            yield None

    guard_emits(_App())

    async def made_then_sent_after_a_takeover() -> None:
        EventContext.set(event_context(VICTIM_EVENT))
        send = namespace.emit_update(update=StateUpdate(delta={"s": {"n": 1}}), token=TOKEN)
        await take_over(namespace, ATTACKER, None)  # the victim's socket closes; the XSS connects
        await send

    await asyncio.create_task(made_then_sent_after_a_takeover())
    assert ATTACKER not in sent
    assert sent == []


def verdicts_at_send(app: Any, namespace: Any, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Guard ``app`` as ``install`` does at start-up (its ``modify_state`` declares the tab's
    browser), and record, for each block, whether the socket holding ``TOKEN`` may receive the
    update, asked where Reflex sends it: on the way out of the block."""
    seen: list[bool] = []
    real = app.modify_state

    @contextlib.asynccontextmanager
    async def modify_state(token: Any) -> AsyncIterator[Any]:
        async with real(token) as root:
            yield root
        seen.append(may_receive(namespace, TOKEN))

    monkeypatch.setattr(app, "modify_state", modify_state)
    guard_emits(app)
    return seen


async def test_a_sync_declares_its_update_for_the_tabs_own_browser(
    layer: Any, namespace: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync writes into the tab under its lock, and Reflex sends the change to whichever
    socket holds the token. If the page's socket dropped and the XSS connected with the token
    meanwhile, the page's own sync must not feed the attacker's socket."""
    auth, app = layer
    await signed_in_tab(auth, app, TOKEN)  # bound to the browser with BIND
    await take_over(namespace, ATTACKER, None)
    seen = verdicts_at_send(app, namespace, monkeypatch)
    response = await sync_tab(auth, TOKEN, f"session_bind={BIND}")
    assert response.status_code == 200, response.text
    assert seen == [False]
    assert may_receive(namespace, TOKEN), "the declaration ended with the request"


@pytest.mark.parametrize("holder", ["victim", "attacker"])
async def test_a_push_declares_its_update_for_the_tabs_own_browser(
    layer: Any, namespace: Any, monkeypatch: pytest.MonkeyPatch, holder: str
) -> None:
    """A session change pushed to an open tab (another tab's logout, an admin's edit) goes to
    the tab's own browser, not to a socket that connected with its copied token."""
    from reflex_session.reflex.live import push_refresh

    auth, app = layer
    await signed_in_tab(auth, app, TOKEN)
    if holder == "attacker":
        await take_over(namespace, ATTACKER, None)
    seen = verdicts_at_send(app, namespace, monkeypatch)
    assert await push_refresh("1") == 1
    assert seen == [holder == "victim"]
