"""Event benchmark: what the session layer costs a running Reflex app, end to end.

Run from the repository root (bun and Debian's Chromium must be installed, as for the e2e tests;
``source scripts/_lib.sh && ensure_bun`` exports ``REFLEX_BUN_PATH``)::

    .venv/bin/python benchmarks/events.py            # ~1.5-2 min, human-readable table
    .venv/bin/python benchmarks/events.py --quick    # < 1 min smoke run
    .venv/bin/python benchmarks/events.py --json     # one JSON object per row, nothing else

It starts two real servers of the e2e app (``tests/e2e/app``, ``reflex run --env prod``, one
port each, in parallel) and stops them at the end:

``ws guarded`` / ``ws unguarded`` / ``ws guard ratio``
    A python-socketio client opens the websocket exactly as the browser does (``?token=``, the
    hydrate event in the CONNECT packet, the browser's HttpOnly cookies in the handshake's
    ``Cookie`` header: its binding cookie ``session_bind``, a random 43-character base64url value
    as the server mints it, and the ``session`` cookie) and then sends, interleaved, N
    ``DashboardState.click`` events (``@guarded``: the per-event guard in
    ``SessionEventMiddleware.preprocess`` checks the session) and N
    ``DashboardState.set_new_name`` events (not guarded). Every event of both kinds also goes
    through the tab's binding check (``TabBinding.check``), so the ratio is the guard's cost on
    top of it. Each round trip is timed from the emit to the arrival of that event's delta.
    Target: guarded median <= 1.10x unguarded median.
``ws correctness``
    The final ``clicks`` delta equals the number of clicks sent (every guarded event ran), and a
    second socket *without* a session cookie (another browser: a binding of its own, nothing
    else) has its click refused (a redirect, no ``clicks`` delta).
``idle countdown``
    Chromium signs in, opens ``/dashboard`` (the ``#countdown`` ticks in the browser), waits 2 s,
    then counts websocket frames for 30 s while the countdown's ``data-expires-in`` decreases.
    Engine.IO ping/pong frames (``2``/``3``) are transport keep-alive and counted apart. Target:
    0 other frames (and no ``/api/session/sync`` request).
``activity refresh``
    A server with a 40 s session and a 10 s refresh threshold; Chromium signs in and moves the
    mouse continuously for 60 s. Counts ``POST /api/session/sync`` requests: at most one per
    threshold window, i.e. <= 60/10 = 6, plus 1 for a window edge (the first pull can land just
    inside a window that the last one also touches). The session must still be authenticated at
    the end (in a full run that proves the refreshes extended a session that would otherwise have
    expired after 40 s).

A missed target is reported as ``NOT MET``; the exit status stays 0 (this is a benchmark). It
exits non-zero only when a server or the browser cannot be started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402 - conftest's helpers report failures with pytest.fail
import socketio  # noqa: E402

from reflex_session import ReflexSession  # noqa: E402
from tests.e2e.conftest import (  # noqa: E402
    APP_SOURCE,
    CHROMIUM,
    CHROMIUM_ARGS,
    SECRET,
    ReflexServer,
)

ADA = {"id": "1", "email": "ada@example.com", "name": "Ada", "role": "admin", "team": "core"}
PASSWORD = "correct horse"
ROOT_STATE = "reflex___state____state"
DASHBOARD_SUFFIX = "e2e_app___e2e_app____dashboard_state"
NAMESPACE = "/_event"
SYNC_PATH = "/api/session/sync"
BINDING_COOKIE = "session_bind"  # reflex_session.binding: the session cookie's name + "_bind"
KEEPALIVE = {"2", "3"}  # Engine.IO v4 ping and pong

TARGET_RATIO = 1.10
SHORT_EXPIRY = 40
SHORT_THRESHOLD = 10

#: (full, quick) settings
ROUND_TRIPS = (400, 50)
WARMUP = (20, 5)
IDLE_S = (30.0, 5.0)
ACTIVITY_S = (60.0, 15.0)


_BEGAN = time.monotonic()


def progress(message: str) -> None:
    print(f"[events {time.monotonic() - _BEGAN:5.1f}s] {message}", file=sys.stderr, flush=True)


# -- servers -------------------------------------------------------------------------------------


def make_server(name: str, **settings: str) -> ReflexServer:
    """A copy of the e2e app in a temporary folder (as conftest's ``_make_server`` does)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"reflex-session-bench-{name}-"))
    shutil.copytree(
        APP_SOURCE,
        workdir,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".web", ".states", "__pycache__", "*.db", "reflex.lock"),
    )
    return ReflexServer(name, workdir, settings)


def start_all(servers: list[ReflexServer]) -> None:
    """Start the servers in parallel; raise ``RuntimeError`` (not pytest's Failed) on error."""
    errors: dict[str, BaseException] = {}

    def run(server: ReflexServer) -> None:
        try:
            server.start()
        except BaseException as exc:  # pytest.fail raises a BaseException subclass
            errors[server.name] = exc

    threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        text = "\n".join(f"{name}: {exc}" for name, exc in errors.items())
        raise RuntimeError(f"server start failed:\n{text}")


@contextlib.contextmanager
def running(servers: list[ReflexServer]) -> Iterator[None]:
    try:
        start_all(servers)
        yield
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()
            shutil.rmtree(server.workdir, ignore_errors=True)


# -- results -------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    values: dict[str, Any]
    shown: str  # the value column of the human table
    target: str
    met: bool
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, **self.values, "target": self.target, "met": self.met}


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (statistics' exclusive method), q in 1..99."""
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


# -- 1. guarded vs unguarded events over the websocket -------------------------------------------


class Client:
    """A python-socketio client speaking the browser's protocol (``utils/state.js``).

    It is a browser of its own: a fresh binding value (``secrets.token_urlsafe(32)``, as the
    server mints it) and, when given, the ``session`` cookie, both sent with the handshake.
    """

    def __init__(self, url: str, token: str, cookie: str | None) -> None:
        self.url = url
        self.token = token
        self.cookie = cookie
        self.binding = secrets.token_urlsafe(32)
        self.router_data = {"pathname": "/dashboard", "asPath": "/dashboard"}
        self.sio = socketio.AsyncClient(reconnection=False)
        self.updates: list[dict[str, Any]] = []
        self.hydrated = asyncio.Event()
        self.waiter: tuple[Callable[[dict[str, Any]], bool], asyncio.Future[float]] | None = None
        self.sio.on("event", self._on_event, namespace=NAMESPACE)

    async def _on_event(self, update: dict[str, Any]) -> None:
        arrived = time.perf_counter()
        self.updates.append(update)
        root = (update.get("delta") or {}).get(ROOT_STATE) or {}
        if root.get("is_hydrated_rx_state_") is True:
            self.hydrated.set()
        if self.waiter is not None:
            match, future = self.waiter
            if match(update) and not future.done():
                future.set_result(arrived)

    async def connect(self) -> None:
        cookies = f"{BINDING_COOKIE}={self.binding}"
        if self.cookie:
            cookies += f"; session={self.cookie}"
        headers = {"Cookie": cookies}
        # the browser sends its hydrate event inside the socket.io CONNECT packet
        boot = {
            "name": f"{ROOT_STATE}.hydrate_and_load",
            "payload": {},
            "router_data": self.router_data,
        }
        await self.sio.connect(
            f"{self.url}?token={self.token}",
            headers=headers,
            transports=["websocket"],
            socketio_path="/_event",
            namespaces=[NAMESPACE],
            auth={"event": boot},
            wait_timeout=10,
        )
        await asyncio.wait_for(self.hydrated.wait(), 10)

    def state_name(self, suffix: str) -> str:
        for update in self.updates:
            for name in update.get("delta") or {}:
                if name.endswith(suffix):
                    return str(name)
        raise RuntimeError(f"no state ending in {suffix!r} in the hydrate delta")

    async def round_trip(
        self, name: str, payload: dict[str, Any], match: Callable[[dict[str, Any]], bool]
    ) -> float:
        """Seconds from the emit of one event to the arrival of the update ``match`` accepts."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiter = (match, future)
        event = {"name": name, "payload": payload, "router_data": self.router_data}
        start = time.perf_counter()
        await self.sio.emit("event", event, namespace=NAMESPACE)
        try:
            arrived = await asyncio.wait_for(future, 10)
        finally:
            self.waiter = None
        return arrived - start

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


def _field(update: dict[str, Any], state: str, var: str) -> Any:
    return ((update.get("delta") or {}).get(state) or {}).get(f"{var}_rx_state_")


async def bench_events(url: str, n: int, warmup: int) -> list[Row]:
    auth = ReflexSession(secret_key=SECRET, session_expiry=3600)
    cookie = auth.codec.encode(auth.new_session(dict(ADA)))
    client = Client(url, "bench-events-" + str(time.time_ns()), cookie)
    await client.connect()
    dashboard = client.state_name(DASHBOARD_SUFFIX)
    clicks = 0
    names = 0

    async def click() -> float:
        nonlocal clicks
        clicks += 1
        expected = clicks
        return await client.round_trip(
            f"{dashboard}.click", {}, lambda u: _field(u, dashboard, "clicks") == expected
        )

    async def set_name() -> float:
        nonlocal names
        names += 1
        value = f"name-{names}"
        return await client.round_trip(
            f"{dashboard}.set_new_name",
            {"value": value},
            lambda u: _field(u, dashboard, "new_name") == value,
        )

    guarded: list[float] = []
    unguarded: list[float] = []
    try:
        for i in range(warmup + n):
            # alternate which one goes first, so neither always follows the other
            first, second = (click, set_name) if i % 2 == 0 else (set_name, click)
            a = await first()
            b = await second()
            if i < warmup:
                continue
            g, u = (a, b) if first is click else (b, a)
            guarded.append(g * 1000)
            unguarded.append(u * 1000)
        last_clicks = None
        for update in client.updates:
            value = _field(update, dashboard, "clicks")
            if value is not None:
                last_clicks = value
    finally:
        await client.close()

    # the guard really guards: a socket without a session cookie (another browser, with a
    # binding of its own) has its click refused
    anonymous = Client(url, "bench-anon-" + str(time.time_ns()), None)
    refused = False
    try:
        await anonymous.connect()
        seen = len(anonymous.updates)
        try:
            await anonymous.round_trip(f"{dashboard}.click", {}, lambda u: bool(u.get("events")))
            await asyncio.sleep(0.2)  # a clicks delta after the redirect would show up here
            after = anonymous.updates[seen:]
            refused = all(_field(u, dashboard, "clicks") is None for u in after) and any(
                e.get("name") == "_redirect" for u in after for e in u.get("events") or []
            )
        except TimeoutError:
            refused = False
    finally:
        await anonymous.close()

    g_med, u_med = statistics.median(guarded), statistics.median(unguarded)
    g_p90, u_p90 = percentile(guarded, 90), percentile(unguarded, 90)
    ratio = g_med / u_med
    expected_clicks = warmup + n
    return [
        Row(
            "ws guarded (click)",
            {"n": n, "median_ms": round(g_med, 3), "p90_ms": round(g_p90, 3)},
            f"median {g_med:.3f} ms  p90 {g_p90:.3f} ms  (n={n})",
            "-",
            True,
        ),
        Row(
            "ws unguarded (set_new_name)",
            {"n": n, "median_ms": round(u_med, 3), "p90_ms": round(u_p90, 3)},
            f"median {u_med:.3f} ms  p90 {u_p90:.3f} ms  (n={n})",
            "-",
            True,
        ),
        Row(
            "ws guard ratio",
            {
                "ratio": round(ratio, 3),
                "p90_ratio": round(g_p90 / u_p90, 3),
                "overhead_us": round((g_med - u_med) * 1000, 1),
            },
            f"{ratio:.3f}x median ({(g_med - u_med) * 1000:+.0f} µs), {g_p90 / u_p90:.3f}x p90",
            f"<= {TARGET_RATIO:.2f}x",
            ratio <= TARGET_RATIO,
        ),
        Row(
            "ws correctness",
            {
                "clicks_expected": expected_clicks,
                "clicks_seen": last_clicks,
                "anonymous_click_refused": refused,
            },
            f"clicks {last_clicks}/{expected_clicks}, anonymous click "
            + ("refused" if refused else "NOT refused"),
            "all ran, anon refused",
            last_clicks == expected_clicks and refused,
        ),
    ]


# -- 2. and 3. in Chromium -----------------------------------------------------------------------


class Traffic:
    """Websocket frames and sync requests of one page, counted only while ``on`` is set."""

    def __init__(self) -> None:
        self.on = False
        self.frames: list[str] = []
        self.keepalive = 0
        self.sync_requests: list[float] = []
        self.sync_changed = 0  # sync answers saying the cookie was re-issued

    def attach(self, page: Any) -> None:
        def frame(payload: Any) -> None:
            if not self.on:
                return
            text = payload if isinstance(payload, str) else f"<{len(payload)} bytes>"
            if text in KEEPALIVE:
                self.keepalive += 1
            else:
                self.frames.append(text)

        def on_ws(ws: Any) -> None:
            ws.on("framereceived", frame)
            ws.on("framesent", frame)

        def on_request(request: Any) -> None:
            if (
                self.on
                and request.method == "POST"
                and request.url.split("?")[0].endswith(SYNC_PATH)
            ):
                self.sync_requests.append(time.monotonic())

        def on_response(response: Any) -> None:
            if self.on and response.url.split("?")[0].endswith(SYNC_PATH):
                with contextlib.suppress(Exception):  # a body gone with a closed page
                    if response.json().get("changed"):
                        self.sync_changed += 1

        page.on("websocket", on_ws)
        page.on("request", on_request)
        page.on("response", on_response)

    def start(self) -> None:
        self.frames.clear()
        self.keepalive = 0
        self.sync_requests.clear()
        self.sync_changed = 0
        self.on = True


def sign_in(page: Any, context: Any, url: str) -> None:
    """Log in through the form, wait for the HttpOnly cookie, then load ``/dashboard``."""
    page.goto(url + "/login")
    page.wait_for_selector("#email")
    page.fill("#email", ADA["email"])
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_selector("#home-heading")
    deadline = time.monotonic() + 10
    while not any(c["name"] == "session" for c in context.cookies()):
        if time.monotonic() > deadline:
            raise RuntimeError("the session cookie never reached the browser")
        page.wait_for_timeout(50)
    page.goto(url + "/dashboard")
    page.wait_for_selector("#dashboard-heading")
    page.wait_for_function("document.querySelector('#status').textContent === 'authenticated'")
    page.wait_for_function(
        "Number(document.querySelector('#countdown').getAttribute('data-expires-in')) > 0"
    )


def expires_in(page: Any) -> int:
    return int(page.get_attribute("#countdown", "data-expires-in") or 0)


def bench_idle(browser: Any, url: str, idle_s: float) -> Row:
    context = browser.new_context()
    traffic = Traffic()
    context.on("page", traffic.attach)
    try:
        page = context.new_page()
        sign_in(page, context, url)
        progress("idle: signed in, on /dashboard")
        page.wait_for_timeout(2000)
        before = expires_in(page)
        traffic.start()
        page.wait_for_timeout(idle_s * 1000)
        traffic.on = False
        after = expires_in(page)
    finally:
        context.close()
    messages = len(traffic.frames)
    ticked = 0 < after < before and before - after >= (idle_s - 1.5) * 1000
    met = messages == 0 and not traffic.sync_requests and ticked
    row = Row(
        "idle countdown",
        {
            "seconds": idle_s,
            "messages": messages,
            "keepalive_frames": traffic.keepalive,
            "sync_requests": len(traffic.sync_requests),
            "expires_in_start_ms": before,
            "expires_in_end_ms": after,
            "countdown_ticked": ticked,
        },
        f"{messages} msgs/{idle_s:.0f} s (+{traffic.keepalive} ping/pong), "
        f"{len(traffic.sync_requests)} sync, countdown {before / 1000:.1f}->{after / 1000:.1f} s",
        "0 msgs, ticks",
        met,
    )
    if messages:
        row.notes.append("idle frames: " + ", ".join(f[:80] for f in traffic.frames[:5]))
    return row


def bench_activity(browser: Any, url: str, duration_s: float) -> Row:
    context = browser.new_context()
    traffic = Traffic()
    context.on("page", traffic.attach)
    try:
        page = context.new_page()
        sign_in(page, context, url)
        progress("activity: signed in, on /dashboard")
        page.wait_for_timeout(500)  # the login's own sync is over
        traffic.start()
        started = time.monotonic()
        step = 0
        while time.monotonic() - started < duration_s:
            step += 1
            x = 100 + (step * 37) % 600
            y = 100 + (step * 23) % 400
            page.mouse.move(x, y, steps=2)
            page.wait_for_timeout(50)
        page.wait_for_timeout(300)  # let a request started at the very end be reported
        traffic.on = False
        page.wait_for_function(
            "document.querySelector('#status').textContent.length > 0", timeout=5000
        )
        status = page.inner_text("#status")
    finally:
        context.close()
    count = len(traffic.sync_requests)
    windows = duration_s / SHORT_THRESHOLD
    limit = int(windows) + 1
    gaps = [b - a for a, b in zip(traffic.sync_requests, traffic.sync_requests[1:], strict=False)]
    authenticated = status == "authenticated"
    row = Row(
        "activity refresh",
        {
            "seconds": duration_s,
            "threshold_s": SHORT_THRESHOLD,
            "session_expiry_s": SHORT_EXPIRY,
            "sync_requests": count,
            "cookie_reissued": traffic.sync_changed,
            "per_window": round(count / windows, 2),
            "limit": limit,
            "gaps_s": [round(g, 2) for g in gaps],
            "authenticated_at_end": authenticated,
        },
        f"{count} syncs/{duration_s:.0f} s ({traffic.sync_changed} re-issued)"
        f" = {count / windows:.2f}/window"
        + (f", min gap {min(gaps):.1f} s" if gaps else "")
        + f", {status}",
        f"<= {limit} ({int(windows)} + 1 edge), auth'd",
        count <= limit and authenticated,
    )
    if count == 0:
        row.notes.append("no refresh at all during continuous activity")
    if gaps and min(gaps) < SHORT_THRESHOLD:
        row.notes.append(
            f"gaps between syncs {', '.join(f'{g:.1f}' for g in gaps)} s: a gap can be up to 1 s"
            " under the threshold because lastActivity is the cookie's iat (whole seconds) and"
            " the browser pulls once now - lastActivity >= threshold"
        )
    return row


def in_chromium(bench: Callable[[Any], Row]) -> Row:
    """Run ``bench(browser)`` with its own Playwright and Chromium (one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            return bench(browser)
        finally:
            browser.close()


def bench_browser(main_url: str, short_url: str, idle_s: float, activity_s: float) -> list[Row]:
    """The idle and the activity measurements, side by side (two browsers, two servers).

    They count messages and requests, not time, so running them together changes no result
    and saves the length of the shorter one.
    """
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    progress(f"idle countdown ({idle_s:.0f} s) and activity refresh ({activity_s:.0f} s), together")
    results: dict[str, Row] = {}
    errors: list[BaseException] = []

    def activity() -> None:
        try:
            results["activity"] = in_chromium(lambda b: bench_activity(b, short_url, activity_s))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=activity, daemon=True)
    thread.start()
    try:
        results["idle"] = in_chromium(lambda b: bench_idle(b, main_url, idle_s))
    finally:
        thread.join()
    if errors:
        raise RuntimeError(f"activity benchmark failed: {errors[0]!r}") from errors[0]
    return [results["idle"], results["activity"]]


# -- output --------------------------------------------------------------------------------------


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    name_w = max(len(r.name) for r in rows)
    value_w = max(len(r.shown) for r in rows)
    target_w = max(len(r.target) for r in rows)
    line = f"{'row':<{name_w}}  {'value':<{value_w}}  {'target':<{target_w}}  result"
    print(line)
    print("-" * len(line))
    for r in rows:
        result = "MET" if r.met else "NOT MET"
        print(f"{r.name:<{name_w}}  {r.shown:<{value_w}}  {r.target:<{target_w}}  {result}")
    for r in rows:
        for note in r.notes:
            print(f"note ({r.name}): {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="< 1 min smoke run")
    parser.add_argument("--json", action="store_true", help="one JSON object per row on stdout")
    args = parser.parse_args(argv)
    k = 1 if args.quick else 0

    began = time.monotonic()
    main_server = make_server("main", E2E_SESSION_EXPIRY="3600")
    short_server = make_server(
        "short",
        E2E_SESSION_EXPIRY=str(SHORT_EXPIRY),
        E2E_REFRESH_THRESHOLD=str(SHORT_THRESHOLD),
    )
    rows: list[Row] = []
    try:
        progress("starting two servers (reflex run --env prod)")
        with running([main_server, short_server]):
            progress("servers up")
            progress(f"websocket round trips ({ROUND_TRIPS[k]} guarded + {ROUND_TRIPS[k]} not)")
            rows += asyncio.run(bench_events(main_server.url, ROUND_TRIPS[k], WARMUP[k]))
            rows += bench_browser(main_server.url, short_server.url, IDLE_S[k], ACTIVITY_S[k])
            progress("stopping the servers")
    except (RuntimeError, pytest.fail.Exception) as exc:
        print(f"events benchmark could not run: {exc}", file=sys.stderr)
        return 1
    total = time.monotonic() - began

    if args.json:
        for row in rows:
            print(json.dumps(row.as_json()))
        return 0
    mode = "quick" if args.quick else "full"
    print_table(rows, f"reflex-session event benchmark ({mode} run, {total:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
