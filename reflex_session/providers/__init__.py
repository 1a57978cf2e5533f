"""Sign-in with an identity provider (OpenID Connect or OAuth 2), on Authlib.

Needs the ``oidc`` extra (``pip install 'reflex-session[oidc]'``); nothing else in the library
imports this package, so apps without providers never load Authlib.
"""

from __future__ import annotations

from .account import AccountHooks, default_profile, user_for
from .backchannel import LogoutToken, verify_logout_token
from .flow import FLOW_TTL, ProviderSignIn, SignInResult
from .grant import Grant
from .grants import GrantKeeper
from .provider import (
    Provider,
    auth0,
    authlib_app,
    github,
    google,
    keycloak,
    microsoft_entra,
    oidc,
    okta,
)
from .service import ProviderAuth

__all__ = [
    "FLOW_TTL",
    "AccountHooks",
    "Grant",
    "GrantKeeper",
    "LogoutToken",
    "Provider",
    "ProviderAuth",
    "ProviderSignIn",
    "SignInResult",
    "auth0",
    "authlib_app",
    "default_profile",
    "github",
    "google",
    "keycloak",
    "microsoft_entra",
    "oidc",
    "okta",
    "user_for",
    "verify_logout_token",
]
