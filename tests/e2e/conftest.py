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
from collections.abc import Callable, Iterator
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


def wait_until(
    predicate: Callable[[], Any], what: str, timeout: float = 5.0, page: Any = None
) -> Any:
    """Poll ``predicate`` until it is truthy (its value is returned) or fail after ``timeout``.

    With a ``page``, wait through Playwright so the page's events are delivered meanwhile (the
    sync API runs event handlers only while it is inside one of its own calls)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        if page is not None:
            page.wait_for_timeout(100)
        else:
            time.sleep(0.05)


def settled(page: Any, ready: str = "!!window.__reflexSession", quiet: float = 1.5) -> None:
    """Wait until the page is loaded (``ready`` holds) and stays the same document for ``quiet``
    seconds: the runtime may reload a page once by itself (a planted cookie removed, a lost
    binding), and a Playwright call made during that reload fails with "Execution context was
    destroyed". ``performance.timeOrigin`` changes with every load, so an unchanged value over
    the quiet window means no reload happened in it."""

    def origin() -> float | None:
        try:
            page.wait_for_function(ready, timeout=5000)
            value: float = page.evaluate("performance.timeOrigin")
            return value
        except Exception:  # navigating: the next round sees the new document
            return None

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        first = origin()
        page.wait_for_timeout(int(quiet * 1000))
        if first is not None and origin() == first:
            return
    pytest.fail("the page kept reloading for 30 s")


def login(page: Any, email: str = "ada@example.com", password: str = "correct horse") -> None:
    page.wait_for_selector("#email")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#submit")


# -- the secret scan of the whole end-to-end run -----------------------------------------------


class _ServerRegistry(list[ReflexServer]):
    """The servers started in this run, and the settings of each start (a restart may change
    them: a secret rotation restarts a server with a new secret)."""

    def __init__(self) -> None:
        super().__init__()
        self.settings: list[tuple[str, dict[str, str]]] = []

    def append(self, server: ReflexServer) -> None:
        super().append(server)
        self.settings.append((server.name, dict(server.settings)))


#: Every server started in this run (``ReflexServer.start`` appends itself), so the scan at the
#: end reads every log — the e2e app's, the demo's and the several-workers servers'.
STARTED_SERVERS = _ServerRegistry()


#: how much of each server's log a failed test shows
LOG_TAIL_LINES = 80


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows the end of the log of every server it used (its fixtures), so that a
    failure seen once in CI (a timeout waiting for the page) can be read afterwards: the
    servers' folders are gone by then. The logs are the library's redacted ones, and the secret
    scan at the end of the run checks them as it checks the rest."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    seen: set[int] = set()
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, ReflexServer) and id(value) not in seen:
            seen.add(id(value))
            tail = "\n".join(value.log().splitlines()[-LOG_TAIL_LINES:])
            report.sections.append(
                (f"server log: {value.name} (last {LOG_TAIL_LINES} lines)", tail)
            )


#: Tokens the e2e apps seal into their sessions (``tests/e2e/app``: ``<prefix><user id>``).
APP_TOKEN_PREFIXES = ("e2e-access-token-", "e2e-refresh-token-")
#: Settings whose names contain one of these words hold a secret (comma-separated lists too).
_SECRET_SETTING_WORDS = ("SECRET", "PASSWORD", "TOKEN", "PRIVATE")
#: Shorter values are not scanned for: they would match ordinary text and prove nothing.
_MIN_NEEDLE = 12


def scan_for_secrets(
    needles: dict[str, str], haystacks: dict[str, list[str]], context: int = 60
) -> list[str]:
    """Every occurrence of a needle (label -> secret value) in the haystacks (label -> items).

    A finding names the haystack, the item's index (a log's line number counts from 1) and the
    needle's label, and quotes the text around it with *every* needle replaced by ``<label>``,
    so the report of a leak never leaks the secret again.
    """
    wanted = {label: value for label, value in needles.items() if len(value) >= _MIN_NEEDLE}
    findings: list[str] = []
    for where, items in haystacks.items():
        for index, item in enumerate(items, start=1):
            for label, value in wanted.items():
                at = item.find(value)
                if at < 0:
                    continue
                excerpt = item[max(0, at - context) : at + len(value) + context]
                for other_label, other in wanted.items():
                    excerpt = excerpt.replace(other, f"<{other_label}>")
                findings.append(f"{where} #{index}: {label}: {excerpt!r}")
    return findings


def secrets_of_settings(settings: dict[str, str]) -> dict[str, str]:
    """The secret values in a server's environment settings: every value of a ``*SECRET*``,
    ``*PASSWORD*``, ``*TOKEN*`` or ``*PRIVATE*`` setting (each item of a comma-separated list),
    and the password of any URL setting unless it is just the user name repeated (a log may
    name the user, and that is no leak)."""
    from urllib.parse import urlsplit

    found: dict[str, str] = {}
    for name, value in settings.items():
        if any(word in name.upper() for word in _SECRET_SETTING_WORDS):
            for number, item in enumerate(v.strip() for v in value.split(",")):
                if item:
                    found[f"{name}[{number}]"] = item
        if "://" in value:
            with contextlib.suppress(ValueError):
                parts = urlsplit(value)
                if parts.password and parts.password != parts.username:
                    found[f"password in {name}"] = parts.password
    return found


@dataclass
class WireTap:
    """What every browser context of the run received: session cookie values (from
    ``Set-Cookie`` headers and from the contexts' jars), websocket frames, session API bodies."""

    cookies: dict[str, str] = field(default_factory=dict)  # value -> where it was first seen
    frames: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    recorders: list[Recorder] = field(default_factory=list)
    pages: int = 0

    def keep_cookie(self, name: str, value: str, where: str) -> None:
        if name.endswith("session") and value:
            self.cookies.setdefault(value, where)

    def snapshot(self, context: Any) -> None:
        with contextlib.suppress(Exception):  # a context that is already gone has no jar
            for cookie in context.cookies():
                self.keep_cookie(cookie["name"], cookie["value"], "a browser jar")

    def on_response(self, response: Any) -> None:
        url = response.url
        api = "/api/session" in url
        with contextlib.suppress(Exception):  # a response whose page closed: nothing to read
            if api or response.request.resource_type == "document":
                for header in response.headers_array():
                    if header["name"].lower() == "set-cookie":
                        name, _, rest = header["value"].partition("=")
                        self.keep_cookie(name.strip(), rest.split(";", 1)[0].strip(), url)
        if api:
            with contextlib.suppress(Exception):  # a redirect or a closed page has no body
                self.bodies.append(response.text())
        elif "transport=polling" in url:  # the socket as long polling: its packets, received
            with contextlib.suppress(Exception):
                self.frames.append(response.text())

    def on_request(self, request: Any) -> None:
        """The socket's packets sent by the page, under long polling."""
        if "transport=polling" in request.url:
            with contextlib.suppress(Exception):
                if request.post_data:
                    self.frames.append(request.post_data)

    def on_page(self, page: Any) -> None:
        def on_ws(ws: Any) -> None:
            ws.on("framereceived", lambda payload: self.frames.append(str(payload)))
            ws.on("framesent", lambda payload: self.frames.append(str(payload)))

        self.pages += 1
        page.on("websocket", on_ws)

    def watch(self, context: Any) -> None:
        context.on("page", self.on_page)
        context.on("response", self.on_response)
        context.on("request", self.on_request)

    def needles(self) -> dict[str, str]:
        found: dict[str, str] = {"SECRET": SECRET}
        for number, value in enumerate(self.cookies):
            found[f"session cookie {number + 1}"] = value
            sealed = value.split(".")
            if len(sealed) == 5 and len(sealed[3]) >= _MIN_NEEDLE:
                found[f"ciphertext of session cookie {number + 1}"] = sealed[3]
        for prefix in APP_TOKEN_PREFIXES:
            found[f"app token {prefix}*"] = prefix
        known = set(found.values())
        for start, (name, settings) in enumerate(STARTED_SERVERS.settings, start=1):
            for label, value in secrets_of_settings(settings).items():
                if value not in known:  # each value once, named after the first start using it
                    known.add(value)
                    found[f"{label} of {name} (start {start})"] = value
        return found

    def haystacks(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {
            "websocket frame": self.frames,
            "session API body": self.bodies,
            "Recorder websocket frame": [f for r in self.recorders for f in r.frames],
            "Recorder body": [b for r in self.recorders for b in r.bodies],
        }
        for server in {id(s): s for s in STARTED_SERVERS}.values():
            found[f"log of {server.name} ({server.log_path}) line"] = server.log().splitlines()
        return found


@pytest.fixture(scope="session", autouse=True)
def secret_scan() -> Iterator[WireTap]:
    """At the end of the run, every server log, websocket frame and session API body of every
    browser context is scanned for every session cookie value seen, the apps' tokens and the
    secrets (``SECRET`` and each server's secret settings); one occurrence fails the run,
    listing where (redacted). Browser contexts are tapped by wrapping Playwright's
    ``Browser.new_context``/``new_page`` (so a test's own ``browser.new_context()`` is seen
    too), and their jars are read before they close."""
    from playwright.sync_api import Browser, BrowserContext

    tap = WireTap()
    new_context, new_page = Browser.new_context, Browser.new_page
    close_context, close_browser = BrowserContext.close, Browser.close
    attach = Recorder.attach

    def tapped_new_context(self: Any, *args: Any, **kwargs: Any) -> Any:
        context = new_context(self, *args, **kwargs)
        tap.watch(context)
        return context

    def tapped_new_page(self: Any, *args: Any, **kwargs: Any) -> Any:
        page = new_page(self, *args, **kwargs)
        tap.watch(page.context)
        tap.on_page(page)  # created before the tap could see it
        return page

    def tapped_close_context(self: Any, *args: Any, **kwargs: Any) -> Any:
        tap.snapshot(self)
        return close_context(self, *args, **kwargs)

    def tapped_close_browser(self: Any, *args: Any, **kwargs: Any) -> Any:
        for context in list(self.contexts):
            tap.snapshot(context)
        return close_browser(self, *args, **kwargs)

    def registering_attach(self: Recorder, page: Any) -> None:
        if not any(r is self for r in tap.recorders):
            tap.recorders.append(self)
        attach(self, page)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Browser, "new_context", tapped_new_context)
        patch.setattr(Browser, "new_page", tapped_new_page)
        patch.setattr(BrowserContext, "close", tapped_close_context)
        patch.setattr(Browser, "close", tapped_close_browser)
        patch.setattr(Recorder, "attach", registering_attach)
        yield tap
    if tap.pages and not tap.frames:
        pytest.fail(
            f"the secret scan saw {tap.pages} pages but no socket frame: the tap is broken "
            "and the scan would prove nothing",
            pytrace=False,
        )
    findings = scan_for_secrets(tap.needles(), tap.haystacks())
    if findings:
        shown = "\n".join(findings[:50])
        pytest.fail(
            f"{len(findings)} secret(s) reached a log, a websocket frame or a session API body "
            f"({len(tap.cookies)} cookie values, {len(tap.frames)} frames, "
            f"{len(STARTED_SERVERS)} server starts scanned):\n{shown}",
            pytrace=False,
        )
