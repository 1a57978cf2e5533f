"""The cookie codec: JWE framing, claims, rotation, size limits, decode cache, PyJWT checks."""

from __future__ import annotations

import base64
import inspect
import json
import logging
import secrets
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from testkit import SECRET

from reflex_session import (
    ClaimsError,
    CookieTooLarge,
    DecryptionFailed,
    MalformedToken,
    SessionCodec,
    TokenExpired,
    TokenTooLarge,
    UnknownKey,
    UnsupportedHeader,
    User,
)
from reflex_session.keys import derive_kid
from reflex_session.testing import FakeClock

OLD_SECRET = "old-secret-from-last-quarter-0123456789abcd"
NEW_SECRET = "new-secret-after-the-rotation-0123456789xyz"

TYPICAL_USER = {
    "id": "cm9x2k1v40000abcdefgh1234",
    "email": "ada.lovelace@example.com",
    "name": "Ada Lovelace",
    "image": "https://avatars.githubusercontent.com/u/1234567?v=4",
}


# -- independent helpers (not the library's) ------------------------------------------------


def independent_key(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"reflex-session",
        info=b"reflex-session/v1 A256GCM",
    ).derive(secret.encode("utf-8"))


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(secret: str, header: dict[str, Any] | str, claims: dict[str, Any] | bytes) -> str:
    """A compact JWE made with cryptography's AESGCM directly, as another JOSE library would."""
    header_json = header if isinstance(header, str) else json.dumps(header)
    header_segment = b64u(header_json.encode("utf-8"))
    plaintext = claims if isinstance(claims, bytes) else json.dumps(claims).encode("utf-8")
    iv = secrets.token_bytes(12)
    sealed = AESGCM(independent_key(secret)).encrypt(iv, plaintext, header_segment.encode("ascii"))
    return ".".join((header_segment, "", b64u(iv), b64u(sealed[:-16]), b64u(sealed[-16:])))


def open_token(secret: str, token: str) -> tuple[bytes, dict[str, Any]]:
    """Decrypt our token with AESGCM directly: (raw header JSON, claims)."""
    header_segment, encrypted_key, iv, ciphertext, tag = token.split(".")
    assert encrypted_key == ""
    plaintext = AESGCM(independent_key(secret)).decrypt(
        unb64u(iv), unb64u(ciphertext) + unb64u(tag), header_segment.encode("ascii")
    )
    return unb64u(header_segment), json.loads(plaintext)


def claims_at(clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    now = int(clock.time())
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + 3600,
        "createdAt": now * 1000,
        "user": {"id": "u1"},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not ...}


@pytest.fixture
def codec(clock: FakeClock) -> SessionCodec[User]:
    return SessionCodec([SECRET], clock=clock)


@pytest.fixture
def typical_session(auth):
    return auth.new_session(
        TYPICAL_USER,
        access_token=secrets.token_urlsafe(32),
        refresh_token=secrets.token_urlsafe(32),
    )


# -- round trip, format, size ---------------------------------------------------------------


def test_round_trip_of_a_typical_session(auth, typical_session) -> None:
    token = auth.encrypt_session(typical_session)
    decoded = auth.codec.decode(token)
    assert decoded.session == typical_session
    assert decoded.session.user.to_wire() == TYPICAL_USER
    assert decoded.stale_key is False
    assert decoded.kid == derive_kid(SECRET)
    assert auth.decrypt_session(token) == typical_session


def test_typical_cookie_is_at_most_700_bytes(auth, typical_session) -> None:
    jar = auth.jar(None, https=True)  # production: the longer __Host- name
    auth.backend.reseal(jar, typical_session)
    (header,) = jar.set_cookie_headers
    name_and_value = header.split("; ")[0]
    assert name_and_value.startswith("__Host-session=")
    assert len(name_and_value.encode("utf-8")) <= 700, len(name_and_value)


def test_token_decrypts_with_aesgcm_directly_to_the_claims_set(auth, clock, typical_session):
    token = auth.encrypt_session(typical_session)
    raw_header, claims = open_token(SECRET, token)
    assert raw_header == b'{"alg":"dir","enc":"A256GCM","kid":"%s"}' % derive_kid(SECRET).encode()
    assert claims == {
        "jti": typical_session.id,
        "iat": int(clock.time()),
        "exp": int(clock.time()) + auth.policy.session_expiry,
        "createdAt": int(clock.time() * 1000),
        "user": TYPICAL_USER,
        "accessToken": typical_session.access_token,
        "refreshToken": typical_session.refresh_token,
    }


def test_exact_header_json(codec, typical_session) -> None:
    token = codec.encode(typical_session)
    header = unb64u(token.split(".")[0])
    kid = derive_kid(SECRET)
    assert header == json.dumps(
        {"alg": "dir", "enc": "A256GCM", "kid": kid}, separators=(",", ":")
    ).encode("ascii")
    assert list(json.loads(header)) == ["alg", "enc", "kid"]
    parts = token.split(".")
    assert len(parts) == 5
    assert parts[1] == ""
    assert len(unb64u(parts[2])) == 12  # 96-bit IV
    assert len(unb64u(parts[4])) == 16  # 128-bit tag


def test_iv_is_fresh_per_token(codec, typical_session) -> None:
    ivs = {codec.encode(typical_session).split(".")[2] for _ in range(50)}
    assert len(ivs) == 50


@pytest.mark.parametrize(
    "order", [("kid", "enc", "alg"), ("enc", "alg", "kid"), ("kid", "alg", "enc")]
)
def test_header_with_members_in_another_order_is_accepted(codec, clock, order) -> None:
    values = {"alg": "dir", "enc": "A256GCM", "kid": derive_kid(SECRET)}
    header = {name: values[name] for name in order}
    claims = claims_at(clock)
    token = seal(SECRET, header, claims)
    decoded = codec.decode(token)
    assert decoded.session.id == claims["jti"]
    assert decoded.session.user.id == "u1"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "dir", "enc": "A256GCM", "kid": "KID", "zip": "DEF"},
        {"alg": "dir", "enc": "A128GCM", "kid": "KID"},
        {"alg": "A256KW", "enc": "A256GCM", "kid": "KID"},
        {"alg": "none", "enc": "A256GCM", "kid": "KID"},
        {"alg": "dir", "enc": "A256GCM"},
        {"alg": "dir", "enc": "A256GCM", "kid": 1},
    ],
)
def test_other_headers_are_rejected(codec, clock, header) -> None:
    header = {k: (derive_kid(SECRET) if v == "KID" else v) for k, v in header.items()}
    token = seal(SECRET, header, claims_at(clock))
    with pytest.raises(UnsupportedHeader):
        codec.decode(token)
    assert codec.read(token) is None


def test_duplicate_header_member_is_rejected(codec, clock) -> None:
    kid = derive_kid(SECRET)
    raw = f'{{"alg":"dir","enc":"A256GCM","kid":"{kid}","kid":"{kid}"}}'
    with pytest.raises(MalformedToken):
        codec.decode(seal(SECRET, raw, claims_at(clock)))


def test_tampered_token_fails_authentication(codec, typical_session) -> None:
    token = codec.encode(typical_session)
    header, empty, iv, ciphertext, tag = token.split(".")
    flipped = ("B" if ciphertext[10] == "A" else "A").join((ciphertext[:10], ciphertext[11:]))
    with pytest.raises(DecryptionFailed):
        codec.decode(".".join((header, empty, iv, flipped, tag)))


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_non_canonical_base64url_is_refused(codec, typical_session) -> None:
    # jwe.b64url_decode promises that different strings never decode to the same bytes. The
    # tag's 22 characters carry 132 bits for 128: flipping an unused low bit of the last
    # character gives another string for the same tag, which must not read as the same session.
    token = codec.encode(typical_session)
    header, empty, iv, ciphertext, tag = token.split(".")
    twin_tag = tag[:-1] + B64URL[B64URL.index(tag[-1]) ^ 1]
    assert unb64u(twin_tag) == unb64u(tag)  # the same 16 bytes
    twin = ".".join((header, empty, iv, ciphertext, twin_tag))
    assert twin != token
    with pytest.raises(MalformedToken):
        codec.decode(twin)
    assert codec.read(twin) is None


def test_token_from_another_secret_with_our_kid_fails(codec, clock) -> None:
    header = {"alg": "dir", "enc": "A256GCM", "kid": derive_kid(SECRET)}
    with pytest.raises(DecryptionFailed):
        codec.decode(seal(OLD_SECRET, header, claims_at(clock)))


def test_oversized_input_refused_before_work(codec) -> None:
    with pytest.raises(TokenTooLarge):
        codec.decode("a." * 3000)
    assert codec.read("x" * 10_000) is None


def test_read_logs_one_line_without_the_value(codec, typical_session, caplog) -> None:
    token = codec.encode(typical_session)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with caplog.at_level(logging.DEBUG, logger="reflex_session.security"):
        assert codec.read(tampered) is None
    records = [r for r in caplog.records if r.name == "reflex_session.security"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "reason=decrypt" in message
    assert tampered not in message
    assert tampered.split(".")[3] not in message


# -- rotation --------------------------------------------------------------------------------


def test_rotation_old_tokens_decode_as_stale(clock, typical_session) -> None:
    old_only = SessionCodec([OLD_SECRET], clock=clock)
    rotated = SessionCodec([OLD_SECRET, NEW_SECRET], clock=clock)
    old_token = old_only.encode(typical_session)

    decoded = rotated.decode(old_token)
    assert decoded.session == typical_session
    assert decoded.stale_key is True
    assert decoded.kid == derive_kid(OLD_SECRET)

    new_token = rotated.encode(typical_session)
    raw_header, _ = open_token(NEW_SECRET, new_token)  # the newest secret encrypts
    assert json.loads(raw_header)["kid"] == derive_kid(NEW_SECRET)
    fresh = rotated.decode(new_token)
    assert fresh.stale_key is False
    assert fresh.kid == derive_kid(NEW_SECRET)


def test_removed_secret_makes_its_tokens_unreadable(clock, typical_session) -> None:
    old_token = SessionCodec([OLD_SECRET], clock=clock).encode(typical_session)
    new_only = SessionCodec([NEW_SECRET], clock=clock)
    with pytest.raises(UnknownKey):
        new_only.decode(old_token)
    assert new_only.read(old_token) is None


async def test_get_session_reissues_a_stale_key_cookie_under_the_newest(make_auth, clock) -> None:
    before = make_auth(secret_key=OLD_SECRET)
    jar = before.jar(None)
    created = await before.create_session(jar, TYPICAL_USER, access_token="at")
    old_token = jar.read()
    assert old_token

    after = make_auth(secret_key=NEW_SECRET, previous_secret_keys=[OLD_SECRET])
    clock.advance(10)  # well inside the refresh threshold: only the key makes it re-issue
    jar = after.jar(f"session={old_token}")
    session = await after.get_session(jar)
    assert session == created  # nobody is logged out, and nothing else changed

    (header,) = jar.set_cookie_headers
    new_token = header.split("; ")[0].removeprefix("session=")
    assert new_token != old_token
    newest_only = SessionCodec([NEW_SECRET], clock=clock)
    reissued = newest_only.decode(new_token)
    assert reissued.stale_key is False
    assert reissued.session == created

    # and the re-issued cookie is not re-issued again on the next read
    jar = after.jar(f"session={new_token}")
    assert await after.get_session(jar) == created
    assert jar.set_cookie_headers == []


# -- size limit ------------------------------------------------------------------------------


def test_encode_over_the_limit_raises_cookie_too_large(codec, auth) -> None:
    session = auth.new_session({"id": "u1", "bio": "x" * 5000})
    with pytest.raises(CookieTooLarge) as info:
        codec.encode(session)
    assert info.value.size > info.value.limit
    assert info.value.limit <= 4096


def test_every_encoded_cookie_fits_the_browser_limit(auth) -> None:
    # around the boundary: either the name=value pair fits in 4,096 bytes or encode refuses
    jar = auth.jar(None, https=True)
    fits: list[int] = []
    refused: list[CookieTooLarge] = []
    for n in range(2850, 3150, 3):
        session = auth.new_session({"id": "u1", "bio": "x" * n})
        try:
            token = auth.encrypt_session(session)
        except CookieTooLarge as error:
            refused.append(error)
        else:
            fits.append(len(jar.name) + 1 + len(token))
    assert fits
    assert refused
    assert max(fits) <= 4096
    for error in refused:
        assert error.size > error.limit
        assert error.limit + len(jar.name) + 1 <= 4096


@pytest.mark.parametrize(
    "tokens",
    [{}, {"access_token": "at-2", "refresh_token": None}],
    ids=["user-only", "with-tokens"],
)
async def test_update_too_large_writes_nothing(auth, browser, tokens) -> None:
    jar = browser.jar()
    await auth.create_session(jar, {"id": "u1", "name": "Ada"}, access_token="at-1")
    browser.receive(jar)
    old_token = browser.token

    jar = browser.jar()
    with pytest.raises(CookieTooLarge) as info:
        await auth.update_session(jar, user={"bio": "x" * 5000}, **tokens)
    assert info.value.size > info.value.limit
    assert jar.set_cookie_headers == []
    assert jar.changed is False
    assert jar.read() == old_token

    session = await auth.get_session(browser.jar())
    assert session is not None
    assert session.user.name == "Ada"
    assert session.access_token == "at-1"
    assert "bio" not in session.user.extra


# -- the decode cache ------------------------------------------------------------------------


class CountingAead:
    def __init__(self, inner: AESGCM) -> None:
        self.inner = inner
        self.decrypts = 0

    def encrypt(self, *args: Any) -> bytes:
        return self.inner.encrypt(*args)

    def decrypt(self, *args: Any) -> bytes:
        self.decrypts += 1
        return self.inner.decrypt(*args)


def count_decrypts(codec: SessionCodec[Any]) -> CountingAead:
    key = codec.keyring.current
    counter = CountingAead(key.aead)
    object.__setattr__(key, "aead", counter)  # DerivedKey is frozen; this is test surgery
    return counter


def test_repeat_decode_is_served_from_the_cache(codec, typical_session) -> None:
    counter = count_decrypts(codec)
    token = codec.encode(typical_session)
    first = codec.decode(token)
    assert counter.decrypts == 1
    for _ in range(5):
        assert codec.decode(token).session == first.session
    assert counter.decrypts == 1
    assert codec.cache_len == 1

    codec.forget(token)
    assert codec.decode(token).session == first.session
    assert counter.decrypts == 2


def test_cached_session_cannot_be_changed_through_nested_values(auth) -> None:
    # Session and User are frozen so that the cache can hand the same object to every request
    # with this cookie. Nested JSON values must not be a way around that: what one request does
    # to the objects it was given must not be what the next request reads.
    token = auth.encrypt_session(
        auth.new_session({"id": "u1", "prefs": {"theme": "dark"}, "roles": ["user"]})
    )
    first = auth.decrypt_session(token)
    assert first is not None
    try:
        first.user["prefs"]["theme"] = "light"
        first.user["roles"].append("admin")
    except (TypeError, AttributeError):
        pass  # deeply immutable: also fine
    again = auth.decrypt_session(token)
    assert again is not None
    assert again.user.to_wire() == {"id": "u1", "prefs": {"theme": "dark"}, "roles": ["user"]}


def test_cached_token_is_refused_once_the_clock_passes_exp(codec, clock, typical_session):
    counter = count_decrypts(codec)
    token = codec.encode(typical_session)
    codec.decode(token)
    clock.set(typical_session.expires_at / 1000 - 0.001)
    assert codec.decode(token).session == typical_session  # still valid, from the cache
    assert counter.decrypts == 1
    clock.set(typical_session.expires_at / 1000)  # exactly exp: expired
    with pytest.raises(TokenExpired):
        codec.decode(token)
    assert codec.read(token) is None
    clock.advance(3600)
    assert codec.read(token) is None


def test_expiry_boundary_is_the_same_without_the_cache(clock, typical_session) -> None:
    uncached = SessionCodec([SECRET], clock=clock, cache_size=0)
    token = uncached.encode(typical_session)
    clock.set(typical_session.expires_at / 1000 - 1)
    assert uncached.decode(token).session == typical_session
    assert uncached.cache_len == 0
    clock.set(typical_session.expires_at / 1000)
    with pytest.raises(TokenExpired):
        uncached.decode(token)


def test_cache_never_exceeds_its_bound(codec, auth) -> None:
    bound = 1024
    assert codec.cache_len == 0
    for i in range(5000):
        token = codec.encode(auth.new_session({"id": f"user-{i}"}))
        assert codec.decode(token).session.user.id == f"user-{i}"
        assert codec.cache_len <= bound
    assert codec.cache_len == bound


def test_small_cache_bound_is_respected(clock, auth) -> None:
    small = SessionCodec([SECRET], clock=clock, cache_size=3)
    counter = count_decrypts(small)
    tokens = [small.encode(auth.new_session({"id": f"u{i}"})) for i in range(5)]
    for token in tokens:
        small.decode(token)
    assert small.cache_len == 3
    assert counter.decrypts == 5
    small.decode(tokens[0])  # evicted (oldest): decrypted again
    assert counter.decrypts == 6
    small.decode(tokens[-1])  # recent: cached
    assert counter.decrypts == 6


def test_garbage_is_never_cached(codec, clock, typical_session) -> None:
    token = codec.encode(typical_session)
    header, empty, iv, ciphertext, tag = token.split(".")
    garbage = [
        "",
        "x",
        "a.b.c.d.e",
        "....",
        token + "A",
        ".".join((header, empty, iv, ciphertext[:-2] + "AA", tag)),
        ".".join((header, "x", iv, ciphertext, tag)),
        seal(OLD_SECRET, {"alg": "dir", "enc": "A256GCM", "kid": derive_kid(OLD_SECRET)}, {}),
        seal(SECRET, {"alg": "dir", "enc": "A256GCM", "kid": derive_kid(SECRET)}, b"not json"),
        seal(SECRET, {"alg": "dir", "enc": "A256GCM", "kid": derive_kid(SECRET)}, b"[1, 2]"),
        seal(
            SECRET,
            {"alg": "dir", "enc": "A256GCM", "kid": derive_kid(SECRET)},
            claims_at(clock, exp=int(clock.time()) - 1),
        ),
    ]
    garbage += [f"{secrets.token_urlsafe(20)}..{secrets.token_urlsafe(12)}.x.y" for _ in range(500)]
    for value in garbage:
        assert codec.read(value) is None
    assert codec.cache_len == 0


# -- PyJWT's claim validators ----------------------------------------------------------------


def test_pyjwt_claim_api_is_available(codec, clock) -> None:
    expected = {
        "_validate_required_claims": ["self", "payload", "claims"],
        "_validate_iat": ["self", "payload", "now", "leeway"],
        "_validate_exp": ["self", "payload", "now", "leeway"],
        "_validate_jti": ["self", "payload"],
    }
    for name, parameters in expected.items():
        method = getattr(jwt.PyJWT, name, None)
        assert callable(method), f"jwt.PyJWT.{name} is gone (PyJWT {jwt.__version__})"
        assert list(inspect.signature(method).parameters) == parameters, name

    now = int(clock.time())
    sealed = codec.encode_claims

    # a valid claims set passes, so the rejections below are the validators' doing
    assert codec.decode(sealed(claims_at(clock))).session.user.id == "u1"

    # _validate_exp: expired (strict, no leeway)
    with pytest.raises(TokenExpired):
        codec.decode(sealed(claims_at(clock, exp=now)))
    with pytest.raises(TokenExpired):
        codec.decode(sealed(claims_at(clock, exp=now - 1)))
    # _validate_iat: issued in the future beyond the 5 s leeway; inside it is fine
    with pytest.raises(ClaimsError) as info:
        codec.decode(sealed(claims_at(clock, iat=now + 60)))
    assert info.value.detail == "ImmatureSignatureError"
    assert not isinstance(info.value, TokenExpired)
    assert codec.decode(sealed(claims_at(clock, iat=now + 3))).session.user.id == "u1"
    with pytest.raises(ClaimsError) as info:
        codec.decode(sealed(claims_at(clock, iat="soon")))
    assert info.value.detail == "InvalidIssuedAtError"
    # _validate_required_claims: each of exp, iat, jti
    for claim in ("exp", "iat", "jti"):
        with pytest.raises(ClaimsError) as info:
            codec.decode(sealed(claims_at(clock, **{claim: ...})))
        assert info.value.detail == "MissingRequiredClaimError", claim
    # _validate_jti: must be a string
    with pytest.raises(ClaimsError) as info:
        codec.decode(sealed(claims_at(clock, jti=12345)))
    assert info.value.detail == "InvalidJTIError"


@pytest.mark.parametrize(
    "overrides",
    [
        {"createdAt": ...},
        {"createdAt": "yesterday"},
        {"user": ...},
        {"user": "u1"},
        {"user": {"name": "no id"}},
        {"accessToken": 5},
        {"exp": 1.5e12},
    ],
)
def test_claims_that_are_not_a_session_are_rejected(codec, clock, overrides) -> None:
    with pytest.raises(ClaimsError):
        codec.decode(codec.encode_claims(claims_at(clock, **overrides)))
    assert codec.read(codec.encode_claims(claims_at(clock, **overrides))) is None
