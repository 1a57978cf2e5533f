"""Real servers and a real browser for the end-to-end tests.

Each server is the app in ``tests/e2e/app`` copied to a temporary folder and started with
``reflex run --env prod`` (backend and compiled frontend on one port), exactly as a user runs it.
The browser is Debian's Chromium driven by Playwright (never Playwright's own download, which
cannot be fetched here). Every websocket frame, HTTP response body and server log line of a test
is recorded so tests can prove no secret reached the browser or the log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_SOURCE = Path(__file__).parent / "app"
SECRET = "e2e-secret-for-browser-tests-0123456789abcdef"
CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bun_env() -> dict[str, str]:
    """Reflex needs bun; scripts/test.sh installs it from npm and exports REFLEX_BUN_PATH."""
    env = dict(os.environ)
    if not env.get("REFLEX_BUN_PATH"):
        found = sorted((ROOT / ".tools" / "bun" / "node_modules" / "@oven").glob("*/bin/bun"))
        if not found:
            pytest.fail("bun is not installed: run the suite with scripts/test.sh")
        env["REFLEX_BUN_PATH"] = str(found[0])
    env.setdefault("BUN_INSTALL_CACHE_DIR", str(ROOT / ".tools" / "bun-cache"))
    env.setdefault("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/")
    return env


@dataclass
class ReflexServer:
    """One ``reflex run --env prod`` process of the e2e app."""

    name: str
    workdir: Path
    settings: dict[str, str]
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def start(self, timeout: float = 300) -> None:
        STARTED_SERVERS.append(self)  # for the secret scan at the end of the run (bottom)
        env = _bun_env()
        env["SESSION_SECRET"] = SECRET
        env.update(self.settings)  # a server's own settings win (another secret, for rotation)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        reflex = Path(sys.executable).with_name("reflex")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(reflex),
                    "run",
                    "--env",
                    "prod",
                    "--frontend-port",
                    str(self.port),
                    "--backend-port",
                    str(self.port),
                    "--loglevel",
                    "info",
                ],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} server exited:\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2) as r:
                    if r.status == 200:
                        with urllib.request.urlopen(self.url + "/", timeout=5) as page:
                            if b"<html" in page.read().lower():
                                return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"{self.name} server did not start in {timeout}s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _make_server(tmp_factory: pytest.TempPathFactory, name: str, **settings: str) -> ReflexServer:
    workdir = tmp_factory.mktemp(name)
    shutil.copytree(
        APP_SOURCE,
        workdir,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".web", ".states", "__pycache__", "*.db", "reflex.lock"),
    )
    return ReflexServer(name, workdir, settings)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReflexServer]:
    """The app with an hour-long session."""
    srv = _make_server(tmp_path_factory, "app", E2E_SESSION_EXPIRY="3600")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReflexServer]:
    """The app with a 12-second session (3 s refresh threshold, 'soon' in the last 2 s)."""
    srv = _make_server(
        tmp_path_factory, "short", E2E_SESSION_EXPIRY="12", E2E_REFRESH_THRESHOLD="3"
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run the suite with scripts/test.sh")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Recorder:
    """Everything that crossed the wire to the browser during one test."""

    frames: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    sync_requests: list[float] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        def on_ws(ws: Any) -> None:
            ws.on("framereceived", lambda payload: self.frames.append(str(payload)))
            ws.on("framesent", lambda payload: self.frames.append(str(payload)))

        def on_response(response: Any) -> None:
            if "/api/session" in response.url:
                if response.url.rstrip("/").endswith("/sync"):
                    self.sync_requests.append(time.monotonic())
                # a body that is gone (redirect, closed page) cannot have leaked anything
                with contextlib.suppress(Exception):
                    self.bodies.append(response.text())

        page.on("websocket", on_ws)
        page.on("response", on_response)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def context(browser: Any, recorder: Recorder) -> Iterator[Any]:
    ctx = browser.new_context()
    ctx.on("page", recorder.attach)
    yield ctx
    ctx.close()


def login(page: Any, email: str = "ada@example.com", password: str = "correct horse") -> None:
    page.wait_for_selector("#email")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#submit")


# -- the secret scan of the whole end-to-end run -----------------------------------------------

#: Every server started in this run (``ReflexServer.start`` appends itself), so the scan at the
#: end reads every log — the e2e app's, the demo's and the several-workers servers'.
STARTED_SERVERS: list[ReflexServer] = []
