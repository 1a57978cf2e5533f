"""Property tests: the decoder's only way to fail is a TokenError, and ``read`` never fails.

A cookie is attacker input. Whatever string arrives — arbitrary text, five dotted segments of
anything, well-framed tokens with random bytes, or (with the key) any JSON plaintext at all —
``codec.decode`` either returns a session or raises a :class:`TokenError` subclass (never
``ValueError``, ``TypeError``, ``RecursionError``, ``OverflowError``, ``UnicodeError`` ...), and
``codec.read`` / ``decrypt_session`` return ``None`` or a session without raising.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sec_helpers import Forge, b64json, build_auth

from reflex_session.codec import DecodedSession
from reflex_session.errors import TokenError
from reflex_session.testing import FakeClock

CLOCK = FakeClock()
AUTH = build_auth(CLOCK)
FORGE = Forge(CLOCK)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def decode_or_token_error(value: Any) -> DecodedSession[Any] | None:
    try:
        return AUTH.codec.decode(value)
    except TokenError:
        return None


def read_never_raises(value: Any) -> None:
    result = AUTH.codec.read(value)
    assert result is None or isinstance(result, DecodedSession)
    session = AUTH.decrypt_session(value)
    assert session is None or session.user.id


b64 = st.text(alphabet=B64URL, max_size=80)
segment = st.one_of(
    b64,
    st.text(max_size=40),
    st.sampled_from(["", "=", "==", "AAAA", "A", FORGE.header, "eyJ", "\r\n", "\x00"]),
)
five_segments = st.lists(segment, min_size=5, max_size=5).map(".".join)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
headers = st.one_of(
    st.just(FORGE.header),
    st.dictionaries(st.sampled_from(["alg", "enc", "kid", "zip", "crit", "jku"]), json_values).map(
        b64json
    ),
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["dir", "none", "HS256"]), "enc": st.just("A256GCM")},
        optional={"kid": st.one_of(st.just(FORGE.kid), json_values)},
    ).map(b64json),
)
framed = st.tuples(
    headers,
    st.sampled_from(["", "AAAA"]),
    st.text(alphabet=B64URL, min_size=16, max_size=16),
    b64,
    st.text(alphabet=B64URL, min_size=22, max_size=22),
).map(".".join)


@SETTINGS
@given(st.text(max_size=5000))
def test_decode_of_arbitrary_text_raises_only_token_errors(value: str) -> None:
    """Arbitrary Unicode text (surrogates, controls, huge strings)."""
    decode_or_token_error(value)
    read_never_raises(value)


@SETTINGS
@given(five_segments)
def test_decode_of_five_dotted_segments_raises_only_token_errors(value: str) -> None:
    """Five dot-separated segments of anything: past the segment count, into header parsing."""
    decode_or_token_error(value)
    read_never_raises(value)


@SETTINGS
@given(framed)
def test_decode_of_well_framed_tokens_raises_only_token_errors(value: str) -> None:
    """Right-sized IV and tag, our header or a hostile one: as far as AES-GCM."""
    decode_or_token_error(value)
    read_never_raises(value)


@SETTINGS
@given(
    st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {},
            optional={
                "jti": json_values,
                "iat": json_values | st.integers(),
                "exp": json_values | st.integers(),
                "createdAt": json_values | st.integers(),
                "user": json_values | st.fixed_dictionaries({"id": json_values}),
                "accessToken": json_values,
                "refreshToken": json_values,
            },
        ).map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=300),
    )
)
def test_decode_of_any_sealed_plaintext_raises_only_token_errors(plaintext: bytes) -> None:
    """Validly sealed (as a peer holding the secret could) but arbitrary plaintext: the claim
    checks and the session schema also fail only with TokenErrors, and anything they accept
    is a well-typed session."""
    token = FORGE.seal(plaintext)
    decoded = decode_or_token_error(token)
    if decoded is not None:
        session = decoded.session
        assert isinstance(session.id, str)
        assert isinstance(session.user.id, str)
        assert session.user.id
        assert type(session.expires_at) is int
        assert type(session.created_at) is int
    read_never_raises(token)


@SETTINGS
@given(
    st.one_of(
        st.none(),
        st.text(max_size=200),
        st.binary(max_size=200),
        st.integers(),
        st.floats(),
        st.lists(st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    )
)
def test_read_never_raises_for_any_input(value: Any) -> None:
    """``read`` is total over any Python value a caller might pass, not only strings."""
    read_never_raises(value)
