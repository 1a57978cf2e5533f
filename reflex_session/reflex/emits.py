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
- a change made through ``app.modify_state`` (a push of a session change, a sync, Reflex's
  fan-out of a shared state, the app's own code outside the tab's events): the browser the tab is
  bound to, which the wrapped ``modify_state`` declares for its block (:func:`made_for`);
- anything else (nothing bound, no event): sent as Reflex would.

A socket of the same browser (a reload) still receives a running task's updates. A socket on
another worker cannot be checked here: the update goes to Reflex's Redis token manager, which
forwards it to that worker (its "lost and found"), as a :class:`ForwardedUpdate` naming the
browser it was made for, and the guard on that worker checks it there.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

from reflex.state import StateUpdate
from reflex_base import constants

from ..binding import digests_match
from ..securitylog import refused
from .sockets import binding_of, event_origin, linked_sid, socket_binding
from .tab import session_state_of

__all__ = ["ForwardedUpdate", "Verdict", "guard_emits", "judge", "made_for", "may_receive"]

#: ``(token, binding)``: the updates this task makes for tab ``token`` are for the browser with
#: that binding digest (declared by :func:`made_for`)
_made_for: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "reflex_session_made_for", default=None
)

_GUARDED = "__reflex_session_emits_guarded__"


def made_for(token: str, binding: str) -> Callable[[], None]:
    """Declare that the updates this task makes for tab ``token`` from now on are for the
    browser whose binding digest is ``binding``; return the function that ends it.

    ``app.modify_state`` declares it by itself once :func:`guard_emits` has wrapped it (with
    the binding the tab's state holds), and ends it when its block is over. A declaration is for
    one tab only: tasks started meanwhile inherit it (Reflex fans a shared state's change out to
    other tabs that way), and their updates for other tabs are judged by the usual rule.
    """
    reset = _made_for.set((token, binding))

    def end() -> None:
        with contextlib.suppress(ValueError):  # ended from another context: nothing to undo
            _made_for.reset(reset)

    return end


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
    declared = _made_for.get()
    expected = declared[1] if declared is not None and declared[0] == token else None
    origin: dict[str, Any] = {}
    origin_sid = ""
    if expected is None:
        origin = event_origin(token)
        if not origin:
            return SEND  # no event of this tab: out of band, or a push another tab declared
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
    made (``False`` too when no socket here holds it; :func:`judge` says what to do then): the
    question tests and callers outside the guard ask."""
    verdict = judge(namespace, token)
    return verdict.send and verdict.check_there is None


def _arrived_for(namespace: Any, token: str, update: ForwardedUpdate) -> bool | None:
    """Whether a forwarded update's browser is the one whose socket holds the tab here
    (``None``: no socket here holds it any more, nothing to send it to)."""
    holder = linked_sid(namespace, token)
    found = socket_binding(namespace, holder) if holder is not None else None
    return None if found is None else digests_match(found, update.for_binding)


def _declaring(modify: Callable[..., Any]) -> Callable[..., Any]:
    """``app.modify_state`` that declares, for its block, the browser the tab is bound to."""

    @contextlib.asynccontextmanager
    async def modify_state(token: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        # a legacy string token is "<client token>_<state name>", split as Reflex splits it
        ident = token.partition("_")[0] if isinstance(token, str) else str(token.ident)
        end: Callable[[], None] | None = None
        try:
            async with modify(token, *args, **kwargs) as state:
                # the tree is whole under the memory and disk managers; under Redis a change to
                # a state outside SessionState's branch (a shared state) loads it: one read
                bound = (await session_state_of(state)).bound_to()
                if bound:
                    end = made_for(ident, bound)
                yield state
            # Reflex sent the block's update on the way out, under the declaration
        finally:
            if end is not None:
                end()

    setattr(modify_state, _GUARDED, True)
    return modify_state


def guard_emits(app: Any) -> None:
    """Install the guard on ``app`` (once; ``install`` registers it as a lifespan function, when
    Reflex's event namespace exists): its namespace's ``emit_update`` sends by :func:`judge`,
    and its ``modify_state`` (how Reflex fans shared states out, and how an app or this layer
    changes a tab from outside its events) declares the tab's own browser."""
    if not getattr(app.modify_state, _GUARDED, False):
        app.modify_state = _declaring(app.modify_state)
    namespace = getattr(app, "event_namespace", None)
    if namespace is None or getattr(namespace.emit_update, _GUARDED, False):
        return
    emit = namespace.emit_update

    # a coroutine function on purpose: the verdict is taken when the send runs, in one step with
    # Reflex's lookup of the token's socket. Judged when the coroutine is made, a caller that
    # awaits it later (a task, a gather) would send to whoever took the tab in between
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
