"""reflex-session: HttpOnly encrypted-cookie sessions for Reflex apps.

The core (everything importable from here) has no Reflex import; the Reflex layer lives in
:mod:`reflex_session.reflex`.
"""

from .auth import ReflexSession
from .backends import Revocations
from .clock import SYSTEM_CLOCK, Clock, SystemClock
from .codec import SessionCodec
from .config import ClientOptions, SessionConfig
from .cookies import CookieJar, CookiePolicy
from .data import SessionData
from .devices import Devices
from .errors import (
    ClaimsError,
    ConfigError,
    CookieTooLarge,
    DecryptionFailed,
    ForbiddenUpdate,
    MalformedToken,
    NoSession,
    ReflexSessionError,
    SessionError,
    TokenError,
    TokenExpired,
    TokenTooLarge,
    UnknownKey,
    UnsupportedHeader,
)
from .reasons import DEFAULT_MESSAGES, Notice, Reason, message_for, read_notice, with_reason
from .rules import Decision, RouteGuard, RouteRule, has_role, patterns, route, safe_return_to
from .session import Session, User

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MESSAGES",
    "SYSTEM_CLOCK",
    "ClaimsError",
    "ClientOptions",
    "Clock",
    "ConfigError",
    "CookieJar",
    "CookiePolicy",
    "CookieTooLarge",
    "Decision",
    "DecryptionFailed",
    "Devices",
    "ForbiddenUpdate",
    "MalformedToken",
    "NoSession",
    "Notice",
    "Reason",
    "ReflexSession",
    "ReflexSessionError",
    "Revocations",
    "RouteGuard",
    "RouteRule",
    "Session",
    "SessionCodec",
    "SessionConfig",
    "SessionData",
    "SessionError",
    "SystemClock",
    "TokenError",
    "TokenExpired",
    "TokenTooLarge",
    "UnknownKey",
    "UnsupportedHeader",
    "User",
    "__version__",
    "has_role",
    "message_for",
    "patterns",
    "read_notice",
    "route",
    "safe_return_to",
    "with_reason",
]
