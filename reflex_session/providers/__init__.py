"""Sign-in with an identity provider (OpenID Connect or OAuth 2), on Authlib.

Needs the ``oidc`` extra (``pip install 'reflex-session[oidc]'``); nothing else in the library
imports this package, so apps without providers never load Authlib.
"""

from __future__ import annotations

from .account import AccountHooks, default_profile, user_for
from .flow import FLOW_TTL, ProviderSignIn, SignInResult
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

__all__ = [
    "FLOW_TTL",
    "AccountHooks",
    "Provider",
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
]
