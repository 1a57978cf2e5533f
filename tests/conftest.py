"""Shared fixtures: a secret, a fake clock, a ReflexSession factory, a cookie-keeping browser, and
the private OpenID provider of the sign-in tests (panva's oidc-provider, tests/oidc/provider).

``scripts/test.sh`` starts that provider for the whole run and exports ``OIDC_ISSUER`` /
``OIDC_SECRET``; a plain ``pytest`` run without them starts its own in the ``provider`` fixture,
on a free port, and stops it at the end. Either way it listens on 127.0.0.1 only and keeps
everything in memory.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from oidckit import Provider
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


PROVIDER_DIR = Path(__file__).resolve().parent / "oidc" / "provider"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def provider() -> Iterator[Provider]:
    issuer, secret = os.environ.get("OIDC_ISSUER"), os.environ.get("OIDC_SECRET")
    if issuer and secret:
        yield Provider(issuer, secret)
        return
    node = shutil.which("node")
    assert node, "node is needed for the OpenID provider (scripts/test.sh installs everything)"
    assert (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir(), (
        "tests/oidc/provider has no node_modules: run scripts/test.sh (or npm ci there)"
    )
    port, secret = _free_port(), secrets.token_hex(16)
    # a file, not a pipe: a long run's output must never block node
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [node, "server.js"],
            cwd=PROVIDER_DIR,
            env={**os.environ, "OIDC_PORT": str(port), "OIDC_SECRET": secret},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started = Provider(f"http://127.0.0.1:{port}", secret)
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    started.discovery()
                    break
                except httpx2.HTTPError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        pytest.fail(f"the OpenID provider did not start:\n{log.read().decode()}")
                    time.sleep(0.1)
            yield started
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
