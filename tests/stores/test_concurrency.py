"""Two tabs x 100 overlapping updates and refreshes end with every field present (issue 7).

Store mode, over every backend: the two tabs share one browser cookie but talk to two different
workers (two ``ReflexSession`` objects, each with its own store client on the same storage), and
each keeps several requests in flight at once, the way a busy page does. Updates are ``PATCH``es
of one new key each under ``user.prefs``; refreshes are ``POST``s while the fake clock moves past
the refresh threshold, so they really re-issue the cookie and move the store's expiry. Nothing may
be lost: the store merges atomically and a refresh only moves the expiry (``SessionStore.merge``
and ``touch``), never rewrites the session from a stale copy.

Cookie mode has no server copy to merge into: the cookie *is* the session, so two writes racing
from one browser can only keep one of them. The Reflex layer therefore serialises a browser's
session writes across its tabs (``navigator.locks`` in ``reflex/session_core.js``), and the
cookie-mode case here replays that order — one write at a time, tabs interleaved at random, each
write made on the newest cookie — and shows that refreshes and updates then keep every field. The
same promise in a real browser is ``tests/e2e/test_reflex_layer.py``'s two-tab test.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
from store_fixtures import Backend, backend_paths_fixture, pg_table_fixture, store_fixture
from testkit import SECRET

from reflex_session import ReflexSession
from reflex_session.testing import FakeClock

FIXTURES = (backend_paths_fixture, pg_table_fixture, store_fixture)  # used by name

OPERATIONS = 100  # per tab
IN_FLIGHT = 8  # requests a tab keeps open at once
EXPIRY = 3600
THRESHOLD = 600
USER = {
    "id": "u-ada",
    "email": "ada@example.com",
    "name": "Ada",
    "role": "user",
    "prefs": {"theme": "dark"},
}


class SharedCookie:
    """One browser's cookie jar, shared by its tabs: the newest ``Set-Cookie`` wins."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value
        self.writes = 0

    def header(self) -> str:
        return f"{self.name}={self.value}"

    def take(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name == self.name:
                value = rest.split(";", 1)[0]
                assert value, f"the session cookie was cleared: {header}"
                self.value = value
                self.writes += 1


def make_auth(clock: FakeClock, **options: Any) -> ReflexSession[Any]:
    return ReflexSession(
        secret_key=SECRET,
        clock=clock,
        session_expiry=EXPIRY,
        refresh_threshold=THRESHOLD,
        client_user_fields=("name", "prefs"),
        **options,
    )


async def client(auth: ReflexSession[Any]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=auth.handlers())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def plan(tab: str) -> list[tuple[str, str | None]]:
    """The tab's 100 operations: two updates (each its own key), then a refresh, repeated."""
    return [
        ("refresh", None) if i % 3 == 2 else ("update", f"{tab}{i:03d}") for i in range(OPERATIONS)
    ]


async def send(
    http: httpx.AsyncClient, jar: SharedCookie, clock: FakeClock, op: str, key: str | None
) -> None:
    headers = {"Cookie": jar.header()}
    if op == "update":
        response = await http.patch("/", headers=headers, json={"user": {"prefs": {key: key}}})
    else:
        clock.advance(20)  # 100 refreshes x 20 s cross the 600 s threshold several times
        response = await http.post("/", headers=headers)
    assert response.status_code == 200, (op, key, response.status_code, response.text)
    body = response.json()
    assert body["status"] == "authenticated", (op, key, body)
    assert body["session"]["user"]["email"] == USER["email"], body
    jar.take(response)


async def run_tab(
    http: httpx.AsyncClient, jar: SharedCookie, clock: FakeClock, tab: str, seed: int
) -> None:
    """Keep ``IN_FLIGHT`` requests open: each new one starts as soon as any finishes."""
    rng = random.Random(seed)
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def one(op: str, key: str | None) -> None:
        async with limit:
            await asyncio.sleep(rng.random() / 1000)  # shuffle the two tabs' requests together
            await send(http, jar, clock, op, key)

    await asyncio.gather(*(one(op, key) for op, key in plan(tab)))


def expected_prefs() -> dict[str, Any]:
    keys = [key for tab in "ab" for op, key in plan(tab) if op == "update" and key]
    return {"theme": "dark", **{key: key for key in keys}}


async def test_two_tabs_on_two_workers_keep_every_field(backend: Backend, clock: FakeClock) -> None:
    worker_a = make_auth(clock, store=backend.make())
    worker_b = make_auth(clock, store=backend.make())
    jar_writer = worker_a.jar(None)
    created = await worker_a.create_session(
        jar_writer, USER, access_token="at-server-only", refresh_token="rt-server-only"
    )
    cookie = jar_writer.read()
    assert cookie
    jar = SharedCookie(worker_a.cookie_policy.name_for(False), cookie)

    async for http_a in client(worker_a):
        async for http_b in client(worker_b):
            await asyncio.gather(
                run_tab(http_a, jar, clock, "a", seed=1), run_tab(http_b, jar, clock, "b", seed=2)
            )

    assert jar.writes > 0, "no refresh re-issued the cookie: the test did not exercise refresh"
    for worker in (worker_a, worker_b):
        final = await worker.get_session(worker.jar(jar.header()))
        assert final is not None, "the session was lost"
        assert final.id == created.id
        wire = final.user.to_wire()
        assert {k: wire[k] for k in ("id", "email", "name", "role")} == {
            k: USER[k] for k in ("id", "email", "name", "role")
        }
        assert wire["prefs"] == expected_prefs()
        assert final.access_token == "at-server-only"
        assert final.refresh_token == "rt-server-only"
        assert final.created_at == created.created_at
        assert final.expires_at > created.expires_at, "no refresh moved the expiry"


async def test_cookie_mode_serialised_writes_keep_every_field(clock: FakeClock) -> None:
    auth = make_auth(clock)
    jar_writer = auth.jar(None)
    created = await auth.create_session(
        jar_writer, USER, access_token="at-in-cookie", refresh_token="rt-in-cookie"
    )
    cookie = jar_writer.read()
    assert cookie
    jar = SharedCookie(auth.cookie_policy.name_for(False), cookie)
    rng = random.Random(7)
    queues = {tab: plan(tab) for tab in "ab"}
    async for http in client(auth):
        while any(queues.values()):
            tab = rng.choice([t for t, q in queues.items() if q])
            op, key = queues[tab].pop(0)
            await send(http, jar, clock, op, key)  # one at a time: the browser's session lock

    final = await auth.get_session(auth.jar(jar.header()))
    assert final is not None
    assert final.id == created.id
    assert final.user.to_wire()["prefs"] == expected_prefs()
    assert final.user.to_wire()["role"] == "user"
    assert (final.access_token, final.refresh_token) == ("at-in-cookie", "rt-in-cookie")
    assert final.expires_at > created.expires_at


async def test_an_update_reshaped_by_on_write_keeps_what_another_tab_wrote_meanwhile(
    backend: Backend, clock: FakeClock
) -> None:
    """``on_write`` runs between the update's read and its write. Whatever another worker merged
    in that gap must survive: only the fields the update and the callback changed are merged,
    never the whole user as read before the gap."""
    other = make_auth(clock, store=backend.make())
    cookie_holder: dict[str, str] = {}

    async def on_write(session: Any, trigger: str, changes: Any) -> Any:
        if trigger != "update":
            return None
        # the other tab's update lands while this one is between its read and its write
        await other.update_session(
            other.jar(cookie_holder["cookie"]), user={"prefs": {"theme": "light"}}
        )
        wire = session.user.to_wire()
        return session.replace(user=session.user.__class__.from_wire({**wire, "edits": 1}))

    auth = make_auth(clock, store=backend.make(), on_write=on_write)
    jar = auth.jar(None)
    await auth.create_session(jar, USER)
    value = jar.read()
    assert value
    cookie_holder["cookie"] = f"{auth.cookie_policy.name_for(False)}={value}"
    await auth.update_session(auth.jar(cookie_holder["cookie"]), user={"name": "Ada K"})

    final = await other.get_session(other.jar(cookie_holder["cookie"]))
    assert final is not None
    wire = final.user.to_wire()
    assert wire["name"] == "Ada K"
    assert wire["edits"] == 1
    assert wire["prefs"] == {"theme": "light"}, "the other tab's change was overwritten"
