"""An update goes only to a socket of the browser it was made for.

Reflex sends a tab's update to whichever socket holds the tab's token *when the update goes out*
(``EventNamespace.emit_update``). The per-event check (:mod:`.tab`) judges an event when it
arrives, but some updates are made later: a background task's ``async with self`` blocks, events
chained on the server, a session change pushed to an open tab (:mod:`.live`). If the tab's socket
closed meanwhile, and a script that had copied the token connected with it from another machine,
Reflex would send those updates there: the victim's data, to the attacker.

:func:`guard_emits` wraps the namespace's ``emit_update`` once, at start-up. Each update is sent
only when the socket holding the token presents the binding of the browser it was made for:

- an update made by an event of this tab: the browser of the socket that sent the event. Reflex's
  ``EventContext`` carries that socket's router data, and chained events and background tasks
  inherit it. The common case, the event's own socket still holding the tab, costs two context
  reads and one lookup;
- a push to an open tab: the browser the tab is bound to, which the push declares with
  :func:`made_for`;
- anything else (an app's own ``modify_state`` outside any event): sent as Reflex would.

A socket of the same browser (a reload) still receives a running task's updates. A socket on
another worker cannot be checked here: the update goes to Reflex's Redis token manager, which
forwards it to that worker (its "lost and found"), as a :class:`ForwardedUpdate` naming the
browser it was made for, and the guard on that worker checks it there.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

from reflex.state import StateUpdate
from reflex_base import constants
from reflex_base.event.context import EventContext

from ..binding import digests_match
from ..securitylog import refused
from .tab import binding_of, linked_sid, socket_binding

__all__ = ["ForwardedUpdate", "Verdict", "guard_emits", "judge", "made_for", "may_receive"]

#: the binding of the browser a push's updates are for (set in the push's own task)
_made_for: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "reflex_session_made_for", default=None
)

_GUARDED = "__reflex_session_guarded__"


def made_for(binding: str | None) -> Callable[[], None]:
    """Declare that the updates this task sends from now on are for the browser whose binding
    digest is ``binding`` (``None``: not for a particular browser), and return the function
    that ends the declaration.

    The declaration holds for the rest of the task, so code that shares its task with other
    work (an HTTP request) ends it once its update is out; a push in a task of its own
    (``asyncio.gather`` runs each coroutine as one) need not.
    """
    reset = _made_for.set(binding or None)
    return lambda: _made_for.reset(reset)


@dataclasses.dataclass(frozen=True)
class ForwardedUpdate(StateUpdate):
    """An update for a socket of another worker, with the binding digest of the browser it was
    made for: Reflex pickles it to that worker, whose guard sends it on as a plain
    ``StateUpdate`` only if the socket presents that binding. Never sent to a page."""

    for_binding: str = ""


class Verdict(NamedTuple):
    """What to do with one update: send it or not, and, when the socket holding the tab is not
    this worker's, the binding the worker that has it must find (:class:`ForwardedUpdate`)."""

    send: bool
    check_there: str | None = None


SEND, WITHHOLD = Verdict(True), Verdict(False)


def judge(namespace: Any, token: str) -> Verdict:
    """What to do with an update this task made for tab ``token`` (see the module docstring)."""
    expected = _made_for.get()
    origin: dict[str, Any] = {}
    origin_sid = ""
    if expected is None:
        try:
            origin = EventContext.get().router_data
        except LookupError:
            return SEND  # not made by an event: the app's own out-of-band change
        if not origin or origin.get(constants.RouteVar.CLIENT_TOKEN) != token:
            return SEND  # not this tab's event (a push to another tab declares its own)
        origin_sid = str(origin.get(constants.RouteVar.SESSION_ID) or "")
    holder = linked_sid(namespace, token)
    if origin_sid and holder == origin_sid:
        return SEND  # the common case: the event's own socket
    if expected is None:
        expected = binding_of(origin)
    found = socket_binding(namespace, holder) if holder is not None else None
    if found is None:  # no socket of this worker holds the tab: the one that does will check
        return Verdict(True, expected)
    return SEND if digests_match(found, expected) else WITHHOLD


def may_receive(namespace: Any, token: str) -> bool:
    """Whether the socket holding tab ``token`` on this worker may receive an update this task
    made (``False`` too when no socket here holds it; :func:`judge` says what to do then)."""
    verdict = judge(namespace, token)
    return verdict.send and verdict.check_there is None


def _arrived_for(namespace: Any, token: str, update: ForwardedUpdate) -> bool | None:
    """Whether a forwarded update's browser is the one whose socket holds the tab here
    (``None``: no socket here holds it any more, nothing to send it to)."""
    holder = linked_sid(namespace, token)
    found = socket_binding(namespace, holder) if holder is not None else None
    return None if found is None else digests_match(found, update.for_binding)


def guard_emits(app: Any) -> None:
    """Wrap ``app``'s ``emit_update`` with :func:`may_receive` (once; ``install`` registers it
    as a lifespan function, when Reflex's event namespace exists)."""
    namespace = getattr(app, "event_namespace", None)
    if namespace is None or getattr(namespace.emit_update, _GUARDED, False):
        return
    emit = namespace.emit_update

    async def emit_update(update: Any, token: str) -> None:
        if isinstance(update, ForwardedUpdate):  # made on another worker, checked here
            arrived = _arrived_for(namespace, token, update)
            if arrived:
                await emit(StateUpdate(delta=update.delta, events=update.events), token)
            elif arrived is not None:
                refused("a forwarded update was withheld: the tab's socket is another browser's")
            return
        verdict = judge(namespace, token)
        if not verdict.send:
            refused("an update was withheld: the tab's socket is not the browser it was made for")
        elif verdict.check_there is not None:
            forwarded = ForwardedUpdate(
                delta=update.delta, events=update.events, for_binding=verdict.check_there
            )
            await emit(forwarded, token)
        else:
            await emit(update, token)

    setattr(emit_update, _GUARDED, True)
    namespace.emit_update = emit_update
