"""The session cookie codec: Session <-> JWT claims <-> compact JWE.

Layers, each in its own module:

* :mod:`reflex_session.keys` derives keys from secrets (HKDF) and holds the rotation keyring;
* :mod:`reflex_session.jwe` frames and encrypts bytes (``dir`` + ``A256GCM`` only);
* this module turns a :class:`Session` into a JWT claims set and back, has PyJWT check the
  registered claims against *our* clock, and keeps a bounded cache of recently decoded cookies.

The claims set (the JWE plaintext, readable by ``jose``'s ``jwtDecrypt``)::

    {"jti": session id, "iat": issued (s), "exp": expires (s), "createdAt": ms,
     "user": {...}, "accessToken"?: str, "refreshToken"?: str}

A peer's ``nbf`` (not before) is honoured on read, with the same leeway as ``iat``; we never
write one.

``lastActivity`` is the time of issue (``iat``), so it is not stored twice.

Reading is *total* at :meth:`SessionCodec.read`: whatever the input, the answer is a session or
``None``, and a rejected cookie costs one line on the ``reflex_session.security`` logger (the
reason and the key id, never the value).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from typing import Any, Generic

import jwt
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    PyJWTError,
)

from . import wire
from .clock import SYSTEM_CLOCK, Clock
from .errors import ClaimsError, CookieTooLarge, ForbiddenUpdate, TokenError, TokenExpired
from .jwe import MAX_TOKEN_CHARS, JWEFramer
from .keys import Keyring
from .session import Session, User, UserT

__all__ = ["DecodedSession", "SessionCodec", "security_log"]

security_log = logging.getLogger("reflex_session.security")

_REQUIRED = ("exp", "iat", "jti")
# built once: json.dumps/json.loads with keyword arguments build a new coder on every call
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_DECODER = json.JSONDecoder()


class _ClaimChecks(jwt.PyJWT):
    """PyJWT's own registered-claim validators, driven by an injected clock.

    ``jwt.decode`` only takes a JWS and reads ``datetime.now()`` itself; the JWE plaintext is a
    bare claims set and our clock must be injectable. PyJWT exposes the validators it runs as
    methods taking ``now``; we call exactly those (``tests/core/test_codec.py`` pins this API so an
    upgrade that moves it fails loudly instead of silently skipping checks).
    """

    def check(self, claims: dict[str, Any], now: float, leeway: float) -> None:
        self._validate_required_claims(claims, _REQUIRED)
        self._validate_iat(claims, now, leeway)
        if "nbf" in claims:  # optional (RFC 7519 §4.1.5); a JOSE peer may set it, we never do
            nbf = claims["nbf"]
            # a NumericDate is a JSON number; PyJWT's int() alone would also take "0" or true
            if type(nbf) is not int and not (type(nbf) is float and math.isfinite(nbf)):
                raise DecodeError("Not Before claim (nbf) must be a number.")
            self._validate_nbf(claims, now, leeway)
        # expiry is strict: leeway only forgives a reader whose clock is behind the issuer's
        self._validate_exp(claims, now, 0)
        self._validate_jti(claims)


class DecodedSession(Generic[UserT]):
    """A decoded cookie: the session, and whether it was sealed under an older secret."""

    __slots__ = ("kid", "session", "stale_key")

    def __init__(self, session: Session[UserT], kid: str, stale_key: bool) -> None:
        self.session = session
        self.kid = kid
        self.stale_key = stale_key


class _RateLimitedLog:
    """At most ``per_second`` security lines a second; a flood of garbage cannot flood the log."""

    def __init__(self, per_second: int = 20) -> None:
        self._per_second = per_second
        self._window = 0
        self._count = 0
        self._suppressed = 0
        self._lock = threading.Lock()

    def rejected(self, error: TokenError, length: int) -> None:
        level = logging.DEBUG if isinstance(error, TokenExpired) else logging.WARNING
        if not security_log.isEnabledFor(level):
            return
        with self._lock:
            window = int(time.monotonic())
            if window != self._window:
                if self._suppressed:
                    security_log.warning(
                        "%d more rejected session cookies not logged", self._suppressed
                    )
                self._window, self._count, self._suppressed = window, 0, 0
            self._count += 1
            if self._count > self._per_second:
                self._suppressed += 1
                return
        security_log.log(
            level,
            "session cookie rejected: reason=%s kid=%s length=%d",
            error.reason,
            error.kid or "-",
            length,
        )


class SessionCodec(Generic[UserT]):
    """Encode sessions to cookie values and decode them back, with key rotation and a cache.

    ``max_value_bytes`` is the largest cookie *value* the browser will keep for our cookie name;
    :meth:`encode` raises :class:`CookieTooLarge` rather than produce a longer one.
    """

    def __init__(
        self,
        secrets_oldest_first: list[str] | tuple[str, ...],
        *,
        user_type: type[UserT] = User,  # type: ignore[assignment]
        clock: Clock = SYSTEM_CLOCK,
        leeway: float = 5.0,
        cache_size: int = 1024,
        max_value_bytes: int = MAX_TOKEN_CHARS,
        max_lifetime: int = 10 * 365 * 24 * 3600,
    ) -> None:
        self._framer = JWEFramer(Keyring(secrets_oldest_first))
        self._user_type = user_type
        self._clock = clock
        self._leeway = leeway
        self._max_lifetime_ms = int((max_lifetime + leeway) * 1000)
        # createdAt comes from the login worker's clock, iat from whichever worker re-issued the
        # cookie: they may disagree by the leeway (and iat is truncated to the second)
        self._created_slack_ms = int(leeway * 1000) + 1000
        self._checks = _ClaimChecks()
        self._cache: OrderedDict[str, DecodedSession[UserT]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._max_value_bytes = max_value_bytes
        self._log = _RateLimitedLog()

    @property
    def keyring(self) -> Keyring:
        """The keys this codec opens cookies with; the newest one seals."""
        return self._framer.keyring

    @property
    def cache_len(self) -> int:
        """How many decoded cookies the cache holds now (for tests and metrics)."""
        return len(self._cache)

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, session: Session[UserT]) -> str:
        """The cookie value for ``session``, sealed under the newest secret."""
        return self.encode_claims(wire.to_claims(session))

    def encode_claims(self, claims: dict[str, Any]) -> str:
        """Seal any claims set under the newest secret (store mode seals its id-only claims).

        Raises :class:`ForbiddenUpdate` for a value JSON cannot carry (NaN, Infinity), which no
        other JOSE reader would accept, and :class:`CookieTooLarge` rather than produce a value the
        browser would silently drop.
        """
        try:
            text = _ENCODER.encode(claims)
        except ValueError as exc:  # NaN/Infinity: not JSON, and no other JOSE reader takes it
            raise ForbiddenUpdate("session", f"not JSON: {exc}") from None
        plaintext = text.encode("utf-8")
        token = self._framer.encrypt(plaintext)
        if len(token) > self._max_value_bytes:
            raise CookieTooLarge(len(token), self._max_value_bytes)
        return token

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, token: str) -> DecodedSession[UserT]:
        """Decode or raise a :class:`TokenError`. Prefer :meth:`read` at trust boundaries."""
        now = self._clock.time()
        hit = self._cache.get(token) if isinstance(token, str) else None
        if hit is not None:
            if hit.session.expires_at <= now * 1000:
                with self._cache_lock:
                    self._cache.pop(token, None)
                raise TokenExpired("exp has passed", kid=hit.kid)
            try:  # noqa: SIM105 - least recently used goes first; suppress() costs a hit 0.1 µs
                self._cache.move_to_end(token)
            except KeyError:
                pass
            return hit
        claims, kid = self.decode_claims(token, now=now)
        decoded = DecodedSession(
            self._session_from_claims(claims, kid),
            kid,
            kid != self._framer.keyring.current.kid,
        )
        if self._cache_size:
            with self._cache_lock:
                self._cache[token] = decoded
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return decoded

    def decode_claims(self, token: str, *, now: float | None = None) -> tuple[dict[str, Any], str]:
        """Decrypt and check the registered claims; return the claims and the key id."""
        plaintext, key = self._framer.decrypt(token)
        try:
            claims = _DECODER.decode(plaintext.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise ClaimsError("plaintext is not JSON", kid=key.kid) from exc
        if not isinstance(claims, dict):
            raise ClaimsError("claims must be a JSON object", kid=key.kid)
        try:
            self._checks.check(claims, self._clock.time() if now is None else now, self._leeway)
        except ExpiredSignatureError:
            raise TokenExpired("exp has passed", kid=key.kid) from None
        except PyJWTError as exc:
            raise ClaimsError(type(exc).__name__, kid=key.kid) from None
        return claims, key.kid

    def _session_from_claims(self, claims: dict[str, Any], kid: str) -> Session[UserT]:
        try:
            session = wire.from_claims(claims, self._user_type)
        except (KeyError, TypeError, ValueError) as exc:
            raise ClaimsError(f"not a session: {type(exc).__name__}", kid=kid) from None
        # lifetimes are enforced on read too, not only when we write: a sealed cookie can never
        # outlive created + max_lifetime, nor claim an expiry a clock cannot show
        created_at = session.created_at
        if session.expires_at > created_at + self._max_lifetime_ms or not (
            0 < created_at <= session.last_activity + self._created_slack_ms
        ):
            raise ClaimsError("not a session: lifetime out of bounds", kid=kid)
        return session

    def read(self, token: str | None) -> DecodedSession[UserT] | None:
        """Total decoding: a session, or ``None`` for absent, expired, tampered or garbage input.

        Never raises for anything a client can send, and never logs the value.
        """
        if not token:
            return None
        try:
            return self.decode(token)
        except TokenError as error:
            self._log.rejected(error, len(token) if isinstance(token, str) else -1)
            return None
        except Exception as error:  # a bug of ours must not become a 500 or leak the token
            security_log.error(
                "session cookie could not be read (internal %s)", type(error).__name__
            )
            return None

    def reject(self, error: TokenError, length: int) -> None:
        """Log a rejected cookie (rate-limited; the reason and kid, never the value)."""
        self._log.rejected(error, length)

    def forget(self, token: str) -> None:
        """Drop a token from the decode cache (after logout or revocation)."""
        with self._cache_lock:
            self._cache.pop(token, None)
