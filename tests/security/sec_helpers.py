"""Helpers for the security suite: a guarded app, a token forge, a decrypt counter, raw ASGI.

The forge builds hostile tokens by hand (base64url + ``cryptography``'s AESGCM) from the key that
:func:`reflex_session.keys.derive_key` derives, so a test can make a token that is *validly
sealed* when the point is to reach the claim checks behind the AEAD, and a broken one otherwise.
Nothing here goes through the library's own encoder except where a test says so.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reflex_session import ReflexSession, route
from reflex_session.jwe import b64url_encode, header_segment
from reflex_session.keys import derive_key, derive_kid
from reflex_session.testing import FakeClock

#: Only ever used in this suite; 43 characters like ``secrets.token_urlsafe(32)``.
SECRET = "security-suite-secret-0123456789-abcdefghi"
#: The secret of "another app" (or of a secret that was rotated out).
OTHER_SECRET = "someone-elses-secret-0123456789-abcdefghij"

ROUTES = [
    route.public("/login"),
    route.auth("/dashboard/*"),
    route.auth("/admin/*", role="admin"),
]


def build_auth(clock: FakeClock, **overrides: Any) -> ReflexSession[Any]:
    settings: dict[str, Any] = {
        "secret_key": SECRET,
        "clock": clock,
        "session_expiry": 3600,
        "refresh_threshold": 600,
        "routes": ROUTES,
    }
    settings.update(overrides)
    return ReflexSession(**settings)


def b64json(value: Any) -> str:
    """base64url(compact JSON) — a header segment with whatever members the attacker likes."""
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))


class Forge:
    """Seals arbitrary plaintext under arbitrary headers and keys, as an attacker (or a
    compromised peer holding the secret) would."""

    def __init__(self, clock: FakeClock, secret: str = SECRET) -> None:
        self.clock = clock
        self.secret = secret
        self.key = derive_key(secret)
        self.kid = derive_kid(secret)
        self.header = header_segment(self.kid)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """A well-formed claims set issued now, valid for an hour; ``None`` drops a claim."""
        now = int(self.clock.time())
        claims: dict[str, Any] = {
            "jti": "attacker-chosen-jti-000",
            "iat": now,
            "exp": now + 3600,
            "createdAt": now * 1000,
            "user": {"id": "user-1", "role": "user"},
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def seal(
        self,
        plaintext: bytes | dict[str, Any],
        *,
        header: str | None = None,
        key: bytes | None = None,
        iv: bytes | None = None,
    ) -> str:
        """A compact ``dir``/``A256GCM`` JWE whose AAD is the header segment, as RFC 7516 says."""
        header = self.header if header is None else header
        if isinstance(plaintext, dict):
            plaintext = json.dumps(plaintext, separators=(",", ":")).encode("utf-8")
        iv = os.urandom(12) if iv is None else iv
        sealed = AESGCM(key or self.key).encrypt(iv, plaintext, header.encode("ascii"))
        return ".".join(
            (
                header,
                "",
                b64url_encode(iv),
                b64url_encode(sealed[:-16]),
                b64url_encode(sealed[-16:]),
            )
        )

    def token(self, **overrides: Any) -> str:
        return self.seal(self.claims(**overrides))


@dataclass
class DecryptSpy:
    """Wraps the keyring's AESGCM objects and counts every ``decrypt`` call."""

    calls: int = 0
    _real: dict[str, Any] = field(default_factory=dict)

    def install(self, auth: ReflexSession[Any]) -> None:
        keyring = auth.codec.keyring
        for kid in keyring.kids:
            key = keyring.get(kid)
            assert key is not None
            self._real[kid] = key.aead
            # DerivedKey is a frozen dataclass: bypass its __setattr__, on purpose
            object.__setattr__(key, "aead", _CountingAEAD(key.aead, self))


class _CountingAEAD:
    def __init__(self, real: AESGCM, spy: DecryptSpy) -> None:
        self._real = real
        self._spy = spy

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        self._spy.calls += 1
        return self._real.decrypt(nonce, data, aad)

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        return self._real.encrypt(nonce, data, aad)


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self.headers if k.lower() == wanted]

    def json(self) -> Any:
        return json.loads(self.body)


async def call_asgi(
    app: Any,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    scheme: str = "http",
) -> RawResponse:
    """One request straight into an ASGI app, with a *decoded* ``path`` exactly as a server
    would put it in the scope (so no HTTP client normalises ``..`` or refuses CR/LF for us)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *headers],
        "server": ("testserver", 443 if scheme == "https" else 80),
        "client": ("203.0.113.9", 50000),
    }
    delivered = False
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # nothing more to read; a disconnect never comes
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    try:
        await asyncio.wait_for(app(scope, receive, send), timeout=10)
    finally:
        # Since Python 3.12 wait_for runs under asyncio.timeout(), whose cancelled timer stays
        # in the loop's heap until the loop next runs; an in-memory app never yields, so without
        # this 10,000 requests would leave 10,000 timers behind (and the memory test would
        # measure the helper, not the library)
        await asyncio.sleep(0)
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return RawResponse(start["status"], list(start.get("headers", [])), content)


async def http(
    app: Any,
    method: str,
    path: str = "/api/session",
    *,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
    content: bytes | str | None = None,
    https: bool = False,
) -> httpx.Response:
    """One request through a fresh client (no cookie jar carried between requests)."""
    sent = dict(headers or {})
    if cookie is not None:
        sent["cookie"] = cookie
    base_url = "https://testserver" if https else "http://testserver"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as c:
        return await c.request(method, path, headers=sent, content=content)


def set_cookie_value(line: str) -> tuple[str, str]:
    """``(name, value)`` of one ``Set-Cookie`` header line."""
    pair = line.split(";", 1)[0]
    name, _, value = pair.partition("=")
    return name.strip(), value.strip()


# -- fixtures. Test modules import them and list them in ``FIXTURES`` (pytest registers a fixture
#    under its own name wherever it is found). Not a conftest.py: a second ``conftest`` module
#    would shadow ``tests/conftest.py`` for the modules that do ``from testkit import SECRET``.


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="auth")
def auth_fixture(clock: FakeClock) -> ReflexSession[Any]:
    return build_auth(clock)


@pytest.fixture(name="forge")
def forge_fixture(clock: FakeClock) -> Forge:
    return Forge(clock)


@pytest.fixture(name="decrypt_spy")
def decrypt_spy_fixture(auth: ReflexSession[Any]) -> DecryptSpy:
    spy = DecryptSpy()
    spy.install(auth)
    return spy


# -- additions for test_attacks.py and test_fuzz_http.py ----------------------------------------

#: The guarded page used behind the page middleware (its body proves the page was served).
PAGE_BODY = b"PROTECTED-PAGE"


async def page_app(scope: Any, receive: Any, send: Any) -> None:
    """The app behind the page guard: any request that reaches it gets :data:`PAGE_BODY`."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": PAGE_BODY})


def build_store_auth(clock: FakeClock, **overrides: Any) -> ReflexSession[Any]:
    """:func:`build_auth` in store mode, over a ``MemoryStore`` on the same clock."""
    from reflex_session.stores import MemoryStore

    return build_auth(clock, store=MemoryStore(clock=clock), **overrides)


def build_revocation_auth(clock: FakeClock, **overrides: Any) -> ReflexSession[Any]:
    """:func:`build_auth` in cookie mode with a ``revocation_store`` (``MemoryStore``)."""
    from reflex_session.stores import MemoryStore

    return build_auth(clock, revocation_store=MemoryStore(clock=clock), **overrides)


def our_cookie(response: RawResponse | httpx.Response, name: str = "session") -> str | None:
    """The value our ``Set-Cookie`` gives cookie ``name`` (``""``: cleared; ``None``: not set)."""
    if isinstance(response, RawResponse):
        lines = response.get_all("set-cookie")
    else:
        lines = response.headers.get_list("set-cookie")
    values = [value for n, value in map(set_cookie_value, lines) if n == name]
    assert len(values) <= 1, f"several Set-Cookie lines for {name}: {lines}"
    return values[0] if values else None


def same_origin(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers a same-origin ``fetch`` from our own page sends (plus ``extra``)."""
    return {"origin": "http://testserver", "sec-fetch-site": "same-origin", **(extra or {})}
