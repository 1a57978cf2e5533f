"""Secrets to keys: HKDF-SHA256 derivation and the rotation keyring.

A secret is a string from configuration; the key that encrypts cookies is derived from it, never
the secret itself, so that one secret can serve several purposes without key reuse and so that a
Node service can compute the same key (``docs/cookie-format.md`` gives the recipe).

Derivation (RFC 5869)::

    key = HKDF-SHA256(ikm=utf8(secret), salt=b"reflex-session",
                      info=b"reflex-session/v1 A256GCM", L=32)
    kid = base64url(HKDF-SHA256(ikm=utf8(secret), salt=b"reflex-session",
                                info=b"reflex-session/v1 kid", L=6))

The ``kid`` lets the reader pick the right key in O(1) instead of trying every secret, and names a
secret in logs without revealing anything about it.

Secrets are listed oldest to newest, as in itsdangerous: the newest encrypts, every one decrypts,
and a cookie read under an older one is re-issued under the newest.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import ConfigError

__all__ = ["KEY_INFO", "KID_INFO", "SALT", "DerivedKey", "Keyring", "derive_key", "derive_kid"]

SALT = b"reflex-session"
KEY_INFO = b"reflex-session/v1 A256GCM"
KID_INFO = b"reflex-session/v1 kid"


def _hkdf(secret: str, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=SALT, info=info).derive(
        secret.encode("utf-8")
    )


def _info(base: bytes, purpose: str) -> bytes:
    return base if not purpose else base + b" " + purpose.encode("ascii")


def derive_key(secret: str, purpose: str = "") -> bytes:
    """The 32-byte A256GCM content-encryption key for ``secret``.

    ``purpose`` separates keys of one secret by use (``"flow"`` for the provider sign-in's
    short-lived cookie): a value sealed for one purpose never opens as another. The session
    cookie's purpose is ``""``, the key it always had.
    """
    return _hkdf(secret, _info(KEY_INFO, purpose), 32)


def derive_kid(secret: str, purpose: str = "") -> str:
    """The public key id (8 base64url characters) for ``secret`` and ``purpose``."""
    return base64.urlsafe_b64encode(_hkdf(secret, _info(KID_INFO, purpose), 6)).decode("ascii")


@dataclass(frozen=True, slots=True)
class DerivedKey:
    """One secret's key, its public key id and a ready AES-GCM cipher.

    The cipher is built once per secret, not per cookie; the ``repr`` names only the ``kid``, so
    logging a key never prints key material.
    """

    kid: str
    key: bytes
    aead: AESGCM

    def __repr__(self) -> str:  # never print key material
        return f"DerivedKey(kid={self.kid!r})"


class Keyring:
    """All usable keys, by ``kid``; the newest is the one that encrypts."""

    __slots__ = ("_by_kid", "current")

    def __init__(self, secrets_oldest_first: Sequence[str], *, purpose: str = "") -> None:
        if not secrets_oldest_first:
            raise ConfigError("secret_key", "a keyring needs at least one secret")
        keys = []
        for secret in secrets_oldest_first:
            key = derive_key(secret, purpose)
            keys.append(DerivedKey(derive_kid(secret, purpose), key, AESGCM(key)))
        self._by_kid = {k.kid: k for k in keys}
        self.current: DerivedKey = keys[-1]

    def get(self, kid: str) -> DerivedKey | None:
        """The key for ``kid``; ``None`` for a secret that is not (or no longer) configured."""
        return self._by_kid.get(kid)

    @property
    def kids(self) -> tuple[str, ...]:
        """Every configured key id, oldest secret first."""
        return tuple(self._by_kid)

    def __repr__(self) -> str:
        return f"Keyring(kids={list(self._by_kid)!r}, current={self.current.kid!r})"
