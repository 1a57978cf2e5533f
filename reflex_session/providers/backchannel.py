"""OpenID Connect Back-Channel Logout 1.0: the provider tells us, server to server, that a user's
session with it has ended, and we end ours.

The provider POSTs ``logout_token=<JWT>`` (form-encoded) to the endpoint ``install()`` mounts.
Anyone can POST there, so the token is verified completely before anything ends (section 2.6):

* the signature, with a key from the provider's JWKS (fetched again once when the ``kid`` is
  unknown: the provider may have rotated its keys) and an asymmetric algorithm only, never
  ``none`` or ``HS*``, whatever the token's header says (an unknown ``kid`` may force a JWKS
  download only as often as the caller allows: anyone can POST tokens naming made-up keys);
* ``iss`` is the provider's issuer, ``aud`` names our client id, ``iat`` is present and recent,
  ``exp`` (when present) has not passed;
* ``events`` holds the member ``http://schemas.openid.net/event/backchannel-logout`` (a JSON
  object), so an ID token or an access token in JWT form cannot be passed off as a logout;
* there is no ``nonce`` (an ID token has one; a logout token must not);
* there is a ``sid`` or a ``sub``, and a ``jti`` that was not seen before: each ``jti`` takes a
  lease in the store for the token's lifetime, so a captured logout token cannot be replayed.

PyJWT does the cryptography (a core dependency already); the rules above are checked here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from ..clock import Clock
from ..errors import ProviderError
from ..stores.base import SessionStore
from .provider import SIGNING_ALGORITHMS, Provider

__all__ = ["BACKCHANNEL_EVENT", "LogoutToken", "verify_logout_token"]

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: How old a logout token may be, seconds (``iat``), and how much clocks may differ.
MAX_AGE = 300
LEEWAY = 60
#: The largest logout token read, characters (a JWT of a few claims is far smaller).
MAX_TOKEN = 8192


@dataclass(frozen=True)
class LogoutToken:
    """What a verified logout token names: the provider's session (``sid``), its user
    (``sub``), or both; ``replay_key`` is the store lease that marks its ``jti`` as used (free
    it if the sessions could not be ended, so the provider's retry is not refused)."""

    provider: str
    sid: str | None
    sub: str | None
    replay_key: str = ""


def _refuse(provider: Provider, detail: str) -> ProviderError:
    return ProviderError("invalid_logout_token", provider.name, detail)


async def verify_logout_token(
    provider: Provider,
    app: Any,
    token: object,
    *,
    store: SessionStore,
    clock: Clock,
    may_refetch: Callable[[], bool] = lambda: True,
) -> LogoutToken:
    """Verify ``token`` (see the module docstring) with Authlib's ``app`` for ``provider``;
    raise :class:`ProviderError` (``invalid_logout_token``) for anything else."""
    if not provider.is_oidc:
        raise _refuse(provider, "not an OpenID provider")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        raise _refuse(provider, "no logout_token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise _refuse(provider, "not a JWT") from error
    algorithm = header.get("alg")
    if algorithm not in SIGNING_ALGORITHMS:
        raise _refuse(provider, "algorithm refused")
    try:
        metadata = await app.load_server_metadata()
        key = await _signing_key(app, header.get("kid"), may_refetch)
    except ProviderError:
        raise
    except Exception as failure:  # the JWKS could not be fetched or read
        raise ProviderError("provider_unavailable", provider.name, type(failure).__name__) from None
    if key is None:
        raise _refuse(provider, "unknown signing key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            audience=provider.client_id,
            issuer=metadata.get("issuer"),
            leeway=LEEWAY,
            options={"require": ["iss", "aud", "iat", "jti"], "verify_iat": True},
        )
    except jwt.PyJWTError as error:
        raise _refuse(provider, type(error).__name__) from None
    _check_claims(provider, claims, clock.time())
    sid, sub = _text(claims.get("sid")), _text(claims.get("sub"))
    # replay: the first use of a jti takes its lease for as long as the token could be valid
    jti = hashlib.sha256(f"{provider.name}\x00{claims['jti']}".encode()).hexdigest()
    if not await store.acquire(f"bcl/{jti}", "seen", MAX_AGE + 2 * LEEWAY):
        raise _refuse(provider, "jti replayed")
    return LogoutToken(provider.name, sid, sub, f"bcl/{jti}")


def _check_claims(provider: Provider, claims: Mapping[str, Any], now: float) -> None:
    """The logout token's own rules (section 2.4), beyond what PyJWT checked."""
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise _refuse(provider, "no back-channel logout event")
    if "nonce" in claims:
        raise _refuse(provider, "a nonce: this is not a logout token")
    if _text(claims.get("sid")) is None and _text(claims.get("sub")) is None:
        raise _refuse(provider, "neither sid nor sub")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise _refuse(provider, "no jti")
    issued = claims.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, int | float):
        raise _refuse(provider, "iat is not a time")
    if now - issued > MAX_AGE + LEEWAY:
        raise _refuse(provider, "too old")


async def _signing_key(app: Any, kid: object, may_refetch: Callable[[], bool]) -> Any:
    """The provider's public key named ``kid`` (the JWKS fetched again once when unknown, if
    ``may_refetch()`` allows it now)."""
    for force in (False, True):
        if force and not may_refetch():
            return None
        jwks = await app.fetch_jwk_set(force=force)
        try:
            keys = jwt.PyJWKSet.from_dict(jwks)
        except jwt.PyJWTError:
            continue
        for candidate in keys.keys:
            if kid is None or candidate.key_id == kid:
                return candidate.key
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
