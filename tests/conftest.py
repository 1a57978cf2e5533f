"""Shared fixtures: a secret, a fake clock, a ReflexSession factory, a cookie-keeping browser."""

from __future__ import annotations

from typing import Any

import pytest
from testkit import SECRET, Browser

from reflex_session import ReflexSession
from reflex_session.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_auth(clock: FakeClock):
    """``make_auth(**overrides)``: a ReflexSession on SECRET and the test's FakeClock."""

    def factory(**overrides: Any) -> ReflexSession[Any]:
        options: dict[str, Any] = {"secret_key": SECRET, "clock": clock}
        options.update(overrides)
        return ReflexSession(**options)

    return factory


@pytest.fixture
def auth(make_auth) -> ReflexSession[Any]:
    return make_auth()


@pytest.fixture
def make_browser():
    """``make_browser(auth, https=False)``: a fresh :class:`Browser`."""
    return Browser


@pytest.fixture
def browser(auth: ReflexSession[Any]) -> Browser:
    return Browser(auth)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last.

    Playwright's sync API keeps an event loop running in this thread while a browser is open,
    and pytest-asyncio cannot start its own loop beside it; running the e2e tests after every
    async test keeps the two apart (the e2e browser fixture is also module-scoped, so it is
    closed when its module ends).
    """
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
