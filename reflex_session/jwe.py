"""Compact JWE framing (RFC 7516) for exactly one algorithm pair: ``dir`` + ``A256GCM``.

This module is deliberately narrow. A general JOSE library must honour whatever the header asks
for (``alg``, ``zip``, ``jku``, ``crit`` ...), which is where the well-known JWT attacks live. We
only ever write one header, ``{"alg":"dir","enc":"A256GCM","kid":...}``, and we only accept that
header: either byte-for-byte the one we write (the fast path, a dict lookup), or a JSON object with
exactly those three members and those values (so that tokens made by another JOSE implementation,
e.g. Node's ``jose``, with members in another order, still read). Anything else is rejected before
a single byte is decrypted, and the input length is checked before anything at all.

Output: ``BASE64URL(header) '.' '' '.' BASE64URL(iv) '.' BASE64URL(ciphertext) '.' BASE64URL(tag)``
with a 96-bit random IV per token and the ASCII header segment as additional authenticated data.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag

from .errors import (
    DecryptionFailed,
    MalformedToken,
    TokenTooLarge,
    UnknownKey,
    UnsupportedHeader,
)
from .keys import DerivedKey, Keyring

__all__ = ["MAX_TOKEN_CHARS", "JWEFramer", "b64url_decode", "b64url_encode", "header_segment"]

#: No cookie we write can be longer (the browser limit is 4,096 bytes for name and value).
MAX_TOKEN_CHARS = 4096
_MAX_HEADER_CHARS = 256
_IV_CHARS = 16  # 12 bytes
_TAG_CHARS = 22  # 16 bytes
_ALLOWED_MEMBERS = frozenset({"alg", "enc", "kid"})
# base64url -> standard alphabet; "+", "/" and "=" become "*", which strict mode rejects, so one
# pass both translates and refuses every character outside the base64url alphabet
_TO_STD = bytes.maketrans(b"-_+/=", b"+/***")


def b64url_encode(data: bytes) -> str:
    """base64url without padding, as JOSE writes every segment."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_LAST_CHAR_MASK = {2: 0x0F, 3: 0x03}
_B64URL_INDEX = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding: any other character is an error, never skipped.

    ``base64.urlsafe_b64decode`` silently discards characters outside the alphabet, which would
    let many different strings decode to the same bytes; we refuse them instead.
    """
    if len(segment) % 4 == 1:
        raise MalformedToken("bad base64url length")
    mask = _LAST_CHAR_MASK.get(len(segment) % 4)
    if mask is not None and _B64URL_INDEX.get(segment[-1], 0) & mask:
        # unused low bits set: another spelling of the same bytes (non-canonical)
        raise MalformedToken("non-canonical base64url")
    try:
        raw = segment.encode("ascii").translate(_TO_STD)
        return binascii.a2b_base64(raw + b"=" * (-len(segment) % 4), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise MalformedToken("bad base64url") from exc


def header_segment(kid: str) -> str:
    """The exact header segment we write for ``kid``."""
    header = json.dumps({"alg": "dir", "enc": "A256GCM", "kid": kid}, separators=(",", ":"))
    return b64url_encode(header.encode("ascii"))


class JWEFramer:
    """Encrypts bytes to a compact JWE and back, under a :class:`Keyring`."""

    __slots__ = ("_aad", "_exact_headers", "_header", "_keyring")

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._header = header_segment(keyring.current.kid)
        self._aad = self._header.encode("ascii")
        self._exact_headers: dict[str, DerivedKey] = {}
        for kid in keyring.kids:
            key = keyring.get(kid)
            assert key is not None
            self._exact_headers[header_segment(kid)] = key

    @property
    def keyring(self) -> Keyring:
        """The keyring this framer seals under (its newest key) and opens with."""
        return self._keyring

    def encrypt(self, plaintext: bytes) -> str:
        """Seal ``plaintext`` under the newest key as a compact JWE.

        A fresh random 96-bit IV per token: reusing an IV under one AES-GCM key would reveal the XOR
        of the plaintexts and allow forgeries. The header segment is the additional authenticated
        data, so its ``kid`` cannot be swapped.
        """
        iv = os.urandom(12)
        sealed = self._keyring.current.aead.encrypt(iv, plaintext, self._aad)
        return ".".join(
            (
                self._header,
                "",
                b64url_encode(iv),
                b64url_encode(sealed[:-16]),
                b64url_encode(sealed[-16:]),
            )
        )

    def decrypt(self, token: str) -> tuple[bytes, DerivedKey]:
        """Return the plaintext and the key that opened it, or raise a :class:`TokenError`."""
        if not isinstance(token, str):
            raise MalformedToken("not a string")
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenTooLarge(f"{len(token)} characters")
        parts = token.split(".")
        if len(parts) != 5:
            raise MalformedToken(f"{len(parts)} segments, expected 5")
        header, encrypted_key, iv_part, ct_part, tag_part = parts
        if encrypted_key:
            raise UnsupportedHeader("dir carries no encrypted key")
        key = self._exact_headers.get(header)
        if key is None:
            key = self._slow_header(header)
        if len(iv_part) != _IV_CHARS or len(tag_part) != _TAG_CHARS:
            raise MalformedToken("bad IV or tag length", kid=key.kid)
        # hot path, inlined: one ASCII encode and one translate for the three binary segments
        # (the IV needs no padding; the tag's last character must be canonical, 0x0F unused)
        if _B64URL_INDEX.get(tag_part[-1], 0) & 0x0F:
            raise MalformedToken("non-canonical base64url", kid=key.kid)
        if (
            len(ct_part) % 4 in (2, 3)
            and _B64URL_INDEX.get(ct_part[-1], 0) & _LAST_CHAR_MASK[len(ct_part) % 4]
        ):
            raise MalformedToken("non-canonical base64url", kid=key.kid)
        try:
            iv_b, ct_b, tag_b = (
                f"{iv_part}.{ct_part}.{tag_part}".encode("ascii").translate(_TO_STD).split(b".")
            )
            iv = binascii.a2b_base64(iv_b, strict_mode=True)
            sealed = binascii.a2b_base64(
                ct_b + b"=" * (-len(ct_b) % 4), strict_mode=True
            ) + binascii.a2b_base64(tag_b + b"==", strict_mode=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MalformedToken("bad base64url", kid=key.kid) from None
        try:
            plaintext = key.aead.decrypt(iv, sealed, header.encode("ascii"))
        except InvalidTag:
            raise DecryptionFailed("authentication tag mismatch", kid=key.kid) from None
        return plaintext, key

    def _slow_header(self, segment: str) -> DerivedKey:
        """A header that is not byte-for-byte ours: parse it, and accept only our three members."""
        if not segment or len(segment) > _MAX_HEADER_CHARS:
            raise UnsupportedHeader("header missing or too long")
        raw = b64url_decode(segment)
        try:
            header: Any = json.loads(raw, object_pairs_hook=_no_duplicates)
        except (ValueError, RecursionError) as exc:
            raise MalformedToken("header is not JSON") from exc
        if not isinstance(header, dict) or set(header) != _ALLOWED_MEMBERS:
            raise UnsupportedHeader("header members must be exactly alg, enc, kid")
        if header["alg"] != "dir" or header["enc"] != "A256GCM":
            raise UnsupportedHeader("only alg=dir, enc=A256GCM")
        kid = header["kid"]
        if not isinstance(kid, str):
            raise UnsupportedHeader("kid must be a string")
        key = self._keyring.get(kid)
        if key is None:
            raise UnknownKey("no secret with this kid", kid=_log_safe(kid[:16]))
        return key


def _log_safe(value: str) -> str:
    """Only base64url characters reach a log line (no CR/LF, escapes or lookalikes)."""
    return "".join(c if c in _B64URL_INDEX else "?" for c in value)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate member {name!r}")
        result[name] = value
    return result
