"""Back-Channel Logout tokens that must end nobody's session.

Who attacks: **anyone on the network**, since the endpoint takes unauthenticated POSTs, holding
a logout token captured once (a replay), an ID token of the user (it is a JWT signed by the same
provider), or a key of their own. And **a buggy provider** sending tokens that break the rules.

The provider here is a stand-in for Authlib's client: its discovery names our issuer and its
JWKS holds the provider's public key, so each token below is signed by a key the library trusts
(or not, where that is the attack) and is wrong in exactly one way. The control token, right in
every way, must verify: that shows the harness itself is sound.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from reflex_session.errors import ProviderError
from reflex_session.providers import oidc, verify_logout_token
from reflex_session.providers.backchannel import BACKCHANNEL_EVENT
from reflex_session.stores import MemoryStore
from reflex_session.testing import FakeClock

ISSUER = "https://idp.example.test"
CLIENT_ID = "our-client"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "provider-key"
PROVIDER = oidc("idp", ISSUER, CLIENT_ID, "secret")


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    public: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


class StubProvider:
    """What ``verify_logout_token`` asks of Authlib's client: metadata and the JWKS."""

    def __init__(self) -> None:
        self.jwks = {"keys": [_jwk(KEY, KID)]}
        self.fetches = 0

    async def load_server_metadata(self) -> dict[str, Any]:
        return {"issuer": ISSUER, "jwks_uri": ISSUER + "/jwks"}

    async def fetch_jwk_set(self, force: bool = False) -> dict[str, Any]:
        self.fetches += 1
        return self.jwks


def claims(clock: FakeClock, **changes: Any) -> dict[str, Any]:
    now = int(clock.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": f"jti-{time.monotonic_ns()}",
        "sub": "ada",
        "sid": "provider-session-1",
        "events": {BACKCHANNEL_EVENT: {}},
    }
    for name, value in changes.items():
        if value is _DROP:
            base.pop(name, None)
        else:
            base[name] = value
    return base


_DROP = object()


def signed(body: dict[str, Any], key: Any = KEY, kid: str = KID, alg: str = "RS256") -> str:
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid, "typ": "logout+jwt"})


async def verify(token: object, clock: FakeClock, store: MemoryStore | None = None) -> Any:
    return await verify_logout_token(
        PROVIDER, StubProvider(), token, store=store or MemoryStore(clock), clock=clock
    )


@pytest.fixture
def clock() -> FakeClock:
    # the tokens carry real times, so the fake clock starts at the real one
    return FakeClock(time.time())


async def test_the_control_token_verifies(clock: FakeClock) -> None:
    verified = await verify(signed(claims(clock)), clock)
    assert (verified.sid, verified.sub, verified.provider) == ("provider-session-1", "ada", "idp")


def _none_token(clock: FakeClock) -> str:
    return jwt.encode(claims(clock), None, algorithm="none")  # type: ignore[arg-type]


def _hs256_with_the_public_key(clock: FakeClock) -> str:
    """Algorithm confusion: HS256 keyed with the provider's public key, which anyone has."""
    import base64
    import hashlib
    import hmac
    import json

    from cryptography.hazmat.primitives import serialization

    public = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = part({"alg": "HS256", "kid": KID, "typ": "JWT"}) + "." + part(claims(clock))
    mac = hmac.new(public, head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


ATTACKS: list[tuple[str, Any]] = [
    ("alg-none", _none_token),
    ("hs256-with-the-public-key", _hs256_with_the_public_key),
    ("signed-by-another-key-same-kid", lambda c: signed(claims(c), key=OTHER_KEY)),
    ("signed-by-an-unknown-kid", lambda c: signed(claims(c), key=OTHER_KEY, kid="other")),
    ("another-issuer", lambda c: signed(claims(c, iss="https://evil.example"))),
    ("another-audience", lambda c: signed(claims(c, aud="another-client"))),
    ("no-audience", lambda c: signed(claims(c, aud=_DROP))),
    ("expired", lambda c: signed(claims(c, exp=int(c.time()) - 600))),
    ("issued-long-ago", lambda c: signed(claims(c, iat=int(c.time()) - 3600, exp=None))),
    ("no-iat", lambda c: signed(claims(c, iat=_DROP))),
    ("no-jti", lambda c: signed(claims(c, jti=_DROP))),
    ("no-events", lambda c: signed(claims(c, events=_DROP))),
    ("another-event", lambda c: signed(claims(c, events={"urn:other": {}}))),
    ("event-not-an-object", lambda c: signed(claims(c, events={BACKCHANNEL_EVENT: "yes"}))),
    ("an-id-token-nonce", lambda c: signed(claims(c, nonce="n-0S6_WzA2Mj"))),
    ("neither-sid-nor-sub", lambda c: signed(claims(c, sid=_DROP, sub=_DROP))),
    ("not-a-jwt", lambda c: "not.a.jwt"),
    ("empty", lambda c: ""),
    ("not-a-string", lambda c: 12345),
    ("huge", lambda c: "a" * 100_000),
]


@pytest.mark.parametrize(("what", "make"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_a_bad_logout_token_ends_nothing(what: str, make: Any, clock: FakeClock) -> None:
    token = make(clock)
    if what == "issued-long-ago":
        body = claims(clock, iat=int(clock.time()) - 3600)
        body.pop("exp")
        token = signed(body)
    with pytest.raises(ProviderError) as refused:
        await verify(token, clock)
    assert refused.value.reason == "invalid_logout_token"
    # the refusal names the kind of failure for the log, never the token
    if isinstance(token, str) and token:
        assert token[:40] not in refused.value.detail


async def test_a_replayed_logout_token_is_refused(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    token = signed(claims(clock))
    await verify(token, clock, store)
    with pytest.raises(ProviderError) as refused:
        await verify(token, clock, store)
    assert refused.value.detail == "jti replayed"


async def test_the_keys_are_fetched_again_once_for_an_unknown_kid(clock: FakeClock) -> None:
    """A provider that rotated its keys: the new kid is not in the cached JWKS."""
    app = StubProvider()
    app.jwks = {"keys": [_jwk(KEY, KID)]}
    token = signed(claims(clock), key=OTHER_KEY, kid="rotated")
    with pytest.raises(ProviderError):
        await verify_logout_token(PROVIDER, app, token, store=MemoryStore(clock), clock=clock)
    assert app.fetches == 2  # the cached set, then once more with force: never a loop
