"""Shared fixtures: a secret, a fake clock, a ReflexSession factory, a cookie-keeping browser."""

from __future__ import annotations

from typing import Any

import pytest

from reflex_session import CookieJar, ReflexSession
from reflex_session.testing import FakeClock

#: 43 characters, like ``secrets.token_urlsafe(32)``. Only ever used in tests.
SECRET = "rs-test-secret-0123456789-abcdefghijklmnopq"
#: A well-formed browser binding value (43 base64url characters) for tests of the Reflex layer,
#: and the one an attacker's browser presents instead.
BIND = "B" * 43
OTHER_BIND = "A" * 43


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


class Browser:
    """Keeps what ``Set-Cookie`` headers set (``Max-Age<=0`` deletes) and sends it back.

    It deliberately never expires a cookie by itself, so expiry tests prove the *server*
    refuses an old cookie.
    """

    def __init__(self, auth: ReflexSession[Any], *, https: bool = False) -> None:
        self.auth = auth
        self.https = https
        self.cookies: dict[str, str] = {}

    def jar(self) -> CookieJar:
        header = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        return self.auth.jar(header or None, https=self.https)

    def receive(self, jar: CookieJar) -> int:
        """Apply the response's Set-Cookie headers; return how many there were."""
        for line in jar.set_cookie_headers:
            pair, *attributes = line.split("; ")
            name, _, value = pair.partition("=")
            max_age = next(
                (int(a.split("=", 1)[1]) for a in attributes if a.startswith("Max-Age=")), None
            )
            if max_age is not None and max_age <= 0:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return len(jar.set_cookie_headers)

    @property
    def token(self) -> str | None:
        policy = self.auth.cookie_policy
        return self.cookies.get(policy.name_for(policy.is_secure(self.https)))


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


def set_cookie_value(response: Any, name: str = "session") -> str | None:
    """The session cookie an HTTP response sets: its value, ``""`` when the response clears it,
    ``None`` when it leaves the cookie alone."""
    for header in response.headers.get_list("set-cookie"):
        pair, _, attributes = header.partition(";")
        cookie_name, _, value = pair.partition("=")
        if cookie_name.strip() == name:
            return "" if "Max-Age=0" in attributes else value
    return None
