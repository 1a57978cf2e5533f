"""``nbf`` (not before, RFC 7519 §4.1.5) in a cookie's claims set is honoured.

Our encoder never writes ``nbf``, but a JOSE peer sharing the secret (Node's ``jose``, see
``tests/core/test_interop_node.py``) may: ``new EncryptJWT(...).setNotBefore("5m")``. RFC 7519 says
the token "MUST NOT be accepted for processing" before that time, with "some small leeway" for
clock skew. So a cookie whose ``nbf`` is later than now + leeway reads as no session (the codec's
usual ``claims`` refusal, one rate-limited line on ``reflex_session.security``); one whose ``nbf``
has passed, or is within the leeway, is a session; and an ``nbf`` that is not a NumericDate (a
JSON number) is refused — never an exception out of ``read``.

Tokens are sealed by hand with the real key (:class:`sec_helpers.Forge`), not by our encoder.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

import jwt
import pytest
from sec_helpers import (
    SECRET,
    Forge,
    auth_fixture,
    build_auth,
    call_asgi,
    clock_fixture,
    forge_fixture,
)

from reflex_session import ReflexSession
from reflex_session.errors import ClaimsError, TokenError
from reflex_session.jwe import JWEFramer
from reflex_session.keys import Keyring
from reflex_session.testing import FakeClock

FIXTURES = (auth_fixture, clock_fixture, forge_fixture)  # used by name

LEEWAY = 5  # the default


def now_of(clock: FakeClock) -> int:
    return int(clock.time())


def refused(auth: ReflexSession[Any], token: str) -> ClaimsError:
    """``decode`` raises exactly ``ClaimsError``; ``read`` and ``decrypt_session`` are None."""
    with pytest.raises(TokenError) as caught:
        auth.codec.decode(token)
    assert type(caught.value) is ClaimsError, f"{type(caught.value).__name__}: {caught.value}"
    assert caught.value.reason == "claims"
    assert auth.codec.read(token) is None
    assert auth.decrypt_session(token) is None
    return caught.value


def accepted(auth: ReflexSession[Any], token: str) -> None:
    decoded = auth.codec.read(token)
    assert decoded is not None
    assert decoded.session.user.id == "user-1"


@pytest.mark.parametrize("ahead", [LEEWAY + 1, 60, 3599, 10**12])
def test_nbf_in_the_future_is_refused(
    auth: ReflexSession[Any], forge: Forge, clock: FakeClock, ahead: int
) -> None:
    refused(auth, forge.token(nbf=now_of(clock) + ahead))


@pytest.mark.parametrize("behind", [0, 1, 60, 3600, 10**9])
def test_nbf_in_the_past_is_accepted(
    auth: ReflexSession[Any], forge: Forge, clock: FakeClock, behind: int
) -> None:
    accepted(auth, forge.token(nbf=now_of(clock) - behind))


@pytest.mark.parametrize("ahead", [1, LEEWAY - 0.5, LEEWAY])
def test_nbf_within_the_leeway_is_accepted(
    auth: ReflexSession[Any], forge: Forge, clock: FakeClock, ahead: float
) -> None:
    """Clock skew between the peer that minted the cookie and this worker is forgiven, exactly
    as for ``iat``: the configured leeway."""
    accepted(auth, forge.token(nbf=now_of(clock) + ahead))


def test_the_leeway_is_the_configured_one(clock: FakeClock, forge: Forge) -> None:
    strict = build_auth(clock, leeway=0)
    refused(strict, forge.token(nbf=now_of(clock) + 1))
    lenient = build_auth(clock, leeway=120)
    accepted(lenient, forge.token(nbf=now_of(clock) + 100))


def test_a_not_yet_valid_cookie_becomes_valid_at_nbf(
    auth: ReflexSession[Any], forge: Forge, clock: FakeClock
) -> None:
    """The refusal is not cached: the same cookie is a session once its time has come."""
    token = forge.token(nbf=now_of(clock) + 60)
    refused(auth, token)
    clock.advance(60 - LEEWAY - 1)
    refused(auth, token)
    clock.advance(1)
    accepted(auth, token)


NOT_NUMERIC_DATES: list[Any] = [
    "soon",
    "",
    "0",  # a numeric *string* is still not a NumericDate
    str(1_767_225_600 + 3600),
    True,
    False,
    [],
    [0],
    {},
    {"nbf": 0},
]


@pytest.mark.parametrize("nbf", NOT_NUMERIC_DATES, ids=[repr(v) for v in NOT_NUMERIC_DATES])
def test_nbf_that_is_not_a_number_is_refused(
    auth: ReflexSession[Any], forge: Forge, nbf: Any
) -> None:
    refused(auth, forge.token(nbf=nbf))


@pytest.mark.parametrize("literal", ["null", "NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_nbf_that_is_not_a_finite_number_is_refused(
    auth: ReflexSession[Any], forge: Forge, literal: str
) -> None:
    """Python's JSON reader takes these literals; they must not turn into an exception."""
    text = json.dumps(forge.claims(), separators=(",", ":"))[:-1] + f',"nbf":{literal}}}'
    refused(auth, forge.seal(text.encode()))


def test_sealed_with_the_library_framing_too(auth: ReflexSession[Any], clock: FakeClock) -> None:
    """The same through :mod:`reflex_session.jwe` and the keyring (a peer using our framing)."""
    framer = JWEFramer(Keyring([SECRET]))
    now = now_of(clock)
    claims = {
        "jti": "peer-session-0001",
        "iat": now,
        "exp": now + 600,
        "createdAt": now * 1000,
        "user": {"id": "user-1"},
    }
    future = framer.encrypt(json.dumps({**claims, "nbf": now + 600}).encode())
    past = framer.encrypt(json.dumps({**claims, "nbf": now - 600}).encode())
    refused(auth, future)
    accepted(auth, past)


def test_refusal_is_logged_like_any_other(
    auth: ReflexSession[Any], forge: Forge, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reflex_session.security")
    token = forge.token(nbf=now_of(clock) + 600)
    assert auth.codec.read(token) is None
    lines = [r for r in caplog.records if r.name == "reflex_session.security"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    message = lines[0].getMessage()
    assert "reason=claims" in message
    assert f"kid={forge.kid}" in message
    assert token not in message
    assert token[-20:] not in message


async def test_the_page_guard_treats_a_future_nbf_as_signed_out(
    auth: ReflexSession[Any], forge: Forge, clock: FakeClock
) -> None:
    async def page(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"PROTECTED"})

    app = auth.middleware(page)
    for nbf, status in ((now_of(clock) + 600, 307), (now_of(clock) - 600, 200)):
        response = await call_asgi(
            app,
            "GET",
            "/dashboard",
            headers=[(b"cookie", f"session={forge.token(nbf=nbf)}".encode())],
        )
        assert response.status == status, nbf
        if status == 307:
            assert response.get_all("location") == [
                "/login?callbackUrl=%2Fdashboard&reason=loginRequired"
            ]
            assert b"PROTECTED" not in response.body


def test_pyjwt_nbf_validator_is_available() -> None:
    """The codec drives PyJWT's own ``_validate_nbf``; an upgrade that moves it fails here."""
    method = getattr(jwt.PyJWT, "_validate_nbf", None)
    assert callable(method), f"jwt.PyJWT._validate_nbf is gone (PyJWT {jwt.__version__})"
    assert list(inspect.signature(method).parameters) == ["self", "payload", "now", "leeway"]
