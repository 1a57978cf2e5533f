"""Issue 7: two tabs x 100 overlapping updates and refreshes end with every field present.

Cookie mode in a real browser, the hard case: the session lives only in the HttpOnly cookie,
every tab holds its own copy in its Reflex state, and each update or refresh reaches the cookie
through the tab's ``/api/session/sync`` request. The two tabs click without waiting for each
other; each click of "Stamp" merges one new key into ``user.marks`` (a guarded event), every third
click is a "Refresh" (the cookie is re-issued). Nothing may be lost: the browser serialises the
tabs' syncs (``navigator.locks``), each sync merges its tab's queued changes into the newest
cookie, and the other tab pulls after a change (``BroadcastChannel``).

The store-mode and two-worker version of the same promise, with more in flight at once, is
``tests/stores/test_concurrency.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .conftest import Recorder, ReflexServer, login

pytestmark = pytest.mark.e2e

OPERATIONS = 100  # per tab
STAMPS = sum(1 for i in range(OPERATIONS) if i % 3 != 2)  # 67 updates and 33 refreshes per tab
CLICK = {False: "stamp", True: "refresh"}
SETTLE_MS = 60_000  # generous: a loaded CI machine; nothing here asserts a duration


def open_burst(page: Any, server: ReflexServer) -> str:
    page.goto(server.url + "/dashboard/burst")
    page.wait_for_selector("#burst-heading")
    page.wait_for_function("document.querySelector('#status').textContent === 'authenticated'")
    page.wait_for_function("document.querySelector('#label').textContent.length === 4")
    return str(page.inner_text("#label"))


def wait_settled(page: Any, marks: int, stamps: int) -> None:
    page.wait_for_function(
        "([m, s]) => document.querySelector('#marks').textContent === String(m)"
        " && document.querySelector('#stamps').textContent === String(s)",
        arg=[marks, stamps],
        timeout=SETTLE_MS,
    )


def test_two_tabs_x_100_overlapping_updates_and_refreshes_keep_every_field(
    server: ReflexServer, context: Any, recorder: Recorder
) -> None:
    first = context.new_page()
    first.goto(server.url + "/login?callbackUrl=%2Fdashboard%2Fburst")
    login(first)
    first.wait_for_selector("#burst-heading")
    # the login's cookie reaches the browser through the page's sync; a full page load before
    # that drops the pending login (docs/binding.md), so wait for it as a user's next click would
    deadline = time.monotonic() + 30
    while not any(c["name"] == "session" for c in context.cookies()):
        assert time.monotonic() < deadline, "the login cookie never reached the browser"
        first.wait_for_timeout(50)
    label_a = open_burst(first, server)
    second = context.new_page()
    label_b = open_burst(second, server)
    assert label_a != label_b, "the two tabs share a Reflex state"
    syncs_before = len(recorder.sync_requests)

    # interleaved, never waiting for an answer: both tabs' events and syncs overlap (a real
    # click each, dispatched in the page: Playwright's own click waits for the page to settle)
    started = time.monotonic()
    for i in range(OPERATIONS):
        for page in (first, second):
            page.evaluate("id => document.getElementById(id).click()", CLICK[i % 3 == 2])
    clicked = time.monotonic()

    for page in (first, second):
        wait_settled(page, 2 * STAMPS, STAMPS)
    print(
        f"[concurrency] clicks {clicked - started:.1f}s, settled {time.monotonic() - clicked:.1f}s"
    )
    assert len(recorder.sync_requests) - syncs_before > 2, "the writes never reached the cookie"

    # the cookie itself, read by the server: every key of both tabs and every original field
    answer = context.request.get(server.url + "/api/session")
    assert answer.status == 200
    body = answer.json()
    assert body["status"] == "authenticated"
    user = body["session"]["user"]
    expected = {f"{label}{n}" for label in (label_a, label_b) for n in range(1, STAMPS + 1)}
    assert set(user["marks"]) == expected
    assert {k: user[k] for k in ("id", "email", "name", "role", "team")} == {
        "id": "1",
        "email": "ada@example.com",
        "name": "Ada",
        "role": "admin",
        "team": "core",
    }
    assert body["session"]["expiresAt"] > body["session"]["createdAt"]

    # and a fresh tab (a new Reflex state, read from the cookie at connect) sees the same
    third = context.new_page()
    open_burst(third, server)
    third.wait_for_function(
        "n => document.querySelector('#marks').textContent === String(n)",
        arg=2 * STAMPS,
        timeout=SETTLE_MS,
    )
    assert third.inner_text("#team") == "core"
