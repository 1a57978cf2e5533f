"""A malicious or misconfigured identity provider: the endpoints its discovery document names.

Only the discovery URL is the app's setting; every other URL comes from the provider. The server
posts the authorization code and the client secret to ``token_endpoint``, fetches ``jwks_uri``
and ``userinfo_endpoint``, and sends the browser to ``end_session_endpoint``. A document naming
``http://169.254.169.254/...`` (a cloud's metadata service) or ``http://127.0.0.1:6379/`` (a
Redis next to the app) made the server reach inside its own network, and a plain-http endpoint
sent the secrets in clear (red team, 2026-12-07). A provider's document is played here by an
``httpx2`` mock transport; nothing else of the flow is needed to see what the server fetches.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from reflex_session.errors import ConfigError, ProviderError
from reflex_session.providers import ProviderSignIn, oidc
from reflex_session.providers.provider import authlib_app

REMOTE = "https://idp.example"
LOCAL = "http://127.0.0.1:9100"


def document(issuer: str, **endpoints: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "userinfo_endpoint": f"{issuer}/me",
        "end_session_endpoint": f"{issuer}/logout",
        **endpoints,
    }


class Recording(httpx2.MockTransport):
    """The provider: answers discovery with ``served``, records every URL the server asks for."""

    def __init__(self, served: dict[str, Any]) -> None:
        self.seen: list[str] = []

        def handler(request: httpx2.Request) -> httpx2.Response:
            self.seen.append(str(request.url))
            if request.url.path.endswith("/.well-known/openid-configuration"):
                return httpx2.Response(200, json=served)
            return httpx2.Response(200, json={"keys": []})

        super().__init__(handler)


BAD = [
    pytest.param({"token_endpoint": "http://169.254.169.254/latest/meta-data/"}, id="metadata"),
    pytest.param({"jwks_uri": "http://10.0.0.5:6379/"}, id="internal-redis"),
    pytest.param({"token_endpoint": "http://127.0.0.1:6379/"}, id="loopback-from-remote"),
    pytest.param({"userinfo_endpoint": "http://idp.example/me"}, id="plain-http"),
    pytest.param({"end_session_endpoint": "javascript:alert(1)"}, id="script-url"),
    pytest.param({"revocation_endpoint": "file:///etc/passwd"}, id="file-url"),
    pytest.param({"authorization_endpoint": "/relative"}, id="relative"),
    pytest.param({"token_endpoint": 42}, id="not-a-string"),
    pytest.param({"token_endpoint": ""}, id="empty-token-endpoint"),
    # https, but inside the network: the code and the client secret must not go there either
    pytest.param({"token_endpoint": "https://10.0.0.5/token"}, id="https-private-ip"),
    pytest.param({"jwks_uri": "https://169.254.169.254/keys"}, id="https-link-local"),
    pytest.param({"jwks_uri": "https://127.0.0.1:8443/keys"}, id="https-loopback"),
    pytest.param({"jwks_uri": "https://[::1]/keys"}, id="https-ipv6-loopback"),
    pytest.param({"userinfo_endpoint": "https://localhost/me"}, id="https-localhost"),
    pytest.param({"userinfo_endpoint": "https://localhost./me"}, id="https-localhost-dot"),
    pytest.param({"revocation_endpoint": "https://0.0.0.0/revoke"}, id="https-unspecified"),
    # the same addresses spelt as the system resolver also reads them (red team, 2026-12-07)
    pytest.param({"token_endpoint": "https://169.254.43518/token"}, id="short-link-local"),
    pytest.param({"jwks_uri": "https://2130706433/jwks"}, id="decimal-loopback"),
    pytest.param({"jwks_uri": "https://0x7f000001/jwks"}, id="hex-loopback"),
    pytest.param({"token_endpoint": "https://10.1/token"}, id="short-private"),
]


@pytest.mark.parametrize("endpoints", BAD)
async def test_a_remote_providers_endpoints_must_be_https(endpoints: dict[str, Any]) -> None:
    transport = Recording(document(REMOTE, **endpoints))
    app = authlib_app(oidc("idp", REMOTE, "client", "secret"), transport=transport)
    with pytest.raises(ValueError, match="discovery document"):
        await app.load_server_metadata()
    with pytest.raises(ValueError, match="discovery document"):
        await app.fetch_jwk_set()  # nothing named by the document is ever fetched
    assert all(url.startswith(REMOTE + "/.well-known/") for url in transport.seen)


async def test_the_sign_in_fails_cleanly_and_posts_nothing() -> None:
    """The route the user clicks: a clean "provider unavailable", not a 500."""
    transport = Recording(document(REMOTE, token_endpoint="http://169.254.169.254/token"))
    sign_in = ProviderSignIn(
        [oidc("idp", REMOTE, "client", "secret")],
        secret_keys=["discovery-test-secret-of-at-least-32-bytes"],
        transport=transport,
    )
    with pytest.raises(ProviderError) as refused:
        await sign_in.start(
            "idp",
            redirect_uri="https://app.example/auth/callback/idp",
            return_to="/",
            binding="b" * 43,
            request_is_https=True,
        )
    assert refused.value.reason == "provider_unavailable"
    assert not [url for url in transport.seen if "169.254" in url]


@pytest.mark.parametrize(
    ("issuer", "endpoints"),
    [
        pytest.param(REMOTE, {}, id="https"),
        # Google's shape: the token and key endpoints on other hosts than the issuer
        pytest.param(
            "https://accounts.example",
            {
                "token_endpoint": "https://oauth2.example/token",
                "jwks_uri": "https://www.example/oauth2/v3/certs",
            },
            id="other-https-hosts",
        ),
        pytest.param(LOCAL, {}, id="a-test-provider-on-this-machine"),
        # a company's provider on its own network: its endpoints on the discovery URL's host
        pytest.param("https://10.1.2.3", {}, id="internal-provider-same-host"),
        # optional endpoints left empty: absent, not an error
        pytest.param(REMOTE, {"end_session_endpoint": "", "userinfo_endpoint": ""}, id="empty"),
    ],
)
async def test_https_endpoints_and_a_local_test_provider_are_accepted(
    issuer: str, endpoints: dict[str, str]
) -> None:
    transport = Recording(document(issuer, **endpoints))
    app = authlib_app(oidc("idp", issuer, "client", "secret"), transport=transport)
    metadata = await app.load_server_metadata()
    assert metadata["token_endpoint"] == endpoints.get("token_endpoint", f"{issuer}/token")


async def test_a_refused_document_is_asked_for_again_next_time() -> None:
    """A provider that fixes its document is not refused until the app restarts (Authlib keeps
    what it loaded; a refused document is forgotten)."""
    served = document(REMOTE, token_endpoint="http://idp.example/token")
    transport = Recording(served)
    app = authlib_app(oidc("idp", REMOTE, "client", "secret"), transport=transport)
    with pytest.raises(ValueError, match="discovery document"):
        await app.load_server_metadata()
    served["token_endpoint"] = f"{REMOTE}/token"  # fixed at the provider
    metadata = await app.load_server_metadata()
    assert metadata["token_endpoint"] == f"{REMOTE}/token"
    assert len(transport.seen) == 2


async def test_an_issuer_with_a_trailing_slash_is_the_same_issuer() -> None:
    """Auth0 publishes ``"issuer": "https://tenant/"`` at ``https://tenant/.well-known/...``."""
    transport = Recording({**document(REMOTE), "issuer": REMOTE + "/"})
    app = authlib_app(oidc("idp", REMOTE + "/", "client", "secret"), transport=transport)
    metadata = await app.load_server_metadata()
    assert metadata["issuer"] == REMOTE + "/"  # what the ID token's iss must equal, unchanged
    other = Recording({**document(REMOTE), "issuer": "https://evil.example/"})
    app = authlib_app(oidc("idp", REMOTE, "client", "secret"), transport=other)
    with pytest.raises(ValueError, match="another issuer"):
        await app.load_server_metadata()


@pytest.mark.parametrize("setting", ["authorize_url", "access_token_url", "userinfo_url"])
def test_an_openid_providers_own_url_settings_are_checked_too(setting: str) -> None:
    """Set on an OpenID provider, they override what discovery says: checked at start-up."""
    with pytest.raises(ConfigError, match=setting):
        oidc("idp", REMOTE, "client", "secret", **{setting: "http://idp.example/x"})
