"""Red team F2, the write: a background task enters ``async with self`` only while its tab is
bound to the browser that started it.

Another browser taking the tab resets and rebinds it (``tab.py``); a task started for the first
browser must not write that browser's data into it, on any worker. These run Reflex's own
memory state manager and ``EventContext``; the binding is read from the tab's state, as it is
from Redis with several workers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reflex as rx
from layer_helpers import make_root, sub
from reflex.istate.manager.memory import StateManagerMemory
from reflex.istate.manager.token import BaseStateToken
from reflex_base import constants
from reflex_base.event import Event
from reflex_base.event.context import EventContext
from reflex_base.utils.format import format_event_handler
from testkit import BIND, OTHER_BIND

from reflex_session.binding import digest
from reflex_session.reflex import SessionState
from reflex_session.reflex.writes import TabTakenOver, guard_writes

TOKEN = "tab-1"


class ReportState(SessionState):
    line: str = ""

    @rx.event(background=True)
    async def run_report(self) -> None:
        async with self:
            self.line = "written"

    @rx.event
    def reset_line(self) -> None:
        self.line = ""


RESET = format_event_handler(ReportState.event_handlers["reset_line"])


class _App:
    def __init__(self, manager: StateManagerMemory) -> None:
        self.state_manager = manager


@pytest.fixture
def manager(layer: Any) -> StateManagerMemory:
    """Reflex's memory manager holding one tab bound to the browser with ``BIND``, guarded."""
    states = {TOKEN: make_root()}
    memory = StateManagerMemory(states=states)
    guard_writes(_App(memory))
    return memory


async def started_by(cookie: str, fn: Any, *args: Any) -> Any:
    """Await ``fn(*args)`` in a task started by a socket presenting ``cookie`` (Reflex runs
    each event in a task of its own, with the event's context set)."""
    data = {
        constants.RouteVar.SESSION_ID: "sid-1",
        constants.RouteVar.CLIENT_TOKEN: TOKEN,
        constants.RouteVar.HEADERS: {"cookie": cookie, "x-reflex-session-https": "0"},
    }

    async def task() -> Any:
        EventContext.set(
            EventContext(
                token=TOKEN,
                state_manager=None,  # type: ignore[arg-type]
                enqueue_impl=None,  # type: ignore[arg-type]
                router_data=data,
            )
        )
        return await fn(*args)

    return await asyncio.create_task(task())


async def write(manager: StateManagerMemory, line: str = "written") -> None:
    """One ``async with self`` block of a background task, as Reflex's state proxy enters it
    (in 0.10.1 it names no event)."""
    token = BaseStateToken(ident=TOKEN, cls=ReportState)
    async with manager.modify_state_with_links(token=token, event=None) as root:
        sub(root, ReportState).line = line


async def process(manager: StateManagerMemory, event: str, line: str) -> None:
    """Reflex's event processing of ``event`` (it names the event)."""
    token = BaseStateToken(ident=TOKEN, cls=ReportState)
    async with manager.modify_state_with_links(token, event=Event(name=event)) as root:
        sub(root, ReportState).line = line


def take_over(manager: StateManagerMemory) -> None:
    """What the tab check does when another browser hydrates: the tab is bound to it."""
    sub(manager.states[TOKEN], SessionState).bind_to(digest(OTHER_BIND))


async def test_a_task_writes_while_the_tab_is_its_browsers(manager: StateManagerMemory) -> None:
    await started_by(f"session_bind={BIND}", write, manager)
    assert sub(manager.states[TOKEN], ReportState).line == "written"


async def test_a_task_stops_before_writing_into_a_tab_another_browser_took(
    manager: StateManagerMemory,
) -> None:
    take_over(manager)
    with pytest.raises(TabTakenOver):
        await started_by(f"session_bind={BIND}", write, manager, "victim's data")
    assert sub(manager.states[TOKEN], ReportState).line == ""
    # the tab's lock was let go: the new browser's own events and tasks go on
    await started_by(f"session_bind={OTHER_BIND}", write, manager, "its own")
    assert sub(manager.states[TOKEN], ReportState).line == "its own"
    assert issubclass(TabTakenOver, asyncio.CancelledError)  # Reflex ends it quietly


async def test_other_modifications_get_reflexs_own_context_manager(
    manager: StateManagerMemory,
) -> None:
    """An event being processed is judged by the event middleware before its handler runs (the
    wrapper adds no layer to it); a change outside any event of this tab is the app's own."""
    take_over(manager)
    token = BaseStateToken(ident=TOKEN, cls=ReportState)
    inner = manager.modify_state_with_links(token, event=Event(name=RESET))
    assert type(inner).__name__ != "_ForItsBrowser"
    await started_by(f"session_bind={BIND}", process, manager, RESET, "foreground")
    assert sub(manager.states[TOKEN], ReportState).line == "foreground"
    await write(manager, "outside any event")  # no EventContext: the app's own
    assert sub(manager.states[TOKEN], ReportState).line == "outside any event"


async def test_guard_writes_wraps_once(layer: Any) -> None:
    memory = StateManagerMemory(states={})
    guard_writes(_App(memory))
    wrapped = memory.modify_state_with_links
    guard_writes(_App(memory))
    assert memory.modify_state_with_links is wrapped
