"""Known attacks on JWT/JWE cookies, one test each, in the spirit of PyJWT's ``test_advisory.py``.

Every test names the attack and where it is described (a CVE / GHSA, an RFC 8725 section, or the
RFC that the attack breaks), builds the hostile input by hand, and asserts the exact outcome: the
:class:`~reflex_session.errors.TokenError` subclass that ``codec.decode`` raises, ``None`` from
``codec.read``, and for HTTP the status code and what was (not) set in ``Set-Cookie``.

The cookie is a compact JWE, ``dir`` + ``A256GCM`` only, keyed by ``kid``, whose plaintext is a JWT
claims set. Tokens that must get *past* the AEAD to reach the claim checks are sealed with the
real key (``derive_key(SECRET)``) by :class:`sec_helpers.Forge` — an attacker cannot do that, but a
peer service sharing the secret, or a bug in one, can.

References used below:

* RFC 8725 (JWT BCP): §2.1 weak signatures/``none``, §2.5 + §3.4 invalid-curve ECDH-ES, §2.6
  multiplicity of JSON encodings, §2.8 cross-JWT confusion, §3.1 algorithm verification, §3.2
  appropriate algorithms, §3.3 validate all cryptographic operations, §3.6 avoid compression of
  encryption inputs, §3.10 do not trust received claims (``kid``/``jku``/``x5u``), §3.11 explicit
  typing, §3.12 mutually exclusive validation rules.
* RFC 7516 (JWE) §4.1.13 ``crit``, §5.2 decryption steps; RFC 7518 §5.3 (AES-GCM: 96-bit IV,
  128-bit tag); RFC 4648 §3.5 (canonical encoding); RFC 6265bis §4.1.3 (cookie prefixes).
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from sec_helpers import (
    OTHER_SECRET,
    SECRET,
    DecryptSpy,
    Forge,
    auth_fixture,
    b64json,
    build_auth,
    call_asgi,
    clock_fixture,
    decrypt_spy_fixture,
    forge_fixture,
    http,
    set_cookie_value,
)
from starlette.staticfiles import StaticFiles

from reflex_session import ReflexSession
from reflex_session.errors import (
    ClaimsError,
    DecryptionFailed,
    MalformedToken,
    TokenError,
    TokenExpired,
    TokenTooLarge,
    UnknownKey,
    UnsupportedHeader,
)
from reflex_session.jwe import MAX_TOKEN_CHARS, b64url_encode
from reflex_session.keys import derive_key, derive_kid
from reflex_session.rules import safe_return_to

_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

FIXTURES = (auth_fixture, clock_fixture, decrypt_spy_fixture, forge_fixture)  # used by name


def rejects(auth: ReflexSession[Any], token: Any, error: type[TokenError]) -> TokenError:
    """``codec.decode`` raises exactly ``error`` (not a subclass) and ``codec.read`` is None."""
    with pytest.raises(TokenError) as caught:
        auth.codec.decode(token)
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {caught.value}"
    assert auth.codec.read(token) is None
    assert auth.decrypt_session(token) is None
    return caught.value


def segments(token: str) -> list[str]:
    parts = token.split(".")
    assert len(parts) == 5
    return parts


def with_segment(token: str, index: int, value: str) -> str:
    parts = segments(token)
    parts[index] = value
    return ".".join(parts)


def real_token(auth: ReflexSession[Any], **user: Any) -> str:
    return auth.encrypt_session(auth.new_session({"id": "user-1", "role": "user", **user}))


# --------------------------------------------------------------------------------------------
# The protected header: only {"alg":"dir","enc":"A256GCM","kid":<ours>} is ever honoured
# --------------------------------------------------------------------------------------------


class TestHeaderAttacks:
    def test_alg_none(self, auth, forge, decrypt_spy) -> None:
        """``alg: none`` / ``enc: none`` — the original JWT bypass (CVE-2015-9235 in
        node-jsonwebtoken; RFC 8725 §2.1, §3.2). A JWE that claims no key management or no
        content encryption is refused before any decryption is attempted."""
        for header in (
            {"alg": "none", "enc": "A256GCM", "kid": forge.kid},
            {"alg": "dir", "enc": "none", "kid": forge.kid},
            {"alg": "None", "enc": "A256GCM", "kid": forge.kid},
            {"alg": "", "enc": "", "kid": forge.kid},
        ):
            token = forge.seal(forge.claims(), header=b64json(header))
            rejects(auth, token, UnsupportedHeader)
        assert decrypt_spy.calls == 0

    def test_algorithm_confusion(self, auth, forge, decrypt_spy) -> None:
        """Algorithm confusion: the token picks an algorithm the verifier did not intend (PyJWT
        CVE-2022-29217 / GHSA-ffqj-6fqr-9h24, python-jose CVE-2024-33663; RFC 8725 §3.1).
        Our reader has exactly one (alg, enc) pair; a signature alg, a key-wrap alg, a weaker or
        differently-keyed ``enc``, or a case variant is an unsupported header, and the key is
        never handed to any other primitive."""
        for alg, enc in (
            ("HS256", "A256GCM"),
            ("RS256", "A256GCM"),
            ("A256KW", "A256GCM"),
            ("A256GCMKW", "A256GCM"),
            ("RSA-OAEP", "A256GCM"),
            ("DIR", "A256GCM"),
            ("dir", "A128GCM"),
            ("dir", "A256CBC-HS512"),
            ("dir", "a256gcm"),
            ("dir", "A256GCM "),
        ):
            header = b64json({"alg": alg, "enc": enc, "kid": forge.kid})
            rejects(auth, forge.seal(forge.claims(), header=header), UnsupportedHeader)
        assert decrypt_spy.calls == 0

    def test_jws_lookalike_tokens(self, auth, forge, decrypt_spy) -> None:
        """A JWS where a JWE is expected (RFC 8725 §2.8 cross-JWT confusion, §3.11 explicit
        typing): an unsigned ``alg: none`` JWT, and HS256 JWTs signed with the very key we
        derive and with the raw secret. Three segments are not a JWE: refused as malformed,
        never decrypted, never verified as a MAC."""
        claims = forge.claims()
        unsigned = b64json({"alg": "none", "typ": "JWT"}) + "." + b64json(claims) + "."
        signed_with_key = jwt.encode(claims, derive_key(SECRET), algorithm="HS256")
        signed_with_secret = jwt.encode(claims, SECRET, algorithm="HS256")
        kid_header = jwt.encode(
            claims, derive_key(SECRET), algorithm="HS256", headers={"kid": forge.kid}
        )
        for token in (unsigned, signed_with_key, signed_with_secret, kid_header):
            assert token.count(".") == 2
            rejects(auth, token, MalformedToken)
        assert decrypt_spy.calls == 0

    def test_invalid_curve_ecdh_es(self, auth, forge, decrypt_spy) -> None:
        """Invalid-curve attack on ECDH-ES (RFC 8725 §2.5 and §3.4; A. Sanso 2017, node-jose
        GHSA-rvj9-8cvx-3vq9, jose2go 1.3, square/go-jose 2016): a hostile ``epk`` point off the
        curve leaks the recipient's EC private key. *Not applicable by construction*: there is
        no EC key anywhere in this library — the only key is a symmetric HKDF output and the
        only ``alg`` is ``dir`` — so no ``epk`` is ever parsed. The test pins that such a header
        is refused up front, with or without a wrapped-key segment."""
        epk = {
            "kty": "EC",
            "crv": "P-256",
            "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0",
            "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps",
        }
        header = {"alg": "ECDH-ES", "enc": "A256GCM", "kid": forge.kid, "epk": epk}
        rejects(auth, forge.seal(forge.claims(), header=b64json(header)), UnsupportedHeader)
        header = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "epk": epk}
        wrapped = forge.seal(forge.claims(), header=b64json(header)).split(".")
        wrapped[1] = b64url_encode(b"\x00" * 40)  # a wrapped CEK
        rejects(auth, ".".join(wrapped), UnsupportedHeader)
        assert decrypt_spy.calls == 0

    def test_pbes2_p2c_denial_of_service(self, auth, forge, decrypt_spy) -> None:
        """PBES2 "billion hashes" DoS: a huge ``p2c`` makes the recipient run PBKDF2 for hours
        before authenticating anything (panva/jose CVE-2022-36083, jose4j CVE-2023-51775,
        Nimbus CVE-2023-52428, jwcrypto CVE-2023-6681). We never run a KDF on a header value:
        the token is refused in well under a millisecond's worth of work, with or without a
        wrapped key segment, and nothing is decrypted."""
        header = {
            "alg": "PBES2-HS512+A256KW",
            "enc": "A256GCM",
            "kid": forge.kid,
            "p2c": 2_147_483_647,
            "p2s": "c2FsdHNhbHRzYWx0c2FsdA",
        }
        bare = forge.seal(forge.claims(), header=b64json(header))
        wrapped = bare.split(".")
        wrapped[1] = b64url_encode(b"\x01" * 40)
        started = time.perf_counter()
        rejects(auth, bare, UnsupportedHeader)
        rejects(auth, ".".join(wrapped), UnsupportedHeader)
        assert time.perf_counter() - started < 1.0
        assert decrypt_spy.calls == 0

    def test_zip_deflate_bomb(self, auth, forge, decrypt_spy) -> None:
        """JWE decompression bomb via ``zip: DEF`` (python-jose CVE-2024-33664, go-jose
        CVE-2024-28180; RFC 8725 §3.6 "avoid compression of encryption inputs"). A ``zip``
        member is refused before decryption; and a compressed plaintext sealed under a plain
        header is never inflated — it is simply not JSON."""
        bomb = zlib.compress(b'{"user":"' + b"u" * 2_000_000 + b'"}', 9)[2:-4]  # raw DEFLATE
        assert len(bomb) < 2500
        header = b64json({"alg": "dir", "enc": "A256GCM", "kid": forge.kid, "zip": "DEF"})
        rejects(auth, forge.seal(bomb, header=header), UnsupportedHeader)
        assert decrypt_spy.calls == 0
        rejects(auth, forge.seal(bomb), ClaimsError)

    def test_crit_header(self, auth, forge, decrypt_spy) -> None:
        """``crit`` extensions the recipient does not understand MUST make the token invalid
        (RFC 7516 §4.1.13 / RFC 7515 §4.1.11; PyJWT CVE-2026-32597 / GHSA-752w-5fwx-jx9f,
        Authlib CVE-2025-59420). Any ``crit`` — even naming a real member — is refused."""
        for extra in (
            {"crit": ["exp"], "exp": 0},
            {"crit": ["b64"], "b64": False},
            {"crit": []},
            {"crit": ["kid"]},
        ):
            header = {"alg": "dir", "enc": "A256GCM", "kid": forge.kid, **extra}
            rejects(auth, forge.seal(forge.claims(), header=b64json(header)), UnsupportedHeader)
        assert decrypt_spy.calls == 0

    def test_jku_jwk_x5u_header_injection(self, auth, forge, decrypt_spy) -> None:
        """Key injection through the header: an embedded ``jwk`` (node-jose CVE-2018-0114,
        Cisco), or ``jku`` / ``x5u`` / ``x5c`` pointing at attacker-controlled keys (SSRF and
        key substitution; RFC 8725 §3.10 "do not trust received claims"). Keys come only from
        our secrets; any such member makes the header unsupported, and nothing is fetched."""
        attacker_key = {"kty": "oct", "k": b64url_encode(b"\x00" * 32)}
        for extra in (
            {"jwk": attacker_key},
            {"jku": "https://evil.example/jwks.json"},
            {"x5u": "https://evil.example/cert.pem"},
            {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
            {"x5t#S256": "AAAA"},
        ):
            header = {"alg": "dir", "enc": "A256GCM", "kid": forge.kid, **extra}
            token = forge.seal(forge.claims(), header=b64json(header), key=b"\x00" * 32)
            rejects(auth, token, UnsupportedHeader)
        assert decrypt_spy.calls == 0

    def test_kid_injection(self, auth, forge, decrypt_spy) -> None:
        """``kid`` injection: path traversal (``../../dev/null`` with an empty-file key), SQL
        injection, command injection and URL values in ``kid`` (RFC 8725 §3.10; e.g. the
        "kid: /dev/null" HMAC bypasses). The kid is only ever a dictionary key: an unknown
        string is :class:`UnknownKey`, a non-string is an unsupported header."""
        for kid in (
            "../../../../../../dev/null",
            "/dev/null",
            "' OR '1'='1' --",
            "x' UNION SELECT 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$(curl evil.example)",
            "https://evil.example/key",
            "",
            forge.kid + " ",
            forge.kid.lower() if forge.kid.lower() != forge.kid else forge.kid.upper(),
            "\u0000" + forge.kid,
        ):
            header = b64json({"alg": "dir", "enc": "A256GCM", "kid": kid})
            rejects(auth, forge.seal(forge.claims(), header=header, key=b"\x00" * 32), UnknownKey)
        for kid in (None, 0, 1.5, True, [forge.kid], {"kid": forge.kid}):
            header = b64json({"alg": "dir", "enc": "A256GCM", "kid": kid})
            rejects(auth, forge.seal(forge.claims(), header=header), UnsupportedHeader)
        assert decrypt_spy.calls == 0

    def test_duplicate_header_members(self, auth, forge, decrypt_spy) -> None:
        """Duplicate JSON members: parsers disagree on which one wins, so a header can say one
        thing to a checker and another to the decryptor (RFC 8725 §2.6; RFC 7515 §5.2 "MUST
        reject ... or use a JSON parser that returns only the lexically last duplicate").
        We reject any duplicate, whichever value comes first."""
        kid = json.dumps(forge.kid)
        for raw in (
            '{"alg":"none","alg":"dir","enc":"A256GCM","kid":' + kid + "}",
            '{"alg":"dir","enc":"A256GCM","kid":' + kid + ',"alg":"none"}',
            '{"alg":"dir","enc":"A256GCM","kid":' + kid + ',"kid":' + kid + "}",
            '{"alg":"dir","enc":"A128GCM","enc":"A256GCM","kid":' + kid + "}",
        ):
            header = b64url_encode(raw.encode())
            rejects(auth, forge.seal(forge.claims(), header=header), MalformedToken)
        assert decrypt_spy.calls == 0

    @pytest.mark.parametrize(
        ("raw", "error"),
        [
            pytest.param(b'{"alg":"dir","enc":"A256GCM","kid":1e999}', UnsupportedHeader, id="inf"),
            pytest.param(b'{"alg":"dir","enc":"A256GCM","kid":NaN}', UnsupportedHeader, id="nan"),
            pytest.param(
                b'{"alg":"dir","enc":"A256GCM","kid":' + b"9" * 120 + b"}",
                UnsupportedHeader,
                id="huge-int",
            ),
            pytest.param(b"[" * 90 + b"]" * 90, UnsupportedHeader, id="deep-array"),
            pytest.param(b'{"a":' * 40 + b"1" + b"}" * 40, UnsupportedHeader, id="deep-object"),
            pytest.param(b'{"alg":"dir"', MalformedToken, id="truncated-json"),
            pytest.param(b"\xff\xfe{}", MalformedToken, id="not-utf8"),
            pytest.param(b'"dir"', UnsupportedHeader, id="json-string"),
            pytest.param(b"null", UnsupportedHeader, id="json-null"),
            pytest.param(b"{" + b" " * 300 + b"}", UnsupportedHeader, id="over-256-chars"),
            pytest.param(b"", UnsupportedHeader, id="empty"),
        ],
    )
    def test_hostile_header_json(self, auth, forge, decrypt_spy, raw, error) -> None:
        """Parser-level attacks in the protected header: huge numbers and NaN/Infinity (Python's
        ``json`` accepts them), deep nesting (RecursionError in naive parsers), non-UTF-8 bytes,
        non-object JSON, and an oversized header (RFC 8725 §2.6, §3.7). Each is a clean
        TokenError, before any decryption."""
        token = forge.seal(forge.claims(), header=b64url_encode(raw))
        rejects(auth, token, error)
        assert decrypt_spy.calls == 0

    def test_extra_header_members_typ_cty(self, auth, forge, decrypt_spy) -> None:
        """Nested and re-typed tokens: ``cty: JWT`` asks the recipient to process the plaintext
        as another (possibly signed-with-``none``) JWT, ``typ`` invites cross-JWT confusion
        (RFC 8725 §2.8, §3.11, §3.12). Our header has exactly three members; a fourth is
        unsupported, and a missing one is too."""
        base = {"alg": "dir", "enc": "A256GCM", "kid": forge.kid}
        for header in (
            {**base, "cty": "JWT"},
            {**base, "typ": "JWT"},
            {**base, "zip": None},
            {"alg": "dir", "enc": "A256GCM"},
            {"alg": "dir", "kid": forge.kid},
        ):
            rejects(auth, forge.seal(forge.claims(), header=b64json(header)), UnsupportedHeader)
        assert decrypt_spy.calls == 0

    def test_header_and_ciphertext_swapping(self, clock, forge) -> None:
        """Substitution / cut-and-paste between tokens (RFC 8725 §2.7; RFC 7516 §5.1 step 14:
        the protected header is the AEAD's additional data). A header re-encoded with the same
        meaning, a header of another (also trusted) key, or an IV or tag taken from another
        token all fail authentication."""
        auth = build_auth(clock, previous_secret_keys=[OTHER_SECRET])
        old = Forge(clock, OTHER_SECRET)
        mine = forge.token()
        theirs = old.token()
        # same meaning, other bytes: the slow path finds our key, but the AAD differs
        reordered = b64json({"kid": forge.kid, "enc": "A256GCM", "alg": "dir"})
        spaced = b64url_encode(
            ('{"alg": "dir", "enc": "A256GCM", "kid": "' + forge.kid + '"}').encode()
        )
        for header in (reordered, spaced):
            rejects(auth, with_segment(mine, 0, header), DecryptionFailed)
        # body of a token sealed under the older key, header of the current one (and back)
        rejects(auth, with_segment(theirs, 0, segments(mine)[0]), DecryptionFailed)
        rejects(auth, with_segment(mine, 0, segments(theirs)[0]), DecryptionFailed)
        # IV or tag of one token with the rest of another, same key
        other = forge.token()
        rejects(auth, with_segment(mine, 2, segments(other)[2]), DecryptionFailed)
        rejects(auth, with_segment(mine, 4, segments(other)[4]), DecryptionFailed)
        # and both originals are fine: the failures above are the swaps, nothing else
        assert auth.codec.decode(mine).stale_key is False
        assert auth.codec.decode(theirs).stale_key is True


# --------------------------------------------------------------------------------------------
# Framing: five base64url segments of the right sizes, checked before decryption
# --------------------------------------------------------------------------------------------


class TestFraming:
    def test_ciphertext_bit_flips(self, auth, decrypt_spy) -> None:
        """Ciphertext malleability: AES-GCM is CTR mode underneath, so a flipped ciphertext bit
        flips the same plaintext bit unless the tag is checked (RFC 8725 §3.3 "validate all
        cryptographic operations"). Every single-character change in the ciphertext is
        :class:`DecryptionFailed`."""
        token = real_token(auth)
        ciphertext = segments(token)[3]
        for index in range(0, len(ciphertext) - 1, 7):
            swapped = "B" if ciphertext[index] == "A" else "A"
            tampered = ciphertext[:index] + swapped + ciphertext[index + 1 :]
            rejects(auth, with_segment(token, 3, tampered), DecryptionFailed)
        assert decrypt_spy.calls > 0

    def test_truncated_gcm_tag(self, auth, forge, decrypt_spy) -> None:
        """Short authentication tags: a GCM tag truncated to 32-96 bits makes forgery feasible
        (NIST SP 800-38D appendix C; RFC 7518 §5.3 fixes the tag at 128 bits; the Node
        ``setAuthTag`` short-tag advisories). Only a 22-character (16-byte) tag segment is
        accepted; anything else is malformed and never reaches AES-GCM."""
        token = forge.token()
        tag = segments(token)[4]
        for short in ("", tag[:6], tag[:11], tag[:16], tag[:21], tag + "A", tag + "AA"):
            rejects(auth, with_segment(token, 4, short), MalformedToken)
        assert decrypt_spy.calls == 0

    def test_iv_length_tricks(self, auth, forge, decrypt_spy) -> None:
        """IV length tricks: GCM with a non-96-bit IV switches to GHASH-derived counters (and a
        zero-length IV is a nonce-reuse disaster), RFC 7518 §5.3 requires 96 bits. Only a
        16-character (12-byte) IV segment is accepted."""
        token = forge.token()
        iv = segments(token)[2]
        for bad in ("", "AAAA", iv[:15], iv + "A", iv + "AAAA", b64url_encode(b"\x00" * 16)):
            rejects(auth, with_segment(token, 2, bad), MalformedToken)
        assert decrypt_spy.calls == 0

    def test_empty_ciphertext(self, auth, forge) -> None:
        """Empty ciphertext: GCM over an empty message is just a MAC over the header; a reader
        that skips the tag for empty input, or treats empty plaintext as "no claims", is open.
        With a made-up tag it fails authentication; properly sealed it is not a claims set."""
        token = forge.token()
        rejects(auth, with_segment(token, 3, ""), DecryptionFailed)
        rejects(auth, forge.seal(b""), ClaimsError)
        rejects(auth, forge.seal(b"{}"), ClaimsError)
        rejects(auth, forge.seal(b"null"), ClaimsError)

    def test_truncated_and_extra_segments(self, auth, forge, decrypt_spy) -> None:
        """Truncated tokens and extra segments (RFC 7516 §7.1: exactly five parts), including
        JWS-looking three-part tokens and a JSON-serialised JWE, which a compact reader must
        not try to interpret. All malformed; a non-empty encrypted-key segment (which ``dir``
        forbids, RFC 7518 §4.5) is an unsupported header."""
        token = forge.token()
        parts = segments(token)
        for bad in (
            "",
            ".",
            "...",
            "......",
            ".".join(parts[:4]),
            ".".join(parts[:3]),
            ".".join(parts[:1]),
            token + ".",
            token + ".AAAA",
            "." + token,
            token.replace("..", ".", 1),
            json.dumps({"protected": parts[0], "iv": parts[2], "ciphertext": parts[3]}),
        ):
            rejects(auth, bad, MalformedToken)
        rejects(auth, with_segment(token, 1, "AAAA"), UnsupportedHeader)
        rejects(auth, "....", UnsupportedHeader)  # five empty segments: no header at all
        assert decrypt_spy.calls == 0

    def test_padded_base64(self, auth, forge, decrypt_spy) -> None:
        """Padded base64 (RFC 7515 §2 / RFC 7516 §2: base64url *without* ``=``). Padding in the
        IV, ciphertext or tag is malformed. Padding on the header is tolerated by the header
        decoder but the AAD is the header segment as sent, so it then fails authentication —
        either way the token is refused."""
        token = forge.token()
        parts = segments(token)
        for index in (2, 3, 4):
            rejects(auth, with_segment(token, index, parts[index] + "="), MalformedToken)
            rejects(auth, with_segment(token, index, parts[index] + "=="), MalformedToken)
        assert decrypt_spy.calls == 0
        for padded in (parts[0] + "=", parts[0] + "==", parts[0] + "=" * (-len(parts[0]) % 4)):
            with pytest.raises((MalformedToken, DecryptionFailed)):
                auth.codec.decode(with_segment(token, 0, padded))
            assert auth.codec.read(with_segment(token, 0, padded)) is None

    def test_non_canonical_base64(self, auth) -> None:
        """Non-canonical base64url (RFC 4648 §3.5: "decoders MAY reject", RFC 4648 §12;
        PyJWT GHSA-hxm8-2xgr-2p9m, joserfc PR #51, libjwt #284). The last character of a
        segment whose length is not a multiple of four carries unused low bits; when they are
        not checked, 4-16 different strings decode to the same token, which defeats every
        control keyed on the token *string* (a revocation or logout deny-list,
        ``codec.forget``, the decode cache, one-time use). ``jwe.b64url_decode`` promises
        that different strings never decode to the same bytes; the encodings that differ
        from the canonical one only in those unused bits must be refused as malformed."""
        token = real_token(auth)
        tag = segments(token)[4]
        assert len(tag) % 4 == 2  # 16 bytes -> 22 chars: 4 unused bits in the last character
        last = _B64URL.index(tag[-1])
        variants = [
            with_segment(token, 4, tag[:-1] + _B64URL[value])
            for value in range(last & ~0xF, (last & ~0xF) + 16)
            if value != last
        ]
        assert len(variants) == 15
        accepted = [v for v in variants if auth.codec.read(v) is not None]
        assert accepted == [], f"{len(accepted)} re-encodings of one token were accepted"
        for variant in variants:
            rejects(auth, variant, MalformedToken)

    def test_unicode_lookalikes(self, auth, forge, decrypt_spy) -> None:
        """Unicode confusables: fullwidth and Cyrillic look-alikes of base64url characters,
        a one-dot-leader instead of ``.``, Arabic-Indic digits, and a ``kid`` in fullwidth
        forms that NFKC-normalises to ours (RFC 8725 §3.7; UTS #39). Nothing is normalised:
        the segments are malformed, the look-alike kid is an unknown key."""
        token = forge.token()
        parts = segments(token)
        header, iv = parts[0], parts[2]
        for bad in (
            with_segment(token, 0, "\uff45" + header[1:]),  # fullwidth 'e'
            with_segment(token, 0, header[:-1] + "\u0430"),  # Cyrillic 'a'
            with_segment(token, 2, "\u0410" + iv[1:]),  # Cyrillic 'A'
            with_segment(token, 2, iv[:-1] + "\u0661"),  # Arabic-Indic one
            with_segment(token, 3, parts[3][:-1] + "\u2010"),  # hyphen, not '-'
            with_segment(token, 4, parts[4][:-1] + "\uff3f"),  # fullwidth '_'
            token.replace(".", "\u2024"),  # one dot leader
            token.replace(".", "\uff0e"),  # fullwidth full stop
        ):
            rejects(auth, bad, MalformedToken)
        fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in forge.kid)
        for kid in (fullwidth, forge.kid + "\u200b", "\u202e" + forge.kid):
            header = b64json({"alg": "dir", "enc": "A256GCM", "kid": kid})
            rejects(auth, forge.seal(forge.claims(), header=header), UnknownKey)
        assert decrypt_spy.calls == 0

    async def test_oversized_token_refused_before_decrypt(self, auth, forge, decrypt_spy) -> None:
        """Oversized input (resource exhaustion before authentication; python-jose
        CVE-2024-33664's fix caps the JWE size, RFC 8725 §3.6). No cookie we write can be over
        4,096 characters, so a longer one is :class:`TokenTooLarge` before it is even split —
        AES-GCM is never called, and over HTTP it is "no session", never an error."""
        token = forge.token()
        parts = segments(token)
        room = MAX_TOKEN_CHARS + 1 - len(token)
        big = with_segment(token, 3, parts[3] + "A" * (room + (-(len(parts[3]) + room) % 4)))
        assert len(big) > MAX_TOKEN_CHARS
        for value in (big, "A" * (MAX_TOKEN_CHARS + 1), "." * 1_000_000, token * 20):
            rejects(auth, value, TokenTooLarge)
        assert decrypt_spy.calls == 0
        response = await http(auth.handlers(), "GET", cookie=f"session={big}")
        assert response.status_code == 200
        assert response.json()["session"] is None
        assert [set_cookie_value(c) for c in response.headers.get_list("set-cookie")] == [
            ("session", "")
        ]
        assert decrypt_spy.calls == 0


# --------------------------------------------------------------------------------------------
# Claims: PyJWT's validators with our clock, then the session schema
# --------------------------------------------------------------------------------------------


class TestClaims:
    def test_expired_token(self, auth, clock, forge) -> None:
        """Expired tokens (RFC 7519 §4.1.4; RFC 8725 §3.10): ``exp`` is strict, with no leeway,
        whether the token was decoded before (the decode cache) or not, and a token whose
        ``exp`` is exactly now is already expired."""
        token = real_token(auth)
        assert auth.codec.decode(token).session.user.id == "user-1"  # now cached
        clock.advance(3600)
        rejects(auth, token, TokenExpired)
        fresh = build_auth(clock)
        rejects(fresh, token, TokenExpired)  # not cached
        rejects(auth, forge.token(exp=int(clock.time())), TokenExpired)
        rejects(auth, forge.token(exp=0), TokenExpired)
        rejects(auth, forge.token(exp=-(10**12)), TokenExpired)

    def test_iat_in_the_future(self, auth, clock, forge) -> None:
        """Tokens issued in the future beyond the clock-skew leeway (RFC 7519 §4.1.6; PyJWT
        ``ImmatureSignatureError``): a pre-dated token would outlive its intended window.
        Five seconds of skew are forgiven, six are not."""
        now = int(clock.time())
        assert auth.codec.decode(forge.token(iat=now + 5)).session.id
        rejects(auth, forge.token(iat=now + 6), ClaimsError)
        rejects(auth, forge.token(iat=now + 10**9, exp=now + 2 * 10**9), ClaimsError)

    @pytest.mark.parametrize("claim", ["exp", "iat", "jti", "createdAt", "user"])
    def test_missing_claims(self, auth, forge, claim) -> None:
        """Missing registered claims (RFC 8725 §3.10; PyJWT ``MissingRequiredClaimError``): a
        token without ``exp`` would never expire, without ``jti`` could not be revoked. Each
        of ``exp``, ``iat``, ``jti`` (and our ``createdAt`` / ``user``) is required, and JSON
        ``null`` counts as missing."""
        rejects(auth, forge.seal(forge.claims(**{claim: None})), ClaimsError)
        raw = forge.claims()
        raw[claim] = None
        rejects(auth, forge.seal(json.dumps(raw).encode()), ClaimsError)

    @pytest.mark.parametrize(
        "overrides",
        [
            pytest.param({"exp": "9999999999"}, id="exp-numeric-string"),
            pytest.param({"exp": 9_999_999_999.5}, id="exp-float"),
            pytest.param({"exp": [9_999_999_999]}, id="exp-list"),
            pytest.param({"iat": "1767225600"}, id="iat-string"),
            pytest.param({"iat": True}, id="iat-bool"),
            pytest.param({"jti": 12345}, id="jti-int"),
            pytest.param({"jti": ["a"]}, id="jti-list"),
            pytest.param({"jti": ""}, id="jti-empty"),
            pytest.param({"createdAt": "1767225600000"}, id="createdAt-string"),
            pytest.param({"user": ["id", "user-1"]}, id="user-list"),
            pytest.param({"user": "user-1"}, id="user-string"),
            pytest.param({"user": {}}, id="user-no-id"),
            pytest.param({"user": {"id": ""}}, id="user-id-empty"),
            pytest.param({"user": {"id": None}}, id="user-id-null"),
            pytest.param({"user": {"id": ["admin"]}}, id="user-id-list"),
            pytest.param({"user": {"id": {"$ne": ""}}}, id="user-id-object"),
            pytest.param({"user": {"id": "u", "email": 5}}, id="user-email-int"),
            pytest.param({"accessToken": 1}, id="accessToken-int"),
            pytest.param({"refreshToken": {"t": 1}}, id="refreshToken-object"),
        ],
    )
    def test_wrong_claim_types(self, auth, forge, overrides) -> None:
        """Claims of the wrong type (RFC 7519 §2 NumericDate / StringOrURI; RFC 8725 §3.10; type
        confusion such as ``exp: "9999999999"``, which ``int()`` happily converts). A sealed
        token whose claims do not have exactly the types we write is :class:`ClaimsError`; in
        particular no JSON value is silently stringified into a user id or a session id."""
        rejects(auth, forge.token(**overrides), ClaimsError)

    @pytest.mark.parametrize(
        "plaintext",
        [
            pytest.param(b'{"exp":1e999}', id="exp-infinity"),
            pytest.param(b'{"exp":NaN,"iat":NaN,"jti":"x"}', id="nan"),
            pytest.param(b'{"exp":' + b"9" * 4400 + b"}", id="int-over-4300-digits"),
            pytest.param(b"[" * 2800 + b"]" * 2800, id="deep-array"),
            pytest.param(b'{"user":' * 1300 + b"{}" + b"}" * 1300, id="deep-object"),
            pytest.param(b"\xff\xfe\x00\x00", id="not-utf8"),
            pytest.param(b'"a string"', id="json-string"),
            pytest.param(b"[1,2,3]", id="json-array"),
        ],
    )
    def test_hostile_claims_json(self, auth, forge, plaintext) -> None:
        """Parser attacks inside the (validly sealed) plaintext: Infinity/NaN, integers beyond
        CPython's 4,300-digit limit (CVE-2020-10735), nesting deep enough for RecursionError,
        invalid UTF-8 and non-object JSON. All are :class:`ClaimsError`, never another
        exception."""
        if len(plaintext) > 2000:  # keep under the 4,096-character token limit
            plaintext = plaintext[:1000] + plaintext[-1000:]
        rejects(auth, forge.seal(plaintext), ClaimsError)

    async def test_absurd_sealed_expiry_is_not_a_server_error(self, auth, forge) -> None:
        """Out-of-range NumericDates (RFC 7519 §2; RFC 8725 §3.10 "do not trust received
        claims"): a sealed token (a peer holding the secret, or a bug in one) with ``exp`` far
        beyond any lifetime we issue — here year 33658, or 10**300 seconds. Such a session
        cannot be shown: the session API must still answer 200 with ``session: null`` (and
        clear the cookie), never a 500 on every request for as long as the cookie lives."""
        for exp in (10**12, 10**300):
            token = forge.token(exp=exp)
            response = await http(auth.handlers(), "GET", cookie=f"session={token}")
            assert response.status_code == 200, response.text
            assert response.json()["session"] is None


# --------------------------------------------------------------------------------------------
# Keys: another app's secret, our kid with another key, rotation and removal
# --------------------------------------------------------------------------------------------


class TestKeys:
    def test_token_from_another_secret(self, auth, clock) -> None:
        """A token made by another app (or environment) with its own secret (RFC 8725 §2.8
        cross-JWT confusion, §3.5 key entropy): its kid is not ours, :class:`UnknownKey`."""
        other = build_auth(clock, secret_key=OTHER_SECRET)
        token = real_token(other)
        assert other.codec.decode(token).session.user.id == "user-1"
        error = rejects(auth, token, UnknownKey)
        assert error.kid == derive_kid(OTHER_SECRET)

    def test_our_kid_sealed_under_another_key(self, auth, forge, decrypt_spy) -> None:
        """Our ``kid`` on a token sealed under a key the attacker chose (the zero key, a key
        derived from the kid itself, the raw secret bytes without HKDF, the key of the other
        HKDF label) — RFC 8725 §3.10: the kid only *selects* a key, it proves nothing.
        :class:`DecryptionFailed`."""
        guesses = (
            b"\x00" * 32,
            (forge.kid * 4).encode()[:32],
            SECRET.encode()[:32],
            derive_key(OTHER_SECRET),
        )
        for key in guesses:
            rejects(auth, forge.seal(forge.claims(), key=key), DecryptionFailed)
        assert decrypt_spy.calls == 3 * len(guesses)  # decode, read, decrypt_session

    def test_replay_after_secret_removal(self, clock) -> None:
        """Replaying a cookie after its secret was retired (key rotation; RFC 8725 §3.5, OWASP
        ASVS 3.5): while the old secret is listed as previous it is accepted and flagged stale
        (to be re-issued), and once removed every cookie sealed under it is
        :class:`UnknownKey` — even one decoded and cached moments before."""
        old = build_auth(clock, secret_key=OTHER_SECRET)
        token = real_token(old)
        rotating = build_auth(clock, secret_key=SECRET, previous_secret_keys=[OTHER_SECRET])
        assert rotating.codec.decode(token).stale_key is True
        retired = build_auth(clock, secret_key=SECRET)
        rejects(retired, token, UnknownKey)
        rejects(retired, token, UnknownKey)


# --------------------------------------------------------------------------------------------
# Cookies over HTTP: names, duplicates, header injection
# --------------------------------------------------------------------------------------------


class TestCookies:
    async def test_duplicate_cookie_names_first_wins(self, auth, clock) -> None:
        """Duplicate cookie names (cookie tossing / shadowing, RFC 6265 §5.4 ordering; the
        "cookie jar overflow" and ``Path``-shadowing tricks): only the first ``session`` in
        the ``Cookie`` header is read, so appending a second one cannot swap the session, and
        a bad first one is not rescued by a good second one."""
        alice = real_token(auth, id="alice")
        mallory = real_token(auth, id="mallory")
        api = auth.handlers()
        response = await http(api, "GET", cookie=f"session={alice}; session={mallory}")
        assert response.json()["session"]["user"]["id"] == "alice"
        response = await http(api, "GET", cookie=f"session={mallory}; other=1; session={alice}")
        assert response.json()["session"]["user"]["id"] == "mallory"
        response = await http(api, "GET", cookie=f"session=garbage; session={alice}")
        assert response.status_code == 200
        assert response.json()["session"] is None
        assert [set_cookie_value(c) for c in response.headers.get_list("set-cookie")] == [
            ("session", "")
        ]

    async def test_host_prefix_versus_plain_name_on_https(self, auth) -> None:
        """``__Host-`` prefix vs plain name on HTTPS (cookie tossing from a sibling subdomain,
        RFC 6265bis §4.1.3.2): over HTTPS only ``__Host-session`` is read. A plain
        ``session`` cookie — which any subdomain can set — is ignored (and not cleared: it is
        not ours), and it cannot shadow the real one whatever the order; case variants of the
        prefix are not the prefix."""
        victim = real_token(auth, id="victim")
        attacker = real_token(auth, id="attacker")
        api = auth.handlers()
        response = await http(api, "GET", cookie=f"session={attacker}", https=True)
        assert response.status_code == 200
        assert response.json()["session"] is None
        assert response.headers.get_list("set-cookie") == []
        for cookie in (
            f"session={attacker}; __Host-session={victim}",
            f"__Host-session={victim}; session={attacker}",
            f"__host-session={attacker}; __Host-session={victim}",
            f"__Secure-session={attacker}; __Host-session={victim}",
        ):
            response = await http(api, "GET", cookie=cookie, https=True)
            assert response.json()["session"]["user"]["id"] == "victim"
        response = await http(api, "GET", cookie=f"__HOST-session={attacker}", https=True)
        assert response.json()["session"] is None
        assert response.headers.get_list("set-cookie") == []

    async def test_crlf_in_cookie_header_never_reaches_set_cookie(self, auth) -> None:
        """HTTP response splitting / header injection through the cookie value (CWE-113): a
        ``Cookie`` header carrying CR/LF and a fake ``Set-Cookie``. The only ``Set-Cookie``
        we answer with is our own clearing line, built from constants — nothing of the
        request is echoed, on the API or through the page middleware."""
        token = real_token(auth)
        hostile = [
            b"session=garbage\r\nSet-Cookie: pwned=1; Path=/",
            b"session=" + token.encode() + b"\r\nSet-Cookie: pwned=1",
            b"session=x\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: pwned=1",
            b"session=\npwned=1; Domain=evil.example",
            b'session="a\r\nb"',
        ]

        async def page(scope, receive, send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"page"})

        apps = [(auth.handlers(), "/api/session"), (auth.middleware(page), "/dashboard")]
        for app, path in apps:
            for cookie in hostile:
                response = await call_asgi(app, "GET", path, headers=[(b"cookie", cookie)])
                assert response.status < 500
                lines = response.get_all("set-cookie")
                assert lines, "an unreadable cookie is cleared"
                for line in lines:
                    assert "\r" not in line
                    assert "\n" not in line
                    assert "pwned" not in line
                    assert "evil" not in line
                    assert set_cookie_value(line) == ("session", "")
                for name, value in response.headers:
                    assert b"\r" not in name + value
                    assert b"\n" not in name + value


# --------------------------------------------------------------------------------------------
# Open redirects and guard bypasses
# --------------------------------------------------------------------------------------------

HOSTILE_RETURN_TO = [
    "//evil.com",
    "//evil.com/dashboard",
    "///evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "/%2F%2Fevil.com",
    "/%2f%2fevil.com",
    "/%5Cevil.com",
    "/%5C%5Cevil.com",
    "https://evil.com",
    "HTTPS://evil.com/",
    "http:/evil.com",
    "https:evil.com",
    "evil.com",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.com",
    "/%09/evil.com",
    "/\r\nLocation: https://evil.com",
    "/%0d%0aSet-Cookie:%20pwned=1",
    "/\x00evil",
    "/%00",
    "/\x7f",
    "/login",
    "/login/",
    "/login?callbackUrl=/login",
    "/login#top",
    "//login",
    "/./login",
    "/x/../login",
    "/%6Cogin",
    "/%2e%2e/login",
    "/login;jsessionid=1",
    "/" + "a" * 2048,
    "",
    "   ",
]


class TestRedirects:
    @pytest.mark.parametrize("value", HOSTILE_RETURN_TO)
    def test_safe_return_to_open_redirect(self, value) -> None:
        """Open redirect through the return-to parameter (CWE-601; OWASP "Unvalidated Redirects
        and Forwards"; the ``//host``, ``/\\host`` and percent-encoded variants browsers
        resolve off-site, ``javascript:`` URLs, control characters, over-long values, and the
        login page itself, which would loop). Every one of these lands on home."""
        assert safe_return_to(value, home_path="/", login_path="/login") == "/"
        assert safe_return_to(value, home_path="/home", login_path="/login") == "/home"

    def test_safe_return_to_keeps_local_paths(self) -> None:
        """The control group for the open-redirect test: ordinary local paths, with query and
        fragment, survive unchanged (a filter that refuses everything would also pass)."""
        for value in ("/dashboard", "/dashboard?tab=2&x=%2F", "/a/b#c", "/loginx", "/en/login2"):
            assert safe_return_to(value, home_path="/", login_path="/login") == value

    @pytest.mark.parametrize(
        ("path", "query"),
        [
            ("/dashboard", b"next=//evil.com"),
            ("/dashboard", b"callbackUrl=https://evil.com"),
            ("/dashboard", b"x=%0d%0aLocation:%20https://evil.com"),
            ("/dashboard/\\evil", b""),
            ("/dashboard///evil", b""),
            ("/dashboard/%2F%2Fevil", b""),
            ("//dashboard", b""),
            ("/dashboard/\r\nSet-Cookie: pwned=1", b""),
            ("/dashboard/javascript:alert(1)", b""),
            ("/dashboard/" + "a" * 5000, b""),
            ("/admin", b"callbackUrl=//evil.com"),
        ],
    )
    async def test_middleware_location_stays_on_site(self, auth, path, query) -> None:
        """Open redirect / header injection through the page guard's ``Location`` (CWE-601,
        CWE-113): whatever the requested path and query, the redirect of a signed-out visitor
        is our login page on our own origin, with a return-to value that is itself a safe
        local path (or none), and no CR/LF anywhere in the headers."""

        async def page(scope, receive, send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"page"})

        response = await call_asgi(auth.middleware(page), "GET", path, query=query)
        assert response.status == 307
        [location] = response.get_all("location")
        for name, value in response.headers:
            assert b"\r" not in name + value
            assert b"\n" not in name + value
        parts = urlsplit(location)
        assert (parts.scheme, parts.netloc) == ("", "")
        assert parts.path == "/login"
        assert not location.startswith(("//", "/\\"))
        for target in parse_qs(parts.query).get("callbackUrl", []):
            assert safe_return_to(target, home_path="/", login_path="/login") == target
            assert target.startswith("/")
            assert not target.startswith("//")
            assert "evil.com" not in urlsplit(target).netloc

    async def test_signed_in_user_on_login_page_is_not_bounced_off_site(self, auth) -> None:
        """The login page's own return-to for a signed-in user (the classic post-login open
        redirect, CWE-601): the guard sends them to home, never to the ``callbackUrl``."""

        async def page(scope, receive, send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"page"})

        token = real_token(auth)
        for query in (b"callbackUrl=//evil.com", b"callbackUrl=https%3A%2F%2Fevil.com"):
            response = await call_asgi(
                auth.middleware(page),
                "GET",
                "/login",
                query=query,
                headers=[(b"cookie", f"session={token}".encode())],
            )
            assert response.status == 307
            assert response.get_all("location") == ["/"]

    async def test_dot_segment_and_encoded_delimiter_guard_bypass(self, auth, tmp_path) -> None:
        """Path-confusion bypass of the page guard (CWE-22 / CWE-647 "non-canonical URL paths
        for authorization decisions"; the classic ``/public/../admin`` and ``;``/``%3F``/``%23``
        ACL bypasses). The guard must decide on the same path the server behind it will
        serve. Starlette's ``StaticFiles`` — which Reflex uses to serve the compiled pages in
        single-port production — ``normpath``-s the decoded path, so ``/x/../dashboard/`` *is*
        ``/dashboard/``. A signed-out visitor must not get the protected page's HTML through
        any of these spellings (raw ASGI, as ``curl --path-as-is`` would send them)."""
        (tmp_path / "dashboard").mkdir()
        (tmp_path / "dashboard" / "index.html").write_text("PROTECTED-DASHBOARD-HTML")
        (tmp_path / "index.html").write_text("home")
        app = auth.middleware(StaticFiles(directory=tmp_path, html=True))
        leaked = []
        for path in (
            "/dashboard/",
            "//dashboard/",
            "/x/../dashboard/",
            "/./dashboard/",
            "/x/./../dashboard/",
            "/public?/../dashboard/",  # the client sent %3F: the scope path is decoded
            "/public#/../dashboard/",  # the client sent %23
            "/dashboard/index.html/.",  # "static" by its last segment, so not guarded at all
        ):
            response = await call_asgi(app, "GET", path)
            if b"PROTECTED-DASHBOARD-HTML" in response.body:
                leaked.append(path)
        assert leaked == [], f"served the protected page without a session for {leaked}"


# --------------------------------------------------------------------------------------------
# Cross-site requests against the session API, and what a same-site client may change
# --------------------------------------------------------------------------------------------

CROSS_SITE_HEADERS = [
    pytest.param({"origin": "https://evil.example"}, id="origin-other"),
    pytest.param({"origin": "null"}, id="origin-null"),
    pytest.param({"origin": "http://testserver.evil.example"}, id="origin-suffix"),
    pytest.param({"origin": "https://testserver"}, id="origin-other-scheme"),
    pytest.param({"sec-fetch-site": "cross-site"}, id="fetch-cross-site"),
    pytest.param({"sec-fetch-site": "same-site"}, id="fetch-same-site-no-origin"),
    pytest.param(
        {"sec-fetch-site": "same-site", "origin": "http://evil.testserver"},
        id="fetch-same-site-sibling",
    ),
    pytest.param(
        {"sec-fetch-site": "cross-site", "origin": "http://testserver"}, id="fetch-cross-own-origin"
    ),
]


class TestCrossSite:
    @pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE", "GET"])
    @pytest.mark.parametrize("headers", CROSS_SITE_HEADERS)
    async def test_cross_site_request_refused(self, clock, method, headers) -> None:
        """Cross-site request forgery against the session API (CWE-352; OWASP CSRF cheat sheet
        "Fetch Metadata" and "Origin" defences; SameSite=Lax does not cover same-site
        siblings). Refresh, update and logout — and the read, which a permissive CORS setup
        would otherwise expose — from another site or an opaque (``null``) origin are 403,
        with no ``Set-Cookie`` (the victim's cookie is left exactly as it was), without the
        cookie even being decrypted and without the app's callbacks running."""
        calls: list[str] = []

        def on_refresh(session):
            calls.append("refresh")
            return session

        def on_validate(session):
            calls.append("validate")
            return True

        auth = build_auth(clock, on_refresh=on_refresh, on_validate=on_validate)
        spy = DecryptSpy()
        spy.install(auth)
        token = real_token(auth)
        body = json.dumps({"user": {"name": "pwned"}}) if method == "PATCH" else None
        response = await http(
            auth.handlers(),
            method,
            cookie=f"session={token}",
            headers={**headers, "content-type": "application/json"},
            content=body,
        )
        assert response.status_code == 403
        assert response.json() == {"error": "cross_site"}
        assert response.headers.get_list("set-cookie") == []
        assert spy.calls == 0
        assert calls == []
        # and the cookie still opens the same, unchanged session
        same = auth.decrypt_session(token)
        assert same is not None
        assert same.user.name is None

    async def test_self_service_role_escalation_via_patch(self, auth) -> None:
        """Vertical privilege escalation through a same-site session update (CWE-269 / CWE-915
        mass assignment; OWASP ASVS 4.1.3 "users cannot manipulate attributes used by access
        controls"). ``route.auth("/admin/*", role="admin")`` trusts ``session.user.role``; the
        signed-in user must not be able to grant themselves that role with
        ``PATCH /api/session {"user": {"role": "admin"}}`` from their own browser."""
        token = real_token(auth)
        before = auth.decrypt_session(token)
        assert before is not None
        assert not auth.decide("/admin", before).allowed
        for change in ({"role": "admin"}, {"roles": ["admin"]}):
            response = await http(
                auth.handlers(),
                "PATCH",
                cookie=f"session={token}",
                headers={"origin": "http://testserver", "content-type": "application/json"},
                content=json.dumps({"user": change}),
            )
            issued = [set_cookie_value(c) for c in response.headers.get_list("set-cookie")]
            current = next((v for name, v in issued if name == "session" and v), token)
            session = auth.decrypt_session(current)
            assert session is not None
            assert not auth.decide("/admin", session).allowed, (
                f"PATCH {change} -> {response.status_code}: the user made themselves admin"
            )

    @pytest.mark.parametrize(
        "body",
        [
            {"user": {"id": "someone-else"}},
            {"expiresAt": 99_999_999_999_999},
            {"createdAt": 0},
            {"lastActivity": 99_999_999_999_999},
            {"id": "fixated-session-id"},
            {"accessToken": "attacker-token"},
            {"refreshToken": "attacker-token"},
            {"__proto__": {"role": "admin"}},
        ],
    )
    async def test_patch_cannot_touch_identity_time_or_tokens(self, auth, body) -> None:
        """Mass assignment of identity, lifetime and credentials through the update API
        (CWE-915; OWASP ASVS 3.3 absolute timeout, 3.2 session binding): swapping ``user.id``
        (account takeover), moving ``expiresAt``/``createdAt`` (immortal session), fixing the
        session id, or planting OAuth tokens is 422, and the cookie is left as it was."""
        token = real_token(auth)
        response = await http(
            auth.handlers(),
            "PATCH",
            cookie=f"session={token}",
            headers={"origin": "http://testserver", "content-type": "application/json"},
            content=json.dumps(body),
        )
        assert response.status_code == 422
        assert response.headers.get_list("set-cookie") == []
