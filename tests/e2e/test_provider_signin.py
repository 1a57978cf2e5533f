"""Issue 13 in a real browser: sign-in with the OpenID provider the test script starts, on an app
with two workers (Reflex's Redis state manager, sessions in a Redis store).

Who attacks, and what each test shows they cannot do:

* **An XSS on any page**: the provider's tokens never reach the page. The app's token button
  shows only a digest of what ``access_token()`` returned, and the whole run is scanned for the
  session cookie and secrets (tests/e2e/conftest.py ``secret_scan``).
* **Someone holding a copied cookie after logout**: logout revokes the grant at the provider
  (counted there) and ends the session in the store.
* **A user signed out at the provider**: the provider's back-channel logout reaches our endpoint,
  and every open tab of that user, on every worker, is on the login page within a second.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from oidckit import Client
from oidckit import Provider as LocalProvider
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from reflex_session.stores import RedisStore

from .conftest import ReflexServer, wait_until
from .test_workers import app_copy, flush, path_of, text, wait_text, worker_pids

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

WORKERS = 2
REFLEX_DB = 7  # nothing else uses it (test_workers: 5, the demo's workers runs: 6)
STORE_PREFIX = "rs-e2e-oidc:"
LIVE_LIMIT = 1.0
MAX_TABS = 12
FRESH = 2.0  # seconds an access token counts as fresh in this app (see the fixture)


def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        pytest.fail("REDIS_URL is not set: run the suite with scripts/test.sh (start_redis)")
    return urlunsplit(urlsplit(url)._replace(path=f"/{REFLEX_DB}"))


class OIDCApp:
    def __init__(self, server: ReflexServer, client: Client) -> None:
        self.server = server
        self.client = client


@pytest.fixture(scope="module")
def oidc_app(
    tmp_path_factory: pytest.TempPathFactory, provider: LocalProvider
) -> Iterator[OIDCApp]:
    url = redis_url()
    flush(url)
    workdir = app_copy(tmp_path_factory, "oidc-workers")
    server = ReflexServer("oidc-workers", workdir, {})
    origin = server.url
    client = provider.register(
        f"{origin}/auth/callback/local",
        backchannel_logout_uri=f"{origin}/auth/backchannel-logout/local",
        backchannel_logout_session_required=True,
        post_logout_redirect_uris=[f"{origin}/login"],
    )
    server.settings.update(
        {
            "REFLEX_REDIS_URL": url,
            "GRANIAN_WORKERS": str(WORKERS),
            "E2E_STORE_REDIS_URL": url,
            "E2E_STORE_PREFIX": STORE_PREFIX,
            "E2E_OIDC_ISSUER": provider.issuer,
            "E2E_OIDC_CLIENT_ID": client.client_id,
            "E2E_OIDC_CLIENT_SECRET": client.client_secret,
            # tokens live 300 s at the test provider: stale FRESH seconds after they were issued
            "E2E_OIDC_MARGIN": str(300 - FRESH),
            # store reads cached per worker, kept right by the relay's announcements (issue 15):
            # every sign-out below crosses workers through them
            "E2E_READ_CACHE_TTL": "30",
        }
    )
    server.start()
    try:
        yield OIDCApp(server, client)
    finally:
        server.stop()
        flush(url)


def sign_in_at_the_provider(page: Any, login: str = "ada") -> None:
    """The provider's development pages, as a user fills them in (any password, then consent);
    a provider that still knows the browser and its consent sends it straight back. Called
    once the navigation away from the app's sign-in link has happened."""
    for _ in range(3):
        try:
            page.wait_for_selector(
                "input[name=login], button[type=submit], #dashboard-heading", timeout=30_000
            )
        except PlaywrightTimeout:
            pytest.fail(f"stuck at {page.url}: {page.inner_text('body')[:500]}")
        if page.query_selector("#dashboard-heading"):
            return
        with page.expect_navigation(timeout=30_000):
            if page.query_selector("input[name=login]"):
                page.fill("input[name=login]", login)
                page.fill("input[name=password]", "any password")
            page.click("button[type=submit]")


def signed_in_device(browser: Any, app: OIDCApp, login: str = "ada") -> tuple[Any, Any]:
    """A new browser (its own cookies) signed in through the provider; its first tab, on the
    dashboard."""
    context = browser.new_context()
    page = context.new_page()
    sign_in_again(page, app, login)
    return context, page


def sign_in_again(page: Any, app: OIDCApp, login: str = "ada") -> None:
    page.goto(app.server.url + "/dashboard")
    page.wait_for_selector("#sign-in-local")
    # the link is a full page load: wait for it, or the next step could find our own login
    # page's submit button and click it, going nowhere
    with page.expect_navigation(timeout=30_000):
        page.click("#sign-in-local")
    sign_in_at_the_provider(page, login)
    try:
        page.wait_for_selector("#dashboard-heading", timeout=30_000)
    except PlaywrightTimeout:
        pytest.fail(f"not on the dashboard: {page.url}: {page.inner_text('body')[:500]}")
    wait_text(page, "#status", "authenticated")


def token_of(page: Any) -> str:
    before = text(page, "#token")
    page.click("#fetch-token")
    page.wait_for_function(
        "([b]) => { const t = document.querySelector('#token')?.textContent ?? '';"
        " return t !== '' && t !== b; }",
        arg=[before],
    )
    return text(page, "#token")


def grants_of(user_id: str) -> list[dict[str, Any]]:
    """The grant records of ``user_id`` in the app's store (read by the test, never by a page)."""

    async def read() -> list[dict[str, Any]]:
        store = RedisStore(redis_url(), prefix=STORE_PREFIX)
        try:
            records = await store.list_for_user(user_id)
            return [r.data for r in records if r.sid.endswith("/grant")]
        finally:
            await store.close()

    # in a thread of its own: Playwright's sync API already runs a loop in this one
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result()


def provider_sids() -> set[str]:
    return {g["providerSid"] for g in grants_of("local:ada")}


def tab_on(context: Any, app: OIDCApp, want: Callable[[int], bool]) -> tuple[Any, int]:
    """A new tab of this browser on the dashboard whose websocket went to a worker ``want``s
    (one guarded click tells which); other tabs it opened on the way are closed."""
    for _ in range(MAX_TABS):
        page = context.new_page()
        page.goto(app.server.url + "/dashboard")
        page.wait_for_selector("#dashboard-heading")
        wait_text(page, "#status", "authenticated")
        before = int(text(page, "#clicks") or 0)
        page.click("#click")
        wait_text(page, "#clicks", str(before + 1))
        pid = int(text(page, "#pid"))
        if want(pid):
            return page, pid
        page.close()
    pytest.fail(f"no tab reached the wanted worker in {MAX_TABS} tries")


def until_on_login(tabs: list[tuple[Any, int]], start: float, limit: float = 5) -> dict[int, float]:
    """Seconds from ``start`` until each tab (by index) was on the login page."""
    seen: dict[int, float] = {}
    while len(seen) < len(tabs) and time.monotonic() < start + limit:
        tabs[0][0].wait_for_timeout(10)  # lets Playwright deliver the tabs' navigations
        for index, (page, _pid) in enumerate(tabs):
            if index not in seen and path_of(page) == "/login":
                seen[index] = time.monotonic() - start
    return seen


def test_sign_in_reload_token_and_logout_revokes_the_grant(
    oidc_app: OIDCApp, browser: Any, provider: LocalProvider
) -> None:
    context, page = signed_in_device(browser, oidc_app)
    try:
        # back on the page the user was going to, signed in as the provider's subject
        assert path_of(page) == "/dashboard"
        page.reload()
        page.wait_for_selector("#dashboard-heading")
        wait_text(page, "#status", "authenticated")
        digest = token_of(page)
        assert digest not in ("", "none")
        # the page never held a provider token: the grant's tokens are nowhere in its HTML
        grants = grants_of("local:ada")
        assert grants
        html = page.content()
        for grant in grants:
            for name in ("accessToken", "refreshToken", "idToken"):
                assert grant[name] not in html
        cookies = {c["name"]: c for c in context.cookies()}
        assert "session_flow" not in cookies  # the flow cookie went with the callback
        assert cookies["session"]["httpOnly"]

        revoked_before = provider.stats(oidc_app.client)["revoked"]
        mine = provider_sids()
        page.click("#logout")
        page.wait_for_selector("#login-heading")
        wait_until(
            lambda: provider.stats(oidc_app.client)["revoked"] == revoked_before + 1,
            "the grant revoked at the provider",
        )
        assert len(provider_sids() & mine) == len(mine) - 1  # this session's grant is gone
    finally:
        context.close()


def test_a_refused_consent_lands_on_the_login_page_saying_so(
    oidc_app: OIDCApp, browser: Any
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(oidc_app.server.url + "/login")
        page.click("#sign-in-local")
        page.wait_for_selector("input[name=login]")
        page.fill("input[name=login]", "ada")
        page.fill("input[name=password]", "x")
        page.click("button[type=submit]")
        page.wait_for_selector("a[href$='/abort']")
        page.click("a[href$='/abort']")
        page.wait_for_selector("#login-heading")
        wait_text(page, "#reason", "accessDenied")
        assert not [c for c in context.cookies() if c["name"] == "session"]
    finally:
        context.close()


def test_back_channel_logout_signs_out_tabs_on_every_worker_within_a_second(
    oidc_app: OIDCApp, browser: Any, provider: LocalProvider
) -> None:
    """Two browsers of one user, each signed in at the provider (two provider sessions), each
    with one tab, on different workers. A back-channel logout naming one provider session
    (``sid``) ends that device only; one naming the user (``sub``) ends both, within a second,
    though each tab's worker learns of it only through the Redis relay or the endpoint itself."""
    assert len(worker_pids(oidc_app.server)) == WORKERS
    contexts: list[Any] = []
    try:
        known = provider_sids()
        a, first = signed_in_device(browser, oidc_app)
        contexts.append(a)
        sid_a = (provider_sids() - known).pop()
        b, second = signed_in_device(browser, oidc_app)
        contexts.append(b)
        first.close()
        second.close()
        tab_a = tab_on(a, oidc_app, lambda pid: True)
        tab_b = tab_on(b, oidc_app, lambda pid: pid != tab_a[1])

        # by sid: the first browser's provider session only
        start = time.monotonic()
        assert provider.send_backchannel_logout(oidc_app.client, "ada", sid_a) == 200
        seen = until_on_login([tab_a], start)
        print(f"\n[oidc] back-channel logout by sid: tab A on /login after {seen}")
        assert seen, "the device whose provider session ended is still signed in"
        tab_b[0].wait_for_timeout(1500)
        assert path_of(tab_b[0]) == "/dashboard"
        wait_text(tab_b[0], "#status", "authenticated")

        # sign A in again, on the other worker than B's tab
        tab_a[0].close()
        page = a.new_page()
        sign_in_again(page, oidc_app)
        page.close()
        tab_a = tab_on(a, oidc_app, lambda pid: pid != tab_b[1])

        # by sub: every session of the user, on every worker, within a second
        tabs = [tab_a, tab_b]
        start = time.monotonic()
        assert provider.send_backchannel_logout(oidc_app.client, "ada") == 200
        seen = until_on_login(tabs, start)
        print(
            f"[oidc] back-channel logout by sub: tabs on workers {[t[1] for t in tabs]}, "
            f"time to /login: { {tabs[i][1]: round(t, 3) for i, t in seen.items()} }"
        )
        assert len(seen) == len(tabs), "a tab was not signed out within 5 s"
        slow = {tabs[i][1]: round(t, 3) for i, t in seen.items() if t >= LIVE_LIMIT}
        assert not slow, f"tabs took {LIVE_LIMIT} s or more on workers {slow}"
        for page, _pid in tabs:
            wait_text(page, "#reason", "revoked")
        assert provider_sids() == set()
    finally:
        for context in contexts:
            context.close()


def test_tabs_on_two_workers_refresh_once_per_rotation(
    oidc_app: OIDCApp, browser: Any, provider: LocalProvider
) -> None:
    """One session, two tabs whose websockets are on different workers, both asking for a token
    at the same moment, three times, each time after the token went stale: the provider sees
    exactly one refresh per round, refuses none, and both tabs end each round with its token."""
    context, first = signed_in_device(browser, oidc_app)
    try:
        first.close()
        tab_a = tab_on(context, oidc_app, lambda pid: True)
        tab_b = tab_on(context, oidc_app, lambda pid: pid != tab_a[1])
        tabs = [tab_a[0], tab_b[0]]
        stats = provider.stats(oidc_app.client)
        refreshes, refused = stats["grants"].get("refresh_token", 0), dict(stats["refused"])
        rounds = 3
        for _ in range(rounds):
            time.sleep(FRESH + 0.5)  # the token is stale now
            shown = [text(page, "#token") for page in tabs]
            for page in tabs:  # both clicks leave within a few milliseconds
                page.evaluate("document.querySelector('#fetch-token').click()")
            for page, before in zip(tabs, shown, strict=True):
                page.wait_for_function(
                    "([b]) => { const t = document.querySelector('#token')?.textContent ?? '';"
                    " return t !== '' && t !== b; }",
                    arg=[before],
                )
            digests = {text(page, "#token") for page in tabs}
            assert len(digests) == 1, f"the tabs ended the round with different tokens {digests}"
            assert "none" not in digests
        stats = provider.stats(oidc_app.client)
        print(
            f"\n[oidc] {rounds} rounds, tabs on workers {tab_a[1]} and {tab_b[1]}: "
            f"{stats['grants'].get('refresh_token', 0) - refreshes} refreshes at the provider"
        )
        assert stats["grants"].get("refresh_token", 0) - refreshes == rounds
        assert stats["refused"] == refused
    finally:
        context.close()


def test_a_grant_revoked_at_the_provider_signs_out_every_tab_of_its_session(
    oidc_app: OIDCApp, browser: Any, provider: LocalProvider
) -> None:
    """The grant is revoked at the provider (by an administrator, or the user elsewhere). The
    next renewal is refused for good: the session ends, and both of its tabs, on two workers,
    go to the login page saying why; another device of the same user keeps its own session."""
    known = provider_sids()
    context, first = signed_in_device(browser, oidc_app)
    contexts = [context]
    try:
        sid = (provider_sids() - known).pop()
        other, other_page = signed_in_device(browser, oidc_app)
        contexts.append(other)
        first.close()
        tab_a = tab_on(context, oidc_app, lambda pid: True)
        tab_b = tab_on(context, oidc_app, lambda pid: pid != tab_a[1])
        grant = next(g for g in grants_of("local:ada") if g["providerSid"] == sid)
        provider.revoke(oidc_app.client, grant["refreshToken"])
        time.sleep(FRESH + 0.5)  # the token is stale: the next ask renews, and is refused

        start = time.monotonic()
        tab_a[0].click("#fetch-token")
        tabs = [tab_a, tab_b]
        seen = until_on_login(tabs, start)
        print(
            f"\n[oidc] grant revoked at the provider: tabs on workers {[t[1] for t in tabs]} "
            f"on /login after { {tabs[i][1]: round(t, 3) for i, t in seen.items()} }"
        )
        assert len(seen) == len(tabs), "a tab of the ended session is still signed in"
        for page, _pid in tabs:
            wait_text(page, "#reason", "revoked")
        assert sid not in provider_sids()  # the grant went with the session
        # the other device's session is its own grant: untouched
        other_page.reload()
        other_page.wait_for_selector("#dashboard-heading")
        wait_text(other_page, "#status", "authenticated")
        assert token_of(other_page) not in ("", "none")
    finally:
        for each in contexts:
            each.close()
