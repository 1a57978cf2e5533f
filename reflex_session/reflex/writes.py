"""A background task writes only into a tab of the browser it was started for.

A background task (``@rx.event(background=True)``) reads the user's data when it starts, then
writes in ``async with self`` blocks for as long as it runs. If the tab's socket closes meanwhile
and another browser takes the tab (an XSS that copied the token, connecting from another
machine), the tab is reset and bound to that browser (:mod:`.tab`). The task's next block would
write the first user's data into it, and the next hydrate would send it there.

:func:`guard_writes` wraps the state manager's ``modify_state_with_links`` once, at start-up.
Reflex's event processing names the event it modifies the state for; a background task's
``async with self`` names none, and runs in the context of the event that started it (Reflex's
``EventContext``, which carries that socket's router data). Such a block is entered only while
the tab is still bound to the browser of that socket; otherwise the task ends as cancelled,
before it writes. The binding is read from the tab's state itself, where the manager keeps it
(Redis, with several workers), so the check holds on whichever worker runs the task. An event
being processed gets Reflex's own context manager back, untouched (the event middleware judges
it before its handler runs), as does a modification made outside any event of that tab.

The updates such a task sends are guarded apart, at the emit (:mod:`.emits`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..binding import digests_match
from ..securitylog import refused
from .sockets import binding_of, event_origin
from .tab import session_state_of

__all__ = ["TabTakenOver", "guard_writes"]

_GUARDED = "__reflex_session_writes_guarded__"


class TabTakenOver(asyncio.CancelledError):
    """Ends a background task whose tab another browser took over. A cancellation, so Reflex
    ends the task quietly, as it does any cancelled task."""


async def _for_its_browser(root: Any, token: str) -> bool:
    """Whether the tab ``token`` (its root state ``root``) is still bound to the browser of the
    socket that started the running task (``True`` when nothing says otherwise)."""
    origin = event_origin(token)
    if not origin:
        return True
    expected = (await session_state_of(root)).bound_to()
    return not expected or digests_match(expected, binding_of(origin))


class _ForItsBrowser:
    """Reflex's context manager for one ``async with self`` block of a background task, entered
    only while the tab is bound to the task's browser."""

    __slots__ = ("_inner", "_token")

    def __init__(self, inner: Any, token: str) -> None:
        self._inner = inner
        self._token = token

    async def __aenter__(self) -> Any:
        root = await self._inner.__aenter__()
        try:
            allowed = await _for_its_browser(root, self._token)
        except BaseException as exc:
            await self._inner.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        if not allowed:
            refused("a background task stopped: another browser took its tab")
            stop = TabTakenOver()
            await self._inner.__aexit__(TabTakenOver, stop, None)  # releases the tab's lock
            raise stop
        return root

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._inner.__aexit__(*exc_info)


def guard_writes(app: Any) -> None:
    """Wrap ``app``'s state manager (once; ``install`` registers this as a lifespan function)."""
    try:
        manager = app.state_manager
    except ValueError:  # an app without state: nothing to guard
        return
    if getattr(manager.modify_state_with_links, _GUARDED, False):
        return
    modify = manager.modify_state_with_links

    def modify_state_with_links(token: Any, *args: Any, **kwargs: Any) -> Any:
        inner = modify(token, *args, **kwargs)
        ident = getattr(token, "ident", None)  # a legacy string token names no tab of ours
        if kwargs.get("event") is not None or ident is None:
            return inner  # an event being processed: the event middleware judges it first
        return _ForItsBrowser(inner, ident)

    setattr(modify_state_with_links, _GUARDED, True)
    manager.modify_state_with_links = modify_state_with_links
