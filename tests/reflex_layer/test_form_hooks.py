"""The login/register hooks never block the event loop (``reflex_session.reflex.forms._call``).

A sync ``authenticate`` hashes a password and queries a database: run on the loop it would stall
every tab of the worker for that long, so it must run in a worker thread; an async one runs on
the loop, and a sync hook that returns an awaitable has it awaited.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from reflex_session.reflex.forms import _call


async def test_sync_hook_runs_in_a_worker_thread_while_the_loop_keeps_going() -> None:
    loop_thread = threading.get_ident()
    started, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def authenticate(attempt: str) -> dict[str, str]:
        seen["thread"] = threading.get_ident()
        started.set()
        release.wait(10)  # blocks, like argon2 would
        return {"id": attempt}

    task = asyncio.create_task(_call(authenticate, "u-1"))
    await asyncio.to_thread(started.wait, 10)
    # we got here while the hook blocks: the loop was free (on the loop, the hook would have
    # held it until release.wait timed out, and the task would be done by now)
    await asyncio.sleep(0)
    assert not task.done()
    release.set()
    assert await task == {"id": "u-1"}
    assert seen["thread"] != loop_thread


async def test_async_hook_runs_on_the_loop() -> None:
    loop_thread = threading.get_ident()

    async def authenticate(attempt: str) -> str:
        assert threading.get_ident() == loop_thread
        return attempt.upper()

    class Hook:
        async def __call__(self, attempt: str) -> str:
            assert threading.get_ident() == loop_thread
            return attempt * 2

    assert await _call(authenticate, "ada") == "ADA"
    assert await _call(Hook(), "ab") == "abab"


async def test_sync_hook_returning_an_awaitable_is_awaited() -> None:
    async def later(value: str) -> str:
        return value + "!"

    assert await _call(lambda attempt: later(attempt), "ok") == "ok!"
