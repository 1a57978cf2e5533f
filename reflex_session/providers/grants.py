"""Provider grants kept in the session store, and renewed one refresh at a time.

Where a grant lives (store mode): a record ``sid + "/grant"`` beside the session's ``sid`` and
``sid + "/data"``, owned by the same user (so "sign out everywhere" removes it in the same
atomic step) and living as long as the session could (its absolute limit), so a session refresh
never has to touch it. The browser's cookie holds only the session id; no token ever leaves the
server. For back-channel logout (:mod:`.backchannel`), each session also gets one index record
per provider ``sid`` and ``sub`` it was signed in with, ``idp/<digest>/<sid>``, owned by the
pseudo-user ``idp/<digest>`` so that ``list_for_user`` finds them all; each lives exactly as long
as its own session could, and holds our session id only, no secret.

**One refresh at a time.** Refresh tokens rotate: each works once, and most providers revoke the
whole grant when one is used twice (reuse detection, RFC 9700 4.14.2). Two tabs, or two workers,
refreshing together with the same token would throw the user out. So
:meth:`GrantKeeper.access_token`:

1. reads the grant; a token good for ``margin`` more seconds is returned at once;
2. otherwise waits its turn behind the other callers *of this process* (an ``asyncio.Lock``
   per session: they never poll the store);
3. takes the session's lease in the store (``acquire``: Redis' atomic script, a SQL row lock,
   the memory store's lock), so one caller among all workers holds it;
4. reads the grant *again* under the lease: when another worker refreshed meanwhile, its result
   is used and the provider is not asked;
5. refreshes once, within a deadline shorter than the lease (so the lease never lapses while
   the provider is still answering, however slowly it trickles), writes the rotated grant (one
   atomic ``replace_data``) and frees the lease.

A caller that finds the lease taken polls the grant until the holder has written the new one
(or the lease expires, if the holder died). The lease lasts longer than the provider call may
take (``timeout``), so it cannot lapse while its holder is still waiting for the provider.

A refresh refused for good (``grant_revoked``) ends the session at once, in the store; the
caller (the Reflex layer) then signs every open tab out. A provider that is down leaves the
session as it is (``provider_unavailable``): the next call tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable

from ..backends.store import GRANT_SUFFIX
from ..clock import Clock
from ..errors import ProviderError
from ..stores.base import SessionStore
from .flow import ProviderSignIn
from .grant import Grant

__all__ = ["GRANT_SUFFIX", "LEASE_SUFFIX", "GrantKeeper", "index_key"]

LEASE_SUFFIX = "/grant-lease"
#: How often a caller waiting for another worker's refresh looks at the grant, seconds.
POLL = 0.02
#: Seconds of the lease left unused by the provider call (the write and the release after it).
LEASE_SPARE = 5.0


def index_key(provider: str, kind: str, value: str) -> str:
    """The pseudo-user owning the index records of a provider's ``sid`` or ``sub``: a digest,
    so the key has a fixed length and the store holds no provider identifier in clear."""
    digest = hashlib.sha256(f"{provider}\x00{kind}\x00{value}".encode()).hexdigest()
    return f"idp/{digest}"


class GrantKeeper:
    """The grants of store-mode sessions: saved at sign-in, renewed on demand, ended with the
    session (see the module docstring)."""

    def __init__(
        self,
        store: SessionStore,
        signin: ProviderSignIn,
        *,
        clock: Clock,
        end_session: Callable[[str], Awaitable[None]],
        margin: float = 60.0,
        lease: float = 30.0,
    ) -> None:
        if margin < 0:
            raise ValueError("margin must be zero or more seconds")
        self.store = store
        self.signin = signin
        self.clock = clock
        self.margin = margin
        #: the lease outlives the provider call it covers (the call's timeout) with room to spare
        self.lease = lease
        self._end_session = end_session
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- records ----------------------------------------------------------------------------------

    async def save(self, sid: str, user_id: str, grant: Grant, until: float) -> None:
        """Keep ``grant`` for session ``sid`` of ``user_id`` until ``until`` (Unix seconds)."""
        record = grant.to_record()
        await self.store.set(sid + GRANT_SUFFIX, record, user_id=user_id, expires_at=until)
        for kind, value in (("sid", grant.provider_sid), ("sub", grant.subject)):
            if value:
                owner = index_key(grant.provider, kind, value)
                await self.store.set(
                    f"{owner}/{sid}", {"session": sid}, user_id=owner, expires_at=until
                )

    async def load(self, sid: str) -> Grant | None:
        """The grant of session ``sid`` (``None``: none, or the session ended)."""
        record = await self.store.get(sid + GRANT_SUFFIX)
        return Grant.from_record(record.data) if record else None

    async def sessions_for(self, provider: str, kind: str, value: str) -> list[str]:
        """Our session ids whose grant names the provider's ``sid`` or ``sub`` ``value``."""
        records = await self.store.list_for_user(index_key(provider, kind, value))
        found = (record.data.get("session") for record in records)
        return [sid for sid in found if isinstance(sid, str)]

    async def forget(self, sid: str) -> None:
        """Remove the grant of ``sid`` (its session ended)."""
        await self.store.destroy(sid + GRANT_SUFFIX)

    # -- a valid access token ---------------------------------------------------------------------

    async def access_token(self, sid: str) -> str | None:
        """A valid access token for session ``sid``, renewed when it is within ``margin`` of
        its expiry; ``None`` when the session has no grant (signed in without a provider).

        Raises :class:`ProviderError`: ``grant_revoked`` when the provider refused the renewal
        for good (the session has been ended), ``provider_unavailable`` when it could not be
        asked (the session stays; try again later).
        """
        grant = await self.load(sid)
        if grant is None:
            return None
        if grant.is_fresh(self.clock.time(), self.margin):
            return grant.access_token
        lock = self._locks.get(sid)
        if lock is None:
            lock = self._locks[sid] = asyncio.Lock()
        async with lock:
            return await self._renew(sid)

    async def _renew(self, sid: str) -> str | None:
        owner = secrets.token_urlsafe(16)
        give_up = time.monotonic() + self.lease + self.signin_timeout
        while True:
            grant = await self.load(sid)
            if grant is None:
                raise ProviderError("grant_revoked", detail="the session ended meanwhile")
            if grant.is_fresh(self.clock.time(), self.margin):
                return grant.access_token  # another caller, here or on another worker, renewed it
            if not grant.refresh_token:
                return await self._without_refresh_token(sid, grant)
            if await self.store.acquire(sid + LEASE_SUFFIX, owner, self.lease):
                try:
                    return await self._refresh_under_lease(sid)
                finally:
                    await self.store.release(sid + LEASE_SUFFIX, owner)
            if time.monotonic() > give_up:
                raise ProviderError(
                    "provider_unavailable", grant.provider, "another refresh did not finish"
                )
            await asyncio.sleep(POLL)

    @property
    def signin_timeout(self) -> float:
        """How long one provider call may take (the sign-in client's timeout)."""
        return self.signin.timeout

    async def _refresh_under_lease(self, sid: str) -> str:
        # read again: a refresh that finished between our read and our lease is not repeated
        grant = await self.load(sid)
        if grant is None:
            raise ProviderError("grant_revoked", detail="the session ended meanwhile")
        if grant.is_fresh(self.clock.time(), self.margin):
            return grant.access_token
        assert grant.refresh_token is not None  # checked by the caller; a grant is immutable
        try:
            # the lease must outlive the call: a per-read timeout alone lets a provider that
            # trickles its answer hold the call far longer
            async with asyncio.timeout(max(1.0, self.lease - LEASE_SPARE)):
                token = await self.signin.refresh(grant.provider, grant.refresh_token)
        except TimeoutError:
            raise ProviderError(
                "provider_unavailable", grant.provider, "refresh timed out"
            ) from None
        except ProviderError as error:
            if error.reason == "grant_revoked":
                await self._end_session(sid)
            raise
        renewed = grant.renewed(token, self.clock.time())
        # one atomic write, under the lease: owner and expiry of the record stay as they were
        if not await self.store.replace_data(sid + GRANT_SUFFIX, renewed.to_record()):
            # the session ended while the provider answered: its new tokens must not outlive it
            await self._revoke_quietly(renewed)
            raise ProviderError("grant_revoked", grant.provider, "the session ended meanwhile")
        return renewed.access_token

    async def _revoke_quietly(self, grant: Grant) -> None:
        token = {"refresh_token": grant.refresh_token, "access_token": grant.access_token}
        # best effort: the provider's own expiry ends it otherwise
        with contextlib.suppress(ProviderError):
            await self.signin.revoke(grant.provider, token)

    async def _without_refresh_token(self, sid: str, grant: Grant) -> str:
        """A grant that cannot be renewed: its token while it lasts, then the session ends."""
        if grant.expires_at is not None and grant.expires_at <= self.clock.time():
            await self._end_session(sid)
            raise ProviderError("grant_revoked", grant.provider, "expired, no refresh token")
        return grant.access_token
