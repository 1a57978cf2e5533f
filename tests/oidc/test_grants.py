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

import httpx2
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


# --- red-team regressions ------------------------------------------------------------------------


async def test_a_later_session_stays_in_the_back_channel_index_after_an_earlier_one_ends(
    deployment: Deployment,
) -> None:
    """The index once lived in one record whose expiry was the first session's: when that one
    reached its absolute limit, a logout token found none of the user's later sessions."""
    worker = deployment.worker()
    first, _ = await sign_in(worker, deployment.provider)
    lifetime = worker.auth.policy.max_lifetime
    deployment.clock.advance(lifetime - 3600)
    second, _ = await sign_in(worker, deployment.provider)
    deployment.clock.advance(7200)  # the first session is past its absolute limit now

    grants = worker.providers.grants
    assert grants is not None
    found = await grants.sessions_for("test", "sub", "ada")
    assert second.id in found
    assert first.id not in found


@pytest.mark.parametrize(
    "lifetime",
    ["²", 10**400, "9" * 400, float("nan"), float("inf"), -5, True],
    ids=["superscript-two", "ten-to-the-400", "400-nines", "nan", "inf", "negative", "bool"],
)
def test_an_odd_expires_in_never_loses_the_rotated_refresh_token(lifetime: Any) -> None:
    from reflex_session.providers import Grant

    grant = Grant("test", "old-access", 1000.0, "old-refresh")
    renewed = grant.renewed(
        {"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": lifetime},
        2000.0,
    )
    assert renewed.refresh_token == "new-refresh"
    assert renewed.expires_at is None or 2000.0 < renewed.expires_at <= 2000.0 + 366 * 86400


class SlowProvider:
    """A provider that answers a refresh after ``delay`` seconds (trickling, say)."""

    timeout = 1.0

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    async def refresh(self, name: str, refresh_token: str) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return {"access_token": "late", "token_type": "Bearer", "expires_in": 300}

    async def revoke(self, name: str, token: Any) -> bool:
        return True


async def test_a_refresh_never_outlives_its_lease(clock: FakeClock) -> None:
    from reflex_session.providers import Grant, GrantKeeper

    store = MemoryStore(clock)
    slow = SlowProvider(delay=30)
    ended: list[str] = []

    async def end(sid: str) -> None:
        ended.append(sid)

    keeper = GrantKeeper(store, slow, clock=clock, end_session=end, lease=6.0)  # type: ignore[arg-type]
    stale = Grant("test", "a", clock.time() + 10, "r")
    await keeper.save("s1", "u1", stale, clock.time() + 3600)
    started = asyncio.get_running_loop().time()
    with pytest.raises(ProviderError) as refused:
        await keeper.access_token("s1")
    waited = asyncio.get_running_loop().time() - started
    assert refused.value.reason == "provider_unavailable"
    assert waited < 6.0  # cut before the lease (6 s) could lapse under it
    assert ended == []  # a slow provider ends no session


async def test_rp_logout_url_never_carries_the_id_token(deployment: Deployment) -> None:
    worker = deployment.worker()
    worker.providers.rp_logout = True
    session, _ = await sign_in(worker, deployment.provider)
    grant = await worker.providers.grants.load(session.id)  # type: ignore[union-attr]
    assert grant is not None
    assert grant.id_token

    url = await worker.providers.sign_out_at_provider(
        session, post_logout_redirect_uri=f"{ORIGIN}/login"
    )

    assert url is not None
    assert url.startswith(deployment.provider.issuer)
    assert "client_id=" in url
    assert "id_token_hint" not in url
    assert grant.id_token not in url


async def test_cookie_mode_logout_revokes_the_grant(provider: Provider, clock: FakeClock) -> None:
    client = provider.register(f"{ORIGIN}/auth/callback/test")
    worker = CookieWorker(clock, client, provider.issuer)
    session, _ = await sign_in(worker, provider)
    assert session.access_token
    assert provider.userinfo_works(session.access_token)

    await worker.providers.sign_out_at_provider(session, post_logout_redirect_uri="/login")

    assert not provider.userinfo_works(session.access_token)


async def test_public_url_names_the_redirect_uri_whatever_the_host(
    provider: Provider, clock: FakeClock
) -> None:
    client = provider.register("https://app.example.test/auth/callback/test")
    auth: ReflexSession[Any] = ReflexSession(
        secret_key=SECRET, store=MemoryStore(clock), clock=clock
    )
    providers = ProviderAuth(
        auth,
        [oidc("test", provider.issuer, client.client_id, client.client_secret)],
        public_url="https://app.example.test",
    )
    url, _ = await providers.begin(
        "test", origin="http://attacker.example", return_to="/", binding=BINDING, https=False
    )
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["redirect_uri"] == "https://app.example.test/auth/callback/test"


class CountingTransport(httpx2.AsyncHTTPTransport):
    """The real network, counting the JWKS downloads."""

    def __init__(self) -> None:
        super().__init__()
        self.jwks = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/jwks"):
            self.jwks += 1
        return await super().handle_async_request(request)


async def test_forged_logout_tokens_cannot_make_us_hammer_the_provider(
    provider: Provider, clock: FakeClock
) -> None:
    """Anyone can POST logout tokens naming made-up keys: at most one forced JWKS download a
    minute, whatever their number."""
    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    client = provider.register(f"{ORIGIN}/auth/callback/test")
    transport = CountingTransport()
    auth: ReflexSession[Any] = ReflexSession(
        secret_key=SECRET, store=MemoryStore(clock), clock=clock
    )
    providers = ProviderAuth(
        auth,
        [oidc("test", provider.issuer, client.client_id, client.client_secret)],
        transport=transport,
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for n in range(20):
        forged = pyjwt.encode({"sub": "ada", "n": n}, key, "RS256", headers={"kid": f"made-up-{n}"})
        with pytest.raises(ProviderError):
            await providers.backchannel_logout("test", forged)
    assert transport.jwks <= 2  # the first download, and one forced: not twenty


class Catcher:
    """A tiny HTTP server standing in for our back-channel endpoint: keeps what it is sent."""

    def __init__(self) -> None:
        import http.server
        import threading

        caught: list[bytes] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                caught.append(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.caught = caught
        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bcl"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self) -> str:
        return dict(parse_qsl(self.caught[-1].decode()))["logout_token"]

    def close(self) -> None:
        self.server.shutdown()


async def test_a_logout_token_that_could_not_end_its_sessions_can_be_sent_again(
    provider: Provider, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider's real logout token; the store fails while the sessions are being ended
    (503). The provider's retry must not be refused as a replay, and it ends the session."""
    from reflex_session.providers import GrantKeeper
    from reflex_session.stores.base import StoreUnavailable

    catcher = Catcher()
    try:
        client = provider.register(
            f"{ORIGIN}/auth/callback/test",
            backchannel_logout_uri=catcher.url,
            backchannel_logout_session_required=True,
        )
        worker = Worker(MemoryStore(clock), clock, client, provider.issuer)
        session, jar = await sign_in(worker, provider)
        grant = await worker.providers.grants.load(session.id)  # type: ignore[union-attr]
        assert grant is not None
        assert provider.send_backchannel_logout(client, "ada", grant.provider_sid or "") == 200
        token = catcher.token()

        async def down(*args: Any) -> list[str]:
            raise StoreUnavailable("memory", "down for the test")

        with monkeypatch.context() as patched:
            patched.setattr(GrantKeeper, "sessions_for", down)
            with pytest.raises(StoreUnavailable):
                await worker.providers.backchannel_logout("test", token)
        assert await worker.auth.get_session(worker.auth.jar(cookie_of(jar))) is not None

        assert await worker.providers.backchannel_logout("test", token) == ["test:ada"]
        assert await worker.auth.get_session(worker.auth.jar(cookie_of(jar))) is None
        with pytest.raises(ProviderError) as replayed:
            await worker.providers.backchannel_logout("test", token)
        assert replayed.value.detail == "jti replayed"
    finally:
        catcher.close()
