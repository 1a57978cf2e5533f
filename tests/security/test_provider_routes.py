"""The provider sign-in routes (``/auth/signin``, ``/auth/callback``, ``/auth/backchannel-logout``)
under attack, through the ASGI app ``install()`` mounts, against the real test provider.

Who attacks:

* **Another site** sending the victim's browser to our callback with the attacker's own code and
  state (login CSRF: the victim would be signed in as the attacker), or starting a sign-in whose
  return-to points off-site (an open redirect through our callback).
* **Someone who copied a callback URL and the flow cookie** (from a proxy log, the history) and
  replays them: the code is spent, nobody is signed in twice.
* **A provider mix-up**: a callback for one provider delivered to another's route.
* **Anyone on the network** posting to the back-channel endpoint: garbage never ends a session
  and never makes a 500.
* **Anyone who reads the logs**: no code, state, token or cookie in any line.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from oidckit import Provider as LocalProvider
from oidckit import sign_in_at_provider
from sec_helpers import RawResponse, call_asgi, set_cookie_value

from reflex_session import ReflexSession
from reflex_session.binding import BindingCookie
from reflex_session.http.providers import ProviderRoutes
from reflex_session.providers import ProviderAuth, oidc
from reflex_session.stores import MemoryStore
from reflex_session.testing import FakeClock

SECRET = "provider-routes-secret-of-at-least-32-bytes"
HOST = "testserver"
ORIGIN = f"http://{HOST}"


class Browser:
    """One browser: its cookies (the binding first, as the middleware gives every browser)."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {"session_bind": secrets.token_urlsafe(32)}

    def take(self, response: RawResponse) -> None:
        for line in response.get_all("set-cookie"):
            name, value = set_cookie_value(line)
            if "Max-Age=0" in line:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    @property
    def header(self) -> tuple[bytes, bytes]:
        return b"cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()).encode()


class Site:
    def __init__(self, provider: LocalProvider, clock: FakeClock, names: tuple[str, ...]) -> None:
        self.auth: ReflexSession[Any] = ReflexSession(
            secret_key=SECRET, store=MemoryStore(clock), clock=clock
        )
        configured = []
        self.clients = {}
        for name in names:
            client = provider.register(f"{ORIGIN}/auth/callback/{name}")
            self.clients[name] = client
            configured.append(oidc(name, provider.issuer, client.client_id, client.client_secret))
        self.providers = ProviderAuth(self.auth, configured)
        self.ended: list[str] = []

        async def ended(users: Any) -> None:
            self.ended.extend(users)

        self.routes = ProviderRoutes(
            self.providers,
            BindingCookie.for_session_cookie(self.auth.cookie_policy),
            on_sessions_ended=ended,
        )

    async def get(self, browser: Browser, path: str, query: str = "") -> RawResponse:
        response = await call_asgi(
            self.routes, "GET", path, query=query.encode(), headers=[browser.header]
        )
        browser.take(response)
        return response


def location(response: RawResponse) -> str:
    assert response.status == 303, (response.status, response.body[:200])
    return response.get_all("location")[0]


async def start(
    site: Site, browser: Browser, name: str = "a", return_to: str = "/dashboard"
) -> str:
    from urllib.parse import urlencode

    response = await site.get(
        browser, f"/auth/signin/{name}", urlencode({"callbackUrl": return_to})
    )
    return location(response)


def callback_query(callback_url: str) -> str:
    return urlsplit(callback_url).query


@pytest.fixture
def site(provider: LocalProvider, clock: FakeClock) -> Site:
    return Site(provider, clock, ("a", "b"))


def signed_in(response: RawResponse) -> bool:
    return any(
        set_cookie_value(line)[0] == "session" and "Max-Age=0" not in line
        for line in response.get_all("set-cookie")
    )


async def test_the_round_trip_signs_in_and_returns_to_the_page(
    site: Site, provider: LocalProvider
) -> None:
    browser = Browser()
    url = await start(site, browser, return_to="/dashboard?tab=2")
    answer = await site.get(
        browser, "/auth/callback/a", callback_query(sign_in_at_provider(provider, url))
    )
    assert location(answer) == "/dashboard?tab=2"
    assert signed_in(answer)
    assert "session_flow" not in browser.cookies


@pytest.mark.parametrize(
    "evil",
    [
        "https://evil.example/x",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/.//evil.example",
        "https:/evil.example",
        "\t//evil.example",
        "/auth/signin/a?callbackUrl=/auth/signin/a",
    ],
)
async def test_no_open_redirect_through_the_callback(
    site: Site, provider: LocalProvider, evil: str
) -> None:
    browser = Browser()
    url = await start(site, browser, return_to=evil)
    answer = await site.get(
        browser, "/auth/callback/a", callback_query(sign_in_at_provider(provider, url))
    )
    assert location(answer) == "/"


async def test_login_csrf_the_attackers_callback_signs_the_victim_in_as_nobody(
    site: Site, provider: LocalProvider, caplog: pytest.LogCaptureFixture
) -> None:
    attacker, victim = Browser(), Browser()
    url = await start(site, attacker)
    planted = sign_in_at_provider(provider, url, "mallory")  # the attacker stops before using it
    await start(site, victim)  # the victim even has a sign-in of their own under way

    with caplog.at_level(logging.INFO):
        answer = await site.get(victim, "/auth/callback/a", callback_query(planted))

    assert location(answer).startswith("/login?reason=signInFailed")
    assert not signed_in(answer)
    code = dict(parse_qsl(callback_query(planted)))["code"]
    assert code not in caplog.text
    assert "failed (state_mismatch)" in caplog.text  # logged once, by its fixed reason


async def test_a_replayed_callback_signs_in_nobody(
    site: Site, provider: LocalProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """The callback URL and the flow cookie, copied and replayed (the first use clears the
    cookie in the real browser, the copy still has it): the code is spent."""
    browser = Browser()
    url = await start(site, browser)
    callback = callback_query(sign_in_at_provider(provider, url))
    copy = Browser()
    copy.cookies = dict(browser.cookies)

    first = await site.get(browser, "/auth/callback/a", callback)
    with caplog.at_level(logging.INFO):
        again = await site.get(copy, "/auth/callback/a", callback)

    assert signed_in(first)
    assert location(again).startswith("/login?reason=signInFailed")
    assert not signed_in(again)
    assert "failed (token_refused)" in caplog.text
    stats = provider.stats(site.clients["a"])
    assert stats["refused"] == {"authorization_code:invalid_grant": 1}


async def test_a_callback_on_another_providers_route_is_refused(
    site: Site, provider: LocalProvider
) -> None:
    browser = Browser()
    url = await start(site, browser, "a")
    answer = await site.get(
        browser, "/auth/callback/b", callback_query(sign_in_at_provider(provider, url))
    )
    assert location(answer).startswith("/login?reason=signInFailed")
    assert not signed_in(answer)
    assert provider.stats(site.clients["a"])["grants"] == {}  # the code never left us


async def test_a_provider_that_is_down_is_a_clean_message(clock: FakeClock) -> None:
    auth: ReflexSession[Any] = ReflexSession(
        secret_key=SECRET, store=MemoryStore(clock), clock=clock
    )
    down = oidc("down", "http://127.0.0.1:9", "id", "secret")  # nothing listens on port 9
    routes = ProviderRoutes(
        ProviderAuth(auth, [down]), BindingCookie.for_session_cookie(auth.cookie_policy)
    )
    browser = Browser()
    answer = await call_asgi(routes, "GET", "/auth/signin/down", headers=[browser.header])
    assert location(answer).startswith("/login?")
    assert "reason=providerUnavailable" in location(answer)


BAD_POSTS: list[tuple[str, str, dict[str, str], bytes, int]] = [
    (
        "garbage",
        "/auth/backchannel-logout/a",
        {"content-type": "application/x-www-form-urlencoded"},
        b"logout_token=garbage",
        400,
    ),
    (
        "no-token",
        "/auth/backchannel-logout/a",
        {"content-type": "application/x-www-form-urlencoded"},
        b"",
        400,
    ),
    (
        "json",
        "/auth/backchannel-logout/a",
        {"content-type": "application/json"},
        b'{"logout_token": "x"}',
        400,
    ),
    (
        "huge",
        "/auth/backchannel-logout/a",
        {"content-type": "application/x-www-form-urlencoded"},
        b"logout_token=" + b"a" * 40_000,
        400,
    ),
    (
        "cross-site",
        "/auth/backchannel-logout/a",
        {"content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "cross-site"},
        b"logout_token=x",
        400,
    ),
    (
        "unknown-provider",
        "/auth/backchannel-logout/zzz",
        {"content-type": "application/x-www-form-urlencoded"},
        b"logout_token=x",
        404,
    ),
    (
        "binary",
        "/auth/backchannel-logout/a",
        {"content-type": "application/x-www-form-urlencoded"},
        bytes(range(256)),
        400,
    ),
]


@pytest.mark.parametrize(
    ("what", "path", "headers", "body", "status"), BAD_POSTS, ids=[b[0] for b in BAD_POSTS]
)
async def test_the_back_channel_endpoint_refuses_cleanly(
    site: Site, what: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    sent = [(k.encode(), v.encode()) for k, v in headers.items()]
    answer = await call_asgi(site.routes, "POST", path, headers=sent, body=body)
    assert answer.status == status
    assert site.ended == []
    assert b"Traceback" not in answer.body


async def test_the_back_channel_endpoint_takes_only_post(site: Site) -> None:
    answer = await call_asgi(site.routes, "GET", "/auth/backchannel-logout/a")
    assert answer.status == 405


@pytest.mark.parametrize(
    ("referer", "expected"),
    [
        (f"{ORIGIN}/login?callbackUrl=%2Fdashboard%3Ftab%3D2", "/dashboard?tab=2"),
        (f"{ORIGIN}/pricing?plan=pro", "/pricing?plan=pro"),
        (f"{ORIGIN}/login", "/"),
        ("https://evil.example/login?callbackUrl=%2Fdashboard", "/"),
        (f"{ORIGIN}/login?callbackUrl=https%3A%2F%2Fevil.example", "/"),
        (f"{ORIGIN}/login?callbackUrl=%2F%2Fevil.example", "/"),
    ],
    ids=["login-page", "a-page", "bare-login", "another-site", "absolute", "scheme-relative"],
)
async def test_a_link_clicked_before_hydration_keeps_a_safe_return_to(
    site: Site, provider: LocalProvider, referer: str, expected: str
) -> None:
    """The sign-in link's ``callbackUrl`` is filled in by the page's scripts; clicked before,
    the route takes the return-to from a ``Referer`` of this site only, judged like any other."""
    browser = Browser()
    response = await call_asgi(
        site.routes,
        "GET",
        "/auth/signin/a",
        headers=[browser.header, (b"referer", referer.encode())],
    )
    browser.take(response)
    callback = sign_in_at_provider(provider, location(response))
    answer = await site.get(browser, "/auth/callback/a", callback_query(callback))
    assert location(answer) == expected
