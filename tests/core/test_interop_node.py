"""Interop with Node's ``jose``: it reads our cookies, and we read its tokens (spec §2).

Runs ``node tests/core/interop/jose_cli.mjs``. Node and ``jose`` (installed in
tests/core/interop/node_modules by the test script) are required: when they are missing these
tests FAIL, they never skip.
``jose`` checks ``exp`` against the real time, so the clock here is a FakeClock set to now.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from reflex_session import ReflexSession, Session, wire
from reflex_session.keys import derive_key, derive_kid
from reflex_session.testing import FakeClock

pytestmark = pytest.mark.node

SECRET = "interop-test-secret-0123456789-abcdefghijk"
OTHER_SECRET = "interop-other-secret-0123456789-abcdefghij"
INTEROP = Path(__file__).parent / "interop"
CLI = INTEROP / "jose_cli.mjs"


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "node is not installed (CI installs it; see scripts/test.sh)"
    assert CLI.is_file(), f"{CLI} is missing"
    assert (INTEROP / "node_modules" / "jose" / "package.json").is_file(), (
        "jose is not installed: run `npm install` in tests/core/interop"
    )
    return node


def jose(*args: str) -> str:
    result = subprocess.run(
        [_node(), str(CLI), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=INTEROP,
        check=False,
    )
    if result.returncode != 0:
        raise JoseError(result.stderr.strip())
    return result.stdout.strip()


class JoseError(Exception):
    pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def auth(clock: FakeClock) -> ReflexSession[Any]:
    return ReflexSession(secret_key=SECRET, session_expiry=3600, clock=clock)


@pytest.fixture
def session(auth: ReflexSession[Any]) -> Session[Any]:
    return auth.new_session(
        {
            "id": "user-42",
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "image": "https://cdn.example.com/avatars/ada.png",
            "role": "admin",
            "prefs": {"theme": "dark", "langs": ["en", "ar"]},
            "nick": "\u00e9\u00e8 \u2603 \U0001f600",
        },
        access_token="eyJhbGciOiJSUzI1NiJ9.access.sig",
        refresh_token="rt_0123456789abcdef",
    )


def test_node_and_jose_are_installed() -> None:
    node = _node()
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("v")
    package = json.loads((INTEROP / "node_modules" / "jose" / "package.json").read_text())
    assert package["name"] == "jose"


def test_jose_decrypts_our_token(auth: ReflexSession[Any], session: Session[Any]) -> None:
    token = auth.encrypt_session(session)
    out = json.loads(jose("decrypt", derive_key(SECRET).hex(), token))
    assert out["protectedHeader"] == {"alg": "dir", "enc": "A256GCM", "kid": derive_kid(SECRET)}
    assert out["payload"] == wire.to_claims(session)
    assert out["payload"]["user"]["nick"] == "\u00e9\u00e8 \u2603 \U0001f600"


def test_jose_decrypts_a_minimal_session(auth: ReflexSession[Any]) -> None:
    minimal = auth.new_session({"id": "1"})
    out = json.loads(jose("decrypt", derive_key(SECRET).hex(), auth.encrypt_session(minimal)))
    assert out["payload"] == wire.to_claims(minimal)
    assert set(out["payload"]) == {"jti", "iat", "exp", "createdAt", "user"}


def test_jose_refuses_our_token_under_another_key(
    auth: ReflexSession[Any], session: Session[Any]
) -> None:
    token = auth.encrypt_session(session)
    with pytest.raises(JoseError):
        jose("decrypt", derive_key(OTHER_SECRET).hex(), token)


def test_we_read_a_token_jose_made(auth: ReflexSession[Any], session: Session[Any]) -> None:
    claims = wire.to_claims(session)
    token = jose("encrypt", derive_key(SECRET).hex(), derive_kid(SECRET), json.dumps(claims))
    assert token.count(".") == 4
    assert token != auth.encrypt_session(session)  # a fresh IV: really jose's token
    decoded = auth.decrypt_session(token)
    assert decoded == session
    assert decoded is not None
    assert decoded.user.to_wire() == session.user.to_wire()
    assert (decoded.access_token, decoded.refresh_token) == (
        session.access_token,
        session.refresh_token,
    )


def test_a_jose_token_round_trips_through_both(
    auth: ReflexSession[Any], session: Session[Any]
) -> None:
    key = derive_key(SECRET).hex()
    theirs = jose("encrypt", key, derive_kid(SECRET), json.dumps(wire.to_claims(session)))
    ours = auth.decrypt_session(theirs)
    assert ours is not None
    back = json.loads(jose("decrypt", key, auth.encrypt_session(ours)))
    assert back["payload"] == wire.to_claims(session)


@pytest.mark.parametrize(
    ("key_secret", "kid_secret"),
    [(OTHER_SECRET, OTHER_SECRET), (OTHER_SECRET, SECRET), (SECRET, OTHER_SECRET)],
    ids=["other-key-other-kid", "other-key-our-kid", "our-key-other-kid"],
)
def test_a_jose_token_under_another_key_is_no_session(
    auth: ReflexSession[Any], session: Session[Any], key_secret: str, kid_secret: str
) -> None:
    claims = wire.to_claims(session)
    token = jose(
        "encrypt", derive_key(key_secret).hex(), derive_kid(kid_secret), json.dumps(claims)
    )
    assert auth.decrypt_session(token) is None


def test_a_jose_token_under_a_previous_secret_is_read(
    clock: FakeClock, session: Session[Any], auth: ReflexSession[Any]
) -> None:
    rotated = ReflexSession(
        secret_key=OTHER_SECRET,
        previous_secret_keys=[SECRET],
        session_expiry=3600,
        clock=clock,
    )
    claims = wire.to_claims(session)
    token = jose("encrypt", derive_key(SECRET).hex(), derive_kid(SECRET), json.dumps(claims))
    assert rotated.decrypt_session(token) == session


def test_an_expired_jose_token_is_no_session(
    auth: ReflexSession[Any], session: Session[Any], clock: FakeClock
) -> None:
    claims = wire.to_claims(session)
    token = jose("encrypt", derive_key(SECRET).hex(), derive_kid(SECRET), json.dumps(claims))
    clock.advance(3600 + 1)
    assert auth.decrypt_session(token) is None


def test_jose_claims_without_our_fields_are_no_session(auth: ReflexSession[Any]) -> None:
    now = int(time.time())
    claims = {"sub": "user-42", "iat": now, "exp": now + 600, "jti": "abc"}
    token = jose("encrypt", derive_key(SECRET).hex(), derive_kid(SECRET), json.dumps(claims))
    assert auth.decrypt_session(token) is None
