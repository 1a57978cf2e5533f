"""Drop-in widgets: functions returning ``rx.Component``, themable through their props.

Every widget reads ``SessionState`` (or a subclass you pass as ``state``), so it works in any app
whose states inherit it. Inputs carry labels, forms are plain ``<form>`` elements (Enter submits,
Tab moves), errors are announced (``role="alert"``), and ids are stable for tests.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from .client import session_countdown
from .forms import AuthFormState
from .state import SessionState

__all__ = [
    "login_form",
    "logout_button",
    "register_form",
    "session_countdown",
    "session_expiry_banner",
    "user_menu",
]


def _field(label: str, control: rx.Component, control_id: str) -> rx.Component:
    component: rx.Component = rx.vstack(
        rx.el.label(label, html_for=control_id, font_weight="500", font_size="0.9em"),
        control,
        spacing="1",
        width="100%",
        align="stretch",
    )
    return component


def _error(state: type[AuthFormState], element_id: str) -> rx.Component:
    component: rx.Component = rx.cond(
        state.error != "",
        rx.callout(
            state.error,
            icon="triangle_alert",
            color_scheme="red",
            role="alert",
            id=element_id,
            width="100%",
        ),
    )
    return component


def login_form(
    state: type[AuthFormState] = AuthFormState,
    *,
    title: str = "Sign in",
    submit_label: str = "Sign in",
    register_href: str | None = None,
    **props: Any,
) -> rx.Component:
    """Email and password, one generic error, a pending state; lands on the return-to page."""
    footer = (
        rx.text(
            "No account? ", rx.link("Create one", href=register_href, id="register-link"), size="2"
        )
        if register_href
        else rx.fragment()
    )
    props.setdefault("max_width", "24em")
    props.setdefault("width", "100%")
    component: rx.Component = rx.card(
        rx.form(
            rx.vstack(
                rx.heading(title, size="5", as_="h1"),
                _field(
                    "Email",
                    rx.input(
                        name="email",
                        type="email",
                        id="login-email",
                        required=True,
                        auto_complete="email",
                        placeholder="you@example.com",
                        width="100%",
                    ),
                    "login-email",
                ),
                _field(
                    "Password",
                    rx.input(
                        name="password",
                        type="password",
                        id="login-password",
                        required=True,
                        auto_complete="current-password",
                        width="100%",
                    ),
                    "login-password",
                ),
                _error(state, "login-error"),
                rx.button(
                    submit_label,
                    type="submit",
                    loading=state.pending,
                    width="100%",
                    id="login-submit",
                ),
                footer,
                spacing="4",
                width="100%",
            ),
            on_submit=state.submit_login,
            reset_on_submit=False,
            aria_label=title,
        ),
        # the error belongs to this visit of the form, not to the tab
        on_mount=state.clear_error,
        **props,
    )
    return component


def register_form(
    state: type[AuthFormState] = AuthFormState,
    *,
    title: str = "Create an account",
    submit_label: str = "Create account",
    login_href: str | None = None,
    **props: Any,
) -> rx.Component:
    """Name, email, password and confirmation; errors from ``register`` are shown as they are."""
    footer = (
        rx.text(
            "Already registered? ", rx.link("Sign in", href=login_href, id="login-link"), size="2"
        )
        if login_href
        else rx.fragment()
    )
    props.setdefault("max_width", "24em")
    props.setdefault("width", "100%")
    component: rx.Component = rx.card(
        rx.form(
            rx.vstack(
                rx.heading(title, size="5", as_="h1"),
                _field(
                    "Name",
                    rx.input(name="name", id="register-name", auto_complete="name", width="100%"),
                    "register-name",
                ),
                _field(
                    "Email",
                    rx.input(
                        name="email",
                        type="email",
                        id="register-email",
                        required=True,
                        auto_complete="email",
                        width="100%",
                    ),
                    "register-email",
                ),
                _field(
                    "Password",
                    rx.input(
                        name="password",
                        type="password",
                        id="register-password",
                        required=True,
                        auto_complete="new-password",
                        width="100%",
                    ),
                    "register-password",
                ),
                _field(
                    "Confirm password",
                    rx.input(
                        name="confirm",
                        type="password",
                        id="register-confirm",
                        required=True,
                        auto_complete="new-password",
                        width="100%",
                    ),
                    "register-confirm",
                ),
                _error(state, "register-error"),
                rx.button(
                    submit_label,
                    type="submit",
                    loading=state.pending,
                    width="100%",
                    id="register-submit",
                ),
                footer,
                spacing="4",
                width="100%",
            ),
            on_submit=state.submit_register,
            reset_on_submit=False,
            aria_label=title,
        ),
        on_mount=state.clear_error,
        **props,
    )
    return component


def logout_button(label: str = "Log out", **props: Any) -> rx.Component:
    """Signs out this tab at once; the other tabs of the browser follow within a second."""
    props.setdefault("id", "logout-button")
    props.setdefault("variant", "soft")
    component: rx.Component = rx.button(label, on_click=SessionState.logout, **props)
    return component


def user_menu(*items: rx.Component, login_href: str = "/login", **props: Any) -> rx.Component:
    """Avatar (image, else initials) and name; a menu with the email, ``items`` and Log out.

    Shows a "Sign in" link when nobody is signed in.
    """
    trigger = rx.button(
        rx.avatar(
            src=SessionState.user["image"].to(str),
            fallback=SessionState.user_initials,
            size="2",
            radius="full",
        ),
        rx.text(SessionState.user_display_name, id="user-menu-name"),
        variant="ghost",
        aria_label="Account menu",
        id="user-menu-trigger",
    )
    menu = rx.menu.root(
        rx.menu.trigger(trigger),
        rx.menu.content(
            rx.box(
                rx.text(
                    SessionState.user["email"].to(str),
                    size="1",
                    color_scheme="gray",
                    id="user-menu-email",
                ),
                padding_x="0.75em",
                padding_y="0.25em",
            ),
            rx.menu.separator(),
            *items,
            rx.menu.item(
                "Log out", on_select=SessionState.logout, color_scheme="red", id="user-menu-logout"
            ),
        ),
        **props,
    )
    component: rx.Component = rx.cond(
        SessionState.is_authenticated,
        menu,
        rx.cond(
            SessionState.is_loading,
            rx.fragment(),
            rx.link("Sign in", href=login_href, id="user-menu-sign-in"),
        ),
    )
    return component


def session_expiry_banner(
    message: str = "Your session ends in",
    action_label: str = "Stay signed in",
    **props: Any,
) -> rx.Component:
    """ "Your session ends in 4:59 — Stay signed in", shown only while the session is ending.

    The time ticks in the browser; the button refreshes the session, which hides the banner.
    """
    props.setdefault("color_scheme", "amber")
    props.setdefault("high_contrast", True)
    props.setdefault("id", "session-expiry-banner")
    component: rx.Component = rx.cond(
        SessionState.is_authenticated & SessionState.is_expiring_soon,
        rx.callout.root(
            rx.callout.icon(rx.icon("clock")),
            rx.hstack(
                rx.callout.text(
                    message, " ", session_countdown(id="session-expiry-countdown"), " —"
                ),
                rx.button(
                    action_label, on_click=SessionState.refresh, size="1", id="stay-signed-in"
                ),
                align="center",
                spacing="2",
            ),
            role="status",
            **props,
        ),
    )
    return component
