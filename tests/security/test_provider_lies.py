"""A malicious or buggy identity provider: ID tokens that must not sign anyone in.

The real test provider runs the sign-in; between it and the library sits a proxy (an ``httpx2``
transport) that rewrites what the provider answers: it serves a JWKS holding the attacker's key
and re-signs the ID token with it after changing one thing. Signed by a key the JWKS names, each
token is then wrong in exactly one way the library must catch: the audience, the issuer, the
expiry, the nonce, the access-token hash, ``alg: none``, or a key the JWKS does not hold. The
control case (nothing changed but the key) must sign in, which shows the proxy itself is sound.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from oidckit import Provider as LocalProvider
from oidckit import sign_in_at_provider

from reflex_session.errors import ProviderError
from reflex_session.providers import ProviderSignIn, oidc
from reflex_session.testing import FakeClock

ATTACKER = RSAKey.generate_key(2048, parameters={"kid": "attacker", "use": "sig", "alg": "RS256"})
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "attacker", "use": "sig", "alg": "RS256"})
SECRET = "provider-lies-secret-of-at-least-32-bytes"
REDIRECT_URI = "http://127.0.0.1:9/auth/callback/test"
BINDING = "b" * 43

HOUR_AGO = int(time.time()) - 3600
Mutation = Callable[[dict[str, Any]], dict[str, Any]]


def _unverified_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class LyingProxy(httpx2.AsyncBaseTransport):
    """Forwards to the real provider; serves the attacker's JWKS and re-signs ID tokens."""

    def __init__(
        self,
        mutate: Mutation,
        *,
        sign_with: Any = ATTACKER,
        alg_none: bool = False,
        discovery: Mutation = lambda document: document,
        token_body: Mutation = lambda body: body,
    ):
        self.inner = httpx2.AsyncHTTPTransport()
        self.mutate = mutate
        self.sign_with = sign_with
        self.alg_none = alg_none
        self.discovery = discovery
        self.token_body = token_body

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            await response.aread()
            document = self.discovery(json.loads(response.content))
            body = json.dumps(document).encode()
            return httpx2.Response(200, headers={"content-type": "application/json"}, content=body)
        if path == "/jwks":
            body = json.dumps(KeySet([ATTACKER]).as_dict(private=False)).encode()
            return httpx2.Response(200, headers={"content-type": "application/json"}, content=body)
        if path == "/token":
            await response.aread()
            data = json.loads(response.content)
            if "id_token" in data:
                claims = self.mutate(_unverified_claims(data["id_token"]))
                if self.alg_none:
                    data["id_token"] = f"{_b64({'alg': 'none', 'kid': 'attacker'})}.{_b64(claims)}."
                else:
                    header = {"alg": "RS256", "kid": "attacker"}
                    data["id_token"] = jwt.encode(header, claims, self.sign_with)
            data = self.token_body(data)
            return httpx2.Response(
                response.status_code,
                headers={"content-type": "application/json"},
                content=json.dumps(data).encode(),
            )
        return response


def _same(claims: dict[str, Any]) -> dict[str, Any]:
    return claims


CASES: dict[str, tuple[Mutation, dict[str, Any]]] = {
    "another audience": (lambda c: {**c, "aud": "someone-else"}, {}),
    # a token for another client of the same provider that names us as authorized party
    "another audience, our azp": (lambda c: {**c, "aud": "someone-else", "azp": c["aud"]}, {}),
    "another issuer": (lambda c: {**c, "iss": "https://evil.example"}, {}),
    "expired": (
        lambda c: {**c, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {},
    ),
    "no expiry": (lambda c: {k: v for k, v in c.items() if k != "exp"}, {}),
    "another nonce": (lambda c: {**c, "nonce": "replayed-nonce"}, {}),
    "no nonce": (lambda c: {k: v for k, v in c.items() if k != "nonce"}, {}),
    "another at_hash": (lambda c: {**c, "at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, {}),
    "alg none": (_same, {"alg_none": True}),
    "alg none, announced by the provider": (
        _same,
        {
            "alg_none": True,
            "discovery": lambda d: {**d, "id_token_signing_alg_values_supported": ["none"]},
        },
    ),
    "a key the JWKS does not hold": (_same, {"sign_with": STRANGER}),
}


async def _sign_in_through(provider: LocalProvider, clock: FakeClock, proxy: LyingProxy) -> Any:
    client = provider.register(REDIRECT_URI)
    test = oidc("test", provider.issuer, client.client_id, client.client_secret)
    signin = ProviderSignIn([test], secret_keys=[SECRET], clock=clock, transport=proxy)
    url, cookie = await signin.start(
        "test", redirect_uri=REDIRECT_URI, return_to="/", binding=BINDING, request_is_https=False
    )
    callback = sign_in_at_provider(provider, url, "ada")
    query = dict(parse_qsl(urlsplit(callback).query))
    header = cookie.split(";", 1)[0]
    return await signin.finish(
        "test", query, cookie_header=header, binding=BINDING, request_is_https=False
    )


async def test_the_proxy_alone_changes_nothing(provider: LocalProvider, clock: FakeClock) -> None:
    """Control: re-signed with the key the (rewritten) JWKS holds and otherwise untouched, the
    token signs in. So each refusal below is for its one change, not for the proxy."""
    result = await _sign_in_through(provider, clock, LyingProxy(_same))
    assert result.claims["sub"] == "ada"


@pytest.mark.parametrize("case", list(CASES))
async def test_a_lying_id_token_signs_nobody_in(
    case: str, provider: LocalProvider, clock: FakeClock
) -> None:
    mutate, options = CASES[case]
    with pytest.raises(ProviderError) as refused:
        await _sign_in_through(provider, clock, LyingProxy(mutate, **options))
    assert refused.value.reason == "invalid_id_token", (case, refused.value.detail)
    # the page gets one word; what went wrong stays in .detail for the log
    assert str(refused.value) == "test sign-in failed: invalid_id_token"


async def test_a_discovery_document_cannot_reconfigure_the_http_client(
    provider: LocalProvider, clock: FakeClock
) -> None:
    """Authlib hands the discovery document to its HTTP client as settings; a document that
    says ``verify: false`` or a timeout of a nanosecond must change nothing."""
    proxy = LyingProxy(_same, discovery=lambda d: {**d, "verify": False, "timeout": 1e-9})
    assert (await _sign_in_through(provider, clock, proxy)).claims["sub"] == "ada"


async def test_a_discovery_document_for_another_issuer_is_refused(
    provider: LocalProvider, clock: FakeClock
) -> None:
    proxy = LyingProxy(_same, discovery=lambda d: {**d, "issuer": "https://evil.example"})
    with pytest.raises(ProviderError) as refused:
        await _sign_in_through(provider, clock, proxy)
    assert refused.value.reason == "provider_unavailable"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"expires_in": [1]}, "provider_unavailable"),
        ({"token_type": "weird"}, "provider_error"),
        ({"access_token": None}, "provider_error"),
        ({"access_token": ""}, "provider_error"),
    ],
    ids=["expires_in-list", "token_type", "no-access-token", "empty-access-token"],
)
async def test_a_token_response_that_is_not_one_is_a_clean_error(
    body: dict[str, Any], reason: str, provider: LocalProvider, clock: FakeClock
) -> None:
    """A buggy provider's token response: a clear refusal, never a TypeError (a 500), and no
    sign-in without an access token."""
    proxy = LyingProxy(_same, token_body=lambda data: {**data, **body})
    with pytest.raises(ProviderError) as refused:
        await _sign_in_through(provider, clock, proxy)
    assert refused.value.reason == reason
