"""The simulated browser tab of ``benchmarks/load.py``, and the worker process that runs many.

:class:`Tab` speaks Reflex 0.10.1's websocket protocol exactly as the compiled
``.web/utils/state.js`` does, plus the part of the session runtime (``reflex_session/reflex/
client.py``) that matters under load:

* the browser's cookies: the HttpOnly binding cookie ``session_bind`` (``reflex_session/
  binding.py``; 43 base64url characters, made here with ``secrets.token_urlsafe(32)`` as the
  server makes it, so the server never has to mint one) and, once signed in, the HttpOnly
  ``session`` cookie. Both go in the ``Cookie`` header of the websocket handshake and of every
  HTTP request, from the very first one, as a browser that already holds them sends them. A
  :class:`Tab` is one tab of one browser: tabs given the same ``binding`` are tabs of the same
  browser (the binding names the browser, not the user, so a login never changes it);
* the socket: ``/_event/?token=<uuid>`` over the websocket transport, the handshake carrying the
  browser's ``Cookie``, ``Origin`` and ``User-Agent`` (the server binds the tab's state to the
  handshake's binding at the hydrate and refuses every event of a socket that carries another);
  the hydrate event ``<root>.hydrate_and_load`` with ``router_data`` ``{pathname, asPath}`` inside
  the socket.io CONNECT packet's ``auth`` (``{"event": ...}``), as ``state.js`` sends it;
* events: ``emit("event", {"name": <full state path>.<handler>, "payload", "router_data"})``;
  the token is not in the event (``EventNamespace.on_event`` takes it from the socket);
* the cookie catching up: whenever a delta bumps ``SessionState.sync_seq`` (which starts at the
  server clock's milliseconds when the tab is bound, not at 0), the runtime's ``_SYNC`` effect
  POSTs ``/api/session/sync`` with ``{"token": <client token>}`` and nothing else
  (``credentials: 'include'``: the binding and session cookies go with it; the server refuses
  the sync unless the binding is the tab's) and the browser stores the ``Set-Cookie`` it gets
  back. The tab does the same (one POST per bump, like the effect) and keeps the new cookie.

Every step is checked, and a failed check is an *error*, never a silently slower sample: an
exception, a refusal (a ``_redirect`` from the guard, ``status`` going ``unauthenticated``), a
delta that does not arrive within the timeout, a sync answer that is not 200 (any 5xx, or 403
for a binding the server did not accept) or that says ``unauthenticated``, a sync answer that
sets a different binding cookie (the server did not accept the tab's).

Run as a script it is one worker of the crowd: it reads one JSON line of setup (the URL and its
tabs' labels, session cookies and binding values) on stdin, then commands (``run``, ``close``),
and answers each with one JSON line on stdout (samples in milliseconds, errors as short strings,
never a cookie value). Two optional setup keys serve ``benchmarks/tabs.py``: ``session_layer``
(false: tabs of a plain Reflex app, without our cookies, SessionState or syncs) and
``mount_sync`` (true: each tab makes the sync its page makes on mount, right after the hydrate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio  # type: ignore[import-untyped]

NAMESPACE = "/_event"
ROOT_STATE = "reflex___state____state"
SESSION_SUFFIX = "____session_state"
PROFILE_SUFFIX = "____profile_state"
FORM_SUFFIX = "____auth_form_state"
SYNC_PATH = "/api/session/sync"
SESSION_COOKIE = "session"
#: The HttpOnly binding cookie (``reflex_session.binding``: the session cookie's name + ``_bind``;
#: ``__Host-session_bind`` on HTTPS, which the demo here is not).
BINDING_COOKIE = "session_bind"
USER_AGENT = "reflex-session-load/1.0 (python-socketio)"
#: How long a tab waits for an answer before it counts an error (generous: a loaded 2-core box).
TIMEOUT_S = 30.0


class TabError(Exception):
    """A refused, missing or wrong answer: one error of the run (the message names the step)."""


def new_binding() -> str:
    """A binding value as the server mints one: 256 random bits, base64url, 43 characters."""
    return secrets.token_urlsafe(32)


def _var(update: dict[str, Any], state: str, var: str) -> Any:
    return ((update.get("delta") or {}).get(state) or {}).get(f"{var}_rx_state_")


@dataclass
class Stats:
    """What one tab (or one worker) measured: samples per kind in ms, and the errors."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    actions: int = 0
    late_starts: int = 0  # actions that began more than one interval behind their schedule

    def merge(self, other: Stats) -> None:
        for kind, values in other.samples.items():
            self.samples[kind].extend(values)
        self.errors.extend(other.errors)
        self.actions += other.actions
        self.late_starts += other.late_starts

    def as_json(self) -> dict[str, Any]:
        return {
            "samples": {k: [round(v, 3) for v in vs] for k, vs in self.samples.items()},
            "errors": self.errors,
            "actions": self.actions,
            "late_starts": self.late_starts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stats:
        stats = cls()
        for kind, values in data["samples"].items():
            stats.samples[kind].extend(float(v) for v in values)
        stats.errors.extend(data["errors"])
        stats.actions = int(data["actions"])
        stats.late_starts = int(data["late_starts"])
        return stats


class Tab:
    """One browser tab of the demo: a socket, the browser's cookies, the sync runtime.

    ``cookie`` is the ``session`` cookie's value (``None``: signed out), ``binding`` the
    browser's ``session_bind`` value (default: a new browser, with a binding of its own).
    """

    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession,
        cookie: str | None,
        *,
        binding: str | None = None,
        path: str = "/profile",
        label: str = "",
        session_layer: bool = True,
    ) -> None:
        self.url = url
        self.http = http
        self.cookie = cookie
        self.binding = binding or new_binding()
        self.token = str(uuid.uuid4())  # what state.js keeps in sessionStorage
        self.label = label or self.token[:8]
        #: False: a tab of a plain Reflex app (``benchmarks/tabs.py``'s baseline): the browser
        #: has no cookie of ours and the hydrate has no SessionState
        self.session_layer = session_layer
        self.router_data = {"pathname": path, "asPath": path}
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("event", self._on_event, namespace=NAMESPACE)
        self.sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE)
        self.hydrated = asyncio.Event()
        self.states: dict[str, str] = {}  # suffix -> full state path, from the hydrate delta
        self.status = ""
        self.sync_seq = 0  # the server starts it at its clock's ms: only "higher" matters
        self.proof = ""  # SessionState.sync_proof: set by a login, sent with the next sync
        self.refusals: list[str] = []  # redirects and sign-outs nobody asked for
        self.expect_redirect = False  # a login's own redirect to the home page is expected
        self.closing = False
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[float]]] = []
        self.names = 0
        self.steps = 0  # actions done, across runs: keeps the save/refresh mix over runs

    # -- incoming ---------------------------------------------------------------------------

    async def _on_event(self, update: dict[str, Any]) -> None:
        arrived = time.perf_counter()
        delta = update.get("delta") or {}
        for name in delta:
            for suffix in (SESSION_SUFFIX, PROFILE_SUFFIX, FORM_SUFFIX):
                if name.endswith(suffix):
                    self.states.setdefault(suffix, name)
        session = self.states.get(SESSION_SUFFIX)
        if session is not None:
            status = _var(update, session, "status")
            if status is not None:
                if self.status == "authenticated" and status != "authenticated":
                    self.refusals.append(f"status went {status!r}")
                self.status = str(status)
            proof = _var(update, session, "sync_proof")
            if proof is not None:
                self.proof = str(proof)
            seq = _var(update, session, "sync_seq")
            if seq is not None:
                self.sync_seq = max(self.sync_seq, int(seq))
        for event in update.get("events") or []:
            if event.get("name") == "_redirect" and not self.expect_redirect:
                path = (event.get("payload") or {}).get("path")
                self.refusals.append(f"redirected to {path!r}")
        if (delta.get(ROOT_STATE) or {}).get("is_hydrated_rx_state_") is True:
            self.hydrated.set()
        for match, future in list(self._waiters):
            if not future.done() and match(update):
                future.set_result(arrived)

    async def _on_disconnect(self, *_: Any) -> None:
        if not self.closing:
            self.refusals.append("socket closed by the server")

    # -- the socket -------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        """What the browser sends with the handshake and with the sync ``fetch``: its binding
        cookie always, its session cookie once it has one (on a plain app: neither)."""
        headers = {"Origin": self.url, "User-Agent": USER_AGENT}
        if self.session_layer:
            cookies = f"{BINDING_COOKIE}={self.binding}"
            if self.cookie:
                cookies += f"; {SESSION_COOKIE}={self.cookie}"
            headers["Cookie"] = cookies
        return headers

    async def connect(self) -> float:
        """Open the socket and wait for the hydrate; the milliseconds it took."""
        boot = {
            "name": f"{ROOT_STATE}.hydrate_and_load",
            "payload": {},
            "router_data": self.router_data,
        }
        start = time.perf_counter()
        await self.sio.connect(
            f"{self.url}?token={self.token}",
            headers=self.headers(),
            transports=["websocket"],
            socketio_path="/_event",
            namespaces=[NAMESPACE],
            auth={"event": boot},
            wait_timeout=int(TIMEOUT_S),
        )
        try:
            await asyncio.wait_for(self.hydrated.wait(), TIMEOUT_S)
        except TimeoutError:
            raise TabError("connect: no hydrate delta") from None
        elapsed = (time.perf_counter() - start) * 1000
        if self.session_layer and SESSION_SUFFIX not in self.states:
            raise TabError("connect: no SessionState in the hydrate delta")
        return elapsed

    async def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            await self.sio.disconnect()

    def state(self, suffix: str) -> str:
        try:
            return self.states[suffix]
        except KeyError:
            raise TabError(f"no state ending in {suffix!r} in the deltas") from None

    async def round_trip(
        self, step: str, name: str, payload: dict[str, Any], match: Callable[[dict[str, Any]], bool]
    ) -> float:
        """Milliseconds from the emit of one event to the update ``match`` accepts."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiter = (match, future)
        self._waiters.append(waiter)
        event = {"name": name, "payload": payload, "router_data": self.router_data}
        try:
            start = time.perf_counter()
            await self.sio.emit("event", event, namespace=NAMESPACE)
            try:
                arrived = await asyncio.wait_for(future, TIMEOUT_S)
            except TimeoutError:
                raise TabError(f"{step}: no delta within {TIMEOUT_S:.0f} s") from None
        finally:
            self._waiters.remove(waiter)
        self.check(step)
        return (arrived - start) * 1000

    def check(self, step: str) -> None:
        if self.refusals:
            reasons, self.refusals = self.refusals, []
            raise TabError(f"{step}: refused ({'; '.join(reasons)})")

    async def sync(self, step: str) -> float:
        """The runtime's ``POST /api/session/sync`` (body ``{"token"}``, the binding and session
        cookies in the header); keeps the new session cookie; milliseconds."""
        body = {"token": self.token, **({"proof": self.proof} if self.proof else {})}
        headers = {**self.headers(), "Content-Type": "application/json"}
        start = time.perf_counter()
        try:
            async with self.http.post(
                self.url + SYNC_PATH,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            ) as response:
                answer = await response.json(content_type=None)
                elapsed = (time.perf_counter() - start) * 1000
                if response.status != 200:
                    raise TabError(f"{step}: sync answered {response.status}")
                for header in response.headers.getall("Set-Cookie", []):
                    name, _, rest = header.partition("=")
                    value = rest.split(";", 1)[0]
                    if name.strip() == SESSION_COOKIE:
                        if not value or "max-age=0" in header.lower():
                            raise TabError(f"{step}: the sync cleared the cookie")
                        self.cookie = value
                    elif name.strip() == BINDING_COOKIE and value != self.binding:
                        # a browser would take it, but then this tab's socket no longer
                        # matches: the server did not accept the binding the tab sent
                        raise TabError(f"{step}: the sync set a new binding cookie")
        except TimeoutError:
            raise TabError(f"{step}: sync took more than {TIMEOUT_S:.0f} s") from None
        if answer.get("status") != "authenticated":
            raise TabError(f"{step}: sync says {answer.get('status')!r}")
        return elapsed

    # -- what a user does -------------------------------------------------------------------

    async def login(self, email: str, password: str) -> float:
        """The login form, for real: submit_login, then the sync that sets the cookie (ms)."""
        form = self.state(FORM_SUFFIX)
        session = self.state(SESSION_SUFFIX)
        self.expect_redirect = True
        seq = self.sync_seq
        start = time.perf_counter()
        await self.round_trip(
            "login",
            f"{form}.submit_login",
            {"form": {"email": email, "password": password}},
            lambda u: _var(u, session, "status") == "authenticated" or bool(_var(u, form, "error")),
        )
        if self.status != "authenticated" or self.sync_seq <= seq:
            raise TabError("login: the form did not sign in")
        # the login proof comes to this socket alone, in an emit of its own that may arrive
        # after the login's delta: the browser's runtime waits for it too before its sync
        deadline = time.perf_counter() + TIMEOUT_S
        while not self.proof:
            if time.perf_counter() > deadline:
                raise TabError("login: no login proof within the timeout")
            await asyncio.sleep(0.005)
        await self.sync("login sync")
        self.proof = ""  # spent
        self.expect_redirect = False
        if not self.cookie:
            raise TabError("login: no session cookie after the sync")
        return (time.perf_counter() - start) * 1000

    async def save_name(self, stats: Stats) -> None:
        """Profile page: type a name (unguarded ``set_name``), press Save (``@guarded`` save).

        ``save`` renames the user in the demo's database and updates the session
        (``update_session``), which bumps ``sync_seq``: the runtime then POSTs the sync.
        """
        profile = self.state(PROFILE_SUFFIX)
        self.names += 1
        value = f"Load {self.label} {self.names}"
        stats.samples["set_name"].append(
            await self.round_trip(
                "set_name",
                f"{profile}.set_name",
                {"value": value},
                lambda u: _var(u, profile, "name") == value,
            )
        )
        seq = self.sync_seq
        stats.samples["guarded save"].append(
            await self.round_trip(
                "guarded save",
                f"{profile}.save",
                {},
                lambda u: _var(u, profile, "saved") is True,
            )
        )
        if self.sync_seq <= seq:
            raise TabError("guarded save: sync_seq did not move")
        stats.samples["sync"].append(await self.sync("save sync"))

    async def refresh(self, stats: Stats) -> None:
        """The session page's "Refresh now": ``SessionState.refresh``, then the sync."""
        session = self.state(SESSION_SUFFIX)
        seq = self.sync_seq
        stats.samples["refresh"].append(
            await self.round_trip(
                "refresh",
                f"{session}.refresh",
                {},
                lambda u: (_var(u, session, "sync_seq") or 0) > seq,
            )
        )
        stats.samples["sync"].append(await self.sync("refresh sync"))

    async def act(self, step: int, stats: Stats, refresh_every: int) -> None:
        """One user action: a guarded save, or every ``refresh_every``-th action a refresh."""
        stats.actions += 1
        try:
            if step % refresh_every == refresh_every - 1:
                await self.refresh(stats)
            else:
                await self.save_name(stats)
            self.check("between actions")
        except TabError as exc:
            stats.errors.append(str(exc))
        except Exception as exc:
            stats.errors.append(f"{type(exc).__name__}: {exc}"[:200])


def new_http(limit: int = 0) -> aiohttp.ClientSession:
    """One HTTP client for many tabs, without a cookie jar (each tab sends its own cookies).

    No connection limit by default: every browser has its own connections, so a tab must never
    wait for another tab's request (a shared pool would add client-side queueing to the sync).
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit), cookie_jar=aiohttp.DummyCookieJar()
    )


async def connect_all(
    tabs: list[Tab], stats: Stats, *, concurrency: int, mount_sync: bool = False
) -> list[Tab]:
    """Connect the tabs, ``concurrency`` handshakes at a time; the ones that made it.

    ``mount_sync``: then the sync a page makes when it mounts (the runtime's ``fetch_on_mount``,
    on by default), as every browser tab does right after its hydrate."""
    gate = asyncio.Semaphore(concurrency)
    connected: list[Tab] = []

    async def one(tab: Tab) -> None:
        async with gate:
            try:
                stats.samples["connect"].append(await tab.connect())
                if tab.session_layer and tab.status != "authenticated":
                    raise TabError(f"connect: status {tab.status!r}")
                if tab.session_layer and mount_sync:
                    stats.samples["mount sync"].append(await tab.sync("mount sync"))
                tab.check("connect")
                connected.append(tab)
            except TabError as exc:
                stats.errors.append(str(exc))
                await tab.close()
            except Exception as exc:
                stats.errors.append(f"connect: {type(exc).__name__}: {exc}"[:200])
                await tab.close()

    await asyncio.gather(*(one(t) for t in tabs))
    return connected


async def paced(
    tabs: list[Tab],
    stats: Stats,
    *,
    start_at: float,
    duration: float,
    interval: float,
    offsets: list[float],
    refresh_every: int,
) -> None:
    """Each tab acts every ``interval`` s from ``start_at + offset`` until ``start_at + duration``.

    ``start_at`` is wall-clock time (``time.time()``), shared by all workers, so the crowd's
    offsets interleave across processes. A tab whose previous action is still running starts the
    next one as soon as it finishes (and counts a late start when it is a whole interval behind).
    """
    end = start_at + duration

    async def one(tab: Tab, offset: float) -> None:
        step = 0
        while True:
            due = start_at + offset + step * interval
            if due >= end:
                return
            wait = due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            elif -wait > interval:
                stats.late_starts += 1
            await tab.act(tab.steps, stats, refresh_every)
            tab.steps += 1
            step += 1

    await asyncio.gather(*(one(t, o) for t, o in zip(tabs, offsets, strict=True)))


# -- the worker process ----------------------------------------------------------------------


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _read_line(reader: asyncio.StreamReader) -> dict[str, Any]:
    line = await reader.readline()
    if not line:
        raise SystemExit(0)  # the parent is gone
    data: dict[str, Any] = json.loads(line)
    return data


async def worker() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)  # the setup line holds every cookie and binding
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    setup = await _read_line(reader)
    http = new_http()
    tabs = [
        Tab(
            setup["url"],
            http,
            c["cookie"],
            binding=c.get("binding"),
            path=setup["path"],
            label=c["label"],
            session_layer=bool(setup.get("session_layer", True)),
        )
        for c in setup["clients"]
    ]
    stats = Stats()
    connected = await connect_all(
        tabs,
        stats,
        concurrency=int(setup["concurrency"]),
        mount_sync=bool(setup.get("mount_sync", False)),
    )
    _say({"phase": "connected", "connected": len(connected), **stats.as_json()})
    try:
        while True:
            command = await _read_line(reader)
            if command["cmd"] == "run":
                stats = Stats()
                offsets = [float(o) for o in command["offsets"]]
                by_label = dict(zip((t.label for t in tabs), offsets, strict=True))
                await paced(
                    connected,
                    stats,
                    start_at=float(command["start_at"]),
                    duration=float(command["duration"]),
                    interval=float(command["interval"]),
                    offsets=[by_label[t.label] for t in connected],
                    refresh_every=int(command["refresh_every"]),
                )
                _say({"phase": "ran", **stats.as_json()})
            elif command["cmd"] == "close":
                break
    finally:
        await asyncio.gather(*(t.close() for t in connected))
        await http.close()
        _say({"phase": "closed"})


if __name__ == "__main__":
    asyncio.run(worker())
