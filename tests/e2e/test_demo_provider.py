"""The demo with a provider named in its environment (issue 13, "the demo shows 'Sign in with …'
when a provider is configured through environment variables"): the local OpenID provider of the
test script, on the demo's embedded SQLite defaults otherwise.

Who attacks: an XSS on the login page would like the provider's tokens; the demo keeps them in
its session store (``demo_session``), so the page holds nothing but the user's name. The run's
log must hold no token, code or secret (``check_log``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from oidckit import Provider as LocalProvider

from .demo_server import DemoServer, make_demo_server
from .test_demo import check_log
from .test_provider_signin import sign_in_at_the_provider

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def provider_demo(
    tmp_path_factory: pytest.TempPathFactory, provider: LocalProvider
) -> Iterator[DemoServer]:
    server = make_demo_server(tmp_path_factory, "demo-oidc", "sqlite")
    client = provider.register(f"{server.url}/auth/callback/oidc")
    server.settings.update(
        {
            "DEMO_OIDC_ISSUER": provider.issuer,
            "DEMO_OIDC_CLIENT_ID": client.client_id,
            "DEMO_OIDC_CLIENT_SECRET": client.client_secret,
            "DEMO_OIDC_LABEL": "Local provider",
        }
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
    check_log(server)


def test_the_demo_signs_in_with_a_configured_provider(
    provider_demo: DemoServer, browser: Any
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(provider_demo.url + "/dashboard")
        page.wait_for_selector("#sign-in-oidc")
        assert page.inner_text("#sign-in-oidc").strip() == "Sign in with Local provider"
        with page.expect_navigation(timeout=30_000):  # a full page load, as in sign_in_again
            page.click("#sign-in-oidc")
        sign_in_at_the_provider(page, "grace")
        page.wait_for_url(lambda url: urlsplit(url).path == "/dashboard", timeout=30_000)
        page.wait_for_function("document.body.innerText.includes('oidc:grace')", timeout=20_000)
        session = [c for c in context.cookies() if c["name"] == "session"]
        assert session
        assert session[0]["httpOnly"]
    finally:
        context.close()
