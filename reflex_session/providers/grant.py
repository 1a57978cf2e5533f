"""What a provider sign-in leaves on the server: the grant (its tokens, and who it names).

A :class:`Grant` is the provider's token response reduced to what the app needs later:

* the access token and when it expires (``expires_at``, Unix seconds; ``None`` when the provider
  did not say), so :meth:`Grant.is_fresh` can tell whether it must be renewed;
* the refresh token, to renew it (most providers rotate it: each one works once);
* the ID token, kept only as the ``id_token_hint`` of RP-initiated logout;
* the provider's session id (the ID token's ``sid``) and subject (``sub``), so a back-channel
  logout, which names either, finds the sessions it ends.

It is a value: renewing returns a new grant. Its ``repr`` never shows a token, so logging one
leaks nothing. The store form is a JSON object with the reference's camelCase keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Grant"]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Grant:
    """A provider's grant as the server keeps it (see the module docstring)."""

    provider: str
    access_token: str = field(repr=False)
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    provider_sid: str | None = None
    subject: str | None = None

    @classmethod
    def from_token(
        cls, provider: str, token: Mapping[str, Any], claims: Mapping[str, Any], now: float
    ) -> Grant:
        """The grant of a finished sign-in: its token response and verified claims."""
        access = _text(token.get("access_token"))
        if access is None:
            raise ValueError("a token response without an access token")
        return cls(
            provider=provider,
            access_token=access,
            expires_at=_expiry(token, now),
            refresh_token=_text(token.get("refresh_token")),
            id_token=_text(token.get("id_token")),
            provider_sid=_text(claims.get("sid")),
            subject=_text(claims.get("sub")),
        )

    def renewed(self, token: Mapping[str, Any], now: float) -> Grant:
        """This grant after a refresh answered ``token``: a provider that does not rotate its
        refresh tokens leaves the old one in force, so it is kept when none came back."""
        access = _text(token.get("access_token"))
        if access is None:
            raise ValueError("a refresh answer without an access token")
        return replace(
            self,
            access_token=access,
            expires_at=_expiry(token, now),
            refresh_token=_text(token.get("refresh_token")) or self.refresh_token,
        )

    def is_fresh(self, now: float, margin: float) -> bool:
        """Whether the access token is good for at least ``margin`` more seconds (a token with
        no known expiry is taken as good: the provider will say when it is not)."""
        return self.expires_at is None or self.expires_at - margin > now

    def to_record(self) -> dict[str, Any]:
        """The store form (camelCase, as everything the library stores)."""
        return {
            "provider": self.provider,
            "accessToken": self.access_token,
            "expiresAt": self.expires_at,
            "refreshToken": self.refresh_token,
            "idToken": self.id_token,
            "providerSid": self.provider_sid,
            "subject": self.subject,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Grant | None:
        """The grant a stored record holds; ``None`` for one this version cannot read."""
        provider, access = _text(data.get("provider")), _text(data.get("accessToken"))
        expires = data.get("expiresAt")
        if provider is None or access is None:
            return None
        if expires is not None and (
            isinstance(expires, bool)
            or not isinstance(expires, int | float)
            or not math.isfinite(expires)
        ):
            return None
        return cls(
            provider=provider,
            access_token=access,
            expires_at=None if expires is None else float(expires),
            refresh_token=_text(data.get("refreshToken")),
            id_token=_text(data.get("idToken")),
            provider_sid=_text(data.get("providerSid")),
            subject=_text(data.get("subject")),
        )


#: The longest access-token lifetime believed, seconds (a year): a provider saying more is
#: taken at this, so a grant is still renewed now and then.
MAX_LIFETIME = 365 * 24 * 3600


def _expiry(token: Mapping[str, Any], now: float) -> float | None:
    """When the access token expires: ``expires_in`` (RFC 6749) counted from ``now``, the time
    the answer arrived; ``None`` when the provider gave no usable lifetime.

    Never raises, whatever the provider sent (``"²"``, ``10**400``, ``"9" * 400``): this runs
    after the provider rotated the refresh token, and an exception here would lose the new one.
    """
    lifetime = token.get("expires_in")
    if isinstance(lifetime, str):
        if not (lifetime.isascii() and lifetime.isdigit() and len(lifetime) <= 12):
            return None
        lifetime = int(lifetime)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float):
        return None
    try:
        seconds = float(min(lifetime, MAX_LIFETIME))
    except (OverflowError, ValueError):
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return now + seconds
