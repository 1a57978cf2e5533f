"""Secrets to keys: HKDF-SHA256 known answers (computed independently) and the rotation keyring."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from testkit import SECRET

from reflex_session import keys

# The recipe as documented in reflex_session/keys.py (and for Node users in the cookie-format docs),
# spelled out here as literals so that a change of constant in the library fails these tests.
DOC_SALT = b"reflex-session"
DOC_KEY_INFO = b"reflex-session/v1 A256GCM"
DOC_KID_INFO = b"reflex-session/v1 kid"

OTHER = "another-secret-for-rotation-tests-000000000"


def rfc5869_hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF written from RFC 5869 with hmac/hashlib only (extract, then expand)."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def cryptography_hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def test_reference_hkdf_matches_rfc5869_test_case_1() -> None:
    # RFC 5869, appendix A.1: proves the hand-written HKDF used below is right.
    okm = rfc5869_hkdf_sha256(
        bytes.fromhex("0b" * 22),
        bytes.fromhex("000102030405060708090a0b0c"),
        bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        42,
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


@pytest.mark.parametrize("secret", [SECRET, OTHER, "ünïcödé-sécret-with-multibyte-chars-∑∂ƒ"])
def test_derive_key_known_answer(secret: str) -> None:
    expected = rfc5869_hkdf_sha256(secret.encode("utf-8"), DOC_SALT, DOC_KEY_INFO, 32)
    assert expected == cryptography_hkdf(secret.encode("utf-8"), DOC_SALT, DOC_KEY_INFO, 32)
    key = keys.derive_key(secret)
    assert len(key) == 32
    assert key == expected


@pytest.mark.parametrize("secret", [SECRET, OTHER])
def test_derive_kid_known_answer(secret: str) -> None:
    raw = rfc5869_hkdf_sha256(secret.encode("utf-8"), DOC_SALT, DOC_KID_INFO, 6)
    expected = base64.urlsafe_b64encode(raw).decode("ascii")
    kid = keys.derive_kid(secret)
    assert kid == expected
    assert len(kid) == 8
    assert "=" not in kid


def test_documented_constants() -> None:
    assert keys.SALT == DOC_SALT
    assert keys.KEY_INFO == DOC_KEY_INFO
    assert keys.KID_INFO == DOC_KID_INFO


def test_key_and_kid_are_independent_outputs() -> None:
    # the kid is public; it must not be a prefix of (or otherwise equal to) the key material
    key = keys.derive_key(SECRET)
    kid_raw = base64.urlsafe_b64decode(keys.derive_kid(SECRET))
    assert kid_raw not in key
    assert keys.derive_key(SECRET) != keys.derive_key(OTHER)
    assert keys.derive_kid(SECRET) != keys.derive_kid(OTHER)


def test_keyring_newest_encrypts_all_present() -> None:
    ring = keys.Keyring([OTHER, SECRET])
    assert ring.current.kid == keys.derive_kid(SECRET)
    assert ring.current.key == keys.derive_key(SECRET)
    assert set(ring.kids) == {keys.derive_kid(OTHER), keys.derive_kid(SECRET)}
    old = ring.get(keys.derive_kid(OTHER))
    assert old is not None
    assert old.key == keys.derive_key(OTHER)
    assert ring.get("AAAAAAAA") is None


def test_keyring_aead_uses_the_derived_key() -> None:
    ring = keys.Keyring([SECRET])
    nonce = b"\x00" * 12
    sealed = ring.current.aead.encrypt(nonce, b"hello", b"aad")
    assert AESGCM(keys.derive_key(SECRET)).decrypt(nonce, sealed, b"aad") == b"hello"


def test_keyring_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        keys.Keyring([])


def test_key_material_never_in_repr() -> None:
    ring = keys.Keyring([OTHER, SECRET])
    for text in (repr(ring), repr(ring.current), str(ring.current)):
        assert SECRET not in text
        assert OTHER not in text
        assert keys.derive_key(SECRET).hex() not in text
        assert repr(keys.derive_key(SECRET)) not in text


def test_a_purpose_gives_another_key_and_kid() -> None:
    """The provider sign-in's flow cookie is sealed under ``purpose="flow"``: one secret, two
    unrelated keys, so a flow cookie can never be presented as a session cookie (or back)."""
    assert keys.derive_key(SECRET, "flow") != keys.derive_key(SECRET)
    assert keys.derive_kid(SECRET, "flow") != keys.derive_kid(SECRET)
    assert keys.derive_key(SECRET, "") == keys.derive_key(SECRET)  # the session key is unchanged
    session, flow = keys.Keyring([SECRET]), keys.Keyring([SECRET], purpose="flow")
    assert flow.get(session.current.kid) is None
    nonce = b"\x00" * 12
    sealed = session.current.aead.encrypt(nonce, b"claims", b"aad")
    with pytest.raises(InvalidTag):
        flow.current.aead.decrypt(nonce, sealed, b"aad")
