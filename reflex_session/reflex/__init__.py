"""The Reflex layer: ``SessionState``, ``install``, ``@require_auth``, ``@protected``, ``@guarded``.

Everything here stands on the framework-free core in :mod:`reflex_session`.
"""

from .client import SessionClient, SessionCountdown, session_client, session_countdown
from .guard import guarded, protected, require_auth
from .install import install
from .state import SessionState

__all__ = [
    "SessionClient",
    "SessionCountdown",
    "SessionState",
    "guarded",
    "install",
    "protected",
    "require_auth",
    "session_client",
    "session_countdown",
]
