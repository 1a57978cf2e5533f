"""Drop-in widgets: functions returning ``rx.Component``, themable through their props.

Every widget reads ``SessionState`` (or a subclass you pass as ``state``), so it works in any app
whose states inherit it. Inputs carry labels, forms are plain ``<form>`` elements (Enter submits,
Tab moves), errors are announced (``role="alert"``), and ids are stable for tests.

Accessibility (WCAG 2.1 A/AA, checked with axe-core in ``tests/e2e/test_accessibility.py``): every
control's accessible name is, or starts with, the text it shows (a speech-input user says what
they see: WCAG 2.5.3), links inside text are underlined (colour alone does not mark them: 1.4.1),
and every widget works with the keyboard alone. Each docstring below names the widget's
accessible name and its keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import reflex as rx

from ..errors import ConfigError
from ..reasons import Reason
from .client import session_countdown
from .forms import AuthFormState
from .runtime import get_runtime, is_installed
from .state import SessionState

__all__ = [
    "login_form",
    "logout_button",
    "register_form",
    "session_countdown",
    "session_expiry_banner",
    "session_notice",
    "sign_in_button",
    "sign_in_buttons",
    "user_menu",
]

#: the callout colour of each reason: a warning for what happened to the user, calm otherwise
_NOTICE_COLOURS = {
    Reason.EXPIRED: "amber",
    Reason.REVOKED: "amber",
    Reason.FORBIDDEN: "amber",
    Reason.SIGNED_OUT: "green",
    Reason.LOGIN_REQUIRED: "blue",
    Reason.ACCESS_DENIED: "blue",
    Reason.PROVIDER_UNAVAILABLE: "red",
    Reason.SIGN_IN_FAILED: "red",
    Reason.SIGN_IN_REFUSED: "red",
}


def _notice_text(messages: Mapping[str, str] | None) -> Any:
    """The notice's text: the server's default English message, or ``messages`` chosen in the
    page by reason (``forbidden_role`` gets the roles where its ``{roles}`` placeholder is)."""
    if messages is None:
        return SessionState.redirect_message
    cases: list[Any] = []
    for reason in Reason:
        if reason in messages:
            cases.append((reason.value, messages[reason]))
    plain: Any = rx.match(SessionState.redirect_reason, *cases, "")
    template = messages.get("forbidden_role")
    if template is None or "{roles}" not in template:
        return plain
    before, _, after = template.partition("{roles}")
    named = (SessionState.redirect_reason == Reason.FORBIDDEN.value) & (
        SessionState.redirect_roles != ""
    )
    return rx.cond(named, before + SessionState.redirect_roles + after, plain)


def session_notice(messages: Mapping[str, str] | None = None, **props: Any) -> rx.Component:
    """Why the library sent the user here, when it did: "Your session expired", "You were
    signed out on another device", "You need the admin role for that page", "Please sign in
    to continue", "You signed out". Nothing otherwise.

    The reason comes from the URL (``?reason=``) and is one word of a fixed vocabulary, so a
    crafted link can only choose among these messages; ``messages`` maps the reason values
    (``expired``, ``revoked``, ``signedOut``, ``loginRequired``, ``forbidden``, and
    ``forbidden_role`` with a ``{roles}`` placeholder) to your own text. ``login_form`` shows
    one by itself; put one on your ``forbidden_path`` page.

    Accessible name: none of its own; it is a ``role="status"`` region, so a screen reader
    reads the message once when it appears without moving the focus. Keyboard: not focusable.
    """
    colour: Any = rx.match(
        SessionState.redirect_reason,
        *((reason.value, colour) for reason, colour in _NOTICE_COLOURS.items()),
        "gray",
    )
    props.setdefault("width", "100%")
    props.setdefault("id", "session-notice")
    component: rx.Component = rx.cond(
        SessionState.redirect_reason != "",
        rx.callout(
            _notice_text(messages),
            icon="info",
            color_scheme=colour,
            # Radix's soft amber text is 4.2:1 on its own background: high contrast passes AA
            high_contrast=True,
            role="status",
            **props,
        ),
    )
    return component


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


def _input(prefix: str, name: str, kind: str, autocomplete: str, **extra: Any) -> rx.Component:
    component: rx.Component = rx.input(
        name=name,
        type=kind,
        id=f"{prefix}-{name}",
        auto_complete=autocomplete,
        width="100%",
        **extra,
    )
    return component


def _form_card(
    prefix: str,
    state: type[AuthFormState],
    on_submit: Any,
    title: str,
    submit_label: str,
    fields: list[tuple[str, rx.Component]],
    footer: rx.Component,
    props: dict[str, Any],
    notice: rx.Component | None = None,
) -> rx.Component:
    """The card both forms share: labelled fields, the error, the pending button, a footer."""
    props.setdefault("max_width", "24em")
    props.setdefault("width", "100%")
    component: rx.Component = rx.card(
        rx.form(
            rx.vstack(
                rx.heading(title, size="5", as_="h1"),
                notice if notice is not None else rx.fragment(),
                *(_field(label, control, control.id or "") for label, control in fields),
                _error(state, f"{prefix}-error"),
                rx.button(
                    submit_label,
                    type="submit",
                    loading=state.pending,
                    width="100%",
                    id=f"{prefix}-submit",
                ),
                footer,
                spacing="4",
                width="100%",
            ),
            on_submit=on_submit,
            reset_on_submit=False,
            aria_label=title,
        ),
        # the error belongs to this visit of the form, not to the tab
        on_mount=state.clear_error,
        **props,
    )
    return component


def _footer(text: str, label: str, href: str | None, link_id: str) -> rx.Component:
    """ "No account? Create one": the link is always underlined, because inside a sentence its
    colour alone (2.7:1 against the text) would not tell it apart (WCAG 1.4.1). It carries this
    page's return-to, so switching between signing in and registering never loses it."""
    if not href:
        empty: rx.Component = rx.fragment()
        return empty
    target = f"{href}{SessionState.return_to_query}"
    component: rx.Component = rx.text(
        text, rx.link(label, href=target, id=link_id, underline="always"), size="2"
    )
    return component


def login_form(
    state: type[AuthFormState] = AuthFormState,
    *,
    title: str = "Sign in",
    submit_label: str = "Sign in",
    register_href: str | None = None,
    messages: Mapping[str, str] | None = None,
    providers: bool = True,
    **props: Any,
) -> rx.Component:
    """Email and password, one generic error, a pending state; lands on the return-to page.

    With identity providers installed (and ``providers``), a "Sign in with …" button for each
    comes first, then "or" and the fields.

    Above the fields it says why the user was sent here, when the library did
    (:func:`session_notice`; ``messages`` is passed on to it).

    Accessible names: the form is named by ``title`` (``aria-label``; its heading shows the same
    text), each input by its visible ``<label>`` ("Email", "Password"), the button by
    ``submit_label`` and the footer link by its text ("Create one", underlined).
    Keyboard: Tab and Shift+Tab move through email, password, the button and the link in that
    order; Enter in a field or on the button submits, Space presses the button. A refusal shows
    in a ``role="alert"`` callout, read out without moving the focus, so the user stays where
    they typed.
    """
    return _form_card(
        "login",
        state,
        state.submit_login,
        title,
        submit_label,
        [
            (
                "Email",
                _input(
                    "login", "email", "email", "email", required=True, placeholder="you@example.com"
                ),
            ),
            (
                "Password",
                _input("login", "password", "password", "current-password", required=True),
            ),
        ],
        _footer("No account? ", "Create one", register_href, "register-link"),
        props,
        notice=rx.fragment(
            session_notice(messages), _provider_block() if providers else rx.fragment()
        ),
    )


def _provider_block() -> rx.Component:
    """The provider buttons and an "or" before the fields; nothing without providers."""
    configured = get_runtime().providers if is_installed() else None
    if configured is None or not configured.providers:
        empty: rx.Component = rx.fragment()
        return empty
    block: rx.Component = rx.fragment(
        sign_in_buttons(),
        rx.text("or", size="2", color_scheme="gray", align="center", width="100%"),
    )
    return block


def register_form(
    state: type[AuthFormState] = AuthFormState,
    *,
    title: str = "Create an account",
    submit_label: str = "Create account",
    login_href: str | None = None,
    **props: Any,
) -> rx.Component:
    """Name, email, password and confirmation; errors from ``register`` are shown as they are.

    Accessible names: the form is named by ``title``, each input by its visible ``<label>``
    ("Name", "Email", "Password", "Confirm password"), the button by ``submit_label`` and the
    footer link by its text ("Sign in", underlined).
    Keyboard: Tab and Shift+Tab move through the four fields, the button and the link; Enter in
    a field or on the button submits, Space presses the button. Errors are announced
    (``role="alert"``) without taking the focus away from the form.
    """
    return _form_card(
        "register",
        state,
        state.submit_register,
        title,
        submit_label,
        [
            ("Name", _input("register", "name", "text", "name")),
            ("Email", _input("register", "email", "email", "email", required=True)),
            ("Password", _input("register", "password", "password", "new-password", required=True)),
            (
                "Confirm password",
                _input("register", "confirm", "password", "new-password", required=True),
            ),
        ],
        _footer("Already registered? ", "Sign in", login_href, "login-link"),
        props,
    )


def sign_in_button(provider: str, label: str | None = None, **props: Any) -> rx.Component:
    """ "Sign in with <provider>": a link to the provider sign-in route, keeping this page's
    return-to (``callbackUrl``), so the user lands where they were going.

    A plain link: it works before the page's scripts run, and the flow's secrets never touch the
    page (the server sets them in an HttpOnly cookie on the way out). ``provider`` is the name
    given to the preset (``"google"``); ``label`` defaults to the provider's own label.
    Accessible name: the visible text. Keyboard: Tab reaches it, Enter follows it.

    Needs ``install(app, auth, providers=ProviderAuth(...))``, and pages served by the backend
    (``reflex run --env prod``), since the routes are the backend's.
    """
    providers = get_runtime().providers
    if providers is None or provider not in providers.signin.providers:
        raise ConfigError(
            "sign_in_button", f"no provider named {provider!r}", "pass it to ProviderAuth"
        )
    configured = providers.signin.providers[provider]
    text = label or f"Sign in with {configured.label or provider.capitalize()}"
    props.setdefault("id", f"sign-in-{provider}")
    props.setdefault("variant", "outline")
    props.setdefault("width", "100%")
    href = providers.path("signin", provider) + SessionState.return_to_query
    # reload_document: a full page load, so the request reaches the backend's route instead of
    # the single-page router (which would show its 404 page)
    component: rx.Component = rx.button(
        rx.link(text, href=href, reload_document=True, underline="none", color="inherit"),
        as_child=True,
        **props,
    )
    return component


def sign_in_buttons(**props: Any) -> rx.Component:
    """One :func:`sign_in_button` per configured provider, in order (nothing without any)."""
    providers = get_runtime().providers if is_installed() else None
    if providers is None or not providers.providers:
        empty: rx.Component = rx.fragment()
        return empty
    props.setdefault("spacing", "2")
    props.setdefault("width", "100%")
    component: rx.Component = rx.vstack(
        *(sign_in_button(p.name) for p in providers.providers), **props
    )
    return component


def logout_button(label: str = "Log out", **props: Any) -> rx.Component:
    """Signs out this tab at once; the other tabs of the browser follow within a second.

    Accessible name: ``label`` (a native ``<button>`` named by its text, "Log out").
    Keyboard: reached with Tab; Enter or Space signs out.
    """
    props.setdefault("id", "logout-button")
    props.setdefault("variant", "soft")
    component: rx.Component = rx.button(label, on_click=SessionState.logout, **props)
    return component


def user_menu(*items: rx.Component, login_href: str = "/login", **props: Any) -> rx.Component:
    """Avatar (image, else initials) and name; a menu with the email, ``items`` and Log out.

    Shows a "Sign in" link when nobody is signed in.

    Accessible name: the trigger is a menu button (``aria-haspopup="menu"``) named by the user's
    display name, exactly as shown; the avatar beside it is decorative (``aria-hidden``: the
    name is already there, and initials read out would only repeat it). An ``aria-label`` such
    as "Account menu" would hide the visible name from speech input (WCAG 2.5.3). The menu's
    items are named by their text ("Log out"); the "Sign in" link by its text.
    Keyboard: Tab reaches the trigger; Enter, Space or Arrow Down opens the menu with the focus
    on its first item; Arrow Down/Up (and Home/End, or typing an item's first letters) move
    between items, Enter or Space selects one, Escape closes the menu and puts the focus back on
    the trigger. Tab does not leave an open menu (the menu is one stop of the page).
    The menu is not modal (``modal=False``, overridable through ``props``): a modal one marks
    the whole page ``aria-hidden`` while it is open, which leaves the page's links focusable
    inside hidden content (axe's ``aria-hidden-focus``, serious). The keys are the same; a
    click outside closes it as before.
    """
    trigger = rx.button(
        rx.avatar(
            src=SessionState.user["image"].to(str),
            fallback=SessionState.user_initials,
            size="2",
            radius="full",
            aria_hidden=True,
        ),
        rx.text(SessionState.user_display_name, id="user-menu-name"),
        variant="ghost",
        id="user-menu-trigger",
    )
    props.setdefault("modal", False)
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

    Accessible name: the banner is a ``role="status"`` live region, so its appearance is read
    out politely without moving the focus (it must not interrupt typing); the button is named
    by ``action_label`` ("Stay signed in"). The countdown inside is not live itself: announcing
    every second would drown everything else.
    Keyboard: the button is an ordinary tab stop (it appears after the user menu in the page
    order); Enter or Space extends the session, and the banner goes away.
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
