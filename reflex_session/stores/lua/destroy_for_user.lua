-- SessionStore.destroy_for_user.  KEYS: the user's index set, then for the k-th listed session
-- its hash (KEYS[2k]) and its CSRF hash (KEYS[2k+1]).
-- A: user, now, m, then the m sids to keep, then the sids Python read from the index set.
-- Returns the ids of the live sessions ended, or -1 when the index set no longer holds exactly
-- the listed sids (a session was added or removed since Python read it): nothing was written,
-- and RedisStore reads the set again. So the sessions deleted are exactly those of the set as
-- it is while the script runs: a concurrent login cannot slip past "sign out everywhere".
local ukey, user, now, m = KEYS[1], A[1], tonumber(A[2]), tonumber(A[3])
local keep = {}
for k = 1, m do keep[A[3 + k]] = true end
local first = 3 + m
local n = #A - first
if redis.call('SCARD', ukey) ~= n then return -1 end
for k = 1, n do
  if redis.call('SISMEMBER', ukey, A[first + k]) == 0 then return -1 end
end
local ended = {}
for k = 1, n do
  local sid = A[first + k]
  if not keep[sid] then
    local skey = KEYS[2 * k]
    local vals = redis.call('HMGET', skey, 'u', 'e')
    if vals[1] == user then
      if is_live(vals[2], now) then ended[#ended + 1] = sid end
      redis.call('DEL', skey, KEYS[2 * k + 1])
    end
    redis.call('SREM', ukey, sid)
  end
end
return ended
