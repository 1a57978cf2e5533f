"""Fixtures of the Reflex-layer tests: an installed layer over a fake app, in cookie mode
(``layer``) and in store mode (``store_layer``)."""

from __future__ import annotations

from typing import Any

import pytest
from layer_helpers import FakeApp
from testkit import SECRET

from reflex_session import ReflexSession, patterns, route
from reflex_session.reflex import routing
from reflex_session.reflex.runtime import ClientOptions, set_runtime
from reflex_session.stores import MemoryStore
from reflex_session.testing import FakeClock


def installed(clock: FakeClock, **settings: Any) -> tuple[ReflexSession[Any], FakeApp]:
    """A ReflexSession installed over a fresh fake app (what ``install`` registers)."""
    auth = ReflexSession(
        secret_key=SECRET,
        clock=clock,
        session_expiry=600,
        routes=[route.public("/login"), route.auth(patterns.dashboard)],
        **settings,
    )
    app = FakeApp()
    set_runtime(app, auth, ClientOptions())  # type: ignore[arg-type]
    routing._page_specs.cache_clear()
    return auth, app


@pytest.fixture
def layer(clock: FakeClock) -> tuple[ReflexSession[Any], FakeApp]:
    """Cookie mode."""
    return installed(clock, refresh_threshold=60)


@pytest.fixture
def store_layer(clock: FakeClock) -> tuple[ReflexSession[Any], FakeApp]:
    """Store mode (a MemoryStore on the test's clock)."""
    return installed(clock, store=MemoryStore(clock=clock))


@pytest.fixture(autouse=True)
async def _pushes_finish() -> Any:
    """Live pushes run in tasks of their own (``live.notify``): each test's finish before the
    next test starts, so none outlives the test that made it."""
    from reflex_session.reflex.live import pushes_settled

    yield
    await pushes_settled()
