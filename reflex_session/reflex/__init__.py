"""The Reflex layer: ``SessionState``, ``install``, ``@require_auth``, ``@protected``, ``@guarded``.

Everything here stands on the framework-free core in :mod:`reflex_session`.
"""

from .client import SessionClient, SessionCountdown, session_client, session_countdown
from .devices import DevicesState
from .forms import (
    AuthFormState,
    FormRefused,
    LoginAttempt,
    LoginResult,
    RegistrationAttempt,
    ServiceUnavailable,
)
from .guard import guarded, protected, require_auth
from .install import install
from .live import RedisRelay, notify, push_refresh, push_revocation
from .state import SessionState
from .widgets import (
    login_form,
    logout_button,
    register_form,
    session_expiry_banner,
    session_notice,
    sign_in_button,
    sign_in_buttons,
    user_menu,
)

__all__ = [
    "AuthFormState",
    "DevicesState",
    "FormRefused",
    "LoginAttempt",
    "LoginResult",
    "RedisRelay",
    "RegistrationAttempt",
    "ServiceUnavailable",
    "SessionClient",
    "SessionCountdown",
    "SessionState",
    "guarded",
    "install",
    "login_form",
    "logout_button",
    "notify",
    "protected",
    "push_refresh",
    "push_revocation",
    "register_form",
    "require_auth",
    "session_client",
    "session_countdown",
    "session_expiry_banner",
    "session_notice",
    "sign_in_button",
    "sign_in_buttons",
    "user_menu",
]
