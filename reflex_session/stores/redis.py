"""A session store in Redis (redis-py's asyncio client).

Keys (``prefix`` defaults to ``"rs:"``)::

    {prefix}s:{sid}      hash: d (data, JSON text), u (user id, absent for none), c, t, e
                         (created/touched/expires, float Unix seconds as text), m (meta, JSON)
    {prefix}u:{user_id}  set of the user's session ids (the index)
    {prefix}c:{sid}      hash: CSRF token digest -> expiry
    {prefix}l:{key}      hash: o (the lease's owner), e (its expiry, float Unix seconds)

The injected clock decides expiry (every script gets "now" from it). Each key also gets a real
TTL, ``max(1, expires_at - now) + 60`` seconds from the same clock, purely as garbage
collection; a user's set lives as long as their longest session.

**Atomicity.** Every operation that reads and then writes is one Lua script (``lua/*.lua``, next
to this module), and Redis runs a script without interleaving anything else. The deep merge runs
in Lua on the JSON *text* (``lua/json.lua`` says why Redis' ``cjson`` is not used: it changes
data), which works because every writer is this module, storing compact, ASCII-only JSON
(:func:`~reflex_session.stores.base.encode_json`) in which a key has exactly one spelling.

**Every key through KEYS.** No script builds a key name: Python computes each one and passes it
in ``KEYS``. Two kinds of keys are only known at run time:

* *The owner's index set.* Writing a session moves it between users' sets, but only the
  script can read the current owner. Python passes the sets it expects (the new owner's, and
  the last owner this process saw for that id: a hint, see ``_hints``); a script that meets
  another owner writes nothing and names it, and the operation runs again with that set too
  (``lua/session.lua``). The check and the writes are in one script, so a retry is as atomic
  as one run, and with a right hint (the usual case: a request reads its session before it
  touches it) it costs no extra round trip.
* *The sessions of a user*, for :meth:`RedisStore.destroy_for_user`. Python reads the index
  set, then the script checks that the set still holds exactly those ids before it deletes
  anything, else Python reads again. This is optimistic concurrency like ``WATCH``/``MULTI``
  but in one script, so a login that lands between the read and the delete is caught, never
  missed.

**Redis Cluster.** A script's keys must share one hash slot there. A session and its owner's
set cannot be placed together by a per-user hash tag (``get(sid)`` does not know the user), and
splitting them would give up the atomicity above. So, for Cluster, give the prefix a hash tag,
e.g. ``prefix="{rs}:"``: all of this store's keys then share one slot, on one shard (sessions
are small; Cluster still gives failover), and every script is valid as it is. With the default
prefix the store needs a single Redis (or a primary behind Sentinel), as before. (The store
still takes a ``redis.asyncio.Redis``, not a ``RedisCluster`` client, and ``purge_expired``
scans one server: the scripts are ready for Cluster, the client wiring is not yet.)
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from importlib import resources
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

try:
    from redis import exceptions as redis_errors
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "RedisStore needs the redis package: pip install reflex-session[redis]"
    ) from error

from ..clock import SYSTEM_CLOCK, Clock
from .base import (
    CSRF_LIMIT,
    GC_SLACK,
    SessionStore,
    StoredSession,
    StoreUnavailable,
    decode_json,
    decode_object,
    encode_json,
    gc_ttl,
)

__all__ = ["RedisStore"]

T = TypeVar("T")

_UNAVAILABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError)

#: The scripts, in ``lua/`` next to this module (shipped in the wheel, read once at import). Each
#: one runs with the two libraries in front of it: ``json.lua`` (the merge on JSON text) and
#: ``session.lua`` (arguments, the clock rule, writing a session).
_LIBRARIES: Final = ("json.lua", "session.lua")
_SCRIPTS: Final = (
    "set",
    "touch",
    "destroy",
    "destroy_for_user",
    "merge",
    "replace_data",
    "pluck",
    "add_csrf",
    "consume_csrf",
    "purge_one",
    "unindex",
    "acquire",
    "release",
)
#: A script's answer when it must write the index set of a user it was not given.
_NEED_INDEX: Final = "need-index"
#: Runs of one operation before giving up on an owner / index set that keeps changing under it.
_ATTEMPTS: Final = 10
#: Owner hints kept (session id -> user id); the oldest are forgotten first.
_HINTS: Final = 10_000


def lua_source(name: str) -> str:
    """The full Lua text of script ``name``: the libraries, then ``lua/{name}.lua``."""
    folder = resources.files("reflex_session.stores").joinpath("lua")
    parts = [folder.joinpath(file).read_text("utf-8") for file in (*_LIBRARIES, f"{name}.lua")]
    return "\n".join(parts)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _where(client: Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']} db {kwargs.get('db', 0)}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)} db {kwargs.get('db', 0)}"


class RedisStore(SessionStore):
    """Sessions in Redis. ``url_or_client`` is a ``redis://`` URL or a ``redis.asyncio.Redis``.

    A client you pass stays yours (:meth:`close` does not close it); it may decode responses
    or not. ``prefix`` namespaces every key, so several apps can share one database; put a hash
    tag in it (``"{rs}:"``) to run on Redis Cluster (see the module docstring).
    """

    def __init__(
        self,
        url_or_client: str | Redis,
        *,
        prefix: str = "rs:",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.prefix = prefix
        self._owns_client = isinstance(url_or_client, str)
        if isinstance(url_or_client, str):
            self._password = urlsplit(url_or_client).password
            self.redis: Redis = Redis.from_url(url_or_client, decode_responses=True)
        else:
            self.redis = url_or_client
            self._password = url_or_client.connection_pool.connection_kwargs.get("password")
        self._where = _where(self.redis)
        register = self.redis.register_script
        scripts = {name: register(lua_source(name)) for name in _SCRIPTS}
        self._set_script = scripts["set"]
        self._touch_script = scripts["touch"]
        self._destroy_script = scripts["destroy"]
        self._destroy_user_script = scripts["destroy_for_user"]
        self._merge_script = scripts["merge"]
        self._replace_script = scripts["replace_data"]
        self._pluck_script = scripts["pluck"]
        self._add_csrf_script = scripts["add_csrf"]
        self._consume_script = scripts["consume_csrf"]
        self._purge_script = scripts["purge_one"]
        self._unindex_script = scripts["unindex"]
        self._acquire_script = scripts["acquire"]
        self._release_script = scripts["release"]
        # Session id -> the owner this process last saw. Only a guess of which index set a
        # script will need (the script checks it), so a stale or missing entry costs one more
        # round trip, never correctness; bounded, oldest forgotten first.
        self._hints: dict[str, str] = {}

    # -- plumbing ----------------------------------------------------------------------------------

    def _unavailable(self, error: Exception) -> StoreUnavailable:
        text = str(error).strip()
        detail = text.splitlines()[0] if text else type(error).__name__
        if self._password:
            detail = detail.replace(self._password, "***")
        return StoreUnavailable("redis", f"{self._where}: {detail}")

    async def _call(self, pending: Awaitable[T] | T) -> T:
        # redis-py types its commands as "awaitable or value" (one class serves both clients).
        try:
            return await pending if inspect.isawaitable(pending) else pending
        except _UNAVAILABLE as error:
            raise self._unavailable(error) from error

    def _skey(self, sid: str) -> str:
        return f"{self.prefix}s:{sid}"

    def _ckey(self, sid: str) -> str:
        return f"{self.prefix}c:{sid}"

    def _ukey(self, user_id: str) -> str:
        return f"{self.prefix}u:{user_id}"

    def _hint(self, sid: str, user_id: str | None) -> None:
        """Remember who owns ``sid`` (``None``: nobody / gone)."""
        if user_id is None:
            self._hints.pop(sid, None)
            return
        self._hints[sid] = user_id
        if len(self._hints) > _HINTS:
            del self._hints[next(iter(self._hints))]

    async def _run(
        self, script: AsyncScript, sid: str, keys: list[str], args: list[Any], *users: str | None
    ) -> Any:
        """Run a script that may write owners' index sets (protocol: ``lua/session.lua``).

        ``users`` are the owners whose sets it may need (``None`` entries are skipped); the
        owner last seen for ``sid`` is added. When the script names an owner it was not given,
        it has written nothing: remember that owner and run it again with that set too.
        """
        known = [u for u in users if u]
        hint = self._hints.get(sid)
        if hint is not None and hint not in known:
            known.append(hint)
        for _ in range(_ATTEMPTS):
            index_keys = [self._ukey(u) for u in known]
            result = await self._call(
                script(keys=keys + index_keys, args=[len(known), *known, *args])
            )
            if not isinstance(result, list):
                return result
            owner = _text(result[1])  # never one of ``known``: the script had those
            self._hint(sid, owner)
            known.append(owner)
        raise RuntimeError(f"the owner of a Redis session changed {_ATTEMPTS} times in a row")

    def _snapshot(self, sid: str, raw: Mapping[Any, Any]) -> StoredSession:
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return StoredSession(
            sid=sid,
            user_id=fields.get("u"),
            data=decode_object(fields["d"]),
            created_at=float(fields["c"]),
            touched_at=float(fields["t"]),
            expires_at=float(fields["e"]),
            meta=decode_object(fields.get("m", "{}")),
        )

    # -- the hooks (arguments already checked by SessionStore) -------------------------------------

    async def _get(self, sid: str) -> StoredSession | None:
        raw = await self._call(self.redis.hgetall(self._skey(sid)))
        if not raw:
            return None
        session = self._snapshot(sid, raw)
        self._hint(sid, session.user_id)
        return session if session.is_live(self.clock.time()) else None

    async def _set(
        self, sid: str, data: str, user_id: str | None, expires_at: float, meta: str | None
    ) -> None:
        now = self.clock.time()
        args = [sid, repr(now), data, user_id or "", repr(expires_at), meta or ""]
        args.append(str(gc_ttl(expires_at, now)))
        await self._run(self._set_script, sid, [self._skey(sid)], args, user_id)
        self._hint(sid, user_id)

    async def _touch(self, sid: str, expires_at: float) -> bool:
        now = self.clock.time()
        args = [repr(now), repr(expires_at), str(gc_ttl(expires_at, now))]
        return bool(await self._run(self._touch_script, sid, [self._skey(sid)], args))

    async def _destroy(self, sid: str) -> None:
        keys = [self._skey(sid), self._ckey(sid)]
        await self._run(self._destroy_script, sid, keys, [sid])
        self._hint(sid, None)

    async def _list_for_user(self, user_id: str) -> list[StoredSession]:
        ukey = self._ukey(user_id)
        sids = sorted(_text(s) for s in await self._call(self.redis.smembers(ukey)))
        if not sids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.hgetall(self._skey(sid))
            rows: list[Any] = await self._call(pipe.execute())
        now = self.clock.time()
        found: list[StoredSession] = []
        stale: list[str] = []
        for sid, raw in zip(sids, rows, strict=True):
            if not raw:
                stale.append(sid)
                continue
            session = self._snapshot(sid, raw)
            if session.user_id != user_id:
                stale.append(sid)
            elif session.is_live(now):
                found.append(session)
        if stale:
            keys = [ukey, *map(self._skey, stale)]
            await self._call(self._unindex_script(keys=keys, args=[0, user_id, *stale]))
        return found

    async def _destroy_for_user(self, user_id: str, keep: frozenset[str]) -> list[str]:
        ukey = self._ukey(user_id)
        for _ in range(_ATTEMPTS):
            sids = [_text(s) for s in await self._call(self.redis.smembers(ukey))]
            keys = [ukey]
            for sid in sids:
                keys += (self._skey(sid), self._ckey(sid))
            kept = [sid for sid in sids if sid in keep]
            args: list[str | int] = [0, user_id, repr(self.clock.time()), len(kept), *kept, *sids]
            ended = await self._call(self._destroy_user_script(keys=keys, args=args))
            if isinstance(ended, list):
                for sid in sids:
                    if sid not in keep:
                        self._hint(sid, None)
                return [_text(sid) for sid in ended]
        raise RuntimeError(f"the sessions of a user changed {_ATTEMPTS} times during the sign-out")

    async def _merge(
        self, sid: str, patch: str, create: tuple[str | None, float] | None
    ) -> dict[str, Any] | None:
        now = self.clock.time()
        user, expires, ttl = "", "0", "1"
        if create is not None:
            user = create[0] or ""
            expires, ttl = repr(create[1]), str(gc_ttl(create[1], now))
        flag = "0" if create is None else "1"
        args = [sid, repr(now), patch, flag, user, expires, ttl]
        result = await self._run(self._merge_script, sid, [self._skey(sid)], args, user)
        return None if result is None else decode_object(_text(result))

    async def _replace_data(self, sid: str, data: str) -> bool:
        args: list[str | int] = [0, repr(self.clock.time()), data]
        return bool(await self._call(self._replace_script(keys=[self._skey(sid)], args=args)))

    async def _pluck(self, sid: str, key: str) -> Any:
        args: list[str | int] = [0, repr(self.clock.time()), encode_json(key)]
        result = await self._call(self._pluck_script(keys=[self._skey(sid)], args=args))
        return None if result is None else decode_json(_text(result))

    async def _add_csrf(self, sid: str, token_digest: str, expires_at: float) -> None:
        now = self.clock.time()
        args: list[str | int] = [0, token_digest, repr(expires_at), repr(now), CSRF_LIMIT]
        args.append(GC_SLACK)
        await self._call(self._add_csrf_script(keys=[self._ckey(sid)], args=args))

    async def _consume_csrf(self, sid: str, token_digest: str) -> bool:
        args: list[str | int] = [0, token_digest, repr(self.clock.time())]
        return bool(await self._call(self._consume_script(keys=[self._ckey(sid)], args=args)))

    async def _acquire(self, key: str, owner: str, ttl: float) -> bool:
        # the clock decides (as for sessions), the native TTL only collects a dead holder's key
        now = self.clock.time()
        args: list[str | int] = [0, owner, repr(now), repr(now + ttl), str(gc_ttl(now + ttl, now))]
        keys = [f"{self.prefix}l:{key}"]
        return bool(await self._call(self._acquire_script(keys=keys, args=args)))

    async def _release(self, key: str, owner: str) -> bool:
        keys = [f"{self.prefix}l:{key}"]
        return bool(await self._call(self._release_script(keys=keys, args=[0, owner])))

    async def purge_expired(self) -> int:
        """Delete sessions expired by the clock (Redis' TTLs do this on their own, later)."""
        pattern = _glob_escape(self.prefix) + "s:*"
        start = len(self.prefix) + 2
        now = repr(self.clock.time())
        purged = 0
        try:
            async for key in self.redis.scan_iter(match=pattern, count=500):
                sid = _text(key)[start:]
                keys = [self._skey(sid), self._ckey(sid)]
                purged += int(await self._run(self._purge_script, sid, keys, [sid, now]))
        except _UNAVAILABLE as error:
            raise self._unavailable(error) from error
        return purged

    async def close(self) -> None:
        """Close the connection pool if this store created the client."""
        if self._owns_client:
            await self.redis.aclose()

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r}, prefix={self.prefix!r})"
