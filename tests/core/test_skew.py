"""Clock skew between workers: two "workers" whose clocks disagree, one secret, one store.

Each worker is a :class:`ReflexSession` with its own :class:`FakeClock` and its own session API
(``auth.handlers()`` over httpx's ``ASGITransport``); in store mode both use one
:class:`MemoryStore` whose clock is a third one (the database server's). The leeway is
``SessionConfig.leeway`` (5 s by default), applied to ``iat`` only (``codec.py``): a reader whose
clock is behind the writer's accepts a cookie issued up to 5 s "in the future"; ``exp`` is strict.

Within the leeway, a cookie written by either worker is read, refreshed and updated by the other,
both ways, in both modes. Beyond it, the worker that is behind refuses the cookie with a clean
answer (200, ``unauthenticated``, the cookie cleared) and one ``reflex_session.security`` line
(``reason=claims``); the failing claim is ``iat`` (PyJWT's ``ImmatureSignatureError``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from testkit import set_cookie_value

from reflex_session import ReflexSession
from reflex_session.errors import ClaimsError
from reflex_session.stores import MemoryStore
from reflex_session.testing import DEFAULT_START, FakeClock

SECRET = "skew-test-secret-0123456789-abcdefghijklmn"
EXPIRY = 3600
THRESHOLD = 600
LEEWAY = 5.0  # the default; asserted against the config below
#: a start with a fractional second, so that the whole-second rounding of iat/exp is exercised
START = DEFAULT_START + 0.75
ADA = {"id": "1", "email": "ada@example.com", "name": "Ada"}
MODES = ("cookie", "store")
#: B's clock minus A's, in seconds: behind and ahead, up to exactly the leeway
WITHIN = (-LEEWAY, -2.5, -1.0, 1.0, 2.5, LEEWAY)


@dataclass
class Worker:
    name: str
    auth: ReflexSession[Any]
    clock: FakeClock
    client: httpx.AsyncClient

    async def call(self, method: str, cookie: str | None, **kwargs: Any) -> httpx.Response:
        """One API request carrying exactly ``cookie`` (no jar of httpx's own)."""
        self.client.cookies.clear()
        headers = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
        if cookie is not None:
            headers["Cookie"] = f"session={cookie}"
        response = await self.client.request(method, "/", headers=headers, **kwargs)
        self.client.cookies.clear()
        return response

    async def login(self) -> str:
        jar = self.auth.jar(None)
        await self.auth.create_session(jar, ADA, access_token="server-side-only")
        token = jar.read()
        assert token
        return token


@dataclass
class Pair:
    a: Worker
    b: Worker
    db_clock: FakeClock

    def advance(self, seconds: float) -> None:
        """Real time passes: every clock moves, the skew stays."""
        for clock in (self.a.clock, self.b.clock, self.db_clock):
            clock.advance(seconds)


async def make_pair(mode: str, skew: float) -> AsyncIterator[Pair]:
    db_clock = FakeClock(START)
    store = MemoryStore(clock=db_clock) if mode == "store" else None
    workers = []
    for name, offset in (("A", 0.0), ("B", skew)):
        clock = FakeClock(START + offset)
        auth = ReflexSession(
            secret_key=SECRET,
            session_expiry=EXPIRY,
            refresh_threshold=THRESHOLD,
            clock=clock,
            store=store,
        )
        assert auth.config.leeway == LEEWAY
        transport = httpx.ASGITransport(app=auth.handlers())
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        workers.append(Worker(name, auth, clock, client))
    try:
        yield Pair(workers[0], workers[1], db_clock)
    finally:
        for worker in workers:
            await worker.client.aclose()


def signed_in(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "authenticated", body
    assert set_cookie_value(response) != "", "the cookie was cleared"
    return body


def security_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "reflex_session.security"]


# -- within the leeway --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("skew", WITHIN)
@pytest.mark.parametrize("writer", ["A", "B"])
async def test_within_the_leeway_either_worker_reads_updates_and_refreshes(
    mode: str, skew: float, writer: str, caplog: pytest.LogCaptureFixture
) -> None:
    async for pair in make_pair(mode, skew):
        first, other = (pair.a, pair.b) if writer == "A" else (pair.b, pair.a)
        caplog.set_level(logging.DEBUG, logger="reflex_session.security")
        token = await first.login()

        # read by the other worker at once: its clock may be up to the leeway behind
        body = signed_in(await other.call("GET", token))
        assert body["session"]["user"]["name"] == "Ada"
        assert "server-side-only" not in str(body)

        # updated by the other worker, read back by the first
        response = await other.call("PATCH", token, json={"user": {"name": "Ada L."}})
        assert signed_in(response)["session"]["user"]["name"] == "Ada L."
        token = set_cookie_value(response) or token  # store mode keeps the cookie, changes the row
        body = signed_in(await first.call("GET", token))
        assert body["session"]["user"]["name"] == "Ada L."

        # an active user past the refresh threshold (by the clock behind, too): the other worker
        # re-issues the cookie
        pair.advance(THRESHOLD + LEEWAY + 1)
        response = await other.call("GET", token)
        signed_in(response)
        refreshed = set_cookie_value(response)
        assert refreshed, f"{other.name} did not re-issue the cookie past the refresh threshold"
        for worker in (pair.a, pair.b):
            body = signed_in(await worker.call("GET", refreshed))
            assert body["session"]["user"]["name"] == "Ada L."
        # the re-issued cookie lives a full expiry from the other worker's clock
        if mode == "cookie":
            session = other.auth.decrypt_session(refreshed)
            assert session is not None
            assert session.expires_at // 1000 == int(other.clock.time()) + EXPIRY

        # an explicit refresh a threshold later (a "Stay signed in" click) on the first worker
        pair.advance(THRESHOLD + LEEWAY + 1)
        response = await first.call("POST", refreshed)
        signed_in(response)
        again = set_cookie_value(response)
        assert again
        signed_in(await other.call("GET", again))

        assert not security_lines(caplog), security_lines(caplog)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("skew", [-LEEWAY, -2.0, 2.0, LEEWAY])
@pytest.mark.parametrize("writer", ["A", "B"])
async def test_within_the_leeway_an_explicit_refresh_right_after_login(
    mode: str, skew: float, writer: str
) -> None:
    """A tab logs in on one worker and its next request, an explicit refresh, lands on the other.

    Cookie mode, refresh on the worker that is behind by 2 s or more: the re-issued cookie had
    ``iat`` (the refreshing worker's now) earlier than ``createdAt`` (the login worker's now), and
    ``codec.py`` refused ``createdAt > iat + 1 s`` without the leeway, signing the user out. Fixed
    twice over: a refresh never moves ``iat`` back (``lifecycle.refreshed``) and the codec allows
    the leeway between the two clocks.
    """
    async for pair in make_pair(mode, skew):
        first, other = (pair.a, pair.b) if writer == "A" else (pair.b, pair.a)
        token = await first.login()
        response = await other.call("POST", token)
        signed_in(response)
        refreshed = set_cookie_value(response) or token
        for worker in (first, other):
            response = await worker.call("GET", refreshed)
            assert response.json()["status"] == "authenticated", (
                f"{worker.name} refuses the cookie {other.name} re-issued right after the login"
            )
            signed_in(response)


# -- beyond the leeway --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_beyond_the_leeway_the_worker_behind_refuses_cleanly(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """B is 6 s behind A (1 s past the leeway). A's fresh cookie is "issued in the future" for
    B: refused on ``iat``, answered 200 unauthenticated with the cookie cleared, one security
    log line with the reason and the key id, never the value. A reads B's cookies (only ``exp``
    limits a reader ahead of the writer), and B accepts A's cookie once its own clock has passed
    ``iat - leeway``."""
    skew = -(LEEWAY + 1)
    async for pair in make_pair(mode, skew):
        caplog.set_level(logging.DEBUG, logger="reflex_session.security")
        token = await pair.a.login()

        with pytest.raises(ClaimsError) as refused:
            pair.b.auth.codec.decode_claims(token)
        assert "ImmatureSignatureError" in str(refused.value), "not the iat claim that failed"

        response = await pair.b.call("GET", token)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "unauthenticated"
        assert response.json()["session"] is None
        assert set_cookie_value(response) == "", "the refused cookie was not cleared"
        for method in ("POST", "PATCH"):
            kwargs = {"json": {"user": {"name": "x"}}} if method == "PATCH" else {}
            response = await pair.b.call(method, token, **kwargs)
            assert response.status_code == 401, (method, response.text)
            assert response.json() == {"error": "unauthenticated"}
        lines = security_lines(caplog)
        assert lines, "the refusal was not logged"
        kid = pair.a.auth.codec.keyring.current.kid
        assert all(f"reason=claims kid={kid}" in line for line in lines), lines
        assert all(token not in line for line in lines)
        assert "Traceback" not in caplog.text

        # the other direction is fine: B writes, A (ahead) reads and refreshes
        b_token = await pair.b.login()
        signed_in(await pair.a.call("GET", b_token))
        signed_in(await pair.a.call("POST", b_token))

        # A's cookie was not broken, only early for B: A still reads it, and so does B later
        signed_in(await pair.a.call("GET", token))
        pair.advance(2)  # B's clock is now 4 s behind iat: inside the leeway
        signed_in(await pair.b.call("GET", token))


async def test_exp_has_no_leeway_for_a_reader_ahead() -> None:
    """Within the leeway, a reader whose clock is ahead ends a session up to the skew earlier:
    ``exp`` is strict (docs/cookie-format.md), so the worker ahead decides first."""
    async for pair in make_pair("cookie", LEEWAY):
        token = await pair.a.login()
        pair.advance(EXPIRY - LEEWAY)  # A: 5 s left; B (5 s ahead): expired
        signed_in(await pair.a.call("GET", token))
        response = await pair.b.call("GET", token)
        assert response.json()["status"] == "unauthenticated"
        assert set_cookie_value(response) == ""
