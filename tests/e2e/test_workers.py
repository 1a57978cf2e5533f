"""Issue 7: several backend workers, Reflex's Redis state manager, sessions in a Redis store.

The app in ``tests/e2e/app_workers`` runs with ``REFLEX_REDIS_URL`` (Reflex's Redis state manager,
its own Redis database) and ``GRANIAN_WORKERS`` (Reflex 0.10.1 hands it to granian:
``reflex/utils/exec.py``, ``workers=int(os.getenv("GRANIAN_WORKERS", ...))``). Sessions live in a
``RedisStore`` with their own key prefix in that database, which is flushed before and after.

Which worker did what is read off the page (``#pid``: the worker that ran the tab's last event,
``#login-pid``: the worker that ran the login handler) and off an ``X-Worker-Pid`` response header;
every pid seen must be one of the server's worker processes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import ReflexServer, login, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

APP_SOURCE = Path(__file__).parent / "app_workers"
WORKERS = 3
REFLEX_DB = 5  # Reflex's states, token records and our sessions: nothing else uses it
STORE_PREFIX = "rs-e2e-workers:"
MAX_ATTEMPTS = 20
LIVE_LIMIT = 1.0  # seconds for a revocation to reach a tab on any worker

ADA = ("ada@example.com", "correct horse")
BOB = ("bob@example.com", "battery staple")


def redis_url() -> str:
    """``REDIS_URL`` with its database number replaced by :data:`REFLEX_DB`; fails without it."""
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        pytest.fail("REDIS_URL is not set: run the suite with scripts/test.sh (start_redis)")
    return urlunsplit(urlsplit(url)._replace(path=f"/{REFLEX_DB}"))


def flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def redis_keys(pattern: str) -> list[str]:
    import redis

    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    try:
        return list(client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


def worker_pids(server: ReflexServer) -> set[int]:
    """The live processes of the server's session (it runs in its own), less the ``reflex``
    process itself: granian's workers."""
    assert server.process is not None
    out = subprocess.run(
        ["ps", "-o", "pid=", "--sid", str(server.process.pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {int(p) for p in out.split()} - {server.process.pid}


def app_copy(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh copy of the workers app (without build output) for one module's server."""
    workdir = tmp_path_factory.mktemp(name)
    shutil.copytree(
        APP_SOURCE,
        workdir,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".web", ".states", "__pycache__", "*.db", "reflex.lock"),
    )
    return workdir


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReflexServer]:
    url = redis_url()
    flush(url)
    workdir = app_copy(tmp_path_factory, "workers")
    srv = ReflexServer(
        "workers",
        workdir,
        {
            "REFLEX_REDIS_URL": url,
            "GRANIAN_WORKERS": str(WORKERS),
            "E2E_STORE_REDIS_URL": url,
            "E2E_STORE_PREFIX": STORE_PREFIX,
        },
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        flush(url)


# -- helpers -----------------------------------------------------------------------------------


def path_of(page: Any) -> str:
    return urlsplit(page.url).path.rstrip("/") or "/"


def text(page: Any, selector: str) -> str:
    return str(page.text_content(selector) or "").strip()


def wait_text(page: Any, selector: str, value: str, timeout: float = 10_000) -> None:
    page.wait_for_function(
        "([s, v]) => (document.querySelector(s)?.textContent ?? '').trim() === v",
        arg=[selector, value],
        timeout=timeout,
    )


def session_cookie(context: Any) -> dict[str, Any] | None:
    found = [c for c in context.cookies() if c["name"].endswith("session")]
    return found[0] if found else None


class Device:
    """One browser (own cookie jar) = one device; records the worker of every sync request."""

    def __init__(self, browser: Any, server: ReflexServer, name: str) -> None:
        self.server = server
        self.name = name
        self.context = browser.new_context()
        self.sync_pids: list[int] = []
        self.page_sync_pids: dict[Any, list[int]] = {}
        self.context.on("response", self._on_response)
        self.login_pid = 0

    def _on_response(self, response: Any) -> None:
        if urlsplit(response.url).path.rstrip("/") == "/api/session/sync":
            pid = response.headers.get("x-worker-pid")
            if pid:
                self.sync_pids.append(int(pid))
                self.page_sync_pids.setdefault(response.frame.page, []).append(int(pid))

    def known_by(self, page: Any, socket_pid: int) -> set[int]:
        """The workers whose tab registry can hold this tab: the one of its websocket (the
        session is applied there at connect) and those of its sync requests (applied there too).
        """
        return {socket_pid, *self.page_sync_pids.get(page, [])}

    def sign_in(self, who: tuple[str, str] = ADA) -> Any:
        """Log in on a new tab; returns it (on the home page). Records the login worker."""
        page = self.context.new_page()
        page.goto(self.server.url + "/login")
        login(page, *who)
        page.wait_for_selector("#home-heading")
        wait_text(page, "#status", "authenticated")
        page.wait_for_function("Number(document.querySelector('#login-pid').textContent) > 0")
        self.login_pid = int(text(page, "#login-pid"))
        wait_until(lambda: session_cookie(self.context), f"{self.name}'s session cookie")
        return page

    def dashboard_tab(self) -> tuple[Any, int]:
        """A new tab (new websocket) on the dashboard; one guarded click tells its worker."""
        page = self.context.new_page()
        page.goto(self.server.url + "/dashboard")
        page.wait_for_selector("#dashboard-heading")
        wait_text(page, "#status", "authenticated")
        return page, click(page)

    def close(self) -> None:
        self.context.close()


def click(page: Any) -> int:
    """One guarded event; returns the pid of the worker that ran it."""
    before = int(text(page, "#clicks") or 0)
    page.click("#click")
    wait_text(page, "#clicks", str(before + 1))
    return int(text(page, "#pid"))


def log_lines(server: ReflexServer, needle: str) -> list[str]:
    return [line for line in server.log().splitlines() if needle in line]


# -- the tests ---------------------------------------------------------------------------------


def test_login_and_events_are_handled_by_different_workers(
    workers: ReflexServer, browser: Any
) -> None:
    pids = worker_pids(workers)
    assert len(pids) == WORKERS, f"expected {WORKERS} worker processes, found {sorted(pids)}"
    laptop, phone = Device(browser, workers, "laptop"), Device(browser, workers, "phone")
    try:
        for device in (laptop, phone):
            device.sign_in().close()
            assert device.login_pid in pids, f"login ran in {device.login_pid}, not a worker"
            lines = log_lines(workers, f"pid={device.login_pid} login of user 1 handled")
            assert lines, f"no log line of the login in worker {device.login_pid}"
        # store mode: the sessions are in Redis under the store's prefix, next to Reflex's states
        stored = redis_keys(STORE_PREFIX + "*")
        assert stored, f"no session keys under {STORE_PREFIX!r} in Redis database {REFLEX_DB}"
        others = [k for k in redis_keys("*") if not k.startswith(STORE_PREFIX)]
        assert others, f"Reflex keeps nothing in Redis database {REFLEX_DB}: not its state manager"
        events: list[tuple[str, int]] = []
        crossed: tuple[str, int, int] | None = None
        for attempt in range(MAX_ATTEMPTS):
            device = (laptop, phone)[attempt % 2]
            page, pid = device.dashboard_tab()
            page.close()
            events.append((device.name, pid))
            assert pid in pids, f"an event ran in {pid}, which is not one of the workers {pids}"
            if pid != device.login_pid:
                crossed = (device.name, device.login_pid, pid)
                break
        print(
            f"\n[workers] worker pids {sorted(pids)}; logins: laptop={laptop.login_pid} "
            f"phone={phone.login_pid}; events (device, pid): {events}; "
            f"sync requests: laptop={laptop.sync_pids} phone={phone.sync_pids}"
        )
        assert crossed is not None, (
            f"in {MAX_ATTEMPTS} new tabs every signed-in event ran on the worker of its login: "
            f"logins laptop={laptop.login_pid} phone={phone.login_pid}, events {events}"
        )
        assert len({p for _, p in events} | {laptop.login_pid, phone.login_pid}) >= 2
        assert set(laptop.sync_pids + phone.sync_pids) <= pids
    finally:
        laptop.close()
        phone.close()


def test_revocation_reaches_tabs_on_every_worker_within_a_second(
    workers: ReflexServer, browser: Any
) -> None:
    """A signs out the user's other devices; one device per worker, each with one open tab.

    One tab per device: tabs of one browser tell each other (the cross-tab notice), which would
    hide a worker that was never told. The devices on the other workers are "relay only": neither
    their websocket nor any of their sync requests reached A's worker, so A's worker has no record
    of them and only the Redis relay can sign them out.
    """
    pids = worker_pids(workers)
    a, c = Device(browser, workers, "A"), Device(browser, workers, "C")
    others: dict[int, tuple[Device, Any]] = {}  # worker of the tab's websocket -> device, tab
    spare: list[Device] = []
    try:
        a.sign_in().close()
        a_page, a_pid = a.dashboard_tab()  # the worker that will run "sign out other devices"

        def relay_only(device: Device, page: Any, pid: int) -> bool:
            return a_pid not in device.known_by(page, pid)

        device: Device | None = None
        for attempt in range(2 * MAX_ATTEMPTS):
            if len(others) == len(pids):
                break
            if device is None:
                device = Device(browser, workers, f"B{attempt}")
                device.sign_in().close()
            page, pid = device.dashboard_tab()
            wanted = pid not in others and (pid == a_pid or relay_only(device, page, pid))
            if wanted:
                others[pid] = (device, page)
                device = None
                continue
            page.close()
            if a_pid in device.sync_pids:  # this browser's connection goes to A's worker
                spare.append(device)
                device = None
        if device is not None:
            spare.append(device)
        assert set(others) == pids, (
            f"in {2 * MAX_ATTEMPTS} tabs the other devices reached only workers {sorted(others)} "
            f"of {sorted(pids)} (A on {a_pid})"
        )
        known = {pid: sorted(dev.known_by(page, pid)) for pid, (dev, page) in others.items()}
        remote = [pid for pid, (dev, page) in others.items() if relay_only(dev, page, pid)]
        assert len(remote) == len(pids) - 1, f"A on {a_pid}; devices known by {known}"
        stolen = session_cookie(others[remote[0]][0].context)
        assert stolen is not None

        start = time.monotonic()
        a_page.click("#sign-out-others")
        seen: dict[int, float] = {}
        deadline = start + 5
        while len(seen) < len(others) and time.monotonic() < deadline:
            a_page.wait_for_timeout(10)  # lets Playwright deliver the tabs' navigations
            for pid, (_, page) in others.items():
                if pid not in seen and path_of(page) == "/login":
                    seen[pid] = time.monotonic() - start
        print(
            f"\n[workers] A's tab on worker {a_pid} (login on {a.login_pid}); other devices' tabs "
            f"on workers {sorted(others)}, known by {known}, relay only: {sorted(remote)}; "
            f"time to /login per worker: { {p: round(t, 3) for p, t in seen.items()} }"
        )
        missing = sorted(set(others) - set(seen))
        assert not missing, f"the devices on workers {missing} were not signed out within 5 s"
        slow = {p: round(t, 3) for p, t in seen.items() if t >= LIVE_LIMIT}
        assert not slow, f"devices took {LIVE_LIMIT} s or more on workers {slow} (A on {a_pid})"
        for _, page in others.values():
            page.wait_for_selector("#login-heading", timeout=2000)

        # A kept its own session, on its own worker, and is its user's only device now
        wait_text(a_page, "#status", "authenticated")
        wait_text(a_page, "#devices", "1")
        assert click(a_page) == a_pid
        # a revoked device's cookie is dead on every worker: replayed elsewhere it is refused
        thief = browser.new_context()
        try:
            thief.add_cookies([stolen])
            for _ in range(3):
                page = thief.new_page()
                page.goto(workers.url + "/dashboard")
                assert path_of(page) == "/login", "a revoked cookie opened the dashboard"
                page.close()
        finally:
            thief.close()

        # a guarded event of a tab whose session ended without any push is refused when it runs.
        # The tab's own browser may still learn of it first (an activity sync that the click of
        # dashboard_tab scheduled finds the session gone): then the guard is not what refused,
        # and the check is made again on a fresh session, up to three times
        for attempt in range(3):
            c.sign_in(BOB).close()
            c_page, c_pid = c.dashboard_tab()
            clicks_before = text(c_page, "#clicks")
            end_sessions_in_store("2")  # straight in Redis: no relay message, no push
            c_page.wait_for_timeout(300)
            if path_of(c_page) == "/dashboard":
                break
            print(f"[workers] attempt {attempt + 1}: C's tab learned of the end by itself")
            c_page.close()
        assert path_of(c_page) == "/dashboard", "the tab was told; the guard would prove nothing"
        c_page.click("#click")
        c_page.wait_for_function("location.pathname.replace(/\\/$/, '') === '/login'", timeout=3000)
        assert clicks_before == "1"
        ran = log_lines(workers, "guarded click 2 by user 2")
        assert not ran, f"the refused guarded event ran anyway: {ran}"
        print(f"[workers] C's refused guarded event went to worker {c_pid}")
    finally:
        for dev in [a, c, *spare, *(dev for dev, _ in others.values())]:
            dev.close()


def end_sessions_in_store(user_id: str) -> None:
    """End a user's sessions with the store's own call (another thread: Playwright's sync API
    holds this thread's event loop)."""
    from reflex_session.stores import RedisStore

    async def end() -> int:
        store = RedisStore(redis_url(), prefix=STORE_PREFIX)
        try:
            return len(await store.destroy_for_user(user_id))
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        ended = pool.submit(asyncio.run, end()).result(10)
    assert ended >= 1, f"no stored session of user {user_id} to end"


WORKER_STATE = (
    "reflex___state____state.reflex_session___reflex___state____session_state"
    ".workers_app___workers_app____worker_state"
)


def test_a_running_task_reaches_no_socket_that_took_its_token_on_any_worker(
    workers: ReflexServer, browser: Any
) -> None:
    """Red team F2 with several workers. The victim starts a background report and closes the
    tab; an XSS that copied the token connects with it from another machine, once without a
    hydrate and once with its own browser's binding and a hydrate (its tab is reset and bound to
    it). The task runs on the victim's worker; the attacker's socket is on another one in at
    least one round, so the task's writes are refused from the binding kept in Redis, and its
    updates reach the attacker's worker only to be checked there. No round leaks a line."""
    from .attacker import ROOT_STATE, cookie_header, run, socket_attempt

    victim = Device(browser, workers, "victim")
    mallory = browser.new_context()
    mallory.new_page().goto(workers.url + "/login")
    own = cookie_header(mallory)
    assert "session_bind=" in own
    hydrate = (f"{ROOT_STATE}.hydrate", {})
    whoami = (f"{WORKER_STATE}.whoami", {})
    rounds: list[tuple[int, int | None]] = []
    try:
        victim.sign_in().close()
        for _ in range(8):
            page, _ = victim.dashboard_tab()
            token = page.evaluate("sessionStorage.getItem('token')")
            page.click("#run-report")
            page.wait_for_function(
                "Number(document.querySelector('#report-steps').textContent) >= 2"
            )
            task_pid = int(text(page, "#report-pid"))
            page.close()  # the task runs on; the token is free for whoever connects with it
            time.sleep(0.5)
            quiet = run(socket_attempt(workers.url, token, [], path="/dashboard", settle=1.5))
            hydrated = run(
                socket_attempt(
                    workers.url, token, [hydrate, whoami, hydrate, hydrate], cookie=own, settle=1.0
                )
            )
            for attempt in (quiet, hydrated):
                assert attempt.connected, attempt.error
                # it spoke for the victim's tab (else Reflex gave it a new token: no proof)
                assert attempt.new_tokens == [], "the victim's socket still held the token"
                assert "report for" not in attempt.text(), attempt.text()[:500]
                assert "ada@example.com" not in attempt.text(), attempt.text()[:500]
            attacker_pid = hydrated.var("worker_state", "pid")
            rounds.append((task_pid, attacker_pid))
            assert attacker_pid, f"the attacker's own tab answered no whoami: {hydrated.text()}"
            if attacker_pid != task_pid:
                break
        print(f"\n[workers] (task worker, attacker worker) per round: {rounds}")
        assert rounds[-1][0] != rounds[-1][1], f"never on two workers: {rounds}"
        assert log_lines(workers, "a background task stopped: another browser took its tab")
    finally:
        victim.close()
        mallory.close()


def test_backend_restart_keeps_the_user_signed_in(workers: ReflexServer, browser: Any) -> None:
    device = Device(browser, workers, "restart")
    try:
        device.sign_in().close()
        page, before_pid = device.dashboard_tab()
        token = page.evaluate("sessionStorage.getItem('token')")
        before_pids = worker_pids(workers)
        start = time.monotonic()
        workers.stop()
        stopped = time.monotonic() - start
        # Reflex's record of the tab's socket, normally deleted when its worker shuts down; if it
        # outlives the stop, Reflex takes the reconnecting tab for a duplicate and gives it a new
        # token (a fresh state): the session must survive that too, it lives in the cookie+store
        stale_record = bool(redis_keys(f"token_manager_socket_record_{token}"))
        workers.start()
        restarted = time.monotonic() - start
        after_pids = worker_pids(workers)
        assert not before_pids & after_pids, "the restart did not replace the workers"
        # the open tab reconnects to a new worker, still signed in: a guarded event runs there
        after_pid = click_on_new_worker(page, after_pids)
        wait_text(page, "#status", "authenticated")
        wait_text(page, "#who", "Ada")
        assert path_of(page) == "/dashboard"
        new_token = page.evaluate("sessionStorage.getItem('token')")
        # a reload and a new tab are signed in by the same cookie, read from the Redis store
        page.reload()
        page.wait_for_selector("#dashboard-heading")
        wait_text(page, "#status", "authenticated")
        wait_text(page, "#who", "Ada")
        tab, tab_pid = device.dashboard_tab()
        assert path_of(tab) == "/dashboard"
        assert tab_pid in after_pids
        print(
            f"\n[workers] restart took {restarted:.1f}s (stop {stopped:.1f}s); "
            f"tab worker {before_pid} -> {after_pid}; new tab on {tab_pid}; "
            f"workers before {sorted(before_pids)} after {sorted(after_pids)}; "
            f"socket record left after stop: {stale_record}; "
            f"tab kept its Reflex token: {new_token == token}"
        )
    finally:
        device.close()


def click_on_new_worker(page: Any, pids: set[int], timeout: float = 20.0) -> int:
    """A guarded click that runs on one of ``pids`` (retried while the tab reconnects: a click
    sent on the dead socket, or answered by the fresh state of a new token, does not count)."""
    deadline = time.monotonic() + timeout
    while True:
        before = text(page, "#clicks")
        page.click("#click")
        try:
            page.wait_for_function(
                """([before, pids]) => {
                    const clicks = document.querySelector('#clicks')?.textContent?.trim();
                    const pid = Number(document.querySelector('#pid')?.textContent);
                    return clicks !== before && pids.includes(pid);
                }""",
                arg=[before, sorted(pids)],
                timeout=3000,
            )
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                pytest.fail(f"no guarded click ran on the restarted workers {sorted(pids)}")
            continue
        return int(text(page, "#pid"))
