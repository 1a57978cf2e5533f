"""Reflex's long-polling transport (``transport="polling"``) in a real browser.

The socket is then a series of HTTP requests to ``/_event`` naming their Engine.IO session in
``?sid=``, which any script on the page can read (the resource timing list shows every polling
URL). The red team (stop 22, F1) spoke on the victim's socket with that sid alone, from another
machine. Here the browser's own polling works (a guarded event, a login), and the same request
from a stranger, without the browser's binding cookie, is refused before Engine.IO sees it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from .conftest import ReflexServer, _make_server, login, wait_until

pytestmark = pytest.mark.e2e

CLICK = (
    "reflex___state____state.reflex_session___reflex___state____session_state"
    ".e2e_app___e2e_app____dashboard_state.click"
)


@pytest.fixture(scope="module")
def polling_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReflexServer]:
    srv = _make_server(
        tmp_path_factory, "polling", E2E_SESSION_EXPIRY="3600", REFLEX_TRANSPORT="polling"
    )
    srv.start()
    yield srv
    srv.stop()


def clicks(page: Any) -> int:
    return int(page.inner_text("#clicks") or 0)


def test_polling_serves_its_browser_and_refuses_a_stolen_sid(
    polling_server: ReflexServer, browser: Any
) -> None:
    url = polling_server.url
    context = browser.new_context()
    try:
        page = context.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(url + "/login")
        login(page)
        page.wait_for_selector("#home-heading")
        page.goto(url + "/dashboard")
        page.wait_for_selector("#dashboard-heading")
        page.click("#click")  # a guarded event, over long polling
        wait_until(lambda: clicks(page) == 1, "the click over long polling")
        assert sockets == [], f"the page opened a websocket: {sockets}"

        # what the XSS reads: the polling URLs in the page's resource timing list
        polled = page.evaluate(
            "performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(u => u.includes('transport=polling') && u.includes('sid='))"
        )
        assert polled, "no polling request named its session"
        sid = parse_qs(urlsplit(polled[-1]).query)["sid"][0]
        target = f"{url}/_event/?EIO=4&transport=polling&sid={sid}"
        body = "42/_event," + json.dumps(["event", {"name": CLICK, "payload": {}}])
        own = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())

        with httpx.Client(timeout=10) as client:
            # a stranger with the sid alone, then with its own browser's cookies
            other = httpx.get(url + "/login", timeout=10).cookies
            strangers = [
                {},
                {"Cookie": "; ".join(f"{k}={v}" for k, v in other.items())},
            ]
            for headers in strangers:
                sent = client.post(target, content=body, headers=headers)
                assert sent.status_code == 403, sent.text
                assert sent.json() == {"error": "not_bound"}
                read = client.get(target, headers=headers)
                assert read.status_code == 403, read.text
            time.sleep(1.0)
            assert clicks(page) == 1, "a stranger's event ran on the victim's socket"
            # the control: the same request with the browser's own cookies is the browser's own
            mine = client.post(target, content=body, headers={"Cookie": own})
            assert mine.status_code == 200, mine.text
        wait_until(lambda: clicks(page) == 2, "the browser's own request to run")
        page.click("#click")  # and the page's own polling goes on
        wait_until(lambda: clicks(page) == 3, "the page's next click")
    finally:
        context.close()
