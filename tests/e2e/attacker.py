"""The XSS attacker's second client: python-socketio and httpx on another machine.

It holds whatever page JavaScript could read (the Reflex client token, storage, every frame the
page received) and nothing HttpOnly, unless it brings its *own* cookies from its own browser. It
speaks Reflex 0.10.1's websocket protocol directly: it may skip ``hydrate_and_load``, send
Reflex's plain ``hydrate``, or name any handler of any state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import socketio  # type: ignore[import-untyped]

NAMESPACE = "/_event"
ROOT_STATE = "reflex___state____state"
SYNC_PATH = "/api/session/sync"

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on its own loop in another thread (Playwright's sync API owns this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Attempt:
    """What one socket of the attacker received."""

    connected: bool = False
    frames: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    #: tokens Reflex handed this socket instead of the one it presented (it was still linked
    #: to another live socket): then the socket never spoke for the stolen tab at all
    new_tokens: list[str] = field(default_factory=list)

    def text(self) -> str:
        return json.dumps(self.frames, default=str)

    def var(self, suffix: str, name: str) -> Any:
        """The last value of ``name`` in a state whose name ends with ``suffix``. Reflex 0.10
        sends a var as ``<name>_rx_state_``; both spellings are read."""
        value = None
        for frame in self.frames:
            for state, changes in (frame.get("delta") or {}).items():
                if not state.endswith(suffix):
                    continue
                for key in (name, f"{name}_rx_state_"):
                    if key in changes:
                        value = changes[key]
        return value


async def socket_attempt(
    url: str,
    token: str,
    events: list[tuple[str, dict[str, Any]]],
    *,
    cookie: str | None = None,
    origin: str | None = None,
    path: str = "/",
    settle: float = 1.5,
) -> Attempt:
    """Open a socket with ``token`` and send ``events`` (no boot event: nothing is implied)."""
    attempt = Attempt()
    sio = socketio.AsyncClient(reconnection=False)

    async def on_event(update: dict[str, Any]) -> None:
        attempt.frames.append(update)

    async def on_new_token(token: str) -> None:
        attempt.new_tokens.append(token)

    sio.on("event", on_event, namespace=NAMESPACE)
    sio.on("new_token", on_new_token, namespace=NAMESPACE)
    headers = {"User-Agent": "attacker/1.0"}
    if cookie:
        headers["Cookie"] = cookie
    if origin:
        headers["Origin"] = origin
    router = {"pathname": path, "asPath": path}
    try:
        await sio.connect(
            f"{url}?token={token}",
            headers=headers,
            transports=["websocket"],
            socketio_path="/_event",
            namespaces=[NAMESPACE],
            wait_timeout=10,
        )
        attempt.connected = True
        for name, payload in events:
            await sio.emit(
                "event", {"name": name, "payload": payload, "router_data": router}, NAMESPACE
            )
            await asyncio.sleep(0.3)
        await asyncio.sleep(settle)
    except (socketio.exceptions.ConnectionError, OSError) as exc:
        attempt.error = type(exc).__name__
    finally:
        with contextlib.suppress(Exception):
            await sio.disconnect()
    return attempt


async def sync_attempt(
    url: str,
    token: str,
    *,
    cookie: str | None = None,
    origin: str | None = None,
    extra: dict[str, Any] | None = None,
) -> httpx.Response:
    """``POST /api/session/sync`` with the stolen token and anything else the page exposed
    (``extra``: e.g. the sync nonce older versions kept on ``window``)."""
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    if origin:
        headers["Origin"] = origin
    async with httpx.AsyncClient(timeout=10) as client:
        body = {**(extra or {}), "token": token}
        return await client.post(url + SYNC_PATH, json=body, headers=headers)


def cookie_header(context: Any) -> str:
    """All of a browser context's cookies as a ``Cookie`` header (the attacker's *own* browser)."""
    return "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
