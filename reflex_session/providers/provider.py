"""Identity providers: who signs the user in, and where to reach them.

A :class:`Provider` is configuration only, checked once when it is made (a wrong URL fails at
start-up with a :class:`~reflex_session.errors.ConfigError`, not at a user's first sign-in).
Any OpenID Connect provider is described by its issuer (discovery does the rest); the presets
below fill in the issuer of the common ones. GitHub speaks plain OAuth 2, without ID tokens, so
its preset names its endpoints and a profile URL instead.

The HTTP work is Authlib's (:func:`authlib_app`): the maintained OAuth 2 / OIDC client, never a
hand-made one. Its Starlette client is not used as is because it keeps the flow's secrets in
``request.session``; ours go into a sealed cookie bound to the browser (``flow.py``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

try:
    from authlib.integrations.base_client import BaseApp, FrameworkIntegration
    from authlib.integrations.base_client.async_app import AsyncOAuth2Mixin
    from authlib.integrations.base_client.async_openid import AsyncOpenIDMixin
    from authlib.integrations.httpx_client import AsyncOAuth2Client
except ImportError as error:  # pragma: no cover - the extra is missing
    raise ImportError(
        "provider sign-in needs Authlib: pip install 'reflex-session[oidc]'"
    ) from error

from ..errors import ConfigError

__all__ = [
    "Provider",
    "auth0",
    "authlib_app",
    "github",
    "google",
    "keycloak",
    "microsoft_entra",
    "oidc",
    "okta",
]

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _https_or_loopback(setting: str, url: str) -> None:
    """Provider URLs are HTTPS, except on this machine (a test provider): a token or a code sent
    in clear over the network is a stolen sign-in."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return
    raise ConfigError(setting, f"{url!r} is not an https:// URL", "providers are reached over TLS")


@dataclass(frozen=True)
class Provider:
    """One identity provider the app signs users in with.

    ``name`` is its id in URLs and in the session (``"google"``); ``label`` the button's text
    (``"Google"``). For OpenID Connect give ``server_metadata_url`` (the discovery document);
    for plain OAuth 2 (``kind="oauth2"``) give ``authorize_url``, ``access_token_url`` and
    ``userinfo_url``. ``scope`` is what is asked for; ``authorize_params`` are extra query
    parameters of the authorization request (``{"prompt": "select_account"}``).
    """

    name: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    server_metadata_url: str = ""
    kind: Literal["oidc", "oauth2"] = "oidc"
    label: str = ""
    scope: str = "openid email profile"
    authorize_url: str = ""
    access_token_url: str = ""
    userinfo_url: str = ""
    authorize_params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(
                "providers", f"provider name {self.name!r}", "use 1-32 of a-z, 0-9 and '-'"
            )
        if not isinstance(self.client_id, str) or not self.client_id:
            raise ConfigError("providers", f"{self.name}: client_id is empty")
        if self.kind == "oidc":
            if not self.server_metadata_url:
                raise ConfigError(
                    "providers", f"{self.name}: an OpenID provider needs server_metadata_url"
                )
            _https_or_loopback(
                f"providers[{self.name}].server_metadata_url", self.server_metadata_url
            )
            if "openid" not in self.scope.split():
                raise ConfigError("providers", f"{self.name}: an OpenID scope includes 'openid'")
            for setting in ("authorize_url", "access_token_url", "userinfo_url"):
                value = getattr(self, setting)
                if value:  # overrides what discovery says: checked as the app's own setting
                    _https_or_loopback(f"providers[{self.name}].{setting}", value)
        elif self.kind == "oauth2":
            for setting in ("authorize_url", "access_token_url", "userinfo_url"):
                value = getattr(self, setting)
                if not value:
                    raise ConfigError("providers", f"{self.name}: OAuth 2 needs {setting}")
                _https_or_loopback(f"providers[{self.name}].{setting}", value)
        else:
            raise ConfigError("providers", f"{self.name}: kind must be 'oidc' or 'oauth2'")
        # the flow's own parameters: a preset or a setting must not be able to weaken them
        reserved = {
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "response_type",
            "redirect_uri",
            "client_id",
        }
        clash = reserved & set(self.authorize_params)
        if clash:
            raise ConfigError(
                "providers", f"{self.name}: authorize_params may not set {sorted(clash)}"
            )
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("-", " ").title())

    @property
    def is_oidc(self) -> bool:
        """Whether sign-in ends with an ID token to verify (OpenID Connect)."""
        return self.kind == "oidc"


# -- presets ------------------------------------------------------------------------------------


def oidc(
    name: str, issuer: str, client_id: str, client_secret: str = "", **options: Any
) -> Provider:
    """Any OpenID Connect provider, from its issuer URL (discovery at
    ``{issuer}/.well-known/openid-configuration``)."""
    metadata = issuer.rstrip("/") + "/.well-known/openid-configuration"
    return Provider(name, client_id, client_secret, server_metadata_url=metadata, **options)


def google(client_id: str, client_secret: str, **options: Any) -> Provider:
    """Google accounts (https://accounts.google.com)."""
    options.setdefault("label", "Google")
    return oidc("google", "https://accounts.google.com", client_id, client_secret, **options)


def microsoft_entra(tenant: str, client_id: str, client_secret: str, **options: Any) -> Provider:
    """Microsoft Entra ID (Azure AD) for one tenant id (or ``organizations``/``common``, whose
    ID tokens name the user's own tenant as issuer: use a tenant id where you can)."""
    options.setdefault("label", "Microsoft")
    issuer = f"https://login.microsoftonline.com/{tenant}/v2.0"
    return oidc("microsoft", issuer, client_id, client_secret, **options)


def okta(domain: str, client_id: str, client_secret: str, **options: Any) -> Provider:
    """Okta, on its org authorization server (``dev-123.okta.com``)."""
    options.setdefault("label", "Okta")
    return oidc("okta", f"https://{domain}", client_id, client_secret, **options)


def auth0(domain: str, client_id: str, client_secret: str, **options: Any) -> Provider:
    """Auth0 (``your-tenant.eu.auth0.com``)."""
    options.setdefault("label", "Auth0")
    return oidc("auth0", f"https://{domain}/", client_id, client_secret, **options)


def keycloak(
    base_url: str, realm: str, client_id: str, client_secret: str, **options: Any
) -> Provider:
    """Keycloak: ``base_url`` is the server (``https://sso.example.com``), ``realm`` the realm."""
    options.setdefault("label", "Keycloak")
    issuer = f"{base_url.rstrip('/')}/realms/{realm}"
    return oidc("keycloak", issuer, client_id, client_secret, **options)


def github(client_id: str, client_secret: str, **options: Any) -> Provider:
    """GitHub (plain OAuth 2: no ID token; the profile comes from its API)."""
    options.setdefault("label", "GitHub")
    options.setdefault("scope", "read:user user:email")
    return Provider(
        "github",
        client_id,
        client_secret,
        kind="oauth2",
        authorize_url="https://github.com/login/oauth/authorize",
        access_token_url="https://github.com/login/oauth/access_token",
        userinfo_url="https://api.github.com/user",
        **options,
    )


# -- Authlib ------------------------------------------------------------------------------------


#: The discovery document's endpoints: the URLs the library calls or sends the browser to
_ENDPOINT_FIELDS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "revocation_endpoint",
    "end_session_endpoint",
)
#: The discovery fields the sign-in uses. Authlib hands the whole discovery document to its HTTP
#: client as keyword arguments, so a document carrying ``verify``, ``proxy`` or ``timeout`` would
#: reconfigure the client: only these names are kept.
DISCOVERY_FIELDS = frozenset(
    {
        "issuer",
        *_ENDPOINT_FIELDS,
        "id_token_signing_alg_values_supported",
        "authorization_response_iss_parameter_supported",
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "code_challenge_methods_supported",
        "token_endpoint_auth_methods_supported",
        "scopes_supported",
    }
)
#: ID token algorithms we verify: asymmetric only. ``none`` would accept an unsigned token, and
#: the ``HS*`` family would make the client secret a signing key the provider's users can guess at.
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_WELL_KNOWN = "/.well-known/openid-configuration"


def _check_endpoints(metadata: dict[str, Any], discovery_url: str) -> None:
    """Every endpoint the discovery document names is an https:// URL on a host that is not an
    internal address: plain http, a loopback, private, link-local or reserved IP literal, or
    ``localhost`` only on the discovery URL's own host (a test provider on this machine, a
    provider on the company network). An empty optional endpoint counts as absent.

    Only the discovery URL is the app's own setting; the rest comes from the provider. A
    compromised or misconfigured provider naming ``http://169.254.169.254/...`` or
    ``https://10.0.0.5/`` as its token endpoint or key set would have the server post the
    authorization code and the client secret there, or fetch from inside the network, or send
    them in clear (red team, 2026-12-07). A host *name* that resolves inside the network is not
    seen here: that is the provider's DNS, trusted as its TLS certificate is. Raises
    ``ValueError``, as every other check of the document.
    """
    home = (urlsplit(discovery_url).hostname or "").rstrip(".")
    for name in _ENDPOINT_FIELDS:
        value = metadata.get(name)
        if value is None or (value == "" and name in _OPTIONAL_ENDPOINTS):
            metadata.pop(name, None)
            continue
        parts = urlsplit(value) if isinstance(value, str) else None
        host = (parts.hostname or "").rstrip(".") if parts is not None else ""
        if parts is None or not host:
            raise ValueError(f"the discovery document's {name} is not a URL")
        if host == home and parts.scheme in ("https", "http") and host in _LOOPBACK:
            continue  # a test provider on this machine, http allowed as for its discovery URL
        if parts.scheme != "https":
            raise ValueError(f"the discovery document's {name} is not an https:// URL")
        if host != home and _internal(host):
            raise ValueError(f"the discovery document's {name} is an internal address")


#: Endpoints a provider may leave out; an empty string there means "none"
_OPTIONAL_ENDPOINTS = frozenset(
    {"userinfo_endpoint", "revocation_endpoint", "end_session_endpoint"}
)


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, in any form the system resolver reads as a number: the
    dotted quad, and the short, decimal and hex IPv4 forms (``127.1``, ``2130706433``,
    ``0x7f000001``, ``169.254.43518``), which ``ipaddress`` refuses but a connection still
    reaches (red team, 2026-12-07); ``None`` for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _internal(host: str) -> bool:
    """Whether ``host`` names this machine or an address inside a network (an IP literal)."""
    if host.lower() in _LOOPBACK or host.lower().endswith(".localhost"):
        return True
    address = _ip_literal(host)
    if address is None:
        return False  # a name: the provider's DNS
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def _checked_document(loaded: Any, url: str) -> dict[str, Any]:
    """The discovery document ``loaded`` from ``url``, reduced to the fields the library uses
    and checked: its issuer, its endpoints (:func:`_check_endpoints`), its signing algorithms
    (only asymmetric ones). Raises ``ValueError``."""
    if not isinstance(loaded, dict):
        raise ValueError("the discovery document is not a JSON object")
    metadata = {k: v for k, v in loaded.items() if k in DISCOVERY_FIELDS}
    # OpenID Connect Discovery 1.0, 4.3: the issuer is the discovery URL without its suffix
    # (a trailing "/" aside: Auth0 publishes "https://tenant/" and is found at that URL)
    issuer = metadata.get("issuer")
    if url.endswith(_WELL_KNOWN) and (
        not isinstance(issuer, str) or issuer.rstrip("/") != url[: -len(_WELL_KNOWN)].rstrip("/")
    ):
        raise ValueError("the discovery document names another issuer")
    _check_endpoints(metadata, url)
    offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    if not isinstance(offered, list):
        raise ValueError("id_token_signing_alg_values_supported is not a list")
    metadata["id_token_signing_alg_values_supported"] = [
        alg for alg in offered if alg in SIGNING_ALGORITHMS
    ] or ["RS256"]
    return metadata


class _App(AsyncOAuth2Mixin, AsyncOpenIDMixin, BaseApp):  # type: ignore[misc]
    """What Authlib's Starlette client is, minus its ``request.session`` state storage, and with
    the discovery document checked before anything uses it."""

    client_cls = AsyncOAuth2Client

    async def load_server_metadata(self) -> dict[str, Any]:
        if "_checked" in self.server_metadata:
            return dict(self.server_metadata)
        loaded = await super().load_server_metadata()
        try:
            metadata = _checked_document(loaded, self._server_metadata_url or "")
        except ValueError:
            # Authlib kept the raw document: forget it, so that the next sign-in asks again
            # (a provider that fixed its document is not refused until the app restarts)
            self.server_metadata.clear()
            raise
        self.server_metadata.clear()
        self.server_metadata.update(metadata, _loaded_at=loaded.get("_loaded_at"), _checked=True)
        return dict(self.server_metadata)

    def _get_oauth_client(self, **metadata: Any) -> Any:
        known = {k: v for k, v in metadata.items() if k in DISCOVERY_FIELDS}
        return super()._get_oauth_client(**known)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """The provider's answer to a ``refresh_token`` grant (RFC 6749 6); Authlib raises its
        ``OAuthError`` for an error answer (``invalid_grant``: refused for good)."""
        metadata = await self.load_server_metadata()
        endpoint = self.access_token_url or metadata.get("token_endpoint")
        async with self._get_oauth_client(**metadata) as client:
            token = await client.refresh_token(endpoint, refresh_token=refresh_token)
        return dict(token)

    async def revoke(self, token: str, token_type_hint: str) -> bool:
        """RFC 7009 at the provider's ``revocation_endpoint``; ``False`` when it has none.
        Raises ``RuntimeError`` when the provider answers with an error status."""
        metadata = await self.load_server_metadata()
        endpoint = metadata.get("revocation_endpoint")
        if not endpoint:
            return False
        async with self._get_oauth_client(**metadata) as client:
            response = await client.revoke_token(
                endpoint, token=token, token_type_hint=token_type_hint
            )
        if response.status_code != 200:
            raise RuntimeError(f"revocation answered {response.status_code}")
        return True


def authlib_app(provider: Provider, *, timeout: float = 10.0, transport: Any = None) -> Any:
    """Authlib's asynchronous OAuth 2 / OpenID client for ``provider`` (metadata loaded on first
    use and kept): ``create_authorization_url``, ``fetch_access_token``, ``parse_id_token``,
    ``userinfo``. PKCE is S256 on every provider. ``transport`` (an ``httpx2`` transport) is
    for a proxy, or for tests that play a provider that lies."""
    options: dict[str, Any] = {
        "scope": provider.scope,
        "code_challenge_method": "S256",
        "timeout": timeout,
    }
    if transport is not None:
        options["transport"] = transport
    return _App(
        FrameworkIntegration(provider.name),
        name=provider.name,
        client_id=provider.client_id,
        client_secret=provider.client_secret or None,
        server_metadata_url=provider.server_metadata_url or None,
        authorize_url=provider.authorize_url or None,
        access_token_url=provider.access_token_url or None,
        authorize_params=dict(provider.authorize_params) or None,
        client_kwargs=options,
    )
