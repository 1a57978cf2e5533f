"""The app ``benchmarks/tabs.py`` measures: one page, one counter, in one of four variants.

``TABS_VARIANT`` picks the variant when the server starts; the page and the handlers are the
same code in all four:

* ``plain``: a plain Reflex app. ``CounterState`` inherits ``rx.State``; reflex-session is not
  even imported, and ``increment_guarded`` is a second plain handler.
* ``shaped``: the control. Plain Reflex again, but ``CounterState`` inherits ``SessionShape``
  (``shape.py``): a copy of ``SessionState``'s vars and sibling states, without its code.
* ``session``: the same app with reflex-session installed as the README shows it: cookie mode
  (``ReflexSession(session_expiry=...)``, the secret from ``$SESSION_SECRET``),
  ``CounterState`` inherits ``SessionState``, ``install(app, auth)``, and ``increment_guarded``
  is ``@guarded``.
* ``store``: the same in store mode, on the store ``$TABS_STORE_URL`` names (``store.py``: a
  SQLite file or PostgreSQL with ``SQLStore``, Redis with ``RedisStore``; ``$TABS_STORE_NAME``
  is the table or key prefix) with the read cache (``read_cache_ttl``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import reflex as rx

VARIANT = os.environ.get("TABS_VARIANT", "plain")
EXPIRY = int(os.environ.get("TABS_SESSION_EXPIRY", str(24 * 3600)))

if VARIANT in ("plain", "shaped"):
    Base: type[rx.State] = rx.State
    if VARIANT == "shaped":
        from .shape import SessionShape

        Base = SessionShape

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

else:
    from reflex_session import ReflexSession
    from reflex_session.reflex import SessionState, guarded, install

    from .store import open_store

    Base = SessionState
    auth: ReflexSession[Any]
    if VARIANT == "store":
        auth = ReflexSession(
            store=open_store(os.environ["TABS_STORE_URL"], os.environ["TABS_STORE_NAME"]),
            session_expiry=EXPIRY,
            read_cache_ttl=float(os.environ["TABS_READ_CACHE_TTL"]),
        )
    else:
        auth = ReflexSession(session_expiry=EXPIRY)


class CounterState(Base):  # type: ignore[valid-type,misc]
    count: int = 0

    @rx.event
    def increment(self) -> None:
        self.count += 1

    @rx.event
    @guarded
    def increment_guarded(self) -> None:
        self.count += 1


def index() -> rx.Component:
    page: rx.Component = rx.vstack(
        rx.heading("Tabs", id="heading"),
        rx.text("Count: ", rx.text.span(CounterState.count, id="count")),
        rx.button("Add", on_click=CounterState.increment, id="add"),
        rx.button("Add (guarded)", on_click=CounterState.increment_guarded, id="add-guarded"),
    )
    return page


app = rx.App()
app.add_page(index, route="/")
if VARIANT not in ("plain", "shaped"):
    install(app, auth)
