"""Revocation pushed to open tabs: which tabs show which user, and how to tell them.

Every tab whose state holds a session is recorded here (user id -> Reflex client tokens). When a
session ends on the server — "sign out everywhere", "sign out this device", an admin ending a
session, a disabled account — :func:`push_revocation` re-checks each of that user's tabs against
the store *now* and signs out those whose session is gone. The state change is pushed over the
tab's live websocket (``app.modify_state``), so the page reacts at once: ``@require_auth``
content disappears and the tab goes to the login page, within a second and without waiting for
the tab's next event (which the per-event guard would refuse anyway).

The registry is per process. With several workers, :class:`RedisRelay` publishes the user id on
Redis and every worker pushes to its own tabs; call :func:`notify` and it picks the right way.

The relay also carries the store's change announcements (``changed``) to every worker's read
cache (:mod:`reflex_session.readcache`), and it switches that cache off, empty, for as long as it
is not subscribed: a change announced meanwhile would be lost (fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..backends.store import StoreBackend
from ..binding import digests_match
from ..clock import now_ms
from ..readcache import ReadCache
from ..reasons import Reason
from .runtime import get_app, get_auth, get_runtime
from .state import SessionState

__all__ = [
    "RedisRelay",
    "notify",
    "push_refresh",
    "push_revocation",
    "pushes_finish_at_shutdown",
    "pushes_settled",
]

log = logging.getLogger("reflex_session")


TabAction = Callable[[Any, Any], Awaitable[bool]]


async def _for_each_tab(user_id: str, skip_token: str | None, action: TabAction) -> int:
    """Run ``action(state, session)`` on every open tab of ``user_id`` under its state lock, the
    newest tabs first and several at once; count the tabs where it returned True. Tabs that moved
    on to another user are forgotten."""
    from reflex.istate.manager.token import BaseStateToken

    app = get_app()
    tabs = get_runtime().tabs
    limit = asyncio.Semaphore(16)

    async def one(token: str) -> bool:
        async with limit:
            try:
                async with app.modify_state(BaseStateToken(ident=token, cls=SessionState)) as root:
                    state: Any = await root.get_state(SessionState)
                    session = state.current_session()
                    if session is None or session.user.id != user_id:
                        tabs.remove(user_id, token)
                        return False
                    return await action(state, session)
            except Exception:
                log.exception("could not push a session change to an open tab")
                return False

    tokens = [t for t in reversed(tabs.tokens(user_id)) if t != skip_token]
    return sum(await asyncio.gather(*(one(t) for t in tokens)))


async def push_revocation(
    user_id: str, *, skip_token: str | None = None, origin: str | None = None
) -> int:
    """Sign out, live, every open tab of ``user_id`` whose session no longer exists.

    Returns how many tabs were signed out. ``skip_token`` is the tab running the current event
    (its own state is changed by that event, and its lock is already held). ``origin`` is the
    binding digest of the browser that ended the sessions: its own other tabs say "you signed
    out", every other browser's say "you were signed out on another device".
    """
    auth = get_auth()
    get_runtime().note_revocation(user_id, now_ms(auth.clock))

    async def sign_out_if_gone(state: Any, session: Any) -> bool:
        if await state.session_is_live():  # the one liveness rule of a tab
            return False
        # the user data is flagged and reset before the tab's next event (the redirect to login
        # that follows at once), keeping the push itself short; the browser drops its cookie
        here = origin is not None and digests_match(state.bound_to(), origin)
        state.sign_out(reason=Reason.SIGNED_OUT if here else Reason.REVOKED)
        return True

    return await _for_each_tab(user_id, skip_token, sign_out_if_gone)


async def push_refresh(user_id: str, *, skip_token: str | None = None) -> int:
    """Make every open tab of ``user_id`` show its session as it is now (the revalidate signal).

    After a server-side change (``auth.update_user_sessions``, an admin editing a role), each tab
    re-reads: in store mode straight from the store, in cookie mode through its browser's cookie
    (a pull). Returns how many tabs were refreshed.
    """
    auth = get_auth()

    async def reread(state: Any, session: Any) -> bool:
        if auth.devices is not None:
            state.show(await auth.devices.reload(session))
        else:
            state.queue_pull()
        return True

    return await _for_each_tab(user_id, skip_token, reread)


class RedisRelay:
    """Carries revocations and refreshes to every worker over Redis pub/sub.

    The tab registry is per process, so with several workers (Reflex's Redis state manager) a
    revocation must reach the worker whose registry holds the tab. ``install`` starts one
    subscriber per worker (a lifespan task) when ``REFLEX_REDIS_URL`` (or ``live_redis_url``) is
    set; :func:`notify` then publishes instead of pushing locally, and every worker — this one
    included — pushes to its own tabs.
    """

    def __init__(self, url: str, channel: str = "reflex-session:live") -> None:
        self.url = url
        self.channel = channel
        self._client: Any = None
        self.ready = asyncio.Event()
        self._pending: set[asyncio.Task[None]] = set()

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            # a health check and keepalive: a connection that died silently must be noticed
            # (the read cache stays on only while announcements can arrive)
            self._client = aioredis.from_url(
                self.url, health_check_interval=10, socket_keepalive=True
            )
        return self._client

    async def publish(
        self, kind: str, user_id: str | None, origin: str | None = None, sid: str | None = None
    ) -> None:
        """Send one ``revoke``, ``refresh`` or ``changed`` for ``user_id`` (or, for
        ``changed``, session ``sid``) to every worker, this one included (``origin``: the acting
        browser's binding digest, see :func:`push_revocation`)."""
        event = {"kind": kind, "user": user_id, "origin": origin, "sid": sid}
        await self._redis().publish(self.channel, json.dumps(event))

    def announce_change(self, sid: str | None, user_id: str | None) -> None:
        """A store change made here (``StoreBackend.on_change``): publish it, in the background
        (the change itself never waits for Redis)."""
        task = asyncio.get_running_loop().create_task(self._announce(sid, user_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _announce(self, sid: str | None, user_id: str | None) -> None:
        try:
            await self.publish("changed", user_id, sid=sid)
        except Exception:
            # the other workers keep their copy until its ttl: say so, loudly
            log.error(
                "live relay could not announce a session change; other workers' read "
                "caches hold it for up to their ttl"
            )

    async def run(self) -> None:
        """Subscribe and push to this worker's tabs until cancelled (reconnects on errors)."""
        while True:
            try:
                pubsub = self._redis().pubsub()
                await pubsub.subscribe(self.channel)
                _cache_online(True)  # from now on every change reaches us: start afresh
                self.ready.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        event = json.loads(message["data"])
                        kind = event["kind"]
                        user = event.get("user")
                        user_id = str(user) if user is not None else None
                        sid = event.get("sid")
                        sid = sid if isinstance(sid, str) else None
                        origin = event.get("origin")
                        origin = origin if isinstance(origin, str) else None
                    except Exception:  # anything malformed (deep nesting included): skip it
                        log.warning("live relay skipped a malformed message")
                        continue
                    await _dispatch(kind, user_id, sid, origin)
            except asyncio.CancelledError:
                _cache_online(False)
                raise
            except Exception:
                log.error("live relay lost its Redis connection; reconnecting in 1 s")
                _cache_online(False)  # changes may be missed now: no cached read until back
                self.ready.clear()
                await asyncio.sleep(1)


def _read_cache() -> ReadCache | None:
    backend = get_auth().backend
    return backend.cache if isinstance(backend, StoreBackend) else None


def _cache_online(online: bool) -> None:
    """The relay (re)connected or went away: the read cache starts empty either way, and is
    used only while every change can reach it."""
    cache = _read_cache()
    if cache is not None:
        cache.clear()
        cache.enabled = online


async def _dispatch(kind: str, user_id: str | None, sid: str | None, origin: str | None) -> None:
    """One relay message, on this worker."""
    backend = get_auth().backend
    if isinstance(backend, StoreBackend):
        # a revoke or refresh implies changes: drop the copies before the tabs re-check, so the
        # order in which the messages arrive cannot matter
        backend.heard(sid, user_id)
    if user_id is None:
        return
    if kind == "revoke":
        await push_revocation(user_id, origin=origin)
    elif kind == "refresh":
        await push_refresh(user_id)


#: pushes running after the event that asked for them (see :func:`notify`)
_PUSHES: set[asyncio.Task[int]] = set()


async def notify(
    kind: str, user_id: str, *, skip_token: str | None = None, origin: str | None = None
) -> None:
    """Tell every open tab of ``user_id`` (on every worker) to re-check: ``"revoke"`` or
    ``"refresh"``. Without a relay the pushes happen here, in this process.

    ``origin`` is the binding digest of the browser whose action this is
    (``state.bound_to()``), when a user ends their own sessions: that browser's other tabs then
    say "you signed out" rather than "signed out on another device".

    The local pushes run in a task of their own, not here: the caller is an event handler that
    holds its own tab's lock, and a push takes each other tab's lock in turn. Two tabs doing it
    at once (two logouts) would each wait for the other for ever. A revocation is noted first,
    so every tab's next event re-checks even before its push arrives.
    """
    relay = get_runtime().relay
    if relay is not None:
        try:
            await relay.publish(kind, user_id, origin)
            return
        except Exception:
            log.error("live relay could not publish; pushing to this worker's tabs only")
    if kind == "revoke":
        get_runtime().note_revocation(user_id, now_ms(get_auth().clock))
        push = push_revocation(user_id, skip_token=skip_token, origin=origin)
    else:
        push = push_refresh(user_id, skip_token=skip_token)
    task = asyncio.get_running_loop().create_task(push)
    _PUSHES.add(task)
    task.add_done_callback(_push_done)


def _push_done(task: asyncio.Task[int]) -> None:
    """Forget a finished push, and say so if it failed (nobody awaits it to hear it)."""
    _PUSHES.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("a live push to open tabs failed", exc_info=task.exception())


async def pushes_settled() -> None:
    """Wait until the pushes :func:`notify` started on this loop have run."""
    loop = asyncio.get_running_loop()
    while mine := [task for task in _PUSHES if task.get_loop() is loop]:
        await asyncio.gather(*mine, return_exceptions=True)


@contextlib.asynccontextmanager
async def pushes_finish_at_shutdown() -> AsyncIterator[None]:
    """A lifespan task (``install`` registers it): pushes still running when the server stops
    get five seconds to reach their tabs, instead of being dropped with the loop."""
    yield
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(pushes_settled(), 5)
