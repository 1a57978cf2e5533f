"""The reflex-session demo: a real user database, every widget, every kind of route.

Run it with ``scripts/demo.sh`` (SQLite, no other server). Settings from the environment:
``SESSION_SECRET`` (demo.sh keeps one per checkout), ``DATABASE_URL`` (PostgreSQL instead of
SQLite), ``SESSION_STORE_URL`` (``redis://...``: sessions in Redis instead of the user database),
``DEMO_SESSION_EXPIRY`` (seconds; e.g. 90 shows the expiry banner within a minute),
``DEMO_SESSION_MODE=cookie`` (the whole session in the encrypted cookie, no session store: no
devices page and no "sign out everywhere"; the tests run the demo in both modes).

Several workers (docs/deploy.md §2): ``REFLEX_REDIS_URL=redis://... GRANIAN_WORKERS=3
SESSION_STORE_URL=redis://... scripts/demo.sh`` — Reflex keeps tab states in Redis, every worker
reads the same sessions, and sign-outs reach every worker's tabs through the live relay.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import reflex as rx
from reflex_components_core.el.elements.inline import A as PlainAnchor

from reflex_session import ReflexSession, patterns, route
from reflex_session.reflex import (
    DevicesState,
    FormRefused,
    ServiceUnavailable,
    SessionState,
    guarded,
    install,
    login_form,
    logout_button,
    notify,
    protected,
    register_form,
    require_auth,
    session_countdown,
    session_expiry_banner,
    session_notice,
    user_menu,
)
from reflex_session.stores import SessionStore, SQLStore

from . import accounts
from .canonical import redirect_trailing_slash, serve_without_slash
from .db import database_url
from .local_time import local_time
from .seed import seed
from .useragent import describe_address, describe_user_agent

EXPIRY = int(os.environ.get("DEMO_SESSION_EXPIRY", str(8 * 3600)))


def session_store() -> SessionStore | None:
    """Store mode: the cookie carries only an opaque id, so "sign out this device" and "sign out
    everywhere" really end sessions. They live in the demo's own database unless
    ``SESSION_STORE_URL`` names a Redis server (what several workers on several hosts share)."""
    if os.environ.get("DEMO_SESSION_MODE", "store").strip() == "cookie":
        return None
    url = os.environ.get("SESSION_STORE_URL", "").strip()
    if not url:
        # 4 threads, not the default 15: one worker's loop waits for Python's GIL between the
        # store's threads; on PostgreSQL benchmarks/load.py measured p99 107x -> 15x with 4
        return SQLStore(database_url(), table_name="demo_session", max_threads=4)
    if url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        from reflex_session.stores import RedisStore

        return RedisStore(url, prefix=os.environ.get("SESSION_STORE_PREFIX", "demo-session:"))
    raise SystemExit(
        f"SESSION_STORE_URL must be a redis://, rediss:// or unix:// URL (got scheme "
        f"{url.split('://', 1)[0]!r}); leave it unset to keep sessions in DATABASE_URL's database"
    )


store = session_store()


def configured_providers(session: ReflexSession[Any]) -> Any:
    """Provider sign-in, when the environment names a provider (none on the embedded defaults).

    ``DEMO_OIDC_ISSUER``, ``DEMO_OIDC_CLIENT_ID``, ``DEMO_OIDC_CLIENT_SECRET`` (and optionally
    ``DEMO_OIDC_LABEL``): any OpenID Connect provider, by its issuer's discovery document;
    ``GOOGLE_CLIENT_ID``/``GOOGLE_CLIENT_SECRET`` and ``GITHUB_CLIENT_ID``/``GITHUB_CLIENT_SECRET``:
    the presets. Register ``<this app>/auth/callback/<oidc|google|github>`` at the provider.
    A provider's user is ``<provider>:<subject>``, a user of its own, never merged with a
    password account by email (see docs/providers.md on linking).
    """
    env = os.environ
    chosen = []
    if env.get("DEMO_OIDC_ISSUER"):
        from reflex_session.providers import oidc

        chosen.append(
            oidc(
                "oidc",
                env["DEMO_OIDC_ISSUER"],
                env.get("DEMO_OIDC_CLIENT_ID", ""),
                env.get("DEMO_OIDC_CLIENT_SECRET", ""),
                label=env.get("DEMO_OIDC_LABEL", "your provider"),
            )
        )
    if env.get("GOOGLE_CLIENT_ID"):
        from reflex_session.providers import google

        chosen.append(google(env["GOOGLE_CLIENT_ID"], env.get("GOOGLE_CLIENT_SECRET", "")))
    if env.get("GITHUB_CLIENT_ID"):
        from reflex_session.providers import github

        chosen.append(github(env["GITHUB_CLIENT_ID"], env.get("GITHUB_CLIENT_SECRET", "")))
    if not chosen:
        return None
    from reflex_session.providers import ProviderAuth

    return ProviderAuth(session, chosen)


auth = ReflexSession(
    store=store,
    session_expiry=EXPIRY,
    refresh_threshold=max(1, min(EXPIRY // 4, 3600)),
    max_lifetime=max(EXPIRY, 7 * 24 * 3600),
    routes=[
        route.public("/login"),
        route.public("/register"),
        route.auth(patterns.dashboard),
        route.auth("/profile"),
        route.auth("/session"),
        route.auth("/devices"),
        route.auth("/admin/*", role="admin"),
        route.hybrid("/"),
        route.hybrid("/forbidden"),
    ],
    login_path="/login",
    home_path="/",
    # a signed-in user without the admin role lands here, told which role the page needs
    forbidden_path="/forbidden",
)


class ProfileState(SessionState):
    name: str = ""
    saved: bool = False
    change_result: str = ""
    #: whether change_result reports a change (a status) or a refusal (an alert)
    change_ok: bool = False

    @rx.event
    def load(self) -> None:
        self.name = str(self.user.get("name", ""))
        self.saved = False

    @rx.event
    def set_name(self, value: str) -> None:
        self.name = value
        self.saved = False

    @rx.event
    @guarded
    async def save(self) -> None:
        name = self.name.strip()[:120]
        if not name:
            return
        # database work runs in a thread: on the event loop it would stall every tab
        await asyncio.to_thread(accounts.rename, str(self.user["id"]), name)
        self.update_session({"name": name})
        self.saved = True


class PasswordState(ProfileState):
    @rx.event
    @guarded
    async def change_password(self, form: dict[str, Any]) -> None:
        session = self.current_session()
        if session is None:
            return
        self.change_ok = False
        if str(form.get("new", "")) != str(form.get("confirm", "")):
            # checked before anything else: a typo in the new password must not become it
            self.change_result = "The new passwords do not match. Your password was not changed."
            return
        try:
            await asyncio.to_thread(
                accounts.change_password,
                session.user.id,
                str(form.get("current", "")),
                str(form.get("new", "")),
            )
        except FormRefused as refused:
            self.change_result = str(refused)
            return
        except ServiceUnavailable:
            self.change_result = "Please try again in a moment."
            return
        self.change_ok = True
        if auth.revocations is None:  # plain cookie mode: nothing can end the other cookies
            self.change_result = "Password changed."
            return
        # a new password ends every other session of this user, live
        await auth.revocations.end_user_sessions(session.user.id, except_session_id=session.id)
        await notify("revoke", session.user.id, skip_token=self.router.session.client_token)
        self.change_result = "Password changed. Your other devices were signed out."


@protected(role="admin")
class AdminState(SessionState):
    users: list[dict[str, Any]] = []  # noqa: RUF012 - a Reflex var
    #: why the last action did nothing (the page offers no button for it, but an event can come)
    notice: str = ""

    @rx.event
    async def load(self) -> None:
        self.users = await asyncio.to_thread(accounts.list_users)

    @rx.event
    async def toggle(self, user_id: str, disabled: bool) -> None:
        self.notice = ""
        if user_id == self.user.get("id"):
            # an admin who disabled their own account would lock themselves out
            self.notice = "You cannot disable your own account."
        else:
            await asyncio.to_thread(accounts.set_disabled, user_id, disabled)
            if disabled and auth.revocations is not None:  # signed out everywhere, live
                await auth.revocations.end_user_sessions(user_id)
                await notify("revoke", user_id)
        self.users = await asyncio.to_thread(accounts.list_users)


class DeviceNamesState(DevicesState):
    """The devices list as people read it: "Chrome 156 on Linux, from this computer"."""

    @rx.var
    def named_devices(self) -> list[dict[str, Any]]:
        return [
            {
                **device,
                "browser": describe_user_agent(str(device.get("userAgent", ""))),
                "place": describe_address(str(device.get("ip", ""))),
            }
            for device in self.devices
        ]


def nav() -> rx.Component:
    """The page header: the site's navigation, the user menu and the expiry banner.

    Landmarks (``<header>``, ``<nav>``) let a screen-reader user jump past it; the site's name
    is a link, not a heading, so each page's own title is its only ``h1``.

    Both rows wrap: on a phone (360-400 px) the links flow onto a second line and the user menu
    onto its own, at the right, instead of widening the page; on a desktop it is one row.
    """
    return rx.el.header(
        rx.flex(
            rx.el.nav(
                rx.flex(
                    rx.link(
                        rx.text("reflex-session", size="4", weight="bold"),
                        href="/",
                        underline="none",
                        id="nav-home",
                    ),
                    rx.cond(
                        SessionState.is_authenticated,
                        rx.flex(
                            rx.link("Dashboard", href="/dashboard", id="nav-dashboard"),
                            rx.link("Profile", href="/profile", id="nav-profile"),
                            rx.link("Session", href="/session", id="nav-session"),
                            rx.link("Devices", href="/devices", id="nav-devices"),
                            rx.cond(
                                SessionState.user_roles.contains("admin"),
                                rx.link("Admin", href="/admin", id="nav-admin"),
                            ),
                            wrap="wrap",
                            column_gap="var(--space-4)",
                            row_gap="var(--space-1)",
                        ),
                    ),
                    wrap="wrap",
                    align="center",
                    column_gap="var(--space-5)",
                    row_gap="var(--space-2)",
                ),
                aria_label="Site",
                min_width="0",
            ),
            rx.box(
                user_menu(rx.menu.item("Profile", on_select=rx.redirect("/profile"))),
                margin_left="auto",
            ),
            wrap="wrap",
            width="100%",
            align="center",
            column_gap="var(--space-4)",
            row_gap="var(--space-2)",
            padding_y="0.75em",
        ),
        session_expiry_banner(width="100%"),
        width="100%",
    )


def skip_link() -> rx.Component:
    """The page's first tab stop, "Skip to main content": off screen until it has the focus, so
    a keyboard user passes the header with one Enter (WCAG 2.4.1).

    A plain ``<a href="#main">`` (``rx.el.a`` is a React Router link: its prerendered href was
    ``/login/#main``, which after hydration no longer named this page, so axe saw no skip
    link once pages were served without the trailing slash). The click (Enter) moves the focus
    itself, in the browser (a frontend event: no round trip to the server).
    """
    return PlainAnchor.create(
        "Skip to main content",
        href="#main",
        on_click=[rx.prevent_default, rx.call_script("document.getElementById('main').focus()")],
        id="skip-link",
        position="absolute",
        top="0.5em",
        left="0.5em",
        z_index="10",
        padding="0.5em 1em",
        border_radius="var(--radius-2)",
        background="var(--color-panel-solid)",
        color="var(--accent-11)",
        box_shadow="var(--shadow-3)",
        transform="translateY(-200%)",
        _focus={"transform": "none", "outline": "2px solid var(--focus-8)"},
    )


def layout(*children: rx.Component) -> rx.Component:
    """Every page: the skip link, the header, and the page's content in ``<main>`` (the skip
    link's target; ``tabindex=-1`` lets it take the focus without becoming a tab stop)."""
    return rx.fragment(
        skip_link(),
        rx.container(
            nav(),
            rx.el.main(
                rx.vstack(*children, spacing="4", padding_y="1.5em"),
                id="main",
                tab_index=-1,
                _focus={"outline": "none"},
            ),
            size="3",
        ),
    )


def index() -> rx.Component:
    return layout(
        rx.heading("Sessions you can trust", size="7"),
        rx.text(
            "This page is public. Your session lives in an encrypted HttpOnly cookie that "
            "JavaScript cannot read; the state on this page comes from the server."
        ),
        rx.cond(
            SessionState.is_authenticated,
            rx.text(
                "Signed in as ",
                rx.text.span(SessionState.user_display_name, id="who"),
                ". Session ends in ",
                session_countdown(id="home-countdown"),
                ".",
            ),
            rx.hstack(
                rx.link(rx.button("Sign in"), href="/login"),
                rx.link(rx.button("Create an account", variant="soft"), href="/register"),
                wrap="wrap",
            ),
        ),
    )


def login() -> rx.Component:
    return layout(rx.center(login_form(register_href="/register"), width="100%"))


def forbidden() -> rx.Component:
    """Where the route rules send a signed-in user without the role a page needs: the
    notice says which role (``?reason=forbidden&role=admin``)."""
    return layout(
        rx.heading("Not for this account", id="forbidden-heading"),
        session_notice(),
        rx.text(
            "You are signed in, but this account cannot open that page. ",
            rx.link("Go to the home page", href="/", underline="always"),
            ".",
        ),
    )


def register() -> rx.Component:
    return layout(rx.center(register_form(login_href="/login"), width="100%"))


@require_auth
def dashboard() -> rx.Component:
    return layout(
        rx.heading("Dashboard", id="dashboard-heading"),
        rx.text("Welcome back, ", rx.text.span(SessionState.user_display_name, id="who"), "."),
        rx.card(
            rx.text(
                "Your session ends in ",
                session_countdown(id="dashboard-countdown"),
                " unless you keep using the app: activity extends it.",
            ),
        ),
    )


def form_card(title: str, *children: rx.Component, **props: Any) -> rx.Component:
    """A card like the sign-in form's: an ``h2`` title and stacked, full-width fields."""
    return rx.card(
        rx.vstack(rx.heading(title, size="4", as_="h2"), *children, spacing="4", width="100%"),
        width="100%",
        max_width="28em",
        **props,
    )


def field(label: str, control: rx.Component, *help_text: rx.Component) -> rx.Component:
    """A label above its control (as in the library's forms), then any hint under it."""
    return rx.vstack(
        rx.el.label(label, html_for=control.id or "", font_weight="500", font_size="0.9em"),
        control,
        *help_text,
        spacing="1",
        width="100%",
        align="stretch",
    )


def password_input(name: str, element_id: str, autocomplete: str, **extra: Any) -> rx.Component:
    return rx.input(
        name=name,
        type="password",
        id=element_id,
        auto_complete=autocomplete,
        width="100%",
        **extra,
    )


@require_auth
def profile() -> rx.Component:
    return layout(
        rx.heading("Profile", id="profile-heading"),
        form_card(
            "Your account",
            rx.text(
                "Email: ", rx.text.span(SessionState.user["email"].to(str), id="profile-email")
            ),
            rx.text("Role: ", rx.text.span(SessionState.user["role"].to(str), id="profile-role")),
            id="profile-account",
        ),
        form_card(
            "Display name",
            rx.form(
                rx.vstack(
                    field(
                        "Name",
                        rx.input(
                            value=ProfileState.name,
                            on_change=ProfileState.set_name,
                            id="profile-name",
                            max_length=120,
                            width="100%",
                        ),
                    ),
                    rx.button("Save", type="submit", id="profile-save", width="100%"),
                    rx.cond(
                        ProfileState.saved,
                        rx.text("Saved", id="profile-saved", color_scheme="green", role="status"),
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=lambda _: ProfileState.save(),
                aria_label="Display name",
            ),
            id="profile-name-card",
        ),
        form_card(
            "Change password",
            rx.form(
                rx.vstack(
                    field(
                        "Current password",
                        password_input("current", "password-current", "current-password"),
                    ),
                    field(
                        "New password",
                        password_input(
                            "new",
                            "password-new",
                            "new-password",
                            aria_describedby="password-new-hint",
                            min_length=accounts.MIN_PASSWORD,
                        ),
                        rx.text(
                            f"At least {accounts.MIN_PASSWORD} characters. A few unrelated "
                            "words make a long password that is easy to remember.",
                            id="password-new-hint",
                            size="1",
                            color_scheme="gray",
                            high_contrast=True,
                        ),
                    ),
                    field(
                        "Confirm new password",
                        password_input("confirm", "password-confirm", "new-password"),
                    ),
                    rx.cond(
                        PasswordState.change_result != "",
                        rx.cond(
                            PasswordState.change_ok,
                            rx.callout(
                                PasswordState.change_result,
                                icon="check",
                                color_scheme="green",
                                role="status",
                                id="password-message",
                                width="100%",
                            ),
                            rx.callout(
                                PasswordState.change_result,
                                icon="triangle_alert",
                                color_scheme="red",
                                role="alert",
                                id="password-message",
                                width="100%",
                            ),
                        ),
                    ),
                    rx.button("Change password", type="submit", id="password-submit", width="100%"),
                    spacing="4",
                    width="100%",
                ),
                on_submit=PasswordState.change_password,
                reset_on_submit=True,
                aria_label="Change password",
            ),
            id="profile-password-card",
        ),
    )


@require_auth(role="admin")
def admin() -> rx.Component:
    return layout(
        rx.heading("Admin", id="admin-heading"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Email"),
                    rx.table.column_header_cell("Name"),
                    rx.table.column_header_cell("Role"),
                    rx.table.column_header_cell("Status"),
                    # a header cell names its column for screen readers (no empty <th>)
                    rx.table.column_header_cell("Action"),
                )
            ),
            rx.table.body(
                rx.foreach(
                    AdminState.users,
                    lambda u: rx.table.row(
                        rx.table.cell(u["email"].to(str)),
                        rx.table.cell(u["name"].to(str)),
                        rx.table.cell(u["role"].to(str)),
                        rx.table.cell(rx.cond(u["disabled"].to(bool), "disabled", "active")),
                        rx.table.cell(
                            rx.cond(
                                u["id"].to(str) == SessionState.user["id"].to(str),
                                # not offered: an admin cannot lock themselves out
                                rx.text("You", size="2", color_scheme="gray", class_name="self"),
                                rx.button(
                                    rx.cond(u["disabled"].to(bool), "Enable", "Disable"),
                                    size="1",
                                    variant="soft",
                                    on_click=AdminState.toggle(
                                        u["id"].to(str), ~u["disabled"].to(bool)
                                    ),
                                ),
                            )
                        ),
                    ),
                )
            ),
            id="admin-users",
            # the table scrolls inside its own box on a phone (Radix's scroll area), instead
            # of widening the page: it needs a width to scroll within
            width="100%",
            max_width="100%",
        ),
        rx.cond(
            AdminState.notice != "",
            rx.callout(AdminState.notice, role="status", id="admin-notice", color_scheme="amber"),
        ),
    )


@require_auth
def session_page() -> rx.Component:
    return layout(
        rx.heading("Your session", id="session-heading"),
        rx.card(
            rx.vstack(
                rx.text("Ends in ", session_countdown(id="session-countdown")),
                rx.text(
                    # the browser formats it: only it knows the user's time zone
                    "Expires ",
                    local_time(SessionState.expires_at, id="session-expiry"),
                ),
                rx.text(
                    "Signed in since ",
                    rx.moment(SessionState.session["createdAt"].to(int), from_now=True),
                ),
                rx.cond(
                    SessionState.is_expiring_soon, rx.badge("expiring soon", color_scheme="amber")
                ),
            )
        ),
        rx.hstack(
            rx.button("Refresh now", on_click=SessionState.refresh, id="session-refresh"),
            logout_button(),
            wrap="wrap",
        ),
    )


@require_auth
def devices() -> rx.Component:
    return layout(
        rx.heading("Your devices", id="devices-heading"),
        rx.text("Every browser signed in to your account. Signing one out ends it at once."),
        rx.vstack(
            rx.foreach(
                DeviceNamesState.named_devices,
                lambda d: rx.card(
                    rx.hstack(
                        rx.vstack(
                            rx.hstack(
                                rx.text(
                                    d["browser"].to(str),
                                    weight="medium",
                                    size="2",
                                    class_name="device-browser",
                                ),
                                rx.cond(d["current"].to(bool), rx.badge("this device")),
                            ),
                            rx.text(
                                rx.text.span(d["place"].to(str), class_name="device-place"),
                                " · last seen ",
                                rx.moment(d["lastSeen"].to(int), from_now=True),
                                size="1",
                                color_scheme="gray",
                            ),
                            spacing="1",
                        ),
                        rx.spacer(),
                        rx.button(
                            "Sign out",
                            size="1",
                            variant="soft",
                            color_scheme="red",
                            on_click=DevicesState.sign_out_device(d["handle"].to(str)),
                            class_name="device-sign-out",
                        ),
                        align="center",
                        width="100%",
                    ),
                    width="100%",
                    class_name="device",
                ),
            ),
            width="100%",
            id="device-list",
        ),
        rx.hstack(
            rx.button(
                "Sign out other devices",
                variant="soft",
                on_click=DevicesState.sign_out_everywhere(True),
                id="sign-out-others",
            ),
            rx.button(
                "Sign out everywhere",
                color_scheme="red",
                # white on red 9 is 3.9:1; the high-contrast red meets 4.5:1 (WCAG 1.4.3)
                high_contrast=True,
                on_click=DevicesState.sign_out_everywhere(False),
                id="sign-out-everywhere",
            ),
            # side by side on a desktop, one under the other on a narrow phone
            wrap="wrap",
        ),
    )


def not_found() -> rx.Component:
    """Any address the app has no page for (Reflex's own is a bare "404: Page not found")."""
    return layout(
        rx.heading("Page not found", id="not-found-heading"),
        rx.text("There is no page at this address. It may have moved, or the link is mistyped."),
        rx.link("Go to the home page", href="/", underline="always", id="not-found-home"),
    )


seed()
# one address per page, without a trailing slash (demo/canonical.py says where it came from)
app = rx.App(api_transformer=serve_without_slash(lambda: app.router))
app.add_page(index, route="/", title="reflex-session demo")
app.add_page(login, route="/login", title="Sign in")
app.add_page(register, route="/register", title="Create an account")
app.add_page(forbidden, route="/forbidden", title="Not for this account")
app.add_page(dashboard, route="/dashboard", title="Dashboard")
app.add_page(profile, route="/profile", title="Profile", on_load=ProfileState.load)
app.add_page(admin, route="/admin", title="Admin", on_load=AdminState.load)
# Reflex 0.10 has no add_custom_404_page: the page at its "404" slug is the not-found page
app.add_page(not_found, route="404", title="Page not found")
app.add_page(session_page, route="/session", title="Your session")
app.add_page(
    devices,
    route="/devices",
    title="Your devices",
    on_load=DevicesState.load_devices if store is not None else None,
)
install(
    app,
    auth,
    providers=configured_providers(auth),
    authenticate=accounts.authenticate,
    register=accounts.register,
    expiring_soon=1000 * int(os.environ["DEMO_EXPIRING_SOON"])
    if "DEMO_EXPIRING_SOON" in os.environ
    else None,
)
# outermost, outside the session layer install() added: a slashed page address is redirected
# before the page guard could make it a return-to
app.api_transformer = [
    *(app.api_transformer if isinstance(app.api_transformer, list) else [app.api_transformer]),
    redirect_trailing_slash(lambda: app.router),
]
