"""The Reflex layer: ``SessionState``, ``install``, ``@require_auth``, ``@protected``, ``@guarded``.

Everything here stands on the framework-free core in :mod:`reflex_session`.
"""

from .client import SessionClient, session_client
from .guard import guarded, protected, require_auth
from .install import install
from .state import SessionState

__all__ = [
    "SessionClient",
    "SessionState",
    "guarded",
    "install",
    "protected",
    "require_auth",
    "session_client",
]
