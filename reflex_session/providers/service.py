"""``ProviderAuth``: provider sign-in joined to the session engine (framework-free).

One object per app, given to ``install(app, auth, providers=...)``. It owns the pieces the
framework layers call:

* :meth:`ProviderAuth.begin` and :meth:`ProviderAuth.complete`: a sign-in from the button to a
  signed-in session (the flow of :mod:`.flow`, the hooks of :mod:`.account`);
* :meth:`ProviderAuth.access_token`: a valid access token for server code, renewed one refresh at
  a time (:mod:`.grants`);
* :meth:`ProviderAuth.sign_out_at_provider`: revocation (RFC 7009) and the RP-initiated logout
  URL, at the user's own logout;
* :meth:`ProviderAuth.backchannel_logout`: the provider's logout token, verified
  (:mod:`.backchannel`), ending the sessions it names.

Where the tokens live. In store mode, in the store beside the session (:mod:`.grants`): renewal,
revocation and back-channel logout all work. In cookie mode there is no server-side place: the
access and refresh tokens go into the sealed, HttpOnly session cookie (``Session.access_token``
/ ``refresh_token``, never in the client view unless ``expose_tokens``), the ID token is not
kept, and a sign-in whose tokens would push the cookie past 4,096 bytes is refused with
``session_too_large`` rather than written as a cookie the browser would drop. Renewal in cookie
mode would need every tab and worker to agree on one rotated token without a shared place to
put it, so :meth:`ProviderAuth.access_token` returns the cookie's token as it is; back-channel
logout needs store mode too (there is nothing to end on the server). Use store mode with
providers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..backends.store import StoreBackend
from ..cookies import CookieJar, CookiePolicy
from ..errors import ConfigError, CookieTooLarge, ProviderError
from ..session import Session
from .account import AccountHooks, user_for
from .backchannel import LogoutToken, verify_logout_token
from .flow import ProviderSignIn
from .grant import Grant
from .grants import GrantKeeper
from .provider import Provider

if TYPE_CHECKING:
    from ..auth import ReflexSession

__all__ = ["ProviderAuth"]

log = logging.getLogger("reflex_session.providers")

#: The flow cookie is named after the session cookie: ``session`` -> ``session_flow``.
FLOW_SUFFIX = "_flow"
#: Seconds between two JWKS downloads forced by logout tokens naming unknown keys.
REFETCH_INTERVAL = 60.0


class ProviderAuth:
    """Sign-in with ``providers`` for the sessions of ``auth`` (see the module docstring).

    ``hooks``: the app's profile mapper, sign-in check and (dangerous) account linking.
    ``refresh_margin``: renew an access token this many seconds before it expires.
    ``rp_logout``: send the browser to the provider's ``end_session_endpoint`` at logout, so
    the provider's own session ends too (otherwise only ours ends, and the grant is revoked).
    ``base_path``: where ``install()`` mounts ``/signin/<name>``, ``/callback/<name>`` and
    ``/backchannel-logout/<name>``. ``public_url``: this app's address as users reach it
    (``https://app.example.com``), for the redirect and post-logout URIs; without it they are
    built from each request's ``Host`` (fine behind a proxy that sets it, since the provider
    accepts only the URIs registered with it). ``transport``: an ``httpx2`` transport for every
    provider call (a proxy; tests).
    """

    def __init__(
        self,
        auth: ReflexSession[Any],
        providers: Sequence[Provider],
        *,
        hooks: AccountHooks | None = None,
        refresh_margin: float = 60.0,
        rp_logout: bool = False,
        base_path: str = "/auth",
        public_url: str | None = None,
        timeout: float = 10.0,
        transport: Any = None,
    ) -> None:
        if public_url is not None and not public_url.startswith(("https://", "http://")):
            raise ConfigError("public_url", "must be an http(s) URL, e.g. https://app.example.com")
        self.public_url = public_url.rstrip("/") if public_url else None
        self.auth = auth
        self.hooks = hooks or AccountHooks()
        self.rp_logout = rp_logout
        self.base_path = "/" + base_path.strip("/")
        policy = auth.cookie_policy
        self.signin = ProviderSignIn(
            providers,
            secret_keys=auth.config.secrets,
            clock=auth.clock,
            cookie=CookiePolicy(
                name=policy.name + FLOW_SUFFIX,
                same_site="lax",  # the provider's redirect back is a cross-site top-level GET
                secure=policy.secure,
                host_prefix=policy.host_prefix,
            ),
            timeout=timeout,
            transport=transport,
        )
        backend = auth.backend
        self._backend: StoreBackend[Any] | None = (
            backend if isinstance(backend, StoreBackend) else None
        )
        self.grants: GrantKeeper | None = None
        if self._backend is not None:
            self.grants = GrantKeeper(
                self._backend.store,
                self.signin,
                clock=auth.clock,
                end_session=self._backend.destroy,
                margin=refresh_margin,
                lease=2 * timeout + 5,
            )
        #: provider name -> when (monotonic) a logout token last forced a JWKS download
        self._refetched: dict[str, float] = {}

    @property
    def providers(self) -> list[Provider]:
        """The configured providers, in the order given (the login form shows them so)."""
        return list(self.signin.providers.values())

    def path(self, kind: str, provider: str) -> str:
        """The route of ``kind`` (``signin``, ``callback``, ``backchannel-logout``) for a
        provider: what to register at the provider as redirect / back-channel URI."""
        return f"{self.base_path}/{kind}/{provider}"

    # -- signing in -------------------------------------------------------------------------------

    async def begin(
        self, provider: str, *, origin: str, return_to: str, binding: str, https: bool
    ) -> tuple[str, str]:
        """``(provider URL, flow Set-Cookie)`` for a sign-in with ``provider``; ``origin`` is
        the request's ``scheme://host`` (``public_url`` wins), ``return_to`` an already safe
        path."""
        return await self.signin.start(
            provider,
            redirect_uri=(self.public_url or origin) + self.path("callback", provider),
            return_to=return_to,
            binding=binding,
            request_is_https=https,
        )

    async def complete(
        self,
        provider: str,
        query: Mapping[str, str],
        jar: CookieJar,
        *,
        cookie_header: str | None,
        binding: str | None,
        https: bool,
        meta: Mapping[str, str] | None = None,
    ) -> tuple[Session[Any], str]:
        """Finish a sign-in at the callback: the new session (written to ``jar``) and where the
        user was going. Raises :class:`ProviderError`; nothing is signed in then."""
        result = await self.signin.finish(
            provider, query, cookie_header=cookie_header, binding=binding, request_is_https=https
        )
        user = await user_for(result, self.hooks)
        auth = self.auth
        if self.grants is None:
            try:
                session = await auth.create_session(
                    jar,
                    user,
                    access_token=result.token.get("access_token"),
                    refresh_token=result.token.get("refresh_token"),
                    meta=meta,
                )
            except CookieTooLarge as error:
                raise ProviderError(
                    "session_too_large",
                    provider,
                    "the provider's tokens do not fit in a cookie: use store mode",
                ) from error
            return session, result.return_to
        session = auth.new_session(user)
        grant = Grant.from_token(provider, result.token, result.claims, auth.clock.time())
        until = session.created_at / 1000 + auth.policy.max_lifetime
        # the grant first: the session is never signed in without its tokens
        await self.grants.save(session.id, session.user.id, grant, until)
        session = await auth.create_session(jar, session, meta=meta)
        return session, result.return_to

    # -- a signed-in session ----------------------------------------------------------------------

    async def access_token(self, session: Session[Any]) -> str | None:
        """A valid access token for ``session`` (``None``: not signed in with a provider).

        Store mode renews it within ``refresh_margin`` of its expiry, once across every tab
        and worker; ``ProviderError("grant_revoked")`` means the session has just ended.
        """
        if self.grants is None:
            return session.access_token
        return await self.grants.access_token(session.id)

    async def sign_out_at_provider(
        self, session: Session[Any], *, post_logout_redirect_uri: str
    ) -> str | None:
        """At the user's logout, before the session ends: revoke the grant at the provider
        (best effort: a provider that is down never blocks a logout) and, with ``rp_logout``,
        return the provider's logout URL to send the browser to (else ``None``).

        The URL names us by ``client_id``, never by the ID token (``id_token_hint``): it goes
        through the page, whose scripts and history must not hold a token.
        ``post_logout_redirect_uri`` is made absolute with ``public_url`` when it is a path.
        """
        if self.grants is not None:
            grant = await self.grants.load(session.id)
            if grant is None:
                return None
            name = grant.provider
            token = {"refresh_token": grant.refresh_token, "access_token": grant.access_token}
        else:  # cookie mode: the tokens are in the session itself
            named = self._cookie_provider(session)
            if named is None or not (session.refresh_token or session.access_token):
                return None
            name = named
            token = {"refresh_token": session.refresh_token, "access_token": session.access_token}
        try:
            await self.signin.revoke(name, token)
        except ProviderError as error:
            log.warning("could not revoke the grant at %s: %s", name, error.reason)
        if not self.rp_logout:
            return None
        if post_logout_redirect_uri.startswith("/") and self.public_url:
            post_logout_redirect_uri = self.public_url + post_logout_redirect_uri
        try:
            return await self.signin.logout_url(
                name, post_logout_redirect_uri=post_logout_redirect_uri
            )
        except ProviderError as error:
            log.warning("no RP logout URL from %s: %s", name, error.reason)
            return None

    def _cookie_provider(self, session: Session[Any]) -> str | None:
        """Which provider a cookie-mode session signed in with: the user's ``provider`` field
        (``default_profile`` sets it), else the only one configured."""
        named = session.user.extra.get("provider")
        if isinstance(named, str) and named in self.signin.providers:
            return named
        return next(iter(self.signin.providers)) if len(self.signin.providers) == 1 else None

    def _may_refetch(self, provider: str) -> bool:
        """At most one JWKS download per minute forced by a logout token naming an unknown key:
        the endpoint takes anyone's POST, and must not make us hammer the provider."""
        now = time.monotonic()
        if now - self._refetched.get(provider, -REFETCH_INTERVAL) < REFETCH_INTERVAL:
            return False
        self._refetched[provider] = now
        return True

    async def backchannel_logout(self, provider: str, logout_token: object) -> list[str]:
        """End the sessions a provider's logout token names; return their users' ids (to sign
        their open tabs out). Raises :class:`ProviderError` for a token that does not verify."""
        known = self.signin.providers.get(provider)
        if known is None:
            raise ProviderError("invalid_logout_token", detail="unknown provider")
        if self.grants is None or self._backend is None:
            raise ProviderError("invalid_logout_token", provider, "needs store mode")
        store = self._backend.store
        verified: LogoutToken = await verify_logout_token(
            known,
            self.signin.app(provider),
            logout_token,
            store=store,
            clock=self.auth.clock,
            may_refetch=lambda: self._may_refetch(provider),
        )
        try:
            return await self._end_named(provider, verified)
        except Exception:
            # nothing (or not everything) ended: the provider's retry must not be a "replay"
            await store.release(verified.replay_key, "seen")
            raise

    async def _end_named(self, provider: str, verified: LogoutToken) -> list[str]:
        # both checked by the caller (store mode)
        assert self.grants is not None
        assert self._backend is not None
        # sid names one provider session; without it, every session of the user (sub)
        kind, value = ("sid", verified.sid) if verified.sid else ("sub", verified.sub or "")
        users: list[str] = []
        for sid in await self.grants.sessions_for(provider, kind, value):
            grant = await self.grants.load(sid)
            if grant is None or grant.provider != provider:
                continue
            if verified.sub and grant.subject and grant.subject != verified.sub:
                continue  # a sid reused for another user is not this logout's
            ended = await self._backend.find(sid)
            await self._backend.destroy(sid)
            if ended is not None:
                users.append(ended.user.id)
        log.info("back-channel logout from %s ended %d session(s)", provider, len(users))
        return users
