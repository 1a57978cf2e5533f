"""A session store in Redis (redis-py's asyncio client).

Keys (``prefix`` defaults to ``"rs:"``)::

    {prefix}s:{sid}      hash: d (data, JSON text), u (user id, absent for none), c, t, e
                         (created/touched/expires, float Unix seconds as text), m (meta, JSON)
    {prefix}u:{user_id}  set of the user's session ids
    {prefix}c:{sid}      hash: CSRF token digest -> expiry

The injected clock decides expiry (every script gets "now" from it). Each key also gets a real
TTL, ``max(1, expires_at - now) + 60`` seconds from the same clock, purely as garbage
collection; a user's set lives as long as their longest session.

Atomicity: every operation that reads and then writes is one Lua script, and Redis runs a script
without interleaving anything else. The deep merge itself runs in Lua, **on the JSON text**: a
small scanner splits an object into its members without decoding the values, so untouched values
are copied byte for byte. (Redis' bundled ``cjson`` would turn ``[]`` into ``{}`` and round
numbers to 14 digits, so it is not used for data.) This works because every writer is this
module, which stores compact, ASCII-only JSON (:func:`~reflex_session.stores.base.encode_json`)
in which a key has exactly one spelling.

The scripts build the user and CSRF key names from the prefix, so the store needs a single Redis
(or a primary behind Sentinel), not Redis Cluster.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

try:
    from redis import exceptions as redis_errors
    from redis.asyncio import Redis
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
    check_data,
    check_expires,
    check_set,
    check_sid,
    check_user_id,
    decode_json,
    decode_object,
    encode_json,
    gc_ttl,
)

__all__ = ["RedisStore"]

T = TypeVar("T")

_UNAVAILABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError)

# --- Lua -----------------------------------------------------------------------------------------
# Shared by every script. JSON texts are compact (no whitespace outside strings).
_LIB: Final = r"""
local function skip_string(s, i)
  local j = i + 1
  while true do
    local p = string.find(s, '["\\]', j)
    if string.sub(s, p, p) == '\\' then j = p + 2 else return p end
  end
end

local function skip_value(s, i)
  local c = string.sub(s, i, i)
  if c == '"' then return skip_string(s, i) end
  if c == '{' or c == '[' then
    local depth, j = 0, i
    while true do
      local p = string.find(s, '[%[%]{}"]', j)
      local ch = string.sub(s, p, p)
      if ch == '"' then
        j = skip_string(s, p) + 1
      elseif ch == '{' or ch == '[' then
        depth = depth + 1
        j = p + 1
      else
        depth = depth - 1
        if depth == 0 then return p end
        j = p + 1
      end
    end
  end
  return string.find(s, '[,}%]]', i) - 1
end

-- The members of a JSON object text, in order, as {key text, value text} pairs.
local function members(s)
  local out, n, i = {}, #s, 2
  while i < n do
    local k_end = skip_string(s, i)
    local v_end = skip_value(s, k_end + 2)
    out[#out + 1] = {string.sub(s, i, k_end), string.sub(s, k_end + 2, v_end)}
    i = v_end + 2
  end
  return out
end

local function render(list)
  local parts = {}
  for k = 1, #list do parts[k] = list[k][1] .. ':' .. list[k][2] end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- reflex_session.session.deep_merge, on JSON text: objects merge, anything else replaces.
local function merge(current, patch)
  local list, index = members(current), {}
  for k = 1, #list do index[list[k][1]] = k end
  local changes = members(patch)
  for k = 1, #changes do
    local key, value = changes[k][1], changes[k][2]
    local pos = index[key]
    if pos == nil then
      list[#list + 1] = {key, value}
      index[key] = #list
    elseif string.byte(value, 1) == 123 and string.byte(list[pos][2], 1) == 123 then
      list[pos][2] = merge(list[pos][2], value)
    else
      list[pos][2] = value
    end
  end
  return render(list)
end

local function is_live(expires, now)
  return expires and tonumber(expires) > now
end

local function extend(key, ttl)
  if redis.call('TTL', key) < ttl then redis.call('EXPIRE', key, ttl) end
end

-- Write a whole session: replacing a live one keeps created_at (and meta when meta == '').
local function put(prefix, sid, data, user, expires, meta, now_s, ttl)
  local key = prefix .. 's:' .. sid
  local old = redis.call('HMGET', key, 'u', 'c', 'e', 'm')
  local live = is_live(old[3], tonumber(now_s))
  local created = now_s
  if live and old[2] then created = old[2] end
  if meta == '' then
    meta = '{}'
    if live and old[4] then meta = old[4] end
  end
  if old[1] and old[1] ~= user then redis.call('SREM', prefix .. 'u:' .. old[1], sid) end
  redis.call('DEL', key)
  redis.call('HSET', key, 'd', data, 'c', created, 't', now_s, 'e', expires, 'm', meta)
  if user ~= '' then redis.call('HSET', key, 'u', user) end
  redis.call('EXPIRE', key, ttl)
  if user ~= '' then
    local ukey = prefix .. 'u:' .. user
    redis.call('SADD', ukey, sid)
    extend(ukey, ttl)
  end
end
"""

# ARGV: prefix, sid, now, data, user ('' = none), expires, meta ('' = keep), ttl
_SET: Final = """
put(ARGV[1], ARGV[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[3], tonumber(ARGV[8]))
return 1
"""

# ARGV: prefix, sid, now, expires, ttl
_TOUCH: Final = """
local key = ARGV[1] .. 's:' .. ARGV[2]
local vals = redis.call('HMGET', key, 'e', 'u')
if not is_live(vals[1], tonumber(ARGV[3])) then return 0 end
redis.call('HSET', key, 't', ARGV[3], 'e', ARGV[4])
local ttl = tonumber(ARGV[5])
redis.call('EXPIRE', key, ttl)
if vals[2] then extend(ARGV[1] .. 'u:' .. vals[2], ttl) end
return 1
"""

# ARGV: prefix, sid
_DESTROY: Final = """
local key = ARGV[1] .. 's:' .. ARGV[2]
local user = redis.call('HGET', key, 'u')
redis.call('DEL', key, ARGV[1] .. 'c:' .. ARGV[2])
if user then redis.call('SREM', ARGV[1] .. 'u:' .. user, ARGV[2]) end
return 1
"""

# ARGV: prefix, user, except sid ('' = none), now.  Returns the number of live sessions ended.
_DESTROY_FOR_USER: Final = """
local prefix, user, except, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local ukey = prefix .. 'u:' .. user
local ended = 0
for _, sid in ipairs(redis.call('SMEMBERS', ukey)) do
  if sid ~= except then
    local key = prefix .. 's:' .. sid
    local vals = redis.call('HMGET', key, 'u', 'e')
    if vals[1] == user then
      if is_live(vals[2], now) then ended = ended + 1 end
      redis.call('DEL', key, prefix .. 'c:' .. sid)
    end
    redis.call('SREM', ukey, sid)
  end
end
return ended
"""

# ARGV: prefix, sid, now, patch, create ('1'/'0'), user, expires, ttl.  Returns the new data.
_MERGE: Final = """
local key = ARGV[1] .. 's:' .. ARGV[2]
local vals = redis.call('HMGET', key, 'e', 'd')
if is_live(vals[1], tonumber(ARGV[3])) then
  local data = merge(vals[2], ARGV[4])
  redis.call('HSET', key, 'd', data)
  return data
end
if ARGV[5] ~= '1' then return false end
local data = merge('{}', ARGV[4])
put(ARGV[1], ARGV[2], data, ARGV[6], ARGV[7], '', ARGV[3], tonumber(ARGV[8]))
return data
"""

# ARGV: prefix, sid, now, data
_REPLACE: Final = """
local key = ARGV[1] .. 's:' .. ARGV[2]
if not is_live(redis.call('HGET', key, 'e'), tonumber(ARGV[3])) then return 0 end
redis.call('HSET', key, 'd', ARGV[4])
return 1
"""

# ARGV: prefix, sid, now, key as JSON text.  Returns the value's JSON text, or nil.
_PLUCK: Final = """
local key = ARGV[1] .. 's:' .. ARGV[2]
local vals = redis.call('HMGET', key, 'e', 'd')
if not is_live(vals[1], tonumber(ARGV[3])) then return false end
local list = members(vals[2])
for k = 1, #list do
  if list[k][1] == ARGV[4] then
    local value = list[k][2]
    table.remove(list, k)
    redis.call('HSET', key, 'd', render(list))
    return value
  end
end
return false
"""

# ARGV: prefix, sid, digest, expires, now, limit, slack
_ADD_CSRF: Final = """
local ckey = ARGV[1] .. 'c:' .. ARGV[2]
local now, limit = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('HSET', ckey, ARGV[3], ARGV[4])
local all = redis.call('HGETALL', ckey)
local kept = {}
for k = 1, #all, 2 do
  local expires = tonumber(all[k + 1])
  if expires <= now then
    redis.call('HDEL', ckey, all[k])
  else
    kept[#kept + 1] = {all[k], expires}
  end
end
table.sort(kept, function(a, b) return a[2] < b[2] end)
local drop = #kept - limit
for k = 1, drop do redis.call('HDEL', ckey, kept[k][1]) end
if #kept > 0 and #kept > drop then
  local ttl = math.ceil(math.max(1, kept[#kept][2] - now)) + tonumber(ARGV[7])
  redis.call('EXPIRE', ckey, ttl)
end
return 1
"""

# ARGV: prefix, sid, digest, now.  1 for the one caller that removes an unexpired digest.
_CONSUME_CSRF: Final = """
local ckey = ARGV[1] .. 'c:' .. ARGV[2]
local expires = redis.call('HGET', ckey, ARGV[3])
if not expires then return 0 end
redis.call('HDEL', ckey, ARGV[3])
if tonumber(expires) > tonumber(ARGV[4]) then return 1 end
return 0
"""

# ARGV: prefix, sid, now.  Deletes the session if it is expired by the clock.
_PURGE_ONE: Final = """
local key = ARGV[1] .. 's:' .. ARGV[2]
local vals = redis.call('HMGET', key, 'e', 'u')
if not vals[1] or is_live(vals[1], tonumber(ARGV[3])) then return 0 end
redis.call('DEL', key, ARGV[1] .. 'c:' .. ARGV[2])
if vals[2] then redis.call('SREM', ARGV[1] .. 'u:' .. vals[2], ARGV[2]) end
return 1
"""


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
    or not. ``prefix`` namespaces every key, so several apps can share one database.
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
        self._set_script = register(_LIB + _SET)
        self._touch_script = register(_LIB + _TOUCH)
        self._destroy_script = register(_LIB + _DESTROY)
        self._destroy_user_script = register(_LIB + _DESTROY_FOR_USER)
        self._merge_script = register(_LIB + _MERGE)
        self._replace_script = register(_LIB + _REPLACE)
        self._pluck_script = register(_LIB + _PLUCK)
        self._add_csrf_script = register(_LIB + _ADD_CSRF)
        self._consume_script = register(_LIB + _CONSUME_CSRF)
        self._purge_script = register(_LIB + _PURGE_ONE)

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

    def _ukey(self, user_id: str) -> str:
        return f"{self.prefix}u:{user_id}"

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

    # -- the contract ------------------------------------------------------------------------------

    async def get(self, sid: str) -> StoredSession | None:
        raw = await self._call(self.redis.hgetall(self._skey(sid)))
        if not raw:
            return None
        session = self._snapshot(sid, raw)
        return session if session.is_live(self.clock.time()) else None

    async def set(
        self,
        sid: str,
        data: Mapping[str, Any],
        *,
        user_id: str | None,
        expires_at: float,
        meta: Mapping[str, str] | None = None,
    ) -> None:
        user, text, expires, meta_text = check_set(sid, data, user_id, expires_at, meta)
        now = self.clock.time()
        args = [self.prefix, sid, repr(now), text, user or "", repr(expires), meta_text or ""]
        args.append(str(gc_ttl(expires, now)))
        await self._call(self._set_script(args=args))

    async def touch(self, sid: str, expires_at: float) -> bool:
        expires = check_expires(expires_at)
        now = self.clock.time()
        args = [self.prefix, sid, repr(now), repr(expires), str(gc_ttl(expires, now))]
        return bool(await self._call(self._touch_script(args=args)))

    async def destroy(self, sid: str) -> None:
        await self._call(self._destroy_script(args=[self.prefix, sid]))

    async def list_for_user(self, user_id: str) -> list[StoredSession]:
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
            await self._call(self.redis.srem(ukey, *stale))
        found.sort(key=lambda s: s.touched_at, reverse=True)
        return found

    async def destroy_for_user(self, user_id: str, *, except_sid: str | None = None) -> int:
        args = [self.prefix, user_id, except_sid or "", repr(self.clock.time())]
        return int(await self._call(self._destroy_user_script(args=args)))

    async def merge(
        self,
        sid: str,
        patch: Mapping[str, Any],
        *,
        create: bool = False,
        user_id: str | None = None,
        expires_at: float | None = None,
    ) -> dict[str, Any] | None:
        check_sid(sid)
        patch_text = check_data(patch, "patch")
        now = self.clock.time()
        user, expires, ttl = "", "0", "1"
        if create:
            user = check_user_id(user_id) or ""
            if expires_at is None:
                raise ValueError("merge(create=True) needs expires_at")
            value = check_expires(expires_at)
            expires, ttl = repr(value), str(gc_ttl(value, now))
        flag = "1" if create else "0"
        args = [self.prefix, sid, repr(now), patch_text, flag, user, expires, ttl]
        result = await self._call(self._merge_script(args=args))
        return None if result is None else decode_object(_text(result))

    async def replace_data(self, sid: str, data: Mapping[str, Any]) -> bool:
        text = check_data(data)
        args = [self.prefix, sid, repr(self.clock.time()), text]
        return bool(await self._call(self._replace_script(args=args)))

    async def pluck(self, sid: str, key: str) -> Any:
        args = [self.prefix, sid, repr(self.clock.time()), encode_json(key)]
        result = await self._call(self._pluck_script(args=args))
        return None if result is None else decode_json(_text(result))

    async def add_csrf(self, sid: str, token_digest: str, expires_at: float) -> None:
        check_sid(sid)
        check_sid(token_digest, "token_digest")
        expires = check_expires(expires_at)
        now = self.clock.time()
        args: list[str | int] = [self.prefix, sid, token_digest, repr(expires), repr(now)]
        args += [CSRF_LIMIT, GC_SLACK]
        await self._call(self._add_csrf_script(args=args))

    async def consume_csrf(self, sid: str, token_digest: str) -> bool:
        args = [self.prefix, sid, token_digest, repr(self.clock.time())]
        return bool(await self._call(self._consume_script(args=args)))

    async def purge_expired(self) -> int:
        """Delete sessions expired by the clock (Redis' TTLs do this on their own, later)."""
        pattern = _glob_escape(self.prefix) + "s:*"
        start = len(self.prefix) + 2
        now = repr(self.clock.time())
        purged = 0
        try:
            async for key in self.redis.scan_iter(match=pattern, count=500):
                args = [self.prefix, _text(key)[start:], now]
                purged += int(await self._purge_script(args=args))
        except _UNAVAILABLE as error:
            raise self._unavailable(error) from error
        return purged

    async def close(self) -> None:
        """Close the connection pool if this store created the client."""
        if self._owns_client:
            await self.redis.aclose()

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r}, prefix={self.prefix!r})"
