"""A minimal demo of reflex-session (the full demo with a user database is issue 5)."""

from __future__ import annotations

import os
import secrets

import reflex as rx

from reflex_session import ReflexSession, patterns, route
from reflex_session.reflex import SessionState, guarded, install, require_auth

auth = ReflexSession(
    secret_key=os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32),
    session_expiry=int(os.environ.get("SESSION_EXPIRY", 3600)),
    routes=[
        route.public("/login"),
        route.auth(patterns.dashboard),
        route.hybrid("/"),
    ],
    login_path="/login",
    home_path="/",
)

USERS = {"ada@example.com": ("lovelace", {"id": "1", "email": "ada@example.com", "name": "Ada"})}


class LoginState(SessionState):
    error: str = ""

    @rx.event
    def submit(self, form: dict) -> rx.event.EventSpec | None:
        entry = USERS.get(str(form.get("email", "")).lower())
        if entry is None or entry[0] != form.get("password"):
            self.error = "Invalid email or password"
            return None
        self.error = ""
        self.login(entry[1], access_token="demo-access-" + secrets.token_hex(8))
        return rx.redirect(self.return_to())


class DashboardState(SessionState):
    clicks: int = 0

    @rx.event
    @guarded
    def click(self) -> None:
        self.clicks += 1


def index() -> rx.Component:
    return rx.vstack(
        rx.heading("reflex-session demo"),
        rx.text("Status: ", rx.text.span(SessionState.status, id="status")),
        rx.cond(
            SessionState.is_authenticated,
            rx.hstack(
                rx.text("Signed in as ", rx.text.span(SessionState.user_display_name, id="who")),
                rx.link("Dashboard", href="/dashboard"),
                rx.button("Log out", on_click=SessionState.logout, id="logout"),
            ),
            rx.link("Log in", href="/login", id="login-link"),
        ),
    )


def login() -> rx.Component:
    return rx.vstack(
        rx.heading("Log in"),
        rx.form(
            rx.vstack(
                rx.input(name="email", placeholder="Email", id="email"),
                rx.input(name="password", type="password", placeholder="Password", id="password"),
                rx.button("Log in", type="submit", id="submit"),
            ),
            on_submit=LoginState.submit,
        ),
        rx.text(LoginState.error, id="error", color="red"),
    )


@require_auth
def dashboard() -> rx.Component:
    return rx.vstack(
        rx.heading("Dashboard", id="dashboard-heading"),
        rx.text("Welcome, ", SessionState.user_display_name),
        rx.text("Clicks: ", rx.text.span(DashboardState.clicks, id="clicks")),
        rx.button("Click", on_click=DashboardState.click, id="click"),
        rx.button("Log out", on_click=SessionState.logout, id="logout"),
        rx.link("Home", href="/"),
    )


app = rx.App()
app.add_page(index, route="/")
app.add_page(login, route="/login")
app.add_page(dashboard, route="/dashboard")
install(app, auth)
