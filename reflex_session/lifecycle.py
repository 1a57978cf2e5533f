"""The session lifecycle as pure functions of (session, now, policy).

No I/O, no cookies, no clock reads: the caller passes ``now``. The facade
(:class:`reflex_session.ReflexSession`) reads the clock once per operation and applies these rules,
which keeps every expiry rule testable in microseconds.

The rules
---------
* **Idle expiry** (``session_expiry``): a session not re-issued for this long is over.
* **Absolute expiry** (``max_lifetime``): no refresh moves ``expires_at`` past
  ``created_at + max_lifetime`` (OWASP ASVS 7.3.1 / 7.3.2: an idle *and* an absolute timeout).
* **Refresh threshold** (``refresh_threshold``): a read re-issues the cookie once the cookie is at
  least ``refresh_threshold`` seconds old (counted from ``last_activity``, the moment it was last
  issued). So an active user slides forward, and the cookie is written at most once per threshold
  window however busy the user is. A session already pinned at its absolute limit is not re-issued
  (there is nothing to extend).

Timestamps are milliseconds, as on the wire; issue times are whole seconds (JWT ``iat``/``exp``
are seconds), so a session reads back from its cookie exactly as it was written.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ForbiddenUpdate
from .session import Session, UserT, deep_merge

__all__ = [
    "Policy",
    "is_expired",
    "merged",
    "new_session",
    "new_session_id",
    "refreshed",
    "should_refresh",
]


@dataclass(frozen=True, slots=True)
class Policy:
    """The time rules, in seconds."""

    session_expiry: int
    refresh_threshold: int
    max_lifetime: int


def new_session_id() -> str:
    """128 bits from the OS CSPRNG, base64url (22 characters)."""
    return secrets.token_urlsafe(16)


def _whole_second_ms(now_ms: int) -> int:
    return (now_ms // 1000) * 1000


def expires_at_for(created_at: int, issued_at: int, policy: Policy) -> int:
    """``min(issued + idle, created + absolute)`` in ms, on a whole second."""
    return min(
        issued_at + policy.session_expiry * 1000,
        _whole_second_ms(created_at) + policy.max_lifetime * 1000,
    )


def new_session(
    user: UserT,
    *,
    now_ms: int,
    policy: Policy,
    access_token: str | None = None,
    refresh_token: str | None = None,
    id_factory: Callable[[], str] = new_session_id,
) -> Session[UserT]:
    """A fresh session for ``user``, issued at ``now_ms``, with a new id.

    ``created_at`` keeps the millisecond; the issue time is truncated to the second, as the cookie's
    ``iat`` is, so the session reads back from its cookie exactly as it was made.
    """
    issued = _whole_second_ms(now_ms)
    return Session(
        id=id_factory(),
        user=user,
        created_at=now_ms,
        last_activity=issued,
        expires_at=expires_at_for(now_ms, issued, policy),
        access_token=access_token,
        refresh_token=refresh_token,
    )


def is_expired(session: Session[Any], now_ms: int) -> bool:
    """Whether ``session`` is over at ``now_ms``; it is from the ``expires_at`` millisecond on."""
    return now_ms >= session.expires_at


def should_refresh(session: Session[Any], now_ms: int, policy: Policy) -> bool:
    """True when a read should re-issue the cookie (see the module docstring)."""
    if is_expired(session, now_ms):
        return False
    if now_ms - session.last_activity < policy.refresh_threshold * 1000:
        return False
    return expires_at_for(session.created_at, _whole_second_ms(now_ms), policy) > session.expires_at


def refreshed(session: Session[UserT], now_ms: int, policy: Policy) -> Session[UserT]:
    """The same session, re-issued now: later idle expiry, capped by the absolute one.

    Never earlier than its last issue: a worker whose clock is behind (within the leeway) must not
    move the session back in time, which would also put ``iat`` before ``createdAt``.
    """
    issued = max(_whole_second_ms(now_ms), session.last_activity)
    return session.replace(
        last_activity=issued,
        expires_at=expires_at_for(session.created_at, issued, policy),
    )


UNSET: Any = object()


def merged(
    session: Session[UserT],
    *,
    user: Mapping[str, Any] | None = None,
    access_token: str | None = UNSET,
    refresh_token: str | None = UNSET,
) -> Session[UserT]:
    """``session`` with ``user`` deep-merged in and the tokens replaced if given.

    Nothing absent from the update is lost. ``user.id`` cannot change (a different user is a
    new login, which must get a new session id).
    """
    changes: dict[str, Any] = {}
    if user is not None:
        if not isinstance(user, Mapping):
            raise ForbiddenUpdate("user", "must be an object")
        if "id" in user and str(user["id"]) != session.user.id:
            raise ForbiddenUpdate("user.id", "the user of a session cannot change; log in again")
        data = deep_merge(session.user.to_wire(), user)
        try:
            changes["user"] = type(session.user).from_wire(data)
        except (TypeError, ValueError) as exc:
            raise ForbiddenUpdate("user", str(exc)) from None
    for name, value in (("access_token", access_token), ("refresh_token", refresh_token)):
        if value is not UNSET:
            if value is not None and not isinstance(value, str):
                raise ForbiddenUpdate(name, "must be a string or None")
            changes[name] = value
    return session.replace(**changes) if changes else session
