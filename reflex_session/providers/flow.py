"""A sign-in with a provider, from the redirect to the callback (framework-free).

``start`` asks Authlib for the authorization URL (Authorization Code with PKCE S256, ``state``,
and ``nonce`` for OpenID) and seals what the callback will need into a short-lived cookie;
``finish`` checks the callback against that cookie, exchanges the code and verifies the ID token.

Where the flow's secrets live, and why: the PKCE verifier, ``state`` and ``nonce`` must survive
the trip to the provider and back, and must be worth nothing to anyone else. They go into their
own HttpOnly cookie (``session_flow``; ``__Host-`` on HTTPS), a JWE sealed under a key derived
for this purpose only (a flow cookie never opens as a session cookie), living 10 minutes,
``SameSite=Lax`` (the provider's redirect back is a top-level GET, which Lax cookies ride on),
and naming the browser binding digest of the browser that started it: a flow cookie copied into
another browser is refused there. The callback clears it whatever happens, so a flow is used
once. No server state is needed, so any worker can finish what another started.

What is checked at the callback, in this order: the flow cookie opens, is this browser's and
is fresh; ``state`` matches (constant time); an ``error`` from the provider becomes
``access_denied`` / ``provider_error``; the ``iss`` of RFC 9207 matches the issuer when the
provider sends it (the mix-up defence); the code is exchanged with the verifier (a replayed or
foreign code is refused by the provider); the ID token's signature (keys from the provider's
JWKS; of the algorithms it announces only asymmetric ones, never ``none`` or ``HS*``), ``iss``,
``aud`` (our client id), ``exp``, ``iat``, ``nonce`` and ``at_hash`` are verified by Authlib.
The callback route names its provider (``/auth/callback/<name>``) and must match the flow's:
for providers that send no ``iss`` that is the mix-up defence. Every failure is a
:class:`ProviderError` whose ``reason`` is one fixed word, whatever the provider sent (an
exception of any kind from a provider call is mapped, never raised as a 500); nothing is signed
in.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token

from ..clock import SYSTEM_CLOCK, Clock
from ..cookies import CookiePolicy, parse_cookie_header
from ..errors import ConfigError, ProviderError, TokenError
from ..jwe import JWEFramer
from ..keys import Keyring
from .provider import Provider, authlib_app

__all__ = ["FLOW_TTL", "ProviderSignIn", "SignInResult"]

#: How long a started sign-in may take, seconds (the user signs in at the provider meanwhile).
FLOW_TTL = 600
#: How far a worker's clock may be behind the one that started the flow, seconds.
CLOCK_SKEW = 60
_TRANSPORT = (httpx2.HTTPError, OSError)
_FLOW_FIELDS = ("p", "s", "v", "n", "r", "b", "u")


@dataclass(frozen=True)
class SignInResult:
    """A finished sign-in: who (``claims``: the verified ID token's claims, or the OAuth 2
    profile), the provider's ``token`` response (kept on the server, never sent to a page),
    and where the user was going (``return_to``, as given to ``start``)."""

    provider: Provider
    claims: dict[str, Any]
    token: dict[str, Any] = field(repr=False)  # never printed: it holds the provider's tokens
    return_to: str = "/"


class ProviderSignIn:
    """Starts and finishes sign-ins with ``providers``, sealing the flow under ``secret_keys``
    (oldest first, as the session's secrets: rotation works the same way). ``transport`` is an
    ``httpx2`` transport for every call to the providers (a proxy; a lying provider in tests)."""

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        secret_keys: Sequence[str],
        clock: Clock = SYSTEM_CLOCK,
        cookie: CookiePolicy | None = None,
        timeout: float = 10.0,
        transport: Any = None,
    ) -> None:
        self.providers = {provider.name: provider for provider in providers}
        if len(self.providers) != len(providers):
            raise ConfigError("providers", "two providers share a name")
        self._apps = {
            name: authlib_app(p, timeout=timeout, transport=transport)
            for name, p in self.providers.items()
        }
        self._framer = JWEFramer(Keyring(secret_keys, purpose="flow"))
        self.clock = clock
        #: how long one call to a provider may take, seconds
        self.timeout = timeout
        self.cookie = cookie or CookiePolicy(name="session_flow", same_site="lax")

    def app(self, name: str) -> Any:
        """Authlib's client for provider ``name`` (its metadata and keys, once loaded, are kept)."""
        return self._apps[self._provider(name).name]

    def _provider(self, name: str) -> Provider:
        """The configured provider called ``name`` (a name the app passed in, not the flow's)."""
        provider = self.providers.get(name)
        if provider is None:
            raise ProviderError("provider_error", detail="unknown provider")
        return provider

    # -- the redirect ------------------------------------------------------------------------------

    async def start(
        self,
        provider_name: str,
        *,
        redirect_uri: str,
        return_to: str,
        binding: str,
        request_is_https: bool,
    ) -> tuple[str, str]:
        """``(authorization URL, Set-Cookie header)`` for a sign-in with ``provider_name`` by the
        browser whose binding digest is ``binding``; ``return_to`` must already be safe."""
        provider = self._provider(provider_name)
        nonce = generate_token(24) if provider.is_oidc else ""
        extra = {"nonce": nonce} if nonce else {}
        try:
            prepared = await self._apps[provider.name].create_authorization_url(
                redirect_uri, **extra
            )
        except Exception as error:  # a provider's answer must never become a 500
            raise _unavailable(provider, error) from error
        flow = {
            "p": provider.name,
            "s": prepared["state"],
            "v": prepared["code_verifier"],
            "n": nonce,
            "r": return_to,
            "b": binding,
            "u": redirect_uri,
            "t": int(self.clock.time()),
        }
        sealed = self._framer.encrypt(json.dumps(flow, separators=(",", ":")).encode())
        secure = self.cookie.is_secure(request_is_https)
        return str(prepared["url"]), self.cookie.header(sealed, max_age=FLOW_TTL, secure=secure)

    # -- a grant's life ---------------------------------------------------------------------------

    async def refresh(self, provider_name: str, refresh_token: str) -> dict[str, Any]:
        """Renew a grant: the provider's token response to ``refresh_token``.

        ``grant_revoked`` when the provider refuses it for good (``invalid_grant``: used
        already, revoked, expired), so the caller ends the session; ``provider_unavailable`` for
        anything that may pass (unreachable, a 5xx, an answer that is not one), so the caller
        keeps the session and may try again.
        """
        provider = self._provider(provider_name)
        try:
            token: dict[str, Any] = await self._apps[provider.name].refresh(refresh_token)
        except AuthlibBaseError as refusal:
            error = str(getattr(refusal, "error", "") or "")
            if error == "invalid_grant":
                raise ProviderError("grant_revoked", provider.name, error) from refusal
            raise _unavailable(provider, refusal) from refusal
        except Exception as failure:  # transport, a body that is not a token response
            raise _unavailable(provider, failure) from failure
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderError("provider_unavailable", provider.name, "no access_token")
        if str(token.get("token_type", "")).lower() != "bearer":
            raise ProviderError("provider_unavailable", provider.name, "token_type is not Bearer")
        return token

    # -- the end of a sign-in ----------------------------------------------------------------------

    async def revoke(self, provider_name: str, token: Mapping[str, Any]) -> bool:
        """Revoke a sign-in's grant at the provider (RFC 7009), at logout: the refresh token
        when there is one (most providers then end the whole grant), else the access token.
        ``False`` when the provider offers no revocation or ``token`` holds nothing to revoke;
        :class:`ProviderError` (``provider_unavailable``) when the provider cannot be reached or
        refuses: the app's own logout still goes on."""
        provider = self._provider(provider_name)
        for hint in ("refresh_token", "access_token"):
            value = token.get(hint)
            if isinstance(value, str) and value:
                try:
                    revoked: bool = await self._apps[provider.name].revoke(value, hint)
                except Exception as failure:  # never let the provider fail a logout with a 500
                    raise _unavailable(provider, failure) from failure
                return revoked
        return False

    async def logout_url(
        self,
        provider_name: str,
        *,
        post_logout_redirect_uri: str,
        id_token_hint: str | None = None,
    ) -> str | None:
        """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): where to send the
        browser so the provider ends its own session too, coming back to
        ``post_logout_redirect_uri`` (registered at the provider); ``None`` when the provider
        has no ``end_session_endpoint`` (then only our session ends).

        ``id_token_hint`` is optional, and best left out when the URL goes through a page: the
        page's scripts (and the browser history) would hold the ID token. ``client_id`` alone
        identifies us; the provider then asks the user to confirm."""
        provider = self._provider(provider_name)
        if not provider.is_oidc:
            return None
        app = self._apps[provider.name]
        try:
            metadata = await app.load_server_metadata()
            if not metadata.get("end_session_endpoint"):
                return None
            prepared = await app.create_logout_url(
                post_logout_redirect_uri=post_logout_redirect_uri,
                id_token_hint=id_token_hint,
                client_id=provider.client_id,
            )
        except Exception as failure:
            raise _unavailable(provider, failure) from failure
        return str(prepared["url"])

    def clear_cookie(self, *, request_is_https: bool) -> str:
        """The ``Set-Cookie`` header that ends the flow: send it with every callback answer."""
        return self.cookie.header("", max_age=0, secure=self.cookie.is_secure(request_is_https))

    # -- the callback ------------------------------------------------------------------------------

    async def finish(
        self,
        provider_name: str,
        query: Mapping[str, str],
        *,
        cookie_header: str | None,
        binding: str | None,
        request_is_https: bool,
    ) -> SignInResult:
        """Check the callback of ``provider_name`` (the route it arrived on) against this
        browser's flow cookie, exchange the code and verify the ID token; raise
        :class:`ProviderError` for anything else."""
        flow = self._open(cookie_header, request_is_https)
        provider = self.providers.get(flow["p"])
        if provider is None:
            raise ProviderError("flow_missing", detail="the flow names no configured provider")
        if not hmac.compare_digest(provider_name.encode(), provider.name.encode()):
            # the mix-up defence for providers that send no iss: a callback arriving on another
            # provider's route is not the answer to this flow
            raise ProviderError("state_mismatch", provider.name, "callback on another route")
        if not binding or not hmac.compare_digest(flow["b"].encode(), binding.encode()):
            raise ProviderError("flow_missing", provider.name, "another browser's flow")
        age = self.clock.time() - flow["t"]
        if not -CLOCK_SKEW <= age <= FLOW_TTL:
            raise ProviderError("flow_expired", provider.name)
        state = query.get("state", "")
        if not state or not hmac.compare_digest(state.encode(), flow["s"].encode()):
            raise ProviderError("state_mismatch", provider.name)
        error = query.get("error")
        if error:
            reason = "access_denied" if error == "access_denied" else "provider_error"
            raise ProviderError(reason, provider.name, f"the provider answered {error[:64]!r}")
        app = self._apps[provider.name]
        if provider.is_oidc:
            await self._check_issuer(app, provider, query)
        code = query.get("code", "")
        if not code:
            raise ProviderError("provider_error", provider.name, "no code in the callback")
        try:
            token = await app.fetch_access_token(flow["u"], code=code, code_verifier=flow["v"])
        except AuthlibBaseError as refusal:
            raise ProviderError(
                "token_refused", provider.name, repr(getattr(refusal, "error", ""))[:64]
            ) from refusal
        except Exception as failure:  # transport, or a token response that is not one
            raise _unavailable(provider, failure) from failure
        token = dict(token)
        # RFC 6749 5.1: a token response carries an access token, and we only speak Bearer
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderError("provider_error", provider.name, "no access_token")
        if str(token.get("token_type", "")).lower() != "bearer":
            raise ProviderError("provider_error", provider.name, "token_type is not Bearer")
        claims = await self._claims(app, provider, token, flow["n"])
        return SignInResult(provider, claims, token, flow["r"])

    def _open(self, cookie_header: str | None, request_is_https: bool) -> dict[str, Any]:
        name = self.cookie.name_for(self.cookie.is_secure(request_is_https))
        sealed = parse_cookie_header(cookie_header).get(name)
        if not sealed:
            raise ProviderError("flow_missing", detail="no flow cookie")
        try:
            plaintext, _ = self._framer.decrypt(sealed)
            flow = json.loads(plaintext)
        except (TokenError, ValueError) as error:
            raise ProviderError("flow_missing", detail="the flow cookie does not open") from error
        if (
            not isinstance(flow, dict)
            or not all(isinstance(flow.get(key), str) for key in _FLOW_FIELDS)
            or type(flow.get("t")) is not int
        ):
            raise ProviderError("flow_missing", detail="the flow cookie holds no flow")
        return flow

    async def _check_issuer(self, app: Any, provider: Provider, query: Mapping[str, str]) -> None:
        """RFC 9207: an ``iss`` in the callback must be this provider's (an attacker's provider
        cannot inject its code into a sign-in started with ours)."""
        try:
            metadata = await app.load_server_metadata()
        except Exception as failure:  # unreachable, or a discovery document that is not one
            raise _unavailable(provider, failure) from failure
        issuer = query.get("iss")
        required = metadata.get("authorization_response_iss_parameter_supported") is True
        if (issuer is None and required) or (
            issuer is not None and issuer != metadata.get("issuer")
        ):
            raise ProviderError("state_mismatch", provider.name, "iss is not this provider's")

    async def _claims(
        self, app: Any, provider: Provider, token: dict[str, Any], nonce: str
    ) -> dict[str, Any]:
        if provider.is_oidc:
            if "id_token" not in token:
                raise ProviderError("invalid_id_token", provider.name, "no id_token")
            try:
                metadata = await app.load_server_metadata()
                # aud must name us: Authlib's default options check only iss, and a token for
                # another client of the same provider (with our azp) would otherwise pass
                options = {
                    "iss": {"essential": True, "value": metadata["issuer"]},
                    "aud": {"essential": True, "value": provider.client_id},
                }
                claims = await app.parse_id_token(
                    token, nonce=nonce, claims_options=options, leeway=60
                )
            except _TRANSPORT as failure:  # the JWKS could not be fetched
                raise _unavailable(provider, failure) from failure
            except Exception as error:  # JoseError, Authlib's claim errors, malformed tokens
                raise ProviderError(
                    "invalid_id_token", provider.name, type(error).__name__
                ) from error
            return dict(claims)
        try:
            response = await app.get(provider.userinfo_url, token=token)
            response.raise_for_status()
            profile = response.json()
        except Exception as failure:  # transport, a refused token, a body that is not JSON
            raise _unavailable(provider, failure) from failure
        if not isinstance(profile, dict) or "id" not in profile:
            raise ProviderError("provider_error", provider.name, "the profile has no id")
        return {**profile, "sub": str(profile["id"])}


def _unavailable(provider: Provider, failure: BaseException) -> ProviderError:
    """The error for a provider that could not be reached or answered something that is not
    an answer: the reason is fixed, the log learns only the kind of failure."""
    return ProviderError("provider_unavailable", provider.name, type(failure).__name__)
