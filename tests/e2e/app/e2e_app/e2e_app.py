"""The app the browser tests drive. Settings come from the environment the fixture sets."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import reflex as rx

from reflex_session import ReflexSession, patterns, route
from reflex_session.reflex import (
    SessionState,
    guarded,
    install,
    protected,
    require_auth,
    session_countdown,
)

EXPIRY = int(os.environ.get("E2E_SESSION_EXPIRY", "3600"))
auth = ReflexSession(
    session_expiry=EXPIRY,
    refresh_threshold=int(os.environ.get("E2E_REFRESH_THRESHOLD", str(max(1, EXPIRY // 4)))),
    routes=[route.public("/login"), route.auth(patterns.dashboard), route.hybrid("/")],
    login_path="/login",
    home_path="/",
)

#: email -> (password, user). The e2e tests only need a fixed pair of users; the demo has a DB.
USERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ada@example.com": (
        "correct horse",
        {"id": "1", "email": "ada@example.com", "name": "Ada", "role": "admin", "team": "core"},
    ),
    "bob@example.com": (
        "battery staple",
        {"id": "2", "email": "bob@example.com", "name": "Bob", "role": "user", "team": "web"},
    ),
}
ACCESS_TOKEN_PREFIX = "e2e-access-token-"


class LoginState(SessionState):
    error: str = ""

    @rx.event
    def submit(self, form: dict[str, Any]) -> Any:
        entry = USERS.get(str(form.get("email", "")).strip().lower())
        if entry is None or entry[0] != form.get("password"):
            self.error = "Invalid email or password"
            return None
        self.error = ""
        user = entry[1]
        self.login(
            user,
            access_token=ACCESS_TOKEN_PREFIX + user["id"],
            refresh_token="e2e-refresh-token-" + user["id"],
        )
        return rx.redirect(self.return_to())


class DashboardState(SessionState):
    clicks: int = 0
    new_name: str = ""

    @rx.event
    @guarded
    def click(self) -> None:
        self.clicks += 1

    @rx.event
    def set_new_name(self, value: str) -> None:
        self.new_name = value

    @rx.event
    @guarded
    def save_name(self) -> None:
        self.update_session({"name": self.new_name})


class BurstState(SessionState):
    """Issue 7's two tabs x 100 overlapping writes: each click merges one new key into
    ``user.marks`` (keys carry the tab's label, so two tabs never write the same one)."""

    label: str = ""
    stamps: int = 0

    @rx.event
    def name_tab(self) -> None:
        if not self.label:
            self.label = self.router.session.client_token.replace("-", "")[:4]

    @rx.event
    @guarded
    def stamp(self) -> None:
        self.stamps += 1
        self.update_session({"marks": {f"{self.label}{self.stamps}": 1}})

    @rx.var
    def mark_count(self) -> int:
        marks = self.user.get("marks")
        return len(marks) if isinstance(marks, dict) else 0


class ReportState(SessionState):
    """A background task, as a report or an export is: it reads the user once, then writes in
    steps for a while (red team F2: those later writes are for this browser only)."""

    line: str = ""
    steps: int = 0

    @rx.event(background=True)
    async def run_report(self) -> None:
        async with self:
            who = str(self.user.get("email") or "")
            self.steps = 0
        for step in range(1, 61):
            await asyncio.sleep(0.25)
            async with self:
                self.steps = step
                self.line = f"report for {who} #{step}"


@protected(role="admin")
class AdminState(SessionState):
    secret_count: int = 0

    @rx.event
    def bump(self) -> None:
        self.secret_count += 1


def status_bar() -> rx.Component:
    return rx.hstack(
        rx.text("Status: ", rx.text.span(SessionState.status, id="status")),
        rx.text("User: ", rx.text.span(SessionState.user_display_name, id="who")),
        rx.text("Left: ", session_countdown(id="countdown")),
        rx.cond(SessionState.is_expiring_soon, rx.text("Expiring soon", id="soon")),
    )


def index() -> rx.Component:
    return rx.vstack(
        rx.heading("Home", id="home-heading"),
        status_bar(),
        rx.link("Dashboard", href="/dashboard?tab=2", id="dashboard-link"),
        rx.link("Admin", href="/admin", id="admin-link"),
        rx.cond(
            SessionState.is_authenticated,
            rx.button("Log out", on_click=SessionState.logout, id="logout"),
            rx.link("Log in", href="/login", id="login-link"),
        ),
    )


def login() -> rx.Component:
    return rx.vstack(
        rx.heading("Log in", id="login-heading"),
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
        status_bar(),
        rx.text("Team: ", rx.text.span(SessionState.user["team"].to(str), id="team")),
        rx.text("Clicks: ", rx.text.span(DashboardState.clicks, id="clicks")),
        rx.button("Click", on_click=DashboardState.click, id="click"),
        rx.input(value=DashboardState.new_name, on_change=DashboardState.set_new_name, id="name"),
        rx.button("Save name", on_click=DashboardState.save_name, id="save-name"),
        rx.button("Refresh", on_click=SessionState.refresh, id="refresh"),
        rx.button("Run report", on_click=ReportState.run_report, id="run-report"),
        rx.text("Report: ", rx.text.span(ReportState.steps, id="report-steps")),
        rx.text(ReportState.line, id="report-line"),
        rx.button("Log out", on_click=SessionState.logout, id="logout"),
        rx.link("Home", href="/", id="home-link"),
        rx.link("Admin", href="/admin", id="admin-link"),
    )


@rx.page(route="/admin", title="Admin")  # the decorator form; the other pages use add_page
@require_auth(role="admin")
def admin() -> rx.Component:
    return rx.vstack(
        rx.heading("Admin", id="admin-heading"),
        rx.text("Count: ", rx.text.span(AdminState.secret_count, id="count")),
        rx.button("Bump", on_click=AdminState.bump, id="bump"),
    )


def burst() -> rx.Component:
    return rx.vstack(
        status_bar(),
        rx.heading("Burst", id="burst-heading"),
        rx.text("Tab: ", rx.text.span(BurstState.label, id="label")),
        rx.text("Stamps: ", rx.text.span(BurstState.stamps, id="stamps")),
        rx.text("Marks: ", rx.text.span(BurstState.mark_count, id="marks")),
        rx.text("Team: ", rx.text.span(SessionState.user["team"].to(str), id="team")),
        rx.button("Stamp", on_click=BurstState.stamp, id="stamp"),
        rx.button("Refresh", on_click=SessionState.refresh, id="refresh"),
    )


app = rx.App()
app.add_page(index, route="/")
app.add_page(login, route="/login")
app.add_page(dashboard, route="/dashboard")
app.add_page(burst, route="/dashboard/burst", on_load=BurstState.name_tab)
install(app, auth)
