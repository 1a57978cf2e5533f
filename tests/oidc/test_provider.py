"""What the sign-in work relies on in the test provider, checked with Authlib's own client.

The provider is panva's oidc-provider (OpenID Certified), started by the test command. These
tests pin down the behaviours the library's provider sign-in is built and tested against, so a
change in the provider's configuration or version that would make those tests meaningless (no
PKCE, no rotation, no reuse detection) fails here first, with a plain message:

* Authorization Code with PKCE (S256 only; a request without a challenge is refused);
* an ID token signed with a key from the JWKS, carrying ``iss``, ``aud``, ``nonce``, ``at_hash``
  and ``sid``;
* refresh tokens that rotate on every use, and a reused one that revokes the whole grant: the
  race that signs users out when two tabs or workers refresh at once;
* token revocation (RFC 7009), RP-initiated and back-channel logout advertised.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet
from oidckit import Client, Provider, sign_in_at_provider

REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the test reads the redirect


def oauth_client(client: Client, **options: Any) -> OAuth2Client:
    return OAuth2Client(
        client.client_id,
        client.client_secret,
        scope="openid email profile",
        redirect_uri=client.redirect_uri,
        code_challenge_method="S256",
        timeout=5,
        **options,
    )


def signed_in(provider: Provider, client: Client, login: str = "ada") -> tuple[dict[str, Any], str]:
    """The token response of a full Authorization Code + PKCE sign-in, and the nonce sent."""
    meta = provider.discovery()
    verifier, nonce = generate_token(48), generate_token(20)
    with oauth_client(client) as oauth:
        url, state = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        callback = sign_in_at_provider(provider, url, login)
        query = parse_qs(urlsplit(callback).query)
        assert query["state"] == [state], callback
        assert query["iss"] == [provider.issuer]  # RFC 9207: the mix-up defence
        token = oauth.fetch_token(
            meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
    return dict(token), nonce


def test_discovery_offers_what_the_library_needs(provider: Provider) -> None:
    meta = provider.discovery()
    assert meta["issuer"] == provider.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    for endpoint in ("revocation_endpoint", "end_session_endpoint", "jwks_uri", "token_endpoint"):
        assert meta[endpoint].startswith(provider.issuer + "/"), endpoint
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_a_sign_in_gives_a_verifiable_id_token(provider: Provider) -> None:
    # a client that takes back-channel logouts gets the provider's session id (sid) in the ID
    # token: what a logout token names later
    client = provider.register(
        REDIRECT_URI,
        backchannel_logout_uri="http://127.0.0.1:9/backchannel",
        backchannel_logout_session_required=True,
    )
    token, nonce = signed_in(provider, client, "ada")
    assert {"access_token", "refresh_token", "id_token"} <= token.keys()
    meta = provider.discovery()
    keys = KeySet.import_key_set(httpx2.get(meta["jwks_uri"]).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert decoded.header["kid"] in {key.kid for key in keys}
    claims = decoded.claims
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == client.client_id
    assert claims["nonce"] == nonce
    assert claims["iat"] <= time.time() + 5 < claims["exp"]
    digest = hashlib.sha256(token["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert claims["sub"] == "ada"
    assert claims["sid"]
    # the profile comes from userinfo, with the access token (the ID token carries only sub)
    profile = httpx2.get(
        meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}
    ).json()
    assert profile == {
        "sub": "ada",
        "email": "ada@example.test",
        "email_verified": True,
        "name": "ada",
    }
    assert provider.stats(client)["grants"] == {"authorization_code": 1}


def test_a_request_without_pkce_is_refused(provider: Provider) -> None:
    client = provider.register(REDIRECT_URI)
    meta = provider.discovery()
    with OAuth2Client(client.client_id, scope="openid", redirect_uri=REDIRECT_URI) as oauth:
        url, _ = oauth.create_authorization_url(meta["authorization_endpoint"], nonce="n")
    answer = httpx2.get(url, follow_redirects=False)
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI), location
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["invalid_request"]
    assert "PKCE" in query["error_description"][0]


def test_refresh_tokens_rotate_and_a_reused_one_ends_the_grant(provider: Provider) -> None:
    """The race the library must prevent: two refreshes with one refresh token. The first
    rotates it; the second is a reuse, and the provider revokes the whole grant, so even the
    newest refresh token stops working and the user is signed out."""
    client = provider.register(REDIRECT_URI)
    token, _ = signed_in(provider, client)
    endpoint = provider.discovery()["token_endpoint"]
    first = token["refresh_token"]
    with oauth_client(client) as oauth:
        rotated = oauth.refresh_token(endpoint, refresh_token=first)
        assert rotated["refresh_token"] != first
        assert rotated["access_token"] != token["access_token"]
        with pytest.raises(OAuthError) as reused:
            oauth.refresh_token(endpoint, refresh_token=first)
        assert reused.value.error == "invalid_grant"
        with pytest.raises(OAuthError) as after:
            oauth.refresh_token(endpoint, refresh_token=rotated["refresh_token"])
        assert after.value.error == "invalid_grant"
    assert provider.stats(client) == {
        "grants": {"authorization_code": 1, "refresh_token": 1},
        "refused": {"refresh_token:invalid_grant": 2},
        "revoked": 1,  # the reuse ended the whole grant
    }


def test_a_revoked_refresh_token_is_refused(provider: Provider) -> None:
    client = provider.register(REDIRECT_URI)
    token, _ = signed_in(provider, client)
    meta = provider.discovery()
    with oauth_client(client) as oauth:
        response = oauth.revoke_token(
            meta["revocation_endpoint"],
            token=token["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert response.status_code == 200
        with pytest.raises(OAuthError) as refused:
            oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert refused.value.error == "invalid_grant"


def test_a_denied_consent_comes_back_as_an_error(provider: Provider) -> None:
    client = provider.register(REDIRECT_URI)
    meta = provider.discovery()
    with oauth_client(client) as oauth:
        url, state = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=generate_token(48), nonce="n"
        )
    callback = sign_in_at_provider(provider, url, "ada", consent=False)
    query = parse_qs(urlsplit(callback).query)
    assert callback.startswith(REDIRECT_URI), callback
    assert query["error"] == ["access_denied"]
    assert query["state"] == [state]
