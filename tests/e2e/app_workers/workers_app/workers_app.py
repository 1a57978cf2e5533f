"""The app tests/e2e/test_workers.py drives: several workers, Redis state, sessions in Redis.

Everything that tells the test *which worker* did something is harmless and test-only:

* ``WorkerState.pid`` — the process id of the worker that ran the tab's last event (every event
  of a tab runs on the worker holding its websocket);
* ``LoginState.login_pid`` — the worker that ran the login handler (also printed to the log);
* an ``X-Worker-Pid`` header on every HTTP response (page loads, ``/api/session/sync``), added by
  an outer ASGI wrapper appended after ``install()``.

Settings come from the environment the fixture sets: ``E2E_STORE_REDIS_URL`` and
``E2E_STORE_PREFIX`` (the session store), ``REFLEX_REDIS_URL`` and ``GRANIAN_WORKERS`` (Reflex).
With ``E2E_OIDC_ISSUER``, ``E2E_OIDC_CLIENT_ID`` and ``E2E_OIDC_CLIENT_SECRET`` the app also
signs in with the test provider (tests/e2e/test_provider_signin.py), as ``local``; its
``TokenState`` shows only a digest of the access token it got, never the token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any

import reflex as rx

from reflex_session import ReflexSession, patterns, route
from reflex_session.reflex import (
    DevicesState,
    SessionState,
    guarded,
    install,
    require_auth,
    sign_in_buttons,
)
from reflex_session.stores import RedisStore

STORE_URL = os.environ.get("E2E_STORE_REDIS_URL", "")
STORE_PREFIX = os.environ.get("E2E_STORE_PREFIX", "")
if not STORE_URL or not STORE_PREFIX:
    raise RuntimeError("workers_app needs E2E_STORE_REDIS_URL and E2E_STORE_PREFIX")

auth = ReflexSession(
    store=RedisStore(STORE_URL, prefix=STORE_PREFIX),
    # the read cache of issue 15, kept right by the relay's change announcements
    # (tests/e2e/test_provider_signin.py turns it on; test_workers.py ends sessions behind the
    # library's back, which only the ttl bounds, so it runs without)
    read_cache_ttl=float(os.environ.get("E2E_READ_CACHE_TTL", "0")),
    session_expiry=3600,
    refresh_threshold=900,
    routes=[route.public("/login"), route.auth(patterns.dashboard), route.hybrid("/")],
    login_path="/login",
    home_path="/",
)

OIDC_ISSUER = os.environ.get("E2E_OIDC_ISSUER", "")
providers: Any = None
if OIDC_ISSUER:
    from reflex_session.providers import ProviderAuth, oidc

    providers = ProviderAuth(
        auth,
        [
            oidc(
                "local",
                OIDC_ISSUER,
                os.environ["E2E_OIDC_CLIENT_ID"],
                os.environ["E2E_OIDC_CLIENT_SECRET"],
                label="Local provider",
            )
        ],
        # E2E_OIDC_MARGIN near the provider's token lifetime makes a token stale a moment after
        # it was issued, so a browser test can make tabs refresh without waiting minutes
        refresh_margin=float(os.environ.get("E2E_OIDC_MARGIN", "60")),
    )

USERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ada@example.com": (
        "correct horse",
        {"id": "1", "email": "ada@example.com", "name": "Ada", "role": "admin"},
    ),
    "bob@example.com": (
        "battery staple",
        {"id": "2", "email": "bob@example.com", "name": "Bob", "role": "user"},
    ),
}


def _log(what: str) -> None:
    print(f"[workers-e2e] pid={os.getpid()} {what}", flush=True)


class LoginState(SessionState):
    error: str = ""
    login_pid: int = 0

    @rx.event
    def submit(self, form: dict[str, Any]) -> Any:
        entry = USERS.get(str(form.get("email", "")).strip().lower())
        if entry is None or entry[0] != form.get("password"):
            self.error = "Invalid email or password"
            return None
        self.error = ""
        self.login_pid = os.getpid()
        self.login(entry[1])
        _log(f"login of user {entry[1]['id']} handled")
        return rx.redirect(self.return_to())


class WorkerState(SessionState):
    pid: int = 0
    clicks: int = 0

    @rx.event
    def whoami(self) -> None:
        self.pid = os.getpid()

    @rx.event
    @guarded
    def click(self) -> None:
        self.pid = os.getpid()
        self.clicks += 1
        _log(f"guarded click {self.clicks} by user {self.user.get('id')}")


class ReportState(SessionState):
    """A background task that reads the user once and writes for a while (red team F2); it
    records the worker it runs on."""

    line: str = ""
    steps: int = 0
    report_pid: int = 0

    @rx.event(background=True)
    async def run_report(self) -> None:
        async with self:
            who = str(self.user.get("email") or "")
            self.steps = 0
            self.report_pid = os.getpid()
        for step in range(1, 121):
            await asyncio.sleep(0.25)
            async with self:
                self.steps = step
                self.line = f"report for {who} #{step}"


class TokenState(SessionState):
    """Asks for the provider's access token; shows a digest of it (the token stays here)."""

    token_digest: str = ""
    token_pid: int = 0

    @rx.event
    async def fetch_token(self) -> None:
        token = await self.access_token()
        self.token_pid = os.getpid()
        self.token_digest = hashlib.sha256(token.encode()).hexdigest()[:12] if token else "none"


def worker_bar() -> rx.Component:
    return rx.hstack(
        rx.text("Status: ", rx.text.span(SessionState.status, id="status")),
        rx.text("User: ", rx.text.span(SessionState.user_display_name, id="who")),
        rx.text("Worker: ", rx.text.span(WorkerState.pid, id="pid")),
        rx.text("Login worker: ", rx.text.span(LoginState.login_pid, id="login-pid")),
    )


def index() -> rx.Component:
    return rx.vstack(
        rx.heading("Home", id="home-heading"),
        worker_bar(),
        rx.link("Dashboard", href="/dashboard", id="dashboard-link"),
    )


def login() -> rx.Component:
    return rx.vstack(
        rx.heading("Log in", id="login-heading"),
        rx.text(SessionState.redirect_reason, id="reason"),
        sign_in_buttons(),
        rx.form(
            rx.vstack(
                rx.input(name="email", placeholder="Email", id="email"),
                rx.input(name="password", type="password", placeholder="Password", id="password"),
                rx.button("Log in", type="submit", id="submit"),
            ),
            on_submit=LoginState.submit,
        ),
        rx.text(LoginState.error, id="error"),
    )


@require_auth
def dashboard() -> rx.Component:
    return rx.vstack(
        rx.heading("Dashboard", id="dashboard-heading"),
        worker_bar(),
        rx.text("Clicks: ", rx.text.span(WorkerState.clicks, id="clicks")),
        rx.button("Click", on_click=WorkerState.click, id="click"),
        rx.button(
            "Sign out other devices",
            on_click=DevicesState.sign_out_everywhere(True),
            id="sign-out-others",
        ),
        rx.button(
            "Sign out everywhere",
            on_click=DevicesState.sign_out_everywhere(False),
            id="sign-out-all",
        ),
        rx.text("Devices: ", rx.text.span(DevicesState.devices.length(), id="devices")),
        rx.button("Run report", on_click=ReportState.run_report, id="run-report"),
        rx.text("Report: ", rx.text.span(ReportState.steps, id="report-steps")),
        rx.text("Report worker: ", rx.text.span(ReportState.report_pid, id="report-pid")),
        rx.button("Token", on_click=TokenState.fetch_token, id="fetch-token"),
        rx.text("Token: ", rx.text.span(TokenState.token_digest, id="token")),
        rx.button("Log out", on_click=SessionState.logout, id="logout"),
    )


def pid_header(inner: Any) -> Any:
    """Outermost ASGI wrapper: ``X-Worker-Pid`` on every HTTP response, ``GET /api/e2e/pid``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        pid = str(os.getpid()).encode()
        if scope.get("path") == "/api/e2e/pid":
            body = json.dumps({"pid": os.getpid()}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"x-worker-pid", pid)],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_pid(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-worker-pid", pid)],
                }
            await send(message)

        if str(scope.get("path", "")).rstrip("/") == "/api/session/sync":
            _log("session sync request")
        await inner(scope, receive, send_with_pid)

    return app


app = rx.App()
app.add_page(index, route="/", on_load=WorkerState.whoami)
app.add_page(login, route="/login")
app.add_page(dashboard, route="/dashboard", on_load=[WorkerState.whoami, DevicesState.load_devices])
install(app, auth, providers=providers)
# appended after install(): the last transformer wraps all the others, the session API included
_existing = app.api_transformer
app.api_transformer = [
    *(_existing if isinstance(_existing, list) else [_existing] if _existing else []),
    pid_header,
]
