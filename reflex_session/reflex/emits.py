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
another worker cannot be checked here, so an update made for a browser is withheld from it (fail
closed): a push reaches that tab through its own worker, which the relay also tells, and a
background task's later updates show at the tab's next hydrate.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from reflex_base import constants
from reflex_base.event.context import EventContext

from ..binding import digests_match
from ..securitylog import refused
from .tab import binding_of, linked_sid, socket_binding

__all__ = ["guard_emits", "made_for", "may_receive"]

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


def may_receive(namespace: Any, token: str) -> bool:
    """Whether the socket that holds tab ``token`` now may receive an update this task made."""
    expected = _made_for.get()
    origin_sid = ""
    if expected is None:
        try:
            origin = EventContext.get().router_data
        except LookupError:
            return True  # not made by an event: the app's own out-of-band change
        if not origin or origin.get(constants.RouteVar.CLIENT_TOKEN) != token:
            return True  # not this tab's event (a push to another tab declares its own)
        origin_sid = str(origin.get(constants.RouteVar.SESSION_ID) or "")
    holder = linked_sid(namespace, token)
    if holder is None:
        return False  # nobody here holds the tab: Reflex would drop it or send it elsewhere
    if origin_sid and holder == origin_sid:
        return True  # the common case: the event's own socket
    if expected is None:
        expected = binding_of(origin)
    found = socket_binding(namespace, holder)
    return found is not None and digests_match(found, expected)


def guard_emits(app: Any) -> None:
    """Wrap ``app``'s ``emit_update`` with :func:`may_receive` (once; ``install`` registers it
    as a lifespan function, when Reflex's event namespace exists)."""
    namespace = getattr(app, "event_namespace", None)
    if namespace is None or getattr(namespace.emit_update, _GUARDED, False):
        return
    emit = namespace.emit_update

    async def emit_update(update: Any, token: str) -> None:
        if may_receive(namespace, token):
            await emit(update, token)
        else:
            refused("an update was withheld: the tab's socket is not the browser it was made for")

    setattr(emit_update, _GUARDED, True)
    namespace.emit_update = emit_update
