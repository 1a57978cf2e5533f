"""The provider sign-in flow of the core (``reflex_session.providers``) against the real test
provider: the whole round trip, and each way a callback is refused with nothing signed in.

Who attacks here: another site that sends the victim's browser to our callback with its own
``state`` or code (login CSRF, code injection), someone holding a copied flow cookie or a
callback URL from the logs or the history (replay), and a browser that takes too long.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from oidckit import Provider as LocalProvider
from oidckit import sign_in_at_provider

from reflex_session.errors import ConfigError, ProviderError
from reflex_session.jwe import JWEFramer
from reflex_session.keys import Keyring
from reflex_session.providers import FLOW_TTL, ProviderSignIn, github, oidc
from reflex_session.testing import FakeClock

SECRET = "flow-tests-secret-of-at-least-32-bytes!!"
REDIRECT_URI = "http://127.0.0.1:9/auth/callback/test"
BINDING = "b" * 43
OTHER_BINDING = "c" * 43


class Browser:
    """The cookies of one browser, as the callback would receive them."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def take(self, set_cookie: str) -> None:
        name, _, rest = set_cookie.partition("=")
        value = rest.split(";", 1)[0]
        if "Max-Age=0" in set_cookie:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    @property
    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


@pytest.fixture
def flow_setup(provider: LocalProvider, clock: FakeClock) -> tuple[ProviderSignIn, Any]:
    client = provider.register(REDIRECT_URI)
    test = oidc("test", provider.issuer, client.client_id, client.client_secret)
    return ProviderSignIn([test], secret_keys=[SECRET], clock=clock), client


async def started(signin: ProviderSignIn, browser: Browser, return_to: str = "/dashboard") -> str:
    url, cookie = await signin.start(
        "test",
        redirect_uri=REDIRECT_URI,
        return_to=return_to,
        binding=BINDING,
        request_is_https=False,
    )
    browser.take(cookie)
    return url


def query_of(callback: str) -> dict[str, str]:
    assert callback.startswith(REDIRECT_URI), callback
    return dict(parse_qsl(urlsplit(callback).query))


async def at_callback(
    signin: ProviderSignIn, provider: LocalProvider, login: str = "ada", *, consent: bool = True
) -> tuple[Browser, dict[str, str]]:
    """A browser that started a sign-in and came back from the provider: its cookies and the
    callback's query, not yet finished."""
    browser = Browser()
    url = await started(signin, browser)
    return browser, query_of(sign_in_at_provider(provider, url, login, consent=consent))


async def finish(
    signin: ProviderSignIn,
    browser: Browser,
    query: dict[str, str],
    binding: str = BINDING,
    route: str = "test",
) -> Any:
    return await signin.finish(
        route, query, cookie_header=browser.header, binding=binding, request_is_https=False
    )


async def test_a_sign_in_round_trip(flow_setup: Any, provider: LocalProvider) -> None:
    signin, client = flow_setup
    browser = Browser()
    url = await started(signin, browser, "/dashboard?tab=2")
    cookie = browser.header
    assert cookie.startswith("session_flow=")
    # the URL carries PKCE S256, state and nonce; the cookie carries none of them readably
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["code_challenge_method"] == "S256"
    for secret in (params["state"], params["nonce"]):
        assert secret not in cookie
    result = await finish(signin, browser, query_of(sign_in_at_provider(provider, url, "ada")))
    assert result.claims["sub"] == "ada"
    assert result.claims["iss"] == provider.issuer
    assert result.claims["aud"] in (client.client_id, [client.client_id])
    assert {"access_token", "refresh_token", "id_token"} <= result.token.keys()
    assert result.return_to == "/dashboard?tab=2"
    assert provider.stats(client)["grants"] == {"authorization_code": 1}


async def test_the_flow_cookie_is_httponly_lax_and_short_lived(flow_setup: Any) -> None:
    signin, _ = flow_setup
    _, cookie = await signin.start(
        "test", redirect_uri=REDIRECT_URI, return_to="/", binding=BINDING, request_is_https=True
    )
    assert cookie.startswith("__Host-session_flow=")
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", f"Max-Age={FLOW_TTL}", "Path=/"):
        assert attribute in cookie
    cleared = signin.clear_cookie(request_is_https=True)
    assert cleared.startswith("__Host-session_flow=;")
    assert "Max-Age=0" in cleared


async def test_another_state_is_refused(flow_setup: Any, provider: LocalProvider) -> None:
    """Login CSRF: another site sends the victim to our callback with its own code and state."""
    signin, client = flow_setup
    browser, query = await at_callback(signin, provider)
    with pytest.raises(ProviderError) as refused:
        await finish(signin, browser, {**query, "state": "attacker-state"})
    assert refused.value.reason == "state_mismatch"
    assert provider.stats(client)["grants"] == {}  # the code never reached the provider


async def test_a_flow_cookie_copied_into_another_browser_is_refused(
    flow_setup: Any, provider: LocalProvider
) -> None:
    signin, _ = flow_setup
    browser, query = await at_callback(signin, provider)
    with pytest.raises(ProviderError) as refused:
        await finish(signin, browser, query, binding=OTHER_BINDING)
    assert refused.value.reason == "flow_missing"


async def test_a_callback_without_a_started_flow_is_refused(
    flow_setup: Any, provider: LocalProvider
) -> None:
    signin, _ = flow_setup
    _, query = await at_callback(signin, provider)
    for header in ("", "session_flow=not-a-jwe", "session_flow=a.b.c.d.e"):
        with pytest.raises(ProviderError) as refused:
            await signin.finish(
                "test", query, cookie_header=header, binding=BINDING, request_is_https=False
            )
        assert refused.value.reason == "flow_missing"


async def test_a_flow_sealed_under_another_secret_or_purpose_does_not_open(
    flow_setup: Any, provider: LocalProvider, clock: FakeClock
) -> None:
    signin, _ = flow_setup
    other = ProviderSignIn(list(signin.providers.values()), secret_keys=["x" * 40], clock=clock)
    browser = Browser()
    url = await started(other, browser)
    with pytest.raises(ProviderError) as refused:
        await finish(signin, browser, query_of(sign_in_at_provider(provider, url)))
    assert refused.value.reason == "flow_missing"


async def test_secret_rotation_keeps_a_started_flow(
    flow_setup: Any, provider: LocalProvider, clock: FakeClock
) -> None:
    signin, _ = flow_setup
    browser = Browser()
    url = await started(signin, browser)
    rotated = ProviderSignIn(
        list(signin.providers.values()), secret_keys=[SECRET, "n" * 40], clock=clock
    )
    result = await finish(rotated, browser, query_of(sign_in_at_provider(provider, url)))
    assert result.claims["sub"] == "ada"


async def test_a_slow_sign_in_expires(
    flow_setup: Any, provider: LocalProvider, clock: FakeClock
) -> None:
    signin, _ = flow_setup
    browser, query = await at_callback(signin, provider)
    clock.advance(FLOW_TTL + 1)
    with pytest.raises(ProviderError) as refused:
        await finish(signin, browser, query)
    assert refused.value.reason == "flow_expired"


async def test_a_replayed_callback_is_refused_by_the_provider(
    flow_setup: Any, provider: LocalProvider
) -> None:
    """Someone with the callback URL (history, a log) and a copy of the flow cookie: the code
    is single use at the provider."""
    signin, client = flow_setup
    browser, query = await at_callback(signin, provider)
    await finish(signin, browser, query)
    with pytest.raises(ProviderError) as refused:
        await finish(signin, browser, query)
    assert refused.value.reason == "token_refused"
    assert provider.stats(client)["refused"] == {"authorization_code:invalid_grant": 1}


async def test_a_code_from_another_sign_in_is_refused(
    flow_setup: Any, provider: LocalProvider
) -> None:
    """Code injection: the attacker's own code, pasted into the victim's callback with the
    victim's state, fails PKCE (the verifier in the victim's cookie is not the attacker's)."""
    signin, _ = flow_setup
    victim, attacker = Browser(), Browser()
    victim_url = await started(signin, victim)
    attacker_query = query_of(sign_in_at_provider(provider, await started(signin, attacker), "eve"))
    victim_query = query_of(sign_in_at_provider(provider, victim_url, "ada"))
    with pytest.raises(ProviderError) as refused:
        await finish(signin, victim, {**victim_query, "code": attacker_query["code"]})
    assert refused.value.reason == "token_refused"


async def test_a_foreign_issuer_in_the_callback_is_refused(
    flow_setup: Any, provider: LocalProvider
) -> None:
    """Mix-up (RFC 9207): the callback names another issuer than the one the flow started with."""
    signin, _ = flow_setup
    browser, query = await at_callback(signin, provider)
    for iss in ("https://evil.example", None):
        forged = {k: v for k, v in query.items() if k != "iss"}
        if iss:
            forged["iss"] = iss
        with pytest.raises(ProviderError) as refused:
            await finish(signin, browser, forged)
        assert refused.value.reason == "state_mismatch"


async def test_a_denied_consent_says_access_denied(
    flow_setup: Any, provider: LocalProvider
) -> None:
    signin, _ = flow_setup
    browser, query = await at_callback(signin, provider, consent=False)
    with pytest.raises(ProviderError) as refused:
        await finish(signin, browser, query)
    assert refused.value.reason == "access_denied"


async def test_an_unreachable_provider_is_a_clean_error(clock: FakeClock) -> None:
    dead = oidc("test", "http://127.0.0.1:9", "client", "secret")  # nothing listens on port 9
    signin = ProviderSignIn([dead], secret_keys=[SECRET], clock=clock, timeout=2)
    with pytest.raises(ProviderError) as refused:
        await signin.start(
            "test",
            redirect_uri=REDIRECT_URI,
            return_to="/",
            binding=BINDING,
            request_is_https=False,
        )
    assert refused.value.reason == "provider_unavailable"
    with pytest.raises(ProviderError) as unknown:
        await signin.start(
            "nope",
            redirect_uri=REDIRECT_URI,
            return_to="/",
            binding=BINDING,
            request_is_https=False,
        )
    assert unknown.value.reason == "provider_error"


async def test_a_callback_on_another_providers_route_is_refused(
    flow_setup: Any, provider: LocalProvider
) -> None:
    """The mix-up defence for providers that send no ``iss``: the answer to a flow started with
    one provider cannot be taken on another provider's callback route."""
    signin, _ = flow_setup
    browser, query = await at_callback(signin, provider)
    with pytest.raises(ProviderError) as refused:
        await finish(signin, browser, query, route="google")
    assert refused.value.reason == "state_mismatch"


@pytest.mark.parametrize(("skew", "accepted"), [(-30, True), (-120, False)])
async def test_a_worker_whose_clock_is_behind_takes_a_fresh_flow(
    flow_setup: Any, provider: LocalProvider, clock: FakeClock, skew: int, accepted: bool
) -> None:
    """Started on a worker whose clock is ahead: a few seconds of difference between hosts must
    not break a fast sign-in, but a flow from the future is not accepted without limit."""
    signin, _ = flow_setup
    browser, query = await at_callback(signin, provider)
    clock.advance(skew)
    if accepted:
        assert (await finish(signin, browser, query)).claims["sub"] == "ada"
    else:
        with pytest.raises(ProviderError) as refused:
            await finish(signin, browser, query)
        assert refused.value.reason == "flow_expired"


@pytest.mark.parametrize(
    "flow",
    [
        {"p": "test", "s": "x", "v": "x", "n": "x", "r": "/", "b": "b" * 43, "u": "x", "t": True},
        {"p": "test", "s": "x", "v": "x", "n": "x", "r": "/", "b": "b" * 43, "u": "x", "t": 1.5},
        {"p": "test", "s": "x", "v": "x", "n": "x", "r": "/", "b": "b" * 43, "t": 1},
        {"p": "test", "s": 1, "v": "x", "n": "x", "r": "/", "b": "b" * 43, "u": "x", "t": 1},
        ["not", "a", "flow"],
    ],
    ids=["t-bool", "t-float", "no-u", "s-int", "list"],
)
async def test_a_sealed_flow_of_the_wrong_shape_is_no_flow(flow_setup: Any, flow: Any) -> None:
    """Even sealed under our own key (a bug, an old version), a flow whose fields are not what
    ``start`` writes is refused cleanly, never a TypeError."""
    signin, _ = flow_setup
    sealed = JWEFramer(Keyring([SECRET], purpose="flow")).encrypt(json.dumps(flow).encode())
    with pytest.raises(ProviderError) as refused:
        await signin.finish(
            "test",
            {"state": "x", "code": "x"},
            cookie_header=f"session_flow={sealed}",
            binding="b" * 43,
            request_is_https=False,
        )
    assert refused.value.reason == "flow_missing"


async def test_the_result_never_prints_the_tokens(flow_setup: Any, provider: LocalProvider) -> None:
    signin, _ = flow_setup
    result = await finish(signin, *await at_callback(signin, provider))
    for token in (result.token["access_token"], result.token["refresh_token"]):
        assert token not in repr(result)


def test_two_providers_may_not_share_a_name(clock: FakeClock) -> None:
    twice = [oidc("corp", "http://127.0.0.1:9", "a", "s"), oidc("corp", "http://127.0.0.1:9", "b")]
    with pytest.raises(ConfigError, match="share a name"):
        ProviderSignIn(twice, secret_keys=[SECRET], clock=clock)


# -- the end of a sign-in --------------------------------------------------------------------


async def test_logout_revokes_the_grant_at_the_provider(
    flow_setup: Any, provider: LocalProvider
) -> None:
    """RFC 7009 at logout: the refresh token is revoked, so a copy of it (a log, a backup, a
    stolen store row) cannot mint access tokens any more."""
    signin, client = flow_setup
    result = await finish(signin, *await at_callback(signin, provider))
    assert await signin.revoke("test", result.token) is True
    endpoint = provider.discovery()["token_endpoint"]
    oauth = OAuth2Client(client.client_id, client.client_secret, timeout=5)
    with oauth, pytest.raises(OAuthError) as refused:
        oauth.refresh_token(endpoint, refresh_token=result.token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert await signin.revoke("test", {}) is False  # nothing to revoke


async def test_rp_initiated_logout_names_the_session_and_the_way_back(
    flow_setup: Any, provider: LocalProvider
) -> None:
    signin, client = flow_setup
    result = await finish(signin, *await at_callback(signin, provider))
    back = "http://127.0.0.1:9/login?reason=signedOut"
    logout = await signin.logout_url(
        "test", id_token_hint=result.token["id_token"], post_logout_redirect_uri=back
    )
    assert logout is not None
    assert logout.startswith(provider.discovery()["end_session_endpoint"] + "?")
    params = dict(parse_qsl(urlsplit(logout).query))
    assert params["id_token_hint"] == result.token["id_token"]
    assert params["post_logout_redirect_uri"] == back
    assert params["client_id"] == client.client_id
    assert params["state"]


async def test_an_oauth2_provider_has_no_rp_logout(clock: FakeClock) -> None:
    gh = ProviderSignIn([github("id", "secret")], secret_keys=[SECRET], clock=clock)
    assert await gh.logout_url("github", id_token_hint="", post_logout_redirect_uri="/") is None


async def test_a_provider_that_cannot_revoke_is_a_clean_error(clock: FakeClock) -> None:
    dead = ProviderSignIn(
        [oidc("test", "http://127.0.0.1:9", "c", "s")], secret_keys=[SECRET], clock=clock, timeout=2
    )
    with pytest.raises(ProviderError) as refused:
        await dead.revoke("test", {"refresh_token": "x"})
    assert refused.value.reason == "provider_unavailable"
