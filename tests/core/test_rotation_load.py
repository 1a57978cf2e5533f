"""Secret rotation under load: a rolling deploy of docs/deploy.md section 5, in process.

A "cluster" is a few workers, each a :class:`ReflexSession` built from one deploy phase's
secrets with its own session API (``auth.handlers()`` over httpx's ``ASGITransport``); all share
one :class:`FakeClock`. 200 clients, each with its own cookie, make requests (GET, POST refresh,
PATCH) routed at random to the workers of the moment, while a deployer replaces the workers one at
a time through the phases:

1. ``old``: ``SESSION_SECRET=old``;
2. ``old+new``: ``SESSION_SECRET=old``, ``SESSION_PREVIOUS_SECRETS=new`` (accepts new, seals old);
3. ``new+old``: ``SESSION_SECRET=new``, ``SESSION_PREVIOUS_SECRETS=old`` (seals new);
4. wait ``session_expiry`` on the clock, the clients still active;
5. ``new``: ``SESSION_SECRET=new`` alone.

No client is ever answered "unauthenticated" nor has its cookie cleared, and at the end every
cookie is sealed under the new key (the JWE header's ``kid``). The control test skips step 2 and
shows what the documentation warns about: a worker without the new secret signs users out.

Every step waits until every client has made a request on the step's cluster, and a client makes
at most two requests per step, so the load is bounded (about 5,000 requests) and the schedule
does not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from testkit import set_cookie_value

from reflex_session import ReflexSession
from reflex_session.errors import TokenExpired, UnknownKey
from reflex_session.keys import derive_kid
from reflex_session.testing import FakeClock

OLD = "rotation-old-secret-0123456789-abcdefghijk"
NEW = "rotation-new-secret-9876543210-zyxwvutsrqp"
PHASES: dict[str, tuple[str, tuple[str, ...]]] = {  # name -> (secret_key, previous_secret_keys)
    "old": (OLD, ()),
    "old+new": (OLD, (NEW,)),
    "new+old": (NEW, (OLD,)),
    "new": (NEW, ()),
}
EXPIRY = 3600
THRESHOLD = 1200
WORKERS = 3
CLIENTS = 200
PER_STEP = 2  # requests a client makes at most per step
SEED = 20261123
ORIGIN = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}


class Worker:
    def __init__(self, phase: str, clock: FakeClock, number: int) -> None:
        secret, previous = PHASES[phase]
        self.phase = phase
        self.name = f"{phase}#{number}"
        self.auth: ReflexSession[Any] = ReflexSession(
            secret_key=secret,
            previous_secret_keys=previous,
            session_expiry=EXPIRY,
            refresh_threshold=THRESHOLD,
            clock=clock,
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.auth.handlers()), base_url="http://testserver"
        )


@dataclass
class Client:
    number: int
    cookie: str
    requests: int = 0
    done_in_step: int = 0
    refusals: list[str] = field(default_factory=list)


@dataclass
class Cluster:
    clock: FakeClock
    workers: list[Worker]
    retired: list[Worker] = field(default_factory=list)
    step: int = 0
    log: list[str] = field(default_factory=list)
    counter: int = 0

    @classmethod
    def start(cls, phase: str) -> Cluster:
        clock = FakeClock()
        return cls(clock, [Worker(phase, clock, n) for n in range(WORKERS)])

    def replace(self, slot: int, phase: str) -> None:
        self.counter += 1
        old = self.workers[slot]
        self.workers[slot] = Worker(phase, self.clock, self.counter)
        self.retired.append(old)  # requests already routed to it finish there
        self.log.append(f"step {self.step}: {old.name} -> {self.workers[slot].name}")

    def phases(self) -> list[str]:
        return [w.phase for w in self.workers]

    async def close(self) -> None:
        for worker in [*self.workers, *self.retired]:
            await worker.client.aclose()


def kid_of(cookie: str) -> str:
    segment = cookie.split(".", 1)[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    kid: str = header["kid"]
    return kid


async def request(rng: random.Random, worker: Worker, client: Client, *, read: bool) -> None:
    """One request of ``client`` on ``worker``; records anything that is not signed in.

    ``read`` makes it a GET (a page load). Only reads slide an active session forward
    (``lifecycle.py``: "a read re-issues the cookie"); a PATCH keeps the cookie's times.
    """
    roll = 0.0 if read else rng.random()
    kwargs: dict[str, Any] = {}
    if roll < 0.7:
        method = "GET"
    elif roll < 0.85:
        method = "POST"  # an explicit refresh: always re-issues
    else:
        method = "PATCH"
        kwargs["json"] = {"user": {"name": f"client {client.number} #{client.requests}"}}
    response = await worker.client.request(
        method, "/", headers={**ORIGIN, "Cookie": f"session={client.cookie}"}, **kwargs
    )
    client.requests += 1
    worker.client.cookies.clear()
    new = set_cookie_value(response)
    body = response.json() if response.status_code in (200, 401) else {}
    if response.status_code != 200 or body.get("status") != "authenticated" or new == "":
        client.refusals.append(
            f"{method} on {worker.name} ({response.status_code}, {body.get('status')}, "
            f"cleared={new == ''}, cookie kid {kid_of(client.cookie)})"
        )
        return
    if new:
        client.cookie = new


async def run_deploy(
    cluster: Cluster, clients: list[Client], steps: list[Any], seed: int = SEED
) -> None:
    """Clients hammer the cluster while ``steps`` (callables changing it) run one by one.

    A step runs as soon as every client has made a request since the previous one; clients
    that made ``PER_STEP`` requests wait for the next step, others are still in flight while a
    worker is replaced.
    """
    stepped = asyncio.Condition()
    finished = False

    async def client_loop(client: Client) -> None:
        rng = random.Random(seed * 1000 + client.number)
        seen_step = -1
        while True:
            async with stepped:
                await stepped.wait_for(
                    lambda seen=seen_step: (
                        finished or cluster.step != seen or client.done_in_step < PER_STEP
                    )
                )
                if finished:
                    return
                if cluster.step != seen_step:
                    seen_step, client.done_in_step = cluster.step, 0
            worker = rng.choice(cluster.workers)
            # a step stands for up to THRESHOLD seconds: its first request is a page load
            await request(rng, worker, client, read=client.done_in_step == 0)
            client.done_in_step += 1
            async with stepped:
                stepped.notify_all()
            await asyncio.sleep(0)

    async def deployer() -> None:
        nonlocal finished
        for step in [*steps, None]:
            async with stepped:
                await stepped.wait_for(lambda: all(c.done_in_step >= 1 for c in clients))
                if step is not None:
                    step()
                cluster.step += 1
                for client in clients:
                    client.done_in_step = 0
                if step is None:
                    finished = True
                stepped.notify_all()

    await asyncio.wait_for(
        asyncio.gather(deployer(), *(client_loop(c) for c in clients)), timeout=120
    )


def rollout(cluster: Cluster, phase: str) -> Iterator[Any]:
    for slot in range(WORKERS):
        yield lambda slot=slot: cluster.replace(slot, phase)


def wait_idle_expiry(cluster: Cluster) -> Iterator[Any]:
    """Step 4: ``session_expiry`` passes on the clock, in refresh-threshold strides."""
    waited = 0
    while waited <= EXPIRY:
        yield lambda: cluster.clock.advance(THRESHOLD + 1)
        waited += THRESHOLD + 1


async def login_all(cluster: Cluster) -> list[Client]:
    clients = []
    for number in range(CLIENTS):
        auth = cluster.workers[number % WORKERS].auth
        jar = auth.jar(None)
        await auth.create_session(jar, {"id": f"u{number}", "name": f"client {number}"})
        cookie = jar.read()
        assert cookie
        clients.append(Client(number, cookie))
    return clients


async def test_rolling_secret_rotation_signs_nobody_out() -> None:
    cluster = Cluster.start("old")
    try:
        clients = await login_all(cluster)
        # someone who logged in and then left: sealed under the old key, never seen again
        idle = clients.pop()
        assert {kid_of(c.cookie) for c in clients} == {derive_kid(OLD)}

        phases_seen: list[list[str]] = []
        steps = [
            *rollout(cluster, "old+new"),
            *rollout(cluster, "new+old"),
            *wait_idle_expiry(cluster),
            *rollout(cluster, "new"),
        ]

        def recorded(step: Any) -> Any:
            def run() -> None:
                step()
                phases_seen.append(cluster.phases())

            return run

        await run_deploy(cluster, clients, [recorded(s) for s in steps])

        refused = {c.number: c.refusals for c in clients if c.refusals}
        total = sum(c.requests for c in clients)
        print(
            f"\n[rotation] {len(clients)} clients, {total} requests over {len(steps)} steps "
            f"({WORKERS} workers); cluster phases: {phases_seen}"
        )
        assert not refused, f"clients signed out during the rotation: {refused}"
        # mixed clusters really happened: old and new side by side at each rollout
        assert ["old+new", "old", "old"] in phases_seen
        assert ["new+old", "old+new", "old+new"] in phases_seen
        assert ["new", "new+old", "new+old"] in phases_seen
        assert cluster.phases() == ["new"] * WORKERS
        assert min(c.requests for c in clients) >= len(steps) + 1
        # every cookie now sealed under the new key, and read by the new-only workers
        assert {kid_of(c.cookie) for c in clients} == {derive_kid(NEW)}
        for client in clients[:20]:
            response = await cluster.workers[0].client.get(
                "/", headers={**ORIGIN, "Cookie": f"session={client.cookie}"}
            )
            assert response.json()["status"] == "authenticated"
            assert response.json()["session"]["user"]["id"] == f"u{client.number}"
        # the idle visitor's old cookie had expired by step 5 (step 4's point): a worker that
        # still knew the old key would refuse it as expired, not as an unknown key
        assert kid_of(idle.cookie) == derive_kid(OLD)
        with pytest.raises(TokenExpired):
            Worker("new+old", cluster.clock, 99).auth.codec.decode(idle.cookie)
        with pytest.raises(UnknownKey):
            cluster.workers[0].auth.codec.decode(idle.cookie)
    finally:
        await cluster.close()


async def test_skipping_step_two_signs_users_out() -> None:
    """The control: rolling straight from ``old`` to ``new+old`` leaves ``old`` workers that
    cannot read the cookies the new ones seal, and they clear them (docs/deploy.md, step 2)."""
    cluster = Cluster.start("old")
    try:
        clients = await login_all(cluster)
        await run_deploy(cluster, clients, list(rollout(cluster, "new+old")))
        refused = [c for c in clients if c.refusals]
        print(f"\n[rotation] without step 2: {len(refused)} of {len(clients)} clients signed out")
        assert refused, "no client was signed out: the load never crossed old and new workers"
        new_kid = derive_kid(NEW)
        reasons = [r for c in refused for r in c.refusals]
        assert all("old#" in r and f"cookie kid {new_kid}" in r for r in reasons), reasons[:3]
    finally:
        await cluster.close()
