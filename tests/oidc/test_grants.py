"""Provider tokens kept on the server, renewed one refresh at a time, against the real provider.

Who attacks (or just breaks things) here:

* **Two tabs and two workers** asking for an access token at the moment it expires. The provider
  rotates refresh tokens and revokes the whole grant when one is used twice, so two refreshes
  with one token would sign the user out: exactly one refresh per rotation must reach the
  provider, counted there (``/__test/stats``), and the same race without the store's lease must
  fail the same way it fails for next-auth users.
* **A grant revoked at the provider**: the next renewal is refused for good, and the session ends
  instead of going on with tokens that no longer work.
* **Someone who reads the client view or the cookie**: no provider token is in either.

The stores are real: memory, Redis and PostgreSQL (the servers scripts/test.sh starts).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from oidckit import Client, Provider, sign_in_at_provider

from reflex_session import ReflexSession
from reflex_session.cookies import CookieJar
from reflex_session.errors import ProviderError
from reflex_session.providers import AccountHooks, ProviderAuth, oidc
from reflex_session.session import Session
from reflex_session.stores import MemoryStore, RedisStore, SessionStore, SQLStore
from reflex_session.testing import FakeClock

SECRET = "grant-tests-secret-of-at-least-32-bytes!"
ORIGIN = "http://127.0.0.1:9"
BINDING = "d" * 64


def _store(kind: str, clock: FakeClock, prefix: str, table: str) -> SessionStore:
    if kind == "memory":
        return MemoryStore(clock)
    if kind == "redis":
        url = os.environ.get("REDIS_URL")
        assert url, "REDIS_URL is not set: run scripts/test.sh"
        return RedisStore(url, prefix=prefix, clock=clock)
    url = os.environ.get("DATABASE_URL")
    assert url, "DATABASE_URL is not set: run scripts/test.sh"
    return SQLStore(url, table_name=table, clock=clock)


class Worker:
    """One app process: its own store client, its own ``ReflexSession`` and ``ProviderAuth``."""

    def __init__(self, store: SessionStore, clock: FakeClock, client: Client, issuer: str) -> None:
        self.store = store
        self.auth: ReflexSession[Any] = ReflexSession(secret_key=SECRET, store=store, clock=clock)
        provider = oidc("test", issuer, client.client_id, client.client_secret)
        self.providers = ProviderAuth(self.auth, [provider])


class Deployment:
    """Workers sharing one storage (a Redis prefix, a PostgreSQL table, or one memory store)."""

    def __init__(self, kind: str, clock: FakeClock, provider: Provider, client: Client) -> None:
        self.kind = kind
        self.clock = clock
        self.provider = provider
        self.client = client
        self.prefix = f"rs-grants-{secrets.token_hex(4)}:"
        self.table = f"rs_grants_{secrets.token_hex(4)}"
        self.workers: list[Worker] = []
        self._memory: SessionStore | None = None

    def worker(self) -> Worker:
        if self.kind == "memory":
            self._memory = self._memory or MemoryStore(self.clock)
            store = self._memory
        else:
            store = _store(self.kind, self.clock, self.prefix, self.table)
        worker = Worker(store, self.clock, self.client, self.provider.issuer)
        self.workers.append(worker)
        return worker

    async def close(self) -> None:
        for worker in self.workers:
            store = worker.store
            if isinstance(store, RedisStore):
                keys = [k async for k in store.redis.scan_iter(match=self.prefix + "*")]
                if keys:
                    await store.redis.delete(*keys)
            if isinstance(store, SQLStore):
                with store.engine.begin() as conn:
                    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{self.table}"')
                    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{self.table}_csrf"')
            await store.close()


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
async def deployment(
    request: pytest.FixtureRequest, provider: Provider, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Deployment]:
    client = provider.register(
        f"{ORIGIN}/auth/callback/test",
        backchannel_logout_uri=f"{ORIGIN}/auth/backchannel-logout/test",
        backchannel_logout_session_required=True,
    )
    setup = Deployment(request.param, clock, provider, client)
    try:
        yield setup
    finally:
        await setup.close()


async def sign_in(
    worker: Worker, provider: Provider, login: str = "ada"
) -> tuple[Session[Any], CookieJar]:
    """A browser signs in with the provider through ``worker``: the session and its cookies."""
    url, flow_cookie = await worker.providers.begin(
        "test", origin=ORIGIN, return_to="/dashboard", binding=BINDING, https=False
    )
    callback = sign_in_at_provider(provider, url, login)
    query = dict(parse_qsl(urlsplit(callback).query))
    jar = worker.auth.jar(None)
    cookie = flow_cookie.split(";", 1)[0]
    session, return_to = await worker.providers.complete(
        "test", query, jar, cookie_header=cookie, binding=BINDING, https=False
    )
    assert return_to == "/dashboard"
    return session, jar


def cookie_of(jar: CookieJar) -> str:
    return next(h for h in jar.set_cookie_headers if h.startswith("session=")).split(";")[0]


# --- where the tokens are -------------------------------------------------------------------------


async def test_the_tokens_stay_on_the_server(deployment: Deployment) -> None:
    worker = deployment.worker()
    session, jar = await sign_in(worker, deployment.provider)

    token = await worker.providers.access_token(session)
    assert token
    assert deployment.provider.userinfo_works(token)
    grant = await worker.providers.grants.load(session.id)  # type: ignore[union-attr]
    assert grant is not None
    assert grant.refresh_token
    assert grant.id_token
    # nothing of the grant in the session, its client view, its cookie, or a log line of it
    assert session.access_token is None
    assert session.refresh_token is None
    view = str(worker.auth.client_view(session))
    cookie = cookie_of(jar)
    for secret in (grant.access_token, grant.refresh_token, grant.id_token):
        assert secret not in view
        assert secret not in cookie
        assert secret not in repr(grant)
    # the cookie finds the session, and the session its token
    found = await worker.auth.get_session(worker.auth.jar(cookie))
    assert found is not None
    assert await worker.providers.access_token(found) == token
    # a grant goes with its session
    await worker.auth.delete_session(worker.auth.jar(cookie))
    assert await worker.providers.grants.load(session.id) is None  # type: ignore[union-attr]


async def test_a_token_is_renewed_near_its_expiry_once(deployment: Deployment) -> None:
    worker = deployment.worker()
    session, _ = await sign_in(worker, deployment.provider)
    first = await worker.providers.access_token(session)
    grant = await worker.providers.grants.load(session.id)  # type: ignore[union-attr]
    assert grant is not None
    assert grant.expires_at is not None

    deployment.clock.advance(grant.expires_at - deployment.clock.time() - 30)  # inside the margin
    second = await worker.providers.access_token(session)
    third = await worker.providers.access_token(session)

    assert second != first
    assert third == second
    assert deployment.provider.userinfo_works(second)
    stats = deployment.provider.stats(deployment.client)
    assert stats["grants"].get("refresh_token") == 1
    assert stats["refused"] == {}


async def test_a_revoked_grant_ends_the_session(deployment: Deployment) -> None:
    worker = deployment.worker()
    session, jar = await sign_in(worker, deployment.provider)
    grant = await worker.providers.grants.load(session.id)  # type: ignore[union-attr]
    assert grant is not None
    assert grant.expires_at is not None
    assert await worker.providers.signin.revoke("test", {"refresh_token": grant.refresh_token})

    deployment.clock.advance(grant.expires_at - deployment.clock.time())
    with pytest.raises(ProviderError) as refused:
        await worker.providers.access_token(session)

    assert refused.value.reason == "grant_revoked"
    assert await worker.auth.get_session(worker.auth.jar(cookie_of(jar))) is None
    assert await worker.providers.grants.load(session.id) is None  # type: ignore[union-attr]


async def test_logout_revokes_the_grant_at_the_provider(deployment: Deployment) -> None:
    worker = deployment.worker()
    session, _ = await sign_in(worker, deployment.provider)
    grant = await worker.providers.grants.load(session.id)  # type: ignore[union-attr]
    assert grant is not None
    assert deployment.provider.userinfo_works(grant.access_token)

    leave_to = await worker.providers.sign_out_at_provider(
        session, post_logout_redirect_uri=f"{ORIGIN}/login"
    )

    assert leave_to is None  # rp_logout is off by default
    assert not deployment.provider.userinfo_works(grant.access_token)  # the whole grant is gone


# --- the race -------------------------------------------------------------------------------------

TABS, CALLS, ROTATIONS = 2, 10, 3


async def race(deployment: Deployment, workers: list[Worker], session: Session[Any]) -> list[Any]:
    """Every tab of every worker asks for a token at once, at the moment of expiry, again and
    again; what each call returned (a token or the error)."""
    answers: list[Any] = []
    for _ in range(ROTATIONS):
        grant = await workers[0].providers.grants.load(session.id)  # type: ignore[union-attr]
        if grant is None:
            break  # the session ended (the control without the lease)
        assert grant.expires_at is not None
        deployment.clock.advance(grant.expires_at - deployment.clock.time() - 1)
        calls = [
            worker.providers.access_token(session)
            for worker in workers
            for _tab in range(TABS)
            for _call in range(CALLS)
        ]
        answers += await asyncio.gather(*calls, return_exceptions=True)
    return answers


async def test_two_tabs_on_two_workers_refresh_once_per_rotation(deployment: Deployment) -> None:
    workers = [deployment.worker(), deployment.worker()]
    session, _ = await sign_in(workers[0], deployment.provider)

    answers = await race(deployment, workers, session)

    assert [a for a in answers if not isinstance(a, str)] == []
    stats = deployment.provider.stats(deployment.client)
    assert stats["grants"].get("refresh_token") == ROTATIONS
    assert stats["refused"] == {}
    last = answers[-1]
    assert all(a == last for a in answers[-len(workers) * TABS * CALLS :])
    assert deployment.provider.userinfo_works(last)


@pytest.mark.parametrize("deployment", ["redis"], indirect=True)
async def test_without_the_lease_the_same_race_signs_the_user_out(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: with the store's lease always granted (each worker still serialises its own
    tabs), both workers refresh with the same token, and the provider's reuse detection revokes
    the grant, as it does for every library without a cross-worker lock."""
    workers = [deployment.worker(), deployment.worker()]
    session, _ = await sign_in(workers[0], deployment.provider)

    async def always(self: SessionStore, key: str, owner: str, ttl: float) -> bool:
        await asyncio.sleep(0)
        return True

    monkeypatch.setattr(RedisStore, "_acquire", always)
    answers = await race(deployment, workers, session)

    refused = [a for a in answers if isinstance(a, ProviderError)]
    assert refused
    assert {a.reason for a in refused} == {"grant_revoked"}
    stats = deployment.provider.stats(deployment.client)
    assert any(key.endswith("invalid_grant") for key in stats["refused"])


# --- cookie mode -------------------------------------------------------------------------------


class CookieWorker(Worker):
    """A worker in cookie mode: no store, the tokens ride in the sealed cookie."""

    def __init__(self, clock: FakeClock, client: Client, issuer: str, **hooks: Any) -> None:
        self.auth = ReflexSession(secret_key=SECRET, clock=clock)
        provider = oidc("test", issuer, client.client_id, client.client_secret)
        self.providers = ProviderAuth(self.auth, [provider], hooks=AccountHooks(**hooks))


async def test_cookie_mode_keeps_the_tokens_sealed_in_the_cookie(
    provider: Provider, clock: FakeClock
) -> None:
    client = provider.register(f"{ORIGIN}/auth/callback/test")
    worker = CookieWorker(clock, client, provider.issuer)
    session, jar = await sign_in(worker, provider)

    assert session.access_token
    assert session.refresh_token
    assert provider.userinfo_works(session.access_token)
    cookie = cookie_of(jar)
    for token in (session.access_token, session.refresh_token):
        assert token not in cookie  # sealed (JWE), not merely encoded
        assert token not in str(worker.auth.client_view(session))
    found = await worker.auth.get_session(worker.auth.jar(cookie))
    assert found is not None
    assert await worker.providers.access_token(found) == session.access_token


async def test_cookie_mode_refuses_a_sign_in_that_would_not_fit_in_a_cookie(
    provider: Provider, clock: FakeClock
) -> None:
    """Never write a cookie the browser drops: a profile plus tokens over 4,096 bytes is a clear
    error at sign-in, nothing is written, and the message points to store mode."""
    client = provider.register(f"{ORIGIN}/auth/callback/test")

    def big_profile(result: Any) -> dict[str, Any]:
        return {"id": f"test:{result.claims['sub']}", "bio": "x" * 3000}

    worker = CookieWorker(clock, client, provider.issuer, map_profile=big_profile)
    with pytest.raises(ProviderError) as refused:
        await sign_in(worker, provider)

    assert refused.value.reason == "session_too_large"
    assert "store mode" in refused.value.detail
